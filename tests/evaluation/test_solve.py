"""Solve API: parsing, batching, decoding, confidence and steps, halting option, and the ARC variant/vote path."""

import keras
import numpy as np
import pytest

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.data import arc as arc_data
from keras_trm.data.transforms import apply_variant
from keras_trm.evaluation.solve import run_solver, solve_arc, solve_maze, solve_sudoku
from keras_trm.presets import PuzzleSpec

SUDOKU_Q = "3.21..34.3.2.1.."  # a 4x4 puzzle ('.' blank) and its solution
SUDOKU_A = "3421123443122143"


class OracleSolver:
    """Stands in for a trained solver: answers every input row with `answer_of(tokens, identifier)`."""

    def __init__(self, answer_of, vocab, spec=None, halt_logit=2.0, steps=3):
        self.answer_of, self.vocab, self.puzzle_spec = answer_of, vocab, spec
        self.halt_logit, self.steps = halt_logit, steps
        self.halt_at_inference, self.predict_function, self.calls = False, None, []

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(x["inputs"]))

    def predict(self, x, batch_size=None, verbose=0):
        inputs, ids = x["inputs"], x["puzzle_identifiers"]
        self.calls.append((len(inputs), batch_size, self.halt_at_inference, ids.copy()))
        answers = np.stack([self.answer_of(t, i) for t, i in zip(inputs, ids)])
        logits = np.eye(self.vocab, dtype="float32")[answers]
        halt = np.full((len(inputs),), self.halt_logit, "float32")
        return {
            "logits": logits,
            "q_halt_logits": halt,
            "q_continue_logits": -halt,
            "steps": np.full((len(inputs),), 1 if self.halt_at_inference else self.steps, "int32"),
        }


def tiny_sudoku_solver():
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
    )
    backbone.q_head.bias.assign(np.array([0.5, -1.0], "float32"))  # halt logit > 0: halting stops at step 1
    return TRMPuzzleSolver(backbone, halt_max_steps=3)


def test_sudoku_with_a_real_tiny_model_batches_and_reports_confidence_and_steps():
    solver = tiny_sudoku_solver()
    digits = np.array([[0 if c == "." else int(c) for c in SUDOKU_Q]] * 5)
    digits[1, 0] = 0
    out = solve_sudoku(solver, digits, batch_size=2)  # 5 rows in batches of 2 (the last one padded)
    assert out["grids"].shape == (5, 4, 4) and out["tokens"].shape == (5, 16) and len(out["strings"]) == 5
    assert out["grids"].min() >= 0 and out["grids"].max() <= 4
    np.testing.assert_array_equal(out["steps"], 3)
    direct = solver.predict(
        {"inputs": digits.astype("int32") + 1, "puzzle_identifiers": np.zeros(5, "int32")}, batch_size=5, verbose=0
    )
    np.testing.assert_allclose(out["confidence"], 1 / (1 + np.exp(-direct["q_halt_logits"])), rtol=1e-5)
    np.testing.assert_array_equal(out["tokens"], direct["logits"].argmax(-1))
    same = solve_sudoku(solver, digits, batch_size=5)
    np.testing.assert_array_equal(same["tokens"], out["tokens"])
    # Strings ('.' or '0' blanks) and token arrays give the same input.
    from_str = solve_sudoku(solver, [SUDOKU_Q, SUDOKU_Q.replace(".", "0")])
    from_tokens = solve_sudoku(solver, digits[:1] + 1, tokens=True)
    np.testing.assert_array_equal(from_str["tokens"][0], out["tokens"][0])
    np.testing.assert_array_equal(from_str["tokens"][1], out["tokens"][0])
    np.testing.assert_array_equal(from_tokens["tokens"][0], out["tokens"][0])
    # Halting at inference: rows stop once the halt logit is positive; the solver's own rule is unchanged.
    halted = solve_sudoku(solver, digits, batch_size=5, halt=True)
    assert np.all(halted["steps"] <= 3) and np.all(halted["steps"] >= 1)
    assert solver.halt_at_inference is None
    assert (
        solver.predict(
            {"inputs": digits.astype("int32") + 1, "puzzle_identifiers": np.zeros(5, "int32")}, batch_size=5, verbose=0
        )["steps"].tolist()
        == [3] * 5
    )


