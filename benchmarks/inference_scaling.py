"""Inference: exact accuracy and wall time for fixed steps, halting, calibrated halting and K rollouts (issue 16).

For each (model, data) pair, on the data's test split with the same weights:

- `fixed`: every puzzle runs `halt_max_steps` supervision steps (the official protocol; one compiled predict),
- `fixed, stepwise`: the same through the step-by-step loop that the other rows use (its overhead alone),
- `halt 0.5`: a puzzle stops once sigmoid(halt logit) > 0.5 (halt logit > 0, the training rule),
- `calibrated`: the rule `solver.calibrate_halting` picks on the data's train split (`--calibrate-limit` puzzles,
  `--max-drop`), never on the test split,
- `rollouts K` (K in `--rollouts`): K runs per puzzle, noise of std `--noise` on the initial states of runs 2..K,
  fixed steps, the answer by majority vote,
- `augmented K`: K runs per puzzle, runs 2..K on the puzzle under a random symmetry of its benchmark (Sudoku:
  relabelled digits, shuffled rows and columns; maze: rotations and reflections), answers mapped back, then the vote.

Halted rows' slots are refilled with waiting puzzles (`keras_trm.evaluation.stepwise`), so wall time follows the
mean steps. Timings are interleaved: `--repeats` rounds, each running every setting once in turn after one untimed
warm-up call per setting; the median is reported. Writes `benchmarks/results/inference_scaling_<backend>.json` and
draws accuracy against time in `docs/images/inference_scaling.png`.

    KERAS_BACKEND=jax python benchmarks/inference_scaling.py            # the shipped 4x4 preset on generated puzzles
    KERAS_BACKEND=jax python benchmarks/inference_scaling.py \\
        --pair trm_sudoku_4x4 data/sudoku-4x4 --pair runs/maze/model.keras runs/maze/data
"""

import argparse
import json
import os
import pathlib
import statistics
import tempfile
import time

import keras
import numpy as np
from PIL import Image, ImageDraw

from keras_trm.data import PuzzleDataset
from keras_trm.data.sudoku import build_sudoku_dataset
from keras_trm.data.sudoku_generator import make_small_sudoku_csv
from keras_trm.evaluation.grids import score_grid_predictions
from keras_trm.evaluation.halting import HaltingRule
from keras_trm.evaluation.solve import run_solver
from keras_trm.evaluation.stepwise import run_stepwise
from keras_trm.models import TRMPuzzleSolver

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_model(path):
    if os.path.isfile(path):
        return keras.saving.load_model(path, compile=False)
    return TRMPuzzleSolver.from_preset(path)


def split_rows(root, split, limit=0):
    """(inputs (N, L), puzzle identifiers (N,), labels (N,L)) of a split's examples, the first `limit` (0: all)."""
    ds = PuzzleDataset(root, split)
    inputs, labels = np.asarray(ds.inputs[:], np.int32), np.asarray(ds.labels[:], np.int32)
    ids = np.repeat(ds.puzzle_identifiers, np.diff(ds.puzzle_indices)).astype(np.int32)  # example -> its puzzle's
    n = len(inputs) if not limit else min(limit, len(inputs))
    return inputs[:n], ids[:n], labels[:n]


def generated_sudoku(folder, count, seed):
    """A 4x4 Sudoku build: `count` generated calibration (train) and test puzzles."""
    csvs = os.path.join(folder, "csv")
    make_small_sudoku_csv(csvs, n=4, train_count=count, test_count=count, seed=seed)
    root = os.path.join(folder, "built")
    build_sudoku_dataset(
        root, train_csv=os.path.join(csvs, "train.csv"), test_csv=os.path.join(csvs, "test.csv"), num_aug=0,
        seed=seed, progress=False,
    )  # fmt: skip
    return root


