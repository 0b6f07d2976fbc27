"""RMS normalisation without a learned scale, as TRM's post-norm blocks use it."""

from keras import ops


def rms_norm(x, epsilon=1e-5, dtype=None):
    """x / sqrt(mean(x^2) + eps) over the last axis, computed in float32.

    Args:
        x: a tensor (..., D).
        epsilon: added to the mean square (1e-5).
        dtype: dtype of the result; a layer passes its `compute_dtype`. Default: x's dtype.

    Example:
    >>> import keras, numpy as np
    >>> y = rms_norm(np.array([[2.0, -2.0, 2.0]], "float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4).tolist()
    [[1.0, -1.0, 1.0]]
    >>> keras.backend.standardize_dtype(rms_norm(np.ones((1, 4), "float32"), dtype="bfloat16").dtype)
    'bfloat16'
    """
    dtype = dtype or x.dtype
    y = ops.rms_normalization(ops.cast(x, "float32"), scale=None, axis=-1, epsilon=epsilon)
    return ops.cast(y, dtype)
