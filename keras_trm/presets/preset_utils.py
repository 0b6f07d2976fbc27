"""Save, load, validate and publish TRM presets (keras-hub preset folders with a `PuzzleSpec`).

A TRM preset is a keras-hub preset folder::

    config.json            TRMBackbone config (keras-hub)
    model.weights.h5       backbone weights, puzzle-embedding table included (absent: architecture-only preset)
    task.json              TRMPuzzleSolver config (halting settings, loss)       [solver presets]
    metadata.json          keras-hub metadata (versions, parameter count)
    assets/trm/puzzle_spec.json   PuzzleSpec: benchmark, vocabulary, grid shape, halting, description, training
    assets/trm/identifiers.json   ARC: the puzzle-embedding table's identifier -> variant map

It can be a local folder, a `kaggle://` or `hf://` handle (downloaded by keras-hub) or a registered name
(`TRMBackbone.presets`).

Example:
    >>> import os
    >>> from keras_trm import TRMPuzzleSolver
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")   # trained, shipped in the package
    >>> save_preset(solver, "my_preset")                          # the spec travels with backbone.puzzle_spec
    'my_preset'
    >>> sorted(os.listdir("my_preset"))
    ['assets', 'config.json', 'metadata.json', 'model.weights.h5', 'task.json']
    >>> validate_preset("my_preset").vocabulary                   # what publish_preset checks before uploading
    ['<pad>', '<blank>', '1', '2', '3', '4']
    >>> TRMPuzzleSolver.from_preset("my_preset").puzzle_spec.grid_shape
    [4, 4]
    >>> is_architecture_only("trm_sudoku_att"), is_architecture_only("my_preset")
    (True, False)

    A broken folder is refused before anything is uploaded:

    >>> os.remove(os.path.join("my_preset", "model.weights.h5"))
    >>> publish_preset("my_preset", "kaggle://me/trm/keras/my_preset")
    Traceback (most recent call last):
    ...
    keras_trm.presets.preset_utils.PresetValidationError: model.weights.h5: missing (the spec does not say ...)
"""

from __future__ import annotations

import json
import os

from keras_trm.presets.puzzle_spec import BENCHMARKS, IDENTIFIERS_FILE, SPEC_FILE, PuzzleSpec

CONFIG_FILE = "config.json"
TASK_CONFIG_FILE = "task.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"

_REQUIRED_BACKBONE_FIELDS = (
    "vocabulary_size",
    "sequence_length",
    "hidden_dim",
    "num_heads",
    "num_layers",
    "H_cycles",
    "L_cycles",
    "num_puzzle_identifiers",
)


class PresetValidationError(ValueError):
    """A preset folder is incomplete or inconsistent; the message names the file and the field."""

    def __init__(self, file, field, problem):
        self.file, self.field, self.problem = file, field, problem
        where = f"{file}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------------------------------------- load
def _get_file(preset, path):
    from keras_hub.src.utils.preset_utils import get_file

    return get_file(preset, path)


def load_puzzle_spec(preset):
    """The `PuzzleSpec` stored in a preset (local folder, handle or registered name), or None if it has none."""
    if not isinstance(preset, str):
        preset = os.fspath(preset)
    try:
        path = _get_file(preset, SPEC_FILE)
    except FileNotFoundError:
        return None
    with open(path, encoding="utf-8") as f:
        spec_dict = json.load(f)
    table = None
    if spec_dict.get("has_identifier_table"):
        with open(_get_file(preset, IDENTIFIERS_FILE), encoding="utf-8") as f:
            table = json.load(f)
    return PuzzleSpec.from_dict(spec_dict, table)


def is_architecture_only(preset, spec=None):
    """True when a preset ships no weights (the named paper configurations): models load randomly initialised."""
    from keras_trm.presets.trm_presets import backbone_presets

    if isinstance(preset, str) and preset in backbone_presets:
        return not backbone_presets[preset]["metadata"].get("trained", False)
    spec = spec if spec is not None else load_puzzle_spec(preset)
    return bool(spec is not None and spec.architecture_only)


