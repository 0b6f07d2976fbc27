"""Offline puzzle generators writing the public CSV schema ``source,question,answer,rating``.

Sudoku (n in 4, 6, 9): a random full grid, then givens removed in random order while the solution stays unique
(the result is a minimal puzzle). ``rating`` = backtracks (guesses that hit a dead end) of `SudokuSolver` (naked and
hidden singles propagation + MRV branching, digits in ascending order) before it finds the solution. ``min_rating``
keeps only puzzles at least that hard (rejection sampling). Train and test are disjoint up to the full Sudoku
symmetry group (transpose for square boxes, band/row/stack/column permutations, digit relabelling): every puzzle gets
`sudoku_signature`, an invariant of that group (equivalent puzzles always share it), and a test puzzle is accepted
only when no train puzzle (or earlier test puzzle) has its signature. Distinct puzzles that happen to share a
signature are also kept apart, so disjointness is conservative. Within a split, signatures are unique too.

Maze (n x n, default 30): each cell a wall with probability d ~ U(0.3, 0.5) (d drawn per maze); a BFS double sweep
(from a random open cell to its farthest cell F, then from F) finds cells more than ``min_path`` moves from F; S and
G are F and one of those (order random). Grids without such a pair are rejected (at 30x30 and 110 moves about 1 grid
in 300 passes, so grids are swept 256 at a time with a vectorised BFS). Shortest path has more than ``min_path``
moves (default 110 for 30x30, scaled by area: ``default_min_path(n)``). The answer marks one shortest path (BFS,
fixed neighbour order) with ``o``; ``rating`` = its number of moves. Splits are disjoint up to the 8 dihedral maps.

Everything is deterministic for a seed (candidate ``i`` uses ``SeedSequence(seed).spawn``), also with ``workers > 1``.

Example:
    >>> info = make_small_sudoku_csv("sudoku-csv", n=4, train_count=20, test_count=5, seed=0)
    >>> info["train"]["count"], info["test"]["count"], info["train"]["path"]
    (20, 5, 'sudoku-csv/train.csv')
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import deque

import numpy as np

from keras_trm.data.sudoku import box_shape

__all__ = [
    "SudokuSolver",
    "generate_sudoku",
    "default_extra_givens",
    "sudoku_signature",
    "rating_summary",
    "write_puzzle_csv",
    "make_sudoku_csvs",
    "make_small_sudoku_csv",
    "default_min_path",
    "generate_maze",
    "solve_maze",
    "maze_signature",
    "make_maze_csvs",
    "make_small_maze_csv",
]


# ============================================================================================= Sudoku solver
class SudokuSolver:
    """Bitmask solver for n x n Sudoku with (br, bc) boxes. Grids are flat lists of n*n ints (0 blank).

    Example:
        >>> s = SudokuSolver(4)
        >>> count, sol, backtracks = s.solve([3, 0, 2, 1, 0, 0, 3, 4, 0, 3, 0, 2, 0, 1, 0, 0], limit=2)
        >>> count, sol
        (1, [3, 4, 2, 1, 1, 2, 3, 4, 4, 3, 1, 2, 2, 1, 4, 3])
    """

    def __init__(self, n, box=None):
        self.n = n
        self.br, self.bc = box or box_shape(n)
        self.N = n * n
        self.full = (1 << n) - 1
        rows = [[r * n + c for c in range(n)] for r in range(n)]
        cols = [[r * n + c for r in range(n)] for c in range(n)]
        boxes = []
        for b0 in range(0, n, self.br):
            for s0 in range(0, n, self.bc):
                boxes.append([(b0 + i) * n + s0 + j for i in range(self.br) for j in range(self.bc)])
        self.units = [tuple(u) for u in rows + cols + boxes]
        peers = [set() for _ in range(self.N)]
        for u in self.units:
            for c in u:
                peers[c].update(u)
        self.peers = [tuple(sorted(p - {c})) for c, p in enumerate(peers)]

    def _init(self, grid):
        vals = list(grid)
        cand = [self.full] * self.N
        for c, v in enumerate(vals):
            if v:
                bit = 1 << (v - 1)
                for p in self.peers[c]:
                    if vals[p] == v:
                        return None, None
                    cand[p] &= ~bit
        for c, v in enumerate(vals):
            if v:
                cand[c] = 1 << (v - 1)
        return vals, cand

    def _propagate(self, vals, cand):
        """Naked and hidden singles until nothing changes; False on a contradiction."""
        peers, units, full = self.peers, self.units, self.full
        changed = True
        while changed:
            changed = False
            for c in range(self.N):
                if vals[c]:
                    continue
                m = cand[c]
                if m == 0:
                    return False
                if m & (m - 1) == 0:
                    vals[c] = m.bit_length()
                    for p in peers[c]:
                        if cand[p] & m:
                            if vals[p]:
                                return False
                            cand[p] &= ~m
                    changed = True
            for u in units:
                once = more = placed = 0
                for c in u:
                    if vals[c]:
                        placed |= cand[c]
                    else:
                        m = cand[c]
                        more |= once & m
                        once |= m
                if (once | placed) != full:
                    return False
                singles = once & ~more & ~placed
                if singles:
                    for c in u:
                        if not vals[c] and cand[c] & singles:
                            m = cand[c] & singles
                            if m & (m - 1):
                                return False
                            if cand[c] != m:
                                cand[c] = m
                                changed = True
        return True

    def solve(self, grid, limit=1, rng=None):
        """Returns ``(count, first_solution, backtracks)``: solutions found (stops at ``limit``), the first one (flat
        list or None) and the dead-end guesses made before it (the rating). ``rng`` shuffles the digit order."""
        vals, cand = self._init(grid)
        if vals is None:
            return 0, None, 0
        state = {"count": 0, "first": None, "bt": 0, "bt_first": 0}
        self._search(vals, cand, limit, rng, state)
        return state["count"], state["first"], state["bt_first"] if state["first"] else state["bt"]

    def _search(self, vals, cand, limit, rng, state):
        if not self._propagate(vals, cand):
            return False
        best, best_k = -1, 99
        for c in range(self.N):
            if not vals[c]:
                k = cand[c].bit_count()
                if k < best_k:
                    best, best_k = c, k
                    if k == 2:
                        break
        if best < 0:
            state["count"] += 1
            if state["first"] is None:
                state["first"] = list(vals)
                state["bt_first"] = state["bt"]
            return True
        m = cand[best]
        digits = [d for d in range(1, self.n + 1) if m >> (d - 1) & 1]
        if rng is not None:
            rng.shuffle(digits)
        found = False
        for d in digits:
            v2, c2 = list(vals), list(cand)
            c2[best] = 1 << (d - 1)
            if self._search(v2, c2, limit, rng, state):
                found = True
            else:
                state["bt"] += 1
            if state["count"] >= limit:
                return True
        return found

    def count_solutions(self, grid, limit=2):
        return self.solve(grid, limit)[0]


# ============================================================================================= Sudoku generator
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


class _Mapper:
    """Ordered map over argument tuples, in this process or in one pool of ``workers`` spawned processes (created
    once, reused for every batch)."""

    def __init__(self, workers):
        self.workers, self.pool = int(workers), None

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing as mp

            self.pool = mp.get_context("spawn").Pool(self.workers)
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def map(self, fn, args):
        if self.pool is None:
            return [fn(*a) for a in args]
        return self.pool.starmap(fn, args, chunksize=max(1, len(args) // (4 * self.workers)))


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
    with _Mapper(workers) as mapper:
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


def rating_summary(ratings):
    """Distribution of ratings: count, min, max, mean, median, p90, share with rating 0 and a histogram."""
    r = np.asarray(list(ratings), dtype=np.float64)
    if r.size == 0:
        return {"count": 0}
    edges = [0, 1, 2, 5, 10, 20, 50, 100, 1000, np.inf]
    hist = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        k = int(np.sum((r >= lo) & (r < hi)))
        if k:
            hist[f"{lo}" if hi == lo + 1 else f"{lo}-{'inf' if hi == np.inf else int(hi) - 1}"] = k
    return {
        "count": int(r.size),
        "min": float(r.min()),
        "max": float(r.max()),
        "mean": float(r.mean()),
        "median": float(np.median(r)),
        "p90": float(np.percentile(r, 90)),
        "zero_share": float(np.mean(r == 0)),
        "histogram": hist,
    }


def write_puzzle_csv(path, rows, source):
    """Write ``rows`` of ``(question str, answer str, rating)`` as ``source,question,answer,rating``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source", "question", "answer", "rating"])
        for q, a, r in rows:
            w.writerow([source, q, a, r])
    os.replace(tmp, path)


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


