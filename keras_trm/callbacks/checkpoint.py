"""Resumable training checkpoints: weights, EMA, optimizer state, carry, seeds and data position in one file.

A checkpoint is one `.npz` file (written to a temporary name, then renamed: never half-written) holding every
variable of the run as numpy arrays, exactly (bit for bit, any backend):

- the solver's trainable weights (raw, not EMA) and non-trainable state: the carry (`solver.carry`), the
  puzzle-embedding table (trained by sign-SGD), H_init/L_init and the exploration `SeedGenerator` state;
- the optimizer's variables: `iterations` (= the learning-rate schedule's position), Adam moments and the EMA
  weights; the sign-SGD optimizer's counter;
- a JSON record (`__meta__`): Keras epochs done, optimizer step, the carry's batch size, the variable names, and the
  data position of a `keras_trm.data.PuzzleBatches` (its next epoch, seed, steps per epoch, group passes; its
  stream is a pure function of these, so no RNG state needs saving), plus the monitored value.

`TRMCheckpoint` writes `ckpt-<step>.npz` periodically (keeping the last `keep`), and `best.npz` plus
`best.weights.h5` (the backbone with EMA weights, for `backbone.load_weights`) when the monitored metric improves.
`restore_latest(solver, data, directory)` loads the newest periodic checkpoint into a compiled solver and positions
the data; pass its `initial_epoch` to `fit`.

Resume is exact (same weights as an uninterrupted run) from checkpoints taken at epoch ends, provided `fit` gets
`shuffle=False` (the sampler already shuffles; with Keras's default `shuffle=True` a `PyDataset`'s batches are served
in an order drawn from numpy's global RNG, which no checkpoint captures). With
`save_freq=<steps>` a checkpoint taken mid-epoch resumes at the start of that epoch's data (its first batches are
seen twice); to checkpoint every N steps exactly, give `PuzzleBatches(steps_per_epoch=N)` and save every epoch.

Example (a tiny solver on a few generated 4x4 Sudoku: two epochs, then a resume in a fresh solver):

    >>> from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_small_sudoku_csv
    >>> from keras_trm.models import TRMBackbone, TRMPuzzleSolver
    >>> _ = make_small_sudoku_csv("csv", n=4, train_count=16, test_count=4, seed=0)
    >>> build_sudoku_dataset("sudoku4", train_csv="csv/train.csv", test_csv="csv/test.csv", progress=False)
    'sudoku4'
    >>> def tiny_solver():
    ...     backbone = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, num_layers=1,
    ...                            H_cycles=1, L_cycles=1, puzzle_emb_len=1)
    ...     solver = TRMPuzzleSolver(backbone, halt_max_steps=2)
    ...     solver.compile(learning_rate=1e-3, warmup_steps=2)
    ...     return solver
    >>> def train_data():
    ...     return PuzzleBatches(PuzzleDataset("sudoku4", "train"), 8, seed=0, steps_per_epoch=3)
    >>> solver, data = tiny_solver(), train_data()
    >>> print(restore_latest(solver, data, "run/ckpt"))             # a fresh run: nothing to resume
    None
    >>> _ = solver.fit(data, epochs=2, shuffle=False, verbose=0, callbacks=[TRMCheckpoint("run/ckpt", data=data)])
    >>> sorted(os.listdir("run/ckpt"))                              # one per epoch (3 steps each), the last 2 kept
    ['ckpt-0000000003.npz', 'ckpt-0000000006.npz']
    >>> solver, data = tiny_solver(), train_data()                  # later, in a new process: resume
    >>> state = restore_latest(solver, data, "run/ckpt")
    >>> state["initial_epoch"], state["step"], data.epoch
    (2, 6, 2)
    >>> _ = solver.fit(data, epochs=3, initial_epoch=state["initial_epoch"], shuffle=False, verbose=0,
    ...                callbacks=[TRMCheckpoint("run/ckpt", data=data)])
    >>> meta = read_meta(latest_checkpoint("run/ckpt"))
    >>> meta["epoch"], meta["step"], meta["data"]["epoch"]
    (3, 9, 3)
"""

import glob
import json
import os
import re

import keras
import numpy as np
from keras import ops

from keras_trm.callbacks.ema import swap_ema_weights

FORMAT_VERSION = 1
_CKPT = re.compile(r"ckpt-(\d+)\.npz$")


def training_variables(solver):
    """Every variable of a training run, in a fixed order: [(name, variable)]."""
    out = [(f"trainable/{v.path}", v) for v in solver.trainable_variables]
    out += [(f"non_trainable/{v.path}", v) for v in solver.non_trainable_variables]
    if solver.optimizer is not None:
        out += [(f"optimizer/{v.path}", v) for v in solver.optimizer.variables]
    emb = getattr(solver, "embedding_optimizer", None)
    if emb is not None:
        out += [(f"embedding_optimizer/{v.path}", v) for v in emb.variables]
    return out


