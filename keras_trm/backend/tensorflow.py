"""TensorFlow pieces of keras-trm (see keras_trm/backend/__init__.py): a GradientTape train step."""

import contextlib

import tensorflow as tf
from keras.utils import unpack_x_y_sample_weight


def no_grad():
    """Nothing to do: `ops.stop_gradient` on the results is enough for the tape."""
    return contextlib.nullcontext()


def _dense(gradient):
    # Embedding gradients arrive as IndexedSlices; Adam-type updates must see the dense gradient to match the
    # other backends (zero rows still move the moments).
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


class SolverTrainer:
    """`train_step` of TRMPuzzleSolver on TensorFlow (run inside tf.function, XLA by default)."""

    def _loss_and_grads(self, step, rows):
        batch = self.carry_batch_size
        with tf.GradientTape() as tape:
            if rows is not None:
                tape.watch(rows)
            out = self._step_forward(step, rows)
            loss, parts = self.step_loss(out, step["labels"], step["sample_weight"])
            loss = loss / batch
        sources = list(self.trainable_variables) + ([rows] if rows is not None else [])
        grads = [_dense(g) for g in tape.gradient(loss, sources)]
        row_grads = grads.pop() if rows is not None else None
        return loss, out, parts, grads, row_grads

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        step = self._begin_step(x, y, sample_weight)
        rows = self._puzzle_rows(step["puzzle_identifiers"])
        loss, out, parts, grads, row_grads = self._loss_and_grads(step, rows)
        table = self.backbone.puzzle_embedding_table
        if table is not None:  # first, as the official trainer does: it reads the step count before apply counts it
            table.assign(self._new_puzzle_table(table.value, step["puzzle_identifiers"], row_grads))
        self.optimizer.apply(grads, self.trainable_variables)
        return self._end_step(step, out, parts, loss)

    def compute_gradients(self, x, y, sample_weight=None):
        """Loss (divided by B) and gradients of one training step on the current carry, without applying them."""
        step = self._begin_step(x, y, sample_weight)
        rows = self._puzzle_rows(step["puzzle_identifiers"])
        loss, _, _, grads, row_grads = self._loss_and_grads(step, rows)
        return loss, grads, row_grads
