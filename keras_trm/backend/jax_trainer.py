"""The solver's trainer on JAX: gradients by `jax.value_and_grad`, a pure train step (state in, state out)."""

import jax
from keras import ops
from keras.src.backend import StatelessScope
from keras.utils import unpack_x_y_sample_weight

from keras_trm.training.trainer import SolverTrainer


class JAXSolverTrainer(SolverTrainer):
    """`SolverTrainer` on JAX: the jit-compiled, stateless train step Keras's JAX trainer expects."""

    def _state_mapping(self, trainable, non_trainable):
        mapping = list(zip(self.trainable_variables, trainable))
        return mapping + list(zip(self.non_trainable_variables, non_trainable))

    def loss_and_gradients(self, step, puzzle_vectors, trainable=None, non_trainable=None):
        """As `SolverTrainer.loss_and_gradients`, at the given variable values (default: the current ones)."""
        if trainable is None:
            trainable = [ops.convert_to_tensor(v) for v in self.trainable_variables]
        if non_trainable is None:
            non_trainable = [ops.convert_to_tensor(v) for v in self.non_trainable_variables]

        def loss_fn(trainable, puzzle_vectors):
            with StatelessScope(state_mapping=self._state_mapping(trainable, non_trainable)):
                loss, outputs, parts = self.step_objective(step, puzzle_vectors)
            return loss, (outputs, parts)

        (loss, (outputs, parts)), (grads, vector_grads) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
            trainable, puzzle_vectors
        )
        return loss, outputs, parts, grads, vector_grads

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with StatelessScope(state_mapping=self._state_mapping(trainable, non_trainable)):
            step, vectors = self.prepare_step(x, y, sample_weight)
        loss, outputs, parts, grads, vector_grads = self.loss_and_gradients(step, vectors, trainable, non_trainable)
        mapping = self._state_mapping(trainable, non_trainable)
        mapping += list(zip(self.metrics_variables, metrics_vars))
        mapping += list(zip(self.optimizer.variables, optimizer_vars))
        with StatelessScope(state_mapping=mapping) as scope:
            table = self.backbone.puzzle_embedding_table
            if table is not None:  # reads the step count of optimizer_vars, before stateless_apply below counts it
                table.assign(
                    self.new_puzzle_table(ops.convert_to_tensor(table), step["puzzle_identifiers"], vector_grads)
                )
            logs = self.end_step(step, outputs, parts, loss)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        metrics_vars = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)
