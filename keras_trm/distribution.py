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
- **TensorFlow**: `tf_strategy(n)` returns a `tf.distribute.MirroredStrategy` over n devices (the GPUs, else
  logical CPU devices); build, compile and fit the solver under its scope. Keras runs the train step once per
  replica on the replica's slice of each global batch; the solver's carry is created per replica (synchronised on
  read), each replica's own rows, and the weight gradients are summed over replicas by the optimizer, the puzzle
  rows gathered for sign-SGD (`keras_trm/backend/tensorflow_trainer.py`). With one replica it is TensorFlow's
  default strategy.
- **PyTorch**: one process per device, launched by `torchrun --nproc_per_node N -m keras_trm.cli train ...` (or any
  script under torchrun): `initialize()` joins the process group (NCCL on GPUs, gloo on CPUs), each rank trains on
  its shard of every global batch (`PuzzleBatches(..., num_shards=world_size(), shard_index=rank())`) with its own
  carry rows; gradients are averaged, the puzzle rows gathered, metrics summed over ranks
  (`keras_trm/backend/torch_trainer.py`). Every rank runs the same calls (fit, evaluate: they meet in
  collectives); only `is_main_process()` writes logs, checkpoints and presets.

`initialize()`, `world_size()`, `rank()`, `is_main_process()`, `gather_shards()` and `barrier()` answer on every
backend (one process: 1, 0, True, the values unchanged, nothing), so a runner calls them unconditionally.
"""

import re

import keras
import numpy as np

if keras.backend.backend() == "torch":
    from keras_trm.backend import torch_distributed
else:
    torch_distributed = None

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
                "On TensorFlow use keras_trm.distribution.tf_strategy(num_replicas)."
                if backend == "tensorflow"
                else "On PyTorch launch one process per device with torchrun (keras_trm.distribution.initialize())."
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

    Args:
        num_replicas: int or None. None or 1: TensorFlow's default (single-replica) strategy. n > 1: a
            `tf.distribute.MirroredStrategy` over the first n GPUs, else over the first n logical CPU devices (make
            them with `tf.config.set_logical_device_configuration` before TensorFlow starts).

    Returns:
        the strategy; build, compile and fit the solver under `strategy.scope()`. The global batch size must be
        divisible by the number of replicas.

    Raises:
        NotImplementedError: on another backend.
        ValueError: fewer than `num_replicas` devices.
    """
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            f"tf_strategy is for the TensorFlow backend (backend is {keras.backend.backend()!r}); "
            "on JAX use keras_trm.distribution.data_parallel(), on PyTorch torchrun."
        )
    import tensorflow as tf

    if num_replicas in (None, 1):
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) < int(num_replicas):
        raise ValueError(
            f"Asked for {num_replicas} replicas; TensorFlow sees {len(devices)} devices "
            f"({[d.name for d in devices]}). On CPUs make logical devices first: "
            "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)."
        )
    return tf.distribute.MirroredStrategy([d.name for d in devices[: int(num_replicas)]])


# ---------------------------------------------------------------------- processes (PyTorch under torchrun)
def initialize():
    """Joins the launcher's process group (PyTorch under torchrun; call it before building the model, so that a
    GPU rank creates its variables on its own device). One process, JAX and TensorFlow: nothing to join.

    Returns:
        int, the number of processes.

    Example:
    >>> initialize(), world_size(), rank(), is_main_process()   # one process
    (1, 1, 0, True)
    """
    if torch_distributed is not None:
        return torch_distributed.initialize()
    return world_size()


def world_size():
    """The number of training processes (torchrun's ranks; JAX's processes on a pod; else 1)."""
    if torch_distributed is not None:
        return torch_distributed.world_size()
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_count()
    return 1


def rank():
    """This process's index among `world_size()` (0 for one process)."""
    if torch_distributed is not None:
        return torch_distributed.rank()
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index()
    return 0


def is_main_process():
    """Whether this process writes the run's logs, checkpoints and presets (rank 0)."""
    return rank() == 0


def barrier():
    """Waits for every process (PyTorch ranks); one process: returns at once."""
    if torch_distributed is not None:
        torch_distributed.barrier()


def gather_shards(values, batch_size):
    """Every rank's rows of sharded batches, back in the global order (call it on every rank together).

    Args:
        values: numpy array (num_batches * batch_size, ...): this rank's outputs over `PuzzleBatches(...,
            num_shards=world_size(), shard_index=rank())` batches of `batch_size` rows each (e.g. `predict`'s).
        batch_size: int, the shard's rows per batch (the sampler's `batch_size`).

    Returns:
        numpy array (num_batches * batch_size * world_size(), ...): the rows of the global batches in order (one
        process: `values` as it is).

    Example:
    >>> gather_shards(np.arange(6), 3).tolist()   # one process
    [0, 1, 2, 3, 4, 5]
    """
    values = np.asarray(values)
    n = world_size()
    if n == 1 or torch_distributed is None:
        return values
    import torch

    parts = torch_distributed.all_gather_rows(torch.as_tensor(values)[None].to(torch_distributed.collective_device()))
    parts = parts.cpu().numpy()  # (world, num_batches * batch_size, ...), rank order
    batches = parts.reshape((n, -1, batch_size) + values.shape[1:])
    return np.swapaxes(batches, 0, 1).reshape((-1,) + values.shape[1:])
