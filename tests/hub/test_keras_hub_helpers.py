"""keras-hub's own TestCase helpers (keras_hub/src/tests/test_case.py) on every layer, the backbone and the preset.

These are the checks keras-hub runs on its own models (see keras-hub's Llama tests): config and serialization
round trips, symbolic / eager / compiled-training calls, dtype policies, quantization, `.keras` saving, presets.
"""

import numpy as np
from keras import ops
from keras_hub.src.tests.test_case import TestCase

from keras_trm import SudokuPreprocessor, TRMBackbone, TRMPuzzleSolver
from keras_trm.layers import (
    PuzzleEmbedding,
    ReasoningModule,
    RotaryEmbedding,
    SwiGLU,
    TRMAttention,
    TRMBlock,
    TRMInputEmbedding,
    TRMRecursion,
)
from keras_trm.presets import SHIPPED_PRESET, PuzzleSpec

B, L, P, D, V = 2, 12, 2, 16, 7  # batch, tokens, puzzle positions, hidden size, vocabulary
S = P + L


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


class LayerTest(TestCase):
    def test_swiglu(self):
        self.run_layer_test(
            SwiGLU, {"width": D, "expansion": 2.0}, _x(B, S, D), (B, S, D), expected_num_trainable_weights=2
        )

    def test_attention(self):
        self.run_layer_test(
            TRMAttention, {"hidden_dim": D, "num_heads": 2}, _x(B, S, D), (B, S, D), expected_num_trainable_weights=2
        )

    def test_block_attention(self):
        self.run_layer_test(
            TRMBlock,
            {"hidden_dim": D, "num_heads": 2, "expansion": 2.0},
            _x(B, S, D),
            (B, S, D),
            expected_num_trainable_weights=4,
        )

    def test_block_mlp_t(self):
        self.run_layer_test(
            TRMBlock,
            {"hidden_dim": D, "num_heads": 2, "expansion": 2.0, "mlp_t": True, "sequence_length": S},
            _x(B, S, D),
            (B, S, D),
            expected_num_trainable_weights=4,
        )

    def test_reasoning_module(self):
        self.run_layer_test(
            ReasoningModule,
            {"hidden_dim": D, "num_heads": 2, "num_layers": 2, "expansion": 2.0},
            {"h": _x(B, S, D), "injection": _x(B, S, D, seed=1)},
            (B, S, D),
            expected_num_trainable_weights=8,
        )

    def test_rotary_embedding(self):
        self.run_layer_test(RotaryEmbedding, {"head_dim": 8, "max_positions": S}, _x(B, S, 2, 8), (B, S, 2, 8))

    def test_puzzle_embedding(self):
        self.run_layer_test(
            PuzzleEmbedding,
            {"num_identifiers": 5, "embedding_dim": D},
            np.array([0, 3], "int32"),
            (B, D),
            expected_num_non_trainable_weights=1,
            expected_num_non_trainable_variables=1,
            run_training_check=False,
        )

    def test_input_embedding(self):
        self.run_layer_test(
            TRMInputEmbedding,
            {
                "vocabulary_size": V,
                "hidden_dim": D,
                "sequence_length": L,
                "puzzle_emb_len": P,
                "puzzle_emb_ndim": D,
                "pos_encodings": "learned",
            },
            {"token_ids": np.ones((B, L), "int32"), "puzzle_vectors": _x(B, D)},
            (B, S, D),
            expected_num_trainable_weights=2,
        )

    def test_recursion(self):
        self.run_layer_test(
            TRMRecursion,
            {
                "hidden_dim": D,
                "num_heads": 2,
                "num_layers": 2,
                "H_cycles": 2,
                "L_cycles": 2,
                "sequence_length": S,
                "expansion": 2.0,
            },
            {"z_H": _x(B, S, D), "z_L": _x(B, S, D, seed=1), "x": _x(B, S, D, seed=2)},
            ((B, S, D), (B, S, D)),
            expected_num_trainable_weights=8,
            expected_num_non_trainable_weights=2,
            expected_num_non_trainable_variables=2,
        )


