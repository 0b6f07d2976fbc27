import keras
import numpy as np

from keras_trm.callbacks import EMAEvaluation, ema_pairs, swap_ema_weights
from tests.callbacks._helpers import make_solver, numpy_values


def _arrays(n=16, seq_len=16):
    rng = np.random.default_rng(0)
    x = {"inputs": rng.integers(1, 6, (n, seq_len)).astype("int32"), "puzzle_identifiers": np.ones((n,), "int32")}
    return x, rng.integers(1, 6, (n, seq_len)).astype("int32")


class _Probe(keras.callbacks.Callback):
    """Records the weights at the end of each epoch's training, during validation and when training resumes."""

    def __init__(self):
        super().__init__()
        self.raw, self.at_eval, self.ema_at_eval, self.resumed = [], [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.last_raw = numpy_values(self.model.trainable_variables)

    def on_test_begin(self, logs=None):
        self.raw.append(self.last_raw)
        self.at_eval.append(numpy_values(self.model.trainable_variables))
        self.ema_at_eval.append(numpy_values([avg for _, avg in ema_pairs(self.model)]))

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and self.raw:
            self.resumed.append(numpy_values(self.model.trainable_variables))


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def test_validation_sees_ema_and_training_resumes_raw():
    solver = make_solver()
    x, y = _arrays()
    probe = _Probe()
    solver.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        validation_data=(x, y),
        callbacks=[EMAEvaluation(restore_raw_after_fit=True), probe],
    )
    assert len(probe.at_eval) == 3 and len(probe.resumed) == 2
    for e in range(3):
        assert _same(probe.at_eval[e], probe.ema_at_eval[e])  # evaluation ran on the EMA
        assert not _same(probe.at_eval[e], probe.raw[e])  # ... which differs from the raw weights
    for e in range(2):
        assert _same(probe.resumed[e], probe.raw[e])  # the next epoch trains from the raw weights
    # restore_raw_after_fit undoes Keras's finalize_variable_values
    assert _same(numpy_values(solver.trainable_variables), probe.last_raw)


def test_fit_leaves_ema_without_restore_and_swap_roundtrips():
    solver = make_solver()
    x, y = _arrays()
    probe = _Probe()
    solver.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[probe])
    ema = numpy_values([avg for _, avg in ema_pairs(solver)])
    assert _same(numpy_values(solver.trainable_variables), ema)  # Keras's finalize_variable_values
    # swap: inside EMA, after it the weights as before
    for v in solver.trainable_variables:
        v.assign(v + 1.0)
    before = numpy_values(solver.trainable_variables)
    with swap_ema_weights(solver):
        assert _same(numpy_values(solver.trainable_variables), ema)
    assert _same(numpy_values(solver.trainable_variables), before)


def test_no_ema_is_a_noop():
    solver = make_solver(use_ema=False)
    x, y = _arrays()
    solver.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = numpy_values(solver.trainable_variables)
    assert ema_pairs(solver) == []
    with swap_ema_weights(solver):
        assert _same(numpy_values(solver.trainable_variables), before)


def test_a_second_fit_after_the_ema_overwrite_trains():
    # At the end of `fit` Keras overwrites the weights with their EMA; on JAX the weight and its average then shared
    # one buffer, and the next fit's train step failed ("donate the same buffer twice").
    solver = make_solver(use_ema=True)
    x, y = _arrays()
    solver.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after_first = numpy_values(solver.trainable_variables)
    history = solver.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(after_first, numpy_values(solver.trainable_variables)))
