"""The recipe config object (`TRMConfig`, the paper's settings) and how settings are overridden.

A benchmark's config is a dataclass subclass of `TRMConfig` whose defaults are the paper's settings for that
benchmark, with a few named sizes (`SIZES`) and variants (`VARIANTS`), each a dict of overrides. Settings resolve in
this order: the dataclass defaults, then `VARIANTS[variant]`, then `SIZES[size]`, then the command line
(`--set key=value`, repeatable, or `--key value`). The paper's numbers are not written here: every default of the
model and optimisation fields is read from the paper table, `keras_trm.models.trm_presets.ARCHITECTURES`
(`paper_settings`).
"""

import argparse
import dataclasses
import os
from dataclasses import dataclass, fields
from typing import ClassVar

from keras_trm.models.trm_presets import ARCHITECTURES, DEFAULT_ARCHITECTURE

_NOT_RECIPE_SETTINGS = ("vocabulary_size", "sequence_length", "num_puzzle_identifiers", "augmentation")


def paper_settings(name):
    """The recipe settings of one of the paper's configurations (its backbone, solver and training settings).

    Args:
        name: str. A key of `keras_trm.models.trm_presets.ARCHITECTURES` ("trm_sudoku_mlp", "trm_maze_hard", ...).

    Returns:
        dict: {setting: value}, named as `TRMConfig`'s fields (without the data's sizes, which a build gives).

    Example:
    >>> s = paper_settings("trm_arc_agi_1")
    >>> s["hidden_dim"], s["L_cycles"], s["halt_max_steps"], s["puzzle_emb_learning_rate"], s["epochs"]
    (512, 4, 16, 0.01, 100000)
    """
    arch = ARCHITECTURES[name]
    settings = {**arch["backbone"], **arch["solver"], **arch["training"]}
    return {k: v for k, v in settings.items() if k not in _NOT_RECIPE_SETTINGS}


_PAPER = paper_settings(DEFAULT_ARCHITECTURE)


# The model and optimisation of the recipes' `smoke` sizes: a few minutes on a 2-core CPU. Each recipe adds its data
# settings, batch size and run length.
SMOKE_SIZE = dict(
    hidden_dim=64,
    num_heads=4,
    puzzle_emb_len=4,
    H_cycles=2,
    L_cycles=3,
    halt_max_steps=4,
    dtype="float32",
    learning_rate=3e-3,
    puzzle_emb_learning_rate=3e-3,
    weight_decay=0.1,
    puzzle_emb_weight_decay=0.1,
    warmup_steps=50,
    lr_min_ratio=0.1,  # cosine decay to 10% (the paper's constant rate left the smoke runs far lower)
    ema=False,
)

# The model and optimisation of the recipes' `tiny` sizes: the whole path (data, fit, evaluation, saving) in seconds,
# for tests. Each recipe adds its data settings and batch size.
TINY_SIZE = dict(
    hidden_dim=32,
    num_heads=2,
    num_layers=1,
    puzzle_emb_len=2,
    H_cycles=1,
    L_cycles=1,
    halt_max_steps=2,
    dtype="float32",
    learning_rate=1e-3,
    puzzle_emb_learning_rate=1e-3,
    weight_decay=0.1,
    puzzle_emb_weight_decay=0.1,
    warmup_steps=2,
    ema=False,
    max_steps=4,
    eval_every_steps=2,
    tensorboard=False,
    verbose=0,
)


