"""Backend utilities for layers (no training code here): `no_grad` and `dot_product_attention`."""

import contextlib

import keras
from keras import ops

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


def dot_product_attention(query, key, value):
    """Non-causal softmax attention with scale 1 / sqrt(head_dim): (B, S, H, Dh) in, (B, S, H, Dh) out.

    `keras.ops.dot_product_attention` on PyTorch (its fused CPU / GPU kernels) and TensorFlow. On JAX the same
    computation as heads-major einsums: XLA:CPU differentiates `jax.nn.dot_product_attention` slowly (measured on
    the 2-core CPU at B 64, S 97, 4 heads of 32: forward 26 ms, gradient 143 ms; these einsums 17 ms and 58 ms,
    same values to 5e-7). The logits and the softmax are float32 whatever the input dtype.

    Example:
    >>> import numpy as np
    >>> q = np.ones((1, 3, 2, 4), "float32")
    >>> ops.convert_to_numpy(dot_product_attention(q, q, q)).shape
    (1, 3, 2, 4)
    """
    if keras.backend.backend() != "jax":
        return ops.dot_product_attention(query, key, value)
    dtype = query.dtype
    scale = 1.0 / float(query.shape[-1]) ** 0.5
    q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (query * ops.cast(scale, dtype), key, value))  # (B, H, S, Dh)
    logits = ops.cast(ops.einsum("bhqd,bhkd->bhqk", q, k), "float32")
    probs = ops.cast(ops.softmax(logits, axis=-1), dtype)
    return ops.transpose(ops.einsum("bhqk,bhkd->bhqd", probs, v), (0, 2, 1, 3))
