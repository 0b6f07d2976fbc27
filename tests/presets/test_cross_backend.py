"""A preset saved on this backend loads on the other two with the same outputs (each in a subprocess)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.presets import PuzzleSpec, save_preset

LOAD_AND_PREDICT = """
import sys, numpy as np
from keras_trm import TRMPuzzleSolver
preset, data, out = sys.argv[1:4]
solver = TRMPuzzleSolver.from_preset(preset)
d = np.load(data)
x = {"inputs": d["inputs"], "puzzle_identifiers": d["puzzle_identifiers"]}
o = solver.predict(x, batch_size=len(d["inputs"]), verbose=0)
np.savez(out, logits=o["logits"], q_halt_logits=o["q_halt_logits"], steps=o["steps"],
         spec=np.array(solver.puzzle_spec.benchmark))
"""

OTHERS = [b for b in ("jax", "tensorflow", "torch") if b != keras.backend.backend()]


@pytest.mark.parametrize("other", OTHERS)
def test_preset_loads_on_other_backend_with_same_outputs(tmp_path, other):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1,
                           L_cycles=1, puzzle_emb_len=1, num_puzzle_identifiers=3)
    rng = np.random.default_rng(0)
    backbone.puzzle_embedding_table.assign(rng.normal(size=(3, 16)).astype("float32"))
    backbone.q_head.kernel.assign(rng.normal(size=(16, 2)).astype("float32") * 0.1)
    # Shallow recursion: every extra block amplifies the backends' different float32 rounding.
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2)
    preset = save_preset(solver, str(tmp_path / "preset"), PuzzleSpec.sudoku(4, description="cross-backend"))
    x = {"inputs": rng.integers(1, 6, (4, 16)).astype("int32"), "puzzle_identifiers": np.array([0, 1, 2, 1], "int32")}
    np.savez(tmp_path / "x.npz", **x)
    ours = solver.predict(x, batch_size=4, verbose=0)

    env = dict(os.environ, KERAS_BACKEND=other)
    result = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, preset, str(tmp_path / "x.npz"),
                             str(tmp_path / "out.npz")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npz")
    assert str(theirs["spec"]) == "sudoku"
    np.testing.assert_allclose(theirs["logits"], ours["logits"], atol=1e-5)
    np.testing.assert_allclose(theirs["q_halt_logits"], ours["q_halt_logits"], atol=1e-5)
    np.testing.assert_array_equal(theirs["steps"], ours["steps"])