@dataclass
class TRMConfig:
    """Settings shared by every recipe; the defaults are the paper's for a multi-GPU / TPU run (`paper_settings` of
    `DEFAULT_ARCHITECTURE`, "trm_sudoku_att"; each benchmark's config takes its own configuration's).

    The model fields are `TRMBackbone`'s and `TRMPuzzleSolver`'s arguments (`H_cycles` is the paper's T, `L_cycles`
    its n, `halt_max_steps` its N_sup), the optimisation fields `TRMPuzzleSolver.compile`'s (AdamATan2 for the
    network, sign-SGD for the puzzle embeddings, linear warm-up then cosine decay to `lr_min_ratio`, EMA of the
    weights). `epochs` and `eval_interval` count official epochs (passes over the training groups, as the official
    `pretrain.py`); `max_steps` and `eval_every_steps` count optimizer steps instead.

    Class attributes:
        NAME: str. The recipe's name: the `keras-trm train` name and the prefix of the default `out_dir`.
        SIZES: dict. Named sizes, each a dict of settings over the defaults ("paper": the defaults).
        VARIANTS: dict. Named variants, each a dict of settings applied before the size ("": none).
        SIZE_VARIANTS: dict. {(size, variant): settings} applied after the size, where one size needs other
            settings for one variant (default {}: none).

    Example:
    >>> cfg = TRMConfig(hidden_dim=64).resolved()
    >>> cfg.hidden_dim, cfg.out_dir, cfg.data_dir, cfg.eval_batch_size
    (64, 'runs/trm-paper', 'runs/trm-paper/data', 768)
    """

    # --- run
    size: str = "paper"
    variant: str = ""
    out_dir: str = ""  # default runs/<recipe>-<variant>-<size>
    data_dir: str = ""  # built dataset; default <out_dir>/data (built when missing)
    seed: int = 0
    verbose: int = 1
    # --- model (the paper's: 512, 8, 2, 4.0, T 3, n 6, attention with rope, 16 puzzle positions, N_sup 16, ...)
    hidden_dim: int = _PAPER["hidden_dim"]
    num_heads: int = _PAPER["num_heads"]
    num_layers: int = _PAPER["num_layers"]
    expansion: float = _PAPER["expansion"]
    H_cycles: int = _PAPER["H_cycles"]
    L_cycles: int = _PAPER["L_cycles"]
    mlp_t: bool = _PAPER["mlp_t"]
    pos_encodings: str = _PAPER["pos_encodings"]
    puzzle_emb_len: int = _PAPER["puzzle_emb_len"]
    halt_max_steps: int = _PAPER["halt_max_steps"]
    halt_exploration_prob: float = _PAPER["halt_exploration_prob"]
    token_loss: str = _PAPER["token_loss"]  # per-token cross-entropy: "stablemax" or "softmax"
    dtype: str = "mixed_bfloat16"
    # --- optimisation (the paper's: batch 768, lr 1e-4, weight decay 1.0, 2000 warm-up steps, EMA 0.999, ...)
    global_batch_size: int = _PAPER["global_batch_size"]
    learning_rate: float = _PAPER["learning_rate"]
    puzzle_emb_learning_rate: float = _PAPER["puzzle_emb_learning_rate"]
    weight_decay: float = _PAPER["weight_decay"]
    puzzle_emb_weight_decay: float = _PAPER["puzzle_emb_weight_decay"]
    warmup_steps: int = _PAPER["warmup_steps"]
    lr_min_ratio: float = _PAPER["lr_min_ratio"]
    beta_1: float = _PAPER["beta_1"]
    beta_2: float = _PAPER["beta_2"]
    ema: bool = True
    ema_momentum: float = _PAPER["ema_momentum"]
    epochs: int = _PAPER["epochs"]  # official epochs: passes over the training groups
    eval_interval: int = 5000  # official epochs between evaluations
    max_steps: int = 0  # > 0: train this many optimizer steps instead of `epochs`
    eval_every_steps: int = 0  # with max_steps: steps between evaluations (0: only at the end)
    eval_batch_size: int = 0  # 0: global_batch_size
    eval_max_examples: int = 0  # cap of test examples in periodic evaluations (0: all); the final one uses all
    tensorboard: bool = True  # logs under <out_dir>/logs
    checkpoints: bool = True  # last and best under <out_dir>/checkpoints at every evaluation; a rerun resumes

    NAME: ClassVar[str] = "trm"
    SIZES: ClassVar[dict] = {"paper": {}}
    VARIANTS: ClassVar[dict] = {"": {}}
    SIZE_VARIANTS: ClassVar[dict] = {}

    def resolved(self):
        """A copy with the default folders (`out_dir`, `data_dir`) and `eval_batch_size` filled in."""
        cfg = dataclasses.replace(self)
        tag = "-".join(p for p in (self.NAME, self.variant, self.size) if p)
        cfg.out_dir = cfg.out_dir or os.path.join("runs", tag)
        cfg.data_dir = cfg.data_dir or os.path.join(cfg.out_dir, "data")
        cfg.eval_batch_size = cfg.eval_batch_size or cfg.global_batch_size
        return cfg

    def to_dict(self):
        """The settings as a plain dict (what results.json records)."""
        return dataclasses.asdict(self)


