"""Recipes: the config objects (paper defaults, sizes, overrides) and each recipe's whole path at `--size tiny`."""

import json
import os

import pytest

from recipes import arc_agi_1, arc_agi_2, common, maze_hard, sudoku_extreme


def test_paper_defaults_follow_the_spec():
    s = sudoku_extreme.SudokuConfig()
    assert (s.hidden_dim, s.num_heads, s.num_layers, s.puzzle_emb_len, s.halt_max_steps) == (512, 8, 2, 16, 16)
    assert (s.halt_exploration_prob, s.warmup_steps, s.ema_momentum, s.global_batch_size) == (0.1, 2000, 0.999, 768)
    assert (s.H_cycles, s.L_cycles, s.learning_rate, s.weight_decay, s.epochs) == (3, 6, 1e-4, 1.0, 50000)
    assert s.mlp_t and s.pos_encodings == "none" and s.num_aug == 1000 and s.train_count == 1000
    m = maze_hard.MazeConfig()
    assert (m.H_cycles, m.L_cycles, m.puzzle_emb_learning_rate, m.weight_decay) == (3, 4, 1e-4, 1.0)
    assert not m.mlp_t and m.pos_encodings == "rope"
    for cls in (arc_agi_1.ARCConfig, arc_agi_2.ARC2Config):
        a = cls()
        assert (a.L_cycles, a.learning_rate, a.puzzle_emb_learning_rate, a.weight_decay) == (4, 1e-4, 1e-2, 0.1)
        assert (a.puzzle_emb_weight_decay, a.epochs, a.num_variants) == (0.1, 100000, 1000)
    assert arc_agi_2.ARC2Config().subset == "arc-agi-2"


def test_variants_sizes_and_overrides():
    att = common.make_config(sudoku_extreme.SudokuConfig, variant="att")
    assert not att.mlp_t and att.pos_encodings == "rope"
    cfg, _ = common.parse_config(sudoku_extreme.SudokuConfig,
                                 ["--size", "smoke", "--set", "hidden_dim=96", "--learning_rate", "2e-3",
                                  "--set", "ema=true", "--set", "test_count=none"])
    assert cfg.size == "smoke" and cfg.grid == 4 and cfg.hidden_dim == 96 and cfg.learning_rate == 2e-3
    assert cfg.ema is True and cfg.test_count is None
    r = cfg.resolved()
    assert r.out_dir == os.path.join("runs", "sudoku-mlp-smoke") and r.data_dir.endswith("data")


@pytest.mark.parametrize("argv", [["--size", "huge"], ["--set", "nope=1"], ["--set", "hidden_dim=abc"],
                                  ["--set", "novalue"]])
def test_bad_arguments_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        common.parse_config(sudoku_extreme.SudokuConfig, argv)
    assert e.value.code == 2


def _check_run(results, out_dir, metric):
    assert os.path.exists(os.path.join(out_dir, "model.keras"))
    with open(os.path.join(out_dir, "results.json")) as f:
        saved = json.load(f)
    assert metric in saved["final"] and 0.0 <= saved["final"][metric] <= 1.0
    assert saved["evaluations"] and saved["steps"] == results["steps"]
    assert "loss" in saved["history"]
    return saved


@pytest.mark.slow
def test_sudoku_tiny_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    results = sudoku_extreme.main(["--size", "tiny", "--set", f"out_dir={out}", "--set", "tensorboard=true"])
    saved = _check_run(results, out, "exact_accuracy")
    assert saved["final"]["count"] == 8
    assert os.path.exists(os.path.join(out, "task.json"))
    import keras

    import keras_trm  # noqa: F401

    loaded = keras.saving.load_model(os.path.join(out, "model.keras"), compile=False)
    assert loaded.backbone.sequence_length == 16


@pytest.mark.slow
def test_maze_tiny_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    results = maze_hard.main(["--size", "tiny", "--set", f"out_dir={out}"])
    saved = _check_run(results, out, "exact_accuracy")
    assert saved["final"]["benchmark"] == "maze"


@pytest.mark.slow
def test_arc_tiny_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    results = arc_agi_1.main(["--size", "tiny", "--set", f"out_dir={out}"])
    _check_run(results, out, "pass@2")
    with open(os.path.join(out, "submission.json")) as f:
        assert len(json.load(f)) == 2  # two held-out tasks


def test_a_rerun_resumes_from_the_last_checkpoint(tmp_path, capsys):
    from recipes import sudoku_extreme

    out = str(tmp_path / "run")
    sudoku_extreme.main(["--size", "tiny", "--set", f"out_dir={out}"])
    assert sorted(os.listdir(os.path.join(out, "checkpoints")))[-1] == "ckpt-0000000004.npz"
    capsys.readouterr()
    result = sudoku_extreme.main(["--size", "tiny", "--set", f"out_dir={out}", "--set", "max_steps=8"])
    assert "resuming from" in capsys.readouterr().out
    assert result["steps"] == 8
    assert "ckpt-0000000008.npz" in os.listdir(os.path.join(out, "checkpoints"))
