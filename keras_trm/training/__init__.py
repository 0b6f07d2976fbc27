"""Training building blocks: the solver's train step (`SolverTrainer`), losses, optimizers and schedules."""

from keras_trm.training.losses import (
    IGNORE_LABEL_ID,
    get_token_loss,
    halt_bce,
    lm_loss_per_row,
    log_stablemax_score,
    row_correctness,
    softmax_cross_entropy,
    stablemax_cross_entropy,
    valid_counts,
)
from keras_trm.training.optimizers import AdamATan2, SignSGDEmbedding, sum_duplicate_rows
from keras_trm.training.schedules import WarmupCosine
from keras_trm.training.trainer import SolverTrainer
