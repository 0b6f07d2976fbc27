import json

import keras
import numpy as np
import pytest

from keras_trm.data import arc
from keras_trm.data.errors import DataFormatError
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.transforms import apply_variant
from keras_trm.evaluation import ARCEvaluator

CONCEPT_DIR = arc.default_concept_arc_dir()
needs_concept = pytest.mark.usefixtures()  # ConceptARC ships inside the package: always there
IDENTITY = np.arange(10)


# ------------------------------------------------------------------------------------------------ oracle
@pytest.fixture(scope="module")
def concept_build(tmp_path_factory):
    tasks = arc.load_concept_arc()
    ids = sorted(tasks)
    root = tmp_path_factory.mktemp("arc") / "concept"
    arc.build_arc_dataset_from_tasks(
        root,
        {"concept-train": {k: tasks[k] for k in ids[:2]}},
        {"concept-eval": {k: tasks[k] for k in ids[2:5]}},
        num_variants=3,
        seed=1,
        progress=False,
    )
    return root, {k: tasks[k] for k in ids[2:5]}


def _batches(ds, batch_size):
    """Eval-mode batches (x, y, sample_weight) with padded last batch, as fed to model.predict."""
    try:
        from keras_trm.data.sampler import PuzzleBatches

        loader = PuzzleBatches(ds, batch_size, mode="eval")
        return [loader[i] for i in range(len(loader))]
    except ImportError:  # pragma: no cover
        rows = np.arange(ds.num_examples)
        pid = np.repeat(ds.puzzle_identifiers, np.diff(ds.puzzle_indices))
        out = []
        for s in range(0, len(rows), batch_size):
            r = rows[s : s + batch_size]
            pad = batch_size - len(r)
            x = {"inputs": np.pad(ds.inputs[r], ((0, pad), (0, 0))), "puzzle_identifiers": np.pad(pid[r], (0, pad))}
            out.append((x, np.pad(ds.labels[r], ((0, pad), (0, 0))), np.r_[np.ones(len(r)), np.zeros(pad)]))
        return out


@needs_concept
def test_oracle_pass_at_1(concept_build, tmp_path):
    root, tasks = concept_build
    ds = PuzzleDataset(root, "test")
    assert ds.num_puzzles == 3 * 4  # 3 eval tasks x (identity + 3 variants)
    ev = ARCEvaluator.from_dataset(root, train_metadata=root)
    batches = _batches(ds, 7)
    assert (batches[-1][2] == 0).any()  # padding rows present and skipped
    for x, y, _ in batches:
        # the "model" outputs the true label tokens, as backend tensors; halt logits random
        ev.update_from_outputs(
            {
                "preds": keras.ops.convert_to_tensor(y),
                "q_halt_logits": keras.ops.convert_to_tensor(np.random.randn(len(y))),
            },
            (x, y),
        )
    res = ev.result()
    assert res == {f"pass@{k}": 1.0 for k in (1, 2, 5, 10, 100, 1000)}
    sub = ev.submission()
    assert set(sub) == set(tasks)
    for tid, task in tasks.items():
        assert len(sub[tid]) == len(task.test)
        for att, (_, out) in zip(sub[tid], task.test):
            assert att == {"attempt_1": out.tolist(), "attempt_2": out.tolist()}
    # each test input got one vote per variant for a single answer
    for tid, task in tasks.items():
        ranked = ev.ranked_answers(tid, task.test[0][0])
        assert len(ranked) == 1 and ranked[0][1] == 4


@needs_concept
def test_oracle_logits_and_leakage(concept_build):
    root, _ = concept_build
    ds = PuzzleDataset(root, "test")
    ev = ARCEvaluator.from_dataset(root, pass_ks=(1,))
    y = np.asarray(ds.labels)
    logits = np.eye(12, dtype=np.float32)[y]  # (N, 900, 12) -> argmax inside
    pid = np.repeat(ds.puzzle_identifiers, np.diff(ds.puzzle_indices))
    ev.update(logits, np.zeros(len(y)), pid, np.asarray(ds.inputs))
    assert ev.result() == {"pass@1": 1.0}
    meta = json.load(open(root / "metadata.json"))
    meta["arc"]["training_sources"] = ["arc-agi-2/training"]
    meta["benchmark"] = "arc-agi-2"
    # a model trained on the build's evaluation tasks' test outputs is refused
    meta["arc"]["train_only_task_ids"] = sorted(ev.tasks)
    with pytest.raises(arc.ARCLeakageError):
        ARCEvaluator.from_dataset(root, train_metadata=meta)


