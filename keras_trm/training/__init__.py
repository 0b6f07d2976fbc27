"""Training building blocks: losses, optimizers and learning-rate schedules."""

from keras_trm.training.losses import IGNORE_LABEL_ID
from keras_trm.training.losses import get_token_loss
from keras_trm.training.losses import halt_bce
from keras_trm.training.losses import lm_loss_per_row
from keras_trm.training.losses import log_stablemax_score
from keras_trm.training.losses import row_correctness
from keras_trm.training.losses import softmax_cross_entropy
from keras_trm.training.losses import stablemax_cross_entropy
from keras_trm.training.losses import valid_counts
from keras_trm.training.optimizers import AdamATan2
from keras_trm.training.optimizers import SignSGDEmbedding
from keras_trm.training.optimizers import sum_duplicate_rows
from keras_trm.training.schedules import WarmupCosine
