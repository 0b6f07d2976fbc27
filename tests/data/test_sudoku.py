import os

import numpy as np
import pytest

from keras_trm.data.errors import DataFormatError
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.sudoku import (
    augment_sudoku,
    box_shape,
    build_sudoku_dataset,
    parse_sudoku_rows,
    read_sudoku_csv,
    valid_solution,
)
from keras_trm.data.sudoku_solver import SudokuSolver

# a 9x9 puzzle with a unique solution (and its solution)
Q9 = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
A9 = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"


def _grid(s):
    n = int(round(len(s) ** 0.5))
    return np.array([0 if c in ".0" else int(c) for c in s]).reshape(n, n)


def _unique(q, a):
    n = q.shape[0]
    count, sol, _ = SudokuSolver(n).solve(q.reshape(-1).tolist(), limit=2)
    return count == 1 and sol == a.reshape(-1).tolist()


def test_box_shapes():
    assert box_shape(4) == (2, 2) and box_shape(6) == (2, 3) and box_shape(9) == (3, 3)
    with pytest.raises(ValueError):
        box_shape(7)


@pytest.mark.parametrize("fixture", ["sudoku4_dir", "sudoku6_dir"])
def test_augmented_small_puzzles_keep_their_unique_solution(fixture, request):
    folder = request.getfixturevalue(fixture)
    ((q, a, _),) = list(read_sudoku_csv(os.path.join(folder, "train.csv")))
    rng = np.random.default_rng(0)
    n = q.shape[-1]
    for i in range(q.shape[0]):
        assert _unique(q[i], a[i])
        qa, aa = augment_sudoku(q[i], a[i], 8, rng)
        assert qa.shape == (8, n, n) and qa.dtype == np.uint8
        assert np.all(valid_solution(aa))
        assert np.all((qa == 0) | (qa == aa)) and np.all((qa == 0).sum((1, 2)) == (q[i] == 0).sum())
        for j in range(8):
            assert _unique(qa[j], aa[j])


def test_augment_9x9_official_group():
    q, a = _grid(Q9), _grid(A9)
    assert _unique(q, a)
    qa, aa = augment_sudoku(q, a, 200, np.random.default_rng(1))
    assert np.all(valid_solution(aa)) and np.all((qa == 0) | (qa == aa))
    assert len({g.tobytes() for g in qa}) == 200  # distinct
    for j in range(3):
        assert _unique(qa[j], aa[j])
    # the blank pattern moves only by row/column permutations and transposition
    blank = q == 0
    sig = sorted(blank.sum(1).tolist()), sorted(blank.sum(0).tolist())
    for g in qa[:20]:
        b = g == 0
        assert (sorted(b.sum(1).tolist()), sorted(b.sum(0).tolist())) in (sig, sig[::-1])


def test_augment_6x6_never_transposes():
    q = np.zeros((6, 6), np.uint8)
    a = np.array(
        [
            [1, 2, 3, 4, 5, 6],
            [4, 5, 6, 1, 2, 3],
            [2, 3, 1, 5, 6, 4],
            [5, 6, 4, 2, 3, 1],
            [3, 1, 2, 6, 4, 5],
            [6, 4, 5, 3, 1, 2],
        ]
    )
    assert valid_solution(a)
    _, aa = augment_sudoku(q, a, 100, np.random.default_rng(0))
    assert np.all(valid_solution(aa, (2, 3)))


def _rows(*items):
    return [(i + 2, "src", q, a, r) for i, (q, a, r) in enumerate(items)]


def test_parse_unsupported_side():
    with pytest.raises(DataFormatError, match="row 2: field 'question': 49 characters: not a"):
        parse_sudoku_rows(_rows(("." * 49, "1" * 49, 0)), "s.csv")


def test_parse_ok():
    q, a, r = parse_sudoku_rows(_rows((Q9, A9, 5), (Q9.replace(".", "0"), A9, 7)), "x.csv")
    assert q.shape == (2, 9, 9) and np.array_equal(q[0], q[1]) and r.tolist() == [5, 7]


@pytest.mark.parametrize(
    "q, a, field, match",
    [
        (Q9[:-1], A9, "question", "80 characters, expected 81"),
        (Q9, A9 + "1", "answer", "82 characters"),
        (Q9[:-1] + "x", A9, "question", "character 'x' at position 80 outside"),
        (Q9, A9[:-1] + "0", "answer", "character '0' at position 80"),
        (Q9[:-1] + "é", A9, "question", "non-ASCII"),
        (Q9[:-1], A9[:-1], "question", "80 characters, expected 81"),
        (Q9, A9[:9][::-1] + A9[9:], "answer", "not a valid Sudoku solution"),
        ("4" + Q9[1:], A9.replace("4", "x").replace("8", "4").replace("x", "8"), "answer", "contradicts a given"),
    ],
)
def test_parse_bad(q, a, field, match):
    rows = _rows((Q9, A9, 0), (q, a, 0))
    with pytest.raises(DataFormatError, match=match) as e:
        parse_sudoku_rows(rows, "bad.csv")
    assert e.value.file == "bad.csv" and e.value.row == 3 and e.value.field == field
    assert "bad.csv: row 3: field '" + field + "'" in str(e.value)


