import keras
import numpy as np
import pytest

from keras_trm.data.dataset_writer import DatasetWriter
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.sampler import PuzzleBatches, train_pass_plan
from tests.callbacks._helpers import make_solver, sudoku_root

L = 6
META = dict(benchmark="custom", seq_len=L, vocab_size=256, grid_shape=[2, 3], vocabulary=[str(i) for i in range(256)])


def _dataset(tmp_path, group_sizes, name="ds", num_ids=None):
    """group_sizes: per group, the example counts of its puzzles. Row r has inputs (r % 255) + 1 and labels that
    encode its puzzle (p % 255) + 1, identifier = puzzle % num_ids."""
    num_ids = num_ids or 1
    root = str(tmp_path / name)
    meta = dict(META, num_puzzle_identifiers=num_ids)
    with DatasetWriter(root, meta, identifiers=[f"i{k}" for k in range(num_ids)]) as w:
        for split in ("train", "test"):
            w.begin_split(split)
            row = p = 0
            for sizes in group_sizes:
                puzzles = []
                for s in sizes:
                    x = np.repeat((np.arange(row, row + s) % 255 + 1)[:, None], L, 1)
                    y = np.full((s, L), p % 255 + 1)
                    puzzles.append((p % num_ids, x, y))
                    row, p = row + s, p + 1
                w.add_group(puzzles)
            w.end_split()
    return root


def _rows(x):
    return x["inputs"][:, 0] - 1  # row % 255


def test_eval_mode_covers_every_example_once(tmp_path):
    root = _dataset(tmp_path, [[1, 2], [3], [1, 1, 1], [2]], num_ids=3)  # 11 examples
    ds = PuzzleDataset(root, "test")
    b = PuzzleBatches(ds, 4, mode="eval")
    assert len(b) == 3 and b.num_batches == 3
    seen = []
    for i in range(len(b)):
        x, y, w = b[i]
        assert x["inputs"].shape == (4, L) and x["inputs"].dtype == np.int32
        assert x["puzzle_identifiers"].shape == (4,) and x["puzzle_identifiers"].dtype == np.int32
        assert y.shape == (4, L) and y.dtype == np.int32 and w.shape == (4,) and w.dtype == np.float32
        real = w == 1.0
        seen += _rows(x)[real].tolist()
        assert np.array_equal(x["puzzle_identifiers"][real], (y[real, 0] - 1) % 3)
        pad = ~real
        assert np.all(x["inputs"][pad] == 0) and np.all(y[pad] == 0) and np.all(x["puzzle_identifiers"][pad] == 0)
    assert seen == list(range(11))
    assert b[2][2].tolist() == [1, 1, 1, 0]
    with pytest.raises(IndexError):
        b[3]


