"""`SudokuPreprocessor`: n x n Sudoku strings or digit arrays <-> TRM tokens (value + 1: blank 1, digit d -> d + 1).

Example:
    >>> pre = SudokuPreprocessor(n=4)
    >>> x = pre(["1..4........2..1", "1..4|....|....|2..1"])   # whitespace and '|', '-', '+' are ignored
    >>> x["inputs"][0].tolist(), x["puzzle_identifiers"].tolist()
    ([2, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 2], [0, 0])
    >>> pre.detokenize(x["inputs"]), pre.detokenize(x["inputs"], strings=False).shape
    (['1..4........2..1', '1..4........2..1'], (2, 4, 4))
    >>> pre.preprocess("1..4 ....")          # the call's Python path: its error as the parser raised it
    Traceback (most recent call last):
    ...
    ValueError: Sudoku puzzle 0: 8 cells, a 4x4 Sudoku has 16 ('.' or '0' blank, digits 1..4)
"""

import keras
import numpy as np

from keras_trm.data.sudoku import box_shape, valid_solution
from keras_trm.models.square_grid_preprocessor import SquareGridPreprocessor

IGNORED = " \t\r\n|-+"  # layout characters of a written Sudoku
BLANKS = ".0"
_DIGITS = ".123456789"  # a digit's character (index = value; 0, a blank, written '.')


@keras.saving.register_keras_serializable(package="keras_trm")
class SudokuPreprocessor(SquareGridPreprocessor):
    """Sudoku puzzles of any size n <-> the token rows of a TRM Sudoku solver.

    Puzzles (and answers) are strings of n*n cells (`.` or `0` blank, digits 1..n, n <= 9; whitespace and `|`, `-`,
    `+` ignored), lists of them, or integer arrays (n*n,) / (n, n) (one puzzle) or (B, n*n) / (B, n, n), 0 blank
    (any n). Tokens are value + 1 (blank 1, digit d -> d + 1; 0 is padding), sequence length n*n, vocabulary n + 2,
    puzzle identifier 0.

    Args:
        n: int or None. The grid side (4, 9, ...); None reads it from each batch's puzzles (all of one size).
            Defaults to 9.
        **kwargs: keras-hub `Preprocessor` arguments (`name`, ...).
    """

    benchmarks = ("sudoku",)

    def __init__(self, n=9, **kwargs):
        super().__init__(n, **kwargs)

    # ---------------------------------------------------------------- parsing
    @staticmethod
    def cells(text):
        """The cell characters of a written puzzle (layout characters dropped)."""
        return [c for c in text if c not in IGNORED]

    def _side(self, cells, what, i):
        n = self.n if self.n is not None else int(round(cells**0.5))
        where = f"Sudoku {what} {i}".rstrip()
        if self.n is not None and cells != n * n:
            raise ValueError(f"{where}: {cells} cells, a {n}x{n} Sudoku has {n * n} ('.' or '0' blank, digits 1..{n})")
        if cells != n * n or n < 2:
            raise ValueError(f"{where}: {cells} cells, which is not n*n for a grid side n >= 2")
        return n

    def parse(self, x, what="puzzle"):
        """Puzzles or answers -> (digits int32 (B, n*n), 0 blank; single: whether `x` was one)."""
        if isinstance(x, str):
            return self.parse([x], what)[0], True
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], str):
            rows, side = [], None
            for i, text in enumerate(x):
                if not isinstance(text, str):
                    raise ValueError(f"Sudoku {what} {i}: expected a string like the others, got {type(text).__name__}")
                cells = self.cells(text)
                n = self._side(len(cells), what, i)
                if side is not None and n != side:
                    raise ValueError(f"Sudoku {what} {i}: {n}x{n}, but {what} 0 is {side}x{side} (one size a batch)")
                side = n
                bad = sorted({c for c in cells if c not in BLANKS and c not in _DIGITS[1 : n + 1]})
                if bad:
                    raise ValueError(
                        f"Sudoku {what} {i}: characters {bad} are not digits 1..{n} or blanks ('.' / '0')"
                        + (" (a grid side above 9 takes integer arrays)" if n > 9 else "")
                    )
                rows.append([0 if c in BLANKS else int(c) for c in cells])
            return np.asarray(rows, np.int32), False
        arr = np.asarray(x)
        if arr.dtype.kind not in "iu":
            raise ValueError(f"Sudoku {what}s are strings or integer arrays, got {arr.dtype} values")
        n = self.n
        if arr.ndim == 1:
            single, cells = True, arr.shape[0]
        elif arr.ndim == 2 and n is not None and n > 1 and arr.shape == (n, n):
            single, cells = True, n * n
        elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[1] == arr.shape[2]):
            single, cells = False, int(np.prod(arr.shape[1:]))
        else:
            raise ValueError(
                f"Sudoku {what} array of shape {arr.shape}: expected (n*n,), (n, n), (B, n*n) or (B, n, n)"
            )
        n = self._side(cells, what + " array", "")
        arr = arr.reshape(-1, n * n).astype(np.int32)
        if arr.size and (arr.min() < 0 or arr.max() > n):
            raise ValueError(f"Sudoku {what} values must be 0 (blank) .. {n}, got {arr.min()} .. {arr.max()}")
        return (arr[0] if single else arr), single

    def encode(self, x):
        digits, single = self.parse(x)
        return np.atleast_2d(digits) + 1, single

    def encode_answers(self, y, inputs):
        digits, _ = self.parse(y, "answer")
        digits = np.atleast_2d(digits)
        if digits.shape != np.shape(inputs):
            raise ValueError(f"{len(digits)} Sudoku answers of {digits.shape[-1]} cells for {np.shape(inputs)} puzzles")
        return digits + 1

    def _single_shape(self, shape, text):
        if text:
            return len(shape) == 0
        return len(shape) == 1 or (len(shape) == 2 and self.n is not None and self.n > 1 and shape == [self.n] * 2)

    # ---------------------------------------------------------------- decoding
    def detokenize(self, tokens, strings=True):
        """Tokens (B, n*n) -> strings of n*n characters ('.' where the model put no digit), or digits int32
        (B, n, n) (0 there) with `strings=False`."""
        tokens = np.atleast_2d(np.asarray(tokens))
        n = int(round(tokens.shape[-1] ** 0.5))
        digits = np.where((tokens >= 2) & (tokens <= n + 1), tokens - 1, 0).astype(np.int32)
        if not strings:
            return digits.reshape(-1, n, n)
        chars = np.array(list(_DIGITS) + ["?"] * max(0, n - 9))[digits]
        return ["".join(row) for row in chars]

    def is_valid(self, tokens, inputs):
        """bool (B,): a complete solution (rows, columns and boxes hold 1..n) that keeps every given."""
        tokens = np.atleast_2d(np.asarray(tokens))
        n = int(round(tokens.shape[-1] ** 0.5))
        try:
            box = box_shape(n)
        except ValueError:  # no box shape for this n (a prime side): no answer can be checked
            return np.zeros((len(tokens),), bool)
        inputs = np.atleast_2d(np.asarray(inputs)).astype(np.int64)
        digits = tokens.astype(np.int64) - 1
        kept = inputs >= 2
        keeps = np.all(np.where(kept, tokens == inputs, True), axis=-1)
        return keeps & valid_solution(digits.reshape(-1, n, n), box)
