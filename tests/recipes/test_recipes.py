"""Recipes: the registry, the config objects (paper defaults, sizes, overrides), each recipe's whole path at `--size
tiny`, and the copyable scripts in the top-level recipes/ folder."""

import json
import os
import runpy
import sys

import numpy as np
import pytest

from keras_trm import recipes
from keras_trm.recipes import ARC2Config, ARCConfig, ARCRunEvaluation, MazeConfig, SudokuConfig, arc, maze, sudoku

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "recipes")


def test_the_registry_names_every_benchmark_once():
    assert sorted(recipes.RECIPES) == ["arc-agi-1", "arc-agi-2", "maze", "sudoku"]
    assert [r.config_class for r in recipes.RECIPES.values()] == [SudokuConfig, MazeConfig, ARCConfig, ARC2Config]
    assert all(name == r.config_class.NAME for name, r in recipes.RECIPES.items())
    assert recipes.get_recipe("sudoku-extreme") is recipes.RECIPES["sudoku"]
    assert recipes.get_recipe("maze-hard") is recipes.RECIPES["maze"]
    assert recipes.recipe_names() == ["arc-agi-1", "arc-agi-2", "maze", "maze-hard", "sudoku", "sudoku-extreme"]
    with pytest.raises(ValueError, match="unknown recipe 'chess'; choose from arc-agi-1"):
        recipes.get_recipe("chess")


def test_a_recipe_trains_with_its_own_config_class(capsys):
    cfg = recipes.get_recipe("arc-agi-2").train(["--print-config", "--size", "tiny"])
    assert type(cfg) is ARC2Config and cfg.subset == "arc-agi-2" and cfg.size == "tiny"
    printed = json.loads(capsys.readouterr().out)
    assert printed["out_dir"] == os.path.join("runs", "arc-agi-2-tiny") and printed["hidden_dim"] == 32


SCRIPT_CONFIGS = {
    "sudoku_extreme.py": SudokuConfig,
    "maze_hard.py": MazeConfig,
    "arc_agi_1.py": ARCConfig,
    "arc_agi_2.py": ARC2Config,
}


@pytest.mark.parametrize("script", sorted(SCRIPT_CONFIGS))
def test_the_copyable_scripts_run_on_the_package(script, monkeypatch, capsys):
    """`python recipes/<script> ...`: no sys.path edits, the package's config (the paper's defaults) and runner."""
    path = os.path.join(SCRIPTS, script)
    with open(path) as f:
        assert "sys.path" not in f.read()
    path_before = list(sys.path)
    module = runpy.run_path(path)  # as a script, without recipes/ or the checkout added to sys.path
    assert sys.path == path_before
    parent = SCRIPT_CONFIGS[script]
    assert issubclass(module["Config"], parent) and module["Config"]().to_dict() == parent().to_dict()
    monkeypatch.setattr(sys, "argv", [path, "--size", "smoke", "--print-config"])
    runpy.run_path(path, run_name="__main__")
    printed = json.loads(capsys.readouterr().out)
    assert printed == recipes.make_config(parent, size="smoke").resolved().to_dict()


def test_paper_defaults_follow_the_spec():
    s = SudokuConfig()
    assert (s.hidden_dim, s.num_heads, s.num_layers, s.puzzle_emb_len, s.halt_max_steps) == (512, 8, 2, 16, 16)
    assert (s.halt_exploration_prob, s.warmup_steps, s.ema_momentum, s.global_batch_size) == (0.1, 2000, 0.999, 768)
    assert (s.H_cycles, s.L_cycles, s.learning_rate, s.weight_decay, s.epochs) == (3, 6, 1e-4, 1.0, 50000)
    assert s.mlp_t and s.pos_encodings == "none" and s.num_aug == 1000 and s.train_count == 1000
    m = MazeConfig()
    assert (m.H_cycles, m.L_cycles, m.puzzle_emb_learning_rate, m.weight_decay) == (3, 4, 1e-4, 1.0)
    assert not m.mlp_t and m.pos_encodings == "rope"
    for cls in (ARCConfig, ARC2Config):
        a = cls()
        assert (a.L_cycles, a.learning_rate, a.puzzle_emb_learning_rate, a.weight_decay) == (4, 1e-4, 1e-2, 0.1)
        assert (a.puzzle_emb_weight_decay, a.epochs, a.num_variants) == (0.1, 100000, 1000)
    assert ARC2Config().subset == "arc-agi-2"


