"""Maze-Hard: read the public CSV, validate it, build the on-disk dataset (optional dihedral augmentation).

CSV ``source,question,answer,rating``; n x n grids (30x30 for Maze-Hard) over ``#`` wall, `` `` open, ``S`` start,
``G`` goal and ``o`` path (answer only). Tokens 1..5 in that order (PAD 0), vocab 6; identifier 0 for every puzzle.
Each maze is a group; with ``aug=True`` its 8 dihedral images (official numbering, `keras_trm.data.transforms`) are
the 8 puzzles of the group (one example each), as the official ``build_maze_dataset.py``. Test is never augmented.

Example:
    >>> q = ["S #", "  #", "G  "]
    >>> a = ["S #", "o #", "G  "]
    >>> tokens = encode_maze(q)          # int32 (9,)
    >>> tokens.tolist()
    [3, 2, 1, 2, 2, 1, 4, 2, 2]
"""

from __future__ import annotations

import os

import numpy as np

from keras_trm.data.csv_sources import iter_puzzle_csv, parse_in_chunks, resolve_csv
from keras_trm.data.dataset_writer import DatasetWriter
from keras_trm.data.errors import DataFormatError
from keras_trm.data.transforms import NUM_DIHEDRAL, dihedral_transform

__all__ = [
    "MAZE_REPO",
    "MAZE_CHARSET",
    "MAZE_VOCABULARY",
    "MAZE_HARD_SIDE",
    "encode_maze",
    "decode_maze",
    "parse_maze_rows",
    "read_maze_csv",
    "build_maze_dataset",
]

MAZE_REPO = "sapientinc/maze-30x30-hard-1k"
MAZE_CHARSET = "# SGo"  # wall, open, start, goal, path (answers only); token id = index + 1
MAZE_VOCABULARY = ["<pad>"] + list(MAZE_CHARSET)  # token id -> meaning
MAZE_HARD_SIDE = 30  # Maze-Hard's grids are 30 x 30
_CHAR2ID = np.zeros(256, np.int32)
_CHAR2ID[[ord(c) for c in MAZE_CHARSET]] = np.arange(1, len(MAZE_CHARSET) + 1)
_CHUNK = 1024


def encode_maze(grid):
    """Rows of characters (list of str, or one str) -> tokens int32 (n*n,)."""
    s = "".join(grid) if not isinstance(grid, str) else grid
    return _CHAR2ID[np.frombuffer(s.encode("ascii"), np.uint8)]


def decode_maze(tokens, n=None):
    """Tokens (n*n,) -> list of n row strings (PAD shown as '?')."""
    t = np.asarray(tokens).reshape(-1)
    n = n or int(round(t.size**0.5))
    chars = np.array(list("?" + MAZE_CHARSET))[t]
    return ["".join(chars[r * n : (r + 1) * n]) for r in range(n)]


def _reach(path_mask, start_mask):
    """Cells of path_mask (R, n, n) 4-connected to start_mask (R, n, n)."""
    reach = start_mask & path_mask
    while True:
        nb = reach.copy()
        nb[:, 1:] |= reach[:, :-1]
        nb[:, :-1] |= reach[:, 1:]
        nb[:, :, 1:] |= reach[:, :, :-1]
        nb[:, :, :-1] |= reach[:, :, 1:]
        nb &= path_mask
        if np.array_equal(nb, reach):
            return reach
        reach = nb


def parse_maze_rows(rows, path, n=None):
    """Validate rows ``(line, source, question, answer, rating)`` -> questions, answers int32 tokens (R, n, n).

    Checks: square length, charset, exactly one S and one G in the question, the answer keeps every wall, S and G,
    marks only open cells with 'o', and its 'o' cells join S to G. Raises DataFormatError (file, row, field).
    """
    if n is None:
        n = int(round(len(rows[0][2]) ** 0.5))
    L = n * n
    for line, _, q, a, _ in rows:
        for field, s in (("question", q), ("answer", a)):
            if len(s) != L:
                raise DataFormatError(f"{len(s)} characters, expected {L} ({n}x{n})", file=path, row=line, field=field)
            if not s.isascii():
                raise DataFormatError("non-ASCII character", file=path, row=line, field=field)
    qb = np.frombuffer("".join(r[2] for r in rows).encode("ascii"), np.uint8).reshape(-1, n, n)
    ab = np.frombuffer("".join(r[3] for r in rows).encode("ascii"), np.uint8).reshape(-1, n, n)
    q, a = _CHAR2ID[qb], _CHAR2ID[ab]  # 0 = outside the charset

    def _fail(mask, field, problem):
        i = int(np.argmax(mask))
        raise DataFormatError(problem, file=path, row=rows[i][0], field=field)

    bad_q = np.any((q == 0) | (q == 5), axis=(1, 2))
    if bad_q.any():
        i = int(np.argmax(bad_q))
        j = np.argwhere((q[i] == 0) | (q[i] == 5))[0]
        _fail(
            bad_q,
            "question",
            f"character {chr(qb[i][tuple(j)])!r} at row {j[0]}, col {j[1]} outside {list(MAZE_CHARSET[:4])}",
        )
    bad_a = np.any(a == 0, axis=(1, 2))
    if bad_a.any():
        i = int(np.argmax(bad_a))
        j = np.argwhere(a[i] == 0)[0]
        _fail(bad_a, "answer", f"character {chr(ab[i][tuple(j)])!r} at row {j[0]}, col {j[1]} outside {MAZE_CHARSET!r}")
    for tok, name in ((3, "S"), (4, "G")):
        k = (q == tok).sum(axis=(1, 2))
        if np.any(k != 1):
            _fail(k != 1, "question", f"{int(k[np.argmax(k != 1)])} '{name}' cells, expected exactly 1")
    changed = q != a
    bad = np.any(changed & ~((q == 2) & (a == 5)), axis=(1, 2))
    if bad.any():
        _fail(
            bad,
            "answer",
            "differs from the question other than by marking open cells 'o' (walls, S and G must be kept)",
        )
    ok = _reach((a == 5) | (a == 3) | (a == 4), a == 3)
    joined = np.any(ok & (a == 4), axis=(1, 2))
    if not joined.all():
        _fail(~joined, "answer", "the 'o' path does not connect S to G")
    return q.astype(np.int32), a.astype(np.int32)


