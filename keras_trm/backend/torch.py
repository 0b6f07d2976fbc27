"""Backend-specific pieces for PyTorch (see keras_trm/backend/__init__.py)."""

import torch


def no_grad():
    """Record no autograd graph for the gradient-free recursions (saves their activations' memory)."""
    return torch.no_grad()


class SolverTrainer:
    pass