def test_variants_sizes_and_overrides():
    att = recipes.make_config(SudokuConfig, variant="att")
    assert not att.mlp_t and att.pos_encodings == "rope"
    cfg, _ = recipes.parse_config(
        SudokuConfig,
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


def test_a_size_can_set_other_values_for_one_variant():
    mlp = recipes.make_config(SudokuConfig, size="smoke", variant="mlp")
    att = recipes.make_config(SudokuConfig, size="smoke", variant="att")
    assert (mlp.mlp_t, mlp.pos_encodings, mlp.max_steps) == (True, "none", 300)
    assert (att.mlp_t, att.pos_encodings, att.max_steps) == (False, "learned", 1000)  # SIZE_VARIANTS[("smoke", "att")]
    assert (mlp.learning_rate, att.learning_rate) == (3e-3, 1.5e-3)
    overridden = recipes.make_config(SudokuConfig, size="smoke", variant="att", overrides={"max_steps": 5})
    assert overridden.max_steps == 5  # the user's settings still come last


@pytest.mark.parametrize(
    "argv", [["--size", "huge"], ["--set", "nope=1"], ["--set", "hidden_dim=abc"], ["--set", "novalue"]]
)
def test_bad_arguments_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        recipes.parse_config(SudokuConfig, argv)
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
    results = sudoku.main(["--size", "tiny", "--set", f"out_dir={out}", "--set", "tensorboard=true"])
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
    results = maze.main(["--size", "tiny", "--set", f"out_dir={out}"])
    saved = _check_run(results, out, "exact_accuracy")
    assert saved["final"]["benchmark"] == "maze"


@pytest.mark.slow
def test_arc_tiny_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    results = arc.main(["--size", "tiny", "--set", f"out_dir={out}"])
    _check_run(results, out, "pass@2")
    with open(os.path.join(out, "submission.json")) as f:
        assert len(json.load(f)) == 2  # two held-out tasks


def test_a_rerun_resumes_from_the_last_checkpoint(tmp_path, capsys):
    out = str(tmp_path / "run")
    sudoku.main(["--size", "tiny", "--set", f"out_dir={out}"])
    assert sorted(os.listdir(os.path.join(out, "checkpoints")))[-1] == "ckpt-0000000004.npz"
    capsys.readouterr()
    result = sudoku.main(["--size", "tiny", "--set", f"out_dir={out}", "--set", "max_steps=8"])
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
    "sudoku_extreme": (SudokuConfig, [[1]] * 1000, (65100, 6510, 10)),
    # 1000 mazes, one example each: the same numbers
    "maze_hard": (MazeConfig, [[1]] * 1000, (65100, 6510, 10)),
    # ARC tasks of 4 examples (768 is a multiple: no batch cuts a puzzle), 3 groups of 1, 2 and 3 variants:
    # mean 4, total int(100000 * 3 * 4 / 768) = 1562; per iteration 10000 * 3 * 4 // 768 = 156 (156.25); 10 x 156
    "arc_agi_1": (ARCConfig, [[4], [4, 4], [4, 4, 4]], (1560, 156, 10)),
    # tasks of 2 examples, 3 groups of 5, 1 and 2 variants: total int(100000 * 3 * 2 / 768) = 781; per iteration
    # 10000 * 3 * 2 // 768 = 78 (78.125); 10 x 78
    "arc_agi_2": (ARC2Config, [[2] * 5, [2], [2, 2]], (780, 78, 10)),
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
        group_passes=recipes.train_group_passes(cfg),
    )
    assert train.group_passes == cfg.eval_interval
    assert recipes.schedule(cfg, train) == expected


