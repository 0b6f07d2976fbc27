"""`WorkerPool`: the generators' ordered map, in this process or in a pool of spawned processes.

Results come back in argument order whatever the number of workers, so a generator gives the same puzzles for a seed
with ``workers=1`` and ``workers > 1``.
"""

from __future__ import annotations

import multiprocessing

__all__ = ["WorkerPool"]


class WorkerPool:
    """Ordered map over argument tuples, in this process or in one pool of ``workers`` spawned processes (created
    once, reused for every batch). Use as a context manager.

    Args:
        workers: int. Processes; 1 (or less) maps in this process.

    Example:
    >>> with WorkerPool(1) as pool:
    ...     pool.map(divmod, [(7, 2), (9, 4)])
    [(3, 1), (2, 1)]
    """

    def __init__(self, workers):
        self.workers, self.pool = int(workers), None

    def __enter__(self):
        if self.workers > 1:
            self.pool = multiprocessing.get_context("spawn").Pool(self.workers)
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def map(self, fn, args):
        if self.pool is None:
            return [fn(*a) for a in args]
        return self.pool.starmap(fn, args, chunksize=max(1, len(args) // (4 * self.workers)))
