"""What every recipe shares: the config object, command-line overrides, model building, fit with evaluation, saving.

A recipe is a dataclass (a subclass of `TRMConfig`) whose defaults are the paper's settings (SPEC section 3), a few
named sizes (`SIZES`: dicts of overrides), a `build_data(config)` that returns the built dataset's folder, and
`main(argv)`. `run(config, build_data, evaluate_fn)` does the rest:

    data -> TRMBackbone + TRMPuzzleSolver -> compile (AdamATan2 + sign-SGD, warm-up) -> fit, evaluating every
    interval -> final evaluation -> <out_dir>/model.keras, results.json (and the benchmark's extras)

Settings resolve in this order: the dataclass defaults, then `VARIANTS[variant]`, then `SIZES[size]`, then the
command line (`--set key=value`, repeatable, or `--key value`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

# The recipes run as `python recipes/x.py`, `python -m recipes.x` or through `keras-trm train`.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@dataclass
class TRMConfig:
    """Settings shared by every recipe; defaults are the paper's (SPEC 3) for a multi-GPU / TPU run."""

    # --- run
    size: str = "paper"
    variant: str = ""
    out_dir: str = ""  # default runs/<recipe>-<variant>-<size>
    data_dir: str = ""  # built dataset; default <out_dir>/data (built when missing)
    seed: int = 0
    verbose: int = 1
    # --- model (SPEC 1)
    hidden_dim: int = 512
    num_heads: int = 8
    num_layers: int = 2
    expansion: float = 4.0
    H_cycles: int = 3
    L_cycles: int = 6
    mlp_t: bool = False
    pos_encodings: str = "rope"
    puzzle_emb_len: int = 16
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    loss: str = "stablemax"
    dtype: str = "mixed_bfloat16"
    # --- optimisation (SPEC 3)
    global_batch_size: int = 768
    learning_rate: float = 1e-4
    puzzle_emb_learning_rate: float = 1e-4
    weight_decay: float = 1.0
    puzzle_emb_weight_decay: float = 1.0
    warmup_steps: int = 2000
    lr_min_ratio: float = 1.0
    beta_1: float = 0.9
    beta_2: float = 0.95
    ema: bool = True
    ema_momentum: float = 0.999
    epochs: int = 50000  # official epochs: passes over the training groups
    eval_interval: int = 5000  # official epochs between evaluations
    max_steps: int = 0  # > 0: train this many optimizer steps instead of `epochs`
    eval_every_steps: int = 0  # with max_steps: steps between evaluations (0: only at the end)
    eval_batch_size: int = 0  # 0: global_batch_size
    eval_max_examples: int = 0  # cap of test examples in periodic evaluations (0: all); the final one uses all
    tensorboard: bool = True  # logs under <out_dir>/logs when keras_trm.callbacks is available
    checkpoints: bool = True  # last and best under <out_dir>/checkpoints at every evaluation; a rerun resumes

    NAME: ClassVar[str] = "trm"
    SIZES: ClassVar[dict] = {"paper": {}}
    VARIANTS: ClassVar[dict] = {"": {}}

    # ----------------------------------------------------------------------------------------- resolution
    def resolved(self):
        """A copy with the default folders filled in."""
        cfg = dataclasses.replace(self)
        tag = "-".join(p for p in (self.NAME, self.variant, self.size) if p)
        cfg.out_dir = cfg.out_dir or os.path.join("runs", tag)
        cfg.data_dir = cfg.data_dir or os.path.join(cfg.out_dir, "data")
        cfg.eval_batch_size = cfg.eval_batch_size or cfg.global_batch_size
        return cfg

    def to_dict(self):
        return dataclasses.asdict(self)


def _convert(value, ftype, name):
    """A command-line string to the field's type ('true'/'false' for bools, 'none' for optional values)."""
    t = ftype if isinstance(ftype, str) else repr(ftype)
    if value.lower() in ("none", "null") and ("None" in t or "Optional" in t):
        return None
    base = next((b for b in ("bool", "int", "float") if b in t), "str")
    try:
        if base == "bool":
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if base == "int":
            return int(float(value)) if "e" in value.lower() else int(value)
        if base == "float":
            return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected {base}, got {value!r}") from None
    return value