def test_official_total_steps_can_end_training_before_the_last_iteration():
    # one group of an 8-example task and one of three 1-example variants: mean (8 + 3) / 4 = 2.75, so
    # total_steps = int(100000 * 2 * 2.75 / 768) = 716, while each of the 10 iterations serves about
    # 10000 * 9 / 768 = 117 batches
    assert recipes.official_schedule(100000, 10000, 2, 2.75, 768, batches_per_iteration=117) == (716, 117, 10)
    with pytest.raises(ValueError, match="divide"):
        recipes.official_schedule(100000, 30000, 2, 2.75, 768, batches_per_iteration=117)


# ------------------------------------------------------------------------------------- ARC votes across evaluations
def test_arc_recipes_vote_aggregated_by_default():
    """Regression: as the official trainer (one evaluator per run, aggregated_voting=True)."""
    assert ARCConfig().voting == "aggregated" and ARC2Config().voting == "aggregated"
    for size in ARCConfig.SIZES:
        assert recipes.make_config(ARCConfig, size=size).voting == "aggregated"
    cfg, _ = recipes.parse_config(ARCConfig, ["--set", "voting=per_evaluation"])
    assert cfg.voting == "per_evaluation"


@pytest.fixture(scope="module")
def arc_build(tmp_path_factory):
    """Two held-out ConceptARC tasks, each as its original and one variant (2 votes per test input)."""
    from keras_trm.data import arc

    tasks = arc.load_concept_arc()
    ids = sorted(tasks)
    root = tmp_path_factory.mktemp("arc") / "data"
    arc.build_arc_dataset_from_tasks(
        root,
        {"train": {ids[0]: tasks[ids[0]]}},
        {"held out": {k: tasks[k] for k in ids[1:3]}},
        num_variants=1,
        seed=0,
        progress=False,
    )
    return root


class _ARCStandIn:
    """A stand-in solver: answers every test input with its true output ("right") or with the input ("echo"), halt
    logit 0; `optimizer.iterations` is the step the evaluation is at."""

    def __init__(self, ds):
        from types import SimpleNamespace

        pid = np.repeat(ds.puzzle_identifiers, np.diff(ds.puzzle_indices))
        self.truth = {
            (int(p), bytes(np.asarray(i).tobytes())): np.asarray(y) for p, i, y in zip(pid, ds.inputs, ds.labels)
        }
        self.mode = "right"
        self.optimizer = SimpleNamespace(iterations=np.int64(0))

    def predict_on_batch(self, x):
        rows = []
        for p, i in zip(x["puzzle_identifiers"], x["inputs"]):
            key = (int(p), bytes(np.asarray(i).tobytes()))
            rows.append(i if self.mode == "echo" or key not in self.truth else self.truth[key])
        return {"logits": np.eye(12, dtype=np.float32)[np.stack(rows)], "q_halt_logits": np.zeros(len(rows))}


