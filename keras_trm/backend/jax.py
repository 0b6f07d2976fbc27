"""JAX pieces of keras-trm (see keras_trm/backend/__init__.py): a pure, jit-compiled train step."""

import contextlib

import jax
from keras import ops
from keras.src.backend import StatelessScope
from keras.utils import unpack_x_y_sample_weight


def no_grad():
    """Nothing to do: `ops.stop_gradient` on the results is enough for XLA."""
    return contextlib.nullcontext()


class SolverTrainer:
    """`train_step` of TRMPuzzleSolver on JAX: state in, state out, as Keras's JAX trainer expects."""

    def _loss_and_grads(self, trainable, non_trainable, step, rows):
        """(loss / B, (outputs, parts)), (weight grads, row grads) of one supervision step."""
        batch = self.carry_batch_size

        def loss_fn(trainable, rows):
            mapping = list(zip(self.trainable_variables, trainable))
            mapping += list(zip(self.non_trainable_variables, non_trainable))
            with StatelessScope(state_mapping=mapping):
                out = self._step_forward(step, rows)
                loss, parts = self.step_loss(out, step["labels"], step["sample_weight"])
            return loss / batch, (out, parts)

        return jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(trainable, rows)

    def _prepare(self, trainable, non_trainable, x, y, sample_weight):
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += list(zip(self.non_trainable_variables, non_trainable))
        with StatelessScope(state_mapping=mapping):
            step = self._begin_step(x, y, sample_weight)
            rows = self._puzzle_rows(step["puzzle_identifiers"])
        return step, rows

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        step, rows = self._prepare(trainable, non_trainable, x, y, sample_weight)
        (loss, (out, parts)), (grads, row_grads) = self._loss_and_grads(trainable, non_trainable, step, rows)
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += list(zip(self.non_trainable_variables, non_trainable))
        mapping += list(zip(self.metrics_variables, metrics_vars))
        mapping += list(zip(self.optimizer.variables, optimizer_vars))
        with StatelessScope(state_mapping=mapping) as scope:
            table = self.backbone.puzzle_embedding_table
            if table is not None:  # reads the step count of optimizer_vars, before stateless_apply below counts it
                table.assign(
                    self._new_puzzle_table(ops.convert_to_tensor(table), step["puzzle_identifiers"], row_grads)
                )
            logs = self._end_step(step, out, parts, loss)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        metrics_vars = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)

    def compute_gradients(self, x, y, sample_weight=None):
        """Loss (divided by B) and gradients of one training step on the current carry, without applying them.

        Returns (loss, [grad per trainable variable], grad of the batch's puzzle-embedding rows or None).
        """
        trainable = [ops.convert_to_tensor(v) for v in self.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v) for v in self.non_trainable_variables]
        step, rows = self._prepare(trainable, non_trainable, x, y, sample_weight)
        (loss, _), (grads, row_grads) = self._loss_and_grads(trainable, non_trainable, step, rows)
        return loss, list(grads), row_grads
