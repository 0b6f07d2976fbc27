import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm.training.losses import (
    halt_bce,
    lm_loss_per_row,
    log_stablemax_score,
    row_correctness,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "official_trm")
VOCAB = 11


def _np_ce_from_scores(scores, labels, ignore):
    """-log(score_y / sum scores) = log1p(sum of other scores / score_y), float64.

    The log1p form keeps relative precision when the loss is tiny.
    """
    valid = labels != ignore
    safe = np.where(valid, labels, 0)
    picked = np.take_along_axis(scores, safe[..., None], -1)[..., 0]
    others = scores.sum(-1) - picked
    others = np.where(others < 0, 0.0, others)
    return np.where(valid, np.log1p(others / picked), 0.0)


def np_stablemax_ce(logits, labels, ignore=0):
    """Float64 reference of the official formula (s(x) = 1/(1-x) or x+1)."""
    x = np.asarray(logits, np.float64)
    s = np.where(x < 0, 1.0 / (1.0 - x), x + 1.0)
    return _np_ce_from_scores(s, labels, ignore)


def np_softmax_ce(logits, labels, ignore=0):
    """Float64 reference: log(1 + sum_{j != y} exp(x_j - x_y)), computed stably."""
    x = np.asarray(logits, np.float64)
    valid = labels != ignore
    safe = np.where(valid, labels, 0)
    z = x - np.take_along_axis(x, safe[..., None], -1)
    is_label = np.arange(x.shape[-1]) == safe[..., None]
    z = np.where(is_label, -np.inf, z)
    top = z.max(-1)
    with np.errstate(over="ignore"):
        small = np.log1p(np.exp(z).sum(-1))  # accurate when top <= 0
        big = top + np.log(np.exp(-top) + np.exp(z - top[..., None]).sum(-1))
    return np.where(valid, np.where(top <= 0, small, big), 0.0)


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


def assert_rel_close(got, want, rtol, atol=0.0):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def logit_cases():
    rng = np.random.default_rng(0)
    cases = {"normal": rng.normal(size=(3, 6, VOCAB)) * 3.0}
    cases["very_negative"] = np.full((2, 3, VOCAB), -1e6) + rng.normal(size=(2, 3, VOCAB))
    big = rng.normal(size=(2, 5, VOCAB))
    big[..., 4] = 1e4
    cases["large_positive"] = big
    mixed = rng.normal(size=(2, 5, VOCAB)) * 10.0
    mixed[0, :, 1] = 1e4
    mixed[1, :, 2] = -1e6
    mixed[:, 0, :] = np.linspace(-1e6, 1e4, VOCAB)
    cases["mixed"] = mixed
    cases["huge_spread"] = rng.normal(size=(2, 4, VOCAB)) * 1e5
    return {k: v.astype(np.float32) for k, v in cases.items()}


@pytest.mark.parametrize("name", sorted(logit_cases()))
def test_stablemax_matches_float64(name):
    logits = logit_cases()[name]
    rng = np.random.default_rng(1)
    labels = rng.integers(0, VOCAB, size=logits.shape[:-1])
    labels[0, 0] = 0  # at least one ignored position
    labels[-1, -1] = 4  # hits the large positive logit in "large_positive"
    got = to_np(stablemax_cross_entropy(logits, labels))
    want = np_stablemax_ce(logits, labels)
    assert got.dtype == np.float32
    assert got.shape == labels.shape
    assert_rel_close(got, want, rtol=2e-6, atol=1e-30)
    assert np.all(got[labels == 0] == 0.0)


def test_stablemax_confident_prediction_keeps_relative_precision():
    # The correct class dominates: the loss is tiny and float32 subtraction of
    # two logs would lose it; we keep full relative precision.
    logits = np.zeros((1, 2, VOCAB), np.float32)
    logits[0, 0, 3] = 1e6
    logits[0, 1, :] = -1e6
    logits[0, 1, 5] = 1e4
    labels = np.array([[3, 5]])
    got = to_np(stablemax_cross_entropy(logits, labels))
    want = np_stablemax_ce(logits, labels)
    assert np.all(want > 0)
    # A few float32 ulps relative to the loss itself (naive float32 would give
    # 0 or an error of order 1e-7 / loss).
    assert_rel_close(got, want, rtol=4e-6)


