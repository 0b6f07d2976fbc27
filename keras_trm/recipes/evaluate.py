"""Evaluating a solver on a built split during a recipe's run: predictions, the Sudoku / Maze report, log lines.

A recipe's evaluation is a function `(solver, cfg, data_dir, test_batches, max_examples=0, progress=False) ->
report dict`; `evaluate_grid_split` is the one of Sudoku and Maze (ARC's is `keras_trm.recipes.arc_evaluation`).
"""

import keras
import numpy as np
from tqdm.auto import tqdm

from keras_trm.data import read_metadata
from keras_trm.evaluation.grids import format_grid_report, score_grid_predictions


def predict_batches(solver, batches, max_examples=0, progress=False, desc="predict"):
    """Run the solver over eval-mode `PuzzleBatches`; yields (x, y, weight, outputs as numpy) per batch.

    Args:
        solver: TRMPuzzleSolver. The model (its `predict_on_batch` is called).
        batches: PuzzleBatches. Eval-mode batches of a split.
        max_examples: int. Stop after the batches that hold this many examples (0, the default: all).
        progress: bool. Show a progress bar (default False).
        desc: str. The progress bar's label (default "predict").
    """
    n = len(batches)
    if max_examples:
        n = min(n, -(-int(max_examples) // batches.batch_size))
    it = range(n)
    if progress:
        it = tqdm(it, desc=desc, unit="batch", leave=False)
    for i in it:
        x, y, w = batches[i]
        out = solver.predict_on_batch(x)
        yield x, y, w, {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}


def evaluate_grids(solver, batches, metadata, max_examples=0, progress=False):
    """Sudoku / Maze score report (`keras_trm.evaluation.grids`) of the solver on eval-mode batches.

    Args:
        solver: TRMPuzzleSolver. The model.
        batches: PuzzleBatches. Eval-mode batches of a split.
        metadata: dict. The built dataset's metadata (its "benchmark" and "grid_shape").
        max_examples: int. Score the first examples only (0, the default: all).
        progress: bool. Show a progress bar (default False).
    """
    preds, inputs, labels = [], [], []
    for x, y, w, out in predict_batches(solver, batches, max_examples, progress, "evaluate"):
        keep = w > 0
        preds.append(out["logits"].argmax(-1)[keep])
        inputs.append(x["inputs"][keep])
        labels.append(y[keep])
    return score_grid_predictions(
        np.concatenate(preds),
        np.concatenate(inputs),
        np.concatenate(labels),
        metadata["benchmark"],
        tuple(metadata["grid_shape"]),
    )


def evaluate_grid_split(solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
    """The Sudoku and Maze recipes' evaluation: exact / token accuracy and validity over the test split.

    Args:
        solver: TRMPuzzleSolver. The model.
        cfg: TRMConfig. The run's settings (unused: the same signature as ARC's evaluation).
        data_dir: str. The built dataset's folder.
        test_batches: PuzzleBatches. Eval-mode batches of its test split.
        max_examples: int. Score the first examples only (0, the default: all).
        progress: bool. Show a progress bar (default False).
    """
    return evaluate_grids(solver, test_batches, read_metadata(data_dir), max_examples, progress)


def grid_baselines(untrained, batches, metadata, max_examples=0):
    """The two baselines of a Sudoku / Maze run, scored as the model: an untrained model and copying the input.

    Args:
        untrained: TRMPuzzleSolver. The run's model at its initialisation (the same seed, no training).
        batches: PuzzleBatches. Eval-mode batches of the test split.
        metadata: dict. The built dataset's metadata.
        max_examples: int. The untrained model scores the first examples only (0, the default: all); copying the
            input is scored on the whole split.

    Returns:
        dict: {"untrained": report, "copy_input": report} (`keras_trm.evaluation.grids` reports).
    """
    inputs, labels = [], []
    for i in range(len(batches)):
        x, y, w = batches[i]
        keep = w > 0
        inputs.append(x["inputs"][keep])
        labels.append(y[keep])
    inputs, labels = np.concatenate(inputs), np.concatenate(labels)
    grid = tuple(metadata["grid_shape"])
    copy = score_grid_predictions(inputs, inputs, labels, metadata["benchmark"], grid)
    return {"untrained": evaluate_grids(untrained, batches, metadata, max_examples), "copy_input": copy}


def format_baselines(report, label="held-out"):
    """One line: the report's exact and token accuracy next to its "baselines" (`grid_baselines`).

    Example:
    >>> b = {"untrained": {"exact_accuracy": 0.0, "token_accuracy": 0.2},
    ...      "copy_input": {"exact_accuracy": 0.0, "token_accuracy": 0.4}}
    >>> line = format_baselines({"exact_accuracy": 0.99, "token_accuracy": 0.997, "baselines": b})
    >>> print(*line.split("; "), sep=chr(10))
    held-out exact accuracy 99.00% (untrained model 0.00%, copying the input 0.00%)
    token accuracy 99.70% (untrained model 20.00%, copying the input 40.00%)
    """
    b = report["baselines"]
    parts = []
    for key, name in (("exact_accuracy", "exact accuracy"), ("token_accuracy", "token accuracy")):
        if key in report:
            parts.append(
                f"{name} {report[key]:.2%} (untrained model {b['untrained'][key]:.2%}, "
                f"copying the input {b['copy_input'][key]:.2%})"
            )
    return f"{label} " + "; ".join(parts)


def format_report(report):
    """One evaluation report as log text: the grid report's lines, or ARC's pass@K with how the votes were counted.

    Example:
    >>> format_report({"pass@1": 0.25, "pass@2": 0.5, "voting_label": "votes of this evaluation only"})
    'pass@1 25.00%  pass@2 50.00%  (votes of this evaluation only)'
    """
    if "exact_accuracy" in report:
        return format_grid_report(report)
    line = "  ".join(f"{k} {100 * v:.2f}%" for k, v in report.items() if k.startswith("pass@"))
    if report.get("voting_label"):  # ARC: which votes the pass@K count
        line += f"  ({report['voting_label']})"
    return line
