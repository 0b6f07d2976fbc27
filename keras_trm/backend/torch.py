"""PyTorch pieces of keras-trm (see keras_trm/backend/__init__.py): an eager autograd train step."""

import torch
from keras.utils import unpack_x_y_sample_weight


def no_grad():
    """Record no autograd graph for the gradient-free recursions (saves their activations' memory)."""
    return torch.no_grad()


class SolverTrainer:
    """`train_step` of TRMPuzzleSolver on PyTorch (eager)."""

    def _loss_and_grads(self, step, rows):
        batch = self.carry_batch_size
        if rows is not None:
            rows = rows.detach().requires_grad_(True)
        out = self._step_forward(step, rows)
        loss, parts = self.step_loss(out, step["labels"], step["sample_weight"])
        loss = loss / batch
        params = [v.value for v in self.trainable_variables]
        sources = params + ([rows] if rows is not None else [])
        grads = list(torch.autograd.grad(loss, sources, allow_unused=True))
        grads = [torch.zeros_like(s) if g is None else g for g, s in zip(grads, sources)]
        row_grads = grads.pop() if rows is not None else None
        return loss.detach(), out, parts, grads, row_grads

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with torch.no_grad():
            step = self._begin_step(x, y, sample_weight)
            rows = self._puzzle_rows(step["puzzle_identifiers"])
        loss, out, parts, grads, row_grads = self._loss_and_grads(step, rows)
        with torch.no_grad():
            table = self.backbone.puzzle_embedding_table
            if table is not None:  # first, as the official trainer does: it reads the step count before apply
                table.assign(self._new_puzzle_table(table.value, step["puzzle_identifiers"], row_grads))
            self.optimizer.apply(grads, self.trainable_variables)
            out = {k: v.detach() for k, v in out.items()}
            return self._end_step(step, out, parts, loss)

    def compute_gradients(self, x, y, sample_weight=None):
        """Loss (divided by B) and gradients of one training step on the current carry, without applying them."""
        with torch.no_grad():
            step = self._begin_step(x, y, sample_weight)
            rows = self._puzzle_rows(step["puzzle_identifiers"])
        loss, _, _, grads, row_grads = self._loss_and_grads(step, rows)
        return loss, grads, row_grads