def _type_text(ftype):
    """A field's type as text: "int", "Optional[int]", "typing.Optional[int]" (string or real annotations)."""
    if isinstance(ftype, str):
        return ftype
    return ftype.__name__ if isinstance(ftype, type) else repr(ftype)


def _base_type(ftype):
    """ "bool", "int", "float" or "str": what a command-line value of this field is converted to."""
    return next((b for b in ("bool", "int", "float") if b in _type_text(ftype)), "str")


def _convert(value, ftype, name):
    """A command-line string to the field's type ('true'/'false' for bools, 'none' for optional values)."""
    t = _type_text(ftype)
    if value.lower() in ("none", "null") and ("None" in t or "Optional" in t):
        return None
    base = _base_type(ftype)
    try:
        if base == "bool":
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if base == "int":
            return int(float(value)) if "e" in value.lower() else int(value)
        if base == "float":
            return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected {base}, got {value!r}") from None
    return value


def make_config(cls, size=None, variant=None, overrides=None):
    """A `cls` config: its defaults, then its variant's, its size's and that pair's (`SIZE_VARIANTS`) settings, then
    `overrides`.

    Args:
        cls: type. A `TRMConfig` subclass.
        size: str or None. A key of `cls.SIZES`; None: `overrides["size"]` or the field's default ("paper").
        variant: str or None. A key of `cls.VARIANTS`; None: `overrides["variant"]` or the field's default.
        overrides: dict or None. {field: value}; a string value is converted to the field's type ("true",
            "1e-3", "none" for an optional field). Default None: no overrides.

    Raises:
        ValueError: an unknown size, variant or setting.

    Example:
    >>> cfg = make_config(TRMConfig, overrides={"hidden_dim": "64", "ema": "false"})
    >>> cfg.size, cfg.hidden_dim, cfg.ema
    ('paper', 64, False)
    """
    names = {f.name: f for f in fields(cls)}
    overrides = dict(overrides or {})
    variant = variant if variant is not None else overrides.pop("variant", None)
    size = size if size is not None else overrides.pop("size", None)
    variant = names["variant"].default if variant is None else variant
    size = names["size"].default if size is None else size
    if variant not in cls.VARIANTS:
        raise ValueError(f"{cls.NAME}: unknown variant {variant!r}; choose from {sorted(cls.VARIANTS)}")
    if size not in cls.SIZES:
        raise ValueError(f"{cls.NAME}: unknown size {size!r}; choose from {sorted(cls.SIZES)}")
    values = dict(cls.VARIANTS[variant])
    values.update(cls.SIZES[size])
    values.update(cls.SIZE_VARIANTS.get((size, variant), {}))
    for key, value in overrides.items():
        if key not in names:
            raise ValueError(f"{cls.NAME}: unknown setting {key!r}; settings are {', '.join(sorted(names))}")
        values[key] = _convert(value, names[key].type, key) if isinstance(value, str) else value
    values.update(size=size, variant=variant)
    return cls(**values)
