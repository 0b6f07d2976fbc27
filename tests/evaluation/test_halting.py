"""Halting at inference and rollouts: the rule, its calibration, refilling halted rows, saving, determinism."""

import os

import keras
import numpy as np
import pytest

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.evaluation.halting import (
    HaltingRule,
    as_rule,
    calibrate_halting,
    exact_rows,
    halting_steps,
    unchanged_counts,
)
from keras_trm.evaluation.solve import run_solver
from keras_trm.evaluation.stepwise import run_stepwise

STEPS = 5


def varied_solver():
    """A tiny random solver whose halt logits differ between rows and steps (a random q_head)."""
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
    )
    # The same weights on every backend (backends draw different initial weights from one seed): matrices from
    # numpy, scaled by their fan-in; vectors (biases, norm scales) as initialised.
    rng = np.random.default_rng(0)
    for w in backbone.weights:
        if len(w.shape) >= 2:
            w.assign((rng.normal(0, 1, w.shape) / np.sqrt(w.shape[0])).astype("float32"))
    backbone.q_head.kernel.assign(rng.normal(0, 0.6, (16, 2)).astype("float32"))
    backbone.q_head.bias.assign(np.array([-1.5, 0.0], "float32"))
    return TRMPuzzleSolver(backbone, halt_max_steps=STEPS)


def token_rows(n=23, seed=1):
    rng = np.random.default_rng(seed)
    return {"inputs": rng.integers(1, 6, (n, 16)).astype("int32"), "puzzle_identifiers": np.zeros((n,), "int32")}


# ------------------------------------------------------------------ the rule and its calibration (hand-computed)
def test_the_rule_stops_on_confidence_or_patience():
    rule = HaltingRule(threshold=0.8, patience=2)
    stop = rule.stops(confidence=np.array([0.9, 0.8, 0.1, 0.1]), unchanged=np.array([0, 0, 2, 1]))
    assert stop.tolist() == [True, False, True, False]
    assert as_rule(True) == HaltingRule(0.5) and as_rule(False) is None and as_rule(None) is None
    assert as_rule({"threshold": None, "patience": 3}) == HaltingRule(None, 3)
    assert HaltingRule(0.5).logit == 0.0 and HaltingRule(None, 1).logit == float("inf")
    for bad in (dict(threshold=1.0), dict(threshold=-0.1), dict(patience=-1), dict(threshold=None, patience=0)):
        with pytest.raises(ValueError):
            HaltingRule(**bad)


def test_calibration_picks_the_cheapest_rule_within_the_tolerance():
    # 4 puzzles x 3 steps, one token each (label 1). Answers per step and confidences:
    tokens = np.array([[[1], [1], [1]], [[2], [1], [1]], [[2], [2], [1]], [[2], [2], [2]]])
    conf = np.array([[0.9, 0.9, 0.9], [0.6, 0.95, 0.95], [0.7, 0.7, 0.99], [0.2, 0.3, 0.4]])
    labels = np.array([[1], [1], [1], [1]])
    assert unchanged_counts(tokens).tolist() == [[0, 1, 2], [0, 0, 1], [0, 1, 0], [0, 1, 2]]
    grid = dict(thresholds=(0.5, 0.65, 0.8, 0.92), margin=0.0)
    # Fixed steps: rows 0-2 right at step 3: 75%, 3 steps each.
    exact = calibrate_halting(conf, tokens, labels, max_accuracy_drop=0.0, patiences=(0,), **grid)
    # Stop above 0.8: row 0 at step 1, row 1 at 2, row 2 at 3, row 3 at 3 -> 75% in 9/4 steps. Above 0.65
    # stops row 2 at step 1, wrong; above 0.92 stops row 0 only at step 3.
    assert exact["fixed_accuracy"] == 0.75 and exact["fixed_steps"] == 3
    assert exact["accuracy"] == 0.75 and exact["mean_steps"] == 9 / 4 and exact["rule"] == HaltingRule(0.8)
    np.testing.assert_array_equal(halting_steps(conf, unchanged_counts(tokens), exact["rule"]), [0, 1, 2, 2])
    # Accepting 25 points (>= 50%): stop above 0.5: rows 0, 1 and 2 at step 1, row 3 at 3; row 0 right -> 25%,
    # too low; above 0.65: rows 0 and 2 at step 1, row 1 at 2, row 3 at 3; rows 0 and 1 right -> 50% in 7/4 steps.
    loose = calibrate_halting(conf, tokens, labels, max_accuracy_drop=0.25, patiences=(0,), **grid)
    at = halting_steps(conf, unchanged_counts(tokens), loose["rule"])
    right = tokens[np.arange(4), at, 0] == 1
    assert loose["rule"] == HaltingRule(0.65) and loose["accuracy"] == right.mean() == 0.5
    assert loose["mean_steps"] == at.mean() + 1 == 7 / 4
    # No rule is cheaper than fixed steps without losing accuracy on a trace where every early stop is wrong.
    late = calibrate_halting(conf[2:3], tokens[2:3], labels[2:3], max_accuracy_drop=0.0, patiences=(0, 1), **grid)
    assert late["rule"] is None and late["mean_steps"] == 3 and late["accuracy"] == 1.0


