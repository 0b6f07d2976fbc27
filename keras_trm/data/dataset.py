"""Built puzzle datasets on disk: a streaming writer and a memory-mapped reader.

Layout (docs/CONTRACTS.md)::

    <root>/metadata.json, identifiers.json
    <root>/<split>/inputs.npy             token_dtype (N, L)   uint8 when vocab_size <= 256 (int32 in format 1)
                   labels.npy             token_dtype (N, L)
                   puzzle_identifiers.npy int32 (P,)
                   puzzle_indices.npy     int64 (P + 1,)   examples of puzzle p: [pi[p], pi[p+1])
                   group_indices.npy      int64 (G + 1,)   puzzles of group g:   [gi[g], gi[g+1])
                   extras.json            optional

The writer streams groups straight into the .npy files (the header is reserved first and rewritten with the
final shape at the end), so memory stays bounded by one group. Everything goes into ``<root>.tmp-<pid>``, which
is renamed to ``<root>`` only once complete; on any exception the temporary folder is removed.

Tokens are stored compactly (format 2): in the smallest of uint8 / uint16 that holds ``vocab_size`` (int32 above
65536), recorded as ``token_dtype`` in metadata.json, so the official ARC build is 4x smaller than as int32 and fits
the page cache. Format 1 builds (int32 tokens, no ``token_dtype``) still open. Whatever is stored,
``PuzzleDataset.inputs`` / ``labels`` give int32 when indexed, and batches are int32.

Example:
    >>> import numpy as np, tempfile, os
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

from keras_trm.data.errors import DataFormatError

__all__ = [
    "DatasetWriter",
    "PuzzleDataset",
    "TokenArray",
    "FORMAT_VERSION",
    "SUPPORTED_FORMAT_VERSIONS",
    "TOKEN_DTYPES",
    "BENCHMARKS",
    "SPLITS",
    "read_metadata",
    "token_dtype_for",
]

FORMAT_VERSION = 2  # written; 2 = compact tokens (metadata "token_dtype"), 1 = int32 tokens
SUPPORTED_FORMAT_VERSIONS = (1, 2)
TOKEN_DTYPES = ("uint8", "uint16", "int32")  # allowed storage of inputs/labels, smallest first
BENCHMARKS = ("sudoku", "maze", "arc-agi-1", "arc-agi-2", "custom")
SPLITS = ("train", "test")
_HEADER_BYTES = 128  # reserved .npy v1.0 header (multiple of 64), room for any (N, L) shape
_ARRAYS = {  # name -> (dtype, ndim); None: the split's token_dtype
    "inputs": (None, 2),
    "labels": (None, 2),
    "puzzle_identifiers": (np.int32, 1),
    "puzzle_indices": (np.int64, 1),
    "group_indices": (np.int64, 1),
}


def token_dtype_for(vocab_size):
    """Smallest storage dtype of TOKEN_DTYPES holding token ids ``0 .. vocab_size - 1``: uint8 up to 256, uint16 up
    to 65536, else int32."""
    vocab_size = int(vocab_size)
    for name in TOKEN_DTYPES:
        if vocab_size - 1 <= np.iinfo(name).max:
            return np.dtype(name)
    raise ValueError(f"vocab_size {vocab_size} does not fit int32 token ids")


# --------------------------------------------------------------------------------------------- .npy streaming
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


# --------------------------------------------------------------------------------------------- writer
class DatasetWriter:
    """Streams a built dataset to disk. Use as a context manager.

    Args:
        root: final folder; must not exist unless ``overwrite=True`` (replaced only after a complete build).
        metadata: dict with at least ``benchmark``, ``seq_len``, ``vocab_size``, ``grid_shape`` and ``charset`` or
            ``vocabulary``; optional ``seed``, ``builder``, ``num_puzzle_identifiers`` (default: len(identifiers)).
            ``pad_id``/``ignore_label_id``/``blank_identifier_id`` are fixed to 0, ``splits`` and
            ``format_version`` are filled in.
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
            with open(os.path.join(s["dir"], "extras.json"), "w") as fh:
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
            pad_id=0,
            ignore_label_id=0,
            blank_identifier_id=0,
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
        with open(os.path.join(self.tmp, "identifiers.json"), "w") as fh:
            json.dump(self.identifiers, fh)
        with open(os.path.join(self.tmp, "metadata.json"), "w") as fh:
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