# ---------------------------------------------------------------------------------------------- save
def save_preset(model, preset_dir, spec=None):
    """Save a `TRMPuzzleSolver` or `TRMBackbone` to a preset folder with its `PuzzleSpec`.

    `spec` (optional) replaces the model's `puzzle_spec`; the solver's halting settings are copied into it.
    Returns `preset_dir`.
    """
    preset_dir = os.fspath(preset_dir)
    backbone = getattr(model, "backbone", model)
    if spec is not None:
        backbone.puzzle_spec = spec
    spec = getattr(backbone, "puzzle_spec", None)
    if spec is not None and hasattr(model, "halt_max_steps"):
        spec.halt_max_steps = int(model.halt_max_steps)
        spec.halt_at_inference = bool(model.halt_at_inference)
    model.save_to_preset(preset_dir)
    return preset_dir


def write_spec(backbone, preset_dir):
    """Write the backbone's `puzzle_spec` (if any) into `preset_dir` (called by `save_to_preset`)."""
    spec = getattr(backbone, "puzzle_spec", None)
    if spec is not None:
        spec.save(preset_dir)


# ---------------------------------------------------------------------------------------------- validate
def _read_json(preset_dir, name, required=True):
    path = os.path.join(preset_dir, name)
    if not os.path.exists(path):
        if required:
            raise PresetValidationError(name, None, f"missing from the preset folder {preset_dir}")
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PresetValidationError(name, None, f"not valid JSON ({e})") from None


def validate_preset(preset_dir, load_weights=True):
    """Check a local preset folder before publishing; raises `PresetValidationError` naming the file and field.

    Checks: `config.json` is a serialised `TRMBackbone` with its size fields; `task.json` (if present) a serialised
    `TRMPuzzleSolver`; `metadata.json` present; `model.weights.h5` present (unless the spec says
    architecture-only) and loadable into the model the config describes (`load_weights=True`); the `PuzzleSpec`
    complete and consistent with the config (benchmark, vocabulary size, grid shape, halting settings,
    description; for ARC an identifier table covering the puzzle-embedding table).
    Returns the loaded spec.
    """
    preset_dir = os.fspath(preset_dir)
    if not os.path.isdir(preset_dir):
        raise PresetValidationError(preset_dir, None, "not a folder")
    config = _read_json(preset_dir, CONFIG_FILE)
    if config.get("class_name") != "TRMBackbone" or "config" not in config:
        raise PresetValidationError(
            CONFIG_FILE, "class_name", f"expected a serialised TRMBackbone, found {config.get('class_name')!r}"
        )
    cfg = config["config"]
    for field in _REQUIRED_BACKBONE_FIELDS:
        if not isinstance(cfg.get(field), int) or cfg[field] < 1:
            raise PresetValidationError(
                CONFIG_FILE, f"config.{field}", f"missing or not a positive integer ({cfg.get(field)!r})"
            )
    task = _read_json(preset_dir, TASK_CONFIG_FILE, required=False)
    if task is not None:
        if task.get("class_name") != "TRMPuzzleSolver":
            raise PresetValidationError(
                TASK_CONFIG_FILE,
                "class_name",
                f"expected a serialised TRMPuzzleSolver, found {task.get('class_name')!r}",
            )
        if not isinstance(task.get("config", {}).get("halt_max_steps"), int):
            raise PresetValidationError(TASK_CONFIG_FILE, "config.halt_max_steps", "missing")
    _read_json(preset_dir, METADATA_FILE)

    spec_json = _read_json(preset_dir, SPEC_FILE)
    try:
        table = _read_json(preset_dir, IDENTIFIERS_FILE) if spec_json.get("has_identifier_table") else None
        spec = PuzzleSpec.from_dict(spec_json, table)
    except PresetValidationError:
        raise
    except (TypeError, ValueError, KeyError) as e:
        raise PresetValidationError(SPEC_FILE, None, f"cannot be read ({e})") from None
    _check_spec(spec, cfg, task)

    weights = os.path.join(preset_dir, MODEL_WEIGHTS_FILE)
    if not spec.architecture_only and not os.path.exists(weights):
        raise PresetValidationError(MODEL_WEIGHTS_FILE, None, "missing (the spec does not say architecture_only)")
    if load_weights and os.path.exists(weights):
        from keras_trm.models.trm_backbone import TRMBackbone

        try:
            TRMBackbone.from_preset(preset_dir, load_weights=True)
        except Exception as e:  # noqa: BLE001 - reported with the file name
            raise PresetValidationError(
                MODEL_WEIGHTS_FILE, None, f"does not load into the model of {CONFIG_FILE} ({type(e).__name__}: {e})"
            )
    return spec


