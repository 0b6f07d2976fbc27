"""One TRM block: token mixing (attention or sequence MLP) then channel mixing, each with a post-norm."""

import keras
from keras import ops

from keras_trm.layers.attention import TRMAttention
from keras_trm.layers.normalization import rms_norm
from keras_trm.layers.swiglu import SwiGLU


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMBlock(keras.layers.Layer):
    """h = rmsnorm(h + mix(h)); h = rmsnorm(h + SwiGLU(h)).

    Token mixing is multi-head self-attention, or for TRM-MLP (`mlp_t=True`) a SwiGLU across the sequence axis:
    h is transposed to (B, D, S), mixed and normalised over S (as the official code does), and transposed back.

    Args:
        hidden_dim: D.
        num_heads: attention heads (unused when `mlp_t`).
        expansion: SwiGLU expansion (4).
        mlp_t: use the sequence-axis SwiGLU instead of attention.
        sequence_length: S = P + L, needed by `mlp_t`.
        norm_epsilon: RMS norm epsilon (1e-5).

    Example:
    >>> import numpy as np
    >>> y = TRMBlock(64, 4)(np.ones((2, 10, 64), "float32"))
    >>> tuple(y.shape)
    (2, 10, 64)
    """

    def __init__(
        self, hidden_dim, num_heads, expansion=4.0, mlp_t=False, sequence_length=None, norm_epsilon=1e-5, **kwargs
    ):
        super().__init__(**kwargs)
        if mlp_t and not sequence_length:
            raise ValueError("TRMBlock(mlp_t=True) needs sequence_length (P + L).")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.expansion = expansion
        self.mlp_t = mlp_t
        self.sequence_length = sequence_length
        self.norm_epsilon = norm_epsilon
        if mlp_t:
            self.token_mixer = SwiGLU(sequence_length, expansion, dtype=self.dtype_policy, name="mlp_t")
        else:
            self.token_mixer = TRMAttention(hidden_dim, num_heads, dtype=self.dtype_policy, name="attention")
        self.mlp = SwiGLU(hidden_dim, expansion, dtype=self.dtype_policy, name="mlp")

    def build(self, input_shape):
        if self.mlp_t:
            self.token_mixer.build((input_shape[0], self.hidden_dim, self.sequence_length))
        else:
            self.token_mixer.build(input_shape)
        self.mlp.build(input_shape)
        self.built = True

    def call(self, h, rotary=None):
        # h: (B, S, D), in the compute dtype also when called directly (compute_output_spec)
        h = ops.cast(h, self.compute_dtype)
        if self.mlp_t:
            ht = ops.transpose(h, (0, 2, 1))  # (B, D, S)
            ht = rms_norm(ht + self.token_mixer(ht), self.norm_epsilon, self.compute_dtype)
            h = ops.transpose(ht, (0, 2, 1))
        else:
            h = rms_norm(h + self.token_mixer(h, rotary=rotary), self.norm_epsilon, self.compute_dtype)
        return rms_norm(h + self.mlp(h), self.norm_epsilon, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            expansion=self.expansion,
            mlp_t=self.mlp_t,
            sequence_length=self.sequence_length,
            norm_epsilon=self.norm_epsilon,
        )
        return config
