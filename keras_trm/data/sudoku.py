"""Sudoku-Extreme: read the public CSV, validate it, augment (official), build the on-disk dataset.

CSV ``source,question,answer,rating``: question n*n chars (``.`` or ``0`` blank, digits 1..n), answer n*n digits.
Tokens: value + 1 (PAD 0, blank 1, digits 2..n+1), vocab n + 2 (11 for 9x9). Every puzzle has identifier 0.
Each base puzzle is a group; the original (augmentation 0) and each of ``num_aug`` augmentations is one puzzle of
one example (as the official ``build_sudoku_dataset.py``: a group holds ``1 + num_aug`` puzzles). The test split is
never augmented.

Boxes: 4x4 -> 2x2, 6x6 -> 2 rows x 3 columns, 9x9 -> 3x3 (``box_shape(n)``).

Example:
    >>> import numpy as np
    >>> q = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    >>> a = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
    >>> qa, aa = augment_sudoku(q, a, num=5, rng=np.random.default_rng(0))
    >>> qa.shape, aa.shape
    ((5, 4, 4), (5, 4, 4))
    >>> all(valid_solution(s) for s in aa), bool(np.all((qa == 0) | (qa == aa)))   # still Sudoku, givens kept
    (True, True)
"""

from __future__ import annotations

import os

import numpy as np

from keras_trm.data.csv_sources import iter_puzzle_csv, parse_in_chunks, resolve_csv
from keras_trm.data.dataset_writer import DatasetWriter
from keras_trm.data.errors import DataFormatError

__all__ = [
    "SUDOKU_REPO",
    "box_shape",
    "sudoku_vocabulary",
    "valid_solution",
    "parse_sudoku_rows",
    "read_sudoku_csv",
    "augment_sudoku",
    "build_sudoku_dataset",
]

SUDOKU_REPO = "sapientinc/sudoku-extreme"
_CHUNK = 4096


def box_shape(n):
    """Box (rows, cols) of an n x n Sudoku: the divisor pair closest to square with rows <= cols."""
    n = int(n)
    r = max(d for d in range(1, int(n**0.5) + 1) if n % d == 0)
    if r == 1 and n > 1:
        raise ValueError(f"no Sudoku box shape for n={n}")
    return r, n // r