# --------------------------------------------------------------------------------------------- reader
_META_TYPES = {
    "benchmark": str,
    "seq_len": int,
    "vocab_size": int,
    "pad_id": int,
    "ignore_label_id": int,
    "blank_identifier_id": int,
    "num_puzzle_identifiers": int,
    "grid_shape": list,
    "splits": dict,
    "format_version": int,
}


def read_metadata(root):
    """Read and validate ``<root>/metadata.json``; raises DataFormatError naming the file and field."""
    path = os.path.join(os.fspath(root), "metadata.json")
    if not os.path.isfile(path):
        raise DataFormatError("missing (not a built dataset?)", file=path)
    try:
        with open(path) as fh:
            meta = json.load(fh)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"not valid JSON ({e})", file=path) from None
    if not isinstance(meta, dict):
        raise DataFormatError("must be a JSON object", file=path)
    for key, typ in _META_TYPES.items():
        if key not in meta:
            raise DataFormatError("missing", file=path, field=key)
        v = meta[key]
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise DataFormatError(f"expected {typ.__name__}, got {type(v).__name__}", file=path, field=key)
    if "charset" not in meta and "vocabulary" not in meta:
        raise DataFormatError("missing (need 'charset' or 'vocabulary')", file=path, field="vocabulary")
    if meta["format_version"] not in SUPPORTED_FORMAT_VERSIONS:
        raise DataFormatError(
            f"unsupported {meta['format_version']}, expected one of {SUPPORTED_FORMAT_VERSIONS}",
            file=path,
            field="format_version",
        )
    if meta["format_version"] == 1:  # int32 tokens, no token_dtype key
        if meta.get("token_dtype", "int32") != "int32":
            raise DataFormatError(
                f"format 1 stores int32 tokens, got {meta['token_dtype']!r}", file=path, field="token_dtype"
            )
        meta["token_dtype"] = "int32"
    elif "token_dtype" not in meta:
        raise DataFormatError("missing", file=path, field="token_dtype")
    elif meta["token_dtype"] not in TOKEN_DTYPES:
        raise DataFormatError(f"{meta['token_dtype']!r} not one of {TOKEN_DTYPES}", file=path, field="token_dtype")
    if meta["benchmark"] not in BENCHMARKS:
        raise DataFormatError(f"{meta['benchmark']!r} not one of {BENCHMARKS}", file=path, field="benchmark")
    for key in ("pad_id", "ignore_label_id", "blank_identifier_id"):
        if meta[key] != 0:
            raise DataFormatError(f"must be 0, got {meta[key]}", file=path, field=key)
    for key in ("seq_len", "vocab_size", "num_puzzle_identifiers"):
        if meta[key] < 1:
            raise DataFormatError(f"must be >= 1, got {meta[key]}", file=path, field=key)
    if meta["vocab_size"] - 1 > np.iinfo(meta["token_dtype"]).max:
        raise DataFormatError(
            f"{meta['token_dtype']} cannot hold vocab_size {meta['vocab_size']}", file=path, field="token_dtype"
        )
    gs = meta["grid_shape"]
    if len(gs) != 2 or not all(isinstance(v, int) and v > 0 for v in gs):
        raise DataFormatError(f"must be [rows, cols] of positive ints, got {gs}", file=path, field="grid_shape")
    for split, info in meta["splits"].items():
        if split not in SPLITS:
            raise DataFormatError(f"unknown split {split!r}", file=path, field="splits")
        for key in ("examples", "puzzles", "groups"):
            if not isinstance(info, dict) or not isinstance(info.get(key), int):
                raise DataFormatError(f"{split}.{key} missing or not an int", file=path, field="splits")
    return meta


def _load_npy(path):
    if not os.path.isfile(path):
        raise DataFormatError("missing", file=path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, SyntaxError) as e:
        raise DataFormatError(f"unreadable .npy ({e})", file=path) from None


def _check_index(arr, path, length, start, end, field):
    if arr.ndim != 1 or arr.shape[0] != length:
        raise DataFormatError(f"shape {arr.shape}, expected ({length},)", file=path, field=field)
    a = np.asarray(arr)
    if a[0] != start or a[-1] != end:
        raise DataFormatError(f"must run from {start} to {end}, got {a[0]}..{a[-1]}", file=path, field=field)
    if np.any(np.diff(a) <= 0):
        raise DataFormatError("must be strictly increasing (no empty puzzle or group)", file=path, field=field)


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


