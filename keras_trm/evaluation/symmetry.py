"""Views of a puzzle under its benchmark's symmetries, for test-time augmentation of rollouts.

A view is a position permutation `perm` (L,) and a token map `token_map` (V,): the puzzle seen in the view is
`token_map[tokens[perm]]`, and an answer found in the view maps back with `to_original`. Each symmetry keeps the
puzzle's rules, so a view's answer, mapped back, is an answer of the original puzzle:

- "sudoku": the digits relabelled, bands of rows and rows within a band shuffled, the same for columns, and the grid
  transposed when its boxes are square (the augmentations of the official Sudoku builder);
- "maze": the 8 rotations and reflections of the grid (the dihedral group, `keras_trm.data.transforms`).

Tokens: 0 is padding; for Sudoku 1 is a blank and 2..n+1 the digits 1..n (`keras_trm.data.sudoku`).

Example:
    >>> import numpy as np
    >>> perm, token_map = random_view("maze", 16, 6, np.random.default_rng(0))
    >>> tokens = np.arange(16) % 6
    >>> bool(np.array_equal(to_original(token_map[tokens[perm]], perm, token_map), tokens))
    True
"""

from __future__ import annotations

import numpy as np

from keras_trm.data.sudoku import box_shape
from keras_trm.data.transforms import dihedral_transform

SYMMETRIES = ("sudoku", "maze")
"""The benchmarks whose puzzles `random_view` can transform."""

SUDOKU_FIRST_DIGIT = 2
"""The token of the digit 1 (0 padding, 1 blank)."""


def _side(length):
    n = int(round(length**0.5))
    if n * n != length:
        raise ValueError(f"a square grid has n*n cells, not {length}")
    return n


def _shuffled_lines(n, block, rng):
    """A permutation of n lines in groups of `block`: the groups shuffled, and the lines within each group."""
    groups = rng.permutation(n // block)
    return np.concatenate([g * block + rng.permutation(block) for g in groups])


def random_view(kind, length, vocabulary_size, rng):
    """(perm (L,), token_map (V,)) of a random symmetry of a `kind` puzzle of `length` cells."""
    if kind not in SYMMETRIES:
        raise ValueError(f"no symmetries for {kind!r} puzzles (known: {', '.join(SYMMETRIES)})")
    n = _side(length)
    cells = np.arange(length).reshape(n, n)
    token_map = np.arange(vocabulary_size)
    if kind == "maze":
        return dihedral_transform(cells, int(rng.integers(8))).reshape(-1), token_map
    box_rows, box_cols = box_shape(n)
    grid = cells[_shuffled_lines(n, box_rows, rng)][:, _shuffled_lines(n, box_cols, rng)]
    if box_rows == box_cols and rng.integers(2):
        grid = grid.T
    digits = np.arange(SUDOKU_FIRST_DIGIT, SUDOKU_FIRST_DIGIT + n)
    token_map[digits] = rng.permutation(digits)
    return grid.reshape(-1), token_map


def to_original(tokens, perm, token_map):
    """An answer (..., L) found in the view (perm, token_map) as an answer of the original puzzle."""
    inverse = np.argsort(token_map)
    out = np.empty_like(tokens)
    out[..., perm] = inverse[tokens]
    return out


def logits_to_original(logits, perm, token_map):
    """Logits (L, V) found in the view as logits of the original puzzle: positions and tokens mapped back."""
    out = np.empty_like(logits)
    out[perm] = logits[:, token_map]
    return out
