"""TRMPuzzleSolver: the training carry, halting, exploration, padding rows, and inference with halting."""

import inspect
import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.evaluation.halting import HaltingRule

B, L, V = 4, 8, 6


def _solver(halt_max_steps=3, exploration=0.0, q_bias=None, seed=3, **kwargs):
    backbone = TRMBackbone(vocabulary_size=V, sequence_length=L, hidden_dim=16, num_heads=2, num_layers=1,
                           H_cycles=2, L_cycles=1, num_puzzle_identifiers=10, puzzle_emb_len=1)  # fmt: skip
    if q_bias is not None:
        backbone.q_head.bias.assign(np.array([q_bias, 0.0], "float32"))
    solver = TRMPuzzleSolver(backbone, halt_max_steps=halt_max_steps, halt_exploration_prob=exploration, seed=seed,
                             **kwargs)  # fmt: skip
    # learning rate 0: weights stay put, so the carry can be compared with fresh forward passes
    solver.compile(learning_rate=0.0, puzzle_emb_learning_rate=0.0, warmup_steps=1)
    return solver


class _Batches(keras.utils.PyDataset):
    """Batch k has every input token equal to (k % (V - 1)) + 1 and identifiers k."""

    def __init__(self, count):
        super().__init__()
        self.count = count
        self.batch_size = B

    def __len__(self):
        return self.count

    def __getitem__(self, k):
        x = {"inputs": np.full((B, L), k % (V - 1) + 1, "int32"), "puzzle_identifiers": np.full((B,), k, "int32")}
        return x, np.full((B, L), 1, "int32"), np.ones((B,), "float32")


def _carry(solver, name):
    return ops.convert_to_numpy(solver.carry[name])


def test_running_rows_keep_their_puzzle_and_state():
    solver = _solver(halt_max_steps=3)
    solver.fit(_Batches(2), epochs=1, verbose=0, shuffle=False)  # two steps in one compiled loop
    np.testing.assert_array_equal(_carry(solver, "steps"), 2)
    np.testing.assert_array_equal(_carry(solver, "halted"), False)
    np.testing.assert_array_equal(_carry(solver, "inputs"), 1)  # still batch 0's puzzle
    np.testing.assert_array_equal(_carry(solver, "puzzle_identifiers"), 0)
    # z_H is what two supervision steps on batch 0 give from H_init
    expected = solver.supervision_steps(np.full((B, L), 1, "int32"), np.zeros((B,), "int32"), num_steps=2)
    np.testing.assert_allclose(_carry(solver, "z_H"), ops.convert_to_numpy(expected[1]["z_H"]), atol=1e-5)


def test_rows_halt_at_max_steps_and_take_the_new_batch_with_reset_states():
    solver = _solver(halt_max_steps=3)
    solver.fit(_Batches(3), epochs=1, verbose=0, shuffle=False)
    np.testing.assert_array_equal(_carry(solver, "steps"), 3)
    np.testing.assert_array_equal(_carry(solver, "halted"), True)
    solver.fit(_Batches(4), epochs=1, verbose=0, shuffle=False, steps_per_epoch=1)  # batch 0 again: new puzzles
    np.testing.assert_array_equal(_carry(solver, "steps"), 1)
    np.testing.assert_array_equal(_carry(solver, "halted"), False)
    first = solver.supervision_steps(np.full((B, L), 1, "int32"), np.zeros((B,), "int32"), num_steps=1)[0]
    np.testing.assert_allclose(_carry(solver, "z_H"), ops.convert_to_numpy(first["z_H"]), atol=1e-5)

    solver = _solver(halt_max_steps=3)
    solver.fit(_Batches(4), epochs=1, verbose=0, shuffle=False)  # halts after step 3, step 4 takes batch 3
    np.testing.assert_array_equal(_carry(solver, "inputs"), 4)
    np.testing.assert_array_equal(_carry(solver, "puzzle_identifiers"), 3)
    np.testing.assert_array_equal(_carry(solver, "steps"), 1)


def test_positive_halt_logit_halts_during_training():
    solver = _solver(halt_max_steps=5, q_bias=5.0)
    solver.fit(_Batches(1), epochs=1, verbose=0)
    np.testing.assert_array_equal(_carry(solver, "halted"), True)
    np.testing.assert_array_equal(_carry(solver, "steps"), 1)


def test_exploration_never_halts_before_the_drawn_minimum():
    # Every row wants to halt (halt logit +5) but explores with probability 1: its minimum is drawn in [2, N_sup].
    solver = _solver(halt_max_steps=6, exploration=1.0, q_bias=5.0)
    history = []
    for k in range(6):
        solver.fit(_Batches(1), epochs=1, verbose=0)
        history.append((_carry(solver, "steps").copy(), _carry(solver, "halted").copy()))
    steps_at_halt = []
    for steps, halted in history:
        assert np.all(steps[halted] >= 2), "a row halted before its minimum of 2 steps"
        steps_at_halt.extend(steps[halted].tolist())
    assert not history[0][1].any()
    assert len(set(steps_at_halt)) > 1, "drawn minimums vary between rows"


