"""`DatasetWriter`: streams a built puzzle dataset to disk (the format of `keras_trm.data.format`).

The writer streams groups straight into the .npy files (the header is reserved first and rewritten with the
final shape at the end), so memory stays bounded by one group. Everything goes into ``<root>.tmp-<pid>``, which
is renamed to ``<root>`` only once complete; on any exception the temporary folder is removed. Tokens are stored in
the smallest dtype that holds the vocabulary (`keras_trm.data.format.token_dtype_for`); the result is read back by
`keras_trm.data.puzzle_dataset.PuzzleDataset`.

Example:
    >>> import numpy as np, tempfile, os
    >>> from keras_trm.data.puzzle_dataset import PuzzleDataset
    >>> root = os.path.join(tempfile.mkdtemp(), "toy")
    >>> meta = dict(benchmark="custom", seq_len=4, vocab_size=3, grid_shape=[2, 2], vocabulary=["<pad>", "a", "b"])
    >>> with DatasetWriter(root, meta) as w:
    ...     w.begin_split("train")
    ...     w.add_group([(0, np.ones((2, 4)), np.full((2, 4), 2))])   # one group, one puzzle, two examples
    ...     w.end_split()
    >>> ds = PuzzleDataset(root, "train")
    >>> ds.inputs.shape, ds.num_groups, ds.num_puzzles, ds.token_dtype.name, ds.inputs[0].dtype.name
    ((2, 4), 1, 1, 'uint8', 'int32')
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from keras_trm.data.format import (
    BENCHMARKS,
    EXTRAS_FILE,
    FORMAT_VERSION,
    IDENTIFIERS_FILE,
    METADATA_FILE,
    RESERVED_IDS,
    SPLITS,
    TOKEN_DTYPES,
    token_dtype_for,
)
from keras_trm.data.puzzle_dataset import PuzzleDataset

__all__ = ["DatasetWriter"]

_HEADER_BYTES = 128  # reserved .npy v1.0 header (multiple of 64), room for any (N, L) shape


def _npy_header(dtype, shape):
    d = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": tuple(int(s) for s in shape)}
    text = repr(d).encode("latin1")
    pad = _HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit the reserved .npy header")
    body = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


class _NpyAppender:
    """Appends rows of a fixed trailing shape to a .npy file; the row count is written on close."""

    def __init__(self, path, dtype, tail_shape=()):
        self.path, self.dtype, self.tail = path, np.dtype(dtype), tuple(tail_shape)
        self.rows = 0
        self._f = open(path, "wb")
        self._f.write(_npy_header(self.dtype, (0,) + self.tail))

    def append(self, array):
        a = np.ascontiguousarray(array, dtype=self.dtype)
        if a.shape[1:] != self.tail:
            raise ValueError(f"{self.path}: rows of shape {a.shape[1:]}, expected {self.tail}")
        self._f.write(a.tobytes())
        self.rows += a.shape[0]

    def close(self):
        if self._f.closed:
            return
        self._f.seek(0)
        self._f.write(_npy_header(self.dtype, (self.rows,) + self.tail))
        self._f.close()


class DatasetWriter:
    """Streams a built dataset to disk. Use as a context manager.

    Args:
        root: final folder; must not exist unless ``overwrite=True`` (replaced only after a complete build).
        metadata: dict with at least ``benchmark``, ``seq_len``, ``vocab_size``, ``grid_shape`` and ``charset`` or
            ``vocabulary``; optional ``seed``, ``builder``, ``num_puzzle_identifiers`` (default: len(identifiers)).
            ``pad_id``/``ignore_label_id``/``blank_identifier_id`` are the format's `RESERVED_IDS` (all 0),
            ``splits`` and ``format_version`` are filled in.
        identifiers: names of the puzzle identifiers, index = identifier (default ``["<blank>"]``).
        overwrite: replace an existing ``root``.
        token_dtype: storage of inputs/labels, one of TOKEN_DTYPES (default: ``metadata["token_dtype"]`` if given,
            else the smallest that holds ``vocab_size``, see `token_dtype_for`). Recorded in metadata.json.

    Per split: ``begin_split(name)``, then ``add_group(puzzles)`` for each group where ``puzzles`` is a list of
    ``(identifier, inputs (E, L), labels (E, L))``, then ``end_split(extras=None)``.
    """

    def __init__(self, root, metadata, identifiers=None, overwrite=False, token_dtype=None):
        self.root = os.path.abspath(os.fspath(root))
        self.tmp = f"{self.root}.tmp-{os.getpid()}"
        self.metadata = dict(metadata)
        self.identifiers = list(identifiers) if identifiers is not None else ["<blank>"]
        self.overwrite = overwrite
        for key in ("benchmark", "seq_len", "vocab_size", "grid_shape"):
            if key not in self.metadata:
                raise ValueError(f"DatasetWriter: metadata needs {key!r}")
        if "charset" not in self.metadata and "vocabulary" not in self.metadata:
            raise ValueError("DatasetWriter: metadata needs 'charset' or 'vocabulary'")
        if self.metadata["benchmark"] not in BENCHMARKS:
            raise ValueError(f"DatasetWriter: benchmark must be one of {BENCHMARKS}")
        self.seq_len = int(self.metadata["seq_len"])
        vocab = int(self.metadata["vocab_size"])
        token_dtype = token_dtype if token_dtype is not None else self.metadata.get("token_dtype")
        self.token_dtype = token_dtype_for(vocab) if token_dtype is None else np.dtype(token_dtype)
        if self.token_dtype.name not in TOKEN_DTYPES:
            raise ValueError(f"DatasetWriter: token_dtype must be one of {TOKEN_DTYPES}, got {self.token_dtype}")
        if vocab - 1 > np.iinfo(self.token_dtype).max:
            raise ValueError(f"DatasetWriter: token_dtype {self.token_dtype} cannot hold vocab_size {vocab}")
        self.splits = {}
        self._split = None
        self._open = False

    # context management -------------------------------------------------------------------------------------
    def __enter__(self):
        if os.path.exists(self.root) and not self.overwrite:
            raise FileExistsError(f"{self.root} exists (pass overwrite=True to replace it)")
        if os.path.exists(self.tmp):
            shutil.rmtree(self.tmp)
        os.makedirs(self.tmp)
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._finish()
        except BaseException:
            self._abort()
            raise
        if exc_type is not None:
            self._abort()
        return False

    def _abort(self):
        if self._split is not None:
            for app in self._split["files"].values():
                try:
                    app._f.close()
                except Exception:
                    pass
            self._split = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._open = False

    # splits -----------------------------------------------------------------------------------------------
    def begin_split(self, name):
        if not self._open:
            raise RuntimeError("DatasetWriter must be used as a context manager")
        if self._split is not None:
            raise RuntimeError(f"split {self._split['name']!r} not ended")
        if name not in SPLITS or name in self.splits:
            raise ValueError(f"split must be a new one of {SPLITS}, got {name!r}")
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        L = (self.seq_len,)
        self._split = {
            "name": name,
            "dir": d,
            "files": {
                "inputs": _NpyAppender(os.path.join(d, "inputs.npy"), self.token_dtype, L),
                "labels": _NpyAppender(os.path.join(d, "labels.npy"), self.token_dtype, L),
                "puzzle_identifiers": _NpyAppender(os.path.join(d, "puzzle_identifiers.npy"), np.int32),
                "puzzle_indices": _NpyAppender(os.path.join(d, "puzzle_indices.npy"), np.int64),
                "group_indices": _NpyAppender(os.path.join(d, "group_indices.npy"), np.int64),
            },
            "examples": 0,
            "puzzles": 0,
            "groups": 0,
        }
        self._split["files"]["puzzle_indices"].append(np.zeros(1))
        self._split["files"]["group_indices"].append(np.zeros(1))

    def add_group(self, puzzles):
        """Append one group: a list of ``(identifier, inputs (E, L), labels (E, L))`` with E >= 1."""
        if len(puzzles) == 0:
            raise ValueError("a group needs at least one puzzle")
        xs, ys, sizes, ids = [], [], [], []
        for ident, x, y in puzzles:
            x, y = np.asarray(x), np.asarray(y)
            if x.ndim == 1:
                x, y = x[None], y[None]
            if x.shape != y.shape:
                raise ValueError(f"puzzle inputs {x.shape} and labels {y.shape} differ")
            xs.append(x)
            ys.append(y)
            sizes.append(x.shape[0])
            ids.append(ident)
        self.add_group_arrays(np.concatenate(xs), np.concatenate(ys), sizes, ids)

    def add_group_arrays(self, inputs, labels, puzzle_sizes, identifiers):
        """Fast path: one group as arrays. inputs/labels (E, L); puzzle_sizes (P,) summing to E; identifiers (P,)."""
        s = self._split
        if s is None:
            raise RuntimeError("add_group before begin_split")
        x, y = np.asarray(inputs), np.asarray(labels)
        sizes = np.asarray(puzzle_sizes, dtype=np.int64).reshape(-1)
        ids = np.asarray(identifiers, dtype=np.int64).reshape(-1)
        vocab = int(self.metadata["vocab_size"])
        n_ids = int(self.metadata.get("num_puzzle_identifiers", len(self.identifiers)))
        if x.shape != y.shape or x.ndim != 2 or x.shape[1] != self.seq_len:
            raise ValueError(f"group inputs {x.shape} / labels {y.shape}: expected equal (E, {self.seq_len})")
        if sizes.size == 0 or sizes.shape != ids.shape or sizes.min() < 1 or sizes.sum() != x.shape[0]:
            raise ValueError("puzzle_sizes must be >= 1 each, sum to the number of rows, one per identifier")
        if x.min() < 0 or x.max() >= vocab or y.min() < 0 or y.max() >= vocab:
            raise ValueError(f"token ids outside [0, {vocab})")
        if ids.min() < 0 or ids.max() >= n_ids:
            raise ValueError(f"puzzle identifier outside [0, {n_ids})")
        f = s["files"]
        f["inputs"].append(x)
        f["labels"].append(y)
        f["puzzle_identifiers"].append(ids)
        f["puzzle_indices"].append(s["examples"] + np.cumsum(sizes))
        s["examples"] += int(x.shape[0])
        s["puzzles"] += int(ids.size)
        s["groups"] += 1
        f["group_indices"].append(np.asarray([s["puzzles"]]))

    def end_split(self, extras=None):
        s = self._split
        if s is None:
            raise RuntimeError("end_split before begin_split")
        for app in s["files"].values():
            app.close()
        if extras is not None:
            with open(os.path.join(s["dir"], EXTRAS_FILE), "w") as fh:
                json.dump(extras, fh)
        self.splits[s["name"]] = {
            "examples": s["examples"],
            "puzzles": s["puzzles"],
            "groups": s["groups"],
            "mean_puzzle_examples": s["examples"] / max(s["puzzles"], 1),
        }
        self._split = None

    def _finish(self):
        if self._split is not None:
            raise RuntimeError(f"split {self._split['name']!r} not ended")
        if not self.splits:
            raise RuntimeError("no split written")
        meta = dict(self.metadata)
        meta.update(
            **RESERVED_IDS,
            num_puzzle_identifiers=int(meta.get("num_puzzle_identifiers", len(self.identifiers))),
            seq_len=self.seq_len,
            vocab_size=int(meta["vocab_size"]),
            token_dtype=self.token_dtype.name,
            grid_shape=[int(v) for v in meta["grid_shape"]],
            splits=self.splits,
            seed=meta.get("seed"),
            builder=meta.get("builder", {}),
            format_version=FORMAT_VERSION,
        )
        with open(os.path.join(self.tmp, IDENTIFIERS_FILE), "w") as fh:
            json.dump(self.identifiers, fh)
        with open(os.path.join(self.tmp, METADATA_FILE), "w") as fh:
            json.dump(meta, fh, indent=1, sort_keys=True)
        for split in self.splits:  # sanity: the result must open
            PuzzleDataset(self.tmp, split)
        old = None
        if os.path.exists(self.root):
            old = f"{self.root}.old-{os.getpid()}"
            os.rename(self.root, old)
        os.rename(self.tmp, self.root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._open = False
