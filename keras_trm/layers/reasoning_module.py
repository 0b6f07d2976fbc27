"""The one network f of TRM: f(h, injection) = blocks(h + injection)."""

import keras

from keras_trm.layers.block import TRMBlock


@keras.saving.register_keras_serializable(package="keras_trm")
class ReasoningModule(keras.layers.Layer):
    """`num_layers` TRM blocks applied to h + injection. The same f updates both z_L and z_H.

    Args:
        hidden_dim, num_heads, expansion, mlp_t, sequence_length, norm_epsilon: as for `TRMBlock`.
        num_layers: number of blocks (`L_layers`, 2 in TRM).

    Example:
    >>> import numpy as np
    >>> f = ReasoningModule(num_layers=2, hidden_dim=64, num_heads=4)
    >>> z = f(np.zeros((2, 10, 64), "float32"), np.ones((2, 10, 64), "float32"))   # f(h, injection)
    >>> tuple(z.shape)
    (2, 10, 64)
    """

    def __init__(
        self,
        num_layers,
        hidden_dim,
        num_heads,
        expansion=4.0,
        mlp_t=False,
        sequence_length=None,
        norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.expansion = expansion
        self.mlp_t = mlp_t
        self.sequence_length = sequence_length
        self.norm_epsilon = norm_epsilon
        self.blocks = [
            TRMBlock(
                hidden_dim,
                num_heads,
                expansion=expansion,
                mlp_t=mlp_t,
                sequence_length=sequence_length,
                norm_epsilon=norm_epsilon,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]

    def build(self, h_shape, injection_shape=None):
        for block in self.blocks:
            block.build(h_shape)
        self.built = True

    def call(self, h, injection, rotary=None):
        h = h + injection  # (B, S, D)
        for block in self.blocks:
            h = block(h, rotary=rotary)
        return h

    def get_config(self):
        config = super().get_config()
        config.update(
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            expansion=self.expansion,
            mlp_t=self.mlp_t,
            sequence_length=self.sequence_length,
            norm_epsilon=self.norm_epsilon,
        )
        return config
