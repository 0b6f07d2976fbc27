"""Grid symmetries and colour permutations (numpy), numbered as in the official TRM code.

Dihedral transform ids follow ``dataset/common.py`` of the official code exactly:

    0 identity              4 np.fliplr (mirror left-right)
    1 np.rot90(k=1)         5 np.flipud (mirror up-down)
    2 np.rot90(k=2)         6 transpose (main diagonal)
    3 np.rot90(k=3)         7 np.fliplr(np.rot90(k=1)) (anti-diagonal)

A colour permutation is an int array ``mapping`` of shape (10,) with ``mapping[0] == 0`` and
``mapping[1:]`` a permutation of 1..9; it sends colour c to ``mapping[c]``. An ARC variant
applies the colour map first, then the dihedral transform (as the official ``aug``).

Example:
    >>> import numpy as np
    >>> g = np.array([[1, 2, 3], [4, 5, 0]])
    >>> rng = np.random.default_rng(0)
    >>> m = random_colour_permutation(rng)
    >>> v = apply_variant(g, 7, m)
    >>> bool(np.array_equal(undo_variant(v, 7, m), g))
    True
"""

import numpy as np

NUM_DIHEDRAL = 8
NUM_COLOURS = 10
# DIHEDRAL_INVERSE[t] is the transform that undoes t.
DIHEDRAL_INVERSE = [0, 3, 2, 1, 4, 5, 6, 7]
IDENTITY_COLOURS = np.arange(NUM_COLOURS)


def _check_tid(tid):
    if isinstance(tid, bool) or not isinstance(tid, (int, np.integer)) or not 0 <= tid < NUM_DIHEDRAL:
        raise ValueError(f"dihedral transform id must be an int in 0..7, got {tid!r}")
    return int(tid)


def dihedral_transform(grid, tid):
    """Apply dihedral symmetry ``tid`` (official numbering) to a 2-D array (H, W) -> (H, W) or (W, H)."""
    tid = _check_tid(tid)
    grid = np.asarray(grid)
    if grid.ndim != 2:
        raise ValueError(f"dihedral_transform expects a 2-D grid, got shape {grid.shape}")
    if tid == 0:
        return grid
    if tid <= 3:
        return np.rot90(grid, k=tid)
    if tid == 4:
        return np.fliplr(grid)
    if tid == 5:
        return np.flipud(grid)
    if tid == 6:
        return grid.T
    return np.fliplr(np.rot90(grid, k=1))


def inverse_dihedral_transform(grid, tid):
    """Undo ``dihedral_transform(., tid)``."""
    return dihedral_transform(grid, DIHEDRAL_INVERSE[_check_tid(tid)])


def check_colour_permutation(mapping):
    """Return ``mapping`` as an int64 (10,) array, or raise ValueError if it is not a valid map."""
    m = np.asarray(mapping)
    if m.shape != (NUM_COLOURS,) or not np.issubdtype(m.dtype, np.integer):
        raise ValueError(f"colour permutation must be 10 integers, got {mapping!r}")
    if m[0] != 0 or sorted(m.tolist()) != list(range(NUM_COLOURS)):
        raise ValueError(f"colour permutation must keep 0 and permute 1..9, got {m.tolist()}")
    return m.astype(np.int64)


def random_colour_permutation(rng):
    """A random (10,) colour map keeping 0, from a ``np.random.Generator``."""
    return np.concatenate([[0], rng.permutation(np.arange(1, NUM_COLOURS))]).astype(np.int64)


def invert_colour_permutation(mapping):
    """The (10,) map undoing ``mapping``."""
    return np.argsort(check_colour_permutation(mapping))


def apply_colour_permutation(grid, mapping):
    """Recolour a grid of colours 0..9: c -> mapping[c]. Shape preserved."""
    return check_colour_permutation(mapping)[np.asarray(grid)].astype(np.asarray(grid).dtype)


def undo_colour_permutation(grid, mapping):
    """Undo ``apply_colour_permutation(., mapping)``."""
    return invert_colour_permutation(mapping)[np.asarray(grid)].astype(np.asarray(grid).dtype)


def apply_variant(grid, tid, mapping):
    """An ARC variant of a grid: recolour, then dihedral transform (official order)."""
    return dihedral_transform(apply_colour_permutation(grid, mapping), tid)


def undo_variant(grid, tid, mapping):
    """Undo ``apply_variant(., tid, mapping)``."""
    return undo_colour_permutation(inverse_dihedral_transform(grid, tid), mapping)
