"""Offline maze generator writing the public CSV schema (`keras_trm.data.csv_sources`).

Maze (n x n, default 30): each cell a wall with probability d ~ U(0.3, 0.5) (d drawn per maze); a BFS double sweep
(from a random open cell to its farthest cell F, then from F) finds cells more than ``min_path`` moves from F; S and
G are F and one of those (order random). Grids without such a pair are rejected (at 30x30 and 110 moves about 1 grid
in 300 passes, so grids are swept 256 at a time with a vectorised BFS). Shortest path has more than ``min_path``
moves (default 110 for 30x30, scaled by area: ``default_min_path(n)``). The answer marks one shortest path
(`maze_shortest_path`: BFS, fixed neighbour order) with ``o``; ``rating`` = its number of moves. Characters are
`keras_trm.data.maze.MAZE_CHARSET`. Splits are disjoint up to the 8 dihedral maps.

Everything is deterministic for a seed (candidate ``i`` uses ``SeedSequence(seed).spawn``), also with ``workers > 1``.
From the command line: ``keras-trm generate maze OUT_DIR --n 30 --train 1000 --test 1000``.

Example:
    >>> answer, moves = maze_shortest_path(["S #", "  #", "G  "])
    >>> ["".join(row) for row in answer], moves
    (['S #', 'o #', 'G  '], 2)
    >>> info = make_small_maze_csv("maze-csv", n=6, train_count=3, test_count=2, seed=0)
    >>> info["train"]["count"], info["test"]["count"], info["test"]["min"] > default_min_path(6)
    (3, 2, True)
"""

from __future__ import annotations

import hashlib
import os
from collections import deque

import numpy as np

from keras_trm.data.csv_sources import rating_summary, write_puzzle_csv
from keras_trm.data.maze import MAZE_CHARSET
from keras_trm.data.worker_pool import WorkerPool

__all__ = [
    "default_min_path",
    "generate_maze",
    "maze_shortest_path",
    "maze_signature",
    "make_maze_csvs",
    "make_small_maze_csv",
]

WALL, OPEN, START, GOAL, PATH = MAZE_CHARSET  # "#", " ", "S", "G", "o"
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
    o = open_.tolist()  # numpy indexing is slow; keep python lists
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
    return np.asarray(dl, np.int32), np.asarray(pl, np.int64)


def maze_shortest_path(question):
    """Shortest path of a maze grid (list of strings or (n, n) chars): answer grid (n, n) with the path as 'o', and
    its number of moves; (None, -1) when G cannot be reached."""
    q = np.array([list(r) for r in question]) if not isinstance(question, np.ndarray) else question.copy()
    s = tuple(np.argwhere(q == START)[0])
    g = tuple(np.argwhere(q == GOAL)[0])
    dist, parent = _bfs(q != WALL, s)
    if dist[g] < 0:
        return None, -1
    a = q.copy()
    cur = int(parent[g])
    m = q.shape[1]
    while cur >= 0 and (cur // m, cur % m) != s:
        a[cur // m, cur % m] = PATH
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
        q = np.where(open_[i], OPEN, WALL)
        q[s], q[g] = START, GOAL
        a, moves = maze_shortest_path(q)
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
    with WorkerPool(workers) as mapper:
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