def test_build_official_layout_and_determinism(tmp_path, sudoku4_dir):
    r1 = build_sudoku_dataset(str(tmp_path / "a"), sudoku4_dir, num_aug=5, seed=3, progress=False)
    r2 = build_sudoku_dataset(str(tmp_path / "b"), sudoku4_dir, num_aug=5, seed=3, progress=False)
    for sub in (
        "metadata.json",
        "identifiers.json",
        "train/inputs.npy",
        "train/labels.npy",
        "train/puzzle_indices.npy",
        "train/group_indices.npy",
        "test/inputs.npy",
    ):
        assert open(os.path.join(r1, sub), "rb").read() == open(os.path.join(r2, sub), "rb").read(), sub
    r3 = build_sudoku_dataset(str(tmp_path / "c"), sudoku4_dir, num_aug=5, seed=4, progress=False)
    assert (
        open(os.path.join(r1, "train/inputs.npy"), "rb").read()
        != open(os.path.join(r3, "train/inputs.npy"), "rb").read()
    )
    tr, te = PuzzleDataset(r1, "train"), PuzzleDataset(r1, "test")
    m = tr.metadata
    assert (m["benchmark"], m["seq_len"], m["vocab_size"], m["num_puzzle_identifiers"]) == ("sudoku", 16, 6, 1)
    assert m["grid_shape"] == [4, 4] and m["vocabulary"][:3] == ["<pad>", "<blank>", "1"]
    assert (tr.num_groups, tr.num_puzzles, tr.num_examples) == (40, 240, 240)
    assert np.all(np.diff(tr.group_indices) == 6) and np.all(np.diff(tr.puzzle_indices) == 1)
    assert (te.num_groups, te.num_puzzles, te.num_examples) == (10, 10, 10)  # test never augmented
    assert np.all(tr.puzzle_identifiers == 0)
    x, y = np.asarray(tr.inputs), np.asarray(tr.labels)
    assert x.min() >= 1 and x.max() <= 5 and y.min() >= 2 and y.max() <= 5  # blank 1, digits 2..5
    ((q, a, _),) = list(read_sudoku_csv(os.path.join(sudoku4_dir, "train.csv")))
    assert np.array_equal(x[0], q[0].reshape(-1) + 1) and np.array_equal(y[6], a[1].reshape(-1) + 1)  # originals
    for k in range(0, 240, 7):
        qk, ak = x[k].reshape(4, 4) - 1, y[k].reshape(4, 4) - 1
        assert _unique(qk, ak)


def test_build_subsample_and_min_rating(tmp_path, write_csv):
    rows = [("s", Q9, A9, r) for r in range(10)]
    src = write_csv(tmp_path / "t.csv", rows)
    root = build_sudoku_dataset(
        str(tmp_path / "d"), train_csv=src, test_csv=src, subsample_size=3, min_rating=5, progress=False
    )
    assert PuzzleDataset(root, "train").num_groups == 3 and PuzzleDataset(root, "test").num_groups == 5
    with pytest.raises(DataFormatError, match="no puzzle left"):
        build_sudoku_dataset(str(tmp_path / "e"), train_csv=src, test_csv=src, min_rating=50, progress=False)


def test_bad_row_leaves_no_dataset(tmp_path, sudoku4_dir, write_csv, no_leftovers):
    good = os.path.join(sudoku4_dir, "train.csv")
    bad = write_csv(tmp_path / "test.csv", [("s", "1...", "1234", 0)])
    root = str(tmp_path / "ds")
    with pytest.raises(DataFormatError, match=r"test.csv: row 2: field 'question': 4 characters, expected 16"):
        build_sudoku_dataset(root, train_csv=good, test_csv=bad, progress=False)
    assert no_leftovers(root)
    other = write_csv(tmp_path / "nine.csv", [("s", Q9, A9, 0)])
    with pytest.raises(DataFormatError, match="nine.csv: row 2: field 'question': 81 characters, expected 16"):
        build_sudoku_dataset(root, train_csv=good, test_csv=other, progress=False)
    assert no_leftovers(root)
    with pytest.raises(DataFormatError, match="field 'header'"):
        build_sudoku_dataset(
            root, train_csv=write_csv(tmp_path / "h.csv", [], header="q,a"), splits=("train",), progress=False
        )
    assert no_leftovers(root)
