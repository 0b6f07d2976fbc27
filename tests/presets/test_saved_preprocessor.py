"""A solver saved without a preprocessor writes the one of its PuzzleSpec, so that its preset reads raw puzzles."""

import os

import keras
import numpy as np

from keras_trm import SudokuPreprocessor, TRMBackbone, TRMPuzzleSolver
from keras_trm.presets import PuzzleSpec, save_preset


def test_a_solver_without_preprocessor_saves_its_specs_preprocessor(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1,
                           puzzle_emb_len=1, num_puzzle_identifiers=1)  # fmt: skip
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2)
    assert solver.preprocessor is None
    folder = save_preset(solver, tmp_path / "preset", PuzzleSpec.sudoku(4))
    assert os.path.exists(os.path.join(folder, "preprocessor.json"))
    assert solver.preprocessor is None  # saving does not change the solver

    loaded = TRMPuzzleSolver.from_preset(folder)
    assert isinstance(loaded.preprocessor, SudokuPreprocessor)
    out = loaded.predict(["1..4........2..1"], verbose=0)
    tokens = loaded.predict(loaded.preprocessor(["1..4........2..1"]), verbose=0)  # the same model on its tokens
    np.testing.assert_allclose(out["logits"], tokens["logits"], atol=1e-5)
    (answer,) = out["answers"]
    assert len(answer) == 16
    expected = "".join(str(int(t) - 1) if t > 1 else "." for t in np.argmax(tokens["logits"][0], -1))
    assert answer == expected  # the decoded argmax of the model's tokens