def test_sudoku_decoding_with_an_oracle():
    answer = np.array([int(c) + 1 for c in SUDOKU_A])
    oracle = OracleSolver(lambda t, i: answer, vocab=6, spec=PuzzleSpec.sudoku(4), halt_logit=0.0)
    out = solve_sudoku(oracle, SUDOKU_Q)
    assert out["strings"] == [SUDOKU_A] and out["valid"].tolist() == [True]
    np.testing.assert_array_equal(out["grids"][0], np.array([int(c) for c in SUDOKU_A]).reshape(4, 4))
    np.testing.assert_allclose(out["confidence"], [0.5])
    assert out["steps"].tolist() == [3]
    # A wrong answer (a given changed) is decoded but not valid.
    wrong = answer.copy()
    wrong[0] = 3
    bad = OracleSolver(lambda t, i: wrong, vocab=6, spec=PuzzleSpec.sudoku(4))
    assert solve_sudoku(bad, SUDOKU_Q)["valid"].tolist() == [False]


@pytest.mark.parametrize("bad", ["3.21..34.3.2.1.", "3.21..34.3.2.1.9", "3x21..34.3.2.1.."])
def test_sudoku_bad_strings_are_refused(bad):
    oracle = OracleSolver(lambda t, i: t, vocab=6, spec=PuzzleSpec.sudoku(4))
    with pytest.raises(ValueError, match="puzzle 0"):
        solve_sudoku(oracle, bad)


def test_maze_with_an_oracle():
    question = ["S  #", "## #", "   #", "G###"]
    answer = ["Soo#", "##o#", "ooo#", "G###"]
    ids = {c: i + 1 for i, c in enumerate("# SGo")}
    tok = lambda rows: np.array([ids[c] for c in "".join(rows)])  # noqa: E731
    oracle = OracleSolver(lambda t, i: tok(answer), vocab=6, spec=PuzzleSpec.maze(4))
    out = solve_maze(oracle, ["\n".join(question), "".join(question), question], batch_size=2)
    assert out["grids"] == [answer] * 3 and out["strings"][0] == "".join(answer)
    assert out["valid"].tolist() == [True] * 3
    assert [c[:3] for c in oracle.calls] == [(2, 2, False)] * 2  # padded to a multiple of the batch, 2 batches
    assert solve_maze(oracle, tok(question)[None], tokens=True)["grids"] == [answer]
    with pytest.raises(ValueError, match="characters"):
        solve_maze(oracle, "S  #X# #   #G###")


def _arc_task():
    rng = np.random.default_rng(0)
    rule = lambda g: np.fliplr(g)  # noqa: E731  the task: mirror left-right
    grids = [rng.integers(0, 10, (3, 4)) for _ in range(3)]
    tests = [rng.integers(0, 10, (2, 5)), rng.integers(0, 10, (4, 2))]
    task = {
        "train": [{"input": g.tolist(), "output": rule(g).tolist()} for g in grids],
        "test": [{"input": g.tolist(), "output": rule(g).tolist()} for g in tests],
    }
    return task, rule


def _arc_oracle(task, rule, variants_by_id=None):
    """Answers each variant's test input with the variant of the true output (crop -> undo -> rule -> redo)."""

    def answer_of(tokens, ident):
        if not tokens.any():
            return tokens  # a padding row of the last batch
        grid = arc_data.crop_tokens(tokens)
        for tid, cmap in [variants_by_id[int(ident)]] if variants_by_id else _all_variants():
            from keras_trm.data.transforms import undo_variant

            x = undo_variant(grid, tid, cmap)
            if any(np.array_equal(x, np.array(p["input"])) for p in task["test"]):
                return arc_data.grid_to_tokens(apply_variant(rule(x), tid, cmap))
        raise AssertionError("input is not a variant of a test input")

    return answer_of


