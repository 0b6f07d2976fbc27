"""Batches of a built dataset for ``model.fit`` / ``evaluate`` / ``predict`` on any Keras backend.

Each batch is ``(x, y, sample_weight)`` (docs/CONTRACTS.md)::

    x = {"inputs": int32 (B, L), "puzzle_identifiers": int32 (B,)}
    y = int32 (B, L)              labels, 0 = ignored
    sample_weight = float32 (B,)  1.0 real row, 0.0 padding row (inputs 0, labels 0, identifier 0)

Train mode is the official TRM sampler, seen as an endless stream of "passes": pass ``p`` uses
``np.random.Generator(np.random.Philox(seed + p))`` to shuffle the groups (``group_passes`` permutations
concatenated, the official ``epochs_per_iter``), picks one random puzzle of each group, and fills batches of exactly
``batch_size`` with that puzzle's examples in random order; a puzzle that overflows a batch is cut (its remaining
examples are dropped, as in the official ``_sample_batch``), and the incomplete last batch of a pass is dropped.
Keras epoch ``e`` (the ``epoch`` attribute; a later ``fit`` call continues the stream; set ``epoch`` to resume) serves
stream batches ``[e * steps_per_epoch, (e + 1) * steps_per_epoch)``; by default
``steps_per_epoch`` is the number of batches of pass 0 (one official epoch). The stream is deterministic for a seed,
whatever the order Keras asks for batches in.

The epoch advances at an ``on_epoch_end`` that closes a real epoch: an ``on_epoch_begin`` came since the previous
``on_epoch_end`` and every index of the epoch was served since then (in any order, repeats counted once; with
``use_multiprocessing`` the batches are served in other processes, so the begin/end pair alone counts), and Keras'
iterator reset did not make the call. Before the first epoch Keras reads batches and ends that look with
``on_epoch_end``: TensorFlow up to 2 for its tf.data signature (outside any epoch), JAX and PyTorch 1 or 2 to build
an unbuilt model (after an ``on_epoch_begin``, then the reset); neither advances the epoch, whatever
``steps_per_epoch``. A loop of your own calls ``on_epoch_begin()`` and ``on_epoch_end()`` around each epoch, as Keras
does.

Eval mode serves every example of the split once, in order; the last batch is padded (weight 0).

Data parallelism: with ``num_shards=N`` and ``shard_index=r`` (a training process's rank, or a replica), batch ``k``
is rows ``[r * B / N, (r + 1) * B / N)`` of global batch ``k`` of ``batch_size`` B: the N shards together serve
exactly the batches one unsharded sampler serves (the same stream for the seed, whatever N), every shard the same
number of batches (eval mode pads the last global batch), so N ranks step together. ``batch_size`` is then the
shard's rows per batch (what the model sees) and ``global_batch_size`` is B.

Batches are int32 whatever dtype the build stores its tokens in (uint8 for a vocabulary of at most 256).

Example:
    A tiny 4x4 Sudoku build (40 training puzzles, 10 test puzzles); ``model.fit(train, epochs=...)`` and
    ``model.evaluate(test)`` take these batches as they are.

    >>> from keras_trm.data import build_sudoku_dataset, make_sudoku_csvs
    >>> _ = make_sudoku_csvs("csv", n=4, train_count=40, test_count=10, seed=0)
    >>> _ = build_sudoku_dataset("sudoku4", train_csv="csv/train.csv", test_csv="csv/test.csv", progress=False)
    >>> train = PuzzleBatches(PuzzleDataset("sudoku4", "train"), 8, mode="train", seed=0)
    >>> len(train)                                   # one official epoch: 40 puzzles in 5 full batches
    5
    >>> x, y, w = train[0]
    >>> tuple(x["inputs"].shape), str(x["inputs"].dtype), tuple(x["puzzle_identifiers"].shape), tuple(y.shape)
    ((8, 16), 'int32', (8,), (8, 16))
    >>> train.on_epoch_begin()                       # what Keras does around each epoch
    >>> for i in range(len(train)):
    ...     _ = train[i]
    >>> train.on_epoch_end()
    >>> train.epoch                                  # next: stream batches 5..9
    1
    >>> bool((train[0][0]["inputs"] == x["inputs"]).all())
    False
    >>> test = PuzzleBatches(PuzzleDataset("sudoku4", "test"), 8, mode="eval")
    >>> len(test), test[1][2].tolist()               # 10 examples: the last batch has 6 padding rows
    (2, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

import sys
import threading

import keras
import numpy as np

from keras_trm.data.puzzle_dataset import PuzzleDataset

__all__ = ["PuzzleBatches", "train_pass_plan"]


def train_pass_plan(puzzle_indices, group_indices, batch_size, rng, group_passes=1):
    """One pass of the official sampler.

    Args:
        puzzle_indices: int64 (P + 1,); group_indices: int64 (G + 1,); rng: np.random.Generator.

    Returns:
        rows int64 (num_batches, batch_size) example rows, puzzles int64 (num_batches, batch_size) their puzzles.
    """
    pi = np.asarray(puzzle_indices, dtype=np.int64)
    gi = np.asarray(group_indices, dtype=np.int64)
    B = int(batch_size)
    num_groups = gi.shape[0] - 1
    order = np.concatenate([rng.permutation(num_groups) for _ in range(group_passes)])  # (G',)
    lo, hi = gi[order], gi[order + 1]
    pick = lo + (rng.random(order.shape[0]) * (hi - lo)).astype(np.int64)  # one puzzle per group, (G',)
    pick = np.minimum(pick, hi - 1)
    sizes = pi[pick + 1] - pi[pick]  # (G',)
    cs = np.cumsum(sizes)
    taken = np.zeros_like(sizes)
    pos, done = 0, 0  # first puzzle of the batch, examples before it
    while pos < sizes.shape[0]:
        k = int(np.searchsorted(cs, done + B, side="left"))  # last puzzle of the batch
        if k >= sizes.shape[0]:
            break  # incomplete tail: dropped
        taken[pos:k] = sizes[pos:k]
        taken[k] = done + B - (cs[k - 1] if k > 0 else 0)
        pos, done = k + 1, int(cs[k])
    used = np.nonzero(taken)[0]
    if used.size == 0:
        return np.zeros((0, B), np.int64), np.zeros((0, B), np.int64)
    p_used, s_used, t_used = pick[used], sizes[used], taken[used]
    if np.all(s_used == 1):  # fast path (Sudoku, Maze): one example per puzzle
        rows = pi[p_used]
        puzzles = p_used
    else:  # random subset of t of the s examples of each puzzle, kept in puzzle order
        seg = np.repeat(np.arange(used.size), s_used)  # (sum s,)
        seg_start = np.repeat(np.cumsum(s_used) - s_used, s_used)
        within = np.arange(seg.size) - seg_start
        perm = np.lexsort((rng.random(seg.size), seg))  # shuffle inside each segment
        rank = within  # after the sort, the i-th element of a segment has rank i
        keep = rank < t_used[seg]
        cand = pi[p_used][seg] + within  # example rows before the shuffle
        rows = cand[perm][keep]
        puzzles = p_used[seg][keep]
    return rows.reshape(-1, B), puzzles.reshape(-1, B)


def _called_by_keras_reset():
    """Whether Keras' ``EpochIterator.reset`` made this ``on_epoch_end`` call.

    Keras 3 resets its epoch iterator once before the epochs of ``fit`` / ``evaluate`` / ``predict``, after reading
    batches to build the model or a tf.data signature; that reset ends no epoch. (If Keras renames it, the
    begin/served rule of `PuzzleBatches.on_epoch_end` still holds for every peek shorter than an epoch or outside an
    ``on_epoch_begin``.)
    """
    try:
        frame = sys._getframe(2)  # skip this function and PuzzleBatches.on_epoch_end
    except ValueError:
        return False
    for _ in range(4):  # the adapter's on_epoch_end, then reset (a subclass's on_epoch_end adds a frame)
        if frame is None:
            return False
        owner = frame.f_locals.get("self")
        if frame.f_code.co_name == "reset" and any(c.__name__ == "EpochIterator" for c in type(owner).__mro__):
            return True
        frame = frame.f_back
    return False


class PuzzleBatches(keras.utils.PyDataset):
    """Fixed-size batches of a `PuzzleDataset` split for Keras.

    Args:
        dataset: a `PuzzleDataset` (or a ``(root, split)`` tuple).
        batch_size: B, fixed for every batch.
        mode: "train" (official sampling, endless seeded stream) or "eval" (every example once, in order).
        seed: train-mode seed.
        steps_per_epoch: train-mode Keras epoch length (default: batches in pass 0).
        group_passes: group permutations per pass (official ``epochs_per_iter``).
        epoch: first Keras epoch (to resume a run).
        num_shards: int. How many data-parallel shards split every global batch of `batch_size` rows (it must
            divide `batch_size`). Defaults to 1.
        shard_index: int. This shard, in [0, num_shards): its rows of each global batch. Defaults to 0.
        **kwargs: `keras.utils.PyDataset` options (workers, use_multiprocessing, max_queue_size).
    """

    def __init__(
        self,
        dataset,
        batch_size,
        mode="train",
        seed=0,
        steps_per_epoch=None,
        group_passes=1,
        epoch=0,
        num_shards=1,
        shard_index=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(dataset, (tuple, list)):
            dataset = PuzzleDataset(*dataset)
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        num_shards, shard_index = int(num_shards), int(shard_index)
        if num_shards < 1 or int(batch_size) % num_shards:
            raise ValueError(f"num_shards must be >= 1 and divide batch_size {batch_size}, got {num_shards}")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index must be in [0, {num_shards}), got {shard_index}")
        self.dataset = dataset
        self.global_batch_size = int(batch_size)
        self.num_shards, self.shard_index = num_shards, shard_index
        self.batch_size = self.global_batch_size // num_shards  # rows of this shard's batches
        self.mode = mode
        self.seed = int(seed)
        self.group_passes = int(group_passes)
        self.epoch = int(epoch)
        self._served = set()  # train indices served since the last on_epoch_end
        self._began = False  # on_epoch_begin called since the last on_epoch_end
        self._lock = threading.Lock()
        self._pass_batches = []  # number of batches of each pass computed so far
        self._cache = {}  # pass -> (rows, puzzles)
        if mode == "train":
            n0 = self._plan(0)[0].shape[0]
            if n0 == 0:
                raise ValueError(
                    f"train split {dataset.root!r} gives no full batch of {self.global_batch_size} in one pass "
                    f"({dataset.num_groups} groups); lower batch_size or raise group_passes"
                )
            self.steps_per_epoch = int(steps_per_epoch) if steps_per_epoch else n0
        else:
            self.steps_per_epoch = -(-dataset.num_examples // self.global_batch_size)

    # ---------------------------------------------------------------------------------------------- stream
    def _plan(self, p):
        with self._lock:
            if p not in self._cache:
                rng = np.random.Generator(np.random.Philox(self.seed + p))
                plan = train_pass_plan(
                    self.dataset.puzzle_indices,
                    self.dataset.group_indices,
                    self.global_batch_size,
                    rng,
                    self.group_passes,
                )
                if len(self._cache) >= 4:
                    self._cache.pop(min(self._cache))
                self._cache[p] = plan
                if p == len(self._pass_batches):
                    self._pass_batches.append(plan[0].shape[0])
            return self._cache[p]

    def stream_batch(self, k):
        """Rows and puzzles of global train-stream batch ``k``: two int64 (B,) arrays (B the global batch size)."""
        p, start = 0, 0
        while True:
            if p >= len(self._pass_batches):
                self._plan(p)
            n = self._pass_batches[p]
            if k < start + n:
                rows, puzzles = self._plan(p)
                return rows[k - start], puzzles[k - start]
            start += n
            p += 1
            if p > len(self._pass_batches) + 1000 and n == 0:
                raise RuntimeError("train sampler: passes without any full batch")

    # ---------------------------------------------------------------------------------------------- keras API
    @property
    def num_batches(self):
        return self.steps_per_epoch

    def __len__(self):
        return self.steps_per_epoch

    def on_epoch_begin(self):
        with self._lock:
            self._began = True

    def on_epoch_end(self):
        # Keras also calls on_epoch_end after it only peeked at a batch or two (tf.data signature, model build; see
        # the module docstring): the epoch advances only when this call closes a whole epoch that Keras ran.
        peek = _called_by_keras_reset()
        with self._lock:
            whole = len(self._served) >= self.steps_per_epoch or bool(getattr(self, "use_multiprocessing", False))
            if self.mode == "train" and self._began and whole and not peek:
                self.epoch += 1
            self._served = set()
            self._began = False

    def __getitem__(self, index):
        index = int(index)
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch {index} outside [0, {self.steps_per_epoch})")
        ds, B = self.dataset, self.batch_size
        first = self.shard_index * B  # this shard's first row of the global batch
        if self.mode == "train":
            rows, puzzles = self.stream_batch(self.epoch * self.steps_per_epoch + index)
            rows, puzzles = rows[first : first + B], puzzles[first : first + B]
            with self._lock:
                self._served.add(index)
            n = B
        else:
            start = index * self.global_batch_size + first
            rows = np.arange(start, max(start, min(start + B, ds.num_examples)))
            puzzles = ds.example_puzzles(rows)
            n = rows.shape[0]
        inputs = np.zeros((B, ds.seq_len), np.int32)  # (B, L)
        labels = np.zeros((B, ds.seq_len), np.int32)  # (B, L)
        ids = np.zeros((B,), np.int32)  # (B,)
        weight = np.zeros((B,), np.float32)  # (B,)
        order = np.argsort(rows, kind="stable")  # read the memmap in increasing order
        # the stored tokens may be uint8/uint16 (compact builds): assigning into the int32 buffers casts them
        inputs[order] = getattr(ds.inputs, "raw", ds.inputs)[rows[order]]
        labels[order] = getattr(ds.labels, "raw", ds.labels)[rows[order]]
        ids[:n] = ds.puzzle_identifiers[puzzles]
        weight[:n] = 1.0
        return {"inputs": inputs, "puzzle_identifiers": ids}, labels, weight
