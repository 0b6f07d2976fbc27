"""The ARC task families the package generates (`keras_trm.data.arc_families`): each rule checked by hand, sizes,
determinism, new ids for a new seed, and the two file layouts read back by `keras_trm.data.arc.load_tasks`."""

import numpy as np
import pytest

from keras_trm.data import arc as arc_data
from keras_trm.data import arc_families as fam


def _gravity_down(g):
    out = np.zeros_like(g)
    for j in range(g.shape[1]):
        col = [v for v in g[:, j] if v]
        if col:
            out[g.shape[0] - len(col) :, j] = col
    return out


GEOMETRY = {
    "flip_horizontal": lambda g: g[:, ::-1],
    "flip_vertical": lambda g: g[::-1],
    "rotate_90": lambda g: np.array([[g[g.shape[0] - 1 - c][r] for c in range(g.shape[0])] for r in range(g.shape[1])]),
    "rotate_180": lambda g: g[::-1, ::-1],
    "transpose": lambda g: np.array([[g[c][r] for c in range(g.shape[0])] for r in range(g.shape[1])]),
}


@pytest.mark.parametrize("family", fam.FAMILIES)
def test_every_family_follows_its_rule(family):
    tasks = fam.generate_tasks([family], 3, seed=7, max_size=8)
    assert len(tasks) == 3 and all(t.startswith(family + "-") for t in tasks)
    for task in tasks.values():
        pairs = task.train + task.test
        assert len(task.train) == 3 and len(task.test) == 1
        assert len({x.tobytes() + bytes(x.shape) for x, _ in pairs}) == len(pairs)  # distinct inputs
        for x, y in pairs:
            assert 1 <= min(x.shape) and max(x.shape) <= 8 and x.dtype == np.uint8
            assert not (x.shape == y.shape and np.array_equal(x, y))
            if family in GEOMETRY:
                np.testing.assert_array_equal(y, GEOMETRY[family](x))
        if family == "colour_map":  # one colour table for the whole task, a permutation
            table = {}
            for x, y in pairs:
                for a, b in zip(x.ravel().tolist(), y.ravel().tolist()):
                    assert table.setdefault(a, b) == b
            assert table.get(0, 0) == 0 and len(set(table.values())) == len(table)
        if family == "gravity":  # one direction for the task: find it and check every pair
            ok = [
                all(np.array_equal(np.rot90(_gravity_down(np.rot90(x, k)), -k), y) for x, y in pairs) for k in range(4)
            ]
            assert any(ok)
        if family == "translate":
            shifts = [(dr, dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))]
            ok = [all(np.array_equal(_shift(x, *s), y) for x, y in pairs) for s in shifts]
            assert any(ok)
        if family == "fill":  # only background cells change, all to one colour, borders kept
            colours = {int(v) for x, y in pairs for v in y[x != y].ravel()}
            assert len(colours) == 1 and all((x[x != y] == 0).all() for x, y in pairs)


def _shift(g, dr, dc):
    out = np.zeros_like(g)
    for r in range(g.shape[0]):
        for c in range(g.shape[1]):
            if 0 <= r + dr < g.shape[0] and 0 <= c + dc < g.shape[1]:
                out[r + dr, c + dc] = g[r, c]
    return out


def test_deterministic_and_a_new_seed_gives_new_tasks():
    a = fam.generate_tasks(None, 2, seed=0)
    b = fam.generate_tasks(None, 2, seed=0)
    assert list(a) == list(b)
    for t in a:
        assert arc_data.kaggle_sha256({t: a[t]}) == arc_data.kaggle_sha256({t: b[t]})
    c = fam.generate_tasks(None, 2, seed=1)
    assert not set(a) & set(c) and len(c) == 2 * len(fam.FAMILIES)


def test_bad_family_and_sizes():
    with pytest.raises(ValueError, match="unknown ARC task family 'spin'"):
        fam.generate_tasks(["spin"], 1)
    with pytest.raises(ValueError, match="max_size <= 8"):
        fam.generate_task("flip_vertical", max_size=9)


def test_files_read_back(tmp_path):
    tasks = fam.generate_tasks(["fill", "rotate_90"], 2, seed=4)
    folder = fam.write_task_folder(tasks, tmp_path / "folder")
    challenges, solutions = fam.write_kaggle_files(tasks, tmp_path / "kaggle", name="mine")
    assert challenges.name == "arc-agi_mine_challenges.json" and solutions.name == "arc-agi_mine_solutions.json"
    digest = arc_data.kaggle_sha256(tasks)
    assert arc_data.kaggle_sha256(arc_data.load_tasks(folder)) == digest
    assert arc_data.kaggle_sha256(arc_data.load_tasks(challenges)) == digest
    # the challenges alone: accepted without outputs (adaptation), refused as training data
    solutions.unlink()
    assert set(arc_data.load_tasks(challenges, need_outputs=False)) == set(tasks)
    with pytest.raises(arc_data.DataFormatError, match="missing solutions file"):
        arc_data.load_tasks(challenges)