def read_maze_csv(path, rows_subset=None, chunk=_CHUNK):
    """Yield validated chunks ``(questions (R, n, n), answers (R, n, n))`` of tokens; ``rows_subset`` sorted row
    indices to keep (None: all)."""
    path = os.fspath(path)
    sel = None if rows_subset is None else np.asarray(rows_subset)
    yield from parse_in_chunks(iter_puzzle_csv(path), parse_maze_rows, path, sel, chunk)


def build_maze_dataset(
    root,
    source=None,
    *,
    train_csv=None,
    test_csv=None,
    subsample_size=None,
    aug=False,
    seed=0,
    progress=True,
    overwrite=False,
    splits=("train", "test"),
):
    """CSV -> built dataset at ``root`` (returns ``root``). Official Maze-30x30-Hard-1k:
    ``build_maze_dataset(root, "hf:sapientinc/maze-30x30-hard-1k")``.

    Args:
        source: folder with ``train.csv``/``test.csv`` or ``"hf:<repo>"`` (default the official repo).
        subsample_size: random train rows kept. aug: 8 dihedral puzzles per train maze.

    Example:
        >>> from keras_trm.data import PuzzleDataset, make_small_maze_csv
        >>> _ = make_small_maze_csv("maze-8-csv", n=8, train_count=4, test_count=2, seed=0)   # offline generator
        >>> build_maze_dataset("maze-8", "maze-8-csv", aug=True, progress=False)
        'maze-8'
        >>> train = PuzzleDataset("maze-8", "train")
        >>> train.inputs.shape, train.metadata["vocabulary"]      # 4 mazes x 8 dihedral versions, 8 x 8 cells
        ((32, 64), ['<pad>', '#', ' ', 'S', 'G', 'o'])
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    paths = {"train": train_csv, "test": test_csv}
    paths = {s: os.fspath(paths[s]) if paths[s] is not None else resolve_csv(source, s, MAZE_REPO) for s in splits}
    builder = {
        "name": "build_maze_dataset",
        "source": source if isinstance(source, str) else None,
        "csv": {s: os.path.basename(p) for s, p in paths.items()},
        "subsample_size": subsample_size,
        "aug": bool(aug),
    }
    writer, n = None, None
    try:
        for split in splits:
            path = paths[split]
            subset, total = None, None
            if split == "train" and subsample_size is not None:
                total = sum(1 for _ in iter_puzzle_csv(path))
                if subsample_size < total:
                    subset = np.sort(rng.choice(total, size=subsample_size, replace=False))
                    total = subsample_size
            variants = NUM_DIHEDRAL if (aug and split == "train") else 1
            # closed by the `with` (its line ended) even when a row is bad
            bar = tqdm(total=total, desc=f"maze {split}", unit="maze", disable=not progress)
            with bar:
                started = False
                for q, a in read_maze_csv(path, subset):
                    if n is None:
                        n = q.shape[-1]
                        meta = {
                            "benchmark": "maze",
                            "seq_len": n * n,
                            "vocab_size": len(MAZE_VOCABULARY),
                            "grid_shape": [n, n],
                            "vocabulary": MAZE_VOCABULARY,
                            "charset": MAZE_CHARSET,
                            "num_puzzle_identifiers": 1,
                            "seed": seed,
                            "builder": builder,
                        }
                        writer = DatasetWriter(root, meta, overwrite=overwrite).__enter__()
                    elif q.shape[-1] != n:
                        raise DataFormatError(
                            f"grid side {q.shape[-1]} differs from {n} of the first split", file=path, field="question"
                        )
                    if not started:
                        writer.begin_split(split)
                        started = True
                    for i in range(q.shape[0]):
                        xs = np.stack([dihedral_transform(q[i], t).reshape(-1) for t in range(variants)])
                        ys = np.stack([dihedral_transform(a[i], t).reshape(-1) for t in range(variants)])
                        writer.add_group_arrays(xs, ys, np.ones(variants, np.int64), np.zeros(variants, np.int64))
                    bar.update(q.shape[0])
            if not started:
                raise DataFormatError("no maze in the file", file=path)
            writer.end_split()
    except BaseException as e:
        if writer is not None:
            writer.__exit__(type(e), e, None)
        raise
    writer.__exit__(None, None, None)
    return root
