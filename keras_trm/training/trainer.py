"""`SolverTrainer`: one training step of `TRMPuzzleSolver`, declared once for every backend.

One optimizer step is one supervision step (the paper's deep supervision):

1. `step = begin_step(x, y, sample_weight)`: rows of the carry that halted take the new batch's row and restart
   from H_init / L_init; running rows keep their puzzle.
2. `puzzle_vectors = puzzle_vectors(step["puzzle_identifiers"])`: the batch's rows of the puzzle-embedding table,
   (B, E), or None. The gradient of the puzzle embedding is taken with respect to these rows only.
3. `loss, outputs, parts = step_objective(step, puzzle_vectors)`: `step_forward` then `step_loss`, divided by
   the batch size. This is what the backend differentiates, in the weights and in `puzzle_vectors`.
4. The puzzle-embedding table takes sign-SGD on the batch's rows (`new_puzzle_table`), then the optimizer applies
   the weight gradients (the table first: the official trainer reads one step count for both).
5. `logs = end_step(step, outputs, parts, loss)`: halting decisions, the new carry, the metrics.

Data parallelism (one process per device on PyTorch, replicas of `tf.distribute.MirroredStrategy` on TensorFlow):
each replica holds the carry of its rows (`carry_batch_size` is the replica's batch) and trains on its shard of the
global batch. Between steps 3 and 4 `reduce_gradients` makes the weight gradients those of the global batch and
`gather_puzzle_rows` gives sign-SGD the identifiers and row gradients of the whole global batch, so that every
replica applies the same update to its copy of the table. With one replica these hooks return what they get. JAX
needs none of them: `keras.distribution` shards one program over the devices (`keras_trm/distribution.py`).

The solver implements the hooks (`begin_step`, `puzzle_vectors`, `step_forward`, `step_loss`, `end_step`,
`new_puzzle_table`); a backend (`keras_trm/backend/*_trainer.py`) implements `loss_and_gradients` and, where its
idiom differs from the stateful one here (JAX), `train_step`. `compute_gradients` is written once, here.
"""

from keras.utils import unpack_x_y_sample_weight

from keras_trm.backend.ops import no_grad


class SolverTrainer:
    """Mixed into `TRMPuzzleSolver` (through the backend's subclass, before keras-hub's `Task`)."""

    # ------------------------------------------------------------------ hooks (implemented by the solver)
    def begin_step(self, x, y, sample_weight):
        """The step's inputs from the carry and the new batch: a dict with `z_H`, `z_L`, `steps`, `inputs`,
        `labels`, `puzzle_identifiers` and `sample_weight`, one row per carry row."""
        raise NotImplementedError

    def puzzle_vectors(self, puzzle_identifiers):
        """The (B, E) rows of the puzzle-embedding table for `puzzle_identifiers`, or None without a table."""
        raise NotImplementedError

    def step_forward(self, step, puzzle_vectors):
        """One supervision step on the carried puzzles; a dict of outputs (differentiable in the weights and in
        `puzzle_vectors`)."""
        raise NotImplementedError

    def step_loss(self, outputs, labels, sample_weight):
        """(summed loss of the step, dict of per-row parts)."""
        raise NotImplementedError

    def end_step(self, step, outputs, parts, loss):
        """Halting decisions, the new carry, the metrics; returns the logs."""
        raise NotImplementedError

    def new_puzzle_table(self, table, puzzle_identifiers, puzzle_vector_grads):
        """The puzzle-embedding table after sign-SGD on the batch's rows (called before `optimizer.apply`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ backend-specific
    def loss_and_gradients(self, step, puzzle_vectors):
        """(loss / B, outputs, parts, [gradient per trainable variable], gradient of `puzzle_vectors` or None).

        Implemented by each backend with its framework's differentiation.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ data parallelism (one replica here)
    def num_data_replicas(self):
        """How many replicas train together, each on its `carry_batch_size` rows of the global batch (1 here)."""
        return 1

    def replica_rows(self, values):
        """This replica's rows of a tensor of the global batch (N * carry_batch_size rows): all of them here.

        For per-row random draws that must not depend on the number of replicas: draw for the global batch, keep
        `replica_rows` of it.
        """
        return values

    def reduce_gradients(self, grads):
        """The weight gradients of the global batch from this replica's (its mean loss's): unchanged here."""
        return grads

    def gather_puzzle_rows(self, puzzle_identifiers, puzzle_vector_grads):
        """(identifiers, row gradients) of the whole global batch, for the table's sign-SGD: this replica's here.

        The gradients are those of the global batch's mean loss (a replica's divided by the number of replicas).
        """
        return puzzle_identifiers, puzzle_vector_grads

    def assign_puzzle_table(self, table, value):
        """Writes the new puzzle-embedding table (every replica computed the same one)."""
        table.assign(value)

    # ------------------------------------------------------------------ shared
    def step_objective(self, step, puzzle_vectors):
        """What is differentiated: (loss of the step divided by the batch size, outputs, parts)."""
        outputs = self.step_forward(step, puzzle_vectors)
        loss, parts = self.step_loss(outputs, step["labels"], step["sample_weight"])
        return loss / self.carry_batch_size, outputs, parts

    def prepare_step(self, x, y, sample_weight):
        """(step, puzzle_vectors) of a batch: `begin_step` and the table rows, recorded for no gradient."""
        with no_grad():
            step = self.begin_step(x, y, sample_weight)
            vectors = self.puzzle_vectors(step["puzzle_identifiers"])
        return step, vectors

    def train_step(self, data):
        """The stateful train step (TensorFlow inside `tf.function`, PyTorch eagerly): variables assigned in place."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        step, vectors = self.prepare_step(x, y, sample_weight)
        loss, outputs, parts, grads, vector_grads = self.loss_and_gradients(step, vectors)
        grads = self.reduce_gradients(grads)
        with no_grad():
            table = self.backbone.puzzle_embedding_table
            if table is not None:  # first, as the official trainer does: it reads the step count before apply
                ids, vector_grads = self.gather_puzzle_rows(step["puzzle_identifiers"], vector_grads)
                self.assign_puzzle_table(table, self.new_puzzle_table(table.value, ids, vector_grads))
            self.optimizer.apply(grads, self.trainable_variables)
            return self.end_step(step, outputs, parts, loss)

    def compute_gradients(self, x, y, sample_weight=None):
        """Loss (divided by B) and gradients of one training step on the current carry, without applying them.

        Returns (loss, [gradient per trainable variable], gradient of the batch's puzzle vectors or None).
        """
        step, vectors = self.prepare_step(x, y, sample_weight)
        loss, _, _, grads, vector_grads = self.loss_and_gradients(step, vectors)
        return loss, list(grads), vector_grads
