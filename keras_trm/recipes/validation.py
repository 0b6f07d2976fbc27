"""Checks of a recipe's settings before any work starts: values in range, choices known, the data source reachable.

`validate_config(cfg)` raises one `SettingsError` naming every bad setting (its value, the problem, what to do); the
runner calls it before it creates a folder or builds data.

Example:
>>> from keras_trm.recipes.config import make_config
>>> from keras_trm.recipes.sudoku import SudokuConfig
>>> validate_config(make_config(SudokuConfig, size="smoke", overrides={"global_batch_size": -4}))
Traceback (most recent call last):
...
keras_trm.recipes.validation.SettingsError: sudoku: global_batch_size -4: must be > 0 (--set global_batch_size=<n>)
"""

import dataclasses
import os
import socket

POSITIVE = ("hidden_dim", "num_heads", "num_layers", "H_cycles", "L_cycles", "halt_max_steps", "global_batch_size")
"""Settings that must be > 0."""

NON_NEGATIVE = (
    "puzzle_emb_len",
    "warmup_steps",
    "epochs",
    "eval_interval",
    "max_steps",
    "eval_every_steps",
    "eval_batch_size",
    "eval_max_examples",
    "learning_rate",
    "puzzle_emb_learning_rate",
    "weight_decay",
    "puzzle_emb_weight_decay",
    "expansion",
    "seed",
    "verbose",
    "train_count",
    "test_count",
    "num_aug",
    "num_variants",
)
"""Settings that must be >= 0 (when the config has them and they are not None)."""

UNIT_INTERVAL = ("halt_exploration_prob", "lr_min_ratio", "beta_1", "beta_2", "ema_momentum")
"""Settings that must lie in [0, 1]."""

CHOICES = {
    "token_loss": ("stablemax", "softmax"),
    "pos_encodings": ("rope", "learned", "none"),
    "dtype": ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16"),
}
"""Settings with a fixed set of values."""

HUB_HOST = "huggingface.co"


class SettingsError(ValueError):
    """Recipe settings that cannot run; the message names each setting, its value and what to do."""


def _type_problem(f, value):
    """A problem text when `value` does not have the field's type (None when it does)."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
    if value is None:
        return None if ("Optional" in t or "None" in t) else f"expected {t}, got None"
    if "bool" in t:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if "int" in t:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {value!r}"
    if "float" in t:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if "str" in t:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    return None


def settings_problems(cfg):
    """Every problem of the config's values, as "name value: problem (what to do)" strings (empty: none)."""
    problems = []
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    for f in dataclasses.fields(cfg):
        problem = _type_problem(f, values[f.name])
        if problem:
            problems.append(f"{f.name} {values[f.name]!r}: {problem} (--set {f.name}=<value>)")
    if problems:
        return problems
    for name in POSITIVE:
        if name in values and values[name] is not None and values[name] <= 0:
            problems.append(f"{name} {values[name]}: must be > 0 (--set {name}=<n>)")
    for name in NON_NEGATIVE:
        if name in values and values[name] is not None and values[name] < 0:
            problems.append(f"{name} {values[name]}: must be >= 0 (--set {name}=<n>)")
    for name in UNIT_INTERVAL:
        if name in values and not 0.0 <= values[name] <= 1.0:
            problems.append(f"{name} {values[name]}: must lie in [0, 1]")
    for name, allowed in CHOICES.items():
        if name in values and values[name] not in allowed:
            problems.append(f"{name} {values[name]!r}: choose from {', '.join(allowed)}")
    if values["hidden_dim"] > 0 and values["num_heads"] > 0 and values["hidden_dim"] % values["num_heads"]:
        problems.append(f"hidden_dim {values['hidden_dim']}: must be a multiple of num_heads ({values['num_heads']})")
    if values["max_steps"] == 0 and values["eval_interval"] > 0 and values["epochs"] % values["eval_interval"]:
        problems.append(
            f"eval_interval {values['eval_interval']}: must divide epochs ({values['epochs']}), as in the "
            "official trainer (or train by steps: --set max_steps=<n>)"
        )
    if values["max_steps"] == 0 and values["eval_interval"] == 0:
        problems.append("eval_interval 0: must be > 0 when training by epochs (or --set max_steps=<n>)")
    return problems


def _hub_reachable(timeout=3.0):
    """Whether the Hugging Face hub answers a TCP connection within `timeout` seconds (False when offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _hub_cached(repo, files):
    """Whether every file of a Hugging Face dataset repo is in the local cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return all(isinstance(try_to_load_from_cache(repo, f, repo_type="dataset"), str) for f in files)


def source_problems(cfg):
    """Problems of a Sudoku / Maze `source` setting: a missing CSV folder, or a hub download while offline."""
    source = getattr(cfg, "source", None)
    if not isinstance(source, str) or source == "generate":
        return []
    need = ["train.csv", "test.csv"]
    smoke = (
        "train on generated puzzles instead (--size smoke), or point at your CSVs "
        f"(--set source=<folder with {' and '.join(need)}>)"
    )
    if source.startswith("hf:"):
        if _hub_cached(source[3:], need):
            return []
        try:
            import huggingface_hub  # noqa: F401
        except ImportError:
            return [f"source {source!r}: downloading it needs huggingface_hub (pip install huggingface_hub); {smoke}"]
        if not _hub_reachable():
            return [f"source {source!r}: not downloaded yet and {HUB_HOST} cannot be reached (offline?); {smoke}"]
        return []
    if not os.path.isdir(source) and not os.path.isfile(source):
        return [f"source {source!r}: no such folder; {smoke}"]
    if os.path.isdir(source):
        missing = [name for name in need if not os.path.isfile(os.path.join(source, name))]
        if missing:
            return [
                f"source {source!r}: no {' or '.join(missing)} in it (the CSV schema source,question,answer,rating)"
            ]
    return []


def validate_config(cfg, check_source=True):
    """Raise one `SettingsError` listing every problem of `cfg` (see `settings_problems`, `source_problems`).

    Args:
        cfg: TRMConfig. The run's settings.
        check_source: bool. Also check that the data source can be read (default True); skipped when the built
            data is there already.
    """
    problems = settings_problems(cfg)
    if not problems and check_source:
        problems = source_problems(cfg)
    if problems:
        raise SettingsError(f"{cfg.NAME}: " + "; ".join(problems))
