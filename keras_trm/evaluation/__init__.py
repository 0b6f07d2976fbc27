"""Evaluation: ARC voting and pass@K (``keras_trm.evaluation.arc``)."""

from keras_trm.evaluation.arc import PASS_KS, ARCEvaluator

__all__ = ["ARCEvaluator", "PASS_KS"]
