"""`torch.distributed` for TRM's data-parallel training on PyTorch (the collectives the train step needs).

One process per device, launched by `torchrun --nproc_per_node N ...` (which sets `RANK`, `WORLD_SIZE`,
`LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`): NCCL on GPUs, gloo on CPUs. Each rank holds its own carry rows and
trains on its shard of every global batch; the collectives here make one optimizer step of N ranks the step of one
process on the global batch: weight gradients averaged, the puzzle-embedding rows and their gradients gathered,
metrics summed.
"""

import contextlib
import os

import torch
import torch.distributed as dist


def env_world_size():
    """The number of processes the launcher (torchrun) started, from `WORLD_SIZE` (1 when unset)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def initialize(backend=None):
    """Joins the process group torchrun describes in the environment; a no-op for one process or when joined.

    On GPUs each rank first takes the device `LOCAL_RANK` (call this before building the model, so that its
    variables are created there).

    Args:
        backend: str or None. "nccl", "gloo", or None: NCCL when CUDA is available, else gloo.

    Returns:
        int, the world size.
    """
    if dist.is_initialized():
        return dist.get_world_size()
    if env_world_size() <= 1:
        return 1
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return dist.get_world_size()


def world_size():
    """The number of ranks of the joined process group (1 when none is joined)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank():
    """This process's rank in the joined group (0 when none is joined)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def collective_device():
    """Where the group's collectives take their tensors: this rank's GPU under NCCL, else the CPU."""
    if world_size() > 1 and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _flat(tensors, dtype):
    return torch.cat([t.detach().reshape(-1).to(dtype) for t in tensors])


def _unflat(flat, like):
    out, offset = [], 0
    for t in like:
        n = t.numel()
        out.append(flat[offset : offset + n].reshape(t.shape).to(t.dtype))
        offset += n
    return out


def average_gradients(grads):
    """The mean over ranks of each gradient (one all-reduce of one flat buffer)."""
    if world_size() == 1 or not grads:
        return grads
    flat = _flat(grads, grads[0].dtype if all(g.dtype == grads[0].dtype for g in grads) else torch.float32)
    dist.all_reduce(flat)
    return _unflat(flat / world_size(), grads)


def all_gather_rows(tensor):
    """The ranks' (b, ...) tensors concatenated in rank order: (N * b, ...)."""
    if world_size() == 1:
        return tensor
    tensor = tensor.detach().contiguous()
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, 0)


def broadcast_variables(variables, src=0):
    """Gives every rank the values of `variables` on rank `src` (the weights every rank starts from)."""
    if world_size() == 1:
        return
    for v in variables:
        value = v.value.detach().clone().contiguous()
        dist.broadcast(value, src)
        v.assign(value)


@contextlib.contextmanager
def summed_over_ranks(variables):
    """Within the context, each variable holds its sum over the ranks (metric totals and counts); then its own
    value again. Every rank must enter it together (it is one all-reduce)."""
    if world_size() == 1 or not variables:
        yield
        return
    saved = [v.value.detach().clone() for v in variables]
    flat = _flat(saved, torch.float64)
    dist.all_reduce(flat)
    for v, total in zip(variables, _unflat(flat, saved)):
        v.assign(total)
    try:
        yield
    finally:
        for v, value in zip(variables, saved):
            v.assign(value)


def barrier():
    """Waits until every rank gets here."""
    if world_size() > 1:
        dist.barrier()
