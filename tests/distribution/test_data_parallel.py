"""Data-parallel training (keras_trm.distribution).

On JAX the real test runs in a subprocess with 4 simulated CPU devices: a tiny solver trained on one device and
data-parallel over 4 gives the same losses within rounding, with the carry sharded along the batch. On TensorFlow
and PyTorch the tests check the one-device defaults and the errors; their multi-device runs are in test_torch_ddp.py
and test_tf_mirrored.py.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_trm import distribution as trm_distribution

BACKEND = keras.backend.backend()
WORKER = pathlib.Path(__file__).with_name("dp_worker.py")


def _tiny_fit(solver_scope=None):
    from keras_trm.models import TRMBackbone, TRMPuzzleSolver

    rng = np.random.default_rng(0)
    x = {"inputs": rng.integers(1, 6, (8, 12)).astype("int32"), "puzzle_identifiers": np.zeros((8,), "int32")}
    backbone = TRMBackbone(
        vocabulary_size=6,
        sequence_length=12,
        hidden_dim=16,
        num_heads=2,
        num_layers=1,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_len=1,
    )
    solver = TRMPuzzleSolver(backbone, halt_max_steps=2)
    solver.compile(learning_rate=1e-3, warmup_steps=1)
    history = solver.fit(x, x["inputs"], batch_size=4, epochs=1, verbose=0)
    return history.history["loss"]


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX-only; other backends are tested below")
def test_jax_four_devices_match_one_device():
    env = dict(
        os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu"
    )
    root = str(pathlib.Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["devices"] == 4
    np.testing.assert_allclose(result["multi"], result["single"], rtol=1e-5, atol=1e-6)
    assert result["carry_sharding"].startswith("P('batch'")
    assert result["carry_shards"] == 4 and result["carry_shard_shape"][0] == 2  # 8 rows over 4 devices
    assert result["weight_sharding"] == "P(None, None)"  # weights replicated
    assert result["steps_equal"] and result["z_H_max_diff"] < 1e-4


def test_backend_support():
    if BACKEND == "jax":
        dist = trm_distribution.data_parallel()
        assert isinstance(dist, keras.distribution.DataParallel)
        carry = keras.Variable(np.zeros((4, 3), "float32"), name="carry_z_H", trainable=False)
        other = keras.Variable(np.zeros((4, 3), "float32"), name="kernel")
        assert dist.get_variable_layout(carry).axes == ("batch", None)
        assert dist.get_variable_layout(other).axes == (None, None)
        with pytest.raises(NotImplementedError):
            trm_distribution.tf_strategy()
        with pytest.raises(ValueError, match="divisible"):
            trm_distribution.check_batch_size(
                3, trm_distribution.CarryShardedDataParallel(devices=keras.distribution.list_devices()[:1] * 2)
            )
    elif BACKEND == "tensorflow":
        strategy = trm_distribution.tf_strategy()
        assert strategy.num_replicas_in_sync == 1
        with strategy.scope():
            losses = _tiny_fit()
        assert np.isfinite(losses).all()
        with pytest.raises(ValueError, match="logical"):  # one CPU device here (test_tf_mirrored makes two)
            trm_distribution.tf_strategy(num_replicas=64)
        with pytest.raises(NotImplementedError, match="JAX only"):
            trm_distribution.data_parallel()
    else:
        with pytest.raises(NotImplementedError, match="torchrun"):
            trm_distribution.data_parallel()
        assert (trm_distribution.initialize(), trm_distribution.rank(), trm_distribution.is_main_process()) == (
            1,
            0,
            True,
        )
        with pytest.raises(NotImplementedError):
            trm_distribution.tf_strategy()
        assert np.isfinite(_tiny_fit()).all()  # single-device torch training works
