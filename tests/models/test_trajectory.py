"""Twelve training steps of `TRMPuzzleSolver.fit` against the official trainer's own trajectory.

The fixture (tests/fixtures/official_trm/trm_train_trajectory, see its README) is 12 steps of the official
`pretrain.train_batch` from known weights on known batches: warm-up then cosine, AdamATan2, sign-SGD on the puzzle
table with duplicate ids, EMA 0.9, and early halting so that the carry replaces rows. We train the imported official
weights with the official settings through `fit`, one step per Keras epoch, and compare every step with the README's
tolerances.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import keras_trm
from keras_trm.convert.official import official_key_for_variables

pytestmark = pytest.mark.xla  # TensorFlow keeps its default XLA compile here (tests/conftest.py)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_trm" / "trm_train_trajectory"
PREFIX = "_orig_mod.model.inner."
SAVED_STEPS = (1, 6, 12)


def _max_diff(ours, official):
    return float(np.max(np.abs(np.asarray(ours, "float64") - np.asarray(official, "float64"))))


def _official_layout(key, value):
    """Our value of an official parameter in the official layout (torch linear weights are (out, in))."""
    return value.T if key.endswith("proj.weight") or key.endswith("head.weight") else value


class _Recorder(keras.callbacks.Callback):
    """Per step (= Keras epoch): the rates it uses, then its logs, carry, weights and EMA."""

    def __init__(self, keys):
        super().__init__()
        self.keys = keys
        self.lr, self.emb_lr, self.logs, self.carry, self.weights, self.ema = [], [], [], [], [], []

    def _weights(self):
        return {self.keys[id(v)]: ops.convert_to_numpy(v) for v in self.model.backbone.weights if id(v) in self.keys}

    def on_train_begin(self, logs=None):
        self.initial = self._weights()

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        self.lr.append(float(ops.convert_to_numpy(opt.learning_rate)))
        self.emb_lr.append(float(ops.convert_to_numpy(self.model.embedding_optimizer.learning_rate_at(opt.iterations))))

    def on_epoch_end(self, epoch, logs=None):
        opt = self.model.optimizer
        self.logs.append(dict(logs))
        self.carry.append({k: ops.convert_to_numpy(v) for k, v in self.model.carry.items()})
        self.weights.append(self._weights())
        averages = opt._model_variables_moving_average
        self.ema.append(
            {
                self.keys[id(v)]: ops.convert_to_numpy(averages[opt._get_variable_index(v)])
                for v in self.model.trainable_variables
            }
        )


@pytest.fixture(scope="module")
def run():
    folder = FIXTURE
    cfg = json.loads((folder / "config.json").read_text())
    batches = dict(np.load(folder / "batches.npz"))
    keras.utils.set_random_seed(1)
    solver = keras_trm.import_official_checkpoint(folder / "step_0", cfg["model_cfg"])
    solver.compile(
        learning_rate=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        puzzle_emb_learning_rate=cfg["puzzle_emb_lr"],
        puzzle_emb_weight_decay=cfg["puzzle_emb_weight_decay"],
        warmup_steps=cfg["lr_warmup_steps"],
        total_steps=cfg["total_steps"],
        lr_min_ratio=cfg["lr_min_ratio"],
        beta_1=cfg["beta1"],
        beta_2=cfg["beta2"],
        use_ema=cfg["ema"],
        ema_momentum=cfg["ema_rate"],
    )
    steps, batch, length = batches["inputs"].shape
    x = {
        "inputs": batches["inputs"].reshape(-1, length),
        "puzzle_identifiers": batches["puzzle_identifiers"].reshape(-1),
    }
    y = np.where(batches["labels"] < 0, 0, batches["labels"]).reshape(-1, length)  # official ignore id -100, ours 0
    recorder = _Recorder(official_key_for_variables(solver.backbone))
    # One step per epoch: the logs are that step's values (the official trainer reports every step on its own).
    solver.fit(x, y, batch_size=batch, epochs=steps, steps_per_epoch=1, shuffle=False, verbose=0, callbacks=[recorder])
    trajectory = dict(np.load(folder / "trajectory.npz"))
    saved = {s: dict(np.load(folder / f"weights_step_{s}.npz")) for s in SAVED_STEPS}
    return solver, recorder, trajectory, saved


def test_learning_rates(run):
    _, rec, traj, _ = run
    np.testing.assert_allclose(rec.lr, traj["lr"], rtol=1e-6)
    np.testing.assert_allclose(rec.emb_lr, traj["puzzle_emb_lr"], rtol=1e-6)


def test_carry_halting_and_row_replacement(run):
    _, rec, traj, _ = run
    assert traj["carry/halted"].any() and not traj["carry/halted"].all(), "the fixture halts some rows early"
    for name in ("halted", "steps", "puzzle_identifiers", "inputs", "labels"):
        official = traj[f"carry/{name}"]
        if name == "labels":
            official = np.where(official < 0, 0, official)
        ours = np.stack([c[name] for c in rec.carry])
        np.testing.assert_array_equal(ours, official, err_msg=f"carry/{name}")
    for i, step in enumerate(traj["carry/z_steps"]):
        for name in ("z_H", "z_L"):
            diff = _max_diff(rec.carry[step - 1][name], traj[f"carry/{name}"][i])
            assert diff < 2e-4, f"step {step} carry/{name}: {diff:.3g}"


def test_losses_and_metrics(run):
    _, rec, traj, _ = run
    batch = traj["carry/halted"].shape[1]
    ours = {k: np.array([logs[k] for logs in rec.logs]) for k in rec.logs[0]}
    assert _max_diff(ours["loss"] * batch, traj["loss"]) < 1e-3  # ours is divided by the batch size
    for name, tol in (("lm_loss", 1e-4), ("q_halt_loss", 1e-4), ("accuracy", 1e-5)):
        assert _max_diff(ours[name], traj[f"train/{name}"]) < tol, name
    for name in ("exact_accuracy", "q_halt_accuracy", "steps"):
        assert _max_diff(ours[name], traj[f"train/{name}"]) < 1e-12, name


def test_logits_of_every_step(run):
    """lm_head / q_head of each step's z_H (the carry after the step) with the weights the step ran with."""
    solver, rec, traj, _ = run
    P = solver.backbone.puzzle_emb_positions
    before = [rec.initial] + rec.weights[:-1]
    for s, (carry, w) in enumerate(zip(rec.carry, before)):
        z_H = carry["z_H"].astype("float64")
        logits = z_H[:, P:] @ w["lm_head.weight"]
        q = z_H[:, 0] @ w["q_head.weight"] + w["q_head.bias"]
        assert _max_diff(logits, traj["logits"][s]) < 5e-4, f"step {s + 1} logits"
        assert _max_diff(q[:, 0], traj["q_halt_logits"][s]) < 5e-4, f"step {s + 1} q_halt"
        assert _max_diff(q[:, 1], traj["q_continue_logits"][s]) < 5e-4, f"step {s + 1} q_continue"


@pytest.mark.parametrize("step", SAVED_STEPS)
def test_weights_table_and_ema(run, step):
    _, rec, _, saved = run
    official = saved[step]
    ours = rec.weights[step - 1]
    assert {PREFIX + k for k in ours} == {k for k in official if k.startswith(PREFIX)}, "every official entry"
    for key, value in ours.items():
        diff = _max_diff(_official_layout(key, value), official[PREFIX + key])
        if key in ("H_init", "L_init"):
            assert diff == 0, key  # never updated
        elif key == "puzzle_emb.weights":
            assert diff < 1e-6, f"step {step} puzzle table: {diff:.3g}"
        else:
            assert diff < 1e-5, f"step {step} {key}: {diff:.3g}"
    ema = rec.ema[step - 1]
    assert {"ema/" + PREFIX + k for k in ema} == {k for k in official if k.startswith("ema/")}, "every EMA shadow"
    for key, value in ema.items():
        diff = _max_diff(_official_layout(key, value), official["ema/" + PREFIX + key])
        assert diff < 1e-5, f"step {step} EMA of {key}: {diff:.3g}"
