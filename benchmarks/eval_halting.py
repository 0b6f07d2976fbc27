"""Evaluation time and accuracy: fixed `halt_max_steps` supervision steps vs halting at inference (issue 5).

Trains a tiny TRM on generated 4x4 Sudoku (keras_trm.data.sudoku_generator + build_sudoku_dataset + PuzzleBatches) for
`--train-seconds`, then evaluates the test split twice with the same weights: every row runs `halt_max_steps`
steps (the official protocol), and rows stop once their halt logit is positive (`halt_at_inference=True`). Prints
both (time, examples/s, mean steps, token and exact accuracy) and writes
`benchmarks/results/eval_halting_<backend>.json`.

    KERAS_BACKEND=jax python benchmarks/eval_halting.py --train-seconds 300
    KERAS_BACKEND=jax python benchmarks/eval_halting.py --preset trm_sudoku_4x4   # the shipped trained preset
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

import keras
import numpy as np

from keras_trm.data import PuzzleBatches
from keras_trm.data.sudoku import build_sudoku_dataset
from keras_trm.data.sudoku_generator import make_small_sudoku_csv
from keras_trm.models import TRMBackbone, TRMPuzzleSolver

ROOT = pathlib.Path(__file__).resolve().parents[1]


def build_data(folder, train_count, test_count, num_aug, seed):
    csvs = os.path.join(folder, "csv")
    make_small_sudoku_csv(csvs, n=4, train_count=train_count, test_count=test_count, seed=seed)
    root = os.path.join(folder, "built")
    build_sudoku_dataset(
        root,
        train_csv=os.path.join(csvs, "train.csv"),
        test_csv=os.path.join(csvs, "test.csv"),
        num_aug=num_aug,
        seed=seed,
        progress=False,
    )
    return root


def train(root, args):
    keras.utils.set_random_seed(args.seed)
    backbone = TRMBackbone(
        vocabulary_size=6,
        sequence_length=16,
        hidden_dim=args.hidden,
        num_heads=4,
        num_layers=2,
        H_cycles=2,
        L_cycles=2,
        puzzle_emb_len=2,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=args.halt_max_steps, seed=args.seed)
    solver.compile(learning_rate=1e-3, weight_decay=0.1, warmup_steps=50)
    batches = PuzzleBatches((root, "train"), batch_size=args.batch, mode="train", seed=args.seed, steps_per_epoch=50)

    class Deadline(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if time.perf_counter() - start > args.train_seconds:
                self.model.stop_training = True

    start = time.perf_counter()
    history = solver.fit(batches, epochs=10**6, verbose=0, callbacks=[Deadline()])
    return solver, time.perf_counter() - start, {k: float(v[-1]) for k, v in history.history.items()}


def evaluate(solver, x, labels, halt, batch):
    """Predict the test split; returns timing, mean steps and accuracies."""
    solver.halt_at_inference = halt
    solver.predict_function = None
    solver.predict({k: v[:batch] for k, v in x.items()}, batch_size=batch, verbose=0)  # compile
    start = time.perf_counter()
    out = solver.predict(x, batch_size=batch, verbose=0)
    seconds = time.perf_counter() - start
    pred = np.argmax(np.asarray(out["logits"], "float32"), -1)
    valid = labels != 0
    right = (pred == labels) | ~valid
    return {
        "halt_at_inference": halt,
        "seconds": seconds,
        "examples_per_s": len(labels) / seconds,
        "mean_steps": float(np.mean(out["steps"])),
        "token_accuracy": float(np.sum((pred == labels) & valid) / np.sum(valid)),
        "exact_accuracy": float(np.mean(np.all(right, -1))),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-seconds", type=float, default=300)
    parser.add_argument("--train-count", type=int, default=200)
    parser.add_argument("--test-count", type=int, default=100)
    parser.add_argument("--num-aug", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--halt-max-steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="stored with the results (e.g. the machine's load)")
    parser.add_argument(
        "--preset",
        default=None,
        help="evaluate this 4x4 Sudoku preset on its shipped held-out puzzles instead of training a model",
    )
    parser.add_argument("--data", default=None, help="folder for the generated data (default: a temp folder)")
    args = parser.parse_args()

    folder = args.data or tempfile.mkdtemp(prefix="trm_eval_halting_")
    if args.preset:
        solver = TRMPuzzleSolver.from_preset(args.preset)
        held_out = ROOT / "keras_trm" / "presets" / "assets" / args.preset / "assets" / "trm" / "held_out_test.csv"
        root = os.path.join(folder, "built")
        build_sudoku_dataset(root, train_csv=held_out, test_csv=held_out, progress=False, overwrite=True)
        train_s, train_logs = 0.0, {"preset": args.preset}
        args.halt_max_steps = solver.halt_max_steps
    else:
        root = build_data(folder, args.train_count, args.test_count, args.num_aug, args.seed)
        solver, train_s, train_logs = train(root, args)
    test = os.path.join(root, "test")
    inputs = np.load(os.path.join(test, "inputs.npy")).astype("int32")
    labels = np.load(os.path.join(test, "labels.npy")).astype("int32")
    n = (len(inputs) // args.batch) * args.batch or len(inputs)
    x = {"inputs": inputs[:n], "puzzle_identifiers": np.zeros((n,), "int32")}
    rows = [evaluate(solver, x, labels[:n], halt, min(args.batch, n)) for halt in (False, True)]
    result = {
        "backend": keras.backend.backend(),
        "train_seconds": train_s,
        "train_logs": train_logs,
        "halt_max_steps": args.halt_max_steps,
        "test_examples": n,
        "evaluations": rows,
        "note": args.note,
    }
    for r in rows:
        name = "halting at inference" if r["halt_at_inference"] else f"fixed {args.halt_max_steps} steps"
        print(
            f"{name:>24}: {r['seconds']:.2f} s ({r['examples_per_s']:.1f} ex/s), mean steps "
            f"{r['mean_steps']:.2f}, token acc {100 * r['token_accuracy']:.1f}%, "
            f"exact acc {100 * r['exact_accuracy']:.1f}%"
        )
    out = ROOT / "benchmarks" / "results" / f"eval_halting_{keras.backend.backend()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