@pytest.mark.parametrize("voting", ["aggregated", "per_evaluation"])
def test_arc_run_votes_across_its_evaluations(arc_build, tmp_path, voting):
    """Three periodic evaluations of one run: right, right, echo (2 votes per test input each). Aggregated: the
    true output has 4 votes, the echo 2 -> pass@1 = 1. Per evaluation: the last one only -> the echo alone, 0."""
    from keras_trm.data import PuzzleBatches, PuzzleDataset

    ds = PuzzleDataset(arc_build, "test")
    test = PuzzleBatches(ds, 4, mode="eval")
    cfg = ARCConfig(out_dir=str(tmp_path), data_dir=str(arc_build), voting=voting)
    solver = _ARCStandIn(ds)
    run = ARCRunEvaluation()
    reports = []
    for step, mode in ((1, "right"), (2, "right"), (3, "echo")):
        solver.mode, solver.optimizer.iterations = mode, np.int64(step)
        reports.append(run.periodic(solver, cfg, str(arc_build), test))
    assert [r["pass@1"] for r in reports[:2]] == [1.0, 1.0]
    last = reports[-1]
    assert last["voting"] == voting
    if voting == "aggregated":
        assert last["pass@1"] == 1.0 and last["voted_evaluations"] == 3
        assert last["voting_label"] == "votes aggregated over 3 evaluations"
        assert recipes.format_report(last).endswith("pass@1000 100.00%  (votes aggregated over 3 evaluations)")
    else:
        assert last["pass@1"] == 0.0 and last["pass@1000"] == 0.0 and last["voted_evaluations"] == 1
        assert last["voting_label"] == "votes of this evaluation only"
    # the final evaluation at the same step: aggregated reuses the last one (no second count of the same weights)
    final = run.final(solver, cfg, str(arc_build), test)
    assert final["pass@1"] == last["pass@1"] and final["voted_evaluations"] == last["voted_evaluations"]
    assert final.get("same_as_evaluation_at_step") == (3 if voting == "aggregated" else None)
    with open(tmp_path / "submission.json") as f:
        sub = json.load(f)
    for task_id, pairs in run.evaluator.tasks.items():
        for attempt, (x, y) in zip(sub[task_id], pairs):
            assert attempt["attempt_1"] == (y if voting == "aggregated" else x).tolist()
    # after more training (a later step) the final evaluation is one more evaluation
    solver.optimizer.iterations = np.int64(4)
    later = run.final(solver, cfg, str(arc_build), test)
    assert (
        later["voted_evaluations"] == (4 if voting == "aggregated" else 1) and "same_as_evaluation_at_step" not in later
    )
    assert later["pass@1"] == (1.0 if voting == "aggregated" else 0.0)  # right 4 votes, echo 4: tie -> first seen


def test_arc_run_says_when_periodic_evaluations_were_capped(arc_build, tmp_path):
    from keras_trm.data import PuzzleBatches, PuzzleDataset

    ds = PuzzleDataset(arc_build, "test")
    test = PuzzleBatches(ds, 2, mode="eval")
    assert len(test) > 1
    cfg = ARCConfig(out_dir=str(tmp_path), data_dir=str(arc_build), eval_max_examples=2)
    solver = _ARCStandIn(ds)
    solver.optimizer.iterations = np.int64(1)
    run = ARCRunEvaluation()
    capped = run.periodic(solver, cfg, str(arc_build), test, max_examples=2)
    assert capped["voting_label"] == "votes aggregated over 1 evaluation; 1 of them on the first 2 test examples only"
    final = run.final(solver, cfg, str(arc_build), test)  # the capped one cannot stand for the whole split
    assert "same_as_evaluation_at_step" not in final and final["voted_evaluations"] == 2 and final["pass@1"] == 1.0
    assert final["voting_label"] == "votes aggregated over 2 evaluations; 1 of them on the first 2 test examples only"


@pytest.mark.slow
def test_arc_tiny_run_logs_how_pass_at_k_was_voted(tmp_path, capsys):
    out = str(tmp_path / "run")
    arc.main(["--size", "tiny", "--set", f"out_dir={out}", "--set", "max_steps=4", "--set", "checkpoints=false"])
    logged = capsys.readouterr().out
    assert "[eval @ step 2]" in logged and "(votes aggregated over 1 evaluation)" in logged
    assert "[eval @ step 4]" in logged and "(votes aggregated over 2 evaluations)" in logged
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    assert [e["voted_evaluations"] for e in saved["evaluations"]] == [1, 2]
    assert saved["final"]["voting_label"] == "votes aggregated over 2 evaluations"
    assert saved["final"]["same_as_evaluation_at_step"] == 4 and saved["final"]["voting"] == "aggregated"
    assert "val_pass@2/aggregated" in saved["history"] and "val_pass@2" not in saved["history"]
