"""SwiGLU feed-forward layer with the official inner width."""

import keras
from keras import ops

from keras_trm.layers.initializers import fan_in_trunc_normal


def swiglu_intermediate_dim(width, expansion):
    """round(expansion * width * 2 / 3) rounded up to a multiple of 256 (the official rule)."""
    inner = round(expansion * width * 2 / 3)
    return -(inner // -256) * 256


@keras.saving.register_keras_serializable(package="keras_trm")
class SwiGLU(keras.layers.Layer):
    """W_down(silu(W_gate h) * (W_up h)), no biases.

    `gate_up` is one fused projection width -> 2 * I holding [gate | up] (the official `gate_up_proj`), `down` maps
    I -> width.

    Args:
        width: size of the last axis of the input and output.
        expansion: width multiplier before the 2/3 rule (4 in TRM).

    Example:
    >>> import numpy as np
    >>> y = SwiGLU(width=64, expansion=4)(np.ones((2, 5, 64), "float32"))
    >>> tuple(y.shape)
    (2, 5, 64)
    >>> swiglu_intermediate_dim(64, 4)   # round(4 * 64 * 2 / 3) = 171, up to a multiple of 256
    256
    """

    def __init__(self, width, expansion=4.0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.expansion = expansion
        self.intermediate_dim = swiglu_intermediate_dim(width, expansion)
        self.gate_up = keras.layers.Dense(
            2 * self.intermediate_dim,
            use_bias=False,
            kernel_initializer=fan_in_trunc_normal(width),
            dtype=self.dtype_policy,
            name="gate_up",
        )
        self.down = keras.layers.Dense(
            width,
            use_bias=False,
            kernel_initializer=fan_in_trunc_normal(self.intermediate_dim),
            dtype=self.dtype_policy,
            name="down",
        )

    def build(self, input_shape):
        self.gate_up.build(input_shape)
        self.down.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(self, x):
        gate_up = self.gate_up(x)  # (..., 2I)
        # split, not two slices: on PyTorch a slice's gradient fills a zero tensor of the whole (..., 2I) input
        # each, a split's gradient is one concatenation (profiled: the fills were ~6% of a training step)
        gate, up = ops.split(gate_up, 2, axis=-1)
        return self.down(ops.silu(gate) * up)

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, expansion=self.expansion)
        return config