def test_padding_rows_count_nowhere():
    solver = _solver(halt_max_steps=2)
    rng = np.random.default_rng(0)
    x = {"inputs": rng.integers(1, V, (B, L)).astype("int32"), "puzzle_identifiers": np.arange(B, dtype="int32")}
    y = rng.integers(1, V, (B, L)).astype("int32")
    real = solver.evaluate(x, y, batch_size=B, verbose=0, return_dict=True)
    # the same rows plus B rows of garbage weighted 0
    x2 = {k: np.concatenate([v, rng.integers(1, V, v.shape).astype("int32")]) for k, v in x.items()}
    y2 = np.concatenate([y, rng.integers(1, V, y.shape).astype("int32")])
    w2 = np.concatenate([np.ones(B, "float32"), np.zeros(B, "float32")])
    padded = solver.evaluate(x2, y2, sample_weight=w2, batch_size=2 * B, verbose=0, return_dict=True)
    for key in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps"):
        assert padded[key] == pytest.approx(real[key], abs=1e-6), key
    for key in ("lm_loss", "q_halt_loss"):  # sums over real rows, divided by the (doubled) batch size
        assert padded[key] == pytest.approx(real[key] / 2, rel=1e-5), key


def test_halting_at_inference():
    x = {"inputs": np.ones((B, L), "int32"), "puzzle_identifiers": np.zeros((B,), "int32")}
    stays = _solver(halt_max_steps=4, q_bias=-5.0, halt_at_inference=True).predict(x, batch_size=B, verbose=0)
    np.testing.assert_array_equal(stays["steps"], 4)
    stops = _solver(halt_max_steps=4, q_bias=5.0, halt_at_inference=True).predict(x, batch_size=B, verbose=0)
    np.testing.assert_array_equal(stops["steps"], 1)
    fixed = _solver(halt_max_steps=4, q_bias=5.0).predict(x, batch_size=B, verbose=0)
    np.testing.assert_array_equal(fixed["steps"], 4)


def test_training_moves_weights_and_puzzle_rows_only_of_the_batch():
    backbone = TRMBackbone(vocabulary_size=V, sequence_length=L, hidden_dim=16, num_heads=2, num_layers=1,
                           H_cycles=2, L_cycles=1, num_puzzle_identifiers=10, puzzle_emb_len=1)  # fmt: skip
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2, seed=0)
    solver.compile(learning_rate=1e-2, puzzle_emb_learning_rate=1e-2, warmup_steps=1)
    before = [ops.convert_to_numpy(w).copy() for w in solver.trainable_weights]
    solver.fit(_Batches(1), epochs=1, verbose=0)
    after = [ops.convert_to_numpy(w) for w in solver.trainable_weights]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))
    table = ops.convert_to_numpy(backbone.puzzle_embedding_table)
    assert np.abs(table[0]).max() > 0  # batch 0's identifier was updated by sign-SGD
    np.testing.assert_array_equal(table[1:], 0.0)


def test_batch_size_must_stay_fixed():
    solver = _solver()
    solver.fit(_Batches(1), epochs=1, verbose=0)
    x = {"inputs": np.ones((2 * B, L), "int32"), "puzzle_identifiers": np.zeros((2 * B,), "int32")}
    with pytest.raises(ValueError, match="carry has 4 rows"):
        solver.fit(x, np.ones((2 * B, L), "int32"), batch_size=2 * B, verbose=0)


def test_fit_before_compile_is_a_clear_error():
    backbone = TRMBackbone(vocabulary_size=V, sequence_length=L, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1)
    with pytest.raises(ValueError, match="compile"):
        TRMPuzzleSolver(backbone, compile=False).fit(_Batches(1), verbose=0)


def test_solver_config_round_trip():
    solver = _solver(halt_max_steps=7, exploration=0.2, token_loss="softmax", halt_at_inference=True)
    config = solver.get_config()
    clone = TRMPuzzleSolver.from_config(config)
    for key in ("halt_max_steps", "halt_exploration_prob", "token_loss", "no_ACT_continue"):
        assert getattr(clone, key) == getattr(solver, key) == config[key]
    # the halting rule is a HaltingRule on the solver and its plain dict in the config
    assert clone.halt_at_inference == solver.halt_at_inference == HaltingRule(0.5, 0)
    assert config["halt_at_inference"] == {"threshold": 0.5, "patience": 0}
    assert clone.token_loss == "softmax"
    # the config's keys are the constructor's arguments (and Keras's name/trainable/dtype)
    arguments = set(inspect.signature(TRMPuzzleSolver.__init__).parameters) - {"self", "kwargs"}
    assert arguments <= set(config) and set(config) - arguments <= {"name", "trainable", "dtype"}


def test_a_config_saved_with_the_old_loss_key_still_loads():
    config = _solver(halt_max_steps=2).get_config()
    del config["token_loss"]
    config["loss"] = "softmax"  # the key's name in saves and presets made before `token_loss`
    assert TRMPuzzleSolver.from_config(config).token_loss == "softmax"


