"""Test-time adaptation's mechanics (`keras_trm.adaptation`): new rows, what trains, determinism, test outputs never
used, the time budget, the submission and the adapted preset solving its tasks by id."""

import json

import keras
import numpy as np
import pytest

from keras_trm.adaptation import adapt, predict_tasks
from keras_trm.adaptation.command import format_solution, solve_task_file
from keras_trm.data import arc as arc_data
from keras_trm.data import arc_families
from keras_trm.models import TRMBackbone, TRMPuzzleSolver

CANVAS = 4


def tiny_solver(rows=3, seed=0):
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=arc_data.VOCAB_SIZE,
        sequence_length=CANVAS * CANVAS,
        hidden_dim=16,
        num_heads=2,
        num_layers=1,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_len=1,
        num_puzzle_identifiers=rows,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2, seed=seed)
    table = np.random.default_rng(seed).normal(size=(rows, 16)).astype("float32")
    solver.backbone.puzzle_embedding_table.assign(table)
    return solver


def np_weights(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.backbone.weights]


@pytest.fixture(scope="module")
def tasks():
    return arc_families.generate_tasks(["flip_horizontal", "transpose"], 1, seed=3, min_size=2, max_size=3)


def run_adapt(solver, tasks, **kwargs):
    kwargs = dict(dict(steps=3, variants=1, seed=5, batch_size=4, progress=False), **kwargs)
    return adapt(solver, tasks, **kwargs)


def test_new_rows_are_the_mean_and_only_they_train(tasks):
    solver = tiny_solver()
    before = np_weights(solver)
    old_table = np.array(keras.ops.convert_to_numpy(solver.backbone.puzzle_embedding_table))
    result = run_adapt(solver, tasks, steps=1, puzzle_emb_learning_rate=0.0, puzzle_emb_weight_decay=0.0)
    table = np.array(keras.ops.convert_to_numpy(result.solver.backbone.puzzle_embedding_table))
    n_new = sum(len(v) for v in result.identifiers.values())
    assert n_new == 4 and table.shape == (3 + 4, 16)  # 2 tasks x (identity + 1 variant)
    np.testing.assert_array_equal(table[:3], old_table)
    np.testing.assert_allclose(table[3:], np.repeat(old_table.mean(0, keepdims=True), 4, 0), atol=1e-6)
    # the given solver is untouched
    for a, b in zip(before, np_weights(solver)):
        np.testing.assert_array_equal(a, b)

    result = run_adapt(solver, tasks, steps=3, train="puzzle_embedding")
    after = np_weights(result.solver)
    table_id = [
        i for i, v in enumerate(result.solver.backbone.weights) if v is result.solver.backbone.puzzle_embedding_table
    ]
    for i, (a, b) in enumerate(zip(before, after)):
        if i not in table_id:
            np.testing.assert_array_equal(a, b)  # the network does not move
    table = after[table_id[0]]
    np.testing.assert_array_equal(table[:3], old_table)  # old rows do not move
    assert not np.allclose(table[3:], old_table.mean(0))  # new rows do

    result = run_adapt(solver, tasks, steps=3, train="all", learning_rate=1e-2)
    moved = [
        not np.array_equal(a, b) for i, (a, b) in enumerate(zip(before, np_weights(result.solver))) if i not in table_id
    ]
    assert any(moved)


def test_spec_names_the_rows_and_variants_come_from_demonstrations(tasks):
    result = run_adapt(tiny_solver(), tasks)
    spec = result.solver.puzzle_spec
    assert result.new_task_ids == list(tasks)
    for task_id, idents in result.identifiers.items():
        assert spec.identifiers[idents[0]] == task_id  # the identity variant is named by the id alone
        assert [i for i, _, _ in spec.variants_of(task_id)] == idents
        for ident in idents[1:]:
            assert arc_data.task_id_of(spec.identifiers[ident]) == task_id
            assert arc_data.parse_puzzle_name(spec.identifiers[ident])[1] == spec.transforms[ident][0]


