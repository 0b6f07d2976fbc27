"""The solver's trainer on PyTorch: gradients by `torch.autograd.grad` (eager)."""

import torch

from keras_trm.training.trainer import SolverTrainer


class TorchSolverTrainer(SolverTrainer):
    """`SolverTrainer` on PyTorch (the stateful train step of the base class)."""

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
