"""The official initialiser: a truncated normal whose standard deviation is exact.

The official code cuts a normal at +-2 standard deviations and rescales it so that the result has exactly the
requested standard deviation (as JAX's truncated normal does). Keras's `TruncatedNormal` cuts at 2 * stddev of the
normal it draws from, so asking it for `std / 0.8796...` gives the same distribution.
"""

import keras

# Standard deviation of a unit normal truncated to [-2, 2].
_TRUNCATED_STD = 0.87962566103423978


def trunc_normal(std, seed=None):
    """A Keras initializer drawing from N(0, 1) cut at +-2 sigma, scaled to standard deviation `std`.

    Example:
    >>> init = trunc_normal(0.5, seed=1)
    >>> w = init((256, 256))
    """
    if std == 0:
        return keras.initializers.Zeros()
    return keras.initializers.TruncatedNormal(stddev=std / _TRUNCATED_STD, seed=seed)


def fan_in_trunc_normal(fan_in, seed=None):
    """The official init of a linear layer: truncated normal with std 1/sqrt(fan_in)."""
    return trunc_normal(1.0 / fan_in**0.5, seed=seed)
