"""Test-time adaptation: teach a trained solver ARC tasks it never saw, from their demonstration pairs only.

For every task whose id is not in the solver's puzzle table: its variants are drawn with the official augmentation
(`keras_trm.data.arc.task_variants`, dihedral map + colour permutation, from the demonstration pairs alone: the
test pairs, and so their outputs, are never used), each variant gets a new row of the puzzle-embedding table (the
mean of the existing rows, `keras_trm.presets.resize.resize_puzzle_embeddings`), and the solver trains with deep
supervision on the variants' demonstration pairs: the new rows only (``train="puzzle_embedding"``: the network's
learning rate is 0, sign-SGD moves only the rows of the batch, all new) or the whole network too (``train="all"``:
AdamATan2 and sign-SGD as in training, with the EMA when ``ema=True``). The adapted solver's `PuzzleSpec` names the
new rows (``"<task_id>|||t<k>|||<colours>"``), so that `keras_trm.adaptation.submission.predict_tasks` and a saved
preset solve those tasks by id.

Deterministic for a seed (variants, translations, batches and the network's randomness). ``max_minutes`` stops
training cleanly after the step that crosses it (the solver is consistent; the report says how many steps ran).
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np

from keras_trm.data import arc as arc_data
from keras_trm.presets.resize import resize_puzzle_embeddings
from keras_trm.utils.puzzle_spec import PuzzleSpec

TRAIN_MODES = ("puzzle_embedding", "all")


@dataclasses.dataclass
class AdaptationResult:
    """What `adapt` returns.

    Attributes:
        solver: the adapted `TRMPuzzleSolver` (a new object; the given solver is unchanged).
        new_task_ids: list of str. The tasks that got new rows (in the order given).
        known_task_ids: list of str. Tasks the puzzle table already knew (not trained on).
        identifiers: {task_id: [puzzle identifier, ...]}: the new rows of each new task.
        steps: int. Optimizer steps run.  requested_steps: int. Steps asked for.
        stopped_by_time: bool. `max_minutes` ended training early.
        seconds: float. Wall time of training.
        examples: int. Demonstration rows (variants x pairs) trained on.
        history: dict. Keras's per-epoch logs (loss, exact_accuracy, ...).
    """

    solver: object
    new_task_ids: list
    known_task_ids: list
    identifiers: dict
    steps: int
    requested_steps: int
    stopped_by_time: bool
    seconds: float
    examples: int
    history: dict

    def summary(self):
        """A JSON-able dict of everything but the solver."""
        d = dataclasses.asdict(dataclasses.replace(self, solver=None))
        d.pop("solver")
        return d


def solver_canvas(solver):
    """The side of `solver`'s square ARC canvas (30 for the official 900 tokens)."""
    return arc_data.canvas_side(solver.backbone.sequence_length)


def solver_spec(solver):
    """`solver`'s `PuzzleSpec`, or an ARC one for its canvas when it has none (benchmark "custom" off the official
    canvas: the 30x30 `ARCPreprocessor` cannot read it)."""
    spec = getattr(solver.backbone, "puzzle_spec", None)
    if spec is not None:
        return spec
    canvas = solver_canvas(solver)
    spec = PuzzleSpec.arc("arc-agi-1" if canvas == arc_data.MAX_GRID else "custom")
    spec.grid_shape = [canvas, canvas]
    spec.tokenization["canvas"] = [canvas, canvas]
    return spec


def _copy_spec(spec, num_rows):
    copy = PuzzleSpec.from_dict(spec.to_dict(), spec.identifiers_to_dict())
    names = list(copy.identifiers or ["<blank>"])
    names += [f"<row {i}>" for i in range(len(names), num_rows)]  # rows a spec did not name keep a placeholder
    copy.identifiers = names[:num_rows]
    copy.transforms = dict(copy.transforms or {})
    return copy


def demonstrations_only(task):
    """The `ARCTask` of `task`'s demonstration pairs alone (what adaptation may see)."""
    return arc_data.ARCTask(task.task_id, train=list(task.train), test=[], key_order=("train",))


