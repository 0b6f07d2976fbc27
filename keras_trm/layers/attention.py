"""Non-causal multi-head self-attention with a fused qkv projection and RoPE."""

import keras
from keras import ops

from keras_trm.backend.ops import dot_product_attention
from keras_trm.layers.initializers import fan_in_trunc_normal


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMAttention(keras.layers.Layer):
    """Self-attention as in the official TRM: qkv = W_qkv h (D -> 3D, [q | k | v] by heads), RoPE on q and k,
    softmax attention with scale 1/sqrt(head_dim), output projection D -> D; no biases.

    Args:
        hidden_dim: D.
        num_heads: number of heads; head_dim = D / num_heads.

    Call args:
        x: (B, S, D).
        rotary: an optional `RotaryEmbedding` layer applied to queries and keys.

    Example:
    >>> import numpy as np
    >>> y = TRMAttention(64, 4)(np.ones((2, 10, 64), "float32"))
    >>> tuple(y.shape)
    (2, 10, 64)
    """

    def __init__(self, hidden_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads}).")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        init = fan_in_trunc_normal(hidden_dim)
        self.qkv = keras.layers.Dense(
            3 * hidden_dim, use_bias=False, kernel_initializer=init, dtype=self.dtype_policy, name="qkv"
        )
        self.out = keras.layers.Dense(
            hidden_dim, use_bias=False, kernel_initializer=init, dtype=self.dtype_policy, name="out"
        )

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.out.build(input_shape)
        self.built = True

    def call(self, x, rotary=None):
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (batch, seq, 3 * self.num_heads, self.head_dim))  # (B, S, 3H, Dh)
        # Splits, not slices (on PyTorch a slice's gradient fills a zero tensor of the whole input), and RoPE
        # rotates queries and keys in one call (half the elementwise passes).
        qk, v = ops.split(qkv, [2 * self.num_heads], axis=2)  # (B, S, 2H, Dh), (B, S, H, Dh)
        if rotary is not None:
            qk = rotary(qk)
        q, k = ops.split(qk, 2, axis=2)
        y = dot_product_attention(q, k, v)  # (B, S, H, Dh)
        return self.out(ops.reshape(y, (batch, seq, self.hidden_dim)))

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, num_heads=self.num_heads)
        return config
