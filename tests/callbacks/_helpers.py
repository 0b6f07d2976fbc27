"""Tiny solver and 4x4 Sudoku data shared by the callback tests."""

import os

import keras
import numpy as np

from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_small_sudoku_csv
from keras_trm.models import TRMBackbone, TRMPuzzleSolver


def sudoku_root(folder):
    root = os.path.join(folder, "sudoku4")
    if not os.path.exists(os.path.join(root, "metadata.json")):
        make_small_sudoku_csv(os.path.join(folder, "csv"), n=4, train_count=40, test_count=8, seed=0)
        build_sudoku_dataset(
            root,
            train_csv=os.path.join(folder, "csv", "train.csv"),
            test_csv=os.path.join(folder, "csv", "test.csv"),
            progress=False,
        )
    return root


def train_batches(root, steps_per_epoch=3):
    return PuzzleBatches(PuzzleDataset(root, "train"), 8, mode="train", seed=3, steps_per_epoch=steps_per_epoch)


def eval_batches(root):
    return PuzzleBatches(PuzzleDataset(root, "test"), 8, mode="eval")


def make_solver(seed=0, use_ema=True, vocab=6, seq_len=16, puzzle_emb_len=2):
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=vocab,
        sequence_length=seq_len,
        hidden_dim=16,
        num_heads=2,
        num_layers=1,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_len=puzzle_emb_len,
        num_puzzle_identifiers=2,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=3, halt_exploration_prob=0.5, seed=5)
    solver.compile(
        learning_rate=1e-2,
        puzzle_emb_learning_rate=1e-2,
        warmup_steps=2,
        weight_decay=0.1,
        use_ema=use_ema,
        ema_momentum=0.5,
    )
    return solver


def numpy_values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
