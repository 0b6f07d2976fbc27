"""The built-dataset format: its version, file names, arrays, token storage and reserved ids (one home for each).

Layout of a built dataset (docs/CONTRACTS.md)::

    <root>/metadata.json, identifiers.json
    <root>/<split>/inputs.npy             token_dtype (N, L)   uint8 when vocab_size <= 256 (int32 in format 1)
                   labels.npy             token_dtype (N, L)
                   puzzle_identifiers.npy int32 (P,)
                   puzzle_indices.npy     int64 (P + 1,)   examples of puzzle p: [pi[p], pi[p+1])
                   group_indices.npy      int64 (G + 1,)   puzzles of group g:   [gi[g], gi[g+1])
                   extras.json            optional

Tokens are stored compactly (format 2): in the smallest of `TOKEN_DTYPES` that holds ``vocab_size``, recorded as
``token_dtype`` in metadata.json. Format 1 builds (int32 tokens, no ``token_dtype``) still open.

Three ids are fixed by the format and recorded in every metadata.json: token `PAD_ID` (0) pads inputs, a label equal
to `IGNORE_LABEL_ID` (0) does not count in the loss or the metrics, and puzzle identifier `BLANK_IDENTIFIER_ID` (0)
is the puzzle-embedding row of puzzles without one of their own. The writer is `keras_trm.data.dataset_writer`, the
reader `keras_trm.data.puzzle_dataset`.

Example:
    >>> token_dtype_for(12).name, token_dtype_for(300).name, token_dtype_for(70000).name
    ('uint8', 'uint16', 'int32')
    >>> PAD_ID, IGNORE_LABEL_ID, BLANK_IDENTIFIER_ID, FORMAT_VERSION, BENCHMARKS
    (0, 0, 0, 2, ('sudoku', 'maze', 'arc-agi-1', 'arc-agi-2', 'custom'))
    >>> sorted(SPLIT_ARRAYS)
    ['group_indices', 'inputs', 'labels', 'puzzle_identifiers', 'puzzle_indices']
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_FORMAT_VERSIONS",
    "TOKEN_DTYPES",
    "BENCHMARKS",
    "SPLITS",
    "PAD_ID",
    "IGNORE_LABEL_ID",
    "BLANK_IDENTIFIER_ID",
    "RESERVED_IDS",
    "METADATA_FILE",
    "IDENTIFIERS_FILE",
    "EXTRAS_FILE",
    "METADATA_FIELDS",
    "SPLIT_ARRAYS",
    "token_dtype_for",
]

FORMAT_VERSION = 2  # written; 2 = compact tokens (metadata "token_dtype"), 1 = int32 tokens
SUPPORTED_FORMAT_VERSIONS = (1, 2)
TOKEN_DTYPES = ("uint8", "uint16", "int32")  # allowed storage of inputs/labels, smallest first
BENCHMARKS = ("sudoku", "maze", "arc-agi-1", "arc-agi-2", "custom")  # metadata "benchmark"
SPLITS = ("train", "test")

PAD_ID = 0  # input token of padding
IGNORE_LABEL_ID = 0  # a label that does not count (padding): the losses and metrics skip it
BLANK_IDENTIFIER_ID = 0  # puzzle identifier of puzzles without an embedding row of their own
RESERVED_IDS = {"pad_id": PAD_ID, "ignore_label_id": IGNORE_LABEL_ID, "blank_identifier_id": BLANK_IDENTIFIER_ID}

METADATA_FILE = "metadata.json"  # of a built dataset (a preset's metadata.json is keras-hub's)
IDENTIFIERS_FILE = "identifiers.json"  # of a built dataset: identifier -> puzzle name
EXTRAS_FILE = "extras.json"  # of a split, optional

METADATA_FIELDS = {  # metadata.json: required field -> type
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
SPLIT_ARRAYS = {  # <split>/<name>.npy -> (dtype, ndim); None: the build's token_dtype
    "inputs": (None, 2),
    "labels": (None, 2),
    "puzzle_identifiers": (np.int32, 1),
    "puzzle_indices": (np.int64, 1),
    "group_indices": (np.int64, 1),
}


def token_dtype_for(vocab_size):
    """The smallest storage dtype of `TOKEN_DTYPES` that holds token ids ``0 .. vocab_size - 1``.

    Args:
        vocab_size: int. The number of token ids.

    Returns:
        numpy dtype: uint8 up to 256 ids, uint16 up to 65536, else int32.

    Raises:
        ValueError: `vocab_size` does not fit int32 ids.
    """
    vocab_size = int(vocab_size)
    for name in TOKEN_DTYPES:
        if vocab_size - 1 <= np.iinfo(name).max:
            return np.dtype(name)
    raise ValueError(f"vocab_size {vocab_size} does not fit int32 token ids")
