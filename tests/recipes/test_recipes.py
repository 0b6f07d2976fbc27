"""Recipes: the config objects (paper defaults, sizes, overrides) and each recipe's whole path at `--size tiny`."""

import json
import os

import numpy as np
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
    cfg, _ = common.parse_config(
        sudoku_extreme.SudokuConfig,
        [
            "--size",
            "smoke",
            "--set",
            "hidden_dim=96",
            "--learning_rate",
            "2e-3",
            "--set",
            "ema=true",
            "--set",
            "test_count=none",
        ],
    )
    assert cfg.size == "smoke" and cfg.grid == 4 and cfg.hidden_dim == 96 and cfg.learning_rate == 2e-3
    assert cfg.ema is True and cfg.test_count is None
    r = cfg.resolved()
    assert r.out_dir == os.path.join("runs", "sudoku-mlp-smoke") and r.data_dir.endswith("data")


@pytest.mark.parametrize(
    "argv", [["--size", "huge"], ["--set", "nope=1"], ["--set", "hidden_dim=abc"], ["--set", "novalue"]]
)
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


def _train_split(puzzle_sizes_per_group):
    """A stand-in for a built training split: only its index arrays (what the sampler and the schedule read)."""
    from types import SimpleNamespace

    sizes = [s for group in puzzle_sizes_per_group for s in group]
    puzzle_indices = np.concatenate([[0], np.cumsum(sizes)])
    group_indices = np.concatenate([[0], np.cumsum([len(g) for g in puzzle_sizes_per_group])])
    return SimpleNamespace(
        root="stub",
        puzzle_indices=puzzle_indices,
        group_indices=group_indices,
        num_groups=len(puzzle_sizes_per_group),
        num_puzzles=len(sizes),
        num_examples=int(sum(sizes)),
    )


# Per paper recipe: its training split's structure (the counts depend only on the groups and on the examples of the
# puzzles a group holds) and the official numbers worked out by hand from pretrain.py:
#   total_steps = int(epochs * groups * mean_puzzle_examples / global_batch_size);
#   evaluations = epochs // eval_interval;
#   each iteration serves the full batches of eval_interval group permutations (one partial batch dropped).
PAPER_SCHEDULES = {
    # 1000 puzzles x 1001 variants, one example each (only the groups matter): 1000 groups of 1 example.
    # total int(50000 * 1000 / 768) = 65104; per iteration 5000 * 1000 // 768 = 6510 (6510.4); 10 x 6510 < 65104
    "sudoku_extreme": (sudoku_extreme.SudokuConfig, [[1]] * 1000, (65100, 6510, 10)),
    # 1000 mazes, one example each: the same numbers
    "maze_hard": (maze_hard.MazeConfig, [[1]] * 1000, (65100, 6510, 10)),
    # ARC tasks of 4 examples (768 is a multiple: no batch cuts a puzzle), 3 groups of 1, 2 and 3 variants:
    # mean 4, total int(100000 * 3 * 4 / 768) = 1562; per iteration 10000 * 3 * 4 // 768 = 156 (156.25); 10 x 156
    "arc_agi_1": (arc_agi_1.ARCConfig, [[4], [4, 4], [4, 4, 4]], (1560, 156, 10)),
    # tasks of 2 examples, 3 groups of 5, 1 and 2 variants: total int(100000 * 3 * 2 / 768) = 781; per iteration
    # 10000 * 3 * 2 // 768 = 78 (78.125); 10 x 78
    "arc_agi_2": (arc_agi_2.ARC2Config, [[2] * 5, [2], [2, 2]], (780, 78, 10)),
}


@pytest.mark.parametrize("recipe", sorted(PAPER_SCHEDULES))
def test_paper_recipes_train_and_evaluate_as_often_as_the_official_trainer(recipe):
    from keras_trm.data import PuzzleBatches

    cls, groups, expected = PAPER_SCHEDULES[recipe]
    cfg = cls()
    assert (cfg.max_steps, cfg.global_batch_size) == (0, 768)
    train = PuzzleBatches(
        _train_split(groups),
        cfg.global_batch_size,
        mode="train",
        seed=cfg.seed,
        group_passes=common.train_group_passes(cfg),
    )
    assert train.group_passes == cfg.eval_interval
    assert common.schedule(cfg, train) == expected


def test_official_total_steps_can_end_training_before_the_last_iteration():
    # one group of an 8-example task and one of three 1-example variants: mean (8 + 3) / 4 = 2.75, so
    # total_steps = int(100000 * 2 * 2.75 / 768) = 716, while each of the 10 iterations serves about
    # 10000 * 9 / 768 = 117 batches
    assert common.official_schedule(100000, 10000, 2, 2.75, 768, batches_per_iteration=117) == (716, 117, 10)
    with pytest.raises(ValueError, match="divide"):
        common.official_schedule(100000, 30000, 2, 2.75, 768, batches_per_iteration=117)