# ------------------------------------------------------------------------------------------------ constructed mix
def _grid(seed, shape=(2, 3)):
    return np.random.default_rng(seed).integers(0, 10, shape).astype(np.uint8)


CMAP = np.array([0, 3, 1, 2, 5, 4, 9, 8, 7, 6])


def _mix():
    """3 tasks; answers given as (identifier, test input, answer, halt logit) in original space."""
    A_in1, A_in2, B_in, C_in = _grid(1), _grid(2, (3, 3)), _grid(3, (4, 1)), _grid(4)
    A_out1, A_out2, B_out, C_out = _grid(11), _grid(12), _grid(13, (2, 2)), _grid(14)
    tasks = {
        "A": {
            "test": [
                {"input": A_in1.tolist(), "output": A_out1.tolist()},
                {"input": A_in2.tolist(), "output": A_out2.tolist()},
            ]
        },
        "B": {"test": [{"input": B_in.tolist(), "output": B_out.tolist()}]},
        "C": {"test": [{"input": C_in.tolist(), "output": C_out.tolist()}]},
    }
    # identifier 1 + 6*task + v; variant v uses tid v % 8 and colour map CMAP for odd v; official names
    transforms = {1 + 6 * t + v: (v, CMAP if v % 2 else IDENTITY) for t in range(3) for v in range(6)}
    names = ["<blank>"] + [
        arc.variant_name(t, *transforms[1 + 6 * i + v]) if v else t for i, t in enumerate("ABC") for v in range(6)
    ]
    w1, w2, w3 = _grid(21), _grid(22), _grid(23, (5, 5))
    rows = [
        # A, input 1: right x2, wrong x3 -> right ranked 2nd
        (1, A_in1, A_out1, 0.0),
        (2, A_in1, A_out1, 0.0),
        (3, A_in1, w1, -5.0),
        (4, A_in1, w1, -5.0),
        (5, A_in1, w1, -5.0),
        # A, input 2: right x1 and wrong x1, tie broken by halt probability -> right 1st
        (1, A_in2, w2, -1.0),
        (2, A_in2, A_out2, 3.0),
        # B: wrong answers with 3, 2, 2 votes (tie by halt), right with 1 -> 4th
        (7, B_in, w1, 0.0),
        (8, B_in, w1, 0.0),
        (9, B_in, w1, 0.0),
        (10, B_in, w2, 1.0),
        (11, B_in, w2, 1.0),
        (12, B_in, w3, 0.5),
        (7, B_in, w3, 0.5),
        (8, B_in, B_out, 9.0),
        # C: only an empty (all-PAD) prediction -> never right
        (13, C_in, None, 0.0),
    ]
    return names, transforms, tasks, rows


def _encode(rows, transforms):
    preds, halts, ids, inputs = [], [], [], []
    for ident, x, answer, h in rows:
        tid, cmap = transforms[ident]
        inputs.append(arc.grid_to_tokens(apply_variant(x, tid, cmap)))
        preds.append(
            np.zeros(900, np.uint8) if answer is None else arc.grid_to_tokens(apply_variant(answer, tid, cmap))
        )
        halts.append(h)
        ids.append(ident)
    return np.stack(preds), np.array(halts), np.array(ids), np.stack(inputs)