def make_config(cls, size=None, variant=None, overrides=None):
    """`cls` defaults, then its variant and size overrides, then `overrides` ({field: value or string})."""
    names = {f.name: f for f in fields(cls)}
    overrides = dict(overrides or {})
    variant = variant if variant is not None else overrides.pop("variant", None)
    size = size if size is not None else overrides.pop("size", None)
    variant = names["variant"].default if variant is None else variant
    size = names["size"].default if size is None else size
    if variant not in cls.VARIANTS:
        raise ValueError(f"{cls.NAME}: unknown variant {variant!r}; choose from {sorted(cls.VARIANTS)}")
    if size not in cls.SIZES:
        raise ValueError(f"{cls.NAME}: unknown size {size!r}; choose from {sorted(cls.SIZES)}")
    values = dict(cls.VARIANTS[variant])
    values.update(cls.SIZES[size])
    for key, value in overrides.items():
        if key not in names:
            raise ValueError(f"{cls.NAME}: unknown setting {key!r}; settings are {', '.join(sorted(names))}")
        values[key] = _convert(value, names[key].type, key) if isinstance(value, str) else value
    values.update(size=size, variant=variant)
    return cls(**values)


def parse_config(cls, argv=None, description=None):
    """Parse `--size`, `--variant`, `--set key=value` and `--<field> value` into a `cls` config."""
    p = argparse.ArgumentParser(
        prog=f"recipes/{cls.NAME}",
        description=description or cls.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", choices=sorted(cls.SIZES), default=None, help="named size (default: paper)")
    if len(cls.VARIANTS) > 1:
        p.add_argument("--variant", choices=sorted(cls.VARIANTS), default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any setting")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    for f in fields(cls):
        if f.name in ("size", "variant"):
            continue
        p.add_argument(
            f"--{f.name}",
            dest=f"field_{f.name}",
            default=None,
            metavar=str(f.type).upper()[:5],
            help=f"default {f.default!r}",
        )
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    for f in fields(cls):
        value = getattr(args, f"field_{f.name}", None)
        if value is not None:
            overrides[f.name] = value
    try:
        cfg = make_config(cls, args.size, getattr(args, "variant", None), overrides)
    except (ValueError, argparse.ArgumentTypeError) as e:
        p.error(str(e))
    return cfg, args.print_config


# --------------------------------------------------------------------------------------------- model
def build_solver(cfg, metadata):
    """TRMBackbone + TRMPuzzleSolver for a built dataset's metadata, compiled with the official optimisers."""
    import keras

    from keras_trm import TRMBackbone, TRMPuzzleSolver

    keras.utils.set_random_seed(cfg.seed)
    backbone = TRMBackbone(
        vocabulary_size=int(metadata["vocab_size"]),
        sequence_length=int(metadata["seq_len"]),
        hidden_dim=cfg.hidden_dim,
        num_heads=cfg.num_heads,
        num_layers=cfg.num_layers,
        H_cycles=cfg.H_cycles,
        L_cycles=cfg.L_cycles,
        expansion=cfg.expansion,
        mlp_t=cfg.mlp_t,
        pos_encodings=cfg.pos_encodings,
        num_puzzle_identifiers=int(metadata.get("num_puzzle_identifiers", 1)),
        puzzle_emb_len=cfg.puzzle_emb_len,
        dtype=cfg.dtype,
    )
    solver = TRMPuzzleSolver(
        backbone,
        halt_max_steps=cfg.halt_max_steps,
        halt_exploration_prob=cfg.halt_exploration_prob,
        loss=cfg.loss,
        seed=cfg.seed,
    )
    return solver


def compile_solver(solver, cfg, total_steps):
    solver.compile(
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        puzzle_emb_learning_rate=cfg.puzzle_emb_learning_rate,
        puzzle_emb_weight_decay=cfg.puzzle_emb_weight_decay,
        warmup_steps=cfg.warmup_steps,
        total_steps=total_steps,
        lr_min_ratio=cfg.lr_min_ratio,
        beta_1=cfg.beta_1,
        beta_2=cfg.beta_2,
        use_ema=cfg.ema,
        ema_momentum=cfg.ema_momentum,
    )
    solver.build_carry(cfg.global_batch_size)  # before any predict builds (and locks) the model
    return solver


def train_group_passes(cfg):
    """Group permutations per pass of the training sampler: the official `epochs_per_iter` (= eval_interval)."""
    return 1 if cfg.max_steps > 0 else cfg.eval_interval


def official_schedule(
    epochs, eval_interval, num_groups, mean_puzzle_examples, global_batch_size, batches_per_iteration
):
    """(optimizer steps, steps per evaluation, evaluations) of the official trainer (pretrain.py).

    It stops updating at `total_steps = int(epochs * groups * mean_puzzle_examples / global_batch_size)` and runs
    `epochs // eval_interval` iterations, each one pass of the sampler over `eval_interval` concatenated group
    permutations (one partial batch dropped per iteration) followed by one evaluation.

    Example:
    >>> official_schedule(50000, 5000, 1000, 1.0, 768, batches_per_iteration=5000 * 1000 // 768)
    (65100, 6510, 10)
    """
    if epochs % eval_interval:
        raise ValueError(f"eval_interval ({eval_interval}) must divide epochs ({epochs}), as in the official trainer")
    iterations = epochs // eval_interval
    total_steps = int(epochs * num_groups * mean_puzzle_examples / global_batch_size)
    return min(total_steps, iterations * batches_per_iteration), batches_per_iteration, iterations


def schedule(cfg, train):
    """(total optimizer steps, steps per Keras epoch = per evaluation, Keras epochs) for training on `train`.

    `train` is the training split's train-mode `PuzzleBatches` with `group_passes=train_group_passes(cfg)`, so
    that one of its passes is one official iteration. With `epochs` this is `official_schedule`: a Keras epoch is
    one iteration (the batches of the sampler's first pass; passes have the same length whenever every puzzle
    has one example, as in Sudoku and Maze, and differ by a few cut batches otherwise). When `total_steps` ends
    training before the last iteration, the run stops there (the official loop would repeat the same evaluation).
    With `max_steps`, that many steps with an evaluation every `eval_every_steps`.
    """
    if cfg.max_steps > 0:
        total = int(cfg.max_steps)
        every = min(int(cfg.eval_every_steps) if cfg.eval_every_steps > 0 else total, total)
        return total, every, math.ceil(total / every)
    ds = train.dataset
    return official_schedule(
        cfg.epochs,
        cfg.eval_interval,
        ds.num_groups,
        ds.num_examples / max(ds.num_puzzles, 1),
        cfg.global_batch_size,
        train.steps_per_epoch,
    )


# --------------------------------------------------------------------------------------------- predicting
def predict_batches(solver, batches, max_examples=0, progress=False, desc="predict"):
    """Run the solver over eval-mode `PuzzleBatches`; yields (x, y, weight, outputs as numpy)."""
    import keras

    n = len(batches)
    if max_examples:
        n = min(n, -(-int(max_examples) // batches.batch_size))
    it = range(n)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=desc, unit="batch", leave=False)
    for i in it:
        x, y, w = batches[i]
        out = solver.predict_on_batch(x)
        yield x, y, w, {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}


def evaluate_grids(solver, batches, metadata, max_examples=0, progress=False):
    """Sudoku / Maze score report (keras_trm.evaluation.grids) of the solver on eval-mode batches."""
    from keras_trm.evaluation.grids import score_grid_predictions

    preds, inputs, labels = [], [], []
    for x, y, w, out in predict_batches(solver, batches, max_examples, progress, "evaluate"):
        keep = w > 0
        preds.append(out["logits"].argmax(-1)[keep])
        inputs.append(x["inputs"][keep])
        labels.append(y[keep])
    return score_grid_predictions(
        np.concatenate(preds),
        np.concatenate(inputs),
        np.concatenate(labels),
        metadata["benchmark"],
        tuple(metadata["grid_shape"]),
    )


def format_report(report):
    if "exact_accuracy" in report:
        from keras_trm.evaluation.grids import format_grid_report

        return format_grid_report(report)
    line = "  ".join(f"{k} {100 * v:.2f}%" for k, v in report.items() if k.startswith("pass@"))
    if report.get("voting_label"):  # ARC: which votes the pass@K count
        line += f"  ({report['voting_label']})"
    return line


# --------------------------------------------------------------------------------------------- callbacks
def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class _PeriodicEvaluation:
    """Evaluates at the end of every Keras epoch (one evaluation interval) and keeps the reports."""

    def __init__(self, evaluate_fn, logger=None):
        self.evaluate_fn = evaluate_fn
        self.logger = logger
        self.reports = []

    def __call__(self, epoch, step):
        t = time.time()
        report = self.evaluate_fn()
        report = dict(report, step=int(step), seconds=round(time.time() - t, 2))
        self.reports.append(report)
        if self.logger:
            self.logger(f"[eval @ step {step}] " + format_report(report).replace("\n", " |"))
        return report


def make_eval_callback(evaluate_fn, steps_per_epoch, logger=print, total_steps=None):
    """A keras Callback running `evaluate_fn()` at each epoch end (its `.reports` lists the results) and ending
    training after `total_steps` optimizer steps."""
    Base = _keras_callback_base()
    periodic = _PeriodicEvaluation(evaluate_fn, logger)

    class EvaluateEvery(Base):
        reports = periodic.reports

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if total_steps is not None and self.epoch * steps_per_epoch + batch + 1 >= total_steps:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            report = periodic(epoch, min((epoch + 1) * steps_per_epoch, total_steps or float("inf")))
            if logs is not None:
                for k, v in report.items():
                    if isinstance(v, float):
                        if k.startswith("pass@") and report.get("voting"):  # ARC: pass@K/aggregated ...
                            k = f"{k}/{report['voting']}"
                        logs[f"val_{k}"] = v

    return EvaluateEvery()


def optional_callbacks(cfg, test_batches, metadata, solver=None, train_batches=None):
    """TensorBoard (metrics, learning rates, periodic evaluation, pictures) and checkpoints from keras_trm.callbacks.

    Returns (callbacks, initial_epoch), where a run in `out_dir` resumes from its last checkpoint."""
    cbs, initial_epoch = [], 0
    try:
        from keras_trm import callbacks as trm_callbacks
    except ImportError:  # an older install without keras_trm.callbacks
        return cbs, initial_epoch
    if cfg.tensorboard:
        benchmark = metadata["benchmark"] if metadata["benchmark"] in ("sudoku", "maze") else "arc"
        cbs.append(
            trm_callbacks.TRMTensorBoard(
                os.path.join(cfg.out_dir, "logs"),
                update_freq=10,
                examples=test_batches[0],
                benchmark=benchmark,
                grid_shape=tuple(metadata["grid_shape"]),
                use_ema=cfg.ema,
            )
        )
    if cfg.checkpoints and solver is not None:
        folder = os.path.join(cfg.out_dir, "checkpoints")
        record = trm_callbacks.restore_latest(solver, train_batches, folder)
        if record is not None:
            initial_epoch = int(record["initial_epoch"])
            print(f"resuming from {folder} at epoch {initial_epoch}")
        # runs after the evaluation callback, so "best" is judged on the held-out exact accuracy
        cbs.append(trm_callbacks.TRMCheckpoint(folder, data=train_batches, monitor="val_exact_accuracy", mode="max"))
    return cbs, initial_epoch


def ema_weights(solver, enabled):
    """Context manager: the EMA weights swapped in (SPEC 3: evaluation uses them) when `enabled`."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    from keras_trm.callbacks import swap_ema_weights

    return swap_ema_weights(solver)


# --------------------------------------------------------------------------------------------- the run
def run(cfg, build_data, final_evaluation, periodic_evaluation=None, log=print):
    """Data -> model -> fit with evaluation every interval -> final evaluation -> saved model and results.

    Args:
        cfg: a resolved recipe config.
        build_data: cfg -> built dataset folder (built only when `cfg.data_dir` has no metadata.json).
        final_evaluation: (solver, cfg, data_dir, test_batches) -> report dict (may write extra files).
        periodic_evaluation: same signature, capped by `eval_max_examples` (default: final_evaluation).

    Returns the results dict also written to <out_dir>/results.json.
    """
    import keras

    from keras_trm.data import PuzzleBatches, PuzzleDataset, read_metadata

    cfg = cfg.resolved()
    os.makedirs(cfg.out_dir, exist_ok=True)
    t0 = time.time()
    if not os.path.exists(os.path.join(cfg.data_dir, "metadata.json")):
        log(f"building data in {cfg.data_dir}")
        build_data(cfg)
    t_data = time.time() - t0
    meta = read_metadata(cfg.data_dir)
    train_ds, test_ds = PuzzleDataset(cfg.data_dir, "train"), PuzzleDataset(cfg.data_dir, "test")
    train = PuzzleBatches(
        train_ds, cfg.global_batch_size, mode="train", seed=cfg.seed, group_passes=train_group_passes(cfg)
    )
    total, every, keras_epochs = schedule(cfg, train)
    train.steps_per_epoch = every
    log(
        f"{cfg.NAME} ({cfg.variant or 'default'}, size {cfg.size}) on {keras.backend.backend()}: "
        f"{train_ds.num_examples} train / {test_ds.num_examples} test examples, seq_len {meta['seq_len']}, "
        f"{total} steps of batch {cfg.global_batch_size}, evaluation every {every}"
    )

    solver = build_solver(cfg, meta)
    compile_solver(solver, cfg, total)
    log(f"model: {solver.backbone.count_params():,} parameters (puzzle-embedding table included)")
    test = PuzzleBatches(test_ds, cfg.eval_batch_size, mode="eval")
    periodic_evaluation = periodic_evaluation or final_evaluation

    def periodic():
        with ema_weights(solver, cfg.ema):
            return periodic_evaluation(solver, cfg, cfg.data_dir, test, max_examples=cfg.eval_max_examples)

    evaluator = make_eval_callback(periodic, every, logger=log, total_steps=total)
    t1 = time.time()
    extra, initial_epoch = optional_callbacks(cfg, test, meta, solver=solver, train_batches=train)
    history = solver.fit(
        train,
        epochs=keras_epochs,
        initial_epoch=initial_epoch,
        verbose=cfg.verbose if cfg.verbose else 0,
        callbacks=[evaluator] + extra,
    )
    t_fit = time.time() - t1
    t2 = time.time()
    final = final_evaluation(solver, cfg, cfg.data_dir, test, max_examples=0, progress=cfg.verbose > 0)
    t_eval = time.time() - t2
    log("final evaluation on the held-out split:\n" + format_report(final))
    model_path = save_model(solver, cfg, meta)
    results = {
        "recipe": cfg.NAME,
        "backend": keras.backend.backend(),
        "config": cfg.to_dict(),
        "steps": total,
        "final": _jsonable(final),
        "evaluations": _jsonable(evaluator.reports),
        "history": _jsonable(history.history),
        "model": model_path,
        "seconds": {
            "data": round(t_data, 1),
            "fit": round(t_fit, 1),
            "final_evaluation": round(t_eval, 1),
            "total": round(time.time() - t0, 1),
        },
    }
    with open(os.path.join(cfg.out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    log(
        f"saved {model_path} and {os.path.join(cfg.out_dir, 'results.json')} "
        f"({results['seconds']['total']:.0f} s in all)"
    )
    return results


def save_model(solver, cfg, metadata):
    """<out_dir>/model.keras plus <out_dir>/task.json (benchmark, grid shape, vocabulary: what `solve` needs)."""
    path = os.path.join(cfg.out_dir, "model.keras")
    inference_copy(solver).save(path)
    write_task_info(cfg.out_dir, metadata)
    return path


def inference_copy(solver):
    """A new solver with the trained weights and no training carry (which a loaded model could not restore)."""
    from keras_trm.models import TRMPuzzleSolver

    backbone = solver.backbone.__class__.from_config(solver.backbone.get_config())
    backbone.set_weights(solver.backbone.get_weights())
    config = {k: v for k, v in solver.get_config().items() if k not in ("backbone", "preprocessor")}
    return TRMPuzzleSolver(
        backbone,
        **{
            k: v
            for k, v in config.items()
            if k in ("halt_max_steps", "halt_exploration_prob", "no_ACT_continue", "loss", "halt_at_inference", "seed")
        },
    )


def write_task_info(folder, metadata):
    keys = ("benchmark", "seq_len", "vocab_size", "grid_shape", "vocabulary", "charset")
    with open(os.path.join(folder, "task.json"), "w") as f:
        json.dump({k: metadata[k] for k in keys if k in metadata}, f, indent=1)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def recipe_main(cls, build_data, final_evaluation, argv=None, periodic_evaluation=None):
    """The body of every recipe's `main(argv)`: parse, print or run."""
    cfg, print_only = parse_config(cls, argv)
    if print_only:
        print(json.dumps(cfg.resolved().to_dict(), indent=1))
        return cfg
    return run(cfg, build_data, final_evaluation, periodic_evaluation)


__all__ = [
    "TRMConfig",
    "make_config",
    "parse_config",
    "build_solver",
    "compile_solver",
    "schedule",
    "official_schedule",
    "train_group_passes",
    "predict_batches",
    "evaluate_grids",
    "format_report",
    "run",
    "save_model",
    "recipe_main",
    "field",
]