def test_train_mode_one_example_per_puzzle(tmp_path):
    """Sudoku-like: groups of 5 puzzles of 1 example; a pass uses each group at most once."""
    root = _dataset(tmp_path, [[1] * 5 for _ in range(23)])
    ds = PuzzleDataset(root, "train")
    b = PuzzleBatches(ds, 4, mode="train", seed=1)
    assert len(b) == 23 // 4  # incomplete tail dropped
    groups = []
    for i in range(len(b)):
        x, y, w = b[i]
        assert np.all(w == 1.0)
        puzzles = y[:, 0] - 1
        assert np.array_equal(_rows(x), puzzles)  # one example per puzzle: row == puzzle here
        groups += (puzzles // 5).tolist()
    assert len(set(groups)) == len(groups) == 20
    # several passes pick different puzzles (variants) of the groups
    picks = {}
    for e in range(30):
        b.epoch = e
        for i in range(len(b)):
            for p in b[i][1][:, 0] - 1:
                picks.setdefault(p // 5, set()).add(p % 5)
    assert max(len(v) for v in picks.values()) > 1


def test_train_mode_multi_example_puzzles_official_cut(tmp_path):
    """ARC-like: puzzles of several examples fill batches in puzzle order; an overflowing puzzle is cut."""
    sizes = [[3, 4], [2], [5, 1], [4], [3, 3], [2, 2], [6]]
    root = _dataset(tmp_path, sizes)
    ds = PuzzleDataset(root, "train")
    pi = ds.puzzle_indices
    for seed in range(5):
        rng = np.random.Generator(np.random.Philox(seed))
        rows, puzzles = train_pass_plan(pi, ds.group_indices, 5, rng)
        assert rows.shape == puzzles.shape and rows.shape[1] == 5
        flat_r, flat_p = rows.reshape(-1), puzzles.reshape(-1)
        assert np.all((flat_r >= pi[flat_p]) & (flat_r < pi[flat_p + 1]))  # rows belong to their puzzle
        assert len(set(flat_r.tolist())) == flat_r.size  # no example twice
        # each puzzle's examples are contiguous, and a puzzle appears in one batch only (cut, not carried over)
        runs = [flat_p[0]] + [p for a, p in zip(flat_p[:-1], flat_p[1:]) if p != a]
        assert len(runs) == len(set(runs))
        for r, p in zip(rows, puzzles):
            # only the last puzzle of a batch may be incomplete
            for q in np.unique(p)[:-1]:
                if q != p[-1]:
                    assert np.sum(p == q) == pi[q + 1] - pi[q]
        # at most one puzzle per group
        groups = np.searchsorted(ds.group_indices, np.unique(flat_p), side="right") - 1
        assert len(set(groups.tolist())) == groups.size


def test_train_determinism_and_stream(tmp_path):
    root = _dataset(tmp_path, [[1, 2], [3], [2, 2], [1], [4], [2, 1], [3, 3], [1]] * 3)
    ds = PuzzleDataset(root, "train")
    a = PuzzleBatches(ds, 4, seed=7)
    b = PuzzleBatches(ds, 4, seed=7)
    for k in [5, 0, 3, 12, 1]:  # any order
        assert np.array_equal(a.stream_batch(k)[0], b.stream_batch(k)[0])
    c = PuzzleBatches(ds, 4, seed=8)
    assert any(not np.array_equal(a.stream_batch(k)[0], c.stream_batch(k)[0]) for k in range(4))
    s = PuzzleBatches(ds, 4, seed=7, steps_per_epoch=3)
    assert len(s) == 3
    x0 = s[1][0]["inputs"]
    s.on_epoch_begin()
    s.on_epoch_end()  # only one batch served: a peek, not an epoch
    assert s.epoch == 0
    for i in (2, 0, 1, 0):
        s[i]
    s.on_epoch_end()  # a whole epoch served, but outside an epoch (TensorFlow's signature peek): not an epoch
    assert s.epoch == 0
    s.on_epoch_begin()
    for i in (2, 0, 0, 1):  # any order, repeats counted once
        s[i]
    s.on_epoch_end()
    assert s.epoch == 1
    x1 = s[1][0]["inputs"]
    assert np.array_equal(_rows({"inputs": x1}), a.stream_batch(4)[0] % 255)
    assert not np.array_equal(x0, x1)
    assert np.array_equal(PuzzleBatches(ds, 4, seed=7, steps_per_epoch=3, epoch=1)[1][0]["inputs"], x1)


def test_group_passes_and_errors(tmp_path):
    root = _dataset(tmp_path, [[1], [1], [1]])
    ds = PuzzleDataset(root, "train")
    with pytest.raises(ValueError, match="no full batch of 4"):
        PuzzleBatches(ds, 4)
    b = PuzzleBatches(ds, 4, group_passes=4)  # 12 groups per pass -> 3 batches
    assert len(b) == 3
    with pytest.raises(ValueError, match="mode"):
        PuzzleBatches(ds, 4, mode="test")
    with pytest.raises(ValueError, match="batch_size"):
        PuzzleBatches(ds, 0)
    assert len(PuzzleBatches((root, "test"), 2, mode="eval")) == 2


def _model(vocab, seq_len, num_ids):
    inp = keras.Input((seq_len,), dtype="int32", name="inputs")
    pid = keras.Input((), dtype="int32", name="puzzle_identifiers")
    h = keras.layers.Embedding(vocab, 8)(inp)
    e = keras.layers.Embedding(num_ids, 8)(pid)
    h = h + keras.ops.expand_dims(e, 1)
    out = keras.layers.Dense(vocab)(h)
    model = keras.Model({"inputs": inp, "puzzle_identifiers": pid}, out)
    # sample_weight is (B,): the loss and metric reduce over the L positions first (stock token-level Keras losses
    # cannot broadcast a (B,) weight against (B, L) values).
    model.compile(optimizer="adam", loss=_row_loss, weighted_metrics=[_exact])
    return model


def _row_loss(y, logits):  # (B, L), (B, L, V) -> (B,)
    ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return keras.ops.mean(ce, axis=-1)


def _exact(y, logits):  # (B,) 1.0 where the whole row is right
    pred = keras.ops.argmax(logits, axis=-1)
    ok = keras.ops.equal(keras.ops.cast(pred, "int32"), keras.ops.cast(y, "int32"))
    return keras.ops.cast(keras.ops.all(ok, axis=-1), "float32")


def test_fit_and_evaluate_on_current_backend(tmp_path):
    root = _dataset(tmp_path, [[1, 2], [3], [2, 2], [1], [4], [2, 1], [3, 3], [1]] * 2, num_ids=2)
    calls = []

    class Logged(PuzzleBatches):
        def __getitem__(self, i):
            calls.append((self.epoch, i))
            return super().__getitem__(i)

    train = Logged(PuzzleDataset(root, "train"), 4, seed=0)
    test = PuzzleBatches(PuzzleDataset(root, "test"), 4, mode="eval")
    n = len(train)
    assert n >= 2
    model = _model(256, L, 2)
    hist = model.fit(train, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3 and np.isfinite(hist.history["loss"]).all()
    assert train.epoch == 3
    # every epoch served all its batches exactly once (TF may peek at epoch-0 batches for the signature)
    for e in (1, 2):  # epoch e served stream batches [e * n, (e + 1) * n)
        assert sorted(i for ep, i in calls if ep == e) == list(range(n))
    assert set(i for ep, i in calls if ep == 0) == set(range(n))
    model.fit(train, epochs=1, verbose=0)  # a second fit continues the stream
    assert train.epoch == 4 and set(i for ep, i in calls if ep == 3) == set(range(n))  # + TF signature peeks
    res = model.evaluate(test, verbose=0, return_dict=True)
    assert np.isfinite(res["loss"])
    pred = model.predict(test, verbose=0)
    assert pred.shape == (len(test) * 4, L, 256)


def test_padding_rows_do_not_count(tmp_path):
    """Padding rows contribute nothing to the weighted loss sum and metrics."""
    root = _dataset(tmp_path, [[1]] * 5)
    ds = PuzzleDataset(root, "test")
    model = _model(256, L, 1)
    x, y, w = PuzzleBatches(ds, 8, mode="eval")[0]  # 5 real + 3 padding rows
    full = model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0, return_dict=True)
    real = {k: v[:5] for k, v in x.items()}
    part = model.evaluate(real, y[:5], batch_size=5, verbose=0, return_dict=True)
    # Keras' default loss reduction divides the weighted sum by B (not by the weight sum): padding rows add 0
    assert full["loss"] == pytest.approx(part["loss"] * 5 / 8, rel=1e-4)
    assert full["_exact"] == pytest.approx(part["_exact"], rel=1e-4)


class _Recorded(PuzzleBatches):
    """Records (data epoch, index) of every batch it serves."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served = []

    def __getitem__(self, i):
        self.served.append((self.epoch, int(i)))
        return super().__getitem__(i)


@pytest.mark.parametrize("steps", [1, 2])
def test_keras_peeks_do_not_skip_data_epochs(tmp_path, steps):
    """Before training Keras reads up to 2 batches (TensorFlow's tf.data signature; JAX and PyTorch build an unbuilt
    model) and calls on_epoch_end: with steps_per_epoch <= 2 that look must not count as a served epoch."""
    root = sudoku_root(str(tmp_path))
    solver = make_solver(seed=0, use_ema=False)
    data = _Recorded(PuzzleDataset(root, "train"), 8, seed=3, steps_per_epoch=steps)
    solver.fit(data, epochs=2, verbose=0, shuffle=False)
    assert data.epoch == 2
    assert {e for e, _ in data.served} == {0, 1}  # the peeks read data epoch 0 too
    assert data.served[-2 * steps :] == [(e, i) for e in (0, 1) for i in range(steps)]  # the epochs trained

    # an unbuilt Keras model (JAX and PyTorch peek inside an on_epoch_begin to build it), Keras' shuffle, and a
    # second fit that continues the stream
    model = _model(6, 16, 2)
    data = _Recorded(PuzzleDataset(root, "train"), 8, seed=3, steps_per_epoch=steps)
    model.fit(data, epochs=2, verbose=0)
    model.fit(data, epochs=1, verbose=0)
    assert data.epoch == 3
    assert {e for e, _ in data.served} == {0, 1, 2}
    for e in (0, 1, 2):
        assert set(i for ep, i in data.served if ep == e) == set(range(steps))
