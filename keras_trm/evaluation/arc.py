"""ARC evaluation: crop, undo the variant, vote across variants, pass@K and a Kaggle submission.

Follows ``evaluators/arc.py`` of the official code: each prediction (900 tokens) is cropped to the
largest top-left rectangle of colour tokens, mapped back through its variant's inverse transform and
colour map, and filed under (task, original test input). Per test input, distinct answers are ranked
by vote count, ties by the mean sigmoid(halt logit) of their votes (then first seen). pass@K counts a
test input as solved when the true output is among the top K; a task scores the mean over its test
inputs; the result is the mean over all tasks of the split.

Example (a one-task table; the "model" answers every variant with the true output tokens):
    >>> import numpy as np
    >>> from keras_trm.data import arc
    >>> from keras_trm.data.transforms import apply_variant
    >>> x, y = np.array([[1, 2]]), np.array([[3], [4]])
    >>> tasks = {"t": {"test": [{"input": x.tolist(), "output": y.tolist()}]}}
    >>> cmap = np.array([0, 2, 1, 4, 3, 5, 6, 7, 8, 9])
    >>> names = ["<blank>", "t", arc.variant_name("t", 1, cmap)]    # official names: the task, then its variants
    >>> names[2]
    't|||t1|||0214356789'
    >>> ev = ARCEvaluator(names, {1: (0, np.arange(10)), 2: (1, cmap)}, tasks)
    >>> inp = np.stack([arc.grid_to_tokens(x), arc.grid_to_tokens(apply_variant(x, 1, cmap))])
    >>> out = np.stack([arc.grid_to_tokens(y), arc.grid_to_tokens(apply_variant(y, 1, cmap))])
    >>> ev.update(out, np.zeros(2), np.array([1, 2]), inp)
    >>> ev.result()["pass@1"]
    1.0
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from keras_trm.data import arc as arc_data
from keras_trm.data.transforms import check_colour_permutation, undo_variant

PASS_KS = (1, 2, 5, 10, 100, 1000)
VOTING_MODES = ("aggregated", "per_evaluation")


def _to_numpy(x):
    if isinstance(x, np.ndarray):
        return x
    try:
        from keras import ops

        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # pragma: no cover - plain sequences
        return np.asarray(x)


class ARCEvaluator:
    """Accumulates batches of predictions and scores them ARC-style.

    Args:
        identifier_names: list, index = puzzle identifier, value "<task_id>|<variant>" (0 is the blank).
        transforms: {identifier: (tid, colour map (10,))} for every identifier that may be predicted.
        tasks: {task_id: {"test": [{"input": grid, "output": grid}, ...]}}: the tasks scored (a test pair without
            "output", as in a Kaggle challenges file, is voted on and submitted but not scored).
        pass_ks: the K of pass@K.  submission_k: attempts per test input in the submission.
        voting: "aggregated" (default, the official behaviour: the votes of every evaluation since `reset()` add
            up) or "per_evaluation" (`begin_evaluation()` drops the votes of the earlier evaluations).
    """

    def __init__(self, identifier_names, transforms, tasks, pass_ks=PASS_KS, submission_k=2, voting="aggregated"):
        if voting not in VOTING_MODES:
            raise ValueError(f"voting must be one of {VOTING_MODES}, got {voting!r}")
        self.voting = voting
        self.identifier_names = list(identifier_names)
        self.pass_ks = tuple(int(k) for k in pass_ks)
        self.submission_k = int(submission_k)
        self._task_of = {}
        self._transform = {}
        for ident, (tid, cmap) in transforms.items():
            ident = int(ident)
            if not 0 < ident < len(self.identifier_names):
                raise ValueError(f"transform given for unknown puzzle identifier {ident}")
            self._task_of[ident] = arc_data.task_id_of(self.identifier_names[ident])
            self._transform[ident] = (int(tid), check_colour_permutation(cmap))
        self.tasks = {}
        for task_id, task in tasks.items():
            pairs = [
                (
                    arc_data.validate_grid(p["input"], task=task_id, field=f"test[{i}].input"),
                    arc_data.validate_grid(p["output"], task=task_id, field=f"test[{i}].output")
                    if p.get("output") is not None
                    else None,
                )
                for i, p in enumerate(task["test"])
            ]
            self.tasks[task_id] = pairs
        self.reset()

    # ------------------------------------------------------------------ construction from a build
    @classmethod
    def from_dataset(cls, root, split="test", train_metadata=None, **kwargs):
        """Evaluator for a built ARC dataset (see ``keras_trm.data.arc.build_arc_dataset``).

        ``train_metadata``: metadata (dict or metadata.json path / dataset root) of the build the model
        was trained on; raises ``ARCLeakageError`` if that training saw these tasks' test outputs.
        """
        root = Path(root)
        table = arc_data.load_variant_table(root, split)
        if train_metadata is not None:
            arc_data.check_evaluation_allowed(train_metadata, table["tasks"].keys(), table["benchmark"])
        return cls(table["identifiers"], table["transforms"], table["tasks"], **kwargs)

    def reset(self):
        """Forget every vote (whatever the voting mode) and the count of evaluations."""
        self._grids = {}  # answer key -> grid
        self._votes = {}  # (task_id, input key) -> {answer key: [count, sum of halt probabilities]}
        self.evaluations = 0  # evaluations whose votes are in the tally
        self._open = False  # an evaluation is open (begun, or implied by a first update)

    def begin_evaluation(self):
        """Open the next evaluation (the official ``begin_eval``): with ``voting="per_evaluation"`` the earlier
        votes are dropped; with ``"aggregated"`` they stay and this evaluation's votes add to them."""
        if self.voting == "per_evaluation":
            self._grids, self._votes, self.evaluations = {}, {}, 0
        self.evaluations += 1
        self._open = True

    def voting_label(self):
        """Which votes a `result()` counts: "votes aggregated over N evaluations" or "votes of this evaluation
        only" (per_evaluation)."""
        if self.voting == "per_evaluation":
            return "votes of this evaluation only"
        n = self.evaluations
        return f"votes aggregated over {n} evaluation{'' if n == 1 else 's'}"

    def report(self):
        """`result()` plus how it was voted: "voting" (the mode), "voted_evaluations" (evaluations whose votes it
        counts) and "voting_label" (`voting_label()`)."""
        return dict(
            self.result(),
            voting=self.voting,
            voted_evaluations=self.evaluations,
            voting_label=self.voting_label(),
        )

    # ------------------------------------------------------------------ accumulation
    def update(self, preds, halt_logits, puzzle_identifiers, inputs):
        """Add a batch: preds int (B, L) tokens (or (B, L, V) logits), halt_logits (B,),
        puzzle_identifiers (B,), inputs (B, L), L = 900 on the official canvas (a smaller square canvas: its side
        squared). Rows with identifier 0 (padding) are skipped."""
        preds = _to_numpy(preds)
        if preds.ndim == 3:
            preds = preds.argmax(-1)
        halt = _to_numpy(halt_logits).astype(np.float64).reshape(-1)
        ids = _to_numpy(puzzle_identifiers).astype(np.int64).reshape(-1)
        inputs = _to_numpy(inputs)
        n = len(ids)
        length = inputs.shape[-1] if inputs.ndim == 2 else arc_data.SEQ_LEN
        if preds.shape != (n, length) or inputs.shape != (n, length) or halt.shape != (n,):
            raise ValueError(
                f"expected preds and inputs (B, L) and halt_logits (B,) for "
                f"B={n} identifiers; got {preds.shape}, {inputs.shape}, {halt.shape}"
            )
        arc_data.canvas_side(length)
        prob = 1.0 / (1.0 + np.exp(-halt))
        if not self._open:  # votes without begin_evaluation(): one evaluation (a plain, one-off use)
            self.begin_evaluation()
        for row in np.flatnonzero(ids != 0):
            ident = int(ids[row])
            if ident not in self._transform:
                raise ValueError(f"puzzle identifier {ident} is not a variant of this evaluation split")
            tid, cmap = self._transform[ident]
            x = undo_variant(arc_data.crop_tokens(inputs[row]), tid, cmap)
            y = undo_variant(arc_data.crop_tokens(preds[row]), tid, cmap)
            akey = arc_data.grid_key(y)
            self._grids.setdefault(akey, y)
            votes = self._votes.setdefault((self._task_of[ident], arc_data.grid_key(x)), {})
            v = votes.setdefault(akey, [0, 0.0])
            v[0] += 1
            v[1] += float(prob[row])

    def update_from_outputs(self, outputs, batch):
        """Convenience: ``outputs`` dict from predict ("preds"/"predictions"/"logits" and
        "q_halt_logits"/"halt_logits"), ``batch`` = x dict or (x, y, sample_weight) tuple."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        pred = next((outputs[k] for k in ("preds", "predictions", "logits") if k in outputs), None)
        halt = next((outputs[k] for k in ("q_halt_logits", "halt_logits") if k in outputs), None)
        if pred is None or halt is None:
            raise KeyError(f"outputs need predictions and halt logits, got keys {sorted(outputs)}")
        self.update(pred, halt, x["puzzle_identifiers"], x["inputs"])

    # ------------------------------------------------------------------ scoring
    def ranked_answers(self, task_id, test_input):
        """Distinct answers for one test input, best first: list of (grid, votes, mean halt prob)."""
        votes = self._votes.get((task_id, arc_data.grid_key(test_input)), {})
        stats = [(k, c, s / c) for k, (c, s) in votes.items()]
        stats.sort(key=lambda t: (t[1], t[2]), reverse=True)  # stable: first seen wins full ties
        return [(self._grids[k], c, q) for k, c, q in stats]

    def result(self):
        """{"pass@K": fraction} averaged over tasks (each task: mean over its test inputs with a known output)."""
        scored = {t: [(x, y) for x, y in pairs if y is not None] for t, pairs in self.tasks.items()}
        scored = {t: pairs for t, pairs in scored.items() if pairs}
        if not scored:
            raise ValueError("no tasks to evaluate (no test outputs are known)")
        totals = np.zeros(len(self.pass_ks))
        for task_id, pairs in scored.items():
            solved = np.zeros(len(self.pass_ks))
            for x, y in pairs:
                keys = [arc_data.grid_key(g) for g, _, _ in self.ranked_answers(task_id, x)]
                rank = keys.index(arc_data.grid_key(y)) if arc_data.grid_key(y) in keys else None
                solved += [rank is not None and rank < k for k in self.pass_ks]
            totals += solved / len(pairs)
        return {f"pass@{k}": float(v) for k, v in zip(self.pass_ks, totals / len(scored))}

    def submission(self):
        """Kaggle format {task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]} (one per test input).

        Fewer distinct answers than attempts repeat the best; a test input with no (or only empty)
        answers gets [[0]] so that the file stays well-formed.
        """
        sub = {}
        for task_id, pairs in self.tasks.items():
            sub[task_id] = []
            for x, _ in pairs:
                grids = [g.tolist() for g, _, _ in self.ranked_answers(task_id, x)[: self.submission_k]]
                grids = [g if g and g[0] else [[0]] for g in grids] or [[[0]]]
                grids += [grids[0]] * (self.submission_k - len(grids))
                sub[task_id].append({f"attempt_{i + 1}": g for i, g in enumerate(grids)})
        return sub

    def write_submission(self, path):
        """Write ``submission()`` as JSON to ``path`` (a file, or a folder -> folder/submission.json)."""
        path = Path(path)
        if path.is_dir():
            path = path / "submission.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed: never a half-written file
        with open(tmp, "w") as f:
            json.dump(self.submission(), f)
        os.replace(tmp, path)
        return path
