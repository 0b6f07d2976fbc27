"""TensorFlow data parallelism: MirroredStrategy over 2 logical CPU devices gives the losses of one device.

The run is a fresh process (tests/distribution/tf_mirrored_worker.py, KERAS_BACKEND=tensorflow): logical devices
must be made before TensorFlow initialises. The worker trains a tiny solver on one device, then the same solver
under `keras_trm.distribution.tf_strategy(2)`, its carry held per replica. It runs in the
TensorFlow job of the suite only.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("tf_mirrored_worker.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="its workers always run on tensorflow: tested once, in the tensorflow job",
)
def test_two_replicas_match_one_device(tmp_path):
    out = tmp_path / "result.npz"
    env = dict(os.environ, KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(WORKER), str(out)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = np.load(out)
    assert int(r["single_replicas"]) == 1 and int(r["multi_replicas"]) == 2
    # per-step loss, lm_loss, q_halt_loss, accuracy and steps of the global batch
    np.testing.assert_allclose(r["multi_logs"], r["single_logs"], rtol=1e-5, atol=1e-6)
    # the weights after the steps, the puzzle table included (sign-SGD over the whole global batch)
    np.testing.assert_allclose(r["multi_weights"], r["single_weights"], rtol=1e-5, atol=1e-6)
    # the replicas' carries, concatenated, are the one device's carry (each replica held its own 4 rows)
    assert r["multi_z_H_rows"].tolist() == [4, 4]
    assert r["multi_jit_compile"].tolist() == [True, False]  # XLA asked for; logical CPU replicas run without it
    np.testing.assert_allclose(r["multi_z_H"], r["single_z_H"], rtol=1e-4, atol=1e-5)