class PuzzleDataset:
    """One split of a built dataset, memory-mapped (nothing large is read into RAM).

    Attributes: ``metadata`` (dict), ``identifiers`` (list of names), ``inputs``/``labels`` (N, L) `TokenArray`s
    (stored as ``token_dtype``, read as int32; ``inputs.raw`` is the memmap), ``token_dtype`` (numpy dtype),
    ``puzzle_identifiers`` int32 (P,), ``puzzle_indices`` int64 (P+1,), ``group_indices`` int64 (G+1,) (the three
    index arrays are loaded into RAM, they are small), ``extras`` (dict or None).

    Example:
        >>> from keras_trm.data import build_sudoku_dataset, make_small_sudoku_csv
        >>> _ = make_small_sudoku_csv("csv", n=4, train_count=10, test_count=3, seed=0)
        >>> root = build_sudoku_dataset("sudoku4", train_csv="csv/train.csv", test_csv="csv/test.csv", num_aug=3,
        ...                             progress=False)
        >>> ds = PuzzleDataset(root, "train")
        >>> ds.inputs
        TokenArray(shape=(40, 16), stored as uint8, read as int32)
        >>> str(ds.token_dtype), str(ds.inputs.raw.dtype), str(ds.inputs[0].dtype), ds.inputs[0].shape
        ('uint8', 'uint8', 'int32', (16,))
        >>> len(ds.group_indices) - 1, len(ds.puzzle_identifiers)   # 10 groups: each puzzle and 3 augmentations
        (10, 40)
    """

    def __init__(self, root, split="train"):
        self.root = os.fspath(root)
        self.split = split
        self.metadata = read_metadata(self.root)
        meta_path = os.path.join(self.root, "metadata.json")
        if split not in self.metadata["splits"]:
            raise DataFormatError(
                f"no split {split!r} (have {sorted(self.metadata['splits'])})", file=meta_path, field="splits"
            )
        ids_path = os.path.join(self.root, "identifiers.json")
        try:
            with open(ids_path) as fh:
                self.identifiers = json.load(fh)
        except FileNotFoundError:
            raise DataFormatError("missing", file=ids_path) from None
        except json.JSONDecodeError as e:
            raise DataFormatError(f"not valid JSON ({e})", file=ids_path) from None
        if not isinstance(self.identifiers, list) or len(self.identifiers) != self.metadata["num_puzzle_identifiers"]:
            raise DataFormatError(
                f"must be a list of num_puzzle_identifiers={self.metadata['num_puzzle_identifiers']} names",
                file=ids_path,
            )
        d = os.path.join(self.root, split)
        arrays = {}
        self.token_dtype = np.dtype(self.metadata["token_dtype"])
        for name, (dtype, ndim) in _ARRAYS.items():
            p = os.path.join(d, name + ".npy")
            a = _load_npy(p)
            dtype = self.token_dtype if dtype is None else dtype
            if a.dtype != dtype or a.ndim != ndim:
                raise DataFormatError(
                    f"dtype {a.dtype} ndim {a.ndim}, expected {np.dtype(dtype)} ndim {ndim}", file=p, field=name
                )
            arrays[name] = a
        info = self.metadata["splits"][split]
        L = self.metadata["seq_len"]
        n, p_count, g_count = info["examples"], info["puzzles"], info["groups"]
        for name in ("inputs", "labels"):
            if arrays[name].shape != (n, L):
                raise DataFormatError(
                    f"shape {arrays[name].shape}, expected ({n}, {L}) from metadata",
                    file=os.path.join(d, name + ".npy"),
                    field=name,
                )
        pid = np.asarray(arrays["puzzle_identifiers"])
        p = os.path.join(d, "puzzle_identifiers.npy")
        if pid.shape != (p_count,):
            raise DataFormatError(f"shape {pid.shape}, expected ({p_count},)", file=p, field="puzzle_identifiers")
        if p_count and (pid.min() < 0 or pid.max() >= self.metadata["num_puzzle_identifiers"]):
            raise DataFormatError("identifier outside [0, num_puzzle_identifiers)", file=p, field="puzzle_identifiers")
        pi = np.asarray(arrays["puzzle_indices"])
        gi = np.asarray(arrays["group_indices"])
        _check_index(pi, os.path.join(d, "puzzle_indices.npy"), p_count + 1, 0, n, "puzzle_indices")
        _check_index(gi, os.path.join(d, "group_indices.npy"), g_count + 1, 0, p_count, "group_indices")
        self.inputs, self.labels = TokenArray(arrays["inputs"]), TokenArray(arrays["labels"])
        self.puzzle_identifiers, self.puzzle_indices, self.group_indices = pid, pi, gi
        self.extras = None
        ex = os.path.join(d, "extras.json")
        if os.path.isfile(ex):
            try:
                with open(ex) as fh:
                    self.extras = json.load(fh)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"not valid JSON ({e})", file=ex) from None

    # convenience ---------------------------------------------------------------------------------------------
    @property
    def num_examples(self):
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self):
        return int(self.puzzle_identifiers.shape[0])

    @property
    def num_groups(self):
        return int(self.group_indices.shape[0] - 1)

    @property
    def seq_len(self):
        return int(self.metadata["seq_len"])

    @property
    def vocab_size(self):
        return int(self.metadata["vocab_size"])

    def example_puzzles(self, rows):
        """Puzzle index of each example row: int64 (len(rows),)."""
        return np.searchsorted(self.puzzle_indices, np.asarray(rows), side="right") - 1

    def check_tokens(self):
        """Full scan (chunked): every token in [0, vocab_size). Raises DataFormatError."""
        for name, arr in (("inputs", self.inputs.raw), ("labels", self.labels.raw)):
            for s in range(0, arr.shape[0], 1 << 16):
                c = np.asarray(arr[s : s + (1 << 16)])
                bad = np.nonzero((c < 0) | (c >= self.vocab_size))[0]
                if bad.size:
                    raise DataFormatError(
                        f"token outside [0, {self.vocab_size})",
                        row=int(s + bad[0]),
                        file=os.path.join(self.root, self.split, name + ".npy"),
                        field=name,
                    )

    def __repr__(self):
        return (
            f"PuzzleDataset({self.root!r}, {self.split!r}: {self.num_groups} groups, {self.num_puzzles} puzzles,"
            f" {self.num_examples} examples, seq_len {self.seq_len}, vocab {self.vocab_size}, {self.token_dtype})"
        )


