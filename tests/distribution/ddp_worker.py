"""One rank of the PyTorch data-parallel test: trains a tiny solver a few steps on its shard of each global batch.

Started by tests/distribution/test_torch_ddp.py as `python ddp_worker.py OUT_DIR` with torchrun's variables set
(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and KERAS_BACKEND=torch. Rank 0 first trains the same solver on the
whole global batches in one process (WORLD_SIZE hidden), then every rank joins the gloo group and trains on its
rows. Each rank writes OUT_DIR/rank<r>.npz: its per-step losses and metrics, its final weights and carry rows.
"""

import os
import sys

import keras
import numpy as np

from keras_trm import distribution
from keras_trm.models import TRMBackbone, TRMPuzzleSolver

BATCH, STEPS, LENGTH, VOCAB, IDS = 8, 4, 12, 6, 3
LOGGED = ("loss", "lm_loss", "q_halt_loss", "accuracy", "steps")


class StepLogs(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append([float(logs[k]) for k in LOGGED])


def make_solver():
    keras.utils.set_random_seed(int(os.environ.get("RANK", "0")))  # ranks draw different weights: rank 0's win
    backbone = TRMBackbone(
        vocabulary_size=VOCAB,
        sequence_length=LENGTH,
        hidden_dim=16,
        num_heads=2,
        num_layers=1,
        H_cycles=2,
        L_cycles=1,
        num_puzzle_identifiers=IDS,
        puzzle_emb_len=2,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2, halt_exploration_prob=0.0, seed=3)
    solver.compile(learning_rate=3e-3, warmup_steps=1, weight_decay=0.1, puzzle_emb_learning_rate=1e-2)
    return solver


def data():
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    x = {
        "inputs": rng.integers(1, VOCAB, (n, LENGTH)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, IDS, (n,)).astype("int32"),
    }
    y = np.where(rng.random((n, LENGTH)) < 0.2, 0, (x["inputs"] % (VOCAB - 1)) + 1).astype("int32")
    return x, y


def shard(array, rank, world):
    """Rank's rows of every global batch of BATCH rows (what PuzzleBatches(num_shards=world) serves)."""
    per = BATCH // world
    return array.reshape((STEPS, world, per) + array.shape[1:])[:, rank].reshape((STEPS * per,) + array.shape[1:])


def train(x, y, batch_size):
    solver = make_solver()
    logs = StepLogs()
    solver.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[logs])
    return {
        "logs": np.asarray(logs.rows),
        "weights": np.concatenate([w.ravel() for w in solver.backbone.get_weights()]),
        "z_H": keras.ops.convert_to_numpy(solver.carry["z_H"].value),
        "eval": np.asarray(list(solver.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True).values())),
    }


def main():
    out_dir = sys.argv[1]
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    x, y = data()
    result = {}
    if rank == 0:
        os.environ["WORLD_SIZE"] = "1"  # one process on the global batches first
        single = train(x, y, BATCH)
        os.environ["WORLD_SIZE"] = str(world)
        result.update({f"single_{k}": v for k, v in single.items()})
    assert distribution.initialize() == world
    x_r = {k: shard(v, rank, world) for k, v in x.items()}
    multi = train(x_r, shard(y, rank, world), BATCH // world)
    result.update({f"multi_{k}": v for k, v in multi.items()})
    result["is_main"] = np.asarray(distribution.is_main_process())
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **result)


if __name__ == "__main__":
    main()
