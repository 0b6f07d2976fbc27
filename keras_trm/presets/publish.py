"""Validate a TRM preset folder and publish it (keras-hub's `upload_preset` after the checks).

The folder layout and its file names: `keras_trm/utils/preset_utils.py`.

Example:
    >>> import os
    >>> from keras_trm import TRMPuzzleSolver
    >>> from keras_trm.utils.preset_utils import save_preset
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")   # trained, shipped in the package
    >>> save_preset(solver, "my_preset")
    'my_preset'
    >>> validate_preset("my_preset").vocabulary                   # what publish_preset checks before uploading
    ['<pad>', '<blank>', '1', '2', '3', '4']
    >>> TRMPuzzleSolver.from_preset("my_preset").puzzle_spec.grid_shape
    [4, 4]

    A broken folder is refused before anything is uploaded:

    >>> os.remove(os.path.join("my_preset", "model.weights.h5"))
    >>> publish_preset("my_preset", "kaggle://me/trm/keras/my_preset")
    Traceback (most recent call last):
    ...
    keras_trm.presets.publish.PresetValidationError: model.weights.h5: missing (the spec does not say ...)
"""

import json
import os

import keras_hub

from keras_trm.data.format import BENCHMARKS
from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.utils.preset_utils import (
    CONFIG_FILE,
    IDENTIFIERS_FILE,
    METADATA_FILE,
    MODEL_WEIGHTS_FILE,
    SPEC_FILE,
    TASK_CONFIG_FILE,
    load_puzzle_spec,
)
from keras_trm.utils.puzzle_spec import PuzzleSpec

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
    if not isinstance(uri, str) or not uri.startswith(("kaggle://", "hf://")):
        raise ValueError(f"Upload URI must start with 'kaggle://' or 'hf://', got {uri!r}.")
    spec = validate_preset(preset_dir) if validate else load_puzzle_spec(os.fspath(preset_dir))
    keras_hub.upload_preset(uri, os.fspath(preset_dir))
    return spec
