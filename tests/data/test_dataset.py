import json
import os

import numpy as np
import pytest

from keras_trm.data.csv_sources import iter_puzzle_csv, resolve_csv
from keras_trm.data.dataset_writer import DatasetWriter, _npy_header
from keras_trm.data.errors import DataFormatError
from keras_trm.data.format import token_dtype_for
from keras_trm.data.puzzle_dataset import PuzzleDataset, read_metadata
from keras_trm.data.token_array import TokenArray

META = dict(benchmark="custom", seq_len=4, vocab_size=5, grid_shape=[2, 2], vocabulary=list("_abcd"), seed=3)


def _build(root, groups=((1, 2), (3,)), splits=("train", "test"), **kw):
    """Groups given as puzzle sizes; tokens encode (row % 4) + 1."""
    with DatasetWriter(root, META, identifiers=["<blank>", "p1", "p2"], **kw) as w:
        for split in splits:
            w.begin_split(split)
            row = 0
            for sizes in groups:
                puzzles = []
                for k, s in enumerate(sizes):
                    x = (np.arange(row, row + s)[:, None] % 4 + 1) * np.ones((1, 4), int)
                    puzzles.append((k % 3, x, 5 - x))
                    row += s
                w.add_group(puzzles)
            w.end_split(extras={"note": split})
    return root


def test_roundtrip(tmp_path):
    root = _build(str(tmp_path / "ds"))
    ds = PuzzleDataset(root, "train")
    assert isinstance(ds.inputs, TokenArray) and isinstance(ds.inputs.raw, np.memmap)
    assert ds.token_dtype == np.uint8 and ds.inputs.raw.dtype == np.uint8 and ds.labels.raw.dtype == np.uint8
    assert ds.inputs.dtype == np.int32 and ds.inputs.shape == (6, 4) and len(ds.inputs) == 6
    assert ds.inputs[0].dtype == np.int32 and ds.inputs[[1, 3]].dtype == np.int32 and ds.inputs[1:3].shape == (2, 4)
    assert type(ds.inputs[0, 0]) is np.int32 and ds.inputs[2, 0] == 3
    assert [r.tolist() for r in ds.inputs][5] == [2] * 4
    assert ds.labels.dtype == np.int32 and np.array_equal(np.asarray(ds.labels), 5 - np.asarray(ds.inputs))
    assert np.asarray(ds.labels).dtype == np.int32 and np.asarray(ds.labels, dtype=np.int64).dtype == np.int64
    assert ds.puzzle_identifiers.dtype == np.int32 and ds.puzzle_identifiers.tolist() == [0, 1, 0]
    assert ds.puzzle_indices.dtype == np.int64 and ds.puzzle_indices.tolist() == [0, 1, 3, 6]
    assert ds.group_indices.dtype == np.int64 and ds.group_indices.tolist() == [0, 2, 3]
    assert ds.extras == {"note": "train"} and ds.identifiers == ["<blank>", "p1", "p2"]
    assert ds.example_puzzles([0, 1, 2, 5]).tolist() == [0, 1, 1, 2]
    m = ds.metadata
    for key in (
        "benchmark",
        "seq_len",
        "vocab_size",
        "pad_id",
        "ignore_label_id",
        "blank_identifier_id",
        "num_puzzle_identifiers",
        "grid_shape",
        "vocabulary",
        "splits",
        "seed",
        "builder",
        "format_version",
    ):
        assert key in m
    assert m["splits"]["train"] == {"examples": 6, "puzzles": 3, "groups": 2, "mean_puzzle_examples": 2.0}
    assert m["num_puzzle_identifiers"] == 3 and m["format_version"] == 2 and m["seed"] == 3
    assert m["token_dtype"] == "uint8"
    assert np.load(os.path.join(root, "test", "inputs.npy")).shape == (6, 4)  # plain np.load works too
    ds.check_tokens()
    assert "6 examples" in repr(ds)


