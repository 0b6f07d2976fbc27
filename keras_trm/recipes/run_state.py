"""What a recipe's `out_dir` holds and whether a run may use it: run_settings.json, stale folders, default folders.

A run writes `<out_dir>/run_settings.json`: the settings its built data depends on (the benchmark's data fields and
the seed) and those its checkpoints depend on (the model and the optimisation), each with a short fingerprint.
Before any work, `prepare_out_dir` compares them with the new run's:

- an empty or new `out_dir`: a fresh run;
- the same settings: the run continues (its built data reused, training resumed from the last checkpoint);
- other settings, or a folder whose settings were not recorded: refused, naming the differing settings and the two
  ways out (another `out_dir`, or `--overwrite` to start afresh; `--resume` continues only when they agree).

The default `out_dir` is `runs/<recipe>-<variant>-<size>`, plus a short hash of the settings that differ from that
size's (`default_out_dir`), so that different settings never share a folder.

Example:
>>> from keras_trm.recipes.config import make_config
>>> from keras_trm.recipes.sudoku import SudokuConfig
>>> default_out_dir(make_config(SudokuConfig, size="smoke"))
'runs/sudoku-mlp-smoke'
>>> default_out_dir(make_config(SudokuConfig, size="smoke", overrides={"grid": 6}))
'runs/sudoku-mlp-smoke-0b4db1'
>>> sorted(settings_record(make_config(SudokuConfig, size="smoke")))
['data', 'data_fingerprint', 'format', 'length', 'model', 'model_fingerprint', 'recipe', 'training']
"""

import dataclasses
import hashlib
import json
import os
import shutil

from keras_trm.recipes.config import TRMConfig, make_config

SETTINGS_FILE = "run_settings.json"
"""The file in `out_dir` that records a run's settings."""

BEST_WEIGHTS = "best_model.weights.h5"
"""The backbone weights of a run's best periodic evaluation (what model.keras gets at the end)."""

FORMAT_VERSION = 1

RUN_FIELDS = (
    "size",
    "variant",
    "out_dir",
    "verbose",
    "tensorboard",
    "checkpoints",
    "eval_batch_size",
    "eval_max_examples",
)
"""Settings that change neither the data nor the checkpoints (how a run reports, where it writes)."""

MODEL_FIELDS = (
    "hidden_dim",
    "num_heads",
    "num_layers",
    "expansion",
    "H_cycles",
    "L_cycles",
    "mlp_t",
    "pos_encodings",
    "puzzle_emb_len",
    "halt_max_steps",
    "halt_exploration_prob",
    "token_loss",
    "dtype",
)
"""`TRMBackbone` and `TRMPuzzleSolver` settings: a checkpoint holds weights of this shape and kind."""

LENGTH_FIELDS = ("epochs", "eval_interval", "max_steps", "eval_every_steps")
"""How long a run trains and how often it evaluates: a resumed run may change them (train longer), checkpoints fit."""

EVALUATION_FIELDS = ("voting", "baselines")
"""Benchmark fields that only change how a run is scored (not its data, not its checkpoints)."""

RUN_FOLDER_ENTRIES = (
    "data",
    "data-csv",
    "checkpoints",
    "logs",
    "model.keras",
    "task.json",
    "results.json",
    "submission.json",
    BEST_WEIGHTS,
    SETTINGS_FILE,
)
"""What a run writes into `out_dir` (what `--overwrite` removes; nothing else in the folder is touched)."""


def setting_groups(cfg):
    """The run's settings in four groups: "data" (the data build), "model" and "training" (the checkpoints), and
    "length" (`LENGTH_FIELDS`, which a continued run may change).

    Data: the benchmark's own fields (those its config adds to `TRMConfig`, without `EVALUATION_FIELDS`), the seed
    and `data_dir`; model: `MODEL_FIELDS`; training: every other shared field except `RUN_FIELDS`.
    """
    shared = {f.name for f in dataclasses.fields(TRMConfig)}
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    data = {k: v for k, v in values.items() if k not in shared and k not in EVALUATION_FIELDS}
    data.update(seed=values["seed"], data_dir=values["data_dir"])
    model = {k: values[k] for k in MODEL_FIELDS}
    skip = (*RUN_FIELDS, *MODEL_FIELDS, *LENGTH_FIELDS, "data_dir")
    training = {k: v for k, v in values.items() if k in shared and k not in skip}
    length = {k: values[k] for k in LENGTH_FIELDS}
    return {"data": data, "model": model, "training": training, "length": length}


