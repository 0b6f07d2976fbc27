"""Optimizers of the Tiny Recursive Model.

* `AdamATan2`: the optimizer of the network's weights (Keras optimizer).
* `SignSGDEmbedding`: sign-SGD with decoupled weight decay for the
  puzzle-embedding table, touching only the rows of the batch.
"""

import keras
from keras import ops


def _densify(gradient, variable):
    """Turns a sparse gradient (TensorFlow `IndexedSlices`) into a dense one.

    Adam's moments decay everywhere, so a sparse gradient must behave exactly
    like its dense equivalent (zeros off the gathered rows, duplicate rows
    summed); `ops.scatter` sums duplicate indices.
    """
    if all(hasattr(gradient, a) for a in ("indices", "values", "dense_shape")):
        indices = ops.expand_dims(ops.cast(gradient.indices, "int32"), -1)
        return ops.scatter(indices, gradient.values, tuple(variable.shape))
    return gradient


@keras.saving.register_keras_serializable(package="keras_trm")
class AdamATan2(keras.optimizers.Optimizer):
    """Adam with `atan2` in place of the epsilon-guarded division.

    Per step `t` (1-based), learning rate `lr`, gradient `g`, parameter `p`:

        p <- p * (1 - lr * weight_decay)            # decoupled weight decay
        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        p <- p - lr / (1 - beta_1^t) * atan2(m, sqrt(v) / sqrt(1 - beta_2^t))

    This is what the `adam-atan2` package used by the official TRM code
    computes (bias correction 1 folded into the step size, bias correction 2
    into the denominator, weight decay multiplied by the learning rate and
    applied before the moment update); there is no epsilon.

    Weight decay goes through Keras's own decoupled mechanism, so
    `exclude_from_weight_decay` works as for `AdamW`. Learning-rate schedules,
    clipping and the other standard optimizer arguments are accepted as usual.

    `use_ema=True` keeps the official EMA (`EMAHelper` of the TRM code): the
    average starts at the weights before the first update and every step, the
    first included, does
    `average <- ema_momentum * average + (1 - ema_momentum) * weight`.
    (Keras's own optimizers instead copy the weights at the first step.)

    TensorFlow's sparse `IndexedSlices`
    gradients (embedding layers) are densified, so the update equals the dense
    one.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        beta_1: first-moment decay (0.9).
        beta_2: second-moment decay (0.95).
        weight_decay: decoupled weight decay (the package's default, 0.01).
        **kwargs: other `keras.optimizers.Optimizer` arguments.

    Example:
    >>> import numpy as np
    >>> v = keras.Variable(np.array([1.0, -2.0], "float32"))
    >>> opt = AdamATan2(learning_rate=0.1, weight_decay=0.0)
    >>> opt.apply([np.array([0.5, -3.0], "float32")], [v])
    >>> step = 0.1 * np.arctan(0.1) / 0.1  # first step: lr * atan(1 - beta_1) / (1 - beta_1)
    >>> np.allclose(ops.convert_to_numpy(v), [1.0 - step, -2.0 + step])
    True
    """

    def __init__(
        self,
        learning_rate=1e-4,
        beta_1=0.9,
        beta_2=0.95,
        weight_decay=0.01,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.999,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name="adam_atan2",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=name,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])

    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.use_ema:  # the official average starts at the weights before the first update
            first = ops.equal(self.iterations, 0)
            for variable, average in zip(self._trainable_variables, self._model_variables_moving_average):
                if average is not None:
                    average.assign(ops.where(first, ops.convert_to_tensor(variable), ops.convert_to_tensor(average)))
        super()._backend_apply_gradients(grads, trainable_variables)

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        momentum = self.ema_momentum
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:  # every step, the first included (Keras's own skips the first)
                average.assign(momentum * average + (1.0 - momentum) * variable)

    def _overwrite_model_variables_with_average_value(self, trainable_variables):
        # Keras assigns the average variable itself: on JAX both variables then hold one buffer, and the next `fit`
        # fails when its train step donates that buffer twice. A copy keeps them apart on every backend.
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                variable.assign(ops.copy(average))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(_densify(gradient, variable), dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        bias_correction_1 = 1.0 - ops.power(beta_1, step)
        bias_correction_2_sqrt = ops.sqrt(1.0 - ops.power(beta_2, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, (gradient - m) * (1.0 - beta_1))
        self.assign_add(v, (ops.square(gradient) - v) * (1.0 - beta_2))
        direction = ops.arctan2(m, ops.sqrt(v) / bias_correction_2_sqrt)
        self.assign_sub(variable, (lr / bias_correction_1) * direction)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config


def _scatter_rows(table, ids, rows):
    """Writes `rows` at `ids` of the table variable, in place where possible."""
    native = getattr(table, "value", table)
    if hasattr(native, "scatter_nd_update"):  # TensorFlow variable
        native.scatter_nd_update(ops.expand_dims(ids, -1), rows)
        return
    data = getattr(native, "data", None)
    if data is not None and hasattr(data, "index_copy_"):  # PyTorch tensor
        data.index_copy_(0, ops.cast(ids, "int64"), ops.cast(rows, data.dtype))
        return
    table.assign(ops.scatter_update(table.value, ops.expand_dims(ids, -1), rows))


def sum_duplicate_rows(ids, values):
    """Sums the rows of `values` that share an identifier, without a table.

    Every position receives the sum over all positions with the same id, so
    duplicates hold identical values. Uses a (B, B) equality mask to find each
    id's first position and an exact `segment_sum` (no matmul rounding).

    Example:
    >>> import numpy as np
    >>> out = sum_duplicate_rows(np.array([3, 1, 3]), np.array([[1.0], [2.0], [4.0]]))
    >>> ops.convert_to_numpy(out).ravel().tolist()
    [5.0, 2.0, 5.0]
    """
    ids = ops.cast(ids, "int32")
    batch = ops.shape(ids)[0]
    same = ops.equal(ops.expand_dims(ids, 1), ops.expand_dims(ids, 0))
    positions = ops.arange(batch, dtype="int32")
    first = ops.min(ops.where(same, ops.expand_dims(positions, 0), batch), axis=1)
    sums = ops.segment_sum(values, first, num_segments=batch)
    return ops.take(sums, first, axis=0)


@keras.saving.register_keras_serializable(package="keras_trm")
class SignSGDEmbedding:
    """Sign-SGD with decoupled weight decay for the puzzle-embedding table.

    Given the table (num_ids, E), the batch's identifiers (B,) and the gradient
    of the loss with respect to the gathered rows (B, E), gradients of equal
    identifiers are summed, then for each distinct identifier in the batch:

        row <- row * (1 - lr * weight_decay) - lr * sign(summed gradient)

    Rows absent from the batch are untouched, and nothing of table size is
    built besides the table itself. As in the official code, every identifier
    present is decayed, even one whose gradient is zero (e.g. padding rows).

    Two forms:
    * `stateless_update(table, ids, grads, iterations)` returns the new table
      value and iteration count (pure; for a jit-compiled JAX train step);
    * `apply(table_variable, ids, grads)` updates the variable in place and
      increments `self.iterations` (TensorFlow `tf.function`, eager PyTorch,
      eager JAX).

    The learning rate is a float or a `LearningRateSchedule` called with the
    iteration count before the update (as Keras does for its optimizers).

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: decoupled weight decay.
        name: name of the iteration variable's scope.

    Example:
    >>> import numpy as np
    >>> table = keras.Variable(np.ones((4, 2), "float32"))
    >>> opt = SignSGDEmbedding(learning_rate=0.1, weight_decay=1.0)
    >>> ids = np.array([2, 0, 2], "int32")
    >>> grads = np.array([[1.0, -1.0], [0.0, 2.0], [1.0, 3.0]], "float32")
    >>> opt.apply(table, ids, grads)
    >>> ops.convert_to_numpy(table).astype("float64").round(4).tolist()
    [[0.9, 0.8], [1.0, 1.0], [0.8, 0.8], [1.0, 1.0]]
    """

    def __init__(self, learning_rate=1e-4, weight_decay=0.1, name="sign_sgd_embedding"):
        if isinstance(learning_rate, dict):
            learning_rate = keras.optimizers.schedules.deserialize(learning_rate)
        self.learning_rate = learning_rate
        self.weight_decay = float(weight_decay)
        self.name = name
        self.iterations = keras.Variable(0, dtype="int", trainable=False, name=f"{name}_iterations")

    @property
    def variables(self):
        return [self.iterations]

    def learning_rate_at(self, iterations):
        """The learning rate used by the update at `iterations` (float32)."""
        if isinstance(self.learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return ops.cast(self.learning_rate(iterations), "float32")
        if callable(self.learning_rate):
            return ops.cast(self.learning_rate(), "float32")
        return ops.cast(self.learning_rate, "float32")

    def new_rows(self, table, ids, grads, learning_rate):
        """Updated rows (B, E) for the batch's ids; duplicates are identical."""
        ids = ops.cast(ids, "int32")
        rows = ops.stop_gradient(ops.take(table, ids, axis=0))
        grads = ops.stop_gradient(ops.cast(grads, rows.dtype))
        lr = ops.cast(learning_rate, rows.dtype)
        summed = sum_duplicate_rows(ids, grads)
        decay = 1.0 - lr * ops.cast(self.weight_decay, rows.dtype)
        return rows * decay - lr * ops.sign(summed)

    def stateless_update(self, table, ids, grads, iterations):
        """Returns `(new_table, iterations + 1)`; pure, jit-friendly."""
        ids = ops.cast(ids, "int32")
        rows = self.new_rows(table, ids, grads, self.learning_rate_at(iterations))
        new_table = ops.scatter_update(table, ops.expand_dims(ids, -1), rows)
        return new_table, iterations + 1

    def apply(self, table, ids, grads):
        """Updates the table variable in place and counts the step."""
        ids = ops.cast(ids, "int32")
        lr = self.learning_rate_at(self.iterations)
        rows = self.new_rows(table.value, ids, grads, lr)
        _scatter_rows(table, ids, rows)
        self.iterations.assign_add(1)

    def get_config(self):
        learning_rate = self.learning_rate
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            learning_rate = keras.optimizers.schedules.serialize(learning_rate)
        return {
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
