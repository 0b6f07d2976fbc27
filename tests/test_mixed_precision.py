"""Mixed precision (`dtype="mixed_bfloat16"`): bfloat16 compute, float32 heads, losses, optimizer state and carry;
training still learns. Runs on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm.models import TRMBackbone, TRMPuzzleSolver

pytestmark = pytest.mark.xla  # TensorFlow keeps its default XLA compile here (tests/conftest.py)

VOCAB, LENGTH, BATCH = 6, 8, 16


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _solver(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=VOCAB,
        sequence_length=LENGTH,
        hidden_dim=32,
        num_heads=2,
        num_layers=1,
        H_cycles=1,
        L_cycles=1,
        num_puzzle_identifiers=2,
        puzzle_emb_len=1,
        dtype="mixed_bfloat16",
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=1, seed=seed)
    solver.compile(learning_rate=3e-3, warmup_steps=1, weight_decay=0.0)
    return solver


def _task(n, seed=0):
    """Label of each position: a fixed relabelling of its input token (learnable position-wise)."""
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, VOCAB, (n, LENGTH)).astype("int32")
    labels = (inputs % (VOCAB - 1) + 1).astype("int32")
    return {"inputs": inputs, "puzzle_identifiers": np.ones((n,), "int32")}, labels


def test_mixed_bfloat16_dtypes():
    solver = _solver()
    backbone = solver.backbone
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    assert backbone.recursion.compute_dtype == "bfloat16"
    x, y = _task(BATCH)
    z_H, z_L = backbone.initial_states(BATCH)
    out = backbone.supervision_step(z_H, z_L, x["inputs"], solver.puzzle_vectors(x["puzzle_identifiers"]))
    assert _dtype(out["z_H"]) == "bfloat16" and _dtype(out["z_L"]) == "bfloat16"
    for name in ("logits", "q_halt_logits", "q_continue_logits"):
        assert _dtype(out[name]) == "float32", name
    loss, _ = solver.step_loss(out, y, np.ones((BATCH,), "float32"))
    assert _dtype(loss) == "float32"

    solver.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert {_dtype(v) for v in solver.trainable_variables} == {"float32"}
    assert {_dtype(v) for v in solver.optimizer.variables if "float" in _dtype(v)} == {"float32"}
    assert _dtype(solver.carry["z_H"]) == "float32" and _dtype(solver.carry["z_L"]) == "float32"
    assert _dtype(backbone.puzzle_embedding_table) == "float32"
    pred = solver.predict(x, batch_size=BATCH, verbose=0)
    assert pred["logits"].dtype == np.float32 and pred["q_halt_logits"].dtype == np.float32


def test_mixed_bfloat16_learns():
    solver = _solver()
    x, y = _task(BATCH * 8)
    before = solver.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    solver.fit(x, y, batch_size=BATCH, epochs=5, shuffle=True, verbose=0)
    after = solver.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    assert np.isfinite(after["loss"])
    assert after["lm_loss"] < 0.5 * before["lm_loss"], (before, after)
    assert after["accuracy"] > before["accuracy"] + 0.3, (before, after)
    assert after["accuracy"] > 0.8
    logits = ops.convert_to_numpy(solver.predict(x, batch_size=BATCH, verbose=0)["logits"])
    assert np.mean(np.argmax(logits, -1) == y) > 0.8
