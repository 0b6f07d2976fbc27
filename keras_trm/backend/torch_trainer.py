"""The solver's trainer on PyTorch: gradients by `torch.autograd.grad` (eager), data parallel over ranks.

Under `torchrun --nproc_per_node N` (one process per device, `keras_trm/backend/torch_distributed.py`) every rank
holds its own carry rows and trains on its shard of each global batch (`PuzzleBatches(..., num_shards=N,
shard_index=rank)`); the first step gives every rank rank 0's weights, each step averages the weight gradients,
gathers the puzzle identifiers and row gradients of the global batch for the table's sign-SGD (the official
trainer's all-gather), and the metrics are summed over the ranks before they are read (training and `evaluate` on
sharded batches alike). One process on one device trains as before.
"""

import torch

from keras_trm.backend import torch_distributed
from keras_trm.training.trainer import SolverTrainer


class TorchSolverTrainer(SolverTrainer):
    """`SolverTrainer` on PyTorch (the stateful train step of the base class), data parallel under torchrun."""

    def loss_and_gradients(self, step, puzzle_vectors):
        if puzzle_vectors is not None:
            puzzle_vectors = puzzle_vectors.detach().requires_grad_(True)
        loss, outputs, parts = self.step_objective(step, puzzle_vectors)
        params = [v.value for v in self.trainable_variables]
        sources = params + ([puzzle_vectors] if puzzle_vectors is not None else [])
        grads = list(torch.autograd.grad(loss, sources, allow_unused=True))
        grads = [torch.zeros_like(s) if g is None else g for g, s in zip(grads, sources)]
        vector_grads = grads.pop() if puzzle_vectors is not None else None
        outputs = {k: v.detach() for k, v in outputs.items()}
        return loss.detach(), outputs, parts, grads, vector_grads

    # ------------------------------------------------------------------ data parallelism over ranks
    def num_data_replicas(self):
        return torch_distributed.world_size()

    def replica_rows(self, values):
        n = torch_distributed.world_size()
        if n == 1:
            return values
        rows = values.shape[0] // n
        start = torch_distributed.rank() * rows
        return values[start : start + rows]

    def reduce_gradients(self, grads):
        return torch_distributed.average_gradients(grads)

    def gather_puzzle_rows(self, puzzle_identifiers, puzzle_vector_grads):
        n = torch_distributed.world_size()
        if n == 1:
            return puzzle_identifiers, puzzle_vector_grads
        ids = torch_distributed.all_gather_rows(torch.as_tensor(puzzle_identifiers))
        return ids, torch_distributed.all_gather_rows(puzzle_vector_grads) / n

    def _shared_variables(self):
        """Every variable but the carry: the same on every rank (weights, the table, seed states)."""
        carry = {id(v) for v in getattr(self, "carry", {}).values()}
        return [v for v in self.trainable_variables + self.non_trainable_variables if id(v) not in carry]

    def train_step(self, data):
        if torch_distributed.initialize() > 1 and not getattr(self, "_ranks_synced", False):
            torch_distributed.broadcast_variables(self._shared_variables())  # every rank starts from rank 0's
            self._ranks_synced = True
        return super().train_step(data)

    def get_metrics_result(self):
        """The metrics of the global batch: each metric's state summed over the ranks (every rank calls this)."""
        torch_distributed.initialize()
        variables = [v for m in self.metrics for v in m.variables]
        with torch_distributed.summed_over_ranks(variables):
            return super().get_metrics_result()
