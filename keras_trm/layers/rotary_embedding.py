"""Rotary position embedding (RoPE) over all P + L positions, as in the official TRM."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_trm")
class RotaryEmbedding(keras.layers.Layer):
    """Rotates queries and keys by position-dependent angles ("rotate half" convention).

    The angle of position p and frequency i is p * theta^(-2i / head_dim); the two halves of the head dimension are
    rotated together, as Llama and the official TRM do.

    Args:
        head_dim: size of one attention head.
        max_positions: number of positions (P + L).
        theta: base of the frequencies (10000).

    Example:
    >>> import numpy as np
    >>> rope = RotaryEmbedding(head_dim=8, max_positions=20)
    >>> import keras
    >>> q = keras.ops.convert_to_numpy(rope(np.ones((2, 20, 4, 8), "float32")))  # (B, S, heads, head_dim)
    >>> q.shape
    (2, 20, 4, 8)
    >>> bool(np.allclose(q[:, 0], 1.0)), bool(np.allclose(q[:, 1], 1.0))   # position 0 is not rotated, 1 is
    (True, False)
    """

    def __init__(self, head_dim, max_positions, theta=10000.0, **kwargs):
        super().__init__(**kwargs)
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding needs an even head_dim, got {head_dim}.")
        self.head_dim = head_dim
        self.max_positions = max_positions
        self.theta = theta
        inv_freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
        freqs = np.outer(np.arange(max_positions, dtype=np.float32), inv_freq)  # (S, head_dim / 2)
        angles = np.concatenate([freqs, freqs], axis=-1)  # (S, head_dim)
        # (S, 1, head_dim): broadcast over batch and heads.
        self._cos = np.cos(angles)[:, None, :].astype("float32")
        # sin with the sign of "rotate half" folded in: rotate_half(x) * sin = [x2 | x1] * [-sin | sin]
        sin = np.sin(angles)
        sin[:, : head_dim // 2] *= -1.0
        self._signed_sin = sin[:, None, :].astype("float32")
        self.built = True  # no weights

    def call(self, x):
        # x: (B, S, H, head_dim)
        x = ops.cast(x, self.compute_dtype)
        seq_len = ops.shape(x)[1]
        cos = ops.cast(ops.convert_to_tensor(self._cos)[:seq_len], x.dtype)
        sin = ops.cast(ops.convert_to_tensor(self._signed_sin)[:seq_len], x.dtype)
        x1, x2 = ops.split(x, 2, axis=-1)
        return x * cos + ops.concatenate([x2, x1], axis=-1) * sin  # x * cos + rotate_half(x) * sin

    def get_config(self):
        config = super().get_config()
        config.update(head_dim=self.head_dim, max_positions=self.max_positions, theta=self.theta)
        return config
