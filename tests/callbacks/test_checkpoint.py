import glob
import os

import numpy as np
import pytest

from keras_trm.callbacks import TRMCheckpoint, latest_checkpoint, read_meta, restore_latest, training_variables
from tests.callbacks._helpers import make_solver, numpy_values, sudoku_root, train_batches


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return sudoku_root(str(tmp_path_factory.mktemp("sudoku")))


def _assert_same_state(a, b):
    va, vb = training_variables(a), training_variables(b)
    assert len(va) == len(vb)
    for (name, x), y in zip(va, numpy_values([v for _, v in vb])):
        x = numpy_values([x])[0]
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_resume_matches_uninterrupted_run(root, tmp_path):
    # shuffle=False: the sampler already shuffles; Keras would permute each epoch's batches with numpy's global RNG
    # uninterrupted: 4 epochs of 3 steps
    full = make_solver(seed=0)
    full.fit(
        train_batches(root),
        epochs=4,
        verbose=0,
        shuffle=False,
        callbacks=[TRMCheckpoint(tmp_path / "full", data=None, keep=1)],
    )

    # interrupted after 2 epochs ...
    first = make_solver(seed=0)
    data = train_batches(root)
    first.fit(data, epochs=2, verbose=0, shuffle=False, callbacks=[TRMCheckpoint(tmp_path / "run", data=data)])
    assert read_meta(latest_checkpoint(tmp_path / "run"))["data"]["epoch"] == data.epoch == 2

    # ... resumed in a fresh solver (other initial weights) with fresh data
    resumed = make_solver(seed=123)
    data = train_batches(root)
    state = restore_latest(resumed, data, tmp_path / "run")
    assert state["initial_epoch"] == 2 and state["step"] == 6 and data.epoch == 2
    resumed.fit(
        data,
        epochs=4,
        initial_epoch=state["initial_epoch"],
        verbose=0,
        shuffle=False,
        callbacks=[TRMCheckpoint(tmp_path / "run", data=data)],
    )

    _assert_same_state(full, resumed)  # after fit: EMA weights, optimizer, carry, table, seeds
    # the last checkpoints (raw weights) agree too
    a = np.load(latest_checkpoint(tmp_path / "full"))
    b = np.load(latest_checkpoint(tmp_path / "run"))
    assert read_meta(latest_checkpoint(tmp_path / "run"))["step"] == 12
    for key in a.files:
        if key != "__meta__":
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_periodic_best_keep_and_atomic(root, tmp_path):
    solver = make_solver(seed=1)
    data = train_batches(root)
    ckpt = TRMCheckpoint(tmp_path, data=data, save_freq=2, keep=2, monitor="loss")
    solver.fit(data, epochs=3, verbose=0, shuffle=False, callbacks=[ckpt])
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*")))
    assert not [n for n in names if "tmp" in n]  # nothing half-written left behind
    periodic = [n for n in names if n.startswith("ckpt-")]
    assert periodic == ["ckpt-0000000008.npz", "ckpt-0000000009.npz"]  # steps 2, 3, 4, 6, 8, 9 saved; 2 kept
    assert {"best.npz", "best.weights.h5", "best.json"} <= set(names)
    meta = read_meta(tmp_path / "ckpt-0000000009.npz")  # epoch end
    assert (meta["epoch"], meta["batch"], meta["data"]["epoch"]) == (3, 0, 3)
    mid = read_meta(tmp_path / "ckpt-0000000008.npz")  # mid-epoch: resumes at the start of its data epoch
    assert (mid["epoch"], mid["batch"], mid["data"]["epoch"]) == (2, 2, 2)
    assert meta["carry_batch_size"] == 8 and "loss" in meta["extra"]
    # the exported EMA backbone loads into a fresh backbone
    other = make_solver(seed=7)
    other.backbone.load_weights(str(tmp_path / "best.weights.h5"))


def test_mismatched_checkpoint_is_refused(root, tmp_path):
    solver = make_solver(seed=0)
    data = train_batches(root)
    solver.fit(data, epochs=1, verbose=0, callbacks=[TRMCheckpoint(tmp_path, data=data)])
    other = make_solver(seed=0, puzzle_emb_len=0)
    with pytest.raises(ValueError, match="does not match"):
        restore_latest(other, train_batches(root), tmp_path)
    assert restore_latest(make_solver(), None, tmp_path / "empty") is None