def test_log_stablemax_score():
    x = np.array([-1e6, -3.0, -1e-7, 0.0, 1e-7, 2.0, 1e4], np.float32)
    xd = x.astype(np.float64)
    s = np.where(xd < 0, 1.0 / (1.0 - xd), xd + 1.0)
    assert_rel_close(to_np(log_stablemax_score(x)), np.log(s), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", sorted(logit_cases()))
def test_softmax_matches_float64(name):
    logits = logit_cases()[name]
    labels = np.random.default_rng(2).integers(0, VOCAB, size=logits.shape[:-1])
    got = to_np(softmax_cross_entropy(logits, labels))
    want = np_softmax_ce(logits, labels)
    # Absolute error relative to the logits' scale (float32 inputs).
    scale = np.maximum(1.0, np.abs(logits).max())
    assert_rel_close(got, want, rtol=2e-6, atol=scale * 1e-7)


def test_softmax_small_loss_relative_precision():
    logits = np.zeros((1, 1, VOCAB), np.float32)
    logits[0, 0, 2] = 30.0
    got = to_np(softmax_cross_entropy(logits, np.array([[2]])))
    want = np_softmax_ce(logits, np.array([[2]]))
    assert_rel_close(got, want, rtol=1e-6)


@pytest.mark.parametrize("loss", ["stablemax", "softmax"])
def test_gradients_are_finite(loss):
    logits = logit_cases()["mixed"]
    labels = np.random.default_rng(3).integers(0, VOCAB, size=logits.shape[:-1])
    fn = stablemax_cross_entropy if loss == "stablemax" else softmax_cross_entropy
    grads = value_and_grad(lambda x: ops.sum(fn(x, labels)), logits)
    assert np.all(np.isfinite(grads))


def value_and_grad(f, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: f(v))(x))
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = f(v)
        return tape.gradient(y, v).numpy()
    import torch

    v = torch.tensor(x, requires_grad=True)
    f(v).backward()
    return v.grad.numpy()


def test_stablemax_gradient_matches_float64_finite_differences():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(1, 2, 5)).astype(np.float32) * 2.0
    labels = np.array([[1, 3]])
    got = value_and_grad(lambda x: ops.sum(stablemax_cross_entropy(x, labels)), logits)
    x = logits.astype(np.float64)
    want = np.zeros_like(x)
    eps = 1e-6
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        want[idx] = (np_stablemax_ce(up, labels).sum() - np_stablemax_ce(down, labels).sum()) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("token_loss", ["stablemax", "softmax"])
def test_lm_loss_per_row(token_loss):
    rng = np.random.default_rng(5)
    logits = (rng.normal(size=(4, 7, VOCAB)) * 4).astype(np.float32)
    labels = rng.integers(1, VOCAB, size=(4, 7))
    labels[1, 3:] = 0
    labels[2, :] = 0  # no valid label: loss 0
    ref = np_stablemax_ce if token_loss == "stablemax" else np_softmax_ce
    per_pos = ref(logits, labels)
    counts = (labels != 0).sum(-1)
    want = per_pos.sum(-1) / np.maximum(1, counts)
    got = to_np(lm_loss_per_row(logits, labels, token_loss=token_loss))
    assert got.shape == (4,)
    assert got[2] == 0.0
    assert_rel_close(got, want, rtol=2e-6)


def test_lm_loss_unknown_name():
    with pytest.raises(ValueError, match="Unknown token_loss 'hinge'"):
        lm_loss_per_row(np.zeros((1, 1, 3), np.float32), np.array([[1]]), token_loss="hinge")


def test_ignore_label_id_argument():
    logits = np.random.default_rng(6).normal(size=(2, 3, 5)).astype(np.float32)
    labels = np.array([[1, 4, 2], [4, 4, 0]])
    got = to_np(stablemax_cross_entropy(logits, labels, ignore_label_id=4))
    want = np_stablemax_ce(logits, labels, ignore=4)
    assert_rel_close(got, want, rtol=2e-6)


@pytest.mark.parametrize("fixture", ["trm_tiny_att", "trm_tiny_mlp"])
def test_lm_loss_reproduces_official_fixture(fixture):
    path = os.path.join(FIXTURES, fixture, "expected.npz")
    data = np.load(path)
    labels = np.where(data["labels"] == -100, 0, data["labels"])
    for step, want in enumerate(data["loss_lm"]):
        got = float(to_np(ops.sum(lm_loss_per_row(data["logits"][step], labels))))
        assert abs(got / want - 1.0) < 1e-5, (step, got, want)


def test_halt_bce_matches_float64():
    x = np.array([-1e4, -50.0, -3.0, -1e-3, 0.0, 1e-3, 2.5, 40.0, 1e4], np.float32)
    for t in (0.0, 1.0, 0.3):
        targets = np.full_like(x, t)
        xd = x.astype(np.float64)
        # -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), written stably
        want = t * np.logaddexp(0.0, -xd) + (1 - t) * np.logaddexp(0.0, xd)
        got = to_np(halt_bce(x, targets))
        assert got.shape == x.shape
        assert_rel_close(got, want, rtol=1e-6, atol=1e-7)


def test_halt_bce_bool_targets():
    got = to_np(halt_bce(np.array([[1.0, -1.0]], np.float32), np.array([[True, False]])))
    np.testing.assert_allclose(got, np.log1p(np.exp(-1.0)) * np.ones((1, 2)), rtol=1e-6)


def test_row_correctness():
    labels = np.array([[1, 2, 0], [1, 2, 3], [0, 0, 0], [2, 2, 2]])
    predictions = np.array([[1, 2, 3], [1, 1, 3], [1, 1, 1], [2, 2, 2]])
    logits = np.eye(5, dtype=np.float32)[predictions] * 5.0
    is_correct, seq, counts = row_correctness(logits, labels)
    np.testing.assert_array_equal(
        to_np(is_correct),
        [[True, True, False], [True, False, True], [False] * 3, [True] * 3],
    )
    np.testing.assert_array_equal(to_np(seq), [True, False, True, True])
    np.testing.assert_array_equal(to_np(counts), [2, 3, 0, 3])
    assert to_np(counts).dtype == np.int32
