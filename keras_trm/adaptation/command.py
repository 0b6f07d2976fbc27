"""The ARC commands: ``keras-trm adapt MODEL CHALLENGES.json OUT``, ARC ``keras-trm solve MODEL task.json`` and
``keras-trm build-data arc OUT --tasks DIR_OR_FILE``.

`run(args)` runs the ``adapt`` command (its options: `keras_trm.cli`); `solve_task_file` and `format_solution` are ARC's
``solve``; `build_data_from_args` is ``build-data arc --tasks``. Bad input raises
`keras_trm.data.errors.DataFormatError` or ValueError with one line naming the file, task and field.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from keras_trm.adaptation.adapt import adapt, solver_spec
from keras_trm.adaptation.submission import predict_tasks
from keras_trm.data import arc as arc_data
from keras_trm.models import TRMPuzzleSolver


def run(args):
    """Run ``keras-trm adapt`` from parsed `args` -> the summary dict (also OUT/adaptation.json)."""
    tasks = arc_data.load_tasks(args.challenges, need_outputs=False)
    if args.max_minutes is not None and args.max_minutes < 0:
        raise ValueError(f"--max-minutes must be >= 0, got {args.max_minutes}")
    solver = TRMPuzzleSolver.from_preset(args.model)
    result = adapt(
        solver,
        tasks,
        steps=args.steps,
        variants=args.variants,
        train=args.train,
        seed=args.seed,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        puzzle_emb_learning_rate=args.puzzle_emb_learning_rate,
        ema=args.ema,
        max_minutes=args.max_minutes,
        progress=not args.no_progress,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluator = predict_tasks(result.solver, tasks, seed=args.seed)
    submission = evaluator.write_submission(out / "submission.json")
    preset = save_preset(result.solver, out / "preset")
    summary = dict(result.summary(), submission=str(submission), preset=str(preset), tasks=len(tasks))
    try:
        summary["score"] = evaluator.result()  # only when the file had test outputs
    except ValueError:
        pass
    (out / "adaptation.json").write_text(json.dumps(summary, indent=2))
    stop = " (stopped by --max-minutes)" if result.stopped_by_time else ""
    print(
        f"adapted {len(result.new_task_ids)} new task(s) ({len(result.known_task_ids)} known) in {result.steps} "
        f"steps{stop}, {result.seconds:.1f} s; wrote {submission} and {preset}"
    )
    if "score" in summary:
        print(f"pass@1 {summary['score']['pass@1']:.2%}  pass@2 {summary['score']['pass@2']:.2%}")
    return summary


def save_preset(solver, folder):
    """`solver.save_to_preset` into a temporary folder renamed to `folder` when complete -> `folder`."""
    folder = Path(folder)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        solver.save_to_preset(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ================================================================================================ solve
def solve_task_file(solver, path, task_id=None, variants=8, seed=0, batch_size=64):
    """ARC ``keras-trm solve MODEL task.json``: the two attempts at every test input of one task.

    Args:
        solver: TRMPuzzleSolver (ARC, square canvas).
        path: str, Path or dict. A task file ``{"train": [...], "test": [...]}`` (test outputs optional) or the
            task dict itself.
        task_id: str or None. The task's id (default: the file name): a task the model was trained or adapted on
            runs under its own puzzle rows; any other with the blank identifier and `variants` random variants.
        variants: int. Variants (with the identity) of an unknown task. Defaults to 8.
        seed: int. Their seed. Defaults to 0.
        batch_size: int. Rows per model call. Defaults to 64.

    Returns:
        dict: "task_id", "known" (the model has rows for it), "tests": one dict per test input with "input",
        "attempts" (two grids), "votes", "confidence" (mean sigmoid(halt) of each attempt's votes), "variants" (votes
        cast), "expected" (grid or None) and "correct" ([bool, bool] or None).
    """
    if isinstance(path, dict):
        tid = task_id or "task"
        obj = path
    else:
        path = Path(path)
        tid = task_id or path.stem
        obj = arc_data._read_json(path)
    task = arc_data._parse_lenient(obj, tid, file=None if isinstance(path, dict) else path)
    known = bool(solver_spec(solver).variants_of(tid))
    evaluator = predict_tasks(solver, {tid: task}, blank_variants=variants, seed=seed, batch_size=batch_size)
    tests = []
    for grid, expected in task.test:
        ranked = evaluator.ranked_answers(tid, grid)[:2]
        while len(ranked) < 2:
            ranked.append(ranked[0] if ranked else (np.zeros((0, 0), np.int64), 0, 0.0))
        attempts = [g.tolist() for g, _, _ in ranked]
        entry = {
            "input": grid.tolist(),
            "attempts": attempts,
            "votes": [int(c) for _, c, _ in ranked],
            "confidence": [float(q) for _, _, q in ranked],
            "variants": int(sum(c for _, c, _ in evaluator.ranked_answers(tid, grid))),
            "expected": None if expected is None else expected.tolist(),
            "correct": None if expected is None else [a == expected.tolist() for a in attempts],
        }
        tests.append(entry)
    return {"task_id": tid, "known": known, "tests": tests}


def format_grid(grid):
    """A grid as rows of digits (``-`` for an empty answer)."""
    return "\n".join("".join(str(int(v)) for v in row) for row in grid) if grid and grid[0] else "-"


def format_solution(result):
    """The text ``keras-trm solve`` prints for `solve_task_file`'s result."""
    how = "its own puzzle rows" if result["known"] else "the blank identifier (the model does not know this task)"
    lines = [f"task {result['task_id']}: solved with {how}"]
    for k, t in enumerate(result["tests"]):
        lines.append(f"test input {k}:")
        for a in range(2):
            verdict = "" if t["correct"] is None else ("  correct" if t["correct"][a] else "  wrong")
            lines.append(
                f"attempt {a + 1}: {t['votes'][a]} of {t['variants']} votes, confidence "
                f"{t['confidence'][a]:.2f}{verdict}"
            )
            lines.append(format_grid(t["attempts"][a]))
    return "\n".join(lines)


# ================================================================================================ build-data arc
def build_data_from_args(out, args):
    """``keras-trm build-data arc OUT --tasks DIR_OR_FILE``: `keras_trm.data.arc.build_user_arc_dataset` -> root."""
    root = arc_data.build_user_arc_dataset(
        out,
        args.tasks,
        train_tasks=args.train_tasks,
        num_variants=args.num_variants,
        seed=0 if args.seed is None else args.seed,
        canvas=args.canvas,
        overwrite=args.overwrite,
        progress=True,
    )
    meta = json.loads((Path(root) / arc_data.METADATA_FILE).read_text())
    print(f"ARC tasks from {args.tasks}: {meta['arc']['sources']} on a {args.canvas}x{args.canvas} canvas -> {root}")
    return root