def settings(solver, rule, ks, noise, seed, batch, kind):
    """name -> a call that runs the test rows under that setting."""
    runs = {
        "fixed": lambda x, i: run_solver(solver, x, i, batch_size=batch, halt=False),
        "fixed, stepwise": lambda x, i: run_stepwise(solver, x, i, batch_size=batch),
        "halt 0.5": lambda x, i: run_solver(solver, x, i, batch_size=batch, halt=HaltingRule(0.5)),
    }
    if rule is not None:
        runs["calibrated"] = lambda x, i: run_solver(solver, x, i, batch_size=batch, halt=rule)
    for k in ks:
        runs[f"rollouts {k}"] = lambda x, i, k=k: run_solver(
            solver, x, i, batch_size=batch, halt=False, rollouts=k, noise=noise, seed=seed
        )
    for k in ks:
        if k > 1:
            runs[f"augmented {k}"] = lambda x, i, k=k: run_solver(
                solver, x, i, batch_size=batch, halt=False, rollouts=k, seed=seed, augment=kind
            )
    return runs


def measure(model, data, args):
    solver = load_model(model)
    meta = PuzzleDataset(data, "test").metadata
    benchmark, grid = meta["benchmark"], tuple(meta["grid_shape"])
    inputs, ids, labels = split_rows(data, "test", args.test_limit)
    cal_x, cal_ids, cal_y = split_rows(data, "train", args.calibrate_limit)
    solver.halt_at_inference = False
    start = time.perf_counter()
    calibration = solver.calibrate_halting(
        {"inputs": cal_x, "puzzle_identifiers": cal_ids}, cal_y, max_accuracy_drop=args.max_drop, batch_size=args.batch
    )
    calibration_s = time.perf_counter() - start
    rule = calibration["rule"]
    solver.halt_at_inference = False
    runs = settings(solver, rule, args.rollouts, args.noise, args.seed, args.batch, benchmark)
    outs = {name: run(inputs, ids) for name, run in runs.items()}  # warm-up (compiles), and the answers
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            t = time.perf_counter()
            run(inputs, ids)
            times[name].append(time.perf_counter() - t)
    rows = []
    for name, out in outs.items():
        report = score_grid_predictions(out["tokens"], inputs, labels, benchmark, grid)
        rows.append(
            {
                "setting": name,
                "exact_accuracy": report["exact_accuracy"],
                "valid_fraction": report["valid_fraction"],
                "mean_steps": float(np.mean(out["steps"])),
                "seconds": statistics.median(times[name]),
                "seconds_all": times[name],
            }
        )
    fixed = rows[0]["seconds"]
    for r in rows:
        r["speedup_vs_fixed"] = fixed / r["seconds"]
    return {
        "model": model,
        "data": data,
        "benchmark": benchmark,
        "grid_shape": grid,
        "test_puzzles": int(len(inputs)),
        "halt_max_steps": int(solver.halt_max_steps),
        "calibration": {
            "split": "train",
            "puzzles": int(len(cal_x)),
            "max_accuracy_drop": args.max_drop,
            "rule": None if rule is None else str(rule),
            "accuracy": calibration["accuracy"],
            "mean_steps": calibration["mean_steps"],
            "fixed_accuracy": calibration["fixed_accuracy"],
            "seconds": calibration_s,
        },
        "rows": rows,
    }


