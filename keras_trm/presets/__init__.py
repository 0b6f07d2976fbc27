"""TRM presets: one place to find the preset tools (each defined where it belongs, re-exported here).

- the preset table and the paper's configurations: `keras_trm/models/trm_presets.py` (registered with keras-hub by
  `keras_trm/models/__init__.py`; the folders are `keras_trm/presets/assets/`);
- reading and writing preset files: `keras_trm/utils/preset_utils.py`; the `PuzzleSpec`:
  `keras_trm/utils/puzzle_spec.py`;
- validating and publishing a folder: `keras_trm/presets/publish.py`;
- resizing the puzzle-embedding table: `keras_trm/presets/resize.py`;
- importing an official checkpoint as a preset: `keras_trm/convert/official.py`.

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

from keras_trm.convert.official import import_official_to_preset
from keras_trm.models.trm_presets import ARCHITECTURES, ASSETS_DIR, SHIPPED_PRESET, backbone_presets
from keras_trm.presets.publish import PresetValidationError, publish_preset, validate_preset
from keras_trm.presets.resize import resize_puzzle_embeddings
from keras_trm.utils.preset_utils import is_architecture_only, load_puzzle_spec, save_preset
from keras_trm.utils.puzzle_spec import PuzzleSpec

__all__ = [
    "ARCHITECTURES",
    "ASSETS_DIR",
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
