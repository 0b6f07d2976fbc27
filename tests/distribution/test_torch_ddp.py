"""PyTorch data parallelism (torch.distributed, gloo on CPU): 2 ranks give the losses and weights of one process.

The test starts two processes of tests/distribution/ddp_worker.py with torchrun's environment (RANK, WORLD_SIZE,
MASTER_ADDR, a free MASTER_PORT) and KERAS_BACKEND=torch: rank 0 first trains a tiny solver on the whole global
batches alone, then both ranks train it on their rows of every global batch (their own carry rows, rank 1 starting
from other weights until rank 0's are broadcast). The test runs in the PyTorch job of the suite only.
"""

import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("ddp_worker.py")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="its workers always run on torch: tested once, in the torch job",
)
def test_two_gloo_ranks_match_one_process(tmp_path):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, KERAS_BACKEND="torch", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(tmp_path)], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
            )
        )
    errors = [p.communicate()[1] for p in procs]
    for p, err in zip(procs, errors):
        assert p.returncode == 0, err[-3000:]
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in range(2))
    # the per-step logs (loss, lm_loss, q_halt_loss, accuracy, steps) of the global batch, on both ranks
    np.testing.assert_allclose(r0["multi_logs"], r0["single_logs"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r1["multi_logs"], r0["multi_logs"])
    # the same weights everywhere (puzzle table included: sign-SGD over the rows of the whole global batch)
    np.testing.assert_allclose(r0["multi_weights"], r0["single_weights"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r1["multi_weights"], r0["multi_weights"])
    # each rank's carry holds its rows of the global batch
    single_z = r0["single_z_H"]
    np.testing.assert_allclose(np.concatenate([r0["multi_z_H"], r1["multi_z_H"]]), single_z, rtol=1e-4, atol=1e-5)
    # evaluation sharded over the ranks, metrics summed: those of one process on every example
    np.testing.assert_allclose(r0["multi_eval"], r0["single_eval"], rtol=1e-5, atol=1e-6)
    assert bool(r0["is_main"]) and not bool(r1["is_main"])