def test_calibration_margin_refuses_a_rule_whose_wins_and_losses_cancel():
    # 2 puzzles x 2 steps (label 1). Stopping above 0.5 after step 1 makes row 0 wrong and row 1 right: the
    # same 50% as fixed steps, but on 2 changed rows (standard error sqrt(2) rows of the loss).
    tokens = np.array([[[2], [1]], [[1], [2]]])
    conf = np.array([[0.9, 0.9], [0.9, 0.9]])
    labels = np.array([[1], [1]])
    plain = calibrate_halting(conf, tokens, labels, max_accuracy_drop=0.0, patiences=(0,), thresholds=(0.5,), margin=0)
    assert plain["rule"] == HaltingRule(0.5) and plain["accuracy"] == plain["fixed_accuracy"] == 0.5
    assert plain["mean_steps"] == 1.0
    # with one standard error: 0 + sqrt(2) rows > 0.5 * 2 rows accepted even at 50 points, so fixed steps stay
    for drop in (0.0, 0.5):
        guarded = calibrate_halting(conf, tokens, labels, max_accuracy_drop=drop, patiences=(0,), thresholds=(0.5,))
        assert guarded["rule"] is None and guarded["mean_steps"] == 2.0
    # 0.75 of 2 rows = 1.5 >= sqrt(2): accepted
    wide = calibrate_halting(conf, tokens, labels, max_accuracy_drop=0.75, patiences=(0,), thresholds=(0.5,))
    assert wide["rule"] == HaltingRule(0.5)


