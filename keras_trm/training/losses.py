"""Per-position and per-row losses of the Tiny Recursive Model.

Everything here is written with `keras.ops` only and computed in float32.

The official code evaluates stablemax cross-entropy in float64. TPUs have no
float64, so we evaluate it in a form that stays accurate in float32:

* `log s(x)` is taken directly as `log1p(x)` for `x >= 0` and `-log1p(-x)`
  for `x < 0` (never forming `1 / (1 - x)` and then taking its log);
* the loss `-log p_y = log(1 + S_other / s_y)` is written as
  `softplus(logsumexp_{j != y} log s_j - log s_y)`, which keeps full relative
  precision both for confident predictions (loss close to 0) and for very wrong
  ones, and never overflows.

Softmax cross-entropy uses the same form with `log s(x) = x`.

Labels equal to `IGNORE_LABEL_ID` (0, a fact of the data format: `keras_trm.data.format`) do not count.
"""

from keras import ops

from keras_trm.data.format import IGNORE_LABEL_ID


def log_stablemax_score(x):
    """Elementwise `log s(x)` of stablemax, accurate in float32.

    `s(x) = x + 1` for `x >= 0` and `1 / (1 - x)` for `x < 0`.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> y = ops.convert_to_numpy(log_stablemax_score(np.array([-1.0, 0.0, 1.0])))
    >>> np.allclose(y, np.log([0.5, 1.0, 2.0]))
    True
    """
    x = ops.cast(x, "float32")
    return ops.where(x < 0, -ops.log1p(-ops.minimum(x, 0.0)), ops.log1p(ops.maximum(x, 0.0)))


def _cross_entropy_from_log_scores(log_scores, labels, ignore_label_id):
    """-log(score_y / sum scores), given log scores (..., V) and labels (...)."""
    labels = ops.cast(labels, "int32")
    valid = ops.not_equal(labels, ignore_label_id)
    safe_labels = ops.where(valid, labels, 0)
    vocab = ops.shape(log_scores)[-1]
    is_label = ops.cast(ops.one_hot(safe_labels, vocab), "bool")
    label_log_score = ops.sum(ops.where(is_label, log_scores, 0.0), axis=-1)
    # log of the summed scores of every class but the label.
    other = ops.where(is_label, float("-inf"), log_scores)
    log_other = ops.logsumexp(other, axis=-1)
    loss = ops.softplus(log_other - label_log_score)
    return ops.where(valid, loss, 0.0)


def stablemax_cross_entropy(logits, labels, ignore_label_id=IGNORE_LABEL_ID):
    """Stablemax cross-entropy per position, float32, 0 at ignored labels.

    Args:
        logits: float (..., V), e.g. (B, L, V).
        labels: int (...), e.g. (B, L); positions equal to `ignore_label_id`
            give 0.
        ignore_label_id: label value that does not count (padding).

    Returns:
        float32 tensor of shape `labels.shape`.

    Example:
    >>> import numpy as np
    >>> logits = np.array([[[0.0, 1.0, 3.0]]], "float32")
    >>> loss = stablemax_cross_entropy(logits, np.array([[2]]))
    >>> float(np.asarray(loss)[0, 0]) == float(np.float32(-np.log(4.0 / 7.0)))
    True
    """
    return _cross_entropy_from_log_scores(log_stablemax_score(logits), labels, ignore_label_id)


def softmax_cross_entropy(logits, labels, ignore_label_id=IGNORE_LABEL_ID):
    """Softmax cross-entropy per position, float32, 0 at ignored labels.

    Same arguments and result as `stablemax_cross_entropy`.

    Example:
    >>> import numpy as np
    >>> loss = softmax_cross_entropy(np.zeros((1, 1, 4), "float32"), np.array([[3]]))
    >>> bool(np.isclose(np.asarray(loss)[0, 0], np.log(4.0)))
    True
    """
    return _cross_entropy_from_log_scores(ops.cast(logits, "float32"), labels, ignore_label_id)


LOSS_FUNCTIONS = {
    "stablemax": stablemax_cross_entropy,
    "softmax": softmax_cross_entropy,
}


