from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver
