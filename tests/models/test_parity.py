"""The port against the official PyTorch code: real official checkpoints and the outputs it computed for them."""

import json

import numpy as np
import pytest
from keras import ops

import keras_trm
from keras_trm.convert.official import official_key_for_variables
from keras_trm.training.losses import lm_loss_per_row

pytestmark = pytest.mark.xla  # TensorFlow keeps its default XLA compile here (tests/conftest.py)

# Tolerances from the fixtures' README: float64 vs float32 official runs differ by 3e-6 (att) and 2e-4 (mlp).
TOLERANCE = {"trm_tiny_att": 1e-4, "trm_tiny_mlp": 1e-3}
FIXTURES = sorted(TOLERANCE)


def _load(fixture_dir, name):
    folder = fixture_dir / name
    solver = keras_trm.import_official_checkpoint(folder / "step_0", folder / "config.json")
    expected = dict(np.load(folder / "expected.npz"))
    grads = dict(np.load(folder / "grads.npz"))
    labels = np.where(expected["labels"] < 0, 0, expected["labels"]).astype("int32")  # official ignore id -100
    return solver, expected, grads, labels


def _max_diff(a, b):
    return float(np.max(np.abs(ops.convert_to_numpy(a).astype("float64") - np.asarray(b, "float64"))))


@pytest.mark.parametrize("name", FIXTURES)
def test_every_supervision_step_matches_official(official_fixture_dir, name):
    solver, expected, _, labels = _load(official_fixture_dir, name)
    steps = solver.supervision_steps(expected["inputs"], expected["puzzle_identifiers"])
    assert (
        len(steps)
        == len(expected["logits"])
        == json.loads((official_fixture_dir / name / "config.json").read_text())["halt_max_steps"]
    )
    tol = TOLERANCE[name]
    for s, out in enumerate(steps):
        for key in ("logits", "q_halt_logits", "q_continue_logits", "z_H", "z_L"):
            diff = _max_diff(out[key], expected[key][s])
            assert diff < tol, f"{name} step {s} {key}: max |diff| {diff:.3g} >= {tol}"
        loss = ops.sum(lm_loss_per_row(out["logits"], labels, token_loss="stablemax"))
        np.testing.assert_allclose(float(loss), expected["loss_lm"][s], rtol=1e-5, err_msg=f"{name} step {s} lm loss")


@pytest.mark.parametrize("name", FIXTURES)
def test_predict_returns_last_step(official_fixture_dir, name):
    solver, expected, _, _ = _load(official_fixture_dir, name)
    x = {"inputs": expected["inputs"].astype("int32"), "puzzle_identifiers": expected["puzzle_identifiers"]}
    out = solver.predict(x, batch_size=len(expected["inputs"]), verbose=0)
    assert out["logits"].shape == expected["logits"].shape[1:]
    assert _max_diff(out["logits"], expected["logits"][-1]) < TOLERANCE[name]
    assert _max_diff(out["q_halt_logits"], expected["q_halt_logits"][-1]) < TOLERANCE[name]
    np.testing.assert_array_equal(out["steps"], len(expected["logits"]))


@pytest.mark.parametrize("name", FIXTURES)
def test_first_training_step_gradients_match_official(official_fixture_dir, name):
    solver, expected, grads, labels = _load(official_fixture_dir, name)
    batch = len(labels)
    solver.build_carry(batch)  # a fresh carry: every row halted, so the step starts from H_init / L_init
    x = {"inputs": expected["inputs"].astype("int32"), "puzzle_identifiers": expected["puzzle_identifiers"]}
    loss, weight_grads, row_grads = solver.compute_gradients(x, labels)
    # Our loss is divided by the batch size; the fixture's is the sum over rows.
    np.testing.assert_allclose(float(loss) * batch, grads["loss"], rtol=1e-5)
    keys = official_key_for_variables(solver.backbone)
    seen = set()
    for var, grad in zip(solver.trainable_variables, weight_grads):
        key = "_orig_mod.model.inner." + keys[id(var)]
        ours = ops.convert_to_numpy(grad) * batch
        if key.endswith("proj.weight") or key.endswith("head.weight"):
            ours = ours.T  # Keras kernels are (in, out)
        np.testing.assert_allclose(ours, grads[key], atol=1e-4, rtol=1e-3, err_msg=key)
        seen.add(key)
    assert seen == {k for k in grads if k.startswith("_orig_mod.")}, "every trained official parameter is compared"
    np.testing.assert_allclose(
        ops.convert_to_numpy(row_grads) * batch, grads["puzzle_emb_batch_rows_grad"], atol=1e-4, rtol=1e-3
    )


def test_a_changed_detail_breaks_parity(official_fixture_dir):
    """Negative control: the comparison above is sensitive to single details of the network."""
    solver, expected, _, _ = _load(official_fixture_dir, "trm_tiny_att")
    solver.backbone.input_embedding.scale = 1.0  # drop the sqrt(D) embedding scale
    out = solver.supervision_steps(expected["inputs"], expected["puzzle_identifiers"], num_steps=1)[0]
    assert _max_diff(out["logits"], expected["logits"][0]) > 1e-2

    solver, expected, _, _ = _load(official_fixture_dir, "trm_tiny_att")
    solver.backbone.recursion.rotary = None  # no RoPE
    out = solver.supervision_steps(expected["inputs"], expected["puzzle_identifiers"], num_steps=1)[0]
    assert _max_diff(out["logits"], expected["logits"][0]) > 1e-2
