"""The run every recipe shares: data -> model -> fit with evaluation every interval -> final evaluation -> saved files.

    settings checked, out_dir checked (run_settings.json) -> data -> TRMBackbone + TRMPuzzleSolver -> compile
    (AdamATan2 + sign-SGD, warm-up) -> fit, evaluating every interval (the best weights kept) -> final evaluation
    with baselines -> <out_dir>/model.keras, task.json, results.json (and the benchmark's extras)

A recipe gives `run` (or `recipe_main`) its config, a `build_data(cfg)` that writes the dataset into
`cfg.data_dir`, and its evaluation `(solver, cfg, data_dir, test_batches, max_examples=0, progress=False) -> report`.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from keras_trm.callbacks import TRMCheckpoint, TRMTensorBoard, restore_latest, swap_ema_weights
from keras_trm.data import PuzzleBatches, PuzzleDataset, read_metadata
from keras_trm.models import TRMBackbone, TRMPuzzleSolver
from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor
from keras_trm.recipes.command_line import parse_run_args
from keras_trm.recipes.evaluate import format_baselines, format_report, grid_baselines
from keras_trm.recipes.periodic_evaluation import PeriodicEvaluation
from keras_trm.recipes.run_state import (
    BEST_WEIGHTS,
    changed_settings,
    default_out_dir,
    prepare_out_dir,
    settings_record,
    write_settings,
)
from keras_trm.recipes.schedule import schedule, train_group_passes
from keras_trm.recipes.validation import validate_config
from keras_trm.utils.puzzle_spec import PuzzleSpec

TASK_INFO_KEYS = ("benchmark", "seq_len", "vocab_size", "grid_shape", "vocabulary", "charset")
"""The dataset metadata that task.json keeps beside a saved model: what `keras-trm solve` needs."""


def build_solver(cfg, metadata):
    """TRMBackbone + TRMPuzzleSolver for a built dataset, uncompiled; seeds Keras with `cfg.seed` first.

    Args:
        cfg: TRMConfig. The model settings.
        metadata: dict. The built dataset's metadata ("vocab_size", "seq_len", "num_puzzle_identifiers").
    """
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
    return TRMPuzzleSolver(
        backbone,
        halt_max_steps=cfg.halt_max_steps,
        halt_exploration_prob=cfg.halt_exploration_prob,
        token_loss=cfg.token_loss,
        seed=cfg.seed,
    )


def compile_solver(solver, cfg, total_steps):
    """Compile with the official optimisers and schedule, then build the training carry for `global_batch_size`.

    Args:
        solver: TRMPuzzleSolver. The model.
        cfg: TRMConfig. The optimisation settings.
        total_steps: int. Optimizer steps of the run (the end of the cosine decay).
    """
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


def run_callbacks(cfg, test_batches, metadata, solver, train_batches):
    """TensorBoard (`cfg.tensorboard`) and checkpoints (`cfg.checkpoints`) of a run, from `keras_trm.callbacks`.

    Returns:
        (callbacks, initial_epoch): a run whose `out_dir` holds checkpoints resumes from the last one.
    """
    cbs, initial_epoch = [], 0
    if cfg.tensorboard:
        benchmark = metadata["benchmark"] if metadata["benchmark"] in ("sudoku", "maze") else "arc"
        cbs.append(
            TRMTensorBoard(
                os.path.join(cfg.out_dir, "logs"),
                update_freq=10,
                examples=test_batches[0],
                benchmark=benchmark,
                grid_shape=tuple(metadata["grid_shape"]),
                use_ema=cfg.ema,
            )
        )
    if cfg.checkpoints:
        folder = os.path.join(cfg.out_dir, "checkpoints")
        record = restore_latest(solver, train_batches, folder)
        if record is not None:
            initial_epoch = int(record["initial_epoch"])
        # runs after the evaluation callback, so "best" is judged on the held-out exact accuracy
        cbs.append(TRMCheckpoint(folder, data=train_batches, monitor="val_exact_accuracy", mode="max"))
    return cbs, initial_epoch


def ema_weights(solver, enabled):
    """Context manager: the EMA weights swapped in (evaluation uses them, as the official trainer) when `enabled`."""
    return swap_ema_weights(solver) if enabled else contextlib.nullcontext()


def describe_devices():
    """One line: the Keras backend and the devices a run uses, e.g. "backend jax on cpu:0"."""
    try:
        devices = keras.distribution.list_devices()
    except Exception:  # noqa: BLE001 - a backend without device listing: name the backend only
        devices = []
    shown = ", ".join(devices[:4]) + (f" and {len(devices) - 4} more" if len(devices) > 4 else "")
    return f"backend {keras.backend.backend()}" + (f" on {shown}" if shown else "")


def selection_metric(report):
    """The name of the report value that picks the kept model: "exact_accuracy" (Sudoku, Maze), "pass@2" (ARC)."""
    return next((k for k in ("exact_accuracy", "pass@2") if isinstance(report.get(k), float)), None)


class KeptModel:
    """The best weights of a run by its periodic evaluations (`selection_metric`), kept in `<out_dir>/BEST_WEIGHTS`.

    Ties keep the later step. `offer(solver, report)` is called while the evaluated weights are in the model (EMA
    swapped in when the run uses it); a resumed run starts from the record of its earlier results.
    """

    def __init__(self, out_dir, record=None):
        self.path = os.path.join(out_dir, BEST_WEIGHTS)
        record = record or {}
        self.step = record.get("step")
        self.metric = record.get("metric")
        self.value = record.get("value")
        if self.step is not None and not os.path.exists(self.path):
            self.step = self.value = None

    def offer(self, solver, report):
        metric = selection_metric(report)
        if metric is None:
            return
        value = float(report[metric])
        if self.value is None or value >= self.value:
            tmp = os.path.join(os.path.dirname(self.path), f"tmp-{os.getpid()}.weights.h5")
            solver.backbone.save_weights(tmp)
            os.replace(tmp, self.path)
            self.step, self.metric, self.value = int(report["step"]), metric, value

    def record(self):
        """{"step", "metric", "value"} of the kept weights ({} when none was kept)."""
        if self.step is None:
            return {}
        return {"step": self.step, "metric": self.metric, "value": self.value}


def _build_data_or_clean(cfg, build_data, created_out_dir, log):
    """Build the dataset; on failure remove what this run created (its out_dir, or the partial data folders)."""
    existed = {p: os.path.exists(p) for p in (cfg.data_dir, cfg.data_dir + "-csv")}
    log(f"building data in {cfg.data_dir}")
    try:
        build_data(cfg)
    except BaseException:
        if created_out_dir:
            shutil.rmtree(cfg.out_dir, ignore_errors=True)
        else:
            for path, was_there in existed.items():
                if not was_there:
                    shutil.rmtree(path, ignore_errors=True)
        raise


def _earlier_results(out_dir):
    path = os.path.join(out_dir, "results.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _write_results(out_dir, results):
    path = os.path.join(out_dir, "results.json")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(_jsonable(results), f, indent=1)
    os.replace(tmp, path)


def prepare_run(cfg, mode=None, log=print):
    """Fill in the default folders, validate the settings and check `out_dir`, all before any work.

    Args:
        cfg: TRMConfig. The recipe's config.
        mode: None, "overwrite" or "resume" (`keras_trm.recipes.run_state.prepare_out_dir`).
        log: callable. Prints one line (default `print`).

    Returns:
        (resolved config, "fresh" or "continue").

    Raises:
        SettingsError: a bad setting; StaleRunError: `out_dir` holds a run of other settings.
    """
    if not cfg.out_dir:
        cfg = dataclasses.replace(cfg, out_dir=default_out_dir(cfg))
    cfg = cfg.resolved()
    data_ready = os.path.exists(os.path.join(cfg.data_dir, "metadata.json"))
    validate_config(cfg, check_source=not data_ready)
    state = prepare_out_dir(cfg, mode, log)
    return cfg, state


def run(cfg, build_data, final_evaluation, periodic_evaluation=None, log=print, mode=None):
    """Data -> model -> fit with evaluation every interval -> final evaluation -> saved model and results.

    Settings are validated and `out_dir` checked before anything is written (`prepare_run`); `run_settings.json`
    records the settings the data and checkpoints depend on. `model.keras` holds the weights of the best periodic
    evaluation (`selection_metric`; ties: the later), which results.json names ("kept").

    Args:
        cfg: TRMConfig. The recipe's config (resolved here: default folders filled in).
        build_data: callable. cfg -> built dataset folder; called only when `cfg.data_dir` has no metadata.json.
        final_evaluation: callable. (solver, cfg, data_dir, test_batches, max_examples=0, progress=False) ->
            report dict (may write extra files into `cfg.out_dir`).
        periodic_evaluation: callable or None. The same signature, capped by `eval_max_examples` (default None:
            `final_evaluation`).
        log: callable. Prints one line (default `print`).
        mode: None, "overwrite" or "resume": what to do with an earlier run in `out_dir` (default None: continue
            one of the same settings, refuse any other; see `keras_trm.recipes.run_state.prepare_out_dir`).

    Returns:
        dict: the results also written to <out_dir>/results.json (config, steps, final report with its baselines,
        every evaluation, the kept step, history, model path, timings).
    """
    cfg, state = prepare_run(cfg, mode, log)
    created_out_dir = not os.path.exists(cfg.out_dir)
    os.makedirs(cfg.out_dir, exist_ok=True)
    write_settings(cfg.out_dir, settings_record(cfg))
    earlier = _earlier_results(cfg.out_dir) if state == "continue" else {}
    changed = changed_settings(cfg)
    log(
        f"{cfg.NAME}: {describe_devices()}; writing to {cfg.out_dir}"
        + (f" (settings changed from the {cfg.size} size: {', '.join(changed)})" if changed else "")
    )
    t0 = time.time()
    if not os.path.exists(os.path.join(cfg.data_dir, "metadata.json")):
        _build_data_or_clean(cfg, build_data, created_out_dir, log)
    elif state == "continue":
        log(f"reusing the data built in {cfg.data_dir} (same settings)")
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
    kept = KeptModel(cfg.out_dir, earlier.get("kept"))

    def periodic():
        with ema_weights(solver, cfg.ema):
            report = periodic_evaluation(solver, cfg, cfg.data_dir, test, max_examples=cfg.eval_max_examples)
            report["step"] = _optimizer_step(solver)
            kept.offer(solver, report)
            return report

    extra, initial_epoch = run_callbacks(cfg, test, meta, solver, train)
    resumed_step = min(initial_epoch * every, total) if initial_epoch else 0
    previous = [e for e in earlier.get("evaluations", []) if e.get("step", 0) <= resumed_step]
    if resumed_step:
        log(
            f"resuming from step {resumed_step} of {total}: the run in {cfg.out_dir} has the same settings "
            f"({len(previous)} earlier evaluation(s) kept in results.json)"
        )

    def progress(reports):
        _write_results(
            cfg.out_dir,
            dict(_header(cfg, total), status="training", evaluations=reports, kept=kept.record()),
        )

    evaluator = PeriodicEvaluation(periodic, every, logger=log, total_steps=total, reports=previous, on_report=progress)
    t1 = time.time()
    history = solver.fit(
        train,
        epochs=keras_epochs,
        initial_epoch=initial_epoch,
        verbose=cfg.verbose if cfg.verbose else 0,
        callbacks=[evaluator] + extra,
    )
    t_fit = time.time() - t1
    t2 = time.time()
    with ema_weights(solver, cfg.ema):
        if kept.step is not None and kept.step != _optimizer_step(solver):
            solver.backbone.load_weights(kept.path)
            log(f"keeping the model of step {kept.step} ({kept.metric} {kept.value:.2%} at its evaluation)")
        final = final_evaluation(solver, cfg, cfg.data_dir, test, max_examples=0, progress=cfg.verbose > 0)
        model_path = save_model(solver, cfg, meta)
    t_eval = time.time() - t2
    log("final evaluation on the held-out split:\n" + format_report(final))
    if "exact_accuracy" in final and "baselines" not in final:
        final["baselines"] = grid_baselines(build_solver(cfg, meta), test, meta, cfg.eval_max_examples)
    if "baselines" in final and "exact_accuracy" in final:
        log(format_baselines(final, f"{cfg.NAME} held-out"))
    results = dict(
        _header(cfg, total),
        status="complete",
        final=final,
        evaluations=evaluator.reports,
        kept=kept.record() or {"step": _optimizer_step(solver), "metric": None, "value": None},
        resumed_from_step=resumed_step or None,
        history=history.history,
        model=model_path,
        seconds={
            "data": round(t_data, 1),
            "fit": round(t_fit, 1),
            "final_evaluation": round(t_eval, 1),
            "total": round(time.time() - t0, 1),
        },
    )
    _write_results(cfg.out_dir, results)
    results = _jsonable(results)
    log(
        f"saved {model_path} and {os.path.join(cfg.out_dir, 'results.json')} "
        f"({results['seconds']['total']:.0f} s in all)"
    )
    return results


def _header(cfg, total):
    return {"recipe": cfg.NAME, "backend": keras.backend.backend(), "config": cfg.to_dict(), "steps": total}


def _optimizer_step(solver):
    optimizer = getattr(solver, "optimizer", None)
    if optimizer is None:
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def save_model(solver, cfg, metadata):
    """Write <out_dir>/model.keras (an inference copy) and <out_dir>/task.json (`TASK_INFO_KEYS` of `metadata`).

    Returns:
        str: the model's path.
    """
    path = os.path.join(cfg.out_dir, "model.keras")
    spec = PuzzleSpec.from_dataset(cfg.data_dir) if metadata.get("benchmark") in ("sudoku", "maze") else None
    copy = inference_copy(solver, spec)
    tmp = os.path.join(cfg.out_dir, f"model.tmp-{os.getpid()}.keras")
    copy.save(tmp)
    os.replace(tmp, path)
    write_task_info(cfg.out_dir, metadata)
    return path


def inference_copy(solver, spec=None):
    """A new solver with the trained weights and no training carry (which a loaded model could not restore).

    Args:
        solver: TRMPuzzleSolver. The trained model.
        spec: PuzzleSpec or None. The puzzles it solves: the copy carries it (`puzzle_spec`, written by
            `save_to_preset`) and its preprocessor (saved in model.keras), so that the copy, and any preset saved
            from it, reads raw puzzles (default None: the solver's own preprocessor).
    """
    backbone = solver.backbone.__class__.from_config(solver.backbone.get_config())
    backbone.set_weights(solver.backbone.get_weights())
    backbone.puzzle_spec = spec if spec is not None else getattr(solver.backbone, "puzzle_spec", None)
    keep = ("halt_max_steps", "halt_exploration_prob", "no_ACT_continue", "token_loss", "halt_at_inference", "seed")
    config = solver.get_config()
    preprocessor = PuzzlePreprocessor.from_spec(spec) if spec is not None else solver.preprocessor
    return TRMPuzzleSolver(backbone, preprocessor=preprocessor, **{k: v for k, v in config.items() if k in keep})


def write_task_info(folder, metadata):
    """<folder>/task.json: the `TASK_INFO_KEYS` entries of a built dataset's metadata."""
    with open(os.path.join(folder, "task.json"), "w") as f:
        json.dump({k: metadata[k] for k in TASK_INFO_KEYS if k in metadata}, f, indent=1)


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
    """The body of every recipe's `main(argv)`: parse the command line, then print the settings or `run`.

    Args:
        cls: type. The recipe's `TRMConfig` subclass.
        build_data: callable. As in `run`.
        final_evaluation: callable. As in `run`.
        argv: list of str or None. The command line (default None: `sys.argv[1:]`).
        periodic_evaluation: callable or None. As in `run`.

    Returns:
        The results dict of `run`, or the config with `--print-config`.

    Raises:
        SettingsError, StaleRunError: bad settings, or an `out_dir` holding another run (before any work).
    """
    args = parse_run_args(cls, argv)
    cfg = args.config
    if args.print_config:
        resolved = cfg if cfg.out_dir else dataclasses.replace(cfg, out_dir=default_out_dir(cfg))
        print(json.dumps(resolved.resolved().to_dict(), indent=1))
        return cfg
    return run(cfg, build_data, final_evaluation, periodic_evaluation, mode=args.mode)
