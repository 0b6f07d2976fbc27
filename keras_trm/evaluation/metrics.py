"""Keras metrics for puzzle answers, and a numpy accumulator of Sudoku/Maze validity.

`TokenAccuracy` and `ExactAccuracy` take labels `y_true` (B, L) with 0 = ignored position, predictions `y_pred` as
logits (B, L, V) or tokens (B, L) (or a dict holding the logits under `logits_key`), and `sample_weight` (B,) with
0.0 on padding rows. Rows without any valid label are not counted, as in the official code.

Example:
    >>> import numpy as np
    >>> from keras_trm.evaluation.metrics import TokenAccuracy, ExactAccuracy
    >>> y_true = np.array([[2, 3, 0], [2, 3, 4]])
    >>> y_pred = np.array([[2, 3, 9], [2, 5, 4]])       # tokens; logits (B, L, V) work too
    >>> m = TokenAccuracy(); m.update_state(y_true, y_pred)
    >>> round(float(m.result()), 4)                      # (2/2 + 2/3) / 2
    0.8333
    >>> e = ExactAccuracy(); e.update_state(y_true, y_pred); float(e.result())
    0.5
"""

import keras
import numpy as np
from keras import ops

from keras_trm.data.format import IGNORE_LABEL_ID
from keras_trm.evaluation.grids import grid_validity


class _RowMetric(keras.metrics.Metric):
    """Weighted mean over rows (with at least one valid label) of a per-row score."""

    def __init__(self, name, dtype=None, ignore_label_id=IGNORE_LABEL_ID, logits_key="logits"):
        super().__init__(name=name, dtype=dtype)
        self.ignore_label_id = ignore_label_id
        self.logits_key = logits_key
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _row_score(self, correct, mask):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred[self.logits_key]
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == len(y_true.shape) + 1:
            y_pred = ops.argmax(y_pred, axis=-1)
        y_true = ops.cast(y_true, "int32")
        mask = ops.not_equal(y_true, self.ignore_label_id)
        correct = ops.logical_and(ops.equal(ops.cast(y_pred, "int32"), y_true), mask)
        score = ops.cast(self._row_score(correct, mask), self.dtype)
        weight = ops.cast(ops.any(mask, axis=-1), self.dtype)
        if sample_weight is not None:
            weight = weight * ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        self.total.assign_add(ops.sum(score * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(ops.zeros((), self.dtype))
        self.count.assign(ops.zeros((), self.dtype))

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "ignore_label_id": self.ignore_label_id,
            "logits_key": self.logits_key,
        }


@keras.saving.register_keras_serializable(package="keras_trm")
class TokenAccuracy(_RowMetric):
    """Per-row fraction of valid labels predicted right, averaged over rows (the official token accuracy)."""

    def __init__(self, name="token_accuracy", dtype=None, ignore_label_id=IGNORE_LABEL_ID, logits_key="logits"):
        super().__init__(name=name, dtype=dtype, ignore_label_id=ignore_label_id, logits_key=logits_key)

    def _row_score(self, correct, mask):
        hits = ops.sum(ops.cast(correct, self.dtype), axis=-1)
        return ops.divide_no_nan(hits, ops.sum(ops.cast(mask, self.dtype), axis=-1))


@keras.saving.register_keras_serializable(package="keras_trm")
class ExactAccuracy(_RowMetric):
    """Fraction of rows whose every valid label is predicted right (whole-puzzle accuracy)."""

    def __init__(self, name="exact_accuracy", dtype=None, ignore_label_id=IGNORE_LABEL_ID, logits_key="logits"):
        super().__init__(name=name, dtype=dtype, ignore_label_id=ignore_label_id, logits_key=logits_key)

    def _row_score(self, correct, mask):
        return ops.all(ops.logical_or(correct, ops.logical_not(mask)), axis=-1)


class ValidityRate:
    """Fraction of answers obeying the Sudoku or Maze rules (see `grids.grid_validity`), accumulated in numpy.

    Not a Keras metric: validity needs a search on the host. Rows with sample weight 0 or all-zero inputs
    (padding rows) are not counted. `preds` may be tokens (B, L) or logits (B, L, V).

    Example:
        >>> import numpy as np
        >>> maze = np.array([[3, 2, 2, 1, 1, 4]])                    # 2 x 3: S . . / # # G
        >>> rate = ValidityRate("maze", (2, 3))
        >>> rate.update_state(np.array([[3, 5, 5, 1, 1, 4]]), maze)
        >>> rate.update_state(np.array([[3, 5, 2, 1, 1, 4]]), maze)  # broken path
        >>> rate.result()
        0.5
    """

    def __init__(self, benchmark, grid_shape, name="valid_fraction"):
        self.benchmark, self.grid_shape, self.name = benchmark, tuple(grid_shape), name
        self.reset_state()

    def update_state(self, preds, inputs, sample_weight=None):
        preds, inputs = _to_numpy(preds), _to_numpy(inputs)
        if preds.ndim == inputs.ndim + 1:
            preds = preds.argmax(axis=-1)
        keep = (inputs != 0).any(axis=-1)
        if sample_weight is not None:
            keep &= _to_numpy(sample_weight).reshape(-1) > 0
        valid = grid_validity(preds[keep], inputs[keep], self.benchmark, self.grid_shape)
        self.valid += int(valid.sum())
        self.count += int(keep.sum())

    def result(self):
        return self.valid / self.count if self.count else 0.0

    def reset_state(self):
        self.valid, self.count = 0, 0


def _to_numpy(x):
    return x if isinstance(x, np.ndarray) else np.asarray(ops.convert_to_numpy(x))
