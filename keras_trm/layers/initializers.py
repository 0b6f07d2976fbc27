"""The official initialiser: a truncated normal whose standard deviation is exact.

The official code (like JAX's truncated normal) draws a normal cut at +-2 standard deviations of the normal it draws
from, rescaled so that the result has exactly the requested standard deviation. It samples by inverting the CDF
(uniform -> erfinv), which is what `TruncatedNormal` below does with `keras.ops`, identically on every backend.
"""

import math

import keras
from keras import ops

_LOWER, _UPPER = -2.0, 2.0


def _compensated_std(std):
    """Std of the normal to draw from so that, once cut to [-2, 2] of its own std, the result has std `std`."""
    z = (math.erf(_UPPER / math.sqrt(2)) - math.erf(_LOWER / math.sqrt(2))) / 2
    c = (2 * math.pi) ** -0.5
    pdf_u, pdf_l = c * math.exp(-0.5 * _UPPER**2), c * math.exp(-0.5 * _LOWER**2)
    return std / math.sqrt(1 - (_UPPER * pdf_u - _LOWER * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)


@keras.saving.register_keras_serializable(package="keras_trm")
class TruncatedNormal(keras.initializers.Initializer):
    """N(0, s^2) cut at +-2s, with s chosen so that the standard deviation is exactly `std`.

    Example:
    >>> import numpy as np
    >>> w = keras.ops.convert_to_numpy(TruncatedNormal(0.5, seed=1)((256, 256)))
    >>> w.shape, round(float(w.std()), 2)
    ((256, 256), 0.5)
    """

    def __init__(self, std=1.0, seed=None):
        self.std = float(std)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed) if seed is not None else None

    def __call__(self, shape, dtype=None):
        dtype = dtype or "float32"
        s = _compensated_std(self.std)
        a, b = math.erf(_LOWER / math.sqrt(2)), math.erf(_UPPER / math.sqrt(2))
        seed = self._seed_generator if self._seed_generator is not None else None
        u = keras.random.uniform(shape, minval=a, maxval=b, dtype="float32", seed=seed)
        x = ops.clip(ops.erfinv(u) * (math.sqrt(2) * s), _LOWER * s, _UPPER * s)
        return ops.cast(x, dtype)

    def get_config(self):
        return {"std": self.std, "seed": self.seed}


def trunc_normal(std, seed=None):
    """The official initialiser of standard deviation `std` (zeros when `std` is 0)."""
    if std == 0:
        return keras.initializers.Zeros()
    return TruncatedNormal(std, seed=seed)


def fan_in_trunc_normal(fan_in, seed=None):
    """The official init of a linear layer: truncated normal with std 1/sqrt(fan_in)."""
    return trunc_normal(1.0 / fan_in**0.5, seed=seed)
