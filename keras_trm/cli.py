"""The `keras-trm` command: generate puzzles, build data, train a recipe, evaluate, solve, import a checkpoint.

    keras-trm generate sudoku data/sudoku-9x9-csv --n 9 --train-count 1000 --test-count 100
    keras-trm build-data sudoku data/sudoku-4x4 --n 4 --train-count 400 --num-aug 20
    keras-trm train sudoku --size smoke
    keras-trm evaluate runs/sudoku-mlp-smoke/model.keras data/sudoku-4x4
    keras-trm solve runs/sudoku-mlp-smoke/model.keras "1...3.........2."
    keras-trm import-official step_50000 all_config.yaml trm_sudoku.keras

The backend is Keras's: set KERAS_BACKEND=jax | tensorflow | torch before running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from keras_trm.recipes import RECIPES, get_recipe, recipe_names


class CLIError(Exception):
    """A user error: printed as `keras-trm: error: ...` with exit status 2."""


# --------------------------------------------------------------------------------------------- helpers
def _need_file(path, what):
    if not os.path.exists(path):
        raise CLIError(f"{what} not found: {path}")
    return path


def _parse_sets(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            value = json.loads(value)
        except ValueError:
            pass
        out[key.strip()] = value
    return out


def load_solver(path):
    """A TRMPuzzleSolver from a .keras file, or from a preset (name or folder) when keras_trm.presets is installed."""
    import keras

    import keras_trm  # noqa: F401  (registers the classes)

    if os.path.isfile(path) and path.endswith(".keras"):
        return keras.saving.load_model(path, compile=False)
    if os.path.isdir(path) or not os.path.exists(path):
        from keras_trm.models import TRMPuzzleSolver

        try:
            return TRMPuzzleSolver.from_preset(path)
        except Exception as e:  # noqa: BLE001 - reported as a user error
            if not os.path.exists(path):
                raise CLIError(f"model not found: {path} (not a .keras file, a preset folder or a known preset)") from e
            raise CLIError(f"{path}: cannot load a preset from this folder ({e})") from e
    raise CLIError(f"{path}: expected a .keras file or a preset folder")


def task_info(model_path, kind=None, data_dir=None):
    """What a puzzle looks like for a saved model: task.json beside it, or a dataset's metadata, or `--kind`."""
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(os.path.abspath(model_path))
    for candidate in (os.path.join(folder, "task.json"), os.path.join(data_dir or "", "metadata.json")):
        if data_dir is None and candidate.endswith("metadata.json"):
            continue
        if os.path.exists(candidate):
            with open(candidate) as f:
                info = json.load(f)
            if kind and info.get("benchmark") != kind:
                raise CLIError(f"--kind {kind} but {candidate} says {info.get('benchmark')!r}")
            return info
    if kind is None:
        raise CLIError(f"no task.json beside {model_path}: pass --kind sudoku or --kind maze")
    return {"benchmark": kind}


