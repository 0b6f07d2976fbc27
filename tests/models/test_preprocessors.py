"""Puzzle preprocessors: encode / decode round trips, clear errors, tf.data, saving with a preset, and the solver's
use of them (predict decodes, fit reads raw puzzles, presets load theirs)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.tests.test_case import TestCase

from keras_trm import (
    ARCPreprocessor,
    MazePreprocessor,
    PuzzlePreprocessor,
    SudokuPreprocessor,
    TRMBackbone,
    TRMPuzzleSolver,
)
from keras_trm.data.transforms import apply_variant
from keras_trm.presets import SHIPPED_PRESET, PuzzleSpec, save_preset

SUDOKU_Q = "3.21..34.3.2.1.."  # a 4x4 puzzle and its solution
SUDOKU_A = "3421123443122143"
MAZE_Q = ["S  #", "## #", "   #", "G###"]
MAZE_A = ["Soo#", "##o#", "ooo#", "G###"]


def one_hot_outputs(tokens, vocab, halt=2.0, steps=3):
    """Solver outputs whose argmax is `tokens` (N, L)."""
    tokens = np.asarray(tokens)
    return {
        "logits": np.eye(vocab, dtype="float32")[tokens],
        "q_halt_logits": np.full((len(tokens),), halt, "float32"),
        "steps": np.full((len(tokens),), steps, "int32"),
    }


# ------------------------------------------------------------------------------------------------ Sudoku
def test_sudoku_strings_and_digit_arrays_round_trip():
    pre = SudokuPreprocessor(n=4)
    x = pre([SUDOKU_Q, SUDOKU_Q.replace(".", "0"), "3.21 | ..34\n.3.2 | .1..\n---+---"])
    expected = [1 if c == "." else int(c) + 1 for c in SUDOKU_Q]
    assert x["inputs"].dtype == np.int32 and x["inputs"].tolist() == [expected] * 3
    assert x["puzzle_identifiers"].tolist() == [0, 0, 0]
    assert pre.detokenize(x["inputs"]) == [SUDOKU_Q] * 3
    digits = np.array([0 if c == "." else int(c) for c in SUDOKU_Q])
    np.testing.assert_array_equal(pre.detokenize(x["inputs"], strings=False)[0], digits.reshape(4, 4))
    for arr in (digits, digits.reshape(4, 4)):  # one puzzle: unbatched
        one = pre(arr)
        assert one["inputs"].tolist() == expected and np.shape(one["puzzle_identifiers"]) == ()
    for arr in (digits[None], digits.reshape(1, 4, 4)):
        assert pre(arr)["inputs"].tolist() == [expected]
    assert pre(SUDOKU_Q)["inputs"].tolist() == expected
    # Answers become labels; token batches pass through unchanged.
    x, labels = pre([SUDOKU_Q], [SUDOKU_A])
    assert labels.tolist() == [[int(c) + 1 for c in SUDOKU_A]]
    tokens = {"inputs": x["inputs"], "puzzle_identifiers": np.array([7], "int32")}
    assert pre(tokens) is tokens
    assert pre({"inputs": x["inputs"]})["puzzle_identifiers"].tolist() == [0]


def test_sudoku_any_size():
    nine = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
    pre = SudokuPreprocessor(n=9)
    assert pre.sequence_length == 81 and pre.detokenize(pre([nine])["inputs"]) == [nine]
    sixteen = np.random.default_rng(0).integers(0, 17, (3, 16, 16))
    big = SudokuPreprocessor(n=16)(sixteen)["inputs"]
    assert big.shape == (3, 256) and big.max() <= 17
    np.testing.assert_array_equal(SudokuPreprocessor(n=16).detokenize(big, strings=False), sixteen)
    # n=None reads the side from the puzzles.
    assert SudokuPreprocessor(n=None)(["1..4........2..1"])["inputs"].shape == (1, 16)
    assert SudokuPreprocessor(n=None)([nine])["inputs"].shape == (1, 81)


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("3.21..34.3.2.1.", "15 cells, a 4x4 Sudoku has 16"),
        ("3.21..34.3.2.1.9", r"characters \['9'\] are not digits 1..4"),
        ("3x21..34.3.2.1..", r"characters \['x'\]"),
        (np.full((2, 16), 5), "values must be 0 \\(blank\\) .. 4"),
        (np.zeros((2, 15), int), "15 cells"),
        (np.zeros((2, 16), float), "strings or integer arrays"),
    ],
)
def test_sudoku_bad_input_is_one_clear_error(bad, problem):
    with pytest.raises(ValueError, match=problem) as e:
        SudokuPreprocessor(n=4).preprocess(bad)
    assert "\n" not in str(e.value)


def test_sudoku_errors_name_the_puzzle_and_answers_must_match():
    pre = SudokuPreprocessor(n=None)
    with pytest.raises(ValueError, match="puzzle 1: 9x9, but puzzle 0 is 4x4"):
        pre.preprocess([SUDOKU_Q, "." * 81])
    with pytest.raises(ValueError, match="not n\\*n"):
        pre.preprocess("12345")
    with pytest.raises(ValueError, match="2 Sudoku answers"):
        SudokuPreprocessor(n=4).preprocess([SUDOKU_Q], [SUDOKU_A, SUDOKU_A])


def test_sudoku_decode_checks_rules_and_givens():
    pre = SudokuPreprocessor(n=4)
    x = pre([SUDOKU_Q, SUDOKU_Q])
    answer = np.array([int(c) + 1 for c in SUDOKU_A])
    wrong = answer.copy()
    wrong[[0, 1]] = wrong[[1, 0]]  # swaps a given: breaks the givens and two columns
    out = pre.decode(one_hot_outputs([answer, wrong], 6, halt=0.0), x)
    assert out["answers"] == [SUDOKU_A, "4321123443122143"]
    assert out["valid"].tolist() == [True, False]
    np.testing.assert_allclose(out["confidence"], [0.5, 0.5])
    assert out["steps"].tolist() == [3, 3]
    assert pre.decode(one_hot_outputs([answer], 6), x["inputs"][:1], strings=False)["answers"].shape == (1, 4, 4)


def test_sudoku_in_a_tf_data_pipeline_matches_the_eager_call():
    pre = SudokuPreprocessor(n=4)
    eager_x, eager_y = pre([SUDOKU_Q] * 3, [SUDOKU_A] * 3)
    ds = tf.data.Dataset.from_tensor_slices(([SUDOKU_Q] * 3, [SUDOKU_A] * 3))
    x, y = next(iter(ds.batch(3).map(pre)))
    np.testing.assert_array_equal(x["inputs"], eager_x["inputs"])
    np.testing.assert_array_equal(y, eager_y)
    assert x["inputs"].shape.as_list() == [3, 16]
    x, y = next(iter(ds.map(pre)))  # unbatched
    assert x["inputs"].shape.as_list() == [16] and x["puzzle_identifiers"].shape.as_list() == []
    with pytest.raises(tf.errors.InvalidArgumentError, match="characters"):
        next(iter(tf.data.Dataset.from_tensor_slices(["3x21..34.3.2.1.."]).batch(1).map(pre)))


# ------------------------------------------------------------------------------------------------ maze
def test_maze_round_trip_and_validity():
    pre = MazePreprocessor(n=4)
    x = pre(["\n".join(MAZE_Q), "".join(MAZE_Q), MAZE_Q])
    ids = {c: i + 1 for i, c in enumerate("# SGo")}
    assert x["inputs"].tolist() == [[ids[c] for c in "".join(MAZE_Q)]] * 3
    assert pre.detokenize(x["inputs"]) == ["".join(MAZE_Q)] * 3
    assert pre(MAZE_Q)["inputs"].shape == (16,)  # one maze as its rows
    x, labels = pre(["".join(MAZE_Q)], ["".join(MAZE_A)])
    out = pre.decode(one_hot_outputs(labels, 6), x)
    assert out["answers"] == ["".join(MAZE_A)] and out["valid"].tolist() == [True]
    assert pre.decode(one_hot_outputs(x["inputs"], 6), x)["valid"].tolist() == [False]  # no path marked
    assert pre.detokenize([[0, 1, 2, 3]]) == ["?# S"]


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("S  #X# #   #G###", r"maze 0: characters \['X'\] are not in '# SGo'"),
        ("S  ## #   #G###", "maze 0: 15 cells, expected 16"),
        (np.ones((1, 16)), "strings over"),
    ],
)
def test_maze_bad_input_is_one_clear_error(bad, problem):
    with pytest.raises(ValueError, match=problem) as e:
        MazePreprocessor(n=4).preprocess(bad)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------ ARC
def test_arc_grids_variants_and_undo():
    pre = ARCPreprocessor(num_variants=3, seed=0)
    grids = [np.array([[1, 2, 3], [4, 5, 6]]), np.array([[7], [8]])]
    x = pre(grids)
    assert x["inputs"].shape == (2, 900)
    assert pre.detokenize(x["inputs"]) == [g.tolist() for g in grids]
    task = {"train": [{"input": g.tolist(), "output": g.tolist()} for g in grids], "test": [{"input": grids[0]}]}
    task_id, inputs, outputs, full = pre.read_task({**task, "test": [{"input": grids[0].tolist()}]}, "t")
    assert task_id == "t" and outputs == [None]
    variants = pre.task_variants(full, task_id)
    assert len(variants) == 3 and variants[0][1] == 0 and all(ident == 0 for ident, _, _ in variants)
    batch, which = pre.task_batch(inputs, variants)
    assert batch["inputs"].shape == (3, 900) and which.tolist() == [0, 1, 2]
    # The "model" echoes each variant's input: undoing every row's variant gives the test input back.
    out = pre.decode(one_hot_outputs(batch["inputs"], 12), batch, variants=[v[1:] for v in variants])
    assert out["answers"] == [grids[0].tolist()] * 3 and out["valid"].tolist() == [True] * 3
    transformed = pre.detokenize(batch["inputs"][1:2])[0]
    assert transformed == apply_variant(grids[0], *variants[1][1:]).tolist()
    # Known tasks use the spec's trained identifiers.
    names = ["<blank>", "t", "other"]
    spec = PuzzleSpec.arc("arc-agi-1", identifiers=names, transforms={1: (0, np.arange(10))}, description="x")
    assert [v[0] for v in pre.task_variants(full, "t", spec)] == [1]


def test_arc_bad_grid_is_one_clear_error():
    with pytest.raises(ValueError, match="grid 1.*colours outside 0-9: \\[12\\]") as e:
        ARCPreprocessor().preprocess([[[1, 2]], [[12]]])
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------ keras-hub
class SerializationTest(TestCase):
    def test_config_and_serialization_round_trips(self):
        for pre in (SudokuPreprocessor(n=4), SudokuPreprocessor(n=None), MazePreprocessor(n=30), ARCPreprocessor(4)):
            self.run_serialization_test(pre)


def _tiny_solver(**kwargs):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
    )
    return TRMPuzzleSolver(backbone, halt_max_steps=2, **kwargs)


def test_preprocessor_saves_and_loads_with_a_preset(tmp_path):
    spec = PuzzleSpec.sudoku(4, description="test", training={"command": "t", "results": "r"})
    solver = _tiny_solver(preprocessor=SudokuPreprocessor(n=4, name="my_sudoku"))
    save_preset(solver, tmp_path / "p", spec)
    assert (tmp_path / "p" / "preprocessor.json").exists()
    loaded = TRMPuzzleSolver.from_preset(str(tmp_path / "p"))
    assert isinstance(loaded.preprocessor, SudokuPreprocessor) and loaded.preprocessor.name == "my_sudoku"
    assert PuzzlePreprocessor.from_preset(str(tmp_path / "p")).get_config() == solver.preprocessor.get_config()
    with pytest.raises(ValueError, match="not a MazePreprocessor"):
        MazePreprocessor.from_preset(str(tmp_path / "p"))
    # Without preprocessor.json: the spec's preprocessor; an explicit preprocessor=None is kept.
    os.remove(tmp_path / "p" / "preprocessor.json")
    from_spec = TRMPuzzleSolver.from_preset(str(tmp_path / "p")).preprocessor
    assert isinstance(from_spec, SudokuPreprocessor) and from_spec.n == 4 and from_spec.name != "my_sudoku"
    assert TRMPuzzleSolver.from_preset(str(tmp_path / "p"), preprocessor=None).preprocessor is None
    # A custom spec has no preprocessor.
    custom = PuzzleSpec("custom", [str(i) for i in range(6)], [4, 4], description="c", training=spec.training)
    save_preset(_tiny_solver(), tmp_path / "c", custom)
    assert TRMPuzzleSolver.from_preset(str(tmp_path / "c")).preprocessor is None


# ------------------------------------------------------------------------------------------------ the solver
def test_shipped_preset_predicts_decoded_answers():
    solver = TRMPuzzleSolver.from_preset(SHIPPED_PRESET)
    assert isinstance(solver.preprocessor, SudokuPreprocessor) and solver.preprocessor.n == 4
    out = solver.predict(["1..4........2..1", ".1..342..31.124."], verbose=0)
    assert out["answers"] == ["1234341241232341", "2134342143121243"]
    assert out["valid"].tolist() == [True, True] and out["logits"].shape == (2, 16, 6)
    assert np.all((out["confidence"] > 0.5) & (out["confidence"] <= 1.0)) and out["steps"].tolist() == [4, 4]
    one = solver.predict("1..4........2..1", verbose=0)  # one puzzle: a batch of one
    assert one["answers"] == ["1234341241232341"]
    digits = solver.predict(np.array([[0 if c == "." else int(c) for c in "1..4........2..1"]]), verbose=0)
    assert digits["answers"].tolist() == [[[1, 2, 3, 4], [3, 4, 1, 2], [4, 1, 2, 3], [2, 3, 4, 1]]]


def test_solver_compiles_itself_and_fits_raw_puzzles():
    solver = _tiny_solver(preprocessor=SudokuPreprocessor(n=4))
    assert solver.compiled and type(solver.optimizer).__name__ == "AdamATan2"  # the official defaults
    solver.compile(optimizer=keras.optimizers.SGD(0.0))  # an explicit compile still replaces them
    assert isinstance(solver.optimizer, keras.optimizers.SGD)
    history = solver.fit([SUDOKU_Q] * 3, [SUDOKU_A] * 3, batch_size=2, epochs=1, verbose=0)
    assert set(history.history) >= {"loss", "exact_accuracy"} and solver.carry_batch_size == 2
    logs = solver.evaluate([SUDOKU_Q] * 2, [SUDOKU_A] * 2, verbose=0, return_dict=True)
    assert 0.0 <= logs["accuracy"] <= 1.0
    assert not TRMPuzzleSolver(solver.backbone, compile=False).compiled
    with pytest.raises(ValueError, match="no preprocessor to read puzzle strings"):
        TRMPuzzleSolver(solver.backbone).predict([SUDOKU_Q], verbose=0)
