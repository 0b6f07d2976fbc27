"""Read and write the files of a TRM preset (a keras-hub preset folder with a `PuzzleSpec`); imports no model.

A TRM preset is a keras-hub preset folder::

    config.json            TRMBackbone config (keras-hub)
    model.weights.h5       backbone weights, puzzle-embedding table included (absent: architecture-only preset)
    task.json              TRMPuzzleSolver config (halting settings, loss)       [solver presets]
    metadata.json          keras-hub metadata (versions, parameter count)
    preprocessor.json      the puzzle preprocessor (keras-hub; keras_trm/models/*_preprocessor.py)  [solver presets]
    assets/trm/puzzle_spec.json   PuzzleSpec: benchmark, vocabulary, grid shape, halting, description, training
    assets/trm/identifiers.json   ARC: the puzzle-embedding table's identifier -> variant map

It can be a local folder, a `kaggle://` or `hf://` handle (downloaded by keras-hub) or a registered name
(`TRMBackbone.presets`). keras-hub's file names are keras-hub's (imported here, never redefined); the two
`assets/trm/` names belong to the `PuzzleSpec` format (`keras_trm/utils/puzzle_spec.py`). Validating and publishing
a folder (which loads the model) is `keras_trm/presets/publish.py`.

Example:
    >>> import os
    >>> from keras_trm import TRMPuzzleSolver
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")   # trained, shipped in the package
    >>> save_preset(solver, "my_preset")                          # the spec travels with backbone.puzzle_spec
    'my_preset'
    >>> sorted(os.listdir("my_preset"))
    ['assets', 'config.json', 'metadata.json', 'model.weights.h5', 'preprocessor.json', 'task.json']
    >>> load_puzzle_spec("my_preset").vocabulary
    ['<pad>', '<blank>', '1', '2', '3', '4']
    >>> is_architecture_only("trm_sudoku_att"), is_architecture_only("my_preset")
    (True, False)
"""

import json
import os

from keras_hub.src.utils.preset_utils import (  # noqa: F401  (the preset file names, re-exported)
    BUILTIN_PRESETS,
    CONFIG_FILE,
    METADATA_FILE,
    MODEL_WEIGHTS_FILE,
    TASK_CONFIG_FILE,
    get_file,
)

from keras_trm.utils.puzzle_spec import IDENTIFIERS_FILE, SPEC_FILE, PuzzleSpec  # noqa: F401


def preset_str(preset):
    """A preset argument as the string keras-hub expects (`os.PathLike` folders become their path)."""
    return os.fspath(preset) if isinstance(preset, os.PathLike) else preset


def load_puzzle_spec(preset):
    """The `PuzzleSpec` stored in a preset (local folder, handle or registered name), or None if it has none."""
    if not isinstance(preset, str):
        preset = os.fspath(preset)
    try:
        path = get_file(preset, SPEC_FILE)
    except FileNotFoundError:
        return None
    with open(path, encoding="utf-8") as f:
        spec_dict = json.load(f)
    table = None
    if spec_dict.get("has_identifier_table"):
        with open(get_file(preset, IDENTIFIERS_FILE), encoding="utf-8") as f:
            table = json.load(f)
    return PuzzleSpec.from_dict(spec_dict, table)


def is_architecture_only(preset, spec=None):
    """True when a preset ships no weights (the named paper configurations): models load randomly initialised.

    A registered name is answered from its registry entry (`metadata["trained"]`, `keras_trm/models/trm_presets.py`),
    anything else from its spec (`architecture_only`).
    """
    entry = BUILTIN_PRESETS.get(preset) if isinstance(preset, str) else None
    if entry is not None and "trained" in entry["metadata"]:
        return not entry["metadata"]["trained"]
    spec = spec if spec is not None else load_puzzle_spec(preset)
    return bool(spec is not None and spec.architecture_only)


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
        rule = model.halt_at_inference  # a HaltingRule or None
        spec.halt_at_inference = False if rule is None else rule.get_config()
    model.save_to_preset(preset_dir)
    return preset_dir


def write_spec(backbone, preset_dir):
    """Write the backbone's `puzzle_spec` (if any) into `preset_dir` (called by `save_to_preset`)."""
    spec = getattr(backbone, "puzzle_spec", None)
    if spec is not None:
        spec.save(preset_dir)