def data_position(data, next_epoch):
    """The position of a `PuzzleBatches` train stream (JSON-able), or None for other data."""
    if data is None or not hasattr(data, "epoch"):
        return None
    return {
        "epoch": int(next_epoch),
        "seed": int(getattr(data, "seed", 0)),
        "steps_per_epoch": int(getattr(data, "steps_per_epoch", 0) or 0),
        "group_passes": int(getattr(data, "group_passes", 1)),
        "batch_size": int(getattr(data, "batch_size", 0) or 0),
    }


def _atomic_savez(path, arrays):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_training_state(solver, path, epoch=0, batch=0, data_epoch=None, data=None, extra=None):
    """Write the whole training state to `path` (.npz) atomically; returns the metadata written.

    `epoch`: Keras epochs done; `batch`: batches done in the current epoch (0 at an epoch end);
    `data_epoch`: the data epoch to serve next (default: `data.epoch`).
    """
    pairs = training_variables(solver)
    arrays = {f"v{i:05d}": np.asarray(ops.convert_to_numpy(v)) for i, (_, v) in enumerate(pairs)}
    opt = solver.optimizer
    meta = {
        "format_version": FORMAT_VERSION,
        "backend": keras.backend.backend(),
        "epoch": int(epoch),
        "batch": int(batch),
        "step": int(ops.convert_to_numpy(opt.iterations)) if opt is not None else 0,
        "carry_batch_size": getattr(solver, "carry_batch_size", None),
        "names": [name for name, _ in pairs],
        "data": data_position(data, data.epoch if data_epoch is None and data is not None else data_epoch),
        "extra": extra or {},
    }
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    _atomic_savez(os.fspath(path), arrays)
    return meta


def read_meta(path):
    """The metadata dict of a checkpoint file."""
    with np.load(os.fspath(path), allow_pickle=False) as z:
        return json.loads(z["__meta__"].tobytes().decode("utf-8"))


def _prepare(solver, meta):
    """Create what a fresh compiled solver lacks before fit: carry, optimizer slots, built flag."""
    if meta.get("carry_batch_size"):
        solver.build_carry(int(meta["carry_batch_size"]))
    if not solver.built:  # a fit would otherwise pull a batch from the data to build the model
        L = solver.backbone.sequence_length
        solver({"inputs": np.zeros((1, L), "int32"), "puzzle_identifiers": np.zeros((1,), "int32")})
    if solver.optimizer is not None and not solver.optimizer.built:
        solver.optimizer.build(solver.trainable_variables)


def load_training_state(solver, path, data=None):
    """Load a checkpoint into a compiled solver (and position `data`); returns its metadata.

    The metadata gains `initial_epoch` (pass it to `fit`). Raises ValueError if the checkpoint's variables do not
    match the solver's (another architecture, batch size or optimizer).
    """
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["__meta__"].tobytes().decode("utf-8"))
        _prepare(solver, meta)
        pairs = training_variables(solver)
        # Variables are matched by position; names (which carry auto-numbered layer names) only explain errors.
        if len(pairs) != len(meta["names"]):
            raise ValueError(
                f"checkpoint {path} does not match this solver: {len(meta['names'])} variables, the "
                f"solver has {len(pairs)}"
            )
        values = [z[f"v{i:05d}"] for i in range(len(pairs))]
        for (name, v), saved, value in zip(pairs, meta["names"], values):
            if tuple(value.shape) != tuple(v.shape) or np.dtype(value.dtype) != np.dtype(v.dtype):
                raise ValueError(
                    f"checkpoint {path} does not match this solver: {saved} is {value.dtype} "
                    f"{value.shape}, the solver's {name} {v.dtype} {tuple(v.shape)}"
                )
        for (_, v), value in zip(pairs, values):
            v.assign(value)
    position = meta.get("data")
    if data is not None and position is not None:
        for key in ("seed", "steps_per_epoch", "group_passes", "batch_size"):
            have = getattr(data, key, None)
            if have is not None and position.get(key) and int(have) != position[key]:
                raise ValueError(f"data {key}={have} differs from the checkpoint's {position[key]}")
        data.epoch = position["epoch"]
    meta["initial_epoch"] = meta["epoch"]
    return meta


def latest_checkpoint(directory):
    """Path of the newest `ckpt-<step>.npz` in `directory`, or None."""
    found = [
        (int(m.group(1)), p)
        for p in glob.glob(os.path.join(os.fspath(directory), "ckpt-*.npz"))
        if (m := _CKPT.search(p))
    ]
    return max(found)[1] if found else None


