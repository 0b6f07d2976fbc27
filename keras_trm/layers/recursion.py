"""One supervision step of TRM: `H_cycles` recursions of `L_cycles` latent updates, gradient through the last."""

import keras
from keras import ops

from keras_trm.backend.ops import no_grad
from keras_trm.layers.initializers import trunc_normal
from keras_trm.layers.reasoning_module import ReasoningModule
from keras_trm.layers.rotary_embedding import RotaryEmbedding


@keras.saving.register_keras_serializable(package="keras_trm")
class TRMRecursion(keras.layers.Layer):
    """Deep recursion of TRM with one shared network, `reasoning_module` (the paper's f).

    One recursion ("latent recursion"): `L_cycles` (the paper's n) times z_L = f(z_L, z_H + x), then
    z_H = f(z_H, z_L). One call runs `H_cycles` (the paper's T) recursions; the first T - 1 run without gradient,
    the last with gradient. z_H is the paper's y (the answer state), z_L its z (the latent).

    The layer also owns H_init and L_init, the fixed (non-trained) starting vectors of z_H and z_L.

    Args:
        hidden_dim: int. The size of every state vector, D.
        num_heads: int. Attention heads of the reasoning module's blocks.
        num_layers: int. Blocks in the reasoning module (the official `L_layers`).
        H_cycles: int. Recursions per call, the paper's T.
        L_cycles: int. Latent updates per recursion, the paper's n.
        sequence_length: int. Positions of a state, P + L (puzzle positions and tokens).
        expansion: float. SwiGLU expansion. Defaults to `4.0`.
        mlp_t: bool. TRM-MLP (a sequence-axis SwiGLU instead of attention). Defaults to `False`.
        pos_encodings: str. `"rope"`, `"learned"` or `"none"`; only `"rope"` matters here. Defaults to `"rope"`.
        rope_theta: float. The RoPE base. Defaults to `10000.0`.
        norm_epsilon: float. The RMS norm epsilon. Defaults to `1e-5`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
    >>> import numpy as np
    >>> rec = TRMRecursion(hidden_dim=64, num_heads=4, num_layers=2, H_cycles=2, L_cycles=3, sequence_length=20)
    >>> x = np.ones((2, 20, 64), "float32")
    >>> z_H, z_L = rec(np.zeros_like(x), np.zeros_like(x), x)
    >>> tuple(z_H.shape), tuple(z_L.shape)
    ((2, 20, 64), (2, 20, 64))
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        num_layers,
        H_cycles,
        L_cycles,
        sequence_length,
        expansion=4.0,
        mlp_t=False,
        pos_encodings="rope",
        rope_theta=10000.0,
        norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if H_cycles < 1 or L_cycles < 1:
            raise ValueError(f"H_cycles and L_cycles must be >= 1, got {H_cycles} and {L_cycles}.")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.H_cycles = H_cycles
        self.L_cycles = L_cycles
        self.sequence_length = sequence_length
        self.expansion = expansion
        self.mlp_t = mlp_t
        self.pos_encodings = pos_encodings
        self.rope_theta = rope_theta
        self.norm_epsilon = norm_epsilon
        self.reasoning_module = ReasoningModule(
            num_layers,
            hidden_dim,
            num_heads,
            expansion=expansion,
            mlp_t=mlp_t,
            sequence_length=sequence_length,
            norm_epsilon=norm_epsilon,
            dtype=self.dtype_policy,
            name="reasoning_module",
        )
        self.rotary = None
        if pos_encodings == "rope" and not mlp_t:
            self.rotary = RotaryEmbedding(
                hidden_dim // num_heads, sequence_length, rope_theta, dtype=self.dtype_policy, name="rotary"
            )

    def build(self, z_H_shape, z_L_shape=None, x_shape=None):
        self.H_init = self.add_weight(
            shape=(self.hidden_dim,), initializer=trunc_normal(1.0), trainable=False, name="H_init"
        )
        self.L_init = self.add_weight(
            shape=(self.hidden_dim,), initializer=trunc_normal(1.0), trainable=False, name="L_init"
        )
        self.reasoning_module.build(z_H_shape)
        self.built = True

    @property
    def f(self):
        """`reasoning_module` under the name the weights files store it by (`.../trm_recursion/f/...`).

        Keras names a sub-layer's weights by the attribute that holds it, visiting attributes in sorted order, so
        this alias keeps every saved weights file loading; code uses `reasoning_module`.
        """
        return self.reasoning_module

    def initial_states(self, batch_size):
        """H_init and L_init broadcast to (batch_size, P + L, D)."""
        shape = (batch_size, self.sequence_length, self.hidden_dim)
        z_H = ops.broadcast_to(ops.cast(self.H_init, self.compute_dtype), shape)
        z_L = ops.broadcast_to(ops.cast(self.L_init, self.compute_dtype), shape)
        return z_H, z_L

    def _latent_recursion(self, z_H, z_L, x):
        for _ in range(self.L_cycles):
            z_L = self.reasoning_module(z_L, z_H + x, rotary=self.rotary)
        z_H = self.reasoning_module(z_H, z_L, rotary=self.rotary)
        return z_H, z_L

    def call(self, z_H, z_L, x):
        # z_H, z_L, x: (B, P + L, D)
        if self.H_cycles > 1:
            with no_grad():
                for _ in range(self.H_cycles - 1):
                    z_H, z_L = self._latent_recursion(z_H, z_L, x)
            z_H, z_L = ops.stop_gradient(z_H), ops.stop_gradient(z_L)
        return self._latent_recursion(z_H, z_L, x)

    def compute_output_spec(self, z_H, z_L, x):
        return (keras.KerasTensor(z_H.shape, self.compute_dtype), keras.KerasTensor(z_L.shape, self.compute_dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            H_cycles=self.H_cycles,
            L_cycles=self.L_cycles,
            sequence_length=self.sequence_length,
            expansion=self.expansion,
            mlp_t=self.mlp_t,
            pos_encodings=self.pos_encodings,
            rope_theta=self.rope_theta,
            norm_epsilon=self.norm_epsilon,
        )
        return config
