"""The small proof that adaptation works, on generated task families (`keras_trm.data.arc_families`).

1. Generate `train_tasks` tasks per family (seed `seed`) and `held_out_tasks` more per family (seed `seed + 1`: the
   same families, new instances, new ids).
2. Train a tiny TRM on every pair of the training tasks (deep supervision, the trainer of `fit`; each task in
   `pretrain_variants` augmented variants besides the identity, its own puzzle rows).
3. Score the held-out tasks' test inputs (exact answers, pass@1 and pass@2 over the voted variants) with (a) the
   blank identifier, (b) adaptation of the new puzzle rows only, (c) adaptation of the whole network, (b) and (c)
   with the same number of steps from the same trained model.

    python -m keras_trm.adaptation.proof            # the figures in docs/arc_adaptation.md
"""

from __future__ import annotations

import argparse
import json
import time

import keras

from keras_trm.adaptation.adapt import adapt
from keras_trm.adaptation.submission import predict_tasks
from keras_trm.data import arc as arc_data
from keras_trm.data import arc_families
from keras_trm.models import TRMBackbone, TRMPuzzleSolver

PROOF_FAMILIES = ("flip_horizontal", "flip_vertical", "rotate_180", "transpose")


def tiny_arc_solver(canvas, hidden_dim=64, seed=0, mlp_t=True):
    """A fresh tiny ARC solver on a `canvas` x `canvas` canvas with a one-row (blank) puzzle table."""
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=arc_data.VOCAB_SIZE,
        sequence_length=canvas * canvas,
        hidden_dim=hidden_dim,
        num_heads=2,
        num_layers=2,
        H_cycles=1,
        L_cycles=2,
        mlp_t=mlp_t,
        puzzle_emb_len=2,
        num_puzzle_identifiers=1,
    )
    return TRMPuzzleSolver(backbone, halt_max_steps=2, seed=seed)


def run_proof(
    families=PROOF_FAMILIES,
    train_tasks=16,
    train_pairs=8,
    held_out_tasks=4,
    grid_size=2,
    pretrain_steps=600,
    pretrain_variants=0,
    adapt_steps=150,
    adapt_variants=0,
    puzzle_emb_learning_rate=0.01,
    learning_rate=1e-3,
    hidden_dim=64,
    seed=0,
    progress=False,
):
    """The three scores of the proof (see the module docstring) -> a JSON-able dict.

    Args:
        families: sequence of str. Families of `keras_trm.data.arc_families` (default `PROOF_FAMILIES`).
        train_tasks: int. Training tasks per family (default 16).  train_pairs: int. Pairs of each (default 8:
            more inputs per rule than a task could be memorised with).  held_out_tasks: int. Held-out tasks per
            family, 3 demonstrations and 1 test input each (default 4).
        grid_size: int. Side of every grid (default 2; the canvas is one more).
        pretrain_steps: int. Training steps (default 600).  pretrain_variants: int. Their variants per task (0).
        adapt_steps: int. Adaptation steps, the same for (b) and (c) (default 150).
        adapt_variants: int. Variants per held-out task in adaptation (default 0).
        puzzle_emb_learning_rate: float. The puzzle rows' sign-SGD rate in adaptation (default 0.01, that of training).
        learning_rate: float. The network's rate in full adaptation (default 1e-3).
        hidden_dim: int. The model's width (default 64).  seed: int. Everything's seed (default 0).
        progress: bool. Progress bars (default False).
    """
    canvas = grid_size + 1
    sizes = dict(min_size=grid_size, max_size=grid_size)
    train = arc_families.generate_tasks(families, train_tasks, seed=seed, num_train=train_pairs - 1, **sizes)
    held = arc_families.generate_tasks(families, held_out_tasks, seed=seed + 1, **sizes)
    whole = {t: arc_data.ARCTask(t, train=v.train + v.test, test=v.test) for t, v in train.items()}
    start = time.monotonic()
    trained = adapt(
        tiny_arc_solver(canvas, hidden_dim, seed),
        whole,
        steps=pretrain_steps,
        variants=pretrain_variants,
        train="all",
        seed=seed,
        batch_size=32,
        learning_rate=3e-3,
        puzzle_emb_learning_rate=1e-2,
        warmup_steps=20,
        translate=False,
        progress=progress,
    ).solver
    report = {"pretrain_seconds": round(time.monotonic() - start, 1)}
    report["training_tasks"] = predict_tasks(trained, train).result()
    report["blank"] = predict_tasks(trained, held, blank_variants=adapt_variants + 1, seed=seed).result()
    for mode in ("puzzle_embedding", "all"):
        start = time.monotonic()
        result = adapt(
            trained,
            held,
            steps=adapt_steps,
            variants=adapt_variants,
            train=mode,
            seed=seed,
            batch_size=32,
            learning_rate=learning_rate,
            puzzle_emb_learning_rate=puzzle_emb_learning_rate,
            translate=False,
            progress=progress,
        )
        report[mode] = dict(predict_tasks(result.solver, held).result(), seconds=round(time.monotonic() - start, 1))
    report["settings"] = dict(
        families=list(families),
        train_tasks=train_tasks,
        held_out_tasks=held_out_tasks,
        grid_size=grid_size,
        pretrain_steps=pretrain_steps,
        adapt_steps=adapt_steps,
        seed=seed,
        backend=keras.backend.backend(),
    )
    return report


def main(argv=None):
    """``python -m keras_trm.adaptation.proof [--key value ...]``: prints the report as JSON."""
    p = argparse.ArgumentParser(prog="python -m keras_trm.adaptation.proof", description=__doc__)
    for name, default in (
        ("train_tasks", 16),
        ("train_pairs", 8),
        ("held_out_tasks", 4),
        ("grid_size", 2),
        ("pretrain_steps", 600),
        ("adapt_steps", 150),
        ("seed", 0),
    ):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=default)
    p.add_argument("--puzzle-emb-learning-rate", dest="puzzle_emb_learning_rate", type=float, default=0.01)
    p.add_argument("--learning-rate", dest="learning_rate", type=float, default=1e-3)
    args = p.parse_args(argv)
    report = run_proof(**vars(args))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":  # pragma: no cover
    main()
