"""Solve puzzles with a trained TRM: Sudoku strings, mazes and ARC tasks in, answers with confidence out.

Every function runs the solver in batches of a fixed size (the last one padded with blank rows, so each backend
compiles one shape) for `halt_max_steps` supervision steps, or, with a halting rule (`halt=True`: a positive halt
logit; a `HaltingRule`; by default the solver's own `halt_at_inference`), stops each row when the rule says so and
gives its slot to the next puzzle (`run_solver`). Each answer comes with its confidence, sigmoid(halt logit) (the
model's own estimate that the answer is right), and the number of supervision steps it used.

Example:
    >>> from keras_trm import TRMPuzzleSolver
    >>> solver = TRMPuzzleSolver.from_preset("trm_sudoku_4x4")        # trained, shipped in the package
    >>> out = solve_sudoku(solver, "1.....3..1.....4")                # n*n characters, '.' or '0' blank
    >>> out["grids"][0].tolist()
    [[1, 3, 4, 2], [2, 4, 3, 1], [4, 1, 2, 3], [3, 2, 1, 4]]
    >>> out["strings"][0], bool(out["valid"][0]), bool(out["confidence"][0] > 0.5), int(out["steps"][0])
    ('1342243141233214', True, True, 4)
"""

from __future__ import annotations

import numpy as np

from keras_trm.data import arc as arc_data
from keras_trm.evaluation.arc import ARCEvaluator
from keras_trm.evaluation.halting import as_rule
from keras_trm.evaluation.stepwise import run_stepwise
from keras_trm.models.arc_preprocessor import ARCPreprocessor
from keras_trm.models.maze_preprocessor import MazePreprocessor
from keras_trm.models.puzzle_preprocessor import as_python
from keras_trm.models.sudoku_preprocessor import SudokuPreprocessor


def _spec(solver):
    spec = getattr(solver, "puzzle_spec", None)
    if spec is None and hasattr(solver, "backbone"):
        spec = getattr(solver.backbone, "puzzle_spec", None)
    return spec


