"""`keras-trm evaluate / solve / calibrate` with the inference flags: the halting rule (--halt, --patience,
--fixed-steps), rollouts (--rollouts, --noise, --seed), and the rule `calibrate` saves with a model."""

import json

import pytest

from keras_trm import cli
from keras_trm.evaluation.halting import HaltingRule
from keras_trm.presets import SHIPPED_PRESET


@pytest.fixture(scope="module")
def sudoku_4x4(tmp_path_factory):
    """A 4x4 Sudoku build (24 train puzzles, 16 test puzzles) the shipped 4x4 preset reads."""
    out = str(tmp_path_factory.mktemp("data") / "sudoku")
    argv = ["build-data", "sudoku", out, "--n", "4", "--train-count", "24", "--test-count", "16", "--num-aug", "0"]
    assert cli.main(argv) == 0
    return out


def _evaluate(tmp_path, capsys, model, data, *flags, split="test"):
    """Run `keras-trm evaluate`; (its JSON report, its printed text)."""
    capsys.readouterr()
    report = tmp_path / "report.json"
    argv = ["evaluate", model, data, "--split", split, "--output", str(report), *flags]
    assert cli.main(argv) == 0
    return json.loads(report.read_text())["report"], capsys.readouterr().out


def test_the_parser_reads_the_inference_flags():
    p = cli.build_parser()
    a = p.parse_args(["evaluate", "m.keras", "data"])
    assert (a.halt, a.patience, a.fixed_steps, a.rollouts, a.noise, a.seed) == (None, 0, False, 1, 0.1, 0)
    assert cli.inference_rule(a) is None  # the model's own rule
    a = p.parse_args(["evaluate", "m.keras", "data", "--halt"])
    assert a.halt == 0.5 and cli.inference_rule(a) == HaltingRule(0.5, 0)
    a = p.parse_args(["solve", "m.keras", "1...", "--halt", "0.9", "--patience", "2", "--rollouts", "4"])
    assert cli.inference_rule(a) == HaltingRule(0.9, 2) and a.rollouts == 4
    a = p.parse_args(["solve", "m.keras", "1...", "--patience", "1"])
    assert cli.inference_rule(a) == HaltingRule(None, 1)
    assert cli.inference_rule(p.parse_args(["evaluate", "m.keras", "data", "--fixed-steps"])) is False


def test_the_halting_flags_set_the_steps_evaluate_reports(tmp_path, capsys, sudoku_4x4):
    fixed, text = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps")
    solver = cli.load_solver(SHIPPED_PRESET)
    assert fixed["count"] == 16 and fixed["mean_steps"] == solver.halt_max_steps
    assert "halting: none (fixed steps)" in text
    # confidence is a sigmoid, above 0 at the first step: every puzzle stops after one step
    first, text = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--halt", "0")
    assert first["mean_steps"] == 1.0 and "halting: confidence > 0\n" in text
    # an answer can only be unchanged for one step from the second step on
    patient, text = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--patience", "1")
    assert 2.0 <= patient["mean_steps"] <= solver.halt_max_steps and "answer unchanged for 1 steps" in text


def test_rollouts_vote_and_one_rollout_is_the_plain_run(tmp_path, capsys, sudoku_4x4):
    plain, _ = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps")
    one, _ = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps", "--rollouts", "1")
    assert one == plain
    # without noise every rollout is the same run, so their vote is the plain answer
    same, _ = _evaluate(
        tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps", "--rollouts", "3", "--noise", "0"
    )
    assert same["exact_accuracy"] == plain["exact_accuracy"] and same["token_accuracy"] == plain["token_accuracy"]
    noisy = [
        _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps", "--rollouts", "3", "--seed", "5")[0]
        for _ in range(2)
    ]
    assert noisy[0] == noisy[1]  # seeded noise: the same report twice
    augmented = [
        _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps", "--rollouts", "3", "--augment")[0]
        for _ in range(2)
    ]
    assert augmented[0] == augmented[1] and augmented[0]["count"] == 16


def test_calibrate_saves_a_rule_that_evaluate_then_uses(tmp_path, capsys, sudoku_4x4):
    out = str(tmp_path / "calibrated.keras")
    capsys.readouterr()
    argv = ["calibrate", SHIPPED_PRESET, sudoku_4x4, out, "--split", "train", "--max-drop", "0"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "24 puzzles" in text and f"-> {out}" in text
    calibrated = cli.load_solver(out)
    rule = calibrated.halt_at_inference
    assert rule is None or isinstance(rule, HaltingRule)
    # on the split it was calibrated on with no accuracy drop allowed, the rule loses nothing
    fixed, _ = _evaluate(tmp_path, capsys, SHIPPED_PRESET, sudoku_4x4, "--fixed-steps", split="train")
    mine, text = _evaluate(tmp_path, capsys, out, sudoku_4x4, split="train")
    assert mine["exact_accuracy"] >= fixed["exact_accuracy"] and mine["mean_steps"] <= fixed["mean_steps"]
    assert f"halting: {rule if rule is not None else 'none (fixed steps)'}\n" in text
    # the flags still override the saved rule
    again, _ = _evaluate(tmp_path, capsys, out, sudoku_4x4, "--fixed-steps", split="train")
    assert again == fixed


def test_solve_takes_the_inference_flags(capsys):
    # one step is not always enough: exit 0 for a valid answer, 3 for an invalid one
    assert cli.main(["solve", SHIPPED_PRESET, "1..4........2..1", "--halt", "0"]) in (0, 3)
    assert "sudoku answer after 1 supervision steps" in capsys.readouterr().out
    assert cli.main(["solve", SHIPPED_PRESET, "1..4........2..1", "--fixed-steps", "--rollouts", "4"]) == 0
    assert "1234\n3412\n4123\n2341" in capsys.readouterr().out
    assert cli.main(["solve", SHIPPED_PRESET, "1..4........2..1", "--rollouts", "4", "--augment"]) == 0
    assert "1234\n3412\n4123\n2341" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--rollouts", "0"], "--rollouts 0"),
        (["--noise", "-1"], "--noise -1"),
        (["--halt", "1.5"], "threshold"),
        (["--patience", "-2"], "patience"),
        (["--fixed-steps", "--halt", "0.9"], "--fixed-steps"),
    ],
)
def test_bad_inference_flags_are_one_line(capsys, sudoku_4x4, flags, words):
    for argv in (
        ["evaluate", SHIPPED_PRESET, sudoku_4x4, *flags],
        ["solve", SHIPPED_PRESET, "1..4........2..1", *flags],
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and words in err, err


def test_bad_calibrate_arguments_are_one_line(tmp_path, capsys, sudoku_4x4):
    for argv, words in [
        (["calibrate", SHIPPED_PRESET, sudoku_4x4, str(tmp_path / "o.keras"), "--max-drop", "2"], "--max-drop 2"),
        (["calibrate", str(tmp_path / "none.keras"), sudoku_4x4, str(tmp_path / "o.keras")], "none.keras"),
        (["calibrate", SHIPPED_PRESET, sudoku_4x4, str(tmp_path / "o.keras"), "--split", "dev"], "no split 'dev'"),
    ]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "o.keras").exists()
