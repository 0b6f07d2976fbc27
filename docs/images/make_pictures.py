"""Draw docs/how_trm_works.md's answer-evolution picture from a trained model (default: the shipped 4x4 preset).

    python docs/images/make_pictures.py                     # writes docs/images/sudoku_evolution.png
    python docs/images/make_pictures.py --model runs/sudoku-mlp-smoke/model.keras

The Sudoku strip is the held-out puzzle (the smoke recipe's generated test set) whose answer changes most over the
supervision steps and is right at the last one; the script prints which puzzle it drew and how many cells changed.
"""

import argparse
import os
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def sudoku_evolution(solver, n=4, count=200, seed=0):
    """(step tokens (S, L), halt probabilities (S,), givens (L,), label (L,), puzzle index, cells changed) of the
    most-changing right answer."""
    from keras_trm.data import make_sudoku_csvs, read_sudoku_csv

    with tempfile.TemporaryDirectory() as folder:
        make_sudoku_csvs(folder, n=n, train_count=400, test_count=count, seed=seed)  # the smoke recipe's
        questions, answers = [], []
        for q, a, _ in read_sudoku_csv(os.path.join(folder, "test.csv")):
            questions.append(q.reshape(len(q), -1))
            answers.append(a.reshape(len(a), -1))
    inputs = np.concatenate(questions).astype("int32") + 1  # tokens: digit + 1, blank 1
    labels = np.concatenate(answers).astype("int32") + 1
    steps = solver.supervision_steps(inputs, np.zeros(len(inputs), "int32"))
    tokens = np.stack([np.asarray(s["logits"]).argmax(-1) for s in steps])  # (S, N, L)
    halt_p = 1 / (1 + np.exp(-np.stack([np.asarray(s["q_halt_logits"], "float64") for s in steps])))  # (S, N)
    right = (tokens[-1] == labels).all(-1)
    changed = (tokens[0] != tokens[-1]).sum(-1) * right
    best = int(np.argmax(changed))
    return tokens[:, best], halt_p[:, best], inputs[best], labels[best], best, int(changed[best])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="trm_sudoku_4x4", help="a .keras file, preset folder or preset name")
    p.add_argument("--out", default=HERE, help="folder to write the pictures into")
    args = p.parse_args(argv)

    from keras_trm.cli import load_solver
    from keras_trm.visualize import render_evolution, render_sudoku, save_png

    solver = load_solver(args.model)
    steps, halt_p, givens, label, index, changed = sudoku_evolution(solver)
    n = int(round(len(givens) ** 0.5))
    strip = render_evolution(
        steps, lambda t: render_sudoku(t, n, givens=givens, labels=label), halt_probabilities=halt_p
    )
    print(save_png(strip, os.path.join(args.out, "sudoku_evolution.png")), f"held-out puzzle {index}: {changed} cells "
          f"change from step 1 to step {len(steps)}")  # fmt: skip


if __name__ == "__main__":
    main()