def restore_latest(solver, data, directory):
    """Load the newest periodic checkpoint of `directory` (see `load_training_state`); None when there is none."""
    path = latest_checkpoint(directory)
    return None if path is None else load_training_state(solver, path, data)


class TRMCheckpoint(keras.callbacks.Callback):
    """Periodic, best and resumable checkpoints of a TRMPuzzleSolver run.

    Args:
        directory: where `ckpt-<step>.npz`, `best.npz`, `best.weights.h5` and `best.json` go.
        data: the training `PuzzleBatches` (its position is saved); None for other data.
        save_freq: "epoch" (every `every` epochs) or an int number of optimizer steps.
        every: epochs between periodic checkpoints with `save_freq="epoch"`.
        keep: periodic checkpoints kept (the newest).
        monitor: metric of the epoch logs deciding `best` (e.g. "val_exact_accuracy"); None: no best.
        mode: "min", "max" or "auto" (min for names containing "loss").
        save_ema_weights: also write `best.weights.h5`, the backbone with EMA weights (raw without EMA).
    """

    def __init__(
        self, directory, data=None, save_freq="epoch", every=1, keep=2, monitor=None, mode="auto", save_ema_weights=True
    ):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.directory = os.fspath(directory)
        self.data = data
        self.save_freq = save_freq
        self.every = int(every)
        self.keep = int(keep)
        self.monitor = monitor
        if mode == "auto":
            mode = "min" if monitor is not None and "loss" in monitor else "max"
        self.mode = mode
        self.save_ema_weights = save_ema_weights
        self.best = None
        self._epoch, self._batches, self._serving = 0, 0, None
        best_json = os.path.join(self.directory, "best.json")
        if os.path.exists(best_json):  # a resumed run keeps the previous best
            with open(best_json) as f:
                self.best = json.load(f).get("value")

    def _save(self, epoch, batch, data_epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        path = os.path.join(self.directory, f"ckpt-{step:010d}.npz")
        save_training_state(self.model, path, epoch, batch, data_epoch, self.data, extra=_floats(logs))
        old = sorted(p for p in glob.glob(os.path.join(self.directory, "ckpt-*.npz")) if _CKPT.search(p))
        for stale in old[: max(len(old) - self.keep, 0)]:
            os.remove(stale)
        return path

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        if self.save_freq == "epoch":
            return
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        steps = self.params.get("steps") if self.params else None
        if step % self.save_freq == 0 and not (steps and batch + 1 >= steps):  # epoch ends save below
            self._save(self._epoch, batch + 1, self._serving, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._batches, self._serving = epoch, 0, None

    def on_train_batch_begin(self, batch, logs=None):
        # The batch was fetched already: the data's epoch is the one being served (whatever the sampler's rule for
        # advancing its counter at the epoch end).
        if self._serving is None and self.data is not None and hasattr(self.data, "epoch"):
            self._serving = int(self.data.epoch)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps") if self.params else None
        data_epoch = None
        if self._serving is not None:  # next epoch after a complete one, else that epoch again
            data_epoch = self._serving + 1 if steps and self._batches >= steps else self._serving
        if self.save_freq == "epoch":
            periodic = (epoch + 1) % self.every == 0
        else:
            periodic = True  # the epoch's last steps: save at the boundary (exact resume)
        if periodic:
            self._save(epoch + 1, 0, data_epoch, logs)
        if self.monitor is not None and logs and self.monitor in logs:
            value = float(logs[self.monitor])
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if better:
                self.best = value
                self._save_best(epoch, data_epoch, logs, value)

    def _save_best(self, epoch, data_epoch, logs, value):
        os.makedirs(self.directory, exist_ok=True)
        save_training_state(
            self.model,
            os.path.join(self.directory, "best.npz"),
            epoch + 1,
            0,
            data_epoch,
            self.data,
            extra=_floats(logs),
        )
        if self.save_ema_weights:
            tmp = os.path.join(self.directory, f"best.tmp-{os.getpid()}.weights.h5")
            with swap_ema_weights(self.model):
                self.model.backbone.save_weights(tmp)
            os.replace(tmp, os.path.join(self.directory, "best.weights.h5"))
        record = {
            "monitor": self.monitor,
            "value": value,
            "epoch": epoch + 1,
            "step": int(ops.convert_to_numpy(self.model.optimizer.iterations)),
        }
        tmp = os.path.join(self.directory, f"best.json.tmp-{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.directory, "best.json"))


def _floats(logs):
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out