def test_npy_header_fits_huge_shapes():
    h = _npy_header(np.int32, (10**15, 900))
    assert len(h) == 128 and h.endswith(b"\n")


def test_exception_leaves_nothing(tmp_path, no_leftovers):
    root = str(tmp_path / "ds")
    with pytest.raises(RuntimeError, match="boom"):
        with DatasetWriter(root, META) as w:
            w.begin_split("train")
            w.add_group([(0, np.ones((2, 4)), np.ones((2, 4)))])
            raise RuntimeError("boom")
    assert no_leftovers(root)


def test_existing_root_and_overwrite(tmp_path):
    root = _build(str(tmp_path / "ds"))
    with pytest.raises(FileExistsError):
        _build(root)
    _build(root, groups=((1,),), overwrite=True)
    assert PuzzleDataset(root, "train").num_examples == 1
    assert sorted(os.listdir(tmp_path)) == ["ds"]
    # a failed overwrite keeps the old dataset
    with pytest.raises(ValueError):
        with DatasetWriter(root, META, overwrite=True) as w:
            w.begin_split("train")
            w.add_group([(0, np.full((1, 4), 9), np.ones((1, 4)))])  # token 9 >= vocab 5
    assert PuzzleDataset(root, "train").num_examples == 1 and sorted(os.listdir(tmp_path)) == ["ds"]


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(x=np.ones((1, 3))), "expected equal"),
        (dict(x=np.full((1, 4), 5)), "token ids outside"),
        (dict(y=-np.ones((1, 4))), "token ids outside"),
        (dict(ident=7), "identifier outside"),
    ],
)
def test_writer_rejects_bad_groups(tmp_path, bad, match, no_leftovers):
    root = str(tmp_path / "ds")
    args = dict(ident=0, x=np.ones((1, 4)), y=np.ones((1, 4)))
    args.update(bad)
    y = args["y"] if args["y"].shape == args["x"].shape else np.ones_like(args["x"])
    with pytest.raises(ValueError, match=match):
        with DatasetWriter(root, META) as w:
            w.begin_split("train")
            w.add_group([(args["ident"], args["x"], y)])
    assert no_leftovers(root)


def test_writer_misuse(tmp_path):
    with pytest.raises(ValueError, match="needs 'seq_len'"):
        DatasetWriter(tmp_path / "a", {"benchmark": "custom"})
    with pytest.raises(ValueError, match="benchmark"):
        DatasetWriter(tmp_path / "a", dict(META, benchmark="chess"))
    with pytest.raises(RuntimeError, match="no split"):
        with DatasetWriter(tmp_path / "b", META):
            pass
    with pytest.raises(ValueError, match="split"):
        with DatasetWriter(tmp_path / "c", META) as w:
            w.begin_split("validation")
    with pytest.raises(RuntimeError, match="not ended"):
        with DatasetWriter(tmp_path / "d", META) as w:
            w.begin_split("train")
            w.add_group([(0, np.ones((1, 4)), np.ones((1, 4)))])
    assert os.listdir(tmp_path) == []


