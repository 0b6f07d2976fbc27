"""`SquareGridPreprocessor`: the base of the preprocessors whose puzzles are n x n grids of one token per cell.

Sudoku and mazes share it: the grid side `n` (None: read from the puzzles), the sequence length n*n, the side taken
from a `PuzzleSpec`, and the config. ARC grids vary in size inside a fixed canvas and have their own preprocessor.
"""

from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor


class SquareGridPreprocessor(PuzzlePreprocessor):
    """Puzzles of n x n cells, one token per cell (sequence length n*n).

    Args:
        n: int or None. The grid side; None reads it from the puzzles. Subclasses give their benchmark's default.
        **kwargs: keras-hub `Preprocessor` arguments (`name`, ...).
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if n is not None and (int(n) != n or n < 1):
            raise ValueError(f"n must be a positive integer (the grid side) or None, got {n!r}")
        self.n = None if n is None else int(n)

    @property
    def sequence_length(self):
        return None if self.n is None else self.n * self.n

    @classmethod
    def spec_config(cls, spec):
        return {"n": int(spec.grid_shape[0])}

    def get_config(self):
        config = super().get_config()
        config.update(n=self.n)
        return config
