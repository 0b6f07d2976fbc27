"""Offline Sudoku generator writing the public CSV schema (`keras_trm.data.csv_sources`).

Sudoku (n in 4, 6, 9): a random full grid, then givens removed in random order while the solution stays unique
(the result is a minimal puzzle). ``rating`` = backtracks (guesses that hit a dead end) of `SudokuSolver` (naked and
hidden singles propagation + MRV branching, digits in ascending order) before it finds the solution. ``min_rating``
keeps only puzzles at least that hard (rejection sampling). Train and test are disjoint up to the full Sudoku
symmetry group (transpose for square boxes, band/row/stack/column permutations, digit relabelling): every puzzle gets
`sudoku_signature`, an invariant of that group (equivalent puzzles always share it), and a test puzzle is accepted
only when no train puzzle (or earlier test puzzle) has its signature. Distinct puzzles that happen to share a
signature are also kept apart, so disjointness is conservative. Within a split, signatures are unique too.

Everything is deterministic for a seed (candidate ``i`` uses ``SeedSequence(seed).spawn``), also with ``workers > 1``.
From the command line: ``keras-trm generate sudoku OUT_DIR --n 9 --train 1000 --test 100``.

Example:
    >>> info = make_small_sudoku_csv("sudoku-csv", n=4, train_count=20, test_count=5, seed=0)
    >>> info["train"]["count"], info["test"]["count"], info["train"]["path"]
    (20, 5, 'sudoku-csv/train.csv')
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from keras_trm.data.csv_sources import rating_summary, write_puzzle_csv
from keras_trm.data.sudoku import box_shape
from keras_trm.data.sudoku_solver import SudokuSolver
from keras_trm.data.worker_pool import WorkerPool

__all__ = [
    "generate_sudoku",
    "default_extra_givens",
    "sudoku_signature",
    "make_sudoku_csvs",
    "make_small_sudoku_csv",
]


def default_extra_givens(n):
    """Most givens added back to a minimal puzzle: 0 for 9x9, n*n // 4 for smaller grids (more distinct puzzles)."""
    return 0 if n >= 9 else n * n // 4


def _one_sudoku(n, seed_seq, extra_givens):
    """One unique puzzle from a seed: (question flat list, answer flat list, rating). Minimal, then up to
    ``extra_givens`` removed givens put back (uniform count)."""
    rng = np.random.default_rng(seed_seq)
    solver = SudokuSolver(n)
    _, answer, _ = solver.solve([0] * (n * n), limit=1, rng=rng)
    q = list(answer)
    removed = []
    for c in rng.permutation(n * n):
        v, q[c] = q[c], 0
        if solver.count_solutions(q, 2) != 1:
            q[c] = v
        else:
            removed.append(int(c))
    k = int(rng.integers(0, min(extra_givens, len(removed)) + 1)) if extra_givens else 0
    for c in rng.choice(removed, size=k, replace=False) if k else ():
        q[c] = answer[c]
    _, _, rating = solver.solve(q, limit=1)
    return q, answer, rating


def sudoku_signature(question, box=None):
    """Invariant of a puzzle (n, n) (0 blank) under the Sudoku symmetry group, as a hex string."""
    q = np.asarray(question).reshape(int(round(np.asarray(question).size ** 0.5)), -1)
    n = q.shape[0]
    br, bc = box or box_shape(n)
    g = q != 0
    cnt = np.bincount(q[g], minlength=n + 1)  # givens per digit

    def _key(m, gm, br_, bc_):
        rc, cc = gm.sum(1), gm.sum(0)
        bx = gm.reshape(m.shape[0] // br_, br_, m.shape[1] // bc_, bc_).sum((1, 3))
        feats = []
        for r, c in zip(*np.nonzero(gm)):
            row_d = tuple(sorted(cnt[m[r][gm[r]]]))
            col_d = tuple(sorted(cnt[m[:, c][gm[:, c]]]))
            feats.append((int(rc[r]), int(cc[c]), int(bx[r // br_, c // bc_]), int(cnt[m[r, c]]), row_d, col_d))
        bands = sorted(int(v) for v in bx.sum(1))
        stacks = sorted(int(v) for v in bx.sum(0))
        return repr((sorted(feats), bands, stacks))

    keys = [_key(q, g, br, bc)]
    if br == bc:
        keys.append(_key(q.T, g.T, bc, br))
    return hashlib.sha1(min(keys).encode()).hexdigest()


def generate_sudoku(
    n=9, count=100, seed=0, min_rating=0, exclude=(), workers=1, max_tries=None, stream=0, extra_givens=None
):
    """Generate ``count`` puzzles whose signatures avoid ``exclude`` and each other.

    ``extra_givens``: up to that many givens put back into the minimal puzzle (default `default_extra_givens`).

    Returns ``(puzzles, signatures)``: puzzles a list of ``(question (n, n), answer (n, n), rating)`` uint8 arrays.
    ``stream`` separates the candidate seeds of different calls with the same seed (train 0, test 1).
    """
    seen = set(exclude)
    out = []
    root = np.random.SeedSequence([seed, stream, n])
    max_tries = max_tries or max(1000, 200 * count)
    tried, batch = 0, max(8, 16 * workers)
    extra = default_extra_givens(n) if extra_givens is None else int(extra_givens)
    with WorkerPool(workers) as mapper:
        while len(out) < count:
            if tried >= max_tries:
                raise RuntimeError(
                    f"generate_sudoku: only {len(out)} of {count} distinct {n}x{n} puzzles with "
                    f"rating >= {min_rating} after {tried} candidates"
                )
            seeds = root.spawn(batch)
            tried += batch
            _accept_sudoku(mapper.map(_one_sudoku, [(n, s, extra) for s in seeds]), n, count, min_rating, seen, out)
    return out, seen


def _accept_sudoku(results, n, count, min_rating, seen, out):
    for q, a, rating in results:
        if rating < min_rating or len(out) >= count:
            continue
        q = np.asarray(q, np.uint8).reshape(n, n)
        sig = sudoku_signature(q)
        if sig in seen:
            continue
        seen.add(sig)
        out.append((q, np.asarray(a, np.uint8).reshape(n, n), int(rating)))


def _sudoku_str(g, blank="."):
    return "".join(blank if v == 0 else str(int(v)) for v in np.asarray(g).reshape(-1))


def make_sudoku_csvs(folder, n=9, train_count=1000, test_count=100, seed=0, min_rating=0, workers=1, extra_givens=None):
    """Write ``folder/train.csv`` and ``folder/test.csv`` (disjoint up to symmetry).

    Returns ``{"train": summary, "test": summary}`` (`rating_summary` plus ``path``).
    """
    info, exclude = {}, set()
    for stream, (split, count) in enumerate((("train", train_count), ("test", test_count))):
        puzzles, sigs = generate_sudoku(
            n, count, seed, min_rating, exclude, workers, stream=stream, extra_givens=extra_givens
        )
        exclude = sigs
        path = os.path.join(folder, f"{split}.csv")
        write_puzzle_csv(
            path,
            [(_sudoku_str(q), _sudoku_str(a), r) for q, a, r in puzzles],
            f"keras-trm-gen-sudoku{n}x{n}-seed{seed}",
        )
        info[split] = dict(rating_summary([r for _, _, r in puzzles]), path=path)
    return info


def make_small_sudoku_csv(folder, n=4, train_count=100, test_count=20, seed=0):
    """Small 4x4 / 6x6 Sudoku CSVs for tests and CPU recipes (a few hundred in seconds)."""
    return make_sudoku_csvs(folder, n, train_count, test_count, seed)