# ------------------------------------------------------------------ refilling gives the compiled loop's answers
@pytest.mark.parametrize("rule", [HaltingRule(0.6), HaltingRule(None, 1), HaltingRule(0.7, 2)], ids=str)
def test_refilled_rows_give_the_compiled_loops_answers(rule):
    solver = varied_solver()
    x = token_rows()
    solver.halt_at_inference = rule
    compiled = solver.predict(x, batch_size=23, verbose=0)  # one batch: the while loop masks halted rows
    assert 1 < len(set(np.asarray(compiled["steps"]).tolist()))  # rows halt at different steps
    for batch_size in (4, 23):  # 4 slots, refilled as rows halt
        out = run_stepwise(solver, x["inputs"], rule=rule, batch_size=batch_size)
        np.testing.assert_array_equal(out["steps"], compiled["steps"])
        np.testing.assert_array_equal(out["tokens"], np.asarray(compiled["logits"]).argmax(-1))
        np.testing.assert_allclose(out["q_halt_logits"], compiled["q_halt_logits"], atol=1e-4)
    # Calls follow the rows' steps: with 4 slots, about sum(steps) / 4 calls, not ceil(23 / 4) * max(steps).
    out = run_stepwise(solver, x["inputs"], rule=rule, batch_size=4)
    assert out["row_steps"] == int(np.sum(compiled["steps"]))
    assert out["backbone_calls"] <= -(-out["row_steps"] // 4) + STEPS


def test_fixed_steps_stepwise_equals_predict_and_records_each_step():
    solver = varied_solver()
    x = token_rows()
    fixed = solver.predict(x, batch_size=8, verbose=0)
    out = run_stepwise(solver, x["inputs"], batch_size=8, trace=True)
    np.testing.assert_array_equal(out["steps"], STEPS)
    np.testing.assert_array_equal(out["tokens"], np.asarray(fixed["logits"]).argmax(-1))
    np.testing.assert_array_equal(out["trace_tokens"][:, -1], out["tokens"])
    assert out["trace_confidence"].shape == (23, STEPS)
    solver1 = varied_solver()
    solver1.halt_max_steps = 1
    one = solver1.predict(x, batch_size=8, verbose=0)
    np.testing.assert_array_equal(out["trace_tokens"][:, 0], np.asarray(one["logits"]).argmax(-1))


# ------------------------------------------------------------------ the rule is stored and honoured
def test_the_rule_survives_saving_and_loading(tmp_path):
    solver = varied_solver()
    rule = HaltingRule(0.6, 2)
    solver.halt_at_inference = rule
    x = token_rows()
    expected = run_solver(solver, x["inputs"], batch_size=8)
    assert 1 < len(set(expected["steps"].tolist()))
    path = os.path.join(tmp_path, "m.keras")
    solver.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.halt_at_inference == rule
    np.testing.assert_array_equal(run_solver(loaded, x["inputs"], batch_size=8)["steps"], expected["steps"])
    np.testing.assert_array_equal(loaded.predict(x, batch_size=23, verbose=0)["steps"], expected["steps"])
    solver.save_to_preset(os.path.join(tmp_path, "preset"))
    again = TRMPuzzleSolver.from_preset(os.path.join(tmp_path, "preset"))
    assert again.halt_at_inference == rule
    # halt=False overrides the stored rule for one call; the solver keeps its rule.
    assert run_solver(again, x["inputs"], halt=False)["steps"].tolist() == [STEPS] * 23
    assert again.halt_at_inference == rule


def test_calibrate_halting_keeps_accuracy_within_the_tolerance():
    solver = varied_solver()
    x = token_rows(40)
    trace = run_stepwise(solver, x["inputs"], trace=True)
    labels = trace["trace_tokens"][:, 1]  # "right" = the answer after step 2: stopping early can pay
    fixed = exact_rows(trace["trace_tokens"][:, -1], labels).mean()
    report = solver.calibrate_halting(x, labels, max_accuracy_drop=0.1)
    assert report["fixed_accuracy"] == fixed < 1.0 and report["accuracy"] >= fixed - 0.1
    assert solver.halt_at_inference == report["rule"] and report["rule"] is not None
    # The calibration's figures are what a run under the chosen rule gives.
    out = run_solver(solver, x["inputs"], batch_size=16)
    assert exact_rows(out["tokens"], labels).mean() == report["accuracy"]
    assert np.mean(out["steps"]) == report["mean_steps"] < STEPS


def test_compacting_the_pool_keeps_the_answers_and_shrinks_the_last_calls():
    solver = varied_solver()
    x = token_rows()
    rule = HaltingRule(0.6)
    sizes = []
    call = solver.backbone.predict_on_batch

    def recording(batch):
        sizes.append(len(batch["inputs"]))
        return call(batch)

    solver.backbone.predict_on_batch = recording
    try:
        compact = run_stepwise(solver, x["inputs"], rule=rule, batch_size=16)
        compact_sizes, sizes[:] = list(sizes), []
        full = run_stepwise(solver, x["inputs"], rule=rule, batch_size=16, compact=False)
    finally:
        del solver.backbone.predict_on_batch
    assert set(sizes) == {16} and compact_sizes[0] == 16 and min(compact_sizes) < 16
    assert all(size in (1, 2, 4, 8, 16) for size in compact_sizes)  # powers of two: few compiled shapes
    for key in ("tokens", "steps"):
        np.testing.assert_array_equal(compact[key], full[key])
    np.testing.assert_allclose(compact["q_halt_logits"], full["q_halt_logits"], atol=1e-4)


# ------------------------------------------------------------------ rollouts
def test_rollouts_are_deterministic_for_a_seed_and_independent_of_the_batch():
    solver = varied_solver()
    x = token_rows(9)
    plain = run_solver(solver, x["inputs"], halt=False)
    one = run_solver(solver, x["inputs"], rollouts=1, noise=1.0, halt=False, batch_size=4)
    np.testing.assert_array_equal(one["tokens"], plain["tokens"])  # rollout 0 has no noise
    a = run_stepwise(solver, x["inputs"], rollouts=4, noise=1.0, seed=3, batch_size=5)
    b = run_stepwise(solver, x["inputs"], rollouts=4, noise=1.0, seed=3, batch_size=16)
    for key in ("tokens", "votes", "steps"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["q_halt_logits"], b["q_halt_logits"], atol=1e-4)  # batch-size float round-off
    assert a["row_steps"] == 9 * 4 * STEPS and np.all((a["votes"] >= 1) & (a["votes"] <= 4))
    c = run_stepwise(solver, x["inputs"], rollouts=4, noise=1.0, seed=4, batch_size=5, select="confidence")
    d = run_stepwise(solver, x["inputs"], rollouts=4, noise=1.0, seed=4, batch_size=5)
    noisy = run_stepwise(solver, x["inputs"], rollouts=2, noise=1.0, seed=3, select="confidence")
    assert not np.allclose(noisy["q_halt_logits"], plain["q_halt_logits"])  # the noise changes the runs
    # "confidence" picks the most confident rollout: at least as confident as the vote's pick.
    assert np.all(c["confidence"] >= d["confidence"] - 1e-7)


def test_bad_options_are_refused_in_one_line():
    solver = varied_solver()
    x = token_rows(3)["inputs"]
    with pytest.raises(ValueError, match="select"):
        run_stepwise(solver, x, select="best")
    with pytest.raises(ValueError, match="rollouts"):
        run_stepwise(solver, x, rollouts=0)
    with pytest.raises(ValueError, match="trace"):
        run_stepwise(solver, x, rule=HaltingRule(), trace=True)