class DemonstrationBatches(keras.utils.PyDataset):
    """`steps` fixed-size training batches drawn from the demonstration rows; batch i is a function of (seed, i).

    Args:
        inputs: uint8 (N, L) tokens.  labels: uint8 (N, L).  identifiers: int (N,) puzzle identifiers.
        batch_size: int. Rows per batch.  steps: int. Batches.  seed: int. The draws' seed.
    """

    def __init__(self, inputs, labels, identifiers, batch_size, steps, seed):
        super().__init__()
        self.inputs, self.labels, self.identifiers = inputs, labels, identifiers
        self.batch_size, self.steps, self.seed = int(batch_size), int(steps), int(seed)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, int(i)])
        n = len(self.inputs)
        rows = rng.permutation(n)[: self.batch_size] if n >= self.batch_size else rng.integers(0, n, self.batch_size)
        x = {
            "inputs": self.inputs[rows].astype(np.int32),
            "puzzle_identifiers": self.identifiers[rows].astype(np.int32),
        }
        return x, self.labels[rows].astype(np.int32), np.ones((self.batch_size,), np.float32)


class _TimeBudget(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.deadline = time.monotonic() + seconds
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True
            self.stopped = True


class _StepCount(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1


def adapt(
    solver,
    tasks,
    steps=200,
    variants=8,
    train="puzzle_embedding",
    seed=0,
    batch_size=16,
    learning_rate=1e-4,
    puzzle_emb_learning_rate=1e-2,
    weight_decay=0.1,
    puzzle_emb_weight_decay=0.1,
    warmup_steps=0,
    ema=False,
    ema_momentum=0.999,
    translate=True,
    max_minutes=None,
    progress=True,
):
    """Adapt `solver` to the ARC `tasks` it does not know, from their demonstration pairs (see the module docstring).

    Args:
        solver: TRMPuzzleSolver. A trained ARC solver (square canvas; 900 tokens officially). Left unchanged.
        tasks: {task_id: ARCTask} or what `keras_trm.data.arc.load_tasks` reads (a folder, a Kaggle challenges
            file, one task file). Test outputs are not needed and never used.
        steps: int. Optimizer steps (= supervision steps) of adaptation. Defaults to 200.
        variants: int. Augmented variants per new task besides the identity (official num_aug). Defaults to 8.
        train: str. "puzzle_embedding" (only the new rows) or "all" (the whole network too). Defaults to
            "puzzle_embedding".
        seed: int. Seeds the variants, translations, batches and Keras. Defaults to 0.
        batch_size: int. Rows per step. Defaults to 16.
        learning_rate: float. AdamATan2's peak rate for the network with train="all". Defaults to 1e-4.
        puzzle_emb_learning_rate: float. Sign-SGD's rate for the puzzle rows. Defaults to 1e-2 (the official ARC).
        weight_decay: float. The network's decoupled weight decay. Defaults to 0.1.
        puzzle_emb_weight_decay: float. The puzzle rows' weight decay. Defaults to 0.1.
        warmup_steps: int. Linear warm-up steps (then cosine to 10%). Defaults to 0.
        ema: bool. Keep an EMA of the network's weights and end with it (train="all"). Defaults to False.
        ema_momentum: float. The EMA's momentum. Defaults to 0.999.
        translate: bool. Translate every demonstration pair but one at random on the canvas, as the official
            build. Defaults to True.
        max_minutes: float or None. Stop after the step that crosses this wall time. Defaults to None (no limit).
        progress: bool. Keras's progress bar. Defaults to True.

    Returns:
        `AdaptationResult` (the adapted solver in `.solver`).

    Raises:
        ValueError: a bad argument, a solver without a puzzle table, or a grid larger than the solver's canvas.
    """
    if train not in TRAIN_MODES:
        raise ValueError(f"train must be one of {TRAIN_MODES}, got {train!r}")
    if int(steps) < 1 or int(batch_size) < 1 or int(variants) < 0:
        raise ValueError(f"steps and batch_size must be >= 1 and variants >= 0; got {steps}, {batch_size}, {variants}")
    if max_minutes is not None and float(max_minutes) < 0:
        raise ValueError(f"max_minutes must be >= 0, got {max_minutes}")
    if solver.backbone.puzzle_embedding is None:
        raise ValueError("this solver has no puzzle-embedding table (puzzle_emb_ndim=0): nothing to adapt")
    tasks = tasks if isinstance(tasks, dict) else arc_data.load_tasks(tasks, need_outputs=False)
    canvas = solver_canvas(solver)
    spec = solver_spec(solver)
    new = [t for t in tasks if not spec.variants_of(t)]
    known = [t for t in tasks if t not in new]
    arc_data.check_tasks_fit({t: demonstrations_only(tasks[t]) for t in new}, canvas)

    keras.utils.set_random_seed(int(seed))
    rng = np.random.RandomState(int(seed))
    old_rows = int(solver.backbone.puzzle_embedding_table.shape[0])
    plan = []  # (task_id, identifier, tid, cmap)
    for task_id in new:
        for tid, cmap in arc_data.task_variants(demonstrations_only(tasks[task_id]), int(variants), rng):
            plan.append((task_id, old_rows + len(plan), int(tid), cmap))
    if not plan:
        result = resize_puzzle_embeddings(solver, old_rows)
        result.backbone.puzzle_spec = spec
        return AdaptationResult(result, [], known, {}, 0, int(steps), False, 0.0, 0, {})

    adapted = resize_puzzle_embeddings(solver, old_rows + len(plan), rule="keep")
    adapted.preprocessor = solver.preprocessor
    new_spec = _copy_spec(spec, old_rows + len(plan))
    identifiers = {}
    xs, ys, ids = [], [], []
    for task_id, ident, tid, cmap in plan:
        new_spec.transforms[ident] = (tid, np.asarray(cmap, np.int64))
        identifiers.setdefault(task_id, []).append(ident)
        pairs = arc_data.variant_pairs(tasks[task_id].train, tid, cmap)
        keep = arc_data._randint(rng, len(pairs)) if translate else None
        x, y = arc_data.pairs_to_tokens(pairs, rng if translate else None, keep, canvas=canvas)
        xs.append(x)
        ys.append(y)
        ids.append(np.full((len(pairs),), ident, np.int32))
    _name_originals(new_spec, plan)
    adapted.backbone.puzzle_spec = new_spec

    x, y, ident_rows = np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)
    adapted.compile(
        learning_rate=float(learning_rate) if train == "all" else 0.0,
        weight_decay=float(weight_decay) if train == "all" else 0.0,
        puzzle_emb_learning_rate=float(puzzle_emb_learning_rate),
        puzzle_emb_weight_decay=float(puzzle_emb_weight_decay),
        warmup_steps=int(warmup_steps),
        total_steps=int(steps),
        lr_min_ratio=0.1,
        use_ema=bool(ema) and train == "all",
        ema_momentum=float(ema_momentum),
    )
    batches = DemonstrationBatches(x, y, ident_rows, batch_size, steps, seed)
    counter = _StepCount()
    callbacks = [counter]
    budget = None
    if max_minutes is not None:
        budget = _TimeBudget(60.0 * float(max_minutes))
        callbacks.append(budget)
    start = time.monotonic()
    history = adapted.fit(batches, epochs=1, verbose=1 if progress else 0, callbacks=callbacks)
    seconds = time.monotonic() - start
    return AdaptationResult(
        solver=adapted,
        new_task_ids=new,
        known_task_ids=known,
        identifiers=identifiers,
        steps=counter.count,
        requested_steps=int(steps),
        stopped_by_time=bool(budget is not None and budget.stopped and counter.count < int(steps)),
        seconds=round(seconds, 3),
        examples=int(len(x)),
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
    )


def _name_originals(spec, plan):
    """The identity variant of a task is named by its id alone (as the official identifiers.json)."""
    for task_id, ident, tid, cmap in plan:
        identity = tid == 0 and np.array_equal(np.asarray(cmap), arc_data.IDENTITY_COLOURS)
        spec.identifiers[ident] = task_id if identity else arc_data.variant_name(task_id, tid, cmap)
