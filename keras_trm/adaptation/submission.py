"""Predict ARC tasks over all their variants, undo each variant, vote, and write Kaggle's submission.json.

A task the solver's `PuzzleSpec` knows (trained, or adapted by `keras_trm.adaptation.adapt`) runs under each of
its rows' variants with that row's puzzle identifier; any other task under the identity and random variants with the
blank identifier 0 (what the official code can do for a new task). Each answer is cropped, mapped back through its
variant and voted on by `keras_trm.evaluation.arc.ARCEvaluator` (votes, then mean confidence): the two best are the
submission's ``attempt_1`` and ``attempt_2``.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_trm.adaptation.adapt import solver_canvas, solver_spec
from keras_trm.data import arc as arc_data
from keras_trm.data.transforms import apply_variant
from keras_trm.evaluation.arc import ARCEvaluator


def task_variants_to_run(spec, task, task_id, blank_variants=8, seed=0):
    """[(puzzle identifier, dihedral id, colour map)] for one task: the spec's rows of `task_id`, else the identity
    and `blank_variants - 1` random variants (from the demonstrations) with identifier 0."""
    known = spec.variants_of(task_id)
    if known:
        return known
    demos = arc_data.ARCTask(task_id, train=list(task.train), test=[])
    drawn = arc_data.task_variants(demos, max(int(blank_variants), 1) - 1, np.random.default_rng(seed))
    return [(0, int(tid), cmap) for tid, cmap in drawn]


def predict_tasks(solver, tasks, blank_variants=8, seed=0, batch_size=64, blank=False):
    """Vote on every test input of `tasks` over its variants -> an `ARCEvaluator` holding the votes.

    Args:
        solver: TRMPuzzleSolver on a square ARC canvas.
        tasks: {task_id: ARCTask}. Test outputs are scored where known (`ARCEvaluator.result`), never used.
        blank_variants: int. Variants (the identity included) of a task the solver does not know. Defaults to 8.
        seed: int. Seed of those variants. Defaults to 0.
        batch_size: int. Rows per model call (the last batch padded: one compiled shape). Defaults to 64.
        blank: bool. Run every task with the blank identifier, even a known one (a baseline). Defaults to False.

    Returns:
        ARCEvaluator: `.result()` (pass@K), `.ranked_answers(task_id, grid)`, `.submission()`.
    """
    canvas = solver_canvas(solver)
    spec = solver_spec(solver)
    names, transforms, rows, scored = ["<blank>"], {}, [], {}
    for task_id, task in tasks.items():
        arc_data.check_tasks_fit({task_id: task}, canvas)
        plan = task_variants_to_run(spec, task, task_id if not blank else "\0", blank_variants, seed)
        for ident, tid, cmap in plan:
            local = len(names)
            names.append(arc_data.variant_name(task_id, tid, cmap))
            transforms[local] = (tid, cmap)
            for grid, _ in task.test:
                rows.append((arc_data.grid_to_tokens(apply_variant(grid, tid, cmap), canvas=canvas), ident, local))
        scored[task_id] = {
            "test": [{"input": i.tolist(), "output": None if o is None else o.tolist()} for i, o in task.test]
        }
    evaluator = ARCEvaluator(names, transforms, scored)
    if not rows:
        return evaluator
    inputs = np.stack([r[0] for r in rows]).astype(np.int32)
    out = run_tokens(solver, inputs, np.array([r[1] for r in rows], np.int32), batch_size)
    evaluator.update(out["tokens"], out["q_halt_logits"], np.array([r[2] for r in rows]), inputs)
    return evaluator


def run_tokens(solver, inputs, identifiers, batch_size=64):
    """The solver on token rows in fixed-size batches (Keras's predict, no decoding): {"tokens", "q_halt_logits"}."""
    n = len(inputs)
    size = max(1, min(int(batch_size), n))
    pad = (-n) % size
    x = {
        "inputs": np.concatenate([inputs, np.zeros((pad, inputs.shape[1]), np.int32)]),
        "puzzle_identifiers": np.concatenate([identifiers, np.zeros((pad,), np.int32)]),
    }
    out = keras.Model.predict(solver, x, batch_size=size, verbose=0)
    return {
        "tokens": np.asarray(out["logits"])[:n].argmax(-1).astype(np.int32),
        "q_halt_logits": np.asarray(out["q_halt_logits"], np.float32).reshape(-1)[:n],
    }


def write_submission(evaluator, path):
    """Kaggle's submission.json (two attempts per test input) from the votes -> its path (written whole)."""
    return evaluator.write_submission(path)
