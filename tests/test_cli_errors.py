"""What a user sees when something is wrong: one line naming the file, the field and the problem, exit status 2, the
traceback only with --debug; and the sizes `build-data` really used, with a warning for train/test overlap."""

import os

import pytest

from keras_trm import cli
from keras_trm.data import DataFormatError, PuzzleDataset

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "official_trm", "trm_tiny_att")


def _exit_line(capsys, argv):
    """Run the CLI on a failing command line: (exit status, stderr), stderr being checked to be one line."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return e.value.code, err


def _sudoku_csvs(folder, train=12, test=5):
    assert cli.main(["generate", "sudoku", str(folder), "--n", "4", "--train-count", str(train),
                     "--test-count", str(test)]) == 0  # fmt: skip


def test_a_bad_csv_row_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    src = tmp_path / "csv"
    _sudoku_csvs(src)
    lines = (src / "train.csv").read_text().splitlines()
    name, question, answer, rating = lines[3].split(",")
    lines[3] = ",".join([name, question + "1", answer, rating])  # a 17-character question
    (src / "train.csv").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    argv = ["build-data", "sudoku", str(tmp_path / "data"), "--source", str(src)]
    code, err = _exit_line(capsys, argv)
    assert code == 2 and err.startswith("keras-trm: error: ") and "train.csv" in err and "17" in err, err
    assert not (tmp_path / "data" / "metadata.json").exists()
    with pytest.raises(DataFormatError):  # --debug: the exception itself, with its traceback
        cli.main(["--debug", *argv])


def test_build_data_keeps_the_whole_test_set_and_warns_of_overlap(tmp_path, capsys):
    src = tmp_path / "csv"
    _sudoku_csvs(src, train=12, test=7)
    test_rows = (src / "test.csv").read_text().splitlines()[1:]
    with open(src / "train.csv", "a") as f:  # two test puzzles also in train
        f.write("\n".join(test_rows[:2]) + "\n")
    capsys.readouterr()
    out = tmp_path / "data"
    assert cli.main(["build-data", "sudoku", str(out), "--source", str(src)]) == 0
    captured = capsys.readouterr()
    assert f"2 of the 7 test puzzles in {src / 'test.csv'} also appear in {src / 'train.csv'}" in captured.err
    assert "train 14 examples (14 puzzles), test 7 examples (7 puzzles)" in captured.out
    assert PuzzleDataset(str(out), "test").num_examples == 7
    assert PuzzleDataset(str(out), "train").num_examples == 14


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """The official tiny checkpoint imported as a .keras file (16 tokens, vocabulary 11)."""
    path = str(tmp_path_factory.mktemp("model") / "tiny.keras")
    step = os.path.join(FIXTURE, "step_0")
    assert cli.main(["import-official", step, os.path.join(FIXTURE, "config.json"), path]) == 0
    return path


def test_evaluate_errors_are_one_line(tmp_path, capsys, tiny_model):
    maze = tmp_path / "maze"  # 8x8 mazes: 64 tokens, the model reads 16
    assert cli.main(["build-data", "maze", str(maze), "--n", "8", "--train-count", "3", "--test-count", "2"]) == 0
    capsys.readouterr()
    code, err = _exit_line(capsys, ["evaluate", tiny_model, str(maze)])
    assert code == 2 and "sequence length of 16" in err and "has 64" in err and str(maze) in err, err
    code, err = _exit_line(capsys, ["evaluate", tiny_model, str(maze), "--batch-size", "-1"])
    assert code == 2 and "--batch-size -1" in err, err


def test_solve_errors_are_one_line(capsys, tiny_model):
    code, err = _exit_line(capsys, ["solve", tiny_model, "12345", "--kind", "sudoku"])
    assert code == 2 and "12345" not in err[:18] and "sudoku" in err.lower(), err


def test_a_recipe_help_lists_its_settings_with_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "sudoku", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for text in ("--size", "--overwrite", "--resume", "grid", "hidden_dim", "default"):
        assert text in out, text


@pytest.mark.parametrize("how", ["import-official", "save_to_preset"])
def test_a_preset_written_here_solves_through_the_cli(tmp_path, capsys, how):
    preset = str(tmp_path / "preset")
    if how == "import-official":
        assert cli.main(["import-official", os.path.join(FIXTURE, "step_0"), os.path.join(FIXTURE, "config.json"),
                         preset]) == 0  # fmt: skip
    else:
        from keras_trm.presets import SHIPPED_PRESET

        cli.load_solver(SHIPPED_PRESET).save_to_preset(preset)
    capsys.readouterr()
    argv = ["solve", preset, "1..4........2..1"] + (["--kind", "sudoku"] if how == "import-official" else [])
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if len(line) == 4]) == 4 and "sudoku answer after" in out, out
    if how == "import-official":  # the untrained official checkpoint: an answer, valid (0) or not (3)
        assert code in (0, 3)
    else:  # the trained shipped model, saved again: still solves it
        assert code == 0 and "1234\n3412\n4123\n2341" in out and "valid sudoku answer" in out
