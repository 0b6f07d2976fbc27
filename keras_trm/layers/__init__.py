"""TRM's layers, from the smallest (RMS norm, RoPE, SwiGLU) to one whole supervision step (TRMRecursion)."""

from keras_trm.layers.attention import TRMAttention
from keras_trm.layers.block import TRMBlock
from keras_trm.layers.embedding import PuzzleEmbedding, TRMInputEmbedding, puzzle_positions
from keras_trm.layers.initializers import fan_in_trunc_normal, trunc_normal
from keras_trm.layers.normalization import rms_norm
from keras_trm.layers.reasoning_module import ReasoningModule
from keras_trm.layers.recursion import TRMRecursion
from keras_trm.layers.rotary_embedding import RotaryEmbedding
from keras_trm.layers.swiglu import SwiGLU, swiglu_intermediate_dim
