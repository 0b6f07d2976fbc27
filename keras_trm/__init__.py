"""keras-trm: the Tiny Recursive Model in Keras 3, on JAX, TensorFlow and PyTorch."""

from keras_trm import layers  # noqa: F401
from keras_trm.convert.official import import_official_checkpoint
from keras_trm.models.arc_preprocessor import ARCPreprocessor
from keras_trm.models.maze_preprocessor import MazePreprocessor
from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor
from keras_trm.models.sudoku_preprocessor import SudokuPreprocessor
from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver

__version__ = "0.1.0"
