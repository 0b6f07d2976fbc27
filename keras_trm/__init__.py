"""keras-trm: the Tiny Recursive Model in Keras 3, on JAX, TensorFlow and PyTorch.

The public names below are imported on first use (PEP 562), so that `import keras_trm.cli` (the `keras-trm`
command's `--help`, `--version` and argument errors) imports no framework. Saved models and presets still load
without an explicit import: Keras imports the module a saved class names (e.g. `keras_trm.models.trm_backbone`),
which registers the package's serializable classes.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "layers": "keras_trm.layers",
    "import_official_checkpoint": "keras_trm.convert.official",
    "ARCPreprocessor": "keras_trm.models.arc_preprocessor",
    "MazePreprocessor": "keras_trm.models.maze_preprocessor",
    "PuzzlePreprocessor": "keras_trm.models.puzzle_preprocessor",
    "SudokuPreprocessor": "keras_trm.models.sudoku_preprocessor",
    "TRMBackbone": "keras_trm.models.trm_backbone",
    "TRMPuzzleSolver": "keras_trm.models.trm_puzzle_solver",
}
"""Public name -> the module that defines it (a module itself for `layers`)."""

__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'keras_trm' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if _LAZY[name].endswith("." + name) else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