class BackboneTest(TestCase):
    def setUp(self):
        self.init_kwargs = dict(
            vocabulary_size=V,
            sequence_length=L,
            hidden_dim=D,
            num_heads=2,
            num_layers=2,
            H_cycles=2,
            L_cycles=2,
            expansion=2.0,
            num_puzzle_identifiers=5,
            puzzle_emb_len=P,
        )
        backbone = TRMBackbone(**self.init_kwargs)
        z_H, z_L = (ops.convert_to_numpy(z) for z in backbone.initial_states(B))
        self.input_data = {
            "z_H": z_H,
            "z_L": z_L,
            "inputs": np.ones((B, L), "int32"),
            "puzzle_identifiers": np.array([1, 2], "int32"),
        }

    def test_backbone_basics(self):
        self.run_backbone_test(
            cls=TRMBackbone,
            init_kwargs=self.init_kwargs,
            input_data=self.input_data,
            expected_output_shape={
                "z_H": (B, S, D),
                "z_L": (B, S, D),
                "logits": (B, L, V),
                "q_halt_logits": (B,),
                "q_continue_logits": (B,),
            },
            run_mixed_precision_check=False,  # the heads compute in float32 on purpose (the official forward_dtype)
        )

    def test_saving(self):
        self.run_model_saving_test(cls=TRMBackbone, init_kwargs=self.init_kwargs, input_data=self.input_data)


class ShippedPresetTest(TestCase):
    """The trained `trm_sudoku_4x4` preset, loaded by name from the package (no download)."""

    def setUp(self):
        # Two held-out puzzles shipped with the preset; tokens are digit + 1 (blank 1), see keras_trm.data.sudoku.
        questions = [".1..342..31.124.", ".243.42.43.2..3."]
        answers = ["2134342143121243", "1243342143122134"]  # checked by hand: every row, column and box is 1..4
        self.inputs = {
            "inputs": np.array([[1 if c == "." else int(c) + 1 for c in q] for q in questions], "int32"),
            "puzzle_identifiers": np.zeros((2,), "int32"),
        }
        self.answer_tokens = np.array([[int(c) + 1 for c in a] for a in answers], "int32")

    def test_backbone_preset(self):
        backbone = TRMBackbone.from_preset(SHIPPED_PRESET)
        z_H, z_L = (ops.convert_to_numpy(z) for z in backbone.initial_states(2))
        self.run_preset_test(
            cls=TRMBackbone,
            preset=SHIPPED_PRESET,
            input_data=dict(self.inputs, z_H=z_H, z_L=z_L),
            expected_output_shape={
                "z_H": z_H.shape,
                "z_L": z_L.shape,
                "logits": (2, 16, 6),
                "q_halt_logits": (2,),
                "q_continue_logits": (2,),
            },
        )

    def test_solver_preset_solves_held_out_puzzles(self):
        self.run_preset_test(
            cls=TRMPuzzleSolver,
            preset=SHIPPED_PRESET,
            input_data=self.inputs,
            expected_output_shape={
                "logits": (2, 16, 6),
                "q_halt_logits": (2,),
                "q_continue_logits": (2,),
                "steps": (2,),
            },
        )
        solver = TRMPuzzleSolver.from_preset(SHIPPED_PRESET)
        self.assertAllEqual(np.argmax(ops.convert_to_numpy(solver(self.inputs)["logits"]), -1), self.answer_tokens)


class TaskTest(TestCase):
    """keras-hub's `run_task_test` on the solver: preprocessing, predict, fit (arrays, tf.data, split preprocessing),
    serialization, default compilation."""

    def setUp(self):
        backbone = TRMBackbone(
            vocabulary_size=6, sequence_length=16, hidden_dim=D, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
        )
        # The solver decodes with its preprocessor, or (preprocessor None, token batches) with its puzzle spec.
        backbone.puzzle_spec = PuzzleSpec.sudoku(4)
        self.init_kwargs = {"backbone": backbone, "preprocessor": SudokuPreprocessor(n=4), "halt_max_steps": 2}
        # Digit arrays (0 blank): numeric answers, which keras-hub's assertAllClose compares (strings it cannot).
        puzzles = np.array([[int(c) for c in q.replace(".", "0")] for q in ("1..4........2..1", ".1..342..31.124.")])
        answers = np.array([[int(c) for c in a] for a in ("1234341241232341", "2134342143121243")])
        self.train_data = (puzzles.astype("int32"), answers.astype("int32"))

    def test_task_basics(self):
        self.run_task_test(
            cls=TRMPuzzleSolver,
            init_kwargs=self.init_kwargs,
            train_data=self.train_data,
            expected_output_shape={
                "logits": (2, 16, 6),
                "q_halt_logits": (2,),
                "q_continue_logits": (2,),
                "steps": (2,),
                "answers": (2, 4, 4),
                "valid": (2,),
                "confidence": (2,),
            },
        )
