"""The keras-trm command: parsing, clear errors, and small real runs of its subcommands."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_trm import cli

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "official_trm", "trm_tiny_att")


def test_parser_knows_every_subcommand():
    p = cli.build_parser()
    a = p.parse_args(["generate", "maze", "out", "--n", "6", "--train-count", "3"])
    assert (a.kind, a.out, a.n, a.train_count, a.test_count, a.workers) == ("maze", "out", 6, 3, 100, 1)
    a = p.parse_args(["build-data", "sudoku", "out", "--n", "4", "--num-aug", "3"])
    assert (a.kind, a.out, a.n, a.num_aug, a.source) == ("sudoku", "out", 4, 3, "generate")
    a = p.parse_args(["train", "sudoku", "--size", "smoke", "--set", "max_steps=5"])
    assert a.recipe == "sudoku" and a.recipe_args == ["--size", "smoke", "--set", "max_steps=5"]
    a = p.parse_args(["evaluate", "m.keras", "data", "--limit", "10"])
    assert a.limit == 10 and a.split == "test"
    a = p.parse_args(["solve", "m.keras", "1...", "--kind", "sudoku"])
    assert a.kind == "sudoku"
    a = p.parse_args(["import-official", "ckpt", "cfg.yaml", "out.keras", "--set", "sequence_length=81"])
    assert a.set == ["sequence_length=81"]


def test_train_runs_a_recipe_of_the_package_registry(capsys):
    from keras_trm.recipes import recipe_names

    parser = cli.build_parser()
    for name in recipe_names():  # the registry's names and aliases: the CLI keeps no list of its own
        assert parser.parse_args(["train", name]).recipe == name
    assert cli.main(["train", "sudoku-extreme", "--size", "smoke", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["size"] == "smoke" and printed["grid"] == 4 and printed["out_dir"].endswith("sudoku-mlp-smoke")


@pytest.mark.parametrize("argv", [[], ["train", "chess"], ["build-data", "go", "out"], ["solve", "m.keras"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2


def test_missing_files_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["evaluate", str(tmp_path / "nothing.keras"), str(tmp_path)])
    assert e.value.code == 2 and "nothing.keras" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["import-official", str(tmp_path / "step_0"), "cfg.json", str(tmp_path / "o.keras")])
    assert "step_0" in capsys.readouterr().err


def test_parse_puzzle():
    tokens, shape = cli.parse_puzzle("1... .3.. ..2. ...4", {"benchmark": "sudoku"})
    assert shape == (4, 4) and tokens.tolist()[:5] == [2, 1, 1, 1, 1]
    tokens, shape = cli.parse_puzzle("S #\n  #\nG  \n", {"benchmark": "maze"})
    assert shape == (3, 3) and tokens.tolist() == [3, 2, 1, 2, 2, 1, 4, 2, 2]
    with pytest.raises(cli.CLIError):
        cli.parse_puzzle("12345", {"benchmark": "sudoku"})
    with pytest.raises(cli.CLIError):
        cli.parse_puzzle("1..9" * 4, {"benchmark": "sudoku"})


def test_generate_writes_the_public_csvs(tmp_path, capsys):
    from keras_trm.data.maze import read_maze_csv
    from keras_trm.data.sudoku import read_sudoku_csv

    assert (
        cli.main(["generate", "sudoku", str(tmp_path / "s"), "--n", "4", "--train-count", "5", "--test-count", "2"])
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert (info["train"]["count"], info["test"]["count"]) == (5, 2)
    ((questions, answers, _),) = list(read_sudoku_csv(tmp_path / "s" / "train.csv"))
    assert questions.shape == answers.shape == (5, 4, 4)
    assert (
        cli.main(["generate", "maze", str(tmp_path / "m"), "--n", "6", "--train-count", "3", "--test-count", "2"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["test"]["count"] == 2
    ((questions, _),) = list(read_maze_csv(tmp_path / "m" / "test.csv"))
    assert questions.shape == (2, 6, 6)


def test_build_data_tiny_sudoku(tmp_path, capsys):
    out = str(tmp_path / "sudoku")
    assert (
        cli.main(
            ["build-data", "sudoku", out, "--n", "4", "--train-count", "10", "--test-count", "4", "--num-aug", "2"]
        )
        == 0
    )
    meta = json.loads(capsys.readouterr().out[capsys.readouterr().out.find("{") :] or "{}") if False else None
    from keras_trm.data import PuzzleDataset, read_metadata

    meta = read_metadata(out)
    assert meta["benchmark"] == "sudoku" and meta["seq_len"] == 16
    assert PuzzleDataset(out, "train").num_examples == 30 and PuzzleDataset(out, "test").num_examples == 4
    with pytest.raises(SystemExit) as e:  # refuses to overwrite without --overwrite
        cli.main(["build-data", "sudoku", out, "--n", "4", "--train-count", "10", "--test-count", "4"])
    assert e.value.code == 2


def test_import_official_then_predict(tmp_path):
    import keras

    out = str(tmp_path / "tiny.keras")
    assert (
        cli.main(["import-official", os.path.join(FIXTURE, "step_0"), os.path.join(FIXTURE, "config.json"), out]) == 0
    )
    solver = cli.load_solver(out)
    expected = np.load(os.path.join(FIXTURE, "expected.npz"))
    x = {"inputs": np.ones((2, 16), "int32"), "puzzle_identifiers": np.array([1, 2], "int32")}
    logits = keras.ops.convert_to_numpy(solver.predict_on_batch(x)["logits"])
    assert logits.shape == (2, 16, 11) and np.isfinite(logits).all()
    assert len(expected.files) > 0


def test_solve_with_the_shipped_preset_needs_no_download(capsys):
    assert cli.main(["solve", "trm_sudoku_4x4", "1..4........2..1"]) == 0
    out = capsys.readouterr().out
    assert "1234\n3412\n4123\n2341" in out and "valid sudoku answer" in out


def test_publish_validates_then_uploads(tmp_path, monkeypatch, capsys):
    import keras_hub

    calls = []
    monkeypatch.setattr(keras_hub, "upload_preset", lambda uri, path: calls.append((uri, path)))
    with pytest.raises(SystemExit):
        cli.main(["publish", str(tmp_path), "kaggle://me/trm/keras/x"])  # an empty folder is not a preset
    assert calls == []
    from keras_trm.presets import SHIPPED_PRESET

    preset = os.path.join(os.path.dirname(cli.__file__), "presets", "assets", SHIPPED_PRESET)
    assert cli.main(["publish", preset, "kaggle://me/trm/keras/x"]) == 0
    assert calls and calls[0][0] == "kaggle://me/trm/keras/x"


FRAMEWORKS = ("keras", "keras_hub", "jax", "tensorflow", "torch")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "chess"]])
def test_help_version_and_argument_errors_import_no_framework(argv):
    """`keras-trm --help` answers in a fraction of a second: keras_trm's package __init__ is lazy (PEP 562)."""
    code = (
        "import sys\nfrom keras_trm import cli\n"
        f"try:\n    cli.main({argv!r})\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        f"print('imported', sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "imported []", out.stdout + out.stderr
    assert ("usage: keras-trm" in out.stdout + out.stderr) or "keras-trm 0.1.0" in out.stdout


def test_the_lazy_package_gives_its_public_names_and_registers_on_import(tmp_path):
    """A fresh process: `import keras_trm.models` registers the classes, so a saved model.keras loads."""
    import keras_trm

    assert keras_trm.TRMPuzzleSolver.__module__ == "keras_trm.models.trm_puzzle_solver"
    assert keras_trm.layers.__name__ == "keras_trm.layers" and "TRMBackbone" in dir(keras_trm)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        keras_trm.Nope  # noqa: B018
    path = tmp_path / "m.keras"
    backbone = keras_trm.TRMBackbone(vocabulary_size=6, sequence_length=8, hidden_dim=8, num_heads=2, H_cycles=1,
                                     L_cycles=1, puzzle_emb_len=1)  # fmt: skip
    keras_trm.TRMPuzzleSolver(backbone, halt_max_steps=2).save(path)
    code = (
        f"import keras, keras_trm.models\nprint(type(keras.saving.load_model({str(path)!r}, compile=False)).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0 and out.stdout.strip().endswith("TRMPuzzleSolver"), out.stderr[-2000:]
