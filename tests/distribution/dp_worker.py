"""Trains a tiny solver a few steps on one device, then data-parallel over all devices; prints both loss lists.

Run as a script in a fresh process (the device count is fixed when JAX starts), e.g. with
XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax.
"""

import json
import sys

import keras
import numpy as np

from keras_trm.distribution import data_parallel
from keras_trm.models import TRMBackbone, TRMPuzzleSolver

BATCH, STEPS, LENGTH, VOCAB = 8, 4, 12, 6


class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def make_solver(weights=None):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=VOCAB,
        sequence_length=LENGTH,
        hidden_dim=32,
        num_heads=2,
        num_layers=1,
        H_cycles=2,
        L_cycles=2,
        num_puzzle_identifiers=4,
        puzzle_emb_len=2,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=3, halt_exploration_prob=0.5, seed=3)
    if weights is not None:
        backbone.set_weights(weights)
    solver.compile(learning_rate=3e-3, warmup_steps=1, weight_decay=0.1, puzzle_emb_learning_rate=1e-2)
    return solver


def train(solver, data):
    history = LossHistory()
    x, y = data
    solver.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[history])
    return history.losses, solver


def main():
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    x = {
        "inputs": rng.integers(1, VOCAB, (n, LENGTH)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, 4, (n,)).astype("int32"),
    }
    y = np.where(rng.random((n, LENGTH)) < 0.2, 0, (x["inputs"] % (VOCAB - 1)) + 1).astype("int32")

    single = make_solver()
    weights = single.backbone.get_weights()
    single_losses, single = train(single, (x, y))

    distribution = data_parallel()
    keras.distribution.set_distribution(distribution)
    multi = make_solver(weights)
    multi_losses, multi = train(multi, (x, y))
    z_H = multi.carry["z_H"].value
    result = {
        "devices": len(distribution.device_mesh.devices.ravel()),
        "single": single_losses,
        "multi": multi_losses,
        "carry_sharding": str(z_H.sharding.spec),
        "carry_shards": len(z_H.addressable_shards),
        "carry_shard_shape": list(z_H.addressable_shards[0].data.shape),
        "weight_sharding": str(multi.backbone.lm_head.kernel.value.sharding.spec),
        "steps_equal": bool(
            np.array_equal(np.asarray(single.carry["steps"].value), np.asarray(multi.carry["steps"].value))
        ),
        "z_H_max_diff": float(np.max(np.abs(np.asarray(single.carry["z_H"].value) - np.asarray(z_H)))),
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