def fingerprint(settings):
    """A short hash of a settings dict (12 hex characters; the same for equal dicts, whatever their order)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def settings_record(cfg):
    """The run_settings.json content of a resolved config: its groups and their fingerprints.

    `data_fingerprint` covers the data settings; `model_fingerprint` everything a checkpoint depends on (data,
    model and training settings; not the run's length).
    """
    groups = setting_groups(cfg)
    return {
        "format": FORMAT_VERSION,
        "recipe": cfg.NAME,
        **groups,
        "data_fingerprint": fingerprint(groups["data"]),
        "model_fingerprint": fingerprint({k: groups[k] for k in ("data", "model", "training")}),
    }


def default_out_dir(cfg):
    """`runs/<recipe>-<variant>-<size>`, with `-<6 hex>` (a hash of the settings that differ from the size's) when any
    setting outside `RUN_FIELDS` was changed.

    Args:
        cfg: TRMConfig. The run's config (before `resolved()`).
    """
    tag = "-".join(p for p in (cfg.NAME, cfg.variant, cfg.size) if p)
    reference = make_config(type(cfg), size=cfg.size, variant=cfg.variant)
    changed = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name not in RUN_FIELDS and getattr(cfg, f.name) != getattr(reference, f.name)
    }
    if changed:
        tag += "-" + fingerprint(changed)[:6]
    return os.path.join("runs", tag)


def changed_settings(cfg):
    """The settings (outside `RUN_FIELDS`) that differ from the config's size and variant, as "key=value" strings."""
    reference = make_config(type(cfg), size=cfg.size, variant=cfg.variant)
    return [
        f"{f.name}={getattr(cfg, f.name)!r}"
        for f in dataclasses.fields(cfg)
        if f.name not in RUN_FIELDS and f.name != "data_dir" and getattr(cfg, f.name) != getattr(reference, f.name)
    ]


def read_settings(out_dir):
    """The run_settings.json of `out_dir` as a dict, or None when there is none."""
    path = os.path.join(out_dir, SETTINGS_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_settings(out_dir, record):
    """Write run_settings.json into `out_dir` (atomically: a temporary file renamed)."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, SETTINGS_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, default=str)
    os.replace(tmp, path)


def differences(old, new, groups=("data", "model", "training")):
    """["key: <old> before, <new> now", ...] between two settings records (default: their data, model and training
    groups)."""
    out = []
    for group in groups:
        a, b = old.get(group, {}), new.get(group, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<unset>") != b.get(key, "<unset>"):
                out.append(f"{key}: {a.get(key, '<unset>')!r} before, {b.get(key, '<unset>')!r} now")
    return out


def _inside(path, folder):
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def run_artifacts(cfg):
    """The entries of `RUN_FOLDER_ENTRIES` (and the data folders inside `out_dir`) that exist in `cfg.out_dir`."""
    paths = [os.path.join(cfg.out_dir, name) for name in RUN_FOLDER_ENTRIES]
    for data in (cfg.data_dir, cfg.data_dir + "-csv"):
        if _inside(data, cfg.out_dir) and data not in paths:
            paths.append(data)
    return [p for p in paths if os.path.exists(p)]


class StaleRunError(ValueError):
    """`out_dir` holds a run whose settings differ from the new one's (or were never recorded)."""


def prepare_out_dir(cfg, mode=None, log=print):
    """Check `cfg.out_dir` against the new run's settings before any work; returns what the run does there.

    Args:
        cfg: TRMConfig. The resolved config.
        mode: None, "overwrite" or "resume". "overwrite" removes what an earlier run wrote (`RUN_FOLDER_ENTRIES`)
            and starts afresh; "resume" requires an earlier run with the same settings; None continues a run of
            the same settings and refuses any other.
        log: callable. Prints one line (default `print`).

    Returns:
        str: "fresh" (nothing there before) or "continue" (the same settings: data and checkpoints reused).

    Raises:
        StaleRunError: different settings, unrecorded settings, or "resume" with nothing to resume; the message
            names the differing settings and the ways out.
    """
    if mode not in (None, "overwrite", "resume"):
        raise ValueError(f"mode must be None, 'overwrite' or 'resume', got {mode!r}")
    record = settings_record(cfg)
    old = read_settings(cfg.out_dir)
    found = run_artifacts(cfg)
    ways_out = (
        f"choose another out_dir (--set out_dir=<folder>), or pass --overwrite to delete the earlier run's files "
        f"in {cfg.out_dir} and start afresh"
    )
    if mode == "overwrite":
        for path in found:
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        if found:
            log(f"--overwrite: removed the earlier run's files in {cfg.out_dir}")
        return "fresh"
    if old is None:
        if not found:
            if mode == "resume":
                raise StaleRunError(f"--resume: {cfg.out_dir} holds no earlier run to resume")
            return "fresh"
        names = ", ".join(os.path.basename(p) for p in found)
        raise StaleRunError(
            f"{cfg.out_dir} already holds a run ({names}) whose settings were not recorded ({SETTINGS_FILE} is "
            f"missing), so it cannot be reused safely: {ways_out}"
        )
    diffs = differences(old, record)
    if diffs:
        raise StaleRunError(
            f"{cfg.out_dir} holds a run with other settings ({'; '.join(diffs)}): its data and checkpoints do not "
            f"fit this run; {ways_out}" + (" (--resume needs the same settings)" if mode == "resume" else "")
        )
    longer = differences(old, record, groups=("length",))
    if longer and found:
        log(f"continuing the run in {cfg.out_dir} with a new length ({'; '.join(longer)})")
    return "continue" if found else "fresh"