def test_constructed_mix_pass_at_k(tmp_path):
    names, transforms, tasks, rows = _mix()
    ev = ARCEvaluator(names, transforms, tasks)
    preds, halts, ids, inputs = _encode(rows, transforms)
    # fed in two batches, with padding rows (identifier 0, garbage predictions) in between
    pad = np.full((2, 900), 7)
    ev.update(np.r_[preds[:6], pad], np.r_[halts[:6], [0, 0]], np.r_[ids[:6], [0, 0]], np.r_[inputs[:6], pad])
    ev.update(preds[6:], halts[6:], ids[6:], inputs[6:])
    # A: pass@1 (0 + 1)/2, pass@2+ 1; B: right at rank 4 -> pass@5+; C: never
    expected = {1: (0.5 + 0 + 0) / 3, 2: (1 + 0 + 0) / 3, 5: (1 + 1 + 0) / 3, 10: 2 / 3, 100: 2 / 3, 1000: 2 / 3}
    res = ev.result()
    for k, v in expected.items():
        assert res[f"pass@{k}"] == pytest.approx(v, abs=1e-12)
    # ranking details
    rb = ev.ranked_answers("B", _grid(3, (4, 1)))
    assert [c for _, c, _ in rb] == [3, 2, 2, 1]
    np.testing.assert_array_equal(rb[1][0], _grid(22))  # w2 (mean halt sigmoid(1)) before w3 (sigmoid(.5))
    assert rb[0][2] == pytest.approx(0.5)

    # submission content
    path = ev.write_submission(tmp_path)
    assert path == tmp_path / "submission.json"
    sub = json.load(open(path))
    assert list(sub) == ["A", "B", "C"] and [len(v) for v in sub.values()] == [2, 1, 1]
    assert sub["A"][0] == {"attempt_1": _grid(21).tolist(), "attempt_2": _grid(11).tolist()}
    assert sub["A"][1] == {"attempt_1": _grid(12).tolist(), "attempt_2": _grid(22).tolist()}
    assert sub["B"][0] == {"attempt_1": _grid(21).tolist(), "attempt_2": _grid(22).tolist()}
    assert sub["C"][0] == {"attempt_1": [[0]], "attempt_2": [[0]]}  # empty crop -> placeholder
    assert json.load(open(ev.write_submission(tmp_path / "sub" / "s.json"))) == sub


def test_single_answer_is_repeated_and_missing_inputs():
    names, transforms, tasks, rows = _mix()
    ev = ARCEvaluator(names, transforms, tasks, submission_k=3)
    ev.update(*_encode(rows[5:7], transforms))  # only A's second input answered
    sub = ev.submission()
    assert sub["A"][1] == {
        "attempt_1": _grid(12).tolist(),
        "attempt_2": _grid(22).tolist(),
        "attempt_3": _grid(12).tolist(),
    }
    assert sub["A"][0] == {f"attempt_{i}": [[0]] for i in (1, 2, 3)}  # no prediction at all
    assert ev.result()["pass@1"] == pytest.approx(0.5 / 3)
    ev.reset()
    assert ev.result()["pass@1000"] == 0.0


def test_full_tie_keeps_first_seen():
    names, transforms, tasks, _ = _mix()
    x = _grid(3, (4, 1))
    ev = ARCEvaluator(names, transforms, tasks)
    ev.update(*_encode([(7, x, _grid(13, (2, 2)), 0.0), (8, x, _grid(21), 0.0)], transforms))
    assert ev.result()["pass@1"] == pytest.approx(1 / 3)
    ev = ARCEvaluator(names, transforms, tasks)
    ev.update(*_encode([(8, x, _grid(21), 0.0), (7, x, _grid(13, (2, 2)), 0.0)], transforms))
    assert ev.result()["pass@1"] == 0.0 and ev.result()["pass@2"] == pytest.approx(1 / 3)


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_inputs():
    names, transforms, tasks, rows = _mix()
    ev = ARCEvaluator(names, transforms, tasks)
    preds, halts, ids, inputs = _encode(rows[:3], transforms)
    with pytest.raises(ValueError, match="expected preds"):
        ev.update(preds[:, :800], halts, ids, inputs)
    with pytest.raises(ValueError, match="expected preds"):
        ev.update(preds, halts[:2], ids, inputs)
    with pytest.raises(ValueError, match="not a variant"):
        ev.update(preds, halts, np.array([1, 2, 99]), inputs)
    with pytest.raises(KeyError, match="halt"):
        ev.update_from_outputs({"preds": preds}, {"inputs": inputs, "puzzle_identifiers": ids})
    with pytest.raises(ValueError, match="unknown puzzle identifier"):
        ARCEvaluator(names, {99: (0, IDENTITY)}, tasks)
    with pytest.raises(ValueError, match="colour permutation"):
        ARCEvaluator(names, {1: (0, np.arange(1, 11))}, tasks)
    with pytest.raises(DataFormatError, match="oversized") as e:
        ARCEvaluator(names, transforms, {"T": {"test": [{"input": [[0] * 31], "output": [[0]]}]}})
    assert e.value.task == "T"
    with pytest.raises(ValueError, match="no tasks"):
        ARCEvaluator(names, transforms, {}).result()


