"""Halting at inference: when a row may stop before `halt_max_steps` supervision steps, and how to choose that rule.

A `HaltingRule` stops a row once the model's confidence, sigmoid(halt logit), is above `threshold`, or once its
answer has stayed the same for `patience` steps. `calibrate_halting` picks the cheapest rule (fewest mean steps)
whose exact accuracy on held-out puzzles stays within a stated tolerance of the fixed-step accuracy, less one
standard error, from one fixed-step trace of those puzzles (every step's answer and confidence).

Example:
    >>> import numpy as np
    >>> rule = HaltingRule(threshold=0.9)
    >>> rule.stops(confidence=np.array([0.95, 0.5]), unchanged=np.array([0, 3])).tolist()
    [True, False]
    >>> HaltingRule.from_config(rule.get_config()) == rule
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class HaltingRule:
    """Stop a row at inference once `confidence > threshold` or its answer has not changed for `patience` steps.

    Args:
        threshold: float in [0, 1) or None. The confidence sigmoid(halt logit) above which a row stops; 0.5 is
            "halt logit > 0", the training rule. None: confidence never stops a row. Default 0.5.
        patience: int. Stop once the answer (argmax tokens) is the same as at the previous `patience` steps; 0 off.
            Default 0.

    Every row stops at `halt_max_steps` in any case.
    """

    threshold: Optional[float] = 0.5
    patience: int = 0

    def __post_init__(self):
        if self.threshold is not None and not 0.0 <= float(self.threshold) < 1.0:
            raise ValueError(f"HaltingRule threshold must be in [0, 1) or None, got {self.threshold!r}")
        if int(self.patience) < 0:
            raise ValueError(f"HaltingRule patience must be >= 0, got {self.patience!r}")
        if self.threshold is None and not self.patience:
            raise ValueError("HaltingRule needs a threshold or a patience (else use no rule: fixed steps)")

    @property
    def logit(self):
        """The halt-logit threshold: log(t / (1 - t)); +inf with no threshold (no logit is above it)."""
        if self.threshold is None:
            return math.inf
        t = float(self.threshold)
        return -math.inf if t == 0.0 else math.log(t / (1.0 - t))

    def stops(self, confidence, unchanged):
        """bool array: rows that stop now, from their confidence and how many steps their answer has not changed."""
        stop = np.zeros(np.shape(confidence), bool)
        if self.threshold is not None:
            stop |= np.asarray(confidence) > self.threshold
        if self.patience:
            stop |= np.asarray(unchanged) >= self.patience
        return stop

    def get_config(self):
        return {"threshold": None if self.threshold is None else float(self.threshold), "patience": int(self.patience)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __str__(self):
        parts = [] if self.threshold is None else [f"confidence > {self.threshold:.4g}"]
        parts += [f"answer unchanged for {self.patience} steps"] if self.patience else []
        return " or ".join(parts)


def as_rule(halt):
    """A solver's or a call's halting setting as a `HaltingRule` or None (fixed steps).

    `halt`: None / False (fixed steps), True (halt logit > 0: `HaltingRule(0.5)`), a `HaltingRule`, or its config
    dict (as saved in a solver's config or a preset's `PuzzleSpec`).
    """
    if halt is None or halt is False:
        return None
    if halt is True:
        return HaltingRule()
    if isinstance(halt, HaltingRule):
        return halt
    if isinstance(halt, dict):
        return HaltingRule.from_config(halt)
    raise ValueError(f"halting must be None, a bool, a HaltingRule or its config dict, got {halt!r}")


def rule_config(halt):
    """What a config stores for a halting setting: False (fixed steps) or the rule's config dict."""
    rule = as_rule(halt)
    return False if rule is None else rule.get_config()


# ================================================================================================ calibration
def unchanged_counts(tokens):
    """int (N, T): after each step, for how many steps before it the answer has been the same.

    `tokens`: int (N, T, L), the answer after each of T steps.
    """
    tokens = np.asarray(tokens)
    n, t = tokens.shape[:2]
    counts = np.zeros((n, t), np.int64)
    same = np.all(tokens[:, 1:] == tokens[:, :-1], axis=-1)  # (N, T - 1)
    for s in range(1, t):
        counts[:, s] = np.where(same[:, s - 1], counts[:, s - 1] + 1, 0)
    return counts