def get_token_loss(token_loss):
    """Returns the per-position loss function named `token_loss` (or `token_loss` itself when callable)."""
    if callable(token_loss):
        return token_loss
    key = str(token_loss).lower().replace("_cross_entropy", "")
    if key not in LOSS_FUNCTIONS:
        raise ValueError(f"Unknown token_loss {token_loss!r}; expected one of {sorted(LOSS_FUNCTIONS)}.")
    return LOSS_FUNCTIONS[key]


def valid_counts(labels, ignore_label_id=IGNORE_LABEL_ID):
    """Number of counted (non-ignored) labels per row, int32 (B,)."""
    valid = ops.not_equal(ops.cast(labels, "int32"), ignore_label_id)
    return ops.sum(ops.cast(valid, "int32"), axis=-1)


def lm_loss_per_row(logits, labels, token_loss="stablemax", ignore_label_id=IGNORE_LABEL_ID):
    """Per-row LM loss: sum of CE over valid positions / max(1, valid count).

    Args:
        logits: float (B, L, V).
        labels: int (B, L).
        token_loss: "stablemax" (default, official) or "softmax", or a callable
            with the signature of `stablemax_cross_entropy`.
        ignore_label_id: label value that does not count.

    Returns:
        float32 (B,). A row without valid labels gives 0.

    Example:
    >>> import numpy as np
    >>> logits = np.zeros((1, 2, 4), "float32")
    >>> row = lm_loss_per_row(logits, np.array([[3, 0]]), token_loss="softmax")
    >>> bool(np.isclose(np.asarray(row)[0], np.log(4.0)))
    True
    """
    per_token = get_token_loss(token_loss)(logits, labels, ignore_label_id)
    counts = ops.cast(valid_counts(labels, ignore_label_id), "float32")
    return ops.sum(per_token, axis=-1) / ops.maximum(counts, 1.0)


def halt_bce(q_halt_logits, targets):
    """Elementwise binary cross-entropy with logits, numerically stable.

    `max(x, 0) - x * t + log1p(exp(-|x|))`, float32, same shape as the inputs.

    Example:
    >>> import numpy as np
    >>> out = halt_bce(np.array([0.0, 100.0]), np.array([1.0, 1.0]))
    >>> np.allclose(np.asarray(out), [np.log(2.0), 0.0])
    True
    """
    x = ops.cast(q_halt_logits, "float32")
    t = ops.cast(targets, "float32")
    return ops.maximum(x, 0.0) - x * t + ops.log1p(ops.exp(-ops.abs(x)))


def row_correctness(logits, labels, ignore_label_id=IGNORE_LABEL_ID):
    """Token and whole-row correctness of the argmax prediction.

    Args:
        logits: float (B, L, V).
        labels: int (B, L).
        ignore_label_id: label value that does not count.

    Returns:
        `(is_correct, seq_is_correct, counts)`:
        * `is_correct`: bool (B, L), valid position whose argmax equals its
          label;
        * `seq_is_correct`: bool (B,), every valid position correct (as in the
          official code, a row without valid labels counts as correct; callers
          exclude such rows via `counts`);
        * `counts`: int32 (B,), valid positions per row.

    Example:
    >>> import numpy as np
    >>> logits = np.eye(3, dtype="float32")[None]  # predicts 0, 1, 2
    >>> tok, seq, n = row_correctness(logits, np.array([[0, 1, 1]]))
    >>> np.asarray(tok).tolist(), np.asarray(seq).tolist(), np.asarray(n).tolist()
    ([[False, True, False]], [False], [2])
    """
    labels = ops.cast(labels, "int32")
    valid = ops.not_equal(labels, ignore_label_id)
    predictions = ops.cast(ops.argmax(logits, axis=-1), "int32")
    is_correct = ops.logical_and(valid, ops.equal(predictions, labels))
    counts = ops.sum(ops.cast(valid, "int32"), axis=-1)
    correct_counts = ops.sum(ops.cast(is_correct, "int32"), axis=-1)
    return is_correct, ops.equal(correct_counts, counts), counts
