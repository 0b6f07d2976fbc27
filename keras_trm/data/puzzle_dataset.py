"""`PuzzleDataset`: one split of a built dataset, memory-mapped and validated; `read_metadata` checks metadata.json.

Every file of the format (`keras_trm.data.format`) is checked when a split opens: a problem raises
`DataFormatError` naming the file and the field. Tokens read as int32 whatever their storage
(`keras_trm.data.token_array.TokenArray`); the writer is `keras_trm.data.dataset_writer.DatasetWriter`.

Example:
    >>> from keras_trm.data import build_maze_dataset, make_small_maze_csv
    >>> _ = make_small_maze_csv("maze-csv", n=6, train_count=4, test_count=2, seed=0)
    >>> root = build_maze_dataset("maze6", source="maze-csv", progress=False)
    >>> meta = read_metadata(root)
    >>> meta["benchmark"], meta["seq_len"], meta["vocab_size"], meta["ignore_label_id"], meta["splits"]["test"]
    ('maze', 36, 6, 0, {'examples': 2, 'groups': 2, 'mean_puzzle_examples': 1.0, 'puzzles': 2})
    >>> PuzzleDataset(root, "test")
    PuzzleDataset('maze6', 'test': 2 groups, 2 puzzles, 2 examples, seq_len 36, vocab 6, uint8)
"""

from __future__ import annotations

import json
import os

import numpy as np

from keras_trm.data.errors import DataFormatError
from keras_trm.data.format import (
    BENCHMARKS,
    EXTRAS_FILE,
    IDENTIFIERS_FILE,
    METADATA_FIELDS,
    METADATA_FILE,
    RESERVED_IDS,
    SPLIT_ARRAYS,
    SPLITS,
    SUPPORTED_FORMAT_VERSIONS,
    TOKEN_DTYPES,
)
from keras_trm.data.token_array import TokenArray

__all__ = ["PuzzleDataset", "read_metadata"]


def read_metadata(root):
    """Read and validate ``<root>/metadata.json``; raises DataFormatError naming the file and field."""
    path = os.path.join(os.fspath(root), METADATA_FILE)
    if not os.path.isfile(path):
        raise DataFormatError("missing (not a built dataset?)", file=path)
    try:
        with open(path) as fh:
            meta = json.load(fh)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"not valid JSON ({e})", file=path) from None
    if not isinstance(meta, dict):
        raise DataFormatError("must be a JSON object", file=path)
    for key, typ in METADATA_FIELDS.items():
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
    for key, value in RESERVED_IDS.items():
        if meta[key] != value:
            raise DataFormatError(f"must be {value}, got {meta[key]}", file=path, field=key)
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
        meta_path = os.path.join(self.root, METADATA_FILE)
        if split not in self.metadata["splits"]:
            raise DataFormatError(
                f"no split {split!r} (have {sorted(self.metadata['splits'])})", file=meta_path, field="splits"
            )
        ids_path = os.path.join(self.root, IDENTIFIERS_FILE)
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
        for name, (dtype, ndim) in SPLIT_ARRAYS.items():
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
        ex = os.path.join(d, EXTRAS_FILE)
        if os.path.isfile(ex):
            try:
                with open(ex) as fh:
                    self.extras = json.load(fh)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"not valid JSON ({e})", file=ex) from None

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