# --------------------------------------------------------------------------------------------- CSV sources
CSV_COLUMNS = ("source", "question", "answer", "rating")


def parse_in_chunks(rows, parse, path, selected=None, chunk=65536, n=None):
    """Feed `rows` (an iterable of parsed CSV rows) to `parse(rows, path, n)` `chunk` at a time, keeping only the
    row positions in the sorted array `selected` (None: all); yields each chunk's parsed arrays. `n`: the expected
    grid side (None: the first chunk's)."""
    buf, si = [], 0
    for idx, row in enumerate(rows):
        if selected is not None:
            if si >= selected.size or selected[si] != idx:
                continue
            si += 1
        buf.append(row)
        if len(buf) >= chunk:
            out = parse(buf, path, n)
            n = out[0].shape[-1]
            yield out
            buf = []
    if buf:
        yield parse(buf, path, n)


def iter_puzzle_csv(path):
    """Yield ``(line, source, question, answer, rating)`` for each data row of a public-schema CSV.

    ``line`` is the row's line number in the file (the header is line 1). Raises DataFormatError on a wrong column
    set, a row with the wrong number of fields or a rating that is not a number.
    """
    import csv

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError("no such file", file=path)
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or sorted(h.strip() for h in header) != sorted(CSV_COLUMNS):
            raise DataFormatError(f"columns {header}, expected {list(CSV_COLUMNS)}", file=path, row=1, field="header")
        col = {h.strip(): i for i, h in enumerate(header)}
        iq, ia, isrc, ir = col["question"], col["answer"], col["source"], col["rating"]
        for fields in reader:
            line = reader.line_num
            if len(fields) != 4:
                if not fields:
                    continue  # blank line
                raise DataFormatError(f"{len(fields)} fields, expected 4", file=path, row=line)
            r = fields[ir].strip()
            try:
                rating = int(r)
            except ValueError:
                try:
                    rating = float(r)
                except ValueError:
                    raise DataFormatError(f"not a number: {r!r}", file=path, row=line, field="rating") from None
            yield line, fields[isrc], fields[iq], fields[ia], rating


def resolve_csv(source, split, default_repo):
    """Path of ``<split>.csv`` from a local folder, a local file, or ``"hf:<owner>/<name>"`` (Hugging Face dataset,
    downloaded with a lazily-imported ``huggingface_hub``)."""
    source = os.fspath(source) if source is not None else f"hf:{default_repo}"
    if source.startswith("hf:"):
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ImportError(
                f"downloading {source} needs huggingface_hub (pip install huggingface_hub), or pass a "
                f"local folder holding {split}.csv"
            ) from None
        return hf_hub_download(source[3:], f"{split}.csv", repo_type="dataset")
    if os.path.isdir(source):
        return os.path.join(source, f"{split}.csv")
    return source
