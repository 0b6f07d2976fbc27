"""ARC-format task families the package generates: small grids, one transformation per family, new tasks on demand.

A family is one rule (a flip, a rotation, a colour map, a translation, gravity, filling rectangles); a task is the
rule with its own parameters (which colours swap, which way things shift or fall, the fill colour) and its own
random grids (up to 8x8, on a 10x10 canvas with room for the end-of-grid row and column). Tasks are deterministic
for (seed, family, index) and named ``"<family>-<8 hex digits>"``, so a second seed gives new tasks of the same
families with new ids: what a test of test-time adaptation needs (families seen in training, tasks never seen).

Families (`FAMILIES`): ``flip_horizontal``, ``flip_vertical``, ``rotate_90``, ``rotate_180``, ``transpose``
(geometry; the rule is the family), ``colour_map`` (a permutation of some colours, per task), ``translate`` (one
cell in a direction per task, zeros shifted in), ``gravity`` (cells fall to one side, per task) and ``fill``
(hollow rectangles filled with a colour per task).

Example:
    >>> tasks = generate_tasks(["flip_horizontal", "gravity"], tasks_per_family=2, seed=0)
    >>> sorted(tasks)
    ['flip_horizontal-1b695e74', 'flip_horizontal-fc3798e2', 'gravity-0feebdbc', 'gravity-35bdd6e7']
    >>> task = tasks["flip_horizontal-1b695e74"]
    >>> len(task.train), len(task.test)
    (3, 1)
    >>> x, y = task.train[0]
    >>> bool((y == x[:, ::-1]).all())
    True
    >>> generate_tasks(["flip_horizontal"], 2, seed=0).keys() == generate_tasks(["flip_horizontal"], 2, seed=0).keys()
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from keras_trm.data.arc import ARCTask

FAMILY_CANVAS = 10  # canvas side for the families' grids (up to 8x8, plus the EOS row and column, plus a margin)
MAX_FAMILY_GRID = 8
_GEOMETRY = {
    "flip_horizontal": lambda g: g[:, ::-1],
    "flip_vertical": lambda g: g[::-1, :],
    "rotate_90": lambda g: np.rot90(g, -1),  # clockwise
    "rotate_180": lambda g: g[::-1, ::-1],
    "transpose": lambda g: g.T,
}
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # down, up, right, left


def _random_grid(rng, h, w, density):
    colours = rng.integers(1, 10, size=(h, w))
    return np.where(rng.random((h, w)) < density, colours, 0).astype(np.uint8)


def _shift(grid, dr, dc):
    out = np.zeros_like(grid)
    h, w = grid.shape
    out[max(dr, 0) : h + min(dr, 0), max(dc, 0) : w + min(dc, 0)] = grid[
        max(-dr, 0) : h - max(dr, 0), max(-dc, 0) : w - max(dc, 0)
    ]
    return out


def _gravity(grid, direction):
    dr, dc = direction
    g = grid if dc == 0 else grid.T  # work on columns
    g = g if (dr or dc) > 0 else g[::-1]
    out = np.zeros_like(g)
    for j in range(g.shape[1]):
        col = g[:, j][g[:, j] != 0]
        if col.size:
            out[-col.size :, j] = col
    out = out if (dr or dc) > 0 else out[::-1]
    return out if dc == 0 else out.T


def _rectangles(rng, h, w, colour_choices):
    """A grid of 1..2 hollow rectangles (at least 3x3 each, borders of a random colour); -> (grid, interior mask)."""
    grid = np.zeros((h, w), np.uint8)
    inside = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 3))):
        rh, rw = int(rng.integers(3, h + 1)), int(rng.integers(3, w + 1))
        r, c = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
        if grid[r : r + rh, c : c + rw].any():
            continue  # keep the rectangles apart
        grid[r : r + rh, c : c + rw] = rng.choice(colour_choices)
        grid[r + 1 : r + rh - 1, c + 1 : c + rw - 1] = 0
        inside[r + 1 : r + rh - 1, c + 1 : c + rw - 1] = True
    return grid, inside


def _task_rule(family, rng):
    """(rule: input grid -> output grid, make_input: (rng, h, w) -> grid) of one task of `family`."""
    density = float(rng.uniform(0.25, 0.5))

    def sparse(r, h, w):
        return _random_grid(r, h, w, density)

    if family in _GEOMETRY:
        return _GEOMETRY[family], sparse
    if family == "colour_map":
        colours = rng.permutation(np.arange(1, 10))[:4]  # two pairs of colours swap, the rest stay
        table = np.arange(10)
        table[colours[0]], table[colours[1]] = colours[1], colours[0]
        table[colours[2]], table[colours[3]] = colours[3], colours[2]
        palette = colours.tolist() + [int(c) for c in rng.permutation(np.setdiff1d(np.arange(1, 10), colours))[:1]]

        def make(r, h, w):
            g = _random_grid(r, h, w, max(density, 0.4))
            return np.where(g > 0, np.asarray(palette, np.uint8)[r.integers(0, len(palette), g.shape)], 0).astype(
                np.uint8
            )

        return (lambda g: table[g].astype(np.uint8)), make
    if family == "translate":
        dr, dc = _DIRECTIONS[int(rng.integers(0, 4))]
        return (lambda g: _shift(g, dr, dc)), sparse
    if family == "gravity":
        direction = _DIRECTIONS[int(rng.integers(0, 4))]
        return (lambda g: _gravity(g, direction)), sparse
    if family == "fill":
        fill = int(rng.integers(1, 10))
        borders = [c for c in range(1, 10) if c != fill]

        def make_rect(r, h, w):
            return _rectangles(r, max(h, 3), max(w, 3), borders)[0]

        def rule(g):
            out = g.copy()
            # the interior of each hollow rectangle: background cells not reachable from the border by background
            reach = np.zeros(g.shape, bool)
            stack = [(i, j) for i in range(g.shape[0]) for j in range(g.shape[1]) if g[i, j] == 0]
            stack = [(i, j) for i, j in stack if i in (0, g.shape[0] - 1) or j in (0, g.shape[1] - 1)]
            for i, j in stack:
                reach[i, j] = True
            while stack:
                i, j = stack.pop()
                for di, dj in _DIRECTIONS:
                    a, b = i + di, j + dj
                    if 0 <= a < g.shape[0] and 0 <= b < g.shape[1] and not reach[a, b] and g[a, b] == 0:
                        reach[a, b] = True
                        stack.append((a, b))
            out[(g == 0) & ~reach] = fill
            return out

        return rule, make_rect
    raise ValueError(f"unknown ARC task family {family!r}; families are {', '.join(FAMILIES)}")


FAMILIES = tuple(_GEOMETRY) + ("colour_map", "translate", "gravity", "fill")


def task_id(family, seed, index):
    """The id of task `index` of `family` under `seed`: ``"<family>-<8 hex digits>"`` (distinct across seeds)."""
    digest = hashlib.sha1(f"{family}|{int(seed)}|{int(index)}".encode()).hexdigest()[:8]
    return f"{family}-{digest}"


def generate_task(family, seed=0, index=0, num_train=3, num_test=1, min_size=3, max_size=6):
    """One task of `family`: `num_train` demonstration pairs and `num_test` test pairs.

    Args:
        family: str. One of `FAMILIES`.
        seed: int. The seed (default 0); (seed, family, index) fixes the task.
        index: int. Which task of the family (default 0).
        num_train: int. Demonstration pairs (default 3).
        num_test: int. Test pairs (default 1).
        min_size: int. Smallest grid side (default 3).
        max_size: int. Largest grid side, at most 8 (default 6).

    Returns:
        `keras_trm.data.arc.ARCTask`, id from `task_id`. Every pair's output differs from its input, and no two
        pairs of a task share an input.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown ARC task family {family!r}; families are {', '.join(FAMILIES)}")
    if not 1 <= int(min_size) <= int(max_size) <= MAX_FAMILY_GRID:
        raise ValueError(f"grid sides must satisfy 1 <= min_size <= max_size <= {MAX_FAMILY_GRID}")
    if family == "fill":
        min_size = max(int(min_size), 3)
        max_size = max(int(max_size), 3)
    rng = np.random.default_rng([int(seed), FAMILIES.index(family), int(index)])
    rule, make = _task_rule(family, rng)
    pairs, seen = [], set()
    for _ in range(100 * (num_train + num_test)):
        if len(pairs) == num_train + num_test:
            break
        h, w = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
        x = make(rng, h, w)
        y = np.ascontiguousarray(rule(x)).astype(np.uint8)
        key = x.tobytes() + bytes(x.shape)
        if key in seen or (x.shape == y.shape and np.array_equal(x, y)):
            continue
        seen.add(key)
        pairs.append((x, y))
    else:  # pragma: no cover - the families draw enough distinct pairs
        raise RuntimeError(f"could not draw {num_train + num_test} distinct pairs for {family}")
    tid = task_id(family, seed, index)
    return ARCTask(tid, train=pairs[:num_train], test=pairs[num_train:])


