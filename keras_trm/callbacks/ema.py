"""EMA weights for evaluation: a context manager and a callback (evaluation and checkpoints use the EMA, as officially).

`solver.compile(use_ema=True)` makes the Keras optimizer keep an exponential moving average of every trainable
weight (not the puzzle-embedding table, which is non-trainable). Training always updates the raw weights; the EMA
is only *read* for evaluation, pictures and exported weights.

Note on `fit`: Keras calls `optimizer.finalize_variable_values` when `fit` returns, which overwrites the weights
with their EMA. After `fit` the model therefore holds EMA weights (right for a final evaluate/save) and the raw
weights are lost unless `EMAEvaluation(restore_raw_after_fit=True)` was among the callbacks: it keeps a copy of the
raw weights at each epoch end and puts them back after `fit`, so a later `fit` continues from the raw weights exactly
as one long run would (checkpoints from `TRMCheckpoint` always store the raw weights and the EMA separately).

Example:
    >>> import keras, numpy as np
    >>> from keras_trm.models import TRMBackbone, TRMPuzzleSolver
    >>> backbone = TRMBackbone(vocabulary_size=6, sequence_length=4, hidden_dim=8, num_heads=1, num_layers=1,
    ...                        H_cycles=1, L_cycles=1, puzzle_emb_len=0, puzzle_emb_ndim=0)
    >>> solver = TRMPuzzleSolver(backbone, halt_max_steps=2)
    >>> solver.compile(learning_rate=1e-2, warmup_steps=1, use_ema=True, ema_momentum=0.5)
    >>> x = {"inputs": np.ones((4, 4), "int32"), "puzzle_identifiers": np.zeros((4,), "int32")}
    >>> _ = solver.fit(x, x["inputs"] + 1, batch_size=4, epochs=3, verbose=0,
    ...                callbacks=[EMAEvaluation(restore_raw_after_fit=True)])
    >>> len(ema_pairs(solver)) == len(solver.trainable_variables)   # every trainable weight has its EMA
    True
    >>> kernel = solver.backbone.lm_head.kernel
    >>> raw = keras.ops.convert_to_numpy(kernel)                    # raw: restore_raw_after_fit put them back
    >>> with swap_ema_weights(solver):                              # evaluation sees the EMA weights
    ...     ema = keras.ops.convert_to_numpy(kernel)
    ...     _ = solver.evaluate(x, x["inputs"] + 1, batch_size=4, verbose=0)
    >>> bool(np.allclose(ema, raw))                                  # the EMA lags behind the raw weights
    False
    >>> bool(np.array_equal(keras.ops.convert_to_numpy(kernel), raw))  # after the block the raw weights are back
    True
"""

import contextlib

import keras
from keras import ops


def ema_pairs(model):
    """[(weight, its EMA variable)] of a model whose optimizer keeps an EMA; [] when there is none yet.

    There is none when the optimizer has no EMA, is not built, or has not taken a step (the EMA is undefined).
    """
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "use_ema", False) or not opt.built:
        return []
    if int(ops.convert_to_numpy(opt.iterations)) == 0:
        return []
    averages = opt._model_variables_moving_average
    return [(v, averages[opt._get_variable_index(v)]) for v in model.trainable_variables]


@contextlib.contextmanager
def swap_ema_weights(model):
    """Within the block the model's trainable weights are their EMA; afterwards the raw weights are back.

    A no-op for a model without EMA. Safe to nest (the inner swap sees EMA == weights and restores them).
    """
    pairs = ema_pairs(model)
    raw = [ops.copy(ops.convert_to_tensor(v)) for v, _ in pairs]
    for v, avg in pairs:
        v.assign(ops.copy(avg.value))  # a copy: JAX must not see one buffer in two donated variables
    try:
        yield model
    finally:
        for (v, _), value in zip(pairs, raw):
            v.assign(value)


class EMAEvaluation(keras.callbacks.Callback):
    """Evaluates (fit's validation, `evaluate(callbacks=[...])`) and predicts with the EMA weights.

    Args:
        restore_raw_after_fit: put the raw weights back after `fit` (Keras leaves the EMA in them); use it when
            another `fit` call will continue the same training run.
        predict: also swap the EMA in for `predict(callbacks=[...])`.
    """

    def __init__(self, restore_raw_after_fit=False, predict=True):
        super().__init__()
        self.restore_raw_after_fit = restore_raw_after_fit
        self.predict = predict
        self._swap = None
        self._raw = None

    def _enter(self):
        if self._swap is None:
            self._swap = swap_ema_weights(self.model)
            self._swap.__enter__()

    def _exit(self):
        if self._swap is not None:
            swap, self._swap = self._swap, None
            swap.__exit__(None, None, None)

    def on_test_begin(self, logs=None):
        self._enter()

    def on_test_end(self, logs=None):
        self._exit()

    def on_predict_begin(self, logs=None):
        if self.predict:
            self._enter()

    def on_predict_end(self, logs=None):
        if self.predict:
            self._exit()

    def _stash(self):
        if self.restore_raw_after_fit and ema_pairs(self.model):
            self._raw = [ops.copy(ops.convert_to_tensor(v)) for v in self.model.trainable_variables]

    def on_epoch_end(self, epoch, logs=None):
        self._stash()  # the last hook before fit's finalize (also reached when a callback stops training)

    def on_train_end(self, logs=None):
        if self._raw is not None:
            for v, value in zip(self.model.trainable_variables, self._raw):
                v.assign(value)
            self._raw = None
