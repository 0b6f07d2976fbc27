"""TRM presets: save / load (keras-hub), named configurations, validation and publishing, official checkpoints.

Example:
    >>> from keras_trm import TRMPuzzleSolver
    >>> sorted(TRMPuzzleSolver.presets)[:2]
    ['trm_arc_agi_1', 'trm_arc_agi_2']
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")   # trained, shipped in the package
    >>> solver.puzzle_spec.benchmark, solver.puzzle_spec.grid_shape, is_architecture_only("trm_sudoku_4x4")
    ('sudoku', [4, 4], False)
    >>> solver.save_to_preset("my_preset")                         # a local keras-hub preset folder
    >>> validate_preset("my_preset").seq_len     # what publish_preset(folder, "kaggle://...") checks first
    16
"""

from keras_trm.presets.official import import_official_to_preset
from keras_trm.presets.preset_utils import (
    PresetValidationError,
    is_architecture_only,
    load_puzzle_spec,
    publish_preset,
    save_preset,
    validate_preset,
)
from keras_trm.presets.puzzle_spec import PuzzleSpec
from keras_trm.presets.resize import resize_puzzle_embeddings
from keras_trm.presets.trm_presets import ARCHITECTURES, SHIPPED_PRESET, backbone_presets

__all__ = [
    "ARCHITECTURES",
    "SHIPPED_PRESET",
    "PresetValidationError",
    "PuzzleSpec",
    "backbone_presets",
    "import_official_to_preset",
    "is_architecture_only",
    "load_puzzle_spec",
    "publish_preset",
    "resize_puzzle_embeddings",
    "save_preset",
    "validate_preset",
]
