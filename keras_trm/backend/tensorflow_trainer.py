"""The solver's trainer on TensorFlow: gradients by `tf.GradientTape` (the train step runs in `tf.function`).

Under `tf.distribute.MirroredStrategy` (`keras_trm.distribution.tf_strategy(n)`) Keras runs the train step once per
replica on the replica's rows of each global batch. The carry is then created per replica (a `SyncOnRead` variable
of the replica's rows, written and read by its replica only; read across replicas it is the first replica's), the
step sees `carry_batch_size` rows (the replica's), the weight gradients are those of the global batch once Keras's
optimizer sums the replicas', the puzzle identifiers and row gradients are gathered from every replica for the
table's sign-SGD, and the metrics are summed over the replicas before they are read. Replicas on logical CPU devices
train without XLA (XLA cannot reach a variable of another logical CPU device).
"""

import keras
import tensorflow as tf

from keras_trm.training.trainer import SolverTrainer


def _dense(gradient):
    # Embedding gradients arrive as IndexedSlices; Adam-type updates must see the dense gradient to match the
    # other backends (zero rows still move the moments).
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


def _replica_context():
    """The replica context of a multi-replica step, or None (one replica, or outside the step)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


class TensorFlowSolverTrainer(SolverTrainer):
    """`SolverTrainer` on TensorFlow (the stateful train step of the base class, XLA by default), data parallel
    under `MirroredStrategy`."""

    def loss_and_gradients(self, step, puzzle_vectors):
        with tf.GradientTape() as tape:
            if puzzle_vectors is not None:
                tape.watch(puzzle_vectors)
            loss, outputs, parts = self.step_objective(step, puzzle_vectors)
        sources = list(self.trainable_variables) + ([puzzle_vectors] if puzzle_vectors is not None else [])
        grads = [_dense(g) for g in tape.gradient(loss, sources)]
        vector_grads = grads.pop() if puzzle_vectors is not None else None
        return loss, outputs, parts, grads, vector_grads

    # ------------------------------------------------------------------ data parallelism over replicas
    def num_data_replicas(self):
        return self.distribute_strategy.num_replicas_in_sync

    def add_weight(self, *args, name=None, **kwargs):
        """As Keras's; under several replicas each replica holds its own rows of a carry variable (`carry_*`)."""
        replicas = self.num_data_replicas()
        if replicas == 1 or not str(name).startswith("carry_"):
            return super().add_weight(*args, name=name, **kwargs)
        shape = tuple(kwargs["shape"])
        if shape[0] % replicas:
            raise ValueError(f"The global batch size ({shape[0]}) must be divisible by the {replicas} replicas.")
        with self.distribute_strategy.scope(), keras.name_scope(self.name, caller=self):
            variable = keras.Variable(
                initializer=kwargs.get("initializer", "zeros"),
                shape=(shape[0] // replicas,) + shape[1:],
                dtype=kwargs.get("dtype"),
                trainable=False,
                synchronization="on_read",
                aggregation="only_first_replica",
                name=name,
            )
        self._track_variable(variable)
        return variable

    @property
    def carry_batch_size(self):
        """The carry's rows: the global batch, and inside a replica's step that replica's rows."""
        rows = self.__dict__.get("_global_carry_rows")
        ctx = _replica_context()
        return rows if rows is None or ctx is None else rows // ctx.num_replicas_in_sync

    @carry_batch_size.setter
    def carry_batch_size(self, rows):
        self.__dict__["_global_carry_rows"] = rows

    def make_train_function(self, force=False):
        """As Keras's; replicas on logical CPU devices train without XLA (XLA cannot place their variables)."""
        strategy = self.distribute_strategy
        if self.num_data_replicas() > 1 and self.jit_compile:
            devices = getattr(strategy.extended, "worker_devices", ())
            if devices and all("CPU" in d.upper() for d in devices):
                self.jit_compile = False
        return super().make_train_function(force=force)

    def replica_rows(self, values):
        ctx = _replica_context()
        if ctx is None:
            return values
        rows = tf.shape(values)[0] // ctx.num_replicas_in_sync
        return values[ctx.replica_id_in_sync_group * rows :][:rows]

    def reduce_gradients(self, grads):
        ctx = _replica_context()
        if ctx is None:
            return grads
        # The optimizer sums the replicas' gradients (Keras's convention): each sends its share of the mean.
        return [g / ctx.num_replicas_in_sync for g in grads]

    def gather_puzzle_rows(self, puzzle_identifiers, puzzle_vector_grads):
        ctx = _replica_context()
        if ctx is None:
            return puzzle_identifiers, puzzle_vector_grads
        ids = ctx.all_gather(tf.convert_to_tensor(puzzle_identifiers), axis=0)
        return ids, ctx.all_gather(puzzle_vector_grads, axis=0) / ctx.num_replicas_in_sync

    def assign_puzzle_table(self, table, value):
        ctx = _replica_context()
        if ctx is None:
            return super().assign_puzzle_table(table, value)

        def update(strategy, value):  # every replica's value is the same table: each device writes its copy
            strategy.extended.update(table.value, lambda v, x: v.assign(x), args=(value,), group=False)

        ctx.merge_call(update, args=(value,))

    def get_metrics_result(self):
        """The metrics of the global batch: inside a multi-replica step, each metric's state summed over replicas."""
        ctx = _replica_context()
        if ctx is None:
            return super().get_metrics_result()
        variables = [v for m in self.metrics for v in m.variables]
        saved = [tf.identity(v.value) for v in variables]
        totals = ctx.all_reduce("sum", saved)
        for v, total in zip(variables, totals):
            v.assign(total)
        with tf.control_dependencies([tf.identity(v.value) for v in variables]):
            result = {k: tf.identity(x) for k, x in super().get_metrics_result().items()}
        with tf.control_dependencies(list(result.values())):
            for v, value in zip(variables, saved):
                v.assign(value)
        return result