def generate_tasks(families=None, tasks_per_family=4, seed=0, **kwargs):
    """{task_id: ARCTask}: `tasks_per_family` tasks of each family (sorted by id).

    Args:
        families: list of str or None. Which of `FAMILIES` (default None: all).
        tasks_per_family: int. Tasks per family (default 4).
        seed: int. The seed (default 0); another seed gives other tasks (other ids) of the same families.
        **kwargs: `generate_task` arguments (num_train, num_test, min_size, max_size).
    """
    families = list(FAMILIES if families is None else families)
    tasks = {}
    for family in families:
        for index in range(int(tasks_per_family)):
            task = generate_task(family, seed, index, **kwargs)
            tasks[task.task_id] = task
    return dict(sorted(tasks.items()))


def write_task_folder(tasks, folder):
    """Write one ``<task_id>.json`` per task (ARC's own layout, test outputs included) -> the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for tid, task in tasks.items():
        _write_json(folder / f"{tid}.json", task.to_json())
    return folder


def write_kaggle_files(tasks, folder, name="families"):
    """Write Kaggle's combined layout ``arc-agi_<name>_challenges.json`` (test inputs only) and
    ``arc-agi_<name>_solutions.json`` (test outputs) -> (challenges path, solutions path)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    challenges, solutions = {}, {}
    for tid, task in tasks.items():
        js = task.to_json()
        challenges[tid] = {"train": js["train"], "test": [{"input": p["input"]} for p in js["test"]]}
        solutions[tid] = [p["output"] for p in js["test"]]
    paths = (folder / f"arc-agi_{name}_challenges.json", folder / f"arc-agi_{name}_solutions.json")
    for path, obj in zip(paths, (challenges, solutions)):
        _write_json(path, obj)
    return paths


def _write_json(path, obj):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