def halting_steps(confidence, unchanged, rule):
    """The step (0-based) at which each row stops under `rule`, from a fixed-step trace.

    Args:
        confidence: float (N, T): sigmoid(halt logit) after each of T steps.
        unchanged: int (N, T): `unchanged_counts` of the trace's answers.
        rule: a `HaltingRule` or None (every row runs T steps).

    Returns:
        int (N,) in [0, T - 1].
    """
    confidence = np.asarray(confidence)
    n, t = confidence.shape
    if rule is None:
        return np.full((n,), t - 1, np.int64)
    stop = rule.stops(confidence, unchanged)
    stop[:, -1] = True
    return np.argmax(stop, axis=1)


def exact_rows(tokens, labels):
    """bool (N,): the answer equals the labels on every labelled position (label 0 is ignored)."""
    labels = np.asarray(labels)
    return np.all((tokens == labels) | (labels == 0), axis=-1)


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
"""The confidence thresholds `calibrate_halting` tries: a fixed, coarse grid, so that the rule is not fitted to the
last decimal of the calibration puzzles' confidences (such a rule loses accuracy on new puzzles)."""


def calibrate_halting(
    confidence, tokens, labels, max_accuracy_drop=0.005, patiences=(0, 1, 2, 3), thresholds=THRESHOLDS, margin=1.0
):
    """The halting rule with the fewest mean steps whose exact accuracy stays within `max_accuracy_drop` of the
    fixed-step accuracy on these puzzles, with a margin for their sampling noise.

    A rule is accepted when `lost + margin * sqrt(changed) <= max_accuracy_drop * N`: `lost` is the rows the
    fixed-step run gets right less those the rule gets right, `changed` the rows on which the two disagree
    (right under one, wrong under the other), so `sqrt(changed)` is the standard error of `lost` (the paired,
    McNemar, comparison). With `margin=0` the rule's accuracy on these puzzles alone decides.

    Args:
        confidence: float (N, T): sigmoid(halt logit) after each step of a fixed-step run.
        tokens: int (N, T, L): the answer after each step.
        labels: int (N, L): the right answers (0: not scored).
        max_accuracy_drop: float. The largest accepted loss of exact accuracy, a fraction (0.005: half a point).
        patiences: the `patience` values tried (0: no patience), each with every threshold and with none.
        thresholds: the confidence thresholds tried (default `THRESHOLDS`).
        margin: float. Standard errors of the accuracy loss added before comparing it with the tolerance
            (default 1.0).

    Returns:
        dict: "rule" (the `HaltingRule`, or None when no rule saves a step within the tolerance), "accuracy" and
        "mean_steps" under it, "fixed_accuracy", "fixed_steps" (T).
    """
    confidence, tokens = np.asarray(confidence, np.float64), np.asarray(tokens)
    n, t = confidence.shape
    correct = np.stack([exact_rows(tokens[:, s], labels) for s in range(t)], axis=1)  # (N, T)
    unchanged = unchanged_counts(tokens)
    fixed_right = correct[:, -1]
    fixed = float(fixed_right.mean()) if n else 0.0
    best = {"rule": None, "accuracy": fixed, "mean_steps": float(t)}
    for patience in patiences:
        for threshold in (None, *thresholds):
            if threshold is None and not patience:
                continue
            rule = HaltingRule(threshold=threshold, patience=patience)
            at = halting_steps(confidence, unchanged, rule)
            right = correct[np.arange(n), at]
            lost = int(fixed_right.sum()) - int(right.sum())
            changed = int(np.sum(right != fixed_right))
            if lost + margin * math.sqrt(changed) > max_accuracy_drop * n + 1e-9:
                continue
            accuracy, mean_steps = float(right.mean()), float(at.mean() + 1)
            if (mean_steps, -accuracy) < (best["mean_steps"], -best["accuracy"]):
                best = {"rule": rule, "accuracy": accuracy, "mean_steps": mean_steps}
    return dict(best, fixed_accuracy=fixed, fixed_steps=t)