def test_deterministic_and_test_outputs_never_used(tasks):
    first = run_adapt(tiny_solver(), tasks, train="all", learning_rate=1e-2)
    poisoned = {
        t: arc_data.ARCTask(t, train=task.train, test=[(i, np.zeros((1, 1), np.uint8)) for i, _ in task.test])
        for t, task in tasks.items()
    }
    second = run_adapt(tiny_solver(), poisoned, train="all", learning_rate=1e-2)
    for a, b in zip(np_weights(first.solver), np_weights(second.solver)):
        np.testing.assert_array_equal(a, b)
    assert first.history == second.history


def test_time_budget_stops_cleanly(tasks):
    result = run_adapt(tiny_solver(), tasks, steps=50, max_minutes=0)
    assert result.steps == 1 and result.stopped_by_time and result.requested_steps == 50
    ev = predict_tasks(result.solver, tasks)  # the stopped solver still predicts
    assert set(ev.submission()) == set(tasks)


def test_known_tasks_are_not_adapted_again(tasks):
    once = run_adapt(tiny_solver(), tasks)
    again = run_adapt(once.solver, tasks)
    assert again.new_task_ids == [] and again.known_task_ids == list(tasks) and again.steps == 0


def test_bad_arguments_are_clear(tasks):
    solver = tiny_solver()
    with pytest.raises(ValueError, match="train must be one of"):
        run_adapt(solver, tasks, train="everything")
    big = arc_families.generate_tasks(["flip_vertical"], 1, seed=0, min_size=5, max_size=5)
    with pytest.raises(arc_data.DataFormatError, match="does not fit the 4x4 canvas"):
        run_adapt(solver, big)


def test_submission_and_preset_solve_by_id(tasks, tmp_path):
    result = run_adapt(tiny_solver(), tasks)
    ev = predict_tasks(result.solver, tasks)
    path = ev.write_submission(tmp_path / "submission.json")
    sub = json.loads(path.read_text())
    assert set(sub) == set(tasks)
    for task_id, entries in sub.items():
        assert len(entries) == len(tasks[task_id].test)
        assert all(set(e) == {"attempt_1", "attempt_2"} for e in entries)
    result.solver.save_to_preset(str(tmp_path / "preset"))
    loaded = TRMPuzzleSolver.from_preset(str(tmp_path / "preset"))
    assert loaded.puzzle_spec.variants_of(next(iter(tasks)))
    ev2 = predict_tasks(loaded, tasks)
    assert ev2.submission() == ev.submission()
    # ARC solve: by id, both attempts, votes, correctness
    task_id = next(iter(tasks))
    (tmp_path / f"{task_id}.json").write_text(json.dumps(tasks[task_id].to_json()))
    out = solve_task_file(loaded, tmp_path / f"{task_id}.json")
    assert out["known"] and len(out["tests"][0]["attempts"]) == 2
    assert out["tests"][0]["variants"] == len(result.identifiers[task_id])
    assert out["tests"][0]["correct"] is not None
    text = format_solution(out)
    assert "attempt 1" in text and "attempt 2" in text and "its own puzzle rows" in text


def test_adapt_command_writes_submission_and_preset(tmp_path):
    from keras_trm.adaptation import command
    from keras_trm.cli import build_parser

    tasks = arc_families.generate_tasks(["flip_horizontal"], 2, seed=9, min_size=2, max_size=3)
    challenges, solutions = arc_families.write_kaggle_files(tasks, tmp_path / "kaggle", name="test")
    solutions.unlink()  # as on Kaggle: the challenges alone
    tiny_solver().save_to_preset(str(tmp_path / "model"))
    parser = build_parser()
    argv = ["adapt", str(tmp_path / "model"), str(challenges), str(tmp_path / "out"), "--steps", "2", "--no-progress"]
    summary = command.run(parser.parse_args(argv + ["--variants", "1"]))
    assert summary["steps"] == 2 and summary["new_task_ids"] == list(tasks) and "score" not in summary
    sub = json.loads((tmp_path / "out" / "submission.json").read_text())
    assert sorted(sub) == sorted(tasks)
    assert json.loads((tmp_path / "out" / "adaptation.json").read_text())["steps"] == 2
    loaded = TRMPuzzleSolver.from_preset(str(tmp_path / "out" / "preset"))
    assert all(loaded.puzzle_spec.variants_of(t) for t in tasks)
