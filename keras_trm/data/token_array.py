"""`TokenArray`: a read-only int32 view of a memory-mapped token array, whatever its storage dtype.

Example:
    >>> import numpy as np
    >>> a = TokenArray(np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    >>> a
    TokenArray(shape=(2, 3), stored as uint8, read as int32)
    >>> a[1], a[1].dtype.name, a[0, 2], np.asarray(a).dtype.name
    (array([4, 5, 6], dtype=int32), 'int32', np.int32(3), 'int32')
"""

from __future__ import annotations

import numpy as np

__all__ = ["TokenArray"]


class TokenArray:
    """Read-only int32 view of a memory-mapped token array, whatever its storage dtype (uint8, uint16, int32).

    Indexing (``a[i]``, ``a[rows]``, ``a[s:e]``) reads only the rows asked for and returns int32 numpy arrays;
    ``np.asarray(a)`` reads everything as int32. ``raw`` is the memmap in its stored dtype (``raw_dtype``), for fast
    bulk reads that cast on assignment (``out[...] = a.raw[rows]``).
    """

    dtype = np.dtype(np.int32)

    def __init__(self, raw):
        self.raw = raw

    @property
    def raw_dtype(self):
        return self.raw.dtype

    @property
    def shape(self):
        return self.raw.shape

    @property
    def ndim(self):
        return self.raw.ndim

    @property
    def size(self):
        return self.raw.size

    def __len__(self):
        return self.raw.shape[0]

    def __getitem__(self, index):
        out = self.raw[index]
        if isinstance(out, np.generic):
            return np.int32(out)
        return np.asarray(out, dtype=np.int32)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self.raw, dtype=np.int32)
        return a if dtype is None else a.astype(dtype, copy=False)

    def __repr__(self):
        return f"TokenArray(shape={self.shape}, stored as {self.raw_dtype}, read as int32)"
