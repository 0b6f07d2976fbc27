"""Backend utilities for layers (no training code here)."""

import contextlib

import keras

if keras.backend.backend() == "torch":
    import torch


def no_grad():
    """A context in which the framework records nothing for differentiation (TRM's gradient-free recursions).

    On PyTorch it is `torch.no_grad()` (saves the activations' memory); on JAX and TensorFlow a no-op, since
    `ops.stop_gradient` on the results already tells the compiler everything.

    Example:
    >>> from keras import ops
    >>> with no_grad():
    ...     y = ops.stop_gradient(ops.ones((2,)) * 3.0)
    >>> ops.convert_to_numpy(y).tolist()
    [3.0, 3.0]
    """
    if keras.backend.backend() == "torch":
        return torch.no_grad()
    return contextlib.nullcontext()
