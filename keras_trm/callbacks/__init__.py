"""Callbacks for TRM training runs: EMA evaluation, resumable checkpoints, TensorBoard (any backend).

Example:
    >>> # from keras_trm.callbacks import EMAEvaluation, TRMCheckpoint, TRMTensorBoard, restore_latest
    >>> # state = restore_latest(solver, train, "run/ckpt")
    >>> # solver.fit(train, epochs=10, initial_epoch=state["initial_epoch"] if state else 0, validation_data=val,
    >>> #            callbacks=[EMAEvaluation(), TRMCheckpoint("run/ckpt", data=train, monitor="val_exact_accuracy"),
    >>> #                       TRMTensorBoard("run/tb", examples=val[0], benchmark="sudoku", grid_shape=(9, 9))])
"""

from keras_trm.callbacks.checkpoint import (
    TRMCheckpoint,
    latest_checkpoint,
    load_training_state,
    read_meta,
    restore_latest,
    save_training_state,
    training_variables,
)
from keras_trm.callbacks.ema import EMAEvaluation, ema_pairs, swap_ema_weights
from keras_trm.callbacks.tensorboard import (
    SummaryWriter,
    TRMTensorBoard,
    arc_pass_at_k,
    learning_rates,
    prediction_pictures,
)

__all__ = [
    "EMAEvaluation",
    "SummaryWriter",
    "TRMCheckpoint",
    "TRMTensorBoard",
    "arc_pass_at_k",
    "ema_pairs",
    "latest_checkpoint",
    "learning_rates",
    "load_training_state",
    "prediction_pictures",
    "read_meta",
    "restore_latest",
    "save_training_state",
    "swap_ema_weights",
    "training_variables",
]
