"""`ARCPreprocessor`: ARC grids <-> TRM tokens on the 30x30 canvas, with the official augmentation variants.

Tokens (`keras_trm.data.arc`): PAD 0, EOS 1 (the row and column just past the grid), colour c -> c + 2; a grid sits
at the canvas' top-left. A variant is a dihedral transform and a colour permutation (`keras_trm.data.transforms`);
`task_batch` lays out every test input of a task under each variant and `decode` crops each answer and undoes its
row's variant. The grid and variant functions are `keras_trm.data.arc`'s (the data build's own).

Example:
    >>> pre = ARCPreprocessor()
    >>> x = pre([[1, 2], [3, 4]])                      # one grid: unbatched tokens (900,)
    >>> x["inputs"].reshape(30, 30)[:3, :3].tolist()
    [[3, 4, 1], [5, 6, 1], [1, 1, 0]]
    >>> pre.detokenize(x["inputs"][None])              # the answer grid cropped from the canvas
    [[[1, 2], [3, 4]]]
"""

import keras
import numpy as np

from keras_trm.data import arc as arc_data
from keras_trm.data.transforms import apply_variant, undo_variant
from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor


@keras.saving.register_keras_serializable(package="keras_trm")
class ARCPreprocessor(PuzzlePreprocessor):
    """ARC grids (lists of rows of colours 0..9, 1..30 per side) <-> the token rows of a TRM ARC solver.

    Puzzles (and answers) are one grid, or a list of grids (each its own size); sequence length 900, vocabulary 12,
    puzzle identifier 0 (the blank; `task_batch` gives a preset's trained identifiers). Answers decode to grids
    (lists of lists), the largest top-left rectangle of colour tokens (the official crop).

    Args:
        num_variants: int or None. Variants `task_variants` runs for a task: for a task the preset's identifier
            table knows, its first `num_variants` trained variants (None: all); for an unknown task, the identity
            then random dihedral + colour permutations drawn as the official build does (None: 8). Defaults to None.
        seed: int. Seed of the random variants of unknown tasks. Defaults to 0.
        **kwargs: keras-hub `Preprocessor` arguments (`name`, ...).
    """

    benchmarks = arc_data.SUBSETS

    def __init__(self, num_variants=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.num_variants = None if num_variants is None else int(num_variants)
        self.seed = int(seed)

    @property
    def sequence_length(self):
        return arc_data.SEQ_LEN

    @classmethod
    def spec_config(cls, spec):
        return {}

    def get_config(self):
        config = super().get_config()
        config.update(num_variants=self.num_variants, seed=self.seed)
        return config

    # ---------------------------------------------------------------- parsing
    @staticmethod
    def _is_grid(x):
        rows = x.tolist() if isinstance(x, np.ndarray) else x
        return (
            isinstance(rows, (list, tuple))
            and bool(rows)
            and isinstance(rows[0], (list, tuple))
            and (not rows[0] or not isinstance(rows[0][0], (list, tuple, np.ndarray)))
        )

    def parse(self, x, what="grid"):
        """Grids -> (list of uint8 (H, W) grids, single: whether `x` was one grid); checked by
        `keras_trm.data.arc.validate_grid` (a ValueError naming the grid)."""
        single = self._is_grid(x)
        grids = [x] if single else list(x)
        out = []
        for i, g in enumerate(grids):
            rows = g.tolist() if isinstance(g, np.ndarray) else g
            out.append(arc_data.validate_grid(rows, field=f"{what} {i}"))
        return out, single

    def encode(self, x):
        grids, single = self.parse(x)
        return np.stack([arc_data.grid_to_tokens(g) for g in grids]).astype(np.int32), single

    def encode_answers(self, y, inputs):
        grids, _ = self.parse(y, "answer")
        if len(grids) != len(inputs):
            raise ValueError(f"{len(grids)} ARC answers for {len(inputs)} grids")
        return np.stack([arc_data.grid_to_tokens(g) for g in grids]).astype(np.int32)

    def _single_shape(self, shape, text):
        raise ValueError("ARC grids are ragged: preprocess them in Python (eagerly), not inside a tf.data pipeline")

    # ---------------------------------------------------------------- tasks and variants
    @staticmethod
    def read_task(task, task_id=None):
        """An `ARCTask` or a task dict `{"train": [...], "test": [{"input", "output"?}]}` -> (task_id, test inputs,
        test outputs (None where unknown), `ARCTask` for drawing variants)."""
        if isinstance(task, arc_data.ARCTask):
            return (
                task.task_id if task_id is None else task_id,
                [np.asarray(i) for i, _ in task.test],
                [np.asarray(o) for _, o in task.test],
                task,
            )
        if not isinstance(task, dict) or "test" not in task:
            raise ValueError("an ARC task is an ARCTask or a dict with 'train' and 'test' lists of pairs")
        tests = task["test"]
        grid = arc_data.validate_grid
        inputs = [grid(p["input"], task=task_id, field=f"test[{i}].input") for i, p in enumerate(tests)]
        outputs = [
            grid(p["output"], task=task_id, field=f"test[{i}].output") if "output" in p else None
            for i, p in enumerate(tests)
        ]
        train = [(grid(p["input"]), grid(p["output"])) for p in task.get("train", [])]
        full = arc_data.ARCTask(
            task_id or "task", train=train, test=[(i, o if o is not None else i) for i, o in zip(inputs, outputs)]
        )
        return task_id or "task", inputs, outputs, full

    def task_variants(self, task, task_id, spec=None):
        """[(puzzle identifier, dihedral id, colour map (10,))] to run for a task (`ARCTask`).

        The trained variants of `task_id` when `spec` (a `PuzzleSpec` with the identifier table) knows it, as the
        official evaluation; else the identity then random variants (`keras_trm.data.arc.task_variants`, seeded)
        with the blank identifier 0.
        """
        known = spec.variants_of(task_id) if spec is not None else []
        if known:
            return known[: self.num_variants] if self.num_variants else known
        count = 8 if self.num_variants is None else max(self.num_variants, 1)
        drawn = arc_data.task_variants(task, count - 1, np.random.default_rng(self.seed))
        return [(0, tid, cmap) for tid, cmap in drawn][:count]

    def task_batch(self, test_inputs, variants):
        """Token rows of every test input under each variant (variant-major).

        Returns (token batch dict, variant index (N,) of each row into `variants`).
        """
        rows, ids, which = [], [], []
        for k, (ident, tid, cmap) in enumerate(variants):
            for grid in test_inputs:
                rows.append(arc_data.grid_to_tokens(apply_variant(np.asarray(grid), tid, cmap)))
                ids.append(ident)
                which.append(k)
        x = {"inputs": np.stack(rows).astype(np.int32), "puzzle_identifiers": np.asarray(ids, np.int32)}
        return x, np.asarray(which, np.int64)

    # ---------------------------------------------------------------- decoding
    def detokenize(self, tokens, strings=True):
        """Tokens (B, 900) -> B answer grids (lists of lists; [] when no colour is at the top-left)."""
        return [arc_data.crop_tokens(t).tolist() for t in np.atleast_2d(np.asarray(tokens))]

    def is_valid(self, tokens, inputs):
        """bool (B,): the answer is a grid (at least one colour cell at the canvas' top-left)."""
        return np.array([arc_data.crop_tokens(t).size > 0 for t in np.atleast_2d(np.asarray(tokens))], dtype=bool)

    def decode(self, outputs, inputs, strings=True, variants=None):
        """`PuzzlePreprocessor.decode`, and with `variants` ((dihedral id, colour map) of each row) each answer
        mapped back through its row's variant."""
        out = super().decode(outputs, inputs, strings=strings)
        if variants is not None:
            out["answers"] = [
                undo_variant(np.asarray(g, np.int64).reshape(len(g), -1), tid, cmap).tolist() if g else g
                for g, (tid, cmap) in zip(out["answers"], variants)
            ]
        return out
