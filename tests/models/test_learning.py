"""A small TRM trained by `model.fit` learns to solve held-out puzzles (run alone with `pytest -m learning`).

4x4 Sudoku made by the offline generator, TRM-MLP, the official AdamATan2 / sign-SGD / deep supervision recipe at a
small size. The test asserts accuracy on held-out puzzles, never time.

Every draw is seeded (data, initial weights, sampler, halting exploration), so a run repeats exactly on one machine,
alone or inside the suite (tests/models/test_determinism.py checks that earlier work does not leak in). Another CPU's
kernels round floats differently and a long run amplifies that, so the bar must hold with a margin: at 600 steps
seeds 0, 1 and 2 reached 100.0%, 100.0% and 99.5% exact on JAX; at the 300 steps used now (half the CI time) seed 0
reached 98.0% on JAX, 98.5% on TensorFlow and 98.5% on PyTorch (the 95% bar is 3 points below the worst). With a
constant learning rate instead of the cosine decay it reached 98.5-99.0% here and 89% on another machine.
"""

import keras
import numpy as np
import pytest

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_sudoku_csvs
from keras_trm.evaluation.grids import score_grid_predictions

pytestmark = [pytest.mark.learning, pytest.mark.xla]

TRAIN_STEPS = 300


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sudoku4")
    make_sudoku_csvs(folder / "csv", n=4, train_count=400, test_count=200, seed=0)
    root = build_sudoku_dataset(folder / "data", train_csv=folder / "csv" / "train.csv",
                                test_csv=folder / "csv" / "test.csv", num_aug=20, seed=0, progress=False)  # fmt: skip
    return PuzzleDataset(root, "train"), PuzzleDataset(root, "test")


def test_trm_learns_4x4_sudoku_to_95_percent_exact(sudoku4, report):
    train, test = sudoku4
    meta = train.metadata
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(vocabulary_size=meta["vocab_size"], sequence_length=meta["seq_len"], hidden_dim=64,
                           num_heads=4, num_layers=2, H_cycles=2, L_cycles=3, mlp_t=True, pos_encodings="none",
                           num_puzzle_identifiers=meta["num_puzzle_identifiers"], puzzle_emb_len=4)  # fmt: skip
    solver = TRMPuzzleSolver(backbone, halt_max_steps=4, seed=0)
    # Warm-up then cosine decay to 10% over the run (the official schedule's shape): a run that ends at a small
    # learning rate lands on a good solution whatever the float rounding of this machine's kernels.
    solver.compile(learning_rate=3e-3, weight_decay=0.1, puzzle_emb_learning_rate=3e-3, puzzle_emb_weight_decay=0.1,
                   warmup_steps=50, total_steps=TRAIN_STEPS, lr_min_ratio=0.1)  # fmt: skip
    history = solver.fit(PuzzleBatches(train, batch_size=64, seed=0, steps_per_epoch=TRAIN_STEPS), verbose=0)
    assert history.history["exact_accuracy"][-1] > 0.5  # training-time metric on rows that halted

    batches = PuzzleBatches(test, batch_size=64, mode="eval")
    preds, inputs, labels = [], [], []
    for i in range(len(batches)):
        x, y, w = batches[i]
        out = solver.predict_on_batch(x)
        keep = w > 0
        preds.append(np.argmax(out["logits"], -1)[keep])
        inputs.append(x["inputs"][keep])
        labels.append(y[keep])
    scores = score_grid_predictions(np.concatenate(preds), np.concatenate(inputs), np.concatenate(labels), "sudoku",
                                    (4, 4))  # fmt: skip
    report(f"{keras.backend.backend()}: held-out 4x4 Sudoku {scores}")
    assert scores["count"] == 200
    assert scores["exact_accuracy"] >= 0.95, scores
    assert scores["valid_fraction"] >= 0.95, scores