def _all_variants():
    return [(t, np.arange(10)) for t in range(8)]


def test_arc_unknown_task_builds_variants_votes_and_returns_two_attempts():
    task, rule = _arc_task()
    seen = {}

    def answer_of(tokens, ident):
        if not tokens.any():
            return tokens  # a padding row of the last batch
        assert ident == 0  # an unknown task runs with the blank identifier
        grid = arc_data.crop_tokens(tokens)
        key = arc_data.grid_key(grid)
        seen[key] = seen.get(key, 0) + 1
        # Wrong on every variant whose grid is not the identity orientation for half the variants: the vote
        # still finds the true answer as long as the right variants agree.
        return tokens  # echo the input: a deliberately wrong "model"

    echo = OracleSolver(answer_of, vocab=12)
    out = solve_arc(echo, task, task_id="t", num_variants=4, batch_size=3)
    assert out["num_variants"] == 4 and len(out["attempts"]) == 2
    assert all(len(a) == 2 for a in out["attempts"])
    assert out["pass@1"] == 0.0  # echoing the input never gives the mirrored output
    # Echo undone through each variant gives back the test input: the top answer is the input itself.
    assert out["attempts"][0][0] == task["test"][0]["input"]
    assert out["ranked"][0][0][1] == 4  # all 4 variants voted for it
    assert set(out["submission"]) == {"t"} and set(out["submission"]["t"][0]) == {"attempt_1", "attempt_2"}


def test_arc_oracle_through_known_variants_scores_pass_at_1():
    task, rule = _arc_task()
    rng = np.random.default_rng(1)
    variants = {
        1: (0, np.arange(10)),
        2: (3, np.concatenate([[0], rng.permutation(9) + 1])),
        3: (6, np.concatenate([[0], rng.permutation(9) + 1])),
        4: (0, np.arange(10)),
    }
    names = (
        ["<blank>"] + [arc_data.variant_name("t", *variants[i]) if i in (2, 3) else "t" for i in (1, 2, 3)] + ["other"]
    )
    spec = PuzzleSpec.arc("arc-agi-1", identifiers=names, transforms=variants, description="x")
    oracle = OracleSolver(_arc_oracle(task, rule, variants), vocab=12, spec=spec)
    out = solve_arc(oracle, task, task_id="t", batch_size=4)
    assert out["num_variants"] == 3
    used = np.concatenate([c[3] for c in oracle.calls])
    assert sorted(set(used.tolist()) - {0}) == [1, 2, 3]  # the task's own identifiers, not "other"
    assert out["pass@1"] == 1.0 and out["pass@2"] == 1.0
    assert out["attempts"][0][0] == task["test"][0]["output"]
    assert out["attempts"][1][0] == task["test"][1]["output"]
    assert out["ranked"][1][0][1] == 3 and out["ranked"][1][0][2] == pytest.approx(1 / (1 + np.exp(-2.0)))
    # num_variants keeps the first trained variants; ARCTask input works too; test outputs are optional.
    arc_task = arc_data.parse_task(task, "t")
    assert solve_arc(oracle, arc_task, num_variants=1)["num_variants"] == 1
    no_outputs = {"train": task["train"], "test": [{"input": p["input"]} for p in task["test"]]}
    res = solve_arc(oracle, no_outputs, task_id="t")
    assert "pass@1" not in res and res["attempts"][0][0] == task["test"][0]["output"]


def test_run_solver_checks_shapes():
    oracle = OracleSolver(lambda t, i: t, vocab=6)
    with pytest.raises(ValueError, match="inputs"):
        run_solver(oracle, np.zeros((16,), "int32"))
    with pytest.raises(ValueError, match="puzzle_identifiers"):
        run_solver(oracle, np.zeros((2, 16), "int32"), np.zeros((3,), "int32"))