# ------------------------------------------------------------------------------------------ votes across evaluations
def _two_evaluations():
    """Task B's one test input over two evaluations (hand-counted votes, original space):
    evaluation 1: right x3 (halt logit 0 -> p 0.5), wrong w1 x1;  evaluation 2: wrong w1 x2, right x1 (logit ln 3 ->
    p 0.75). Aggregated: right 4 votes, w1 3 -> right first. The last evaluation alone: w1 2, right 1 -> w1 first."""
    names, transforms, tasks, _ = _mix()
    B_in, B_out, w1 = _grid(3, (4, 1)), _grid(13, (2, 2)), _grid(21)
    first = [(7, B_in, B_out, 0.0), (8, B_in, B_out, 0.0), (9, B_in, B_out, 0.0), (10, B_in, w1, 0.0)]
    second = [(11, B_in, w1, 0.0), (12, B_in, w1, 0.0), (7, B_in, B_out, float(np.log(3.0)))]
    return names, transforms, tasks, first, second, B_in, B_out, w1


def _vote_twice(ev, transforms, first, second):
    for rows in (first, second):
        ev.begin_evaluation()
        ev.update(*_encode(rows, transforms))


def test_aggregated_votes_pick_what_the_last_evaluation_alone_does_not():
    names, transforms, tasks, first, second, B_in, B_out, w1 = _two_evaluations()
    ev = ARCEvaluator(names, transforms, tasks)  # the default: aggregated, as the official evaluator
    _vote_twice(ev, transforms, first, second)
    ranked = ev.ranked_answers("B", B_in)
    assert [c for _, c, _ in ranked] == [4, 3]
    np.testing.assert_array_equal(ranked[0][0], B_out)
    assert ranked[0][2] == pytest.approx((3 * 0.5 + 0.75) / 4)  # mean halt probability over both evaluations
    res = ev.result()  # tasks A, B, C: only B answered, right at rank 1
    assert res["pass@1"] == pytest.approx(1 / 3) and res["pass@2"] == pytest.approx(1 / 3)
    assert ev.evaluations == 2 and ev.voting_label() == "votes aggregated over 2 evaluations"
    rep = ev.report()
    assert rep["voting"] == "aggregated" and rep["voted_evaluations"] == 2
    assert rep["voting_label"] == "votes aggregated over 2 evaluations" and rep["pass@1"] == res["pass@1"]
    assert ev.submission()["B"][0] == {"attempt_1": B_out.tolist(), "attempt_2": w1.tolist()}


def test_per_evaluation_votes_count_only_the_last_evaluation():
    names, transforms, tasks, first, second, B_in, B_out, w1 = _two_evaluations()
    ev = ARCEvaluator(names, transforms, tasks, voting="per_evaluation")
    _vote_twice(ev, transforms, first, second)
    ranked = ev.ranked_answers("B", B_in)
    assert [c for _, c, _ in ranked] == [2, 1]
    np.testing.assert_array_equal(ranked[0][0], w1)
    assert ranked[1][2] == pytest.approx(0.75)
    res = ev.result()
    assert res["pass@1"] == 0.0 and res["pass@2"] == pytest.approx(1 / 3)
    assert ev.evaluations == 1 and ev.voting_label() == "votes of this evaluation only"
    assert ev.report()["voting"] == "per_evaluation"
    assert ev.submission()["B"][0] == {"attempt_1": w1.tolist(), "attempt_2": B_out.tolist()}


def test_default_voting_stays_aggregated():
    """Regression: the official evaluator's default (aggregated_voting=True) is ours too."""
    import inspect

    names, transforms, tasks, first, second, *_ = _two_evaluations()
    assert inspect.signature(ARCEvaluator).parameters["voting"].default == "aggregated"
    ev = ARCEvaluator(names, transforms, tasks)
    assert ev.voting == "aggregated"
    _vote_twice(ev, transforms, first, second)
    assert ev.result()["pass@1"] == pytest.approx(1 / 3)  # 0.0 if the second evaluation dropped the first's votes


