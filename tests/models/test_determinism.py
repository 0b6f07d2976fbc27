"""The same seeds give the same training, whatever ran before in the process (the learning tests rely on it).

A training run's numbers may depend only on its own seeds: not on draws that earlier tests made from the global
generators (Python's `random`, numpy's legacy generator, Keras's global SeedGenerator), nor on models built before.
"""

import random

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_sudoku_csvs

pytestmark = pytest.mark.xla  # TensorFlow keeps its default XLA compile here (tests/conftest.py)


def _train(train, seed):
    meta = train.metadata
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=meta["vocab_size"],
        sequence_length=meta["seq_len"],
        hidden_dim=16,
        num_heads=2,
        num_layers=1,
        H_cycles=2,
        L_cycles=1,
        num_puzzle_identifiers=meta["num_puzzle_identifiers"],
        puzzle_emb_len=1,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2, seed=seed)  # exploration draws are on
    solver.compile(learning_rate=1e-2, warmup_steps=1)
    history = solver.fit(PuzzleBatches(train, batch_size=8, seed=seed, steps_per_epoch=4), epochs=2, verbose=0)
    weights = [ops.convert_to_numpy(v) for v in solver.weights]
    return history.history["loss"], weights


def _disturb_global_state():
    random.random()
    np.random.rand(3)
    keras.random.uniform((2,))  # Keras's global SeedGenerator
    TRMBackbone(vocabulary_size=6, sequence_length=4, hidden_dim=8, num_heads=1, num_layers=1, H_cycles=1, L_cycles=1)


def test_same_seed_same_training_after_other_work(tmp_path):
    make_sudoku_csvs(tmp_path / "csv", n=4, train_count=20, test_count=4, seed=0)
    root = build_sudoku_dataset(
        tmp_path / "data",
        train_csv=tmp_path / "csv" / "train.csv",
        test_csv=tmp_path / "csv" / "test.csv",
        num_aug=2,
        seed=0,
        progress=False,
    )
    train = PuzzleDataset(root, "train")
    loss_a, weights_a = _train(train, seed=3)
    _disturb_global_state()
    loss_b, weights_b = _train(train, seed=3)
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