def test_saved_after_training_loads_without_the_carry_and_predicts_the_same(tmp_path):
    solver = _solver(halt_max_steps=2)
    x = {"inputs": np.ones((B, L), "int32"), "puzzle_identifiers": np.zeros((B,), "int32")}
    before = solver.predict(x, batch_size=B, verbose=0)  # predict first: the carry is created after the lock
    solver.compile(learning_rate=1e-2, warmup_steps=1)
    solver.fit(_Batches(2), epochs=1, verbose=0)
    path = tmp_path / "solver.keras"
    solver.save(path)
    restored = keras.saving.load_model(path)
    assert restored.carry_batch_size is None
    ours, theirs = solver.predict(x, batch_size=B, verbose=0), restored.predict(x, batch_size=B, verbose=0)
    np.testing.assert_allclose(theirs["logits"], ours["logits"], atol=1e-5)
    assert np.abs(ours["logits"] - before["logits"]).max() > 0  # training changed the model


def test_hrm_continue_loss_targets_the_next_steps_q_values():
    solver = _solver(halt_max_steps=3, no_ACT_continue=False)
    history = solver.fit(_Batches(1), epochs=1, verbose=0)
    steps = solver.supervision_steps(np.full((B, L), 1, "int32"), np.zeros((B,), "int32"), num_steps=2)
    q_cont = ops.convert_to_numpy(steps[0]["q_continue_logits"]).astype("float64")
    nxt = np.maximum(
        ops.convert_to_numpy(steps[1]["q_halt_logits"]), ops.convert_to_numpy(steps[1]["q_continue_logits"])
    )
    target = 1 / (1 + np.exp(-nxt.astype("float64")))
    bce = np.maximum(q_cont, 0) - q_cont * target + np.log1p(np.exp(-np.abs(q_cont)))
    assert history.history["q_continue_loss"][0] == pytest.approx(bce.sum() / B, rel=1e-4)
    plain = _solver(halt_max_steps=3).fit(_Batches(1), epochs=1, verbose=0)
    assert "q_continue_loss" not in plain.history


@pytest.mark.parametrize("size", [14, 6])
def test_fine_tuning_resize_rules(size):
    """`keep` (default) keeps the trained rows of the old identifiers; `official` makes every row the old mean."""
    from keras_trm.presets import resize_puzzle_embeddings

    solver = _solver()
    old = ops.convert_to_numpy(solver.backbone.puzzle_embedding_table)
    old[:] = np.random.default_rng(0).normal(size=old.shape)
    solver.backbone.puzzle_embedding_table.assign(old)
    mean = old.mean(0, keepdims=True)
    kept = ops.convert_to_numpy(resize_puzzle_embeddings(solver, size).backbone.puzzle_embedding_table)
    n = min(size, len(old))
    np.testing.assert_array_equal(kept[:n], old[:n])
    np.testing.assert_allclose(kept[n:], np.repeat(mean, size - n, 0), rtol=1e-6)
    official = resize_puzzle_embeddings(solver, size, rule="official")
    assert isinstance(official, TRMPuzzleSolver) and official.halt_max_steps == solver.halt_max_steps
    table = ops.convert_to_numpy(official.backbone.puzzle_embedding_table)
    np.testing.assert_allclose(table, np.repeat(mean, size, 0), rtol=1e-6)
    # every other weight is copied
    x = {"inputs": np.ones((B, L), "int32"), "puzzle_identifiers": np.zeros((B,), "int32")}
    official.backbone.puzzle_embedding_table.assign(np.resize(old, table.shape))
    solver.backbone.puzzle_embedding_table.assign(old)
    np.testing.assert_allclose(
        solver.predict(x, verbose=0)["logits"], official.predict(x, verbose=0)["logits"], atol=1e-5
    )
    with pytest.raises(ValueError, match="rule"):
        resize_puzzle_embeddings(solver, size, rule="zeros")


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((1, L), "int32"), "ndarray of shape"),  # a bare array instead of the input dict
        ({"inputs": np.zeros((2, L), "int32")}, "got ['inputs']"),
        ({"inputs": np.zeros((2, L + 1), "int32"), "puzzle_identifiers": np.zeros((2,), "int32")}, "takes"),
        ({"inputs": np.zeros((2, L), "int32"), "puzzle_identifiers": np.zeros((3,), "int32")}, "for 2 rows"),
    ],
)
def test_a_bad_call_is_a_clear_error_and_leaves_the_solver_usable(tmp_path, bad, message):
    solver = _solver(halt_max_steps=2)
    x = {"inputs": np.ones((B, L), "int32"), "puzzle_identifiers": np.zeros((B,), "int32")}
    y = np.ones((B, L), "int32")
    for call in (
        lambda: solver.predict(bad, verbose=0),
        lambda: solver.evaluate(bad, y, verbose=0),
        lambda: solver.fit(bad, y, verbose=0),
    ):
        with pytest.raises(ValueError, match="expected .*" + re.escape(message)):
            call()
    out = solver.predict(x, batch_size=B, verbose=0)  # the weights are still there (JAX purges them mid-call)
    solver.save_to_preset(str(tmp_path / "preset"))
    restored = TRMPuzzleSolver.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(restored.predict(x, batch_size=B, verbose=0)["logits"], out["logits"], atol=1e-5)
