"""A recipe's out_dir: the same settings continue, other settings are refused with the ways out, --overwrite removes
only what a run wrote, --resume needs an earlier run; bad settings stop a run before any folder is made."""

import dataclasses
import os

import pytest

from keras_trm import cli
from keras_trm.recipes.config import make_config
from keras_trm.recipes.run_state import (
    SETTINGS_FILE,
    StaleRunError,
    default_out_dir,
    prepare_out_dir,
    settings_record,
    write_settings,
)
from keras_trm.recipes.runner import prepare_run
from keras_trm.recipes.sudoku import SudokuConfig


def _config(out_dir, **overrides):
    return make_config(SudokuConfig, size="smoke", overrides={"out_dir": str(out_dir), **overrides}).resolved()


def _fake_run(cfg):
    """What a run leaves behind: its settings, built data and a checkpoint."""
    write_settings(cfg.out_dir, settings_record(cfg))
    os.makedirs(cfg.data_dir)
    open(os.path.join(cfg.data_dir, "metadata.json"), "w").close()
    os.makedirs(os.path.join(cfg.out_dir, "checkpoints"))


def test_the_same_settings_continue_and_other_settings_are_refused(tmp_path):
    cfg = _config(tmp_path / "run")
    assert prepare_out_dir(cfg) == "fresh"
    _fake_run(cfg)
    assert prepare_out_dir(cfg) == "continue"
    assert prepare_out_dir(cfg, "resume") == "continue"
    changes = (({"grid": 6}, "grid: 4 before, 6 now"), ({"hidden_dim": 32}, "hidden_dim: 64 before, 32 now"))
    for change, named in changes:
        other = _config(tmp_path / "run", **change)
        with pytest.raises(StaleRunError) as e:
            prepare_out_dir(other)
        message = str(e.value)
        assert named in message and "--overwrite" in message and "out_dir=<folder>" in message
        assert len(message.splitlines()) == 1
        with pytest.raises(StaleRunError, match="--resume needs the same settings"):
            prepare_out_dir(other, "resume")
    assert os.path.exists(os.path.join(cfg.data_dir, "metadata.json"))  # a refusal touches nothing


def test_a_longer_run_continues_and_says_so(tmp_path):
    cfg = _config(tmp_path / "run")
    _fake_run(cfg)
    lines = []
    longer = dataclasses.replace(cfg, max_steps=cfg.max_steps * 2)
    assert prepare_out_dir(longer, log=lines.append) == "continue"
    assert lines == [f"continuing the run in {cfg.out_dir} with a new length (max_steps: {cfg.max_steps!r} before, "
                     f"{cfg.max_steps * 2!r} now)"]  # fmt: skip


def test_overwrite_removes_only_what_a_run_wrote(tmp_path):
    cfg = _config(tmp_path / "run")
    _fake_run(cfg)
    (tmp_path / "run" / "my_notes.txt").write_text("keep me")
    lines = []
    assert prepare_out_dir(_config(tmp_path / "run", grid=6), "overwrite", log=lines.append) == "fresh"
    assert sorted(os.listdir(tmp_path / "run")) == ["my_notes.txt"]
    assert lines == [f"--overwrite: removed the earlier run's files in {cfg.out_dir}"]


def test_unrecorded_runs_are_refused_and_resume_needs_a_run(tmp_path):
    cfg = _config(tmp_path / "run")
    with pytest.raises(StaleRunError, match="holds no earlier run to resume"):
        prepare_out_dir(cfg, "resume")
    os.makedirs(os.path.join(cfg.out_dir, "checkpoints"))  # a run of an older version: no run_settings.json
    with pytest.raises(StaleRunError, match=f"settings were not recorded \\({SETTINGS_FILE} is missing\\)"):
        prepare_out_dir(cfg)
    with pytest.raises(ValueError, match="mode must be"):
        prepare_out_dir(cfg, "append")


def test_default_out_dirs_differ_for_different_settings():
    dirs = {
        default_out_dir(make_config(SudokuConfig, size=size, overrides=overrides))
        for size in ("smoke", "tiny")
        for overrides in ({}, {"grid": 6}, {"hidden_dim": 48}, {"grid": 6, "hidden_dim": 48})
    }
    assert len(dirs) == 8
    # settings that change neither the data nor the checkpoints keep the size's folder
    assert default_out_dir(make_config(SudokuConfig, size="smoke", overrides={"verbose": 0})) == "runs/sudoku-mlp-smoke"


def test_prepare_run_validates_before_it_checks_the_folder(tmp_path):
    from keras_trm.recipes.validation import SettingsError

    cfg = make_config(SudokuConfig, size="smoke", overrides={"out_dir": str(tmp_path / "run"), "num_heads": 0})
    with pytest.raises(SettingsError, match="num_heads 0: must be > 0"):
        prepare_run(cfg)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize(
    "setting, problem",
    [("global_batch_size=-4", "global_batch_size -4: must be > 0"), ("token_loss=hinge", "token_loss 'hinge'")],
)
def test_a_bad_setting_is_one_line_exit_2_and_no_folder(tmp_path, capsys, setting, problem):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "sudoku", "--size", "smoke", "--set", f"out_dir={out}", "--set", setting])
    err = capsys.readouterr().err
    assert e.value.code == 2 and problem in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_stale_folder_is_one_line_exit_2_through_the_cli(tmp_path, capsys):
    cfg = _config(tmp_path / "run")
    _fake_run(cfg)
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "sudoku", "--size", "smoke", "--set", f"out_dir={cfg.out_dir}", "--set", "grid=6"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "grid: 4 before, 6 now" in err and len(err.strip().splitlines()) == 1, err