def puzzle_preprocessor(solver, cls):
    """The `cls` preprocessor that reads `solver`'s puzzles: its own `preprocessor`, else its `PuzzleSpec`'s, else
    one for its sequence length (side sqrt(L); the puzzles' own size when the solver has no backbone)."""
    pre = getattr(solver, "preprocessor", None)
    if isinstance(pre, cls):
        return pre
    spec = _spec(solver)
    if spec is not None and spec.benchmark in cls.benchmarks:
        return cls.from_spec(spec)
    if cls is ARCPreprocessor:
        return cls()
    length = getattr(getattr(solver, "backbone", None), "sequence_length", None)
    return cls(n=None if length is None else int(round(length**0.5)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def run_solver(
    solver, inputs, puzzle_identifiers=None, batch_size=64, halt=None, rollouts=1, noise=0.0, seed=0, select="vote",
    augment=None,
):  # fmt: skip
    """Run `solver` on token rows: inputs int (N, L), identifiers (N,) (default 0).

    With no halting rule and one rollout, the compiled predict step (`predict_on_batch`) runs each batch for
    `halt_max_steps` steps.
    Otherwise `keras_trm.evaluation.stepwise.run_stepwise` runs the rows one supervision step at a time, refilling
    the slots of halted rows (wall time follows the mean steps), with `rollouts` runs per puzzle.

    Args:
        halt: the halting rule: None (the solver's own `halt_at_inference`), False (fixed steps), True (halt logit
            > 0), or a `HaltingRule`.
        rollouts, noise, seed, select: K runs per puzzle, the noise on their initial states, its seed, and how
            the answer is chosen ("vote" or "confidence"); see `run_stepwise`.
        augment: None, "sudoku" or "maze": rollouts 1.. also see the puzzle under a random symmetry of that
            benchmark (`keras_trm.evaluation.symmetry`); see `run_stepwise`.

    Returns numpy {"tokens" (N, L) argmax predictions, "logits" (N, L, V), "q_halt_logits" (N,),
    "confidence" (N,) = sigmoid(halt logit), "steps" (N,)} (and "votes" (N,) from the stepwise path).
    """
    inputs = np.asarray(inputs, np.int32)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be (N, L) tokens, got shape {inputs.shape}")
    n = inputs.shape[0]
    ids = np.zeros((n,), np.int32) if puzzle_identifiers is None else np.asarray(puzzle_identifiers, np.int32)
    if ids.shape != (n,):
        raise ValueError(f"puzzle_identifiers must be ({n},), got shape {ids.shape}")
    rule = as_rule(getattr(solver, "halt_at_inference", None) if halt is None else halt)
    own = as_rule(getattr(solver, "halt_at_inference", None))
    if rule is not None or int(rollouts) != 1 or own is not None or n == 0:
        # Step by step (halting decided here): the compiled predict function is never rebuilt for a new rule.
        return run_stepwise(
            solver, inputs, ids, rule=rule, batch_size=batch_size, rollouts=rollouts, noise=noise, seed=seed,
            select=select, augment=augment,
        )  # fmt: skip
    batch_size = max(1, min(int(batch_size), n)) if n else 1
    pad = (-n) % batch_size
    x = {
        "inputs": np.concatenate([inputs, np.zeros((pad, inputs.shape[1]), np.int32)]),
        "puzzle_identifiers": np.concatenate([ids, np.zeros((pad,), np.int32)]),
    }
    # predict_on_batch per batch: `predict` adds a data pipeline whose set-up costs more than these small models
    parts = [
        solver.predict_on_batch({k: v[b : b + batch_size] for k, v in x.items()})
        for b in range(0, len(x["inputs"]), batch_size)
    ]
    out = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in ("logits", "q_halt_logits", "steps")}
    logits = np.asarray(out["logits"])[:n]
    q_halt = np.asarray(out["q_halt_logits"], np.float32).reshape(-1)[:n]
    return {
        "tokens": logits.argmax(-1).astype(np.int32),
        "logits": logits,
        "q_halt_logits": q_halt,
        "confidence": _sigmoid(q_halt).astype(np.float32),
        "steps": np.asarray(out["steps"]).reshape(-1)[:n].astype(np.int32),
    }


# ================================================================================================ Sudoku
def solve_sudoku(
    solver, puzzles, batch_size=64, halt=None, tokens=False, preprocessor=None, rollouts=1, noise=0.0, seed=0,
    augment=False,
):  # fmt: skip
    """Solve Sudoku puzzles.

    Args:
        solver: a `TRMPuzzleSolver` trained on Sudoku (tokens value + 1).
        puzzles: what `SudokuPreprocessor` reads: a string of n*n characters ('.' or '0' blank; whitespace, `|`,
            `-`, `+` ignored), a list of them, or an int array (N, n, n) / (N, n*n) / (n*n,) of digits 0..n (0 blank);
            with `tokens=True` an array of model tokens (blank 1, digit d -> d + 1).
        batch_size: rows per model call.
        halt: the halting rule (`run_solver`): None, the solver's own; False, `halt_max_steps` steps; True, stop
            once the halt logit is positive; or a `HaltingRule`.
        rollouts, noise, seed: K runs per puzzle from initial states with Gaussian noise of this size (rollout 0
            without), answers chosen by vote (`keras_trm.evaluation.stepwise.run_stepwise`); default one run.
        augment: bool. Rollouts 1.. also see the puzzle with its digits relabelled and its rows and columns
            shuffled within bands and stacks (`keras_trm.evaluation.symmetry`). Default False.
        preprocessor: the `SudokuPreprocessor` to use (default `puzzle_preprocessor(solver, SudokuPreprocessor)`).

    Returns:
        dict: "grids" int (N, n, n) digits of the answers (0 where the model put a non-digit), "strings" (list of
        n*n-character strings), "valid" bool (N,) (a complete solution keeping the givens), "confidence" (N,)
        sigmoid of the halt logit, "steps" (N,) supervision steps used, "tokens" (N, n*n) model tokens.
    """
    pre = preprocessor or puzzle_preprocessor(solver, SudokuPreprocessor)
    if tokens:
        puzzles = np.maximum(np.asarray(as_python(puzzles)).astype(np.int32) - 1, 0)  # token -> value (blank 0)
    inputs, _ = pre.encode(puzzles)
    out = run_solver(
        solver, inputs, batch_size=batch_size, halt=halt, rollouts=rollouts, noise=noise, seed=seed,
        augment="sudoku" if augment else None,
    )  # fmt: skip
    return _solved(pre, inputs, out)


def _solved(pre, inputs, out):
    decoded = pre.decode(out, inputs, strings=True)
    return {
        "grids": pre.detokenize(out["tokens"], strings=False),
        "strings": decoded["answers"],
        "valid": decoded["valid"],
        "confidence": out["confidence"],
        "steps": out["steps"],
        "tokens": out["tokens"],
    }


# ================================================================================================ Maze
def solve_maze(
    solver, mazes, batch_size=16, halt=None, tokens=False, preprocessor=None, rollouts=1, noise=0.0, seed=0,
    augment=False,
):  # fmt: skip
    """Find the shortest path of n x n mazes.

    Args:
        solver: a `TRMPuzzleSolver` trained on mazes (tokens '#' 1, ' ' 2, 'S' 3, 'G' 4, 'o' 5).
        mazes: what `MazePreprocessor` reads: a maze as one string of n*n characters or of n rows joined by
            newlines; a list of mazes, each such a string or a list of n row strings; or (with `tokens=True`) a
            token array (N, n*n) / (N, n, n).
        halt, rollouts, noise, seed: as for `solve_sudoku`.
        augment: bool. Rollouts 1.. also see the maze rotated or reflected. Default False.
        preprocessor: the `MazePreprocessor` to use (default `puzzle_preprocessor(solver, MazePreprocessor)`).

    Returns:
        dict: "grids" (list of lists of n row strings, path marked 'o'), "strings" (n*n characters each),
        "valid" bool (N,) (a shortest S-G path keeping the walls), "confidence", "steps", "tokens" (N, n*n).
    """
    pre = preprocessor or puzzle_preprocessor(solver, MazePreprocessor)
    if tokens:
        arr = np.asarray(as_python(mazes)).astype(np.int32)
        inputs = arr.reshape(-1, arr.shape[-1] * (arr.shape[-1] if arr.ndim == 3 else 1))
    else:
        inputs, _ = pre.encode(mazes)
    out = run_solver(
        solver, inputs, batch_size=batch_size, halt=halt, rollouts=rollouts, noise=noise, seed=seed,
        augment="maze" if augment else None,
    )  # fmt: skip
    out = _solved(pre, inputs, out)
    n = int(round(inputs.shape[-1] ** 0.5))
    out["grids"] = [[s[r * n : (r + 1) * n] for r in range(n)] for s in out["strings"]]
    return out


# ================================================================================================ ARC
def solve_arc(
    solver, task, task_id=None, num_variants=None, batch_size=64, halt=None, seed=0, attempts=2, preprocessor=None
):
    """Solve one ARC task: run its variants, undo them, vote, and return `attempts` answers per test input.

    The variants are the task's trained ones when the solver's `PuzzleSpec` has the identifier table of its
    puzzle embeddings (identifiers "<task_id>|<k>", as the official evaluation: the evaluation tasks'
    demonstration pairs are training data); `num_variants` keeps the first ones. For a task the table does not
    know, `num_variants` variants (identity first, then random dihedral + colour permutations, `seed`) run with
    the blank identifier 0 (`ARCPreprocessor.task_variants`). Each test input of each variant sits at the canvas'
    top-left; each prediction is cropped, mapped back through its variant and voted on
    (`keras_trm.evaluation.arc.ARCEvaluator`: count, ties by mean sigmoid of the halt logit).

    Args:
        solver: a `TRMPuzzleSolver` trained on ARC (sequence 900, vocabulary 12).
        task: an `ARCTask` or a dict `{"train": [...], "test": [{"input": grid, "output"?: grid}, ...]}`.
        task_id: the task's id (default: the ARCTask's id); selects its puzzle identifiers.
        num_variants: variants to run (default: every trained one, or 8 for an unknown task).
        preprocessor: an `ARCPreprocessor` (default: the solver's); `num_variants` and `seed` replace its own.

    Returns:
        dict: "attempts" (per test input a list of `attempts` grids, lists of lists), "submission"
        ({task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}, Kaggle format), "ranked" (per test input a list
        of (grid, votes, mean confidence), best first), "num_variants" used, "steps" (mean steps), and
        "pass@1"/"pass@2" when every test input has a known output.
    """
    base = preprocessor or puzzle_preprocessor(solver, ARCPreprocessor)
    config = dict(base.get_config(), seed=seed)
    if num_variants is not None:
        config["num_variants"] = num_variants
    pre = ARCPreprocessor.from_config(config)
    task_id, test_inputs, test_outputs, full = pre.read_task(task, task_id)
    variants = pre.task_variants(full, task_id, _spec(solver))
    x, which = pre.task_batch(test_inputs, variants)
    out = run_solver(solver, x["inputs"], x["puzzle_identifiers"], batch_size=batch_size, halt=halt)

    names = ["<blank>"] + [arc_data.variant_name(task_id, tid, cmap) for _, tid, cmap in variants]
    transforms = {k + 1: (tid, cmap) for k, (_, tid, cmap) in enumerate(variants)}
    tests = [
        {"input": x.tolist(), "output": (y if y is not None else x).tolist()} for x, y in zip(test_inputs, test_outputs)
    ]
    ev = ARCEvaluator(names, transforms, {task_id: {"test": tests}}, pass_ks=(1, 2), submission_k=attempts)
    ev.update(out["tokens"], out["q_halt_logits"], which + 1, x["inputs"])
    ranked = [[(g.tolist(), int(c), float(q)) for g, c, q in ev.ranked_answers(task_id, x)] for x in test_inputs]
    submission = ev.submission()
    result = {
        "attempts": [[entry[f"attempt_{i + 1}"] for i in range(attempts)] for entry in submission[task_id]],
        "submission": submission,
        "ranked": ranked,
        "num_variants": len(variants),
        "steps": float(np.mean(out["steps"])),
    }
    if all(y is not None for y in test_outputs):
        result.update(ev.result())
    return result
