"""The TensorFlow MirroredStrategy test's process: 2 logical CPU devices, a tiny solver trained on one device and
mirrored over both; writes the losses, weights and carry of both runs to OUT (an .npz file).

Started by tests/distribution/test_tf_mirrored.py as `python tf_mirrored_worker.py OUT` with KERAS_BACKEND=tensorflow
(logical devices must be made before TensorFlow initialises, hence a fresh process).
"""

import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_trm import distribution  # noqa: E402
from keras_trm.models import TRMBackbone, TRMPuzzleSolver  # noqa: E402

BATCH, STEPS, LENGTH, VOCAB, IDS = 8, 4, 12, 6, 3
LOGGED = ("loss", "lm_loss", "q_halt_loss", "accuracy", "steps")


class StepLogs(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append([float(logs[k]) for k in LOGGED])


def data():
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    x = {
        "inputs": rng.integers(1, VOCAB, (n, LENGTH)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, IDS, (n,)).astype("int32"),
    }
    y = np.where(rng.random((n, LENGTH)) < 0.2, 0, (x["inputs"] % (VOCAB - 1)) + 1).astype("int32")
    return x, y


def train(x, y):
    keras.utils.set_random_seed(0)
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
    asked_jit = bool(solver.jit_compile)  # compile's default on TensorFlow: XLA
    logs = StepLogs()
    solver.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[logs])
    z_H = solver.carry["z_H"].value
    strategy = tf.distribute.get_strategy()
    local = tf.distribute.get_strategy().experimental_local_results(z_H)
    return {
        "jit_compile": np.asarray([asked_jit, bool(solver.jit_compile)]),
        "z_H_rows": np.asarray([int(r.shape[0]) for r in local]),
        "logs": np.asarray(logs.rows),
        "weights": np.concatenate([w.ravel() for w in backbone.get_weights()]),
        "z_H": np.concatenate([np.asarray(r) for r in local]),
        "replicas": np.asarray(strategy.num_replicas_in_sync),
    }


def main():
    x, y = data()
    result = {f"single_{k}": v for k, v in train(x, y).items()}
    strategy = distribution.tf_strategy(2)
    with strategy.scope():
        result.update({f"multi_{k}": v for k, v in train(x, y).items()})
    np.savez(sys.argv[1], **result)


if __name__ == "__main__":
    main()
