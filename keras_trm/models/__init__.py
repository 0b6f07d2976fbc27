from keras_hub.src.utils.preset_utils import register_presets

from keras_trm.models.arc_preprocessor import ARCPreprocessor
from keras_trm.models.maze_preprocessor import MazePreprocessor
from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor
from keras_trm.models.sudoku_preprocessor import SudokuPreprocessor
from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_presets import backbone_presets
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver

register_presets(backbone_presets, TRMBackbone)
