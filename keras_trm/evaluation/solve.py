"""Solve puzzles with a trained TRM: Sudoku strings, mazes and ARC tasks in, answers with confidence out.

Every function runs the solver in batches of a fixed size (the last one padded with blank rows, so each backend
compiles one shape) for `halt_max_steps` supervision steps, or, with `halt=True`, stops each row once its halt
logit is positive. Each answer comes with its confidence, sigmoid(halt logit) (the model's own estimate that the
answer is right), and the number of supervision steps it used.

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
from keras_trm.data.transforms import apply_variant
from keras_trm.evaluation.arc import ARCEvaluator
from keras_trm.evaluation.grids import maze_is_valid_solution, sudoku_is_valid_solution

_MAZE_CHARSET = "# SGo"
_MAZE_IDS = {c: i + 1 for i, c in enumerate(_MAZE_CHARSET)}


def _sigmoid(x):
    x = np.asarray(x, np.float64)
    return 1.0 / (1.0 + np.exp(-x))


def _spec(solver):
    spec = getattr(solver, "puzzle_spec", None)
    if spec is None and hasattr(solver, "backbone"):
        spec = getattr(solver.backbone, "puzzle_spec", None)
    return spec


def run_solver(solver, inputs, puzzle_identifiers=None, batch_size=64, halt=False):
    """Run `solver` on token rows: inputs int (N, L), identifiers (N,) (default 0).

    Returns numpy {"tokens" (N, L) argmax predictions, "logits" (N, L, V), "q_halt_logits" (N,),
    "confidence" (N,) = sigmoid(halt logit), "steps" (N,)}.
    """
    inputs = np.asarray(inputs, np.int32)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be (N, L) tokens, got shape {inputs.shape}")
    n = inputs.shape[0]
    ids = np.zeros((n,), np.int32) if puzzle_identifiers is None else np.asarray(puzzle_identifiers, np.int32)
    if ids.shape != (n,):
        raise ValueError(f"puzzle_identifiers must be ({n},), got shape {ids.shape}")
    batch_size = max(1, min(int(batch_size), n)) if n else 1
    pad = (-n) % batch_size
    x = {
        "inputs": np.concatenate([inputs, np.zeros((pad, inputs.shape[1]), np.int32)]),
        "puzzle_identifiers": np.concatenate([ids, np.zeros((pad,), np.int32)]),
    }
    old = getattr(solver, "halt_at_inference", False)
    changed = bool(halt) != bool(old)
    if changed:  # the compiled predict function bakes the halting mode in: rebuild it for this call
        solver.halt_at_inference = bool(halt)
        solver.predict_function = None
    try:
        out = solver.predict(x, batch_size=batch_size, verbose=0)
    finally:
        if changed:
            solver.halt_at_inference = old
            solver.predict_function = None
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
def _parse_sudoku(puzzles, n, tokens):
    """-> digits int32 (N, n*n), 0 blank."""
    if isinstance(puzzles, str):
        puzzles = [puzzles]
    if isinstance(puzzles, (list, tuple)) and puzzles and isinstance(puzzles[0], str):
        rows = []
        for i, p in enumerate(puzzles):
            s = "".join(p.split())  # allow whitespace / newlines between rows
            if n is None:
                n = int(round(len(s) ** 0.5))
            if len(s) != n * n:
                raise ValueError(f"puzzle {i}: {len(s)} cells, expected {n * n} ({n}x{n}): {p!r}")
            bad = sorted({c for c in s if c not in ".0" and not (c.isdigit() and 1 <= int(c) <= n)})
            if bad:
                raise ValueError(f"puzzle {i}: characters {bad} are not digits 1..{n} or blanks ('.' / '0')")
            rows.append([0 if c in ".0" else int(c) for c in s])
        return np.asarray(rows, np.int32), n
    arr = np.asarray(puzzles)
    if n is None:
        n = int(round((arr.shape[-1] if arr.ndim <= 2 else arr.shape[-1] * arr.shape[-2]) ** 0.5))
    arr = arr.reshape(-1, n * n).astype(np.int32)
    if tokens:
        arr = np.maximum(arr - 1, 0)  # token value + 1 -> value (blank 1 -> 0)
    if arr.size and (arr.min() < 0 or arr.max() > n):
        raise ValueError(f"Sudoku values must be 0 (blank) .. {n}")
    return arr, n


def solve_sudoku(solver, puzzles, batch_size=64, halt=False, tokens=False):
    """Solve Sudoku puzzles.

    Args:
        solver: a `TRMPuzzleSolver` trained on Sudoku (tokens value + 1; its sequence length n*n gives n).
        puzzles: a string of n*n characters ('.' or '0' blank, whitespace ignored), a list of them, or an int
            array (N, n, n) / (N, n*n) / (n*n,) of digits 0..n (0 blank); with `tokens=True` an array of model
            tokens (blank 1, digit d -> d + 1).
        batch_size: rows per model call.
        halt: stop each row once its halt logit is positive (faster; else `halt_max_steps` steps).

    Returns:
        dict: "grids" int (N, n, n) digits of the answers (0 where the model put a non-digit), "strings" (list of
        n*n-character strings), "valid" bool (N,) (a complete solution keeping the givens), "confidence" (N,)
        sigmoid of the halt logit, "steps" (N,) supervision steps used, "tokens" (N, n*n) model tokens.
    """
    spec = _spec(solver)
    n = int(spec.grid_shape[0]) if spec is not None and spec.benchmark == "sudoku" else None
    if n is None and hasattr(solver, "backbone"):
        n = int(round(solver.backbone.sequence_length**0.5))
    digits, n = _parse_sudoku(puzzles, n, tokens)
    inputs = digits + 1
    out = run_solver(solver, inputs, batch_size=batch_size, halt=halt)
    pred = out["tokens"]
    grid = np.where((pred >= 2) & (pred <= n + 1), pred - 1, 0).astype(np.int32)
    valid = (
        np.array([sudoku_is_valid_solution(p, i, n) for p, i in zip(pred, inputs)], dtype=bool)
        if n in (4, 6, 9)
        else np.zeros(len(pred), bool)
    )
    return {
        "grids": grid.reshape(-1, n, n),
        "strings": ["".join(str(int(v)) if v else "." for v in row) for row in grid],
        "valid": valid,
        "confidence": out["confidence"],
        "steps": out["steps"],
        "tokens": pred,
    }


# ================================================================================================ Maze
def _parse_maze(mazes, n, tokens):
    if isinstance(mazes, str):
        mazes = [mazes]
    if (
        not tokens
        and isinstance(mazes, (list, tuple))
        and mazes
        and all(isinstance(m, (str, list, tuple)) for m in mazes)
    ):
        rows = []
        for i, m in enumerate(mazes):
            s = "".join(m) if isinstance(m, (list, tuple)) else m.replace("\n", "")  # rows or one string
            if n is None:
                n = int(round(len(s) ** 0.5))
            if len(s) != n * n:
                raise ValueError(f"maze {i}: {len(s)} cells, expected {n * n} ({n}x{n})")
            bad = sorted(set(s) - set(_MAZE_CHARSET))
            if bad:
                raise ValueError(f"maze {i}: characters {bad} are not in {_MAZE_CHARSET!r}")
            rows.append([_MAZE_IDS[c] for c in s])
        return np.asarray(rows, np.int32), n
    if not tokens:
        raise ValueError("solve_maze takes maze strings (characters '# SGo'), or token arrays with tokens=True")
    arr = np.asarray(mazes)
    if n is None:
        n = int(round((arr.shape[-1] if arr.ndim <= 2 else arr.shape[-1] * arr.shape[-2]) ** 0.5))
    return arr.reshape(-1, n * n).astype(np.int32), n


def solve_maze(solver, mazes, batch_size=16, halt=False, tokens=False):
    """Find the shortest path of n x n mazes.

    Args:
        solver: a `TRMPuzzleSolver` trained on mazes (tokens '#' 1, ' ' 2, 'S' 3, 'G' 4, 'o' 5).
        mazes: a maze as one string of n*n characters or of n rows joined by newlines; a list of mazes, each such
            a string or a list of n row strings; or (with `tokens=True`) a token array (N, n*n) / (N, n, n).

    Returns:
        dict: "grids" (list of lists of n row strings, path marked 'o'), "strings" (n*n characters each),
        "valid" bool (N,) (a shortest S-G path keeping the walls), "confidence", "steps", "tokens" (N, n*n).
    """
    spec = _spec(solver)
    n = int(spec.grid_shape[0]) if spec is not None and spec.benchmark == "maze" else None
    if n is None and hasattr(solver, "backbone"):
        n = int(round(solver.backbone.sequence_length**0.5))
    inputs, n = _parse_maze(mazes, n, tokens)
    out = run_solver(solver, inputs, batch_size=batch_size, halt=halt)
    pred = out["tokens"]
    chars = np.array(list("?" + _MAZE_CHARSET))[np.clip(pred, 0, len(_MAZE_CHARSET))]
    strings = ["".join(r) for r in chars]
    return {
        "grids": [[s[r * n : (r + 1) * n] for r in range(n)] for s in strings],
        "strings": strings,
        "valid": np.array([maze_is_valid_solution(p, i, n, n) for p, i in zip(pred, inputs)], dtype=bool),
        "confidence": out["confidence"],
        "steps": out["steps"],
        "tokens": pred,
    }


# ================================================================================================ ARC
def _as_task(task, task_id):
    if isinstance(task, arc_data.ARCTask):
        return (
            task.task_id if task_id is None else task_id,
            [np.asarray(i) for i, _ in task.test],
            [np.asarray(o) for _, o in task.test],
            task,
        )
    if not isinstance(task, dict) or "test" not in task:
        raise ValueError("task must be an ARCTask or a dict with 'train' and 'test' lists of pairs")
    tests = task["test"]
    inputs = [arc_data.validate_grid(p["input"], task=task_id, field=f"test[{i}].input") for i, p in enumerate(tests)]
    outputs = [
        arc_data.validate_grid(p["output"], task=task_id, field=f"test[{i}].output") if "output" in p else None
        for i, p in enumerate(tests)
    ]
    train = [(arc_data.validate_grid(p["input"]), arc_data.validate_grid(p["output"])) for p in task.get("train", [])]
    full = arc_data.ARCTask(
        task_id or "task", train=train, test=[(i, o if o is not None else i) for i, o in zip(inputs, outputs)]
    )
    return task_id or "task", inputs, outputs, full


def solve_arc(solver, task, task_id=None, num_variants=None, batch_size=64, halt=False, seed=0, attempts=2):
    """Solve one ARC task: run its variants, undo them, vote, and return `attempts` answers per test input.

    The variants are the task's trained ones when the solver's `PuzzleSpec` has the identifier table of its
    puzzle embeddings (identifiers "<task_id>|<k>", as the official evaluation: the evaluation tasks'
    demonstration pairs are training data); `num_variants` keeps the first ones. For a task the table does not
    know, `num_variants` variants (identity first, then random dihedral + colour permutations, `seed`) run with
    the blank identifier 0. Each test input of each variant sits at the canvas' top-left; each prediction is
    cropped, mapped back through its variant and voted on (`keras_trm.evaluation.arc.ARCEvaluator`: count, ties
    by mean sigmoid of the halt logit).

    Args:
        solver: a `TRMPuzzleSolver` trained on ARC (sequence 900, vocabulary 12).
        task: an `ARCTask` or a dict `{"train": [...], "test": [{"input": grid, "output"?: grid}, ...]}`.
        task_id: the task's id (default: the ARCTask's id); selects its puzzle identifiers.
        num_variants: variants to run (default: every trained one, or 8 for an unknown task).

    Returns:
        dict: "attempts" (per test input a list of `attempts` grids, lists of lists), "submission"
        ({task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}, Kaggle format), "ranked" (per test input a list
        of (grid, votes, mean confidence), best first), "num_variants" used, "steps" (mean steps), and
        "pass@1"/"pass@2" when every test input has a known output.
    """
    task_id, test_inputs, test_outputs, full = _as_task(task, task_id)
    spec = _spec(solver)
    known = spec.variants_of(task_id) if spec is not None else []
    if known:
        variants = known[:num_variants] if num_variants else known
    else:
        rng = np.random.default_rng(seed)
        count = 8 if num_variants is None else int(num_variants)
        variants = [(0, tid, cmap) for tid, cmap in arc_data.task_variants(full, max(count - 1, 0), rng)][
            : max(count, 1)
        ]
    rows, model_ids, local_ids = [], [], []
    for k, (ident, tid, cmap) in enumerate(variants):
        for x in test_inputs:
            rows.append(arc_data.grid_to_tokens(apply_variant(x, tid, cmap)))
            model_ids.append(ident)
            local_ids.append(k + 1)
    inputs = np.stack(rows).astype(np.int32)
    out = run_solver(solver, inputs, np.asarray(model_ids, np.int32), batch_size=batch_size, halt=halt)

    names = ["<blank>"] + [arc_data.variant_name(task_id, tid, cmap) for _, tid, cmap in variants]
    transforms = {k + 1: (tid, cmap) for k, (_, tid, cmap) in enumerate(variants)}
    tests = [
        {"input": x.tolist(), "output": (y if y is not None else x).tolist()} for x, y in zip(test_inputs, test_outputs)
    ]
    ev = ARCEvaluator(names, transforms, {task_id: {"test": tests}}, pass_ks=(1, 2), submission_k=attempts)
    ev.update(out["tokens"], out["q_halt_logits"], np.asarray(local_ids), inputs)
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
