"""Resize the puzzle-embedding table (fine-tuning a preset on new puzzles).

Two rules for the new table:

* `"keep"` (the default): rows [0, old) are kept as they are and the added rows get the mean of the old rows, so
  a model resized to more identifiers still solves the puzzles it knew. Shrinking keeps the first rows. This is
  the default because keras-trm's fine-tuning path extends the identifier table (the `puzzle_spec`'s ARC
  identifiers are appended to), so an old identifier still names the same puzzle and its trained row still
  applies.
* `"official"`: what the official trainer does (`pretrain.py`, loading a checkpoint whose table has another
  number of rows): every row of the new table is the mean of the old rows. Use it to reproduce an official
  fine-tuning run, or when the new build numbers its puzzles afresh, so that old rows would name other puzzles.
"""

import numpy as np
from keras import ops

from keras_trm.models.trm_backbone import TRMBackbone

RULES = ("keep", "official")


def resize_puzzle_embeddings(model, new_num_identifiers, rule="keep"):
    """A new `TRMBackbone` / `TRMPuzzleSolver` (same class as `model`) with `new_num_identifiers` table rows.

    Every weight is copied. With `rule="keep"` (default) table rows [0, old) are unchanged and rows [old, new) are
    the mean of the old rows; with `rule="official"` every row is the mean of the old rows (the official trainer's
    rule; see the module docstring for when to use which). The `puzzle_spec` is carried over (its ARC identifier
    table, if any, must be extended by the caller).

    Example:
    >>> import numpy as np
    >>> from keras_trm import TRMBackbone
    >>> b = TRMBackbone(vocabulary_size=6, sequence_length=4, hidden_dim=16, num_heads=2, puzzle_emb_len=1,
    ...                 num_puzzle_identifiers=3)
    >>> tuple(resize_puzzle_embeddings(b, 5).puzzle_embedding_table.shape)
    (5, 16)
    >>> official = ops.convert_to_numpy(resize_puzzle_embeddings(b, 5, rule="official").puzzle_embedding_table)
    >>> bool(np.allclose(official, ops.convert_to_numpy(b.puzzle_embedding_table).mean(0), atol=1e-7))
    True
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    new_num_identifiers = int(new_num_identifiers)
    if new_num_identifiers < 1:
        raise ValueError(f"new_num_identifiers must be >= 1, got {new_num_identifiers}")
    solver = None if isinstance(model, TRMBackbone) else model
    backbone = model if solver is None else solver.backbone
    if backbone.puzzle_embedding is None:
        raise ValueError("This backbone has no puzzle-embedding table (puzzle_emb_ndim=0); nothing to resize.")

    config = backbone.get_config()
    config["num_puzzle_identifiers"] = new_num_identifiers
    new_backbone = TRMBackbone.from_config(config)
    old_table = np.asarray(ops.convert_to_numpy(backbone.puzzle_embedding_table))
    table_id = id(backbone.puzzle_embedding_table)
    old_vars = [v for v in backbone.weights if id(v) != table_id]
    new_table = new_backbone.puzzle_embedding_table
    new_vars = [v for v in new_backbone.weights if v is not new_table]
    if len(old_vars) != len(new_vars):
        raise RuntimeError("resize_puzzle_embeddings: the rebuilt backbone's weights do not match the original's")
    for old, new in zip(old_vars, new_vars):
        new.assign(ops.convert_to_numpy(old))  # a copy: never share a buffer between two models
    mean = old_table.mean(axis=0, keepdims=True)
    kept = old_table[:new_num_identifiers] if rule == "keep" else old_table[:0]
    table = np.concatenate([kept, np.repeat(mean, new_num_identifiers - kept.shape[0], axis=0)])
    new_table.assign(table.astype(old_table.dtype))
    new_backbone.puzzle_spec = getattr(backbone, "puzzle_spec", None)
    if solver is None:
        return new_backbone
    config = solver.get_config()
    keys = ("halt_max_steps", "halt_exploration_prob", "no_ACT_continue", "token_loss", "halt_at_inference", "seed")
    return type(solver)(new_backbone, **{k: config[k] for k in keys if k in config})
