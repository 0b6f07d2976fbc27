"""Callbacks for TRM training runs: EMA evaluation, resumable checkpoints, TensorBoard (any backend).

Example (a tiny solver, two epochs on a few generated 4x4 Sudoku; to resume a run, see
`keras_trm.callbacks.checkpoint`):

    >>> import os
    >>> from keras_trm.callbacks import EMAEvaluation, TRMCheckpoint, TRMTensorBoard
    >>> from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_small_sudoku_csv
    >>> from keras_trm.models import TRMBackbone, TRMPuzzleSolver
    >>> _ = make_small_sudoku_csv("csv", n=4, train_count=16, test_count=4, seed=0)
    >>> _ = build_sudoku_dataset("sudoku4", train_csv="csv/train.csv", test_csv="csv/test.csv", progress=False)
    >>> train = PuzzleBatches(PuzzleDataset("sudoku4", "train"), 8, seed=0, steps_per_epoch=2)
    >>> val = PuzzleBatches(PuzzleDataset("sudoku4", "test"), 4, mode="eval")
    >>> solver = TRMPuzzleSolver(TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2,
    ...                                      num_layers=1, H_cycles=1, L_cycles=1, puzzle_emb_len=1), halt_max_steps=2)
    >>> solver.compile(learning_rate=1e-3, warmup_steps=2, use_ema=True)
    >>> callbacks = [EMAEvaluation(), TRMCheckpoint("run/ckpt", data=train, monitor="val_exact_accuracy"),
    ...              TRMTensorBoard("run/tb", examples=val[0], benchmark="sudoku", grid_shape=(4, 4))]
    >>> history = solver.fit(train, epochs=2, validation_data=val, shuffle=False, verbose=0, callbacks=callbacks)
    >>> sorted(os.listdir("run/ckpt"))                   # best.*: the best val_exact_accuracy so far (EMA weights)
    ['best.json', 'best.npz', 'best.weights.h5', 'ckpt-0000000002.npz', 'ckpt-0000000004.npz']
    >>> sorted(os.listdir("run/tb"))                     # tensorboard --logdir run/tb
    ['eval', 'train']
    >>> sorted(name for name in history.history if name.startswith("val_"))   # evaluated with the EMA weights
    ['val_accuracy', 'val_exact_accuracy', 'val_lm_loss', 'val_loss', 'val_q_halt_accuracy', 'val_q_halt_loss',
     'val_steps']
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