def test_evaluation_count_reset_and_bad_mode():
    names, transforms, tasks, first, second, B_in, *_ = _two_evaluations()
    ev = ARCEvaluator(names, transforms, tasks)
    assert ev.evaluations == 0 and ev.voting_label() == "votes aggregated over 0 evaluations"
    ev.update(*_encode(first[:2], transforms))  # votes without begin_evaluation: one (implied) evaluation
    ev.update(*_encode(first[2:], transforms))
    assert ev.evaluations == 1 and ev.voting_label() == "votes aggregated over 1 evaluation"
    ev.begin_evaluation()
    ev.update(*_encode(second, transforms))
    assert ev.evaluations == 2 and [c for _, c, _ in ev.ranked_answers("B", B_in)] == [4, 3]
    ev.reset()  # drops every vote whatever the mode
    assert ev.evaluations == 0 and ev.ranked_answers("B", B_in) == [] and ev.result()["pass@1000"] == 0.0
    with pytest.raises(ValueError, match="voting must be one of"):
        ARCEvaluator(names, transforms, tasks, voting="last")


class _ScriptedSolver:
    """predict_on_batch answers from a script: one list of (preds, halt logits) batches per evaluation."""

    def __init__(self, evaluations):
        self.calls = [batch for evaluation in evaluations for batch in evaluation]

    def predict_on_batch(self, x):
        preds, halts = self.calls.pop(0)
        return {"preds": preds, "q_halt_logits": halts}


@pytest.mark.parametrize("voting", ["aggregated", "per_evaluation"])
def test_arc_pass_at_k_votes_across_calls_and_names_the_mode(voting):
    from keras_trm.callbacks import arc_pass_at_k

    names, transforms, tasks, first, second, *_ = _two_evaluations()
    batches = []
    for rows in (first, second):
        preds, halts, ids, inputs = _encode(rows, transforms)
        batches.append(({"inputs": inputs, "puzzle_identifiers": ids}, (preds, halts)))
    ev = ARCEvaluator(names, transforms, tasks, voting=voting)
    solver = _ScriptedSolver([[batches[0][1]], [batches[1][1]]])
    eval_fns = [arc_pass_at_k(ev, [(batches[0][0],)]), arc_pass_at_k(ev, [(batches[1][0],)])]
    eval_fns[0](solver)
    out = eval_fns[1](solver)  # the second evaluation of the same evaluator
    expected = {"aggregated": (1 / 3, 2.0), "per_evaluation": (0.0, 1.0)}[voting]
    assert set(out) == {f"pass@{k}/{voting}" for k in (1, 2, 5, 10, 100, 1000)} | {"voted_evaluations"}
    assert out[f"pass@1/{voting}"] == pytest.approx(expected[0]) and out["voted_evaluations"] == expected[1]
    assert out[f"pass@2/{voting}"] == pytest.approx(1 / 3)


def test_small_canvas_and_tasks_without_test_outputs(tmp_path):
    """Any square canvas (here 4x4: 16 tokens); a test input without an output is voted and submitted, not scored."""
    from keras_trm.data import arc as arc_mod

    x1, y1 = np.array([[1, 2]]), np.array([[2, 1]])
    x2 = np.array([[3], [4]])
    tasks = {
        "known": {"test": [{"input": x1.tolist(), "output": y1.tolist()}]},
        "blind": {"test": [{"input": x2.tolist()}]},
    }
    names = ["<blank>", "known", "blind"]
    ev = ARCEvaluator(names, {1: (0, np.arange(10)), 2: (0, np.arange(10))}, tasks)
    inputs = np.stack([arc_mod.grid_to_tokens(x1, canvas=4), arc_mod.grid_to_tokens(x2, canvas=4)])
    preds = np.stack([arc_mod.grid_to_tokens(y1, canvas=4), arc_mod.grid_to_tokens(x2, canvas=4)])
    ev.update(preds, np.zeros(2), np.array([1, 2]), inputs)
    assert ev.result()["pass@1"] == 1.0  # scored on "known" alone
    sub = ev.submission()
    assert sub["blind"] == [{"attempt_1": [[3], [4]], "attempt_2": [[3], [4]]}]
    path = ev.write_submission(tmp_path)
    assert path.name == "submission.json" and not list(tmp_path.glob("*.tmp"))
    only_blind = ARCEvaluator(["<blank>", "blind"], {1: (0, np.arange(10))}, {"blind": tasks["blind"]})
    with pytest.raises(ValueError, match="no test outputs are known"):
        only_blind.result()