def plot(results, path, width=520, height=340, margin=56):
    """Exact accuracy (%) against wall time (s, log scale), one panel per model, one labelled point per setting."""
    panels = []
    for res in results:
        img = Image.new("RGB", (width, height), "white")
        d = ImageDraw.Draw(img)
        xs = [r["seconds"] for r in res["rows"]]
        ys = [100 * r["exact_accuracy"] for r in res["rows"]]
        lo, hi = np.log10(min(xs) / 1.5), np.log10(max(xs) * 1.5)
        y_lo, y_hi = max(0.0, min(ys) - 5), min(100.0, max(ys) + 5)
        y_hi = y_hi if y_hi > y_lo else y_lo + 1

        def px(x, y, lo=lo, hi=hi, y_lo=y_lo, y_hi=y_hi):
            return (
                margin + (width - 2 * margin) * (np.log10(x) - lo) / (hi - lo),
                height - margin - (height - 2 * margin) * (y - y_lo) / (y_hi - y_lo),
            )

        d.line([px(10**lo, y_lo), px(10**hi, y_lo)], fill="black")
        d.line([px(10**lo, y_lo), px(10**lo, y_hi)], fill="black")
        for tick in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30):
            if lo <= np.log10(tick) <= hi:
                tx = px(tick, y_lo)[0]
                d.line([(tx, height - margin), (tx, height - margin + 4)], fill="black")
                d.text((tx - 10, height - margin + 6), f"{tick:g}", fill="black")
        for frac in (0, 0.5, 1):
            y = y_lo + (y_hi - y_lo) * frac
            d.text((6, px(10**lo, y)[1] - 6), f"{y:.1f}", fill="black")
        d.text((width // 2 - 60, height - 22), "wall time (s, log scale)", fill="black")
        d.text((6, 8), f"{res['benchmark']} {res['grid_shape'][0]}x{res['grid_shape'][1]}: exact % of "
               f"{res['test_puzzles']} ({os.path.basename(res['model'].rstrip('/'))})", fill="black")  # fmt: skip
        placed = []  # label boxes drawn so far: a label that would overlap one moves down
        for r, x, y in sorted(zip(res["rows"], xs, ys), key=lambda t: t[1]):
            cx, cy = px(x, y)
            colour = {"r": (31, 119, 180), "a": (44, 160, 44)}.get(r["setting"][0], (214, 39, 40))
            d.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=colour)
            box = [cx + 6, cy - 12, cx + 6 + 6 * len(r["setting"]), cy - 1]
            while any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                box = [box[0], box[1] + 12, box[2], box[3] + 12]
            placed.append(box)
            d.text((box[0], box[1]), r["setting"], fill=colour)
        panels.append(np.asarray(img))
    out = np.concatenate(panels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pair", nargs=2, action="append", metavar=("MODEL", "DATA"),
        help="a model (.keras file, preset folder or name) and a built dataset; repeat for more",
    )  # fmt: skip
    parser.add_argument("--count", type=int, default=300, help="puzzles per split of the default generated build")
    parser.add_argument("--test-limit", type=int, default=300, help="test puzzles (0: all)")
    parser.add_argument("--calibrate-limit", type=int, default=1000, help="train puzzles to calibrate on (0: all)")
    parser.add_argument("--max-drop", type=float, default=0.005, help="calibration's accepted exact-accuracy loss")
    parser.add_argument("--rollouts", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--note", default="", help="stored with the results (e.g. the machine's load)")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "images" / "inference_scaling.png"))
    parser.add_argument("--replot", default=None, metavar="JSON", help="only draw the plot of a results file")
    args = parser.parse_args()
    if args.replot:
        results = json.loads(pathlib.Path(args.replot).read_text())["results"]
        print(f"wrote {plot(results, pathlib.Path(args.plot))}")
        return
    keras.utils.set_random_seed(args.seed)

    pairs = args.pair or [("trm_sudoku_4x4", generated_sudoku(tempfile.mkdtemp(prefix="trm_inf_"), args.count, 1))]
    results = [measure(model, data, args) for model, data in pairs]
    for res in results:
        cal = res["calibration"]
        print(f"\n{res['model']} on {res['data']} ({res['test_puzzles']} test puzzles, {res['halt_max_steps']} steps)")
        print(f"calibrated on {cal['puzzles']} train puzzles (max drop {100 * cal['max_accuracy_drop']:.2f} points): "
              f"{cal['rule']}")  # fmt: skip
        print(f"{'setting':>16}  {'exact %':>8}  {'steps':>5}  {'time s':>7}  {'vs fixed':>8}")
        for r in res["rows"]:
            print(
                f"{r['setting']:>16}  {100 * r['exact_accuracy']:8.2f}  {r['mean_steps']:5.2f}  {r['seconds']:7.3f}  "
                f"{r['speedup_vs_fixed']:7.2f}x"
            )
    out = ROOT / "benchmarks" / "results" / f"inference_scaling_{keras.backend.backend()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backend": keras.backend.backend(), "args": vars(args), "results": results}, indent=1))
    print(f"\nwrote {out} and {plot(results, pathlib.Path(args.plot))}")


if __name__ == "__main__":
    main()