def _boxes(g, box):
    """(..., n, n) -> (..., n, n) where [..., b, :] lists the cells of box b."""
    br, bc = box
    n = g.shape[-1]
    lead = g.shape[:-2]
    x = g.reshape(lead + (n // br, br, n // bc, bc))
    x = np.moveaxis(x, -3, -2)  # (..., bands, stacks, br, bc)
    return x.reshape(lead + (n, n))


def _units_ok(g, n):
    """(..., n, n) of digits -> (...,) bool: each row is a permutation of 1..n."""
    return np.all(np.sort(g, axis=-1) == np.arange(1, n + 1), axis=(-1, -2))


def valid_solution(grid, box=None):
    """True when ``grid`` (..., n, n) is a complete valid Sudoku (rows, columns, boxes all hold 1..n)."""
    g = np.asarray(grid)
    n = g.shape[-1]
    box = box or box_shape(n)
    return _units_ok(g, n) & _units_ok(np.swapaxes(g, -1, -2), n) & _units_ok(_boxes(g, box), n)


def parse_sudoku_rows(rows, path, n=None):
    """Parse and validate rows ``(line, source, question, answer, rating)`` -> questions, answers uint8 (R, n, n)
    (0 = blank) and ratings (R,). Raises DataFormatError naming file, row and field."""
    if not rows:
        return np.zeros((0, n or 9, n or 9), np.uint8), np.zeros((0, n or 9, n or 9), np.uint8), np.zeros(0)
    if n is None:
        n = int(round(len(rows[0][2]) ** 0.5))
    L = n * n
    if n not in (4, 6, 8, 9):
        raise DataFormatError(
            f"{len(rows[0][2])} characters: not a 4x4, 6x6, 8x8 or 9x9 grid",
            file=path,
            row=rows[0][0],
            field="question",
        )
    for line, _, q, a, _ in rows:
        if len(q) != L:
            raise DataFormatError(f"{len(q)} characters, expected {L}", file=path, row=line, field="question")
        if len(a) != L:
            raise DataFormatError(f"{len(a)} characters, expected {L}", file=path, row=line, field="answer")
    try:
        qb = np.frombuffer("".join(r[2] for r in rows).encode("ascii"), np.uint8).reshape(-1, L)
        ab = np.frombuffer("".join(r[3] for r in rows).encode("ascii"), np.uint8).reshape(-1, L)
    except UnicodeEncodeError:
        for line, _, q, a, _ in rows:
            for field, s in (("question", q), ("answer", a)):
                if not s.isascii():
                    raise DataFormatError("non-ASCII character", file=path, row=line, field=field) from None
        raise
    qv = qb.astype(np.int16) - ord("0")
    qv[qb == ord(".")] = 0
    av = ab.astype(np.int16) - ord("0")
    bad_q = (qv < 0) | (qv > n)
    bad_a = (av < 1) | (av > n)
    for field, bad, raw, allowed in (
        ("question", bad_q, qb, f"'.', '0' or digits 1..{n}"),
        ("answer", bad_a, ab, f"digits 1..{n}"),
    ):
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataFormatError(
                f"character {chr(raw[i, j])!r} at position {j} outside the charset ({allowed})",
                file=path,
                row=rows[i][0],
                field=field,
            )
    q = qv.astype(np.uint8).reshape(-1, n, n)
    a = av.astype(np.uint8).reshape(-1, n, n)
    ok = valid_solution(a, box_shape(n))
    if not ok.all():
        i = int(np.argmin(ok))
        raise DataFormatError(
            "not a valid Sudoku solution (a row, column or box repeats a digit)",
            file=path,
            row=rows[i][0],
            field="answer",
        )
    clash = np.any((q != 0) & (q != a), axis=(1, 2))
    if clash.any():
        i = int(np.argmax(clash))
        raise DataFormatError("answer contradicts a given of the question", file=path, row=rows[i][0], field="answer")
    return q, a, np.asarray([r[4] for r in rows])


def read_sudoku_csv(path, min_rating=None, rows_subset=None, chunk=_CHUNK, n=None):
    """Yield validated chunks ``(questions uint8 (R, n, n), answers uint8 (R, n, n), ratings (R,))``.

    Args:
        min_rating: keep rows with rating >= min_rating.
        rows_subset: sorted indices (among the rows kept by min_rating) to keep; None keeps all.
        n: expected grid side (default: from the first row).
    """
    path = os.fspath(path)
    sel = None if rows_subset is None else np.asarray(rows_subset)
    rows = (row for row in iter_puzzle_csv(path) if min_rating is None or row[4] >= min_rating)
    yield from parse_in_chunks(rows, parse_sudoku_rows, path, sel, chunk, n)


def _count_rows(path, min_rating):
    return sum(1 for r in iter_puzzle_csv(path) if min_rating is None or r[4] >= min_rating)


def augment_sudoku(question, answer, num, rng, box=None):
    """``num`` random official augmentations of one puzzle, vectorised.

    Relabel digits 1..n (blank stays), transpose with probability 1/2 (square boxes only), permute the bands and
    the rows inside each band, the stacks and the columns inside each stack.

    Args:
        question, answer: (n, n) ints, 0 = blank. rng: np.random.Generator.

    Returns:
        questions, answers: (num, n, n) uint8.
    """
    q = np.asarray(question, np.uint8)
    a = np.asarray(answer, np.uint8)
    n = q.shape[-1]
    br, bc = box or box_shape(n)
    A = int(num)

    def _perm(parts, size):  # (A, n): parts blocks of `size`, blocks permuted and members permuted
        blocks = rng.permuted(np.tile(np.arange(parts), (A, 1)), axis=1)  # (A, parts)
        inner = rng.permuted(np.tile(np.arange(size), (A, parts, 1)), axis=2)  # (A, parts, size)
        return (blocks[:, :, None] * size + inner).reshape(A, n)

    digit_map = np.zeros((A, n + 1), np.uint8)
    digit_map[:, 1:] = rng.permuted(np.tile(np.arange(1, n + 1, dtype=np.uint8), (A, 1)), axis=1)
    flip = rng.random(A) < 0.5 if br == bc else np.zeros(A, bool)
    row_perm = _perm(n // br, br)  # bands of br rows
    col_perm = _perm(n // bc, bc)  # stacks of bc columns
    ia = np.arange(A)[:, None, None]

    def _apply(g):
        s = np.where(flip[:, None, None], g.T[None], g[None])  # (A, n, n)
        s = s[ia, row_perm[:, :, None], col_perm[:, None, :]]
        return digit_map[ia, s]

    return _apply(q), _apply(a)


def sudoku_vocabulary(n):
    """Token id -> meaning of n x n Sudoku: ``["<pad>", "<blank>", "1", ..., str(n)]`` (token = value + 1).

    Args:
        n: int. The grid side.

    Example:
    >>> sudoku_vocabulary(4)
    ['<pad>', '<blank>', '1', '2', '3', '4']
    """
    return ["<pad>", "<blank>"] + [str(d) for d in range(1, int(n) + 1)]


def _metadata(n, seed, builder):
    vocabulary = sudoku_vocabulary(n)
    return {
        "benchmark": "sudoku",
        "seq_len": n * n,
        "vocab_size": len(vocabulary),
        "grid_shape": [n, n],
        "vocabulary": vocabulary,
        "num_puzzle_identifiers": 1,
        "seed": seed,
        "builder": builder,
    }


def build_sudoku_dataset(
    root,
    source=None,
    *,
    train_csv=None,
    test_csv=None,
    subsample_size=None,
    test_subsample_size=None,
    min_rating=None,
    num_aug=0,
    seed=0,
    progress=True,
    overwrite=False,
    splits=("train", "test"),
):
    """CSV -> built dataset at ``root`` (returns ``root``). Official Sudoku-Extreme-1k-aug-1000:
    ``build_sudoku_dataset(root, "hf:sapientinc/sudoku-extreme", subsample_size=1000, num_aug=1000)``.

    Args:
        source: folder with ``train.csv``/``test.csv`` or ``"hf:<repo>"`` (default ``hf:sapientinc/sudoku-extreme``;
            only used for splits without an explicit ``train_csv``/``test_csv``).
        subsample_size: random train rows kept (after ``min_rating``); ``test_subsample_size`` the same for test.
        num_aug: augmentations added to each train puzzle (the original is kept as puzzle 0 of its group).
        seed: seeds the subsampling and the augmentations; same seed, same bytes.
        progress: tqdm progress bar.

    Example:
        >>> from keras_trm.data import make_small_sudoku_csv, read_metadata
        >>> _ = make_small_sudoku_csv("csv", n=4, train_count=10, test_count=3, seed=0)   # offline generator
        >>> build_sudoku_dataset("sudoku-4x4", train_csv="csv/train.csv", test_csv="csv/test.csv", num_aug=3,
        ...                      progress=False)
        'sudoku-4x4'
        >>> meta = read_metadata("sudoku-4x4")
        >>> meta["vocabulary"], {split: s["examples"] for split, s in sorted(meta["splits"].items())}
        (['<pad>', '<blank>', '1', '2', '3', '4'], {'test': 3, 'train': 40})
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    paths = {"train": train_csv, "test": test_csv}
    paths = {s: os.fspath(paths[s]) if paths[s] is not None else resolve_csv(source, s, SUDOKU_REPO) for s in splits}
    builder = {
        "name": "build_sudoku_dataset",
        "source": source if isinstance(source, str) else None,
        "csv": {s: os.path.basename(p) for s, p in paths.items()},
        "subsample_size": subsample_size,
        "test_subsample_size": test_subsample_size,
        "min_rating": min_rating,
        "num_aug": num_aug,
    }
    n = None
    writer = None
    try:
        for split in splits:
            path = paths[split]
            sub = subsample_size if split == "train" else test_subsample_size
            subset, total = None, None
            if sub is not None:
                total = _count_rows(path, min_rating)
                if sub < total:
                    subset = np.sort(rng.choice(total, size=sub, replace=False))
                    total = sub
            augs = int(num_aug) if split == "train" else 0
            # closed by the `with` (its line ended) even when a row is bad
            bar = tqdm(total=total, desc=f"sudoku {split}", unit="puzzle", disable=not progress)
            with bar:
                for q, a, _ in read_sudoku_csv(path, min_rating, subset, n=n):
                    if n is None:
                        n = q.shape[-1]
                        writer = DatasetWriter(root, _metadata(n, seed, builder), overwrite=overwrite).__enter__()
                        writer.begin_split(split)
                    elif q.shape[-1] != n:
                        raise DataFormatError(
                            f"grid side {q.shape[-1]} differs from {n} of the first split", file=path, field="question"
                        )
                    if writer._split is None:
                        writer.begin_split(split)
                    for i in range(q.shape[0]):
                        if augs:
                            qa, aa = augment_sudoku(q[i], a[i], augs, rng)
                            qs = np.concatenate([q[i][None], qa]).reshape(augs + 1, -1)
                            as_ = np.concatenate([a[i][None], aa]).reshape(augs + 1, -1)
                        else:
                            qs, as_ = q[i].reshape(1, -1), a[i].reshape(1, -1)
                        k = qs.shape[0]
                        writer.add_group_arrays(
                            qs.astype(np.int32) + 1,
                            as_.astype(np.int32) + 1,
                            np.ones(k, np.int64),
                            np.zeros(k, np.int64),
                        )
                    bar.update(q.shape[0])
            if writer is None or writer._split is None:
                raise DataFormatError("no puzzle left (empty file or min_rating too high)", file=path)
            writer.end_split()
    except BaseException as e:
        if writer is not None:
            writer.__exit__(type(e), e, None)
        raise
    writer.__exit__(None, None, None)
    return root
