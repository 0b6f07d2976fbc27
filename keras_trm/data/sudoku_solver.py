"""`SudokuSolver`: an exact n x n Sudoku solver that counts solutions and rates difficulty (backtracks).

Naked and hidden singles propagation, then MRV branching (digits in ascending order, or shuffled by an ``rng``); the
rating of a puzzle is the number of guesses that hit a dead end before the solution is found. The Sudoku generator
(`keras_trm.data.sudoku_generator`) uses it to keep puzzles unique and to rate them.
"""

from __future__ import annotations

from keras_trm.data.sudoku import box_shape

__all__ = ["SudokuSolver"]


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