def _edit_json(path, fn):
    with open(path) as f:
        d = json.load(f)
    d = fn(d)
    with open(path, "w") as f:
        json.dump(d, f)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda m: {k: v for k, v in m.items() if k != "seq_len"}, "seq_len"),
        (lambda m: dict(m, vocab_size="5"), "vocab_size"),
        (lambda m: dict(m, format_version=3), "format_version"),
        (lambda m: {k: v for k, v in m.items() if k != "token_dtype"}, "token_dtype"),
        (lambda m: dict(m, token_dtype="int8"), "token_dtype"),
        (lambda m: dict(m, token_dtype="int32"), "inputs"),  # the arrays are uint8
        (lambda m: dict(m, vocab_size=300), "token_dtype"),  # uint8 cannot hold it
        (lambda m: dict(m, format_version=1), "token_dtype"),  # format 1 has int32 tokens only
        (lambda m: dict({k: v for k, v in m.items() if k != "token_dtype"}, format_version=1), "inputs"),  # uint8 files
        (lambda m: dict(m, benchmark="chess"), "benchmark"),
        (lambda m: dict(m, pad_id=1), "pad_id"),
        (lambda m: dict(m, grid_shape=[2]), "grid_shape"),
        (lambda m: dict(m, seq_len=5), "inputs"),
        (lambda m: dict(m, num_puzzle_identifiers=2), None),  # identifiers.json length
        (lambda m: {k: v for k, v in m.items() if k != "vocabulary"}, "vocabulary"),
        (lambda m: dict(m, splits={"train": {"examples": 6}}), "splits"),
        (lambda m: dict(m, splits=dict(m["splits"], train=dict(m["splits"]["train"], examples=7))), "inputs"),
    ],
)
def test_bad_metadata(tmp_path, edit, field):
    root = _build(str(tmp_path / "ds"))
    _edit_json(os.path.join(root, "metadata.json"), edit)
    with pytest.raises(DataFormatError) as e:
        PuzzleDataset(root, "train")
    msg = str(e.value)
    assert ".json" in msg or ".npy" in msg
    if field:
        assert repr(field) in msg


