"""The run every recipe shares: data -> model -> fit with evaluation every interval -> final evaluation -> saved files.

    data -> TRMBackbone + TRMPuzzleSolver -> compile (AdamATan2 + sign-SGD, warm-up) -> fit, evaluating every
    interval -> final evaluation -> <out_dir>/model.keras, task.json, results.json (and the benchmark's extras)

A recipe gives `run` (or `recipe_main`) its config, a `build_data(cfg)` that writes the dataset into
`cfg.data_dir`, and its evaluation `(solver, cfg, data_dir, test_batches, max_examples=0, progress=False) -> report`.
"""

import contextlib
import json
import os
import time

import keras
import numpy as np

from keras_trm.callbacks import TRMCheckpoint, TRMTensorBoard, restore_latest, swap_ema_weights
from keras_trm.data import PuzzleBatches, PuzzleDataset, read_metadata
from keras_trm.models import TRMBackbone, TRMPuzzleSolver
from keras_trm.recipes.config import parse_config
from keras_trm.recipes.evaluate import format_report
from keras_trm.recipes.periodic_evaluation import PeriodicEvaluation
from keras_trm.recipes.schedule import schedule, train_group_passes

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
            print(f"resuming from {folder} at epoch {initial_epoch}")
        # runs after the evaluation callback, so "best" is judged on the held-out exact accuracy
        cbs.append(TRMCheckpoint(folder, data=train_batches, monitor="val_exact_accuracy", mode="max"))
    return cbs, initial_epoch


def ema_weights(solver, enabled):
    """Context manager: the EMA weights swapped in (evaluation uses them, as the official trainer) when `enabled`."""
    return swap_ema_weights(solver) if enabled else contextlib.nullcontext()


def run(cfg, build_data, final_evaluation, periodic_evaluation=None, log=print):
    """Data -> model -> fit with evaluation every interval -> final evaluation -> saved model and results.

    Args:
        cfg: TRMConfig. The recipe's config (resolved here: default folders filled in).
        build_data: callable. cfg -> built dataset folder; called only when `cfg.data_dir` has no metadata.json.
        final_evaluation: callable. (solver, cfg, data_dir, test_batches, max_examples=0, progress=False) ->
            report dict (may write extra files into `cfg.out_dir`).
        periodic_evaluation: callable or None. The same signature, capped by `eval_max_examples` (default None:
            `final_evaluation`).
        log: callable. Prints one line (default `print`).

    Returns:
        dict: the results also written to <out_dir>/results.json (config, steps, final report, every evaluation,
        history, model path, timings).
    """
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

    evaluator = PeriodicEvaluation(periodic, every, logger=log, total_steps=total)
    t1 = time.time()
    extra, initial_epoch = run_callbacks(cfg, test, meta, solver, train)
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
    """Write <out_dir>/model.keras (an inference copy) and <out_dir>/task.json (`TASK_INFO_KEYS` of `metadata`).

    Returns:
        str: the model's path.
    """
    path = os.path.join(cfg.out_dir, "model.keras")
    inference_copy(solver).save(path)
    write_task_info(cfg.out_dir, metadata)
    return path


def inference_copy(solver):
    """A new solver with the trained weights and no training carry (which a loaded model could not restore)."""
    backbone = solver.backbone.__class__.from_config(solver.backbone.get_config())
    backbone.set_weights(solver.backbone.get_weights())
    keep = ("halt_max_steps", "halt_exploration_prob", "no_ACT_continue", "token_loss", "halt_at_inference", "seed")
    config = solver.get_config()
    return TRMPuzzleSolver(backbone, **{k: v for k, v in config.items() if k in keep})


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
    """
    cfg, print_only = parse_config(cls, argv)
    if print_only:
        print(json.dumps(cfg.resolved().to_dict(), indent=1))
        return cfg
    return run(cfg, build_data, final_evaluation, periodic_evaluation)
