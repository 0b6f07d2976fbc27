"""RMS normalisation without a learned scale, as TRM's post-norm blocks use it."""

from keras import ops


def rms_norm(x, epsilon=1e-5):
    """x / sqrt(mean(x^2) + eps) over the last axis, computed in float32 and cast back to x's dtype.

    Example:
    >>> import numpy as np
    >>> y = rms_norm(np.ones((2, 3), "float32") * 2.0)  # -> all ones (up to eps)
    """
    dtype = x.dtype
    x32 = ops.cast(x, "float32")
    y = ops.rms_normalization(x32, scale=None, axis=-1, epsilon=epsilon)
    return ops.cast(y, dtype)