# ============================================================================================= Maze
_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def default_min_path(n):
    """Shortest-path threshold (moves) for an n x n maze: 110 at 30x30, scaled by area."""
    return int(round(110 * n * n / 900))


def _bfs(open_, start):
    """Distances (n, n) int32 (-1 unreachable) and parent index array from ``start`` (r, c) over open cells."""
    n, m = open_.shape
    dist = np.full((n, m), -1, np.int32)
    parent = np.full((n, m), -1, np.int64)
    dist[start] = 0
    dq = deque([start])
    o = open_.tolist()
    d = dist  # numpy indexing is slow; keep python lists
    dl = dist.tolist()
    pl = parent.tolist()
    while dq:
        r, c = dq.popleft()
        nd = dl[r][c] + 1
        for dr, dc in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            if 0 <= rr < n and 0 <= cc < m and o[rr][cc] and dl[rr][cc] < 0:
                dl[rr][cc] = nd
                pl[rr][cc] = r * m + c
                dq.append((rr, cc))
    del d
    return np.asarray(dl, np.int32), np.asarray(pl, np.int64)


def solve_maze(question):
    """Shortest path of a maze grid (list of strings or (n, n) chars): answer grid (n, n) with the path as 'o', and
    its number of moves; (None, -1) when G cannot be reached."""
    q = np.array([list(r) for r in question]) if not isinstance(question, np.ndarray) else question.copy()
    s = tuple(np.argwhere(q == "S")[0])
    g = tuple(np.argwhere(q == "G")[0])
    dist, parent = _bfs(q != "#", s)
    if dist[g] < 0:
        return None, -1
    a = q.copy()
    cur = int(parent[g])
    m = q.shape[1]
    while cur >= 0 and (cur // m, cur % m) != s:
        a[cur // m, cur % m] = "o"
        cur = int(parent[cur // m, cur % m])
    return a, int(dist[g])


def _bfs_batch(open_, starts):
    """Frontier BFS on K grids at once: open_ (K, n, n) bool, starts (K, 2) -> distances (K, n, n) int32 (-1 far)."""
    K = open_.shape[0]
    dist = np.full(open_.shape, -1, np.int32)
    front = np.zeros_like(open_)
    front[np.arange(K), starts[:, 0], starts[:, 1]] = True
    reached = front.copy()
    dist[front] = 0
    step = 0
    while front.any():
        step += 1
        nb = np.zeros_like(front)
        nb[:, 1:] |= front[:, :-1]
        nb[:, :-1] |= front[:, 1:]
        nb[:, :, 1:] |= front[:, :, :-1]
        nb[:, :, :-1] |= front[:, :, 1:]
        front = nb & open_ & ~reached
        reached |= front
        dist[front] = step
    return dist


def _random_cells(rng, mask):
    """One uniformly random True cell per grid of mask (K, n, n) (grids without one get (0, 0)) -> (K, 2)."""
    K, n, m = mask.shape
    key = np.where(mask, rng.random(mask.shape), -1.0).reshape(K, -1)
    flat = key.argmax(1)
    return np.stack([flat // m, flat % m], 1)


def _maze_batch(n, min_path, seed_seq, k=256):
    """k random wall grids (density ~ U(0.3, 0.5)); keep those whose BFS double sweep finds two cells more than
    ``min_path`` moves apart. Returns a list of ``(question str, answer str, moves)``."""
    rng = np.random.default_rng(seed_seq)
    density = rng.uniform(0.3, 0.5, size=(k, 1, 1))
    open_ = rng.random((k, n, n)) >= density  # (k, n, n)
    start = _random_cells(rng, open_)
    d0 = _bfs_batch(open_, start)
    far = np.stack(np.unravel_index(d0.reshape(k, -1).argmax(1), (n, n)), 1)  # (k, 2)
    d1 = _bfs_batch(open_, far)
    other = _random_cells(rng, d1 > min_path)
    swap = rng.random(k) < 0.5
    out = []
    for i in np.nonzero((d1 > min_path).any(axis=(1, 2)))[0]:
        s, g = tuple(far[i]), tuple(other[i])
        if swap[i]:
            s, g = g, s
        q = np.where(open_[i], " ", "#")
        q[s], q[g] = "S", "G"
        a, moves = solve_maze(q)
        out.append(("".join(q.reshape(-1)), "".join(a.reshape(-1)), moves))
    return out


def maze_signature(question):
    """Canonical form of a maze string under the 8 dihedral maps (sha1 hex)."""
    n = int(round(len(question) ** 0.5))
    g = np.array(list(question)).reshape(n, n)
    forms = []
    for k in range(4):
        r = np.rot90(g, k)
        forms += ["".join(r.reshape(-1)), "".join(r.T.reshape(-1))]
    return hashlib.sha1(min(forms).encode()).hexdigest()


def generate_maze(n=30, count=100, seed=0, min_path=None, exclude=(), workers=1, stream=0):
    """``count`` distinct mazes avoiding the signatures ``exclude``. Returns ``(rows, signatures)`` with rows
    ``(question str, answer str, moves)``."""
    min_path = default_min_path(n) if min_path is None else int(min_path)
    seen, out = set(exclude), []
    root = np.random.SeedSequence([seed, stream, n, 7])
    tried, per, max_tries = 0, 256, max(10**6, 10**4 * count)
    with _Mapper(workers) as mapper:
        while len(out) < count:
            if tried >= max_tries:
                raise RuntimeError(
                    f"generate_maze: only {len(out)} of {count} distinct {n}x{n} mazes with a shortest "
                    f"path > {min_path} after {tried} random grids"
                )
            seeds = root.spawn(max(1, 2 * workers))
            tried += per * len(seeds)
            for rows in mapper.map(_maze_batch, [(n, min_path, s, per) for s in seeds]):
                for q, a, moves in rows:
                    sig = maze_signature(q)
                    if sig in seen or len(out) >= count:
                        continue
                    seen.add(sig)
                    out.append((q, a, moves))
    return out, seen


def make_maze_csvs(folder, n=30, train_count=1000, test_count=1000, seed=0, min_path=None, workers=1):
    """Write ``folder/train.csv`` and ``folder/test.csv`` of disjoint mazes; returns path-length summaries."""
    info, exclude = {}, set()
    for stream, (split, count) in enumerate((("train", train_count), ("test", test_count))):
        rows, exclude = generate_maze(n, count, seed, min_path, exclude, workers, stream=stream)
        path = os.path.join(folder, f"{split}.csv")
        write_puzzle_csv(path, rows, f"keras-trm-gen-maze{n}x{n}-seed{seed}")
        info[split] = dict(rating_summary([m for _, _, m in rows]), path=path)
    return info


def make_small_maze_csv(folder, n=8, train_count=50, test_count=10, seed=0, min_path=None):
    """Small mazes for tests and CPU recipes."""
    return make_maze_csvs(folder, n, train_count, test_count, seed, min_path)


def main(argv=None):
    """CLI: ``python -m keras_trm.data.generators sudoku|maze OUT_DIR [--n N] [--train K] [--test K] ...``."""
    import argparse
    import json

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("kind", choices=["sudoku", "maze"])
    p.add_argument("out")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--test", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-rating", type=int, default=0)
    p.add_argument("--min-path", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    if a.kind == "sudoku":
        info = make_sudoku_csvs(a.out, a.n or 9, a.train, a.test, a.seed, a.min_rating, a.workers)
    else:
        info = make_maze_csvs(a.out, a.n or 30, a.train, a.test, a.seed, a.min_path, a.workers)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
