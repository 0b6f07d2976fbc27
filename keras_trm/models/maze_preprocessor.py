"""`MazePreprocessor`: n x n maze strings over `keras_trm.data.maze.MAZE_CHARSET` <-> TRM tokens (charset index + 1).

Example:
    >>> pre = MazePreprocessor(n=3)
    >>> x = pre(["S #\\n  #\\nG  "])                     # n rows joined by newlines, or one string of n*n
    >>> x["inputs"].tolist()
    [[3, 2, 1, 2, 2, 1, 4, 2, 2]]
    >>> pre.detokenize([[3, 1, 1, 5, 2, 1, 4, 2, 2]])
    ['S##o #G  ']
    >>> pre.preprocess("S #\\n  X\\nG  ")    # the call's Python path: its error as the parser raised it
    Traceback (most recent call last):
    ...
    ValueError: maze 0: characters ['X'] are not in '# SGo'
"""

import keras
import numpy as np

from keras_trm.data.maze import MAZE_CHARSET, encode_maze
from keras_trm.evaluation.grids import maze_is_valid_solution
from keras_trm.models.square_grid_preprocessor import SquareGridPreprocessor

_CHARS = np.array(["?"] + list(MAZE_CHARSET))  # token -> character ('?' for padding or out of range)


@keras.saving.register_keras_serializable(package="keras_trm")
class MazePreprocessor(SquareGridPreprocessor):
    """n x n mazes <-> the token rows of a TRM maze solver.

    A maze (or answer) is one string of n*n characters, or of n rows joined by newlines (empty lines ignored), or
    a list of n row strings; a batch is a list of mazes. Characters: `MAZE_CHARSET` ('#' wall, ' ' open, 'S' start,
    'G' goal, 'o' path), tokens 1..5 in that order (0 padding), vocabulary 6, puzzle identifier 0.

    Args:
        n: int or None. The grid side (30 for Maze-Hard); None reads it from each batch's mazes. Defaults to 30.
        **kwargs: keras-hub `Preprocessor` arguments (`name`, ...).
    """

    benchmarks = ("maze",)

    def __init__(self, n=30, **kwargs):
        super().__init__(n, **kwargs)

    # ---------------------------------------------------------------- parsing
    @staticmethod
    def cells(maze):
        """One maze (a string, rows joined by newlines, or a list of row strings) -> its n*n characters."""
        if isinstance(maze, (list, tuple)):
            return "".join(maze)
        return "".join(line for line in maze.splitlines() if line)

    def _is_one(self, x):
        """A single maze: a string, or a list of row strings that together hold one n x n grid."""
        if isinstance(x, str):
            return True
        if self.n is None or not x or not all(isinstance(r, str) for r in x):
            return False
        return len(x) == self.n and all(len(r) == self.n for r in x) and "\n" not in "".join(x)

    def parse(self, x, what="maze"):
        """Mazes or answers -> (tokens int32 (B, n*n); single: whether `x` was one maze)."""
        single = isinstance(x, (str, list, tuple)) and self._is_one(x)
        mazes = [x] if single else x
        if not isinstance(mazes, (list, tuple)) or not all(isinstance(m, (str, list, tuple)) for m in mazes):
            raise ValueError(
                f"{what}s are strings over {MAZE_CHARSET!r} (or lists of row strings); token batches are dicts "
                "with 'inputs'"
            )
        rows, side = [], None
        for i, maze in enumerate(mazes):
            s = self.cells(maze)
            n = self.n if self.n is not None else int(round(len(s) ** 0.5))
            if len(s) != n * n or n < 2:
                raise ValueError(f"{what} {i}: {len(s)} cells, expected {n * n} ({n}x{n})")
            if side is not None and n != side:
                raise ValueError(f"{what} {i}: {n}x{n}, but {what} 0 is {side}x{side} (one size a batch)")
            side = n
            bad = sorted(set(s) - set(MAZE_CHARSET))
            if bad:
                raise ValueError(f"{what} {i}: characters {bad} are not in {MAZE_CHARSET!r}")
            rows.append(encode_maze(s))
        return np.asarray(rows, np.int32).reshape(len(rows), -1), single

    def encode(self, x):
        return self.parse(x)

    def encode_answers(self, y, inputs):
        tokens, _ = self.parse(y, "answer")
        if tokens.shape != np.shape(inputs):
            raise ValueError(f"{len(tokens)} maze answers of {tokens.shape[-1]} cells for {np.shape(inputs)} mazes")
        return tokens

    # ---------------------------------------------------------------- decoding
    def detokenize(self, tokens, strings=True):
        """Tokens (B, n*n) -> strings of n*n characters ('?' for a token outside the charset), or the tokens as
        grids int32 (B, n, n) with `strings=False`."""
        tokens = np.atleast_2d(np.asarray(tokens))
        if not strings:
            n = int(round(tokens.shape[-1] ** 0.5))
            return tokens.astype(np.int32).reshape(-1, n, n)
        chars = _CHARS[np.where((tokens >= 1) & (tokens <= len(MAZE_CHARSET)), tokens, 0)]
        return ["".join(row) for row in chars]

    def is_valid(self, tokens, inputs):
        """bool (B,): the answer marks a shortest S-G path and keeps the walls, S and G."""
        tokens = np.atleast_2d(np.asarray(tokens))
        n = int(round(tokens.shape[-1] ** 0.5))
        inputs = np.atleast_2d(np.asarray(inputs))
        return np.array([maze_is_valid_solution(p, i, n, n) for p, i in zip(tokens, inputs)], dtype=bool)
