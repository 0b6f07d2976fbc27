"""Multi-device training of TRMPuzzleSolver.

What works, per backend:

- **JAX** (GPU, TPU, or simulated CPU devices): data parallelism through `keras.distribution`.
  `data_parallel()` returns a `keras.distribution.DataParallel` over the devices in which the weights, optimizer
  state and metrics are replicated and the solver's training carry (`solver.carry`: z_H, z_L, steps, halted and the
  carried puzzles, all batch-leading) is sharded along the batch like the data, so every device keeps its own rows'
  states between optimizer steps and no carry ever crosses devices. Set it before building the model:

      keras.distribution.set_distribution(keras_trm.distribution.data_parallel())
      solver = TRMPuzzleSolver(TRMBackbone(...)); solver.compile(...); solver.fit(...)

  The global batch must be divisible by the number of devices. Losses equal the single-device ones within
  rounding (tests/distribution).
- **TensorFlow**: `tf_strategy()` returns the strategy to build and train under. With one replica that is
  TensorFlow's default strategy and everything works as usual. `tf.distribute.MirroredStrategy` (more than one
  replica) is refused with `NotImplementedError`: Keras runs `train_step` once per replica on a slice of the batch,
  while the carry is one set of mirrored variables of the global batch, so each replica would overwrite the others'
  rows. Use JAX for multi-device training.
- **PyTorch**: Keras has no `keras.distribution` for torch, and `TRMPuzzleSolver.fit` runs its own eager train
  step, so `torch.nn.parallel.DistributedDataParallel` cannot wrap it. Single-process training on one device (CPU
  or one GPU, chosen by torch's default device) works; multi-device data parallelism does not, and the helpers here
  raise `NotImplementedError` saying so.
"""

import re

import keras

CARRY_PATTERN = r"(^|/)carry_[A-Za-z_]+$"


def _is_carry(variable):
    return re.search(CARRY_PATTERN, variable.path) is not None


class CarryShardedDataParallel(keras.distribution.DataParallel):
    """`DataParallel` that shards the solver's carry variables along the batch instead of replicating them.

    Every other variable is replicated, as in `DataParallel`.

    Args:
        devices: devices to use (default: all of `keras.distribution.list_devices()`).
        device_mesh: a 1D `keras.distribution.DeviceMesh` instead of `devices`.
        auto_shard_dataset: as for `DataParallel`.
    """

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is None and _is_carry(variable) and len(variable.shape) > 0:
            spec = [self.batch_dim_name] + [None] * (len(variable.shape) - 1)
            return keras.distribution.TensorLayout(spec, self.device_mesh)
        return super().get_variable_layout(variable)


def data_parallel(devices=None):
    """A data-parallel `keras.distribution` for TRM on JAX, the carry sharded along the batch.

    Args:
        devices: a list of devices (e.g. `keras.distribution.list_devices("gpu")`), an int (the first n devices),
            or None for all devices.

    Returns:
        a `CarryShardedDataParallel`; pass it to `keras.distribution.set_distribution` before building the model.

    Raises:
        NotImplementedError: on TensorFlow (use `tf_strategy`) and PyTorch (not supported; see the module doc).

    Example (any backend: what each one supports):

    >>> import keras
    >>> backend = keras.backend.backend()
    >>> def refused(make):
    ...     try:
    ...         make()
    ...     except NotImplementedError:
    ...         return True
    ...     return False
    >>> refused(data_parallel) == (backend != "jax")            # keras.distribution: JAX only
    True
    >>> refused(tf_strategy) == (backend != "tensorflow")       # TensorFlow: one replica
    True
    >>> if backend == "jax":
    ...     distribution = data_parallel(1)                     # the first device; data_parallel() takes them all
    ...     check_batch_size(8, distribution)                   # raises ValueError unless 8 rows split evenly
    ...     keras.distribution.set_distribution(distribution)   # then build, compile and fit the solver ...
    ...     keras.distribution.set_distribution(None)           # ... and go back to one device
    """
    backend = keras.backend.backend()
    if backend != "jax":
        raise NotImplementedError(
            f"keras_trm.distribution.data_parallel uses keras.distribution, which Keras implements for JAX only "
            f"(backend is {backend!r}). "
            + (
                "On TensorFlow use keras_trm.distribution.tf_strategy() (one replica)."
                if backend == "tensorflow"
                else "PyTorch multi-device training of TRMPuzzleSolver is not supported; train on one device."
            )
        )
    all_devices = keras.distribution.list_devices()
    if devices is None:
        devices = all_devices
    elif isinstance(devices, int):
        if devices > len(all_devices):
            raise ValueError(f"Asked for {devices} devices; only {len(all_devices)} are available.")
        devices = all_devices[:devices]
    return CarryShardedDataParallel(devices=list(devices))


def check_batch_size(batch_size, distribution=None):
    """Raises ValueError unless the global `batch_size` splits evenly over the distribution's batch axis."""
    distribution = distribution or keras.distribution.distribution()
    if distribution is None:
        return
    mesh = distribution.device_mesh
    shards = mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)]
    if batch_size % shards:
        raise ValueError(f"The global batch size ({batch_size}) must be divisible by the {shards} data shards.")


def tf_strategy(num_replicas=None):
    """The `tf.distribute` strategy to train TRM under on TensorFlow.

    Returns TensorFlow's default (single-replica) strategy. Asking for more than one replica raises
    `NotImplementedError` (the carry cannot be split across Keras's per-replica train steps; see the module doc).

    Raises:
        NotImplementedError: on another backend, or for more than one replica.
    """
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            f"tf_strategy is for the TensorFlow backend (backend is {keras.backend.backend()!r}); "
            "on JAX use keras_trm.distribution.data_parallel()."
        )
    import tensorflow as tf

    if num_replicas not in (None, 1):
        raise NotImplementedError(
            "Multi-replica tf.distribute training of TRMPuzzleSolver is not supported: Keras runs train_step per "
            "replica on a slice of the batch, but the training carry holds the global batch in mirrored variables. "
            "Use the JAX backend with keras_trm.distribution.data_parallel() for data parallelism."
        )
    return tf.distribute.get_strategy()
