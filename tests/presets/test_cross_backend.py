"""A preset saved on this backend loads on another backend with the same outputs (in a subprocess)."""

import os
import subprocess
import sys

import keras
import numpy as np

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

# Each backend saves for the next one in this cycle, so that one CI run (the suite once per backend) checks every
# backend as saver and as loader with one subprocess each: jax -> tensorflow -> torch -> jax.
CYCLE = ("jax", "tensorflow", "torch")
OTHER = CYCLE[(CYCLE.index(keras.backend.backend()) + 1) % len(CYCLE)]


def test_preset_loads_on_the_next_backend_with_same_outputs(tmp_path):
    other = OTHER
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=6,
        sequence_length=16,
        hidden_dim=16,
        num_heads=2,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_len=1,
        num_puzzle_identifiers=3,
    )
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
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, preset, str(tmp_path / "x.npz"), str(tmp_path / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npz")
    assert str(theirs["spec"]) == "sudoku"
    np.testing.assert_allclose(theirs["logits"], ours["logits"], atol=1e-5)
    np.testing.assert_allclose(theirs["q_halt_logits"], ours["q_halt_logits"], atol=1e-5)
    np.testing.assert_array_equal(theirs["steps"], ours["steps"])
