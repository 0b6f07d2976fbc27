from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver
from keras_trm.presets.trm_presets import register_trm_presets

register_trm_presets(TRMBackbone)