def test_bad_files(tmp_path):
    root = _build(str(tmp_path / "ds"))
    with pytest.raises(DataFormatError, match="no split 'valid'"):
        PuzzleDataset(root, "valid")
    with pytest.raises(DataFormatError, match="metadata.json.*missing"):
        PuzzleDataset(str(tmp_path), "train")
    with open(os.path.join(root, "metadata.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        read_metadata(root)


@pytest.mark.parametrize(
    "name, array, match",
    [
        ("puzzle_indices", np.array([0, 1, 3, 5], np.int64), "must run from 0 to 6"),
        ("puzzle_indices", np.array([0, 3, 3, 6], np.int64), "strictly increasing"),
        ("group_indices", np.array([0, 3], np.int64), r"shape \(2,\)"),
        ("puzzle_identifiers", np.array([0, 1, 9], np.int32), "identifier outside"),
        ("labels", np.zeros((6, 4), np.int64), "dtype int64"),
        ("inputs", np.zeros((6, 4), np.int32), "dtype int32"),  # the build stores uint8
    ],
)
def test_bad_arrays(tmp_path, name, array, match):
    root = _build(str(tmp_path / "ds"))
    path = os.path.join(root, "train", name + ".npy")
    np.save(path, array)
    with pytest.raises(DataFormatError, match=match) as e:
        PuzzleDataset(root, "train")
    assert name + ".npy" in str(e.value)


def test_missing_and_corrupt_npy(tmp_path):
    root = _build(str(tmp_path / "ds"))
    os.remove(os.path.join(root, "train", "labels.npy"))
    with pytest.raises(DataFormatError, match="labels.npy: missing"):
        PuzzleDataset(root, "train")
    with open(os.path.join(root, "test", "labels.npy"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(DataFormatError, match="labels.npy: unreadable"):
        PuzzleDataset(root, "test")


def test_check_tokens_finds_bad_row(tmp_path):
    root = _build(str(tmp_path / "ds"))
    arr = np.load(os.path.join(root, "train", "inputs.npy"), mmap_mode="r+")
    arr[4, 1] = 7
    arr.flush()
    del arr
    with pytest.raises(DataFormatError, match="row 4.*token outside"):
        PuzzleDataset(root, "train").check_tokens()


def test_iter_puzzle_csv_errors(tmp_path, write_csv):
    assert list(iter_puzzle_csv(write_csv(tmp_path / "ok.csv", ["s,1.,12,3", "", "s,..,21,2.5"]))) == [
        (2, "s", "1.", "12", 3),
        (4, "s", "..", "21", 2.5),
    ]
    with pytest.raises(DataFormatError, match=r"bad.csv: row 1: field 'header'"):
        list(iter_puzzle_csv(write_csv(tmp_path / "bad.csv", [], header="question,answer,rating")))
    with pytest.raises(DataFormatError, match=r"f.csv: row 3: 3 fields, expected 4"):
        list(iter_puzzle_csv(write_csv(tmp_path / "f.csv", ["s,1,1,0", "s,1,1"])))
    with pytest.raises(DataFormatError, match=r"r.csv: row 2: field 'rating': not a number"):
        list(iter_puzzle_csv(write_csv(tmp_path / "r.csv", ["s,1,1,hard"])))
    with pytest.raises(DataFormatError, match="no such file"):
        list(iter_puzzle_csv(tmp_path / "missing.csv"))


def test_resolve_csv_local_and_hf(tmp_path, monkeypatch):
    import sys
    import types

    assert resolve_csv(str(tmp_path), "train", "x/y") == os.path.join(str(tmp_path), "train.csv")
    assert resolve_csv("a/file.csv", "test", "x/y") == "a/file.csv"
    calls = []
    fake = types.ModuleType("huggingface_hub")
    fake.hf_hub_download = lambda repo, name, repo_type: calls.append((repo, name, repo_type)) or "/cache/" + name
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    assert resolve_csv(None, "test", "sapientinc/sudoku-extreme") == "/cache/test.csv"
    assert calls == [("sapientinc/sudoku-extreme", "test.csv", "dataset")]
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match="needs huggingface_hub"):
        resolve_csv("hf:a/b", "train", "x/y")


# ------------------------------------------------------------------------------------------------ token storage
def _tokens(ds):
    return np.asarray(ds.inputs), np.asarray(ds.labels)


def _to_format_1(root):
    """Turn a build into what format 1 wrote: int32 token arrays, no token_dtype, format_version 1."""
    for split in ("train", "test"):
        for name in ("inputs", "labels"):
            p = os.path.join(root, split, name + ".npy")
            np.save(p, np.load(p).astype(np.int32))
    _edit_json(
        os.path.join(root, "metadata.json"),
        lambda m: dict({k: v for k, v in m.items() if k != "token_dtype"}, format_version=1),
    )
    return root


def test_token_dtype_for():
    assert token_dtype_for(2) == np.uint8 and token_dtype_for(256) == np.uint8
    assert token_dtype_for(257) == np.uint16 and token_dtype_for(65536) == np.uint16
    assert token_dtype_for(65537) == np.int32
    with pytest.raises(ValueError, match="int32"):
        token_dtype_for(2**40)


def test_compact_and_int32_read_back_identically(tmp_path):
    from keras_trm.data.sampler import PuzzleBatches

    small = PuzzleDataset(_build(str(tmp_path / "u8")), "train")
    wide = PuzzleDataset(_build(str(tmp_path / "i32"), token_dtype="int32"), "train")
    assert small.token_dtype == np.uint8 and wide.token_dtype == np.int32
    assert wide.metadata["token_dtype"] == "int32" and wide.metadata["format_version"] == 2
    for a, b in zip(_tokens(small), _tokens(wide)):
        assert a.dtype == b.dtype == np.int32 and np.array_equal(a, b)
    assert os.path.getsize(small.inputs.raw.filename) < os.path.getsize(wide.inputs.raw.filename)
    for mode in ("train", "eval"):
        bs = [PuzzleBatches(ds, 2, mode=mode, seed=5, group_passes=2) for ds in (small, wide)]
        assert len(bs[0]) == len(bs[1]) > 0
        for i in range(len(bs[0])):
            (x0, y0, w0), (x1, y1, w1) = bs[0][i], bs[1][i]
            assert x0["inputs"].dtype == y0.dtype == np.int32
            assert np.array_equal(x0["inputs"], x1["inputs"]) and np.array_equal(y0, y1)
            assert np.array_equal(x0["puzzle_identifiers"], x1["puzzle_identifiers"]) and np.array_equal(w0, w1)


@pytest.mark.parametrize("vocab, dtype", [(256, np.uint8), (257, np.uint16), (70000, np.int32)])
def test_large_vocabulary_falls_back(tmp_path, vocab, dtype):
    from keras_trm.data.sampler import PuzzleBatches

    meta = dict(META, vocab_size=vocab, vocabulary=[str(i) for i in range(vocab)])
    x = np.array([[0, 1, 255, vocab - 1], [vocab - 1, vocab - 2, 3, 0]])
    with DatasetWriter(str(tmp_path / "ds"), meta) as w:
        w.begin_split("train")
        w.add_group([(0, x, x[::-1])])
        w.end_split()
    ds = PuzzleDataset(str(tmp_path / "ds"), "train")
    assert ds.token_dtype == dtype and ds.metadata["token_dtype"] == np.dtype(dtype).name
    assert ds.inputs.raw.dtype == dtype and np.array_equal(np.asarray(ds.inputs), x)
    assert np.array_equal(ds.labels[0:2], x[::-1])
    ds.check_tokens()
    xb, yb, _ = PuzzleBatches(ds, 2, mode="eval")[0]
    assert xb["inputs"].dtype == yb.dtype == np.int32 and np.array_equal(xb["inputs"], x)


def test_writer_token_dtype_option(tmp_path):
    with pytest.raises(ValueError, match="cannot hold vocab_size 300"):
        DatasetWriter(tmp_path / "a", dict(META, vocab_size=300), token_dtype="uint8")
    with pytest.raises(ValueError, match="token_dtype must be one of"):
        DatasetWriter(tmp_path / "a", META, token_dtype="float32")
    root = _build(str(tmp_path / "b"), token_dtype=np.uint16)
    assert PuzzleDataset(root, "test").token_dtype == np.uint16
    with DatasetWriter(tmp_path / "c", dict(META, token_dtype="int32")) as w:  # also taken from the metadata
        w.begin_split("train")
        w.add_group([(0, np.ones((1, 4)), np.ones((1, 4)))])
        w.end_split()
    assert read_metadata(tmp_path / "c")["token_dtype"] == "int32"


def test_format_1_int32_builds_still_open(tmp_path):
    from keras_trm.data.sampler import PuzzleBatches

    new = _build(str(tmp_path / "new"))
    old = _to_format_1(_build(str(tmp_path / "old")))
    m = read_metadata(old)
    assert m["format_version"] == 1 and m["token_dtype"] == "int32"  # filled in on reading
    with open(os.path.join(old, "metadata.json")) as f:
        assert "token_dtype" not in json.load(f)
    for split in ("train", "test"):
        a, b = PuzzleDataset(new, split), PuzzleDataset(old, split)
        assert b.token_dtype == np.int32 and b.inputs.raw.dtype == np.int32
        for u, v in zip(_tokens(a), _tokens(b)):
            assert np.array_equal(u, v)
        b.check_tokens()
        x0, y0, _ = PuzzleBatches(a, 4, mode="eval")[1]
        x1, y1, _ = PuzzleBatches(b, 4, mode="eval")[1]
        assert np.array_equal(x0["inputs"], x1["inputs"]) and np.array_equal(y0, y1) and y1.dtype == np.int32
    # format 1 with a token_dtype other than int32 is inconsistent
    _edit_json(os.path.join(old, "metadata.json"), lambda m: dict(m, token_dtype="uint8"))
    with pytest.raises(DataFormatError, match="token_dtype"):
        PuzzleDataset(old, "train")


def test_data_modules_do_not_import_tensorflow():
    import keras_trm.data as data

    folder = os.path.dirname(data.__file__)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                src = f.read()
            assert "import tensorflow" not in src and "from tensorflow" not in src, name
    assert "PuzzleBatches" in dir(data) and data.PuzzleBatches.__name__ == "PuzzleBatches"
    with pytest.raises(AttributeError):
        data.NoSuchThing
