"""Test-time adaptation to new ARC tasks (`adapt`), their predictions and Kaggle submission, the `keras-trm adapt`
and ARC `solve` commands."""

from keras_trm.adaptation.adapt import TRAIN_MODES, AdaptationResult, adapt
from keras_trm.adaptation.submission import predict_tasks, write_submission

__all__ = ["TRAIN_MODES", "AdaptationResult", "adapt", "predict_tasks", "write_submission"]