def _progress(total, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch")


# --------------------------------------------------------------------------------------------- generate
def cmd_generate(args):
    """Write OUT/train.csv and OUT/test.csv of generated puzzles (the public CSV schema); print their summaries."""
    if args.kind == "sudoku":
        from keras_trm.data.sudoku_generator import make_sudoku_csvs

        info = make_sudoku_csvs(
            args.out, args.n or 9, args.train_count, args.test_count, args.seed, args.min_rating, args.workers
        )
    else:
        from keras_trm.data.maze import MAZE_HARD_SIDE
        from keras_trm.data.maze_generator import make_maze_csvs

        info = make_maze_csvs(
            args.out,
            args.n or MAZE_HARD_SIDE,
            args.train_count,
            args.test_count,
            args.seed,
            args.min_path,
            args.workers,
        )
    print(json.dumps(info, indent=1))
    return 0


# --------------------------------------------------------------------------------------------- build-data
def cmd_build_data(args):
    from keras_trm.data import build_arc_dataset, build_maze_dataset, build_sudoku_dataset
    from keras_trm.data.arc import OFFICIAL_SEED

    if os.path.exists(os.path.join(args.out, "metadata.json")) and not args.overwrite:
        raise CLIError(f"{args.out} already holds a dataset; pass --overwrite to replace it")
    if args.seed is None:
        args.seed = OFFICIAL_SEED if args.kind == "arc" else 0
    if args.kind == "arc":
        build_arc_dataset(
            args.out,
            subset=args.subset,
            num_variants=args.num_variants,
            include_concept_arc=not args.no_concept_arc,
            seed=args.seed,
            task_limit=args.task_limit,
            concept_arc_dir=args.concept_arc_dir,
            overwrite=True,
        )
    else:
        source = args.source
        generate = source == "generate"
        if not generate and not source.startswith("hf:"):
            _need_file(os.path.join(source, "train.csv"), "train.csv of --source")
        if args.kind == "sudoku":
            if generate:
                from keras_trm.data import make_sudoku_csvs

                source = args.out + "-csv"
                make_sudoku_csvs(
                    source,
                    n=args.n or 4,
                    train_count=args.train_count,
                    test_count=args.test_count,
                    seed=args.seed,
                    min_rating=args.min_rating or 0,
                )
            build_sudoku_dataset(
                args.out,
                source,
                subsample_size=None if generate else args.train_count,
                test_subsample_size=None if generate else args.test_count,
                min_rating=args.min_rating,
                num_aug=args.num_aug,
                seed=args.seed,
                overwrite=True,
            )
        else:
            if generate:
                from keras_trm.data import make_maze_csvs

                source = args.out + "-csv"
                make_maze_csvs(
                    source,
                    n=args.n or 8,
                    train_count=args.train_count,
                    test_count=args.test_count,
                    seed=args.seed,
                    min_path=args.min_path,
                )
            build_maze_dataset(
                args.out,
                source,
                subsample_size=None if generate else args.train_count,
                aug=args.aug,
                seed=args.seed,
                overwrite=True,
            )
    from keras_trm.data import read_metadata

    meta = read_metadata(args.out)
    print(
        json.dumps(
            {
                "dataset": args.out,
                "benchmark": meta["benchmark"],
                "seq_len": meta["seq_len"],
                "splits": meta.get("splits"),
            },
            indent=1,
        )
    )
    return 0


# --------------------------------------------------------------------------------------------- train
def cmd_train(args):
    results = get_recipe(args.recipe).train(args.recipe_args)
    return 0 if results is not None else 1


# --------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args):
    import numpy as np

    from keras_trm.data import PuzzleBatches, PuzzleDataset, read_metadata

    _need_file(args.model, "model")
    _need_file(os.path.join(args.data, "metadata.json"), "dataset (metadata.json)")
    solver = load_solver(args.model)
    if args.halt:
        solver.halt_at_inference = True
    meta = read_metadata(args.data)
    batches = PuzzleBatches(PuzzleDataset(args.data, args.split), args.batch_size, mode="eval")
    n = len(batches) if not args.limit else min(len(batches), -(-args.limit // args.batch_size))
    bar = _progress(n, "evaluate")
    if meta["benchmark"] in ("sudoku", "maze"):
        from keras_trm.evaluation.grids import format_grid_report, score_grid_predictions

        preds, inputs, labels = [], [], []
        for i in range(n):
            x, y, w = batches[i]
            out = solver.predict_on_batch(x)
            keep = w > 0
            preds.append(np.asarray(out["logits"]).argmax(-1)[keep])
            inputs.append(x["inputs"][keep])
            labels.append(y[keep])
            bar.update(1)
        bar.close()
        report = score_grid_predictions(
            np.concatenate(preds),
            np.concatenate(inputs),
            np.concatenate(labels),
            meta["benchmark"],
            tuple(meta["grid_shape"]),
        )
        print(format_grid_report(report))
    else:
        from keras_trm.evaluation import ARCEvaluator

        ev = ARCEvaluator.from_dataset(args.data, args.split, train_metadata=args.train_data or args.data)
        for i in range(n):
            x, _, _ = batches[i]
            out = solver.predict_on_batch(x)
            ev.update(
                np.asarray(out["logits"]).argmax(-1),
                np.asarray(out["q_halt_logits"]),
                x["puzzle_identifiers"],
                x["inputs"],
            )
            bar.update(1)
        bar.close()
        report = ev.result()
        print("  ".join(f"{k} {100 * v:.2f}%" for k, v in report.items()))
        if args.submission:
            print(f"submission: {ev.write_submission(args.submission)}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {"model": args.model, "data": args.data, "split": args.split, "report": report},
                f,
                indent=1,
                default=str,
            )
    return 0


# --------------------------------------------------------------------------------------------- solve
def _info_preprocessor(info):
    """The puzzle preprocessor of a `task_info` dict (its benchmark; its grid side when it says, else the puzzle's)."""
    from keras_trm.models import MazePreprocessor, SudokuPreprocessor

    classes = {"sudoku": SudokuPreprocessor, "maze": MazePreprocessor}
    kind = info.get("benchmark")
    if kind not in classes:
        raise CLIError(f"solve handles sudoku and maze puzzles, not {kind!r}")
    shape = info.get("grid_shape")
    return classes[kind](n=int(shape[0]) if shape else None)


def _read_puzzle(text, preprocessor):
    """One puzzle through `preprocessor` -> (tokens int32 (L,), grid shape); its ValueError becomes a CLIError."""
    import numpy as np

    try:
        tokens = np.asarray(preprocessor.preprocess(text)["inputs"], np.int32)
    except ValueError as e:
        raise CLIError(str(e)) from None
    n = int(round(tokens.shape[-1] ** 0.5))
    return tokens, (n, n)


def parse_puzzle(text, info):
    """A puzzle string (or file contents) -> (tokens int32 (L,), grid shape) for the model's benchmark.

    Read by the benchmark's preprocessor: `SudokuPreprocessor` (n*n characters, `.` or `0` blank, digits 1..n;
    whitespace, `|`, `-` and `+` ignored) or `MazePreprocessor` (n lines of n characters over `# SGo`, or one line
    of n*n characters); the side is `info`'s `grid_shape` when it has one, else the puzzle's.
    """
    return _read_puzzle(text, _info_preprocessor(info))


def format_solution(tokens, info, shape):
    """Answer tokens (L,) -> the grid's rows as text (the benchmark preprocessor's `detokenize`)."""
    import numpy as np

    rows, cols = shape
    flat = _info_preprocessor(dict(info, grid_shape=[rows, cols])).detokenize(np.asarray(tokens)[None])[0]
    return "\n".join(flat[r * cols : (r + 1) * cols] for r in range(rows))


def cmd_solve(args):
    from keras_trm.evaluation.solve import solve_maze, solve_sudoku
    from keras_trm.models import MazePreprocessor, PuzzlePreprocessor, SudokuPreprocessor

    puzzle = args.puzzle
    if os.path.exists(puzzle):
        with open(puzzle) as f:
            puzzle = f.read()
    solver = load_solver(args.model)
    readers = (SudokuPreprocessor, MazePreprocessor)
    pre = None
    if args.kind is None:  # a preset (or a saved solver) knows its puzzles: its preprocessor, else its spec's
        pre = solver.preprocessor if isinstance(solver.preprocessor, readers) else None
        pre = pre or PuzzlePreprocessor.from_spec(getattr(solver, "puzzle_spec", None))
        pre = pre if isinstance(pre, readers) else None
    if pre is None:
        pre = _info_preprocessor(task_info(args.model, args.kind))
    kind = pre.benchmarks[0]
    tokens, shape = _read_puzzle(puzzle, pre)
    if tokens.shape[0] != solver.backbone.sequence_length:
        raise CLIError(f"the model takes {solver.backbone.sequence_length} cells, the puzzle has {tokens.shape[0]}")
    solve = solve_sudoku if kind == "sudoku" else solve_maze
    out = solve(solver, tokens[None], halt=args.halt, tokens=True, preprocessor=pre)
    print(format_solution(out["tokens"][0], {"benchmark": kind}, shape))
    valid = bool(out["valid"][0])
    print(
        f"{'valid' if valid else 'NOT valid'} {kind} answer after {int(out['steps'][0])} supervision "
        f"steps (confidence {float(out['confidence'][0]):.2f})"
    )
    return 0 if valid else 3


# --------------------------------------------------------------------------------------------- import / publish
def cmd_import_official(args):
    from keras_trm import import_official_checkpoint

    _need_file(args.checkpoint, "checkpoint")
    _need_file(args.config, "architecture config")
    overrides = _parse_sets(args.set)
    try:
        solver = import_official_checkpoint(args.checkpoint, args.config, **overrides)
    except (ValueError, KeyError) as e:
        raise CLIError(str(e)) from e
    out = args.output
    if out.endswith(".keras"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        solver.save(out)
    else:
        solver.save_to_preset(out)
    print(f"imported {args.checkpoint}: {solver.backbone.count_params():,} parameters -> {out}")
    return 0


def cmd_publish(args):
    from keras_trm.presets import publish_preset

    _need_file(args.model, "model")
    try:
        publish_preset(args.model, args.uri)
    except ValueError as e:  # PresetValidationError names the file and field
        raise CLIError(str(e)) from e
    print(f"published {args.model} to {args.uri}")
    return 0


# --------------------------------------------------------------------------------------------- parser
def build_parser():
    p = argparse.ArgumentParser(
        prog="keras-trm",
        description="The Tiny Recursive Model in Keras 3 (set KERAS_BACKEND=jax|tensorflow|torch).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="write train.csv and test.csv of generated Sudoku puzzles or mazes")
    g.add_argument("kind", choices=["sudoku", "maze"])
    g.add_argument("out", help="folder to write train.csv and test.csv into")
    g.add_argument("--n", type=int, default=None, help="grid side (default: sudoku 9, maze 30)")
    g.add_argument("--train-count", type=int, default=1000, help="train puzzles")
    g.add_argument("--test-count", type=int, default=100, help="test puzzles")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--min-rating", type=int, default=0, help="sudoku: keep puzzles at least this hard (backtracks)")
    g.add_argument("--min-path", type=int, default=None, help="maze: shortest paths longer than this")
    g.add_argument("--workers", type=int, default=1, help="processes generating candidates")
    g.set_defaults(func=cmd_generate)

    b = sub.add_parser("build-data", help="build a dataset (Sudoku / Maze from CSV or generated, ARC)")
    b.add_argument("kind", choices=["sudoku", "maze", "arc"])
    b.add_argument("out", help="dataset folder to write")
    b.add_argument(
        "--source",
        default="generate",
        help="sudoku/maze: a folder with train.csv and test.csv, hf:<repo>, or 'generate' (default)",
    )
    b.add_argument("--n", type=int, default=None, help="side of generated puzzles (sudoku 4, maze 8)")
    b.add_argument("--train-count", type=int, default=400, help="generated train puzzles (or CSV subsample)")
    b.add_argument("--test-count", type=int, default=100, help="generated test puzzles (or CSV test subsample)")
    b.add_argument("--num-aug", type=int, default=0, help="sudoku: augmentations per train puzzle")
    b.add_argument("--min-rating", type=int, default=None, help="sudoku: keep puzzles at least this hard")
    b.add_argument("--aug", action="store_true", help="maze: add the 8 dihedral images of each train maze")
    b.add_argument("--min-path", type=int, default=None, help="maze: generated shortest paths longer than this")
    b.add_argument("--subset", default="arc-agi-1", choices=["arc-agi-1", "arc-agi-2"], help="arc")
    b.add_argument("--num-variants", type=int, default=1000, help="arc: variants per task")
    b.add_argument("--task-limit", type=int, default=None, help="arc: first N tasks of each source")
    b.add_argument("--no-concept-arc", action="store_true", help="arc: leave ConceptARC out")
    b.add_argument("--concept-arc-dir", default=None, help="arc: folder of the ConceptARC JSON files")
    b.add_argument(
        "--seed",
        type=int,
        default=None,
        help="default: 42 for arc (the official ARC build's seed), 0 for sudoku and maze",
    )
    b.add_argument("--overwrite", action="store_true")
    b.set_defaults(func=cmd_build_data)

    t = sub.add_parser(
        "train",
        help=f"train a recipe ({', '.join(RECIPES)})",
        description="Train a recipe. Everything after the recipe goes to it: --size paper|medium|"
        "smoke|tiny, --variant (sudoku: mlp|att), --set KEY=VALUE, --print-config.",
    )
    t.add_argument("recipe", choices=recipe_names())
    t.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's options")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model on a built dataset")
    e.add_argument("model", help=".keras file or preset")
    e.add_argument("data", help="built dataset folder")
    e.add_argument("--split", default="test")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--limit", type=int, default=0, help="evaluate the first N examples only")
    e.add_argument("--halt", action="store_true", help="stop each puzzle once its halt logit is positive")
    e.add_argument("--output", default=None, help="write the report as JSON here")
    e.add_argument("--train-data", default=None, help="arc: the training build (leakage check)")
    e.add_argument("--submission", default=None, help="arc: write a Kaggle submission here")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("solve", help="solve one Sudoku or maze (a string or a file) with a saved model")
    s.add_argument("model", help=".keras file (with task.json beside it) or preset")
    s.add_argument("puzzle", help="the puzzle: a string such as '1..4.3..' or a file holding it")
    s.add_argument("--kind", choices=["sudoku", "maze"], default=None, help="needed without task.json")
    s.add_argument("--halt", action="store_true", help="stop once the halt logit is positive")
    s.set_defaults(func=cmd_solve)

    i = sub.add_parser("import-official", help="official PyTorch checkpoint + arch config -> .keras file or preset")
    i.add_argument("checkpoint", help="torch.save'd state dict of the official code")
    i.add_argument("config", help="arch settings: all_config.yaml, an arch yaml or a config.json")
    i.add_argument("output", help="a path ending in .keras, or a preset folder")
    i.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TRMBackbone / solver arguments, e.g. sequence_length=81",
    )
    i.set_defaults(func=cmd_import_official)

    u = sub.add_parser("publish", help="validate a preset folder and upload it (Kaggle or Hugging Face)")
    u.add_argument("model", help="preset folder")
    u.add_argument("uri", help="kaggle://<user>/<model>/keras/<variation> or hf://<user>/<repo>")
    u.set_defaults(func=cmd_publish)
    return p


def main(argv=None):
    """Entry point of `keras-trm`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as e:
        parser.exit(2, f"keras-trm: error: {e}\n")
    except FileNotFoundError as e:
        parser.exit(2, f"keras-trm: error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
