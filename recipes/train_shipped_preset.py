"""Train the preset shipped inside the package: `trm_sudoku_4x4` (4x4 Sudoku, solved out of the box).

Everything is generated here (no download): 4x4 Sudoku puzzles from `keras_trm.data.sudoku_generator`, train and test
disjoint up to the Sudoku symmetry group; the train puzzles get the official augmentations
(`build_sudoku_dataset(num_aug=...)`). A small TRM (attention, RoPE) is trained with `TRMPuzzleSolver.fit` (deep
supervision, learned halting, AdamATan2 + sign-SGD), its held-out exact accuracy is measured with
`keras_trm.evaluation.solve.solve_sudoku`, and the preset is written with the command and the results in its
metadata (`assets/trm/puzzle_spec.json`, field `training`); the held-out puzzles are copied to
`assets/trm/held_out_test.csv`.

Command that produced the shipped preset (JAX, CPU):

    KERAS_BACKEND=jax python recipes/train_shipped_preset.py --output keras_trm/presets/assets/trm_sudoku_4x4

Use `--steps`, `--batch-size`, `--hidden-dim` to change the run; `--work-dir` keeps the generated data.
"""

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default="keras_trm/presets/assets/trm_sudoku_4x4", help="preset folder to write")
    p.add_argument("--work-dir", default=None, help="folder for the generated CSVs and dataset (default: temp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-puzzles", type=int, default=1000)
    p.add_argument("--test-puzzles", type=int, default=300)
    p.add_argument("--num-aug", type=int, default=50)
    p.add_argument("--hidden-dim", type=int, default=32)
    p.add_argument("--num-heads", type=int, default=2)
    p.add_argument("--H-cycles", type=int, default=2)
    p.add_argument("--L-cycles", type=int, default=2)
    p.add_argument("--halt-max-steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps (= supervision steps)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--target", type=float, default=0.98, help="stop early once held-out exact accuracy reaches it")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_trm import TRMBackbone, TRMPuzzleSolver
    from keras_trm.data import PuzzleDataset, build_sudoku_dataset, make_sudoku_csvs

    keras.utils.set_random_seed(args.seed)
    work = args.work_dir_used = args.work_dir or tempfile.mkdtemp(prefix="trm_sudoku_4x4_")
    csv_dir, root = os.path.join(work, "csv"), os.path.join(work, "dataset")
    if not os.path.exists(os.path.join(csv_dir, "test.csv")):
        make_sudoku_csvs(csv_dir, n=4, train_count=args.train_puzzles, test_count=args.test_puzzles, seed=args.seed)
    if not os.path.exists(os.path.join(root, "metadata.json")):
        build_sudoku_dataset(
            root,
            train_csv=os.path.join(csv_dir, "train.csv"),
            test_csv=os.path.join(csv_dir, "test.csv"),
            num_aug=args.num_aug,
            seed=args.seed,
            progress=False,
        )
    train, test = PuzzleDataset(root, "train"), PuzzleDataset(root, "test")
    print(train, test, flush=True)

    backbone = TRMBackbone(
        vocabulary_size=train.vocab_size, sequence_length=train.seq_len, hidden_dim=args.hidden_dim,
        num_heads=args.num_heads, num_layers=2, H_cycles=args.H_cycles, L_cycles=args.L_cycles,
        pos_encodings="rope", num_puzzle_identifiers=1, puzzle_emb_len=1,
    )  # fmt: skip
    solver = TRMPuzzleSolver(backbone, halt_max_steps=args.halt_max_steps, seed=args.seed)
    solver.compile(learning_rate=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup)

    test_questions = np.asarray(test.inputs) - 1  # tokens -> digits, blank 0
    test_answers = np.asarray(test.labels) - 1

    rng = np.random.default_rng(args.seed)
    B, done, history, t0 = args.batch_size, 0, [], time.time()

    args.command = (
        "KERAS_BACKEND="
        + keras.backend.backend()
        + " python "
        + " ".join(
            shlex.quote(a) for a in ["recipes/train_shipped_preset.py"] + (sys.argv[1:] if argv is None else list(argv))
        )
    )

    acc = 0.0
    while done < args.steps:
        chunk = min(args.eval_every, args.steps - done)
        rows = rng.choice(train.num_examples, size=chunk * B, replace=chunk * B > train.num_examples)
        x = {"inputs": np.asarray(train.inputs[np.sort(rows)]), "puzzle_identifiers": np.zeros(len(rows), "int32")}
        y = np.asarray(train.labels[np.sort(rows)])
        perm = rng.permutation(len(rows))
        x = {k: v[perm] for k, v in x.items()}
        fit = solver.fit(x, y[perm], batch_size=B, epochs=1, verbose=0, shuffle=False)
        done += chunk
        logs = {k: round(float(v[-1]), 4) for k, v in fit.history.items()}
        history.append({"step": done, "seconds": round(time.time() - t0, 1), **logs})
        # Evaluate and write the preset after every chunk, so that an interrupted run still leaves one.
        acc = _write(args, solver, train, test_questions, test_answers, B, done, history, t0)
        if acc >= args.target:
            break
    return solver


def _write(args, solver, train, test_questions, test_answers, B, done, history, t0):
    import keras

    from keras_trm.evaluation.solve import solve_sudoku
    from keras_trm.presets import PuzzleSpec, save_preset

    res = solve_sudoku(solver, test_questions, batch_size=256)
    exact = float(np.mean(np.all(res["grids"].reshape(len(test_answers), -1) == test_answers, axis=-1)))
    res_halt = solve_sudoku(solver, test_questions, batch_size=256, halt=True)
    exact_halt = float(np.mean(np.all(res_halt["grids"].reshape(len(test_answers), -1) == test_answers, axis=-1)))
    history[-1]["held_out_exact_accuracy"] = exact
    command = args.command
    spec = PuzzleSpec.sudoku(
        4,
        description=(
            "TRM (attention, RoPE, D %d) trained here on generated 4x4 Sudoku; solves 4x4 Sudoku out of the box "
            "(held-out exact accuracy %.1f%% with %d supervision steps)."
            % (args.hidden_dim, 100 * exact, args.halt_max_steps)
        ),
    )
    spec.training = {
        "command": command,
        "backend": keras.backend.backend(),
        "data": {
            "generator": "keras_trm.data.make_sudoku_csvs(n=4)",
            "seed": args.seed,
            "train_puzzles": args.train_puzzles,
            "test_puzzles": args.test_puzzles,
            "num_aug": args.num_aug,
            "train_examples": train.num_examples,
            "test_disjoint": "up to the Sudoku symmetry group",
        },
        "hyperparameters": {
            "batch_size": B,
            "steps": done,
            "learning_rate": args.lr,
            "weight_decay": args.weight_decay,
            "warmup_steps": args.warmup,
        },
        "results": {
            "held_out_exact_accuracy": exact,
            "held_out_exact_accuracy_halting": exact_halt,
            "mean_steps_halting": float(np.mean(res_halt["steps"])),
            "held_out_puzzles": len(test_answers),
            "train_seconds": round(time.time() - t0, 1),
        },
        "history": history,
    }
    save_preset(solver, args.output, spec)
    # The held-out puzzles (disjoint from training up to symmetry) travel with the preset, for its test.
    shutil.copy(
        os.path.join(args.work_dir_used, "csv", "test.csv"),
        os.path.join(args.output, "assets", "trm", "held_out_test.csv"),
    )
    print("step", done, "wrote", args.output, spec.training["results"], flush=True)
    return exact


if __name__ == "__main__":
    main()