def _check_spec(spec, cfg, task):
    def bad(field, problem, file=SPEC_FILE):
        return PresetValidationError(file, field, problem)

    if spec.benchmark not in BENCHMARKS:
        raise bad("benchmark", f"{spec.benchmark!r} is not one of {BENCHMARKS}")
    if not spec.description:
        raise bad("description", "empty (say what the preset solves and how well)")
    if len(spec.vocabulary) != cfg["vocabulary_size"]:
        raise bad(
            "vocabulary", f"{len(spec.vocabulary)} entries but config.json has vocabulary_size {cfg['vocabulary_size']}"
        )
    if len(spec.grid_shape) != 2 or spec.seq_len != cfg["sequence_length"]:
        raise bad(
            "grid_shape", f"{spec.grid_shape} does not give config.json's sequence_length {cfg['sequence_length']}"
        )
    if not isinstance(spec.halt_max_steps, int) or spec.halt_max_steps < 1:
        raise bad("halt_max_steps", f"must be a positive integer, got {spec.halt_max_steps!r}")
    if task is not None and task["config"]["halt_max_steps"] != spec.halt_max_steps:
        raise bad("halt_max_steps", f"{spec.halt_max_steps} but task.json has {task['config']['halt_max_steps']}")
    if not spec.architecture_only:
        training = spec.training or {}
        for key in ("command", "results"):
            if not training.get(key):
                raise bad(f"training.{key}", "missing (a trained preset records how it was made and how well it does)")
    if spec.benchmark.startswith("arc") and not spec.architecture_only:
        if spec.identifiers is None:
            raise bad("has_identifier_table", f"an ARC preset needs {IDENTIFIERS_FILE} (identifier -> variant map)")
        if len(spec.identifiers) != cfg["num_puzzle_identifiers"]:
            raise bad(
                "identifiers",
                f"{len(spec.identifiers)} names but config.json has num_puzzle_identifiers "
                f"{cfg['num_puzzle_identifiers']}",
                IDENTIFIERS_FILE,
            )


# ---------------------------------------------------------------------------------------------- publish
def publish_preset(preset_dir, uri, validate=True):
    """Validate a preset folder, then upload it with `keras_hub.upload_preset(uri, preset_dir)`.

    Args:
        preset_dir: the local preset folder (written by `save_to_preset` / `save_preset`).
        uri: `kaggle://<user>/<model>/keras/<variation>` or `hf://[<user>/]<model>`.
        validate: run `validate_preset` first (loads the weights once).

    Returns the validated `PuzzleSpec`.
    """
    import keras_hub

    if not isinstance(uri, str) or not uri.startswith(("kaggle://", "hf://")):
        raise ValueError(f"Upload URI must start with 'kaggle://' or 'hf://', got {uri!r}.")
    spec = validate_preset(preset_dir) if validate else load_puzzle_spec(os.fspath(preset_dir))
    keras_hub.upload_preset(uri, os.fspath(preset_dir))
    return spec
