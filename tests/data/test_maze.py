import os

import numpy as np
import pytest

from keras_trm.data.errors import DataFormatError
from keras_trm.data.maze import build_maze_dataset, decode_maze, encode_maze, parse_maze_rows, read_maze_csv
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.transforms import dihedral_transform

Q = "S  ### #   #G###"
A = "Soo###o#ooo#G###"


def _rows(*items):
    return [(i + 2, "src", q, a, 0) for i, (q, a) in enumerate(items)]


def test_encode_decode():
    t = encode_maze(A)
    assert t.dtype == np.int32 and t.tolist()[:4] == [3, 5, 5, 1]
    assert "".join(decode_maze(t)) == A
    assert decode_maze(encode_maze(["#S", "G "])) == ["#S", "G "]


def test_parse_ok():
    q, a = parse_maze_rows(_rows((Q, A)), "m.csv")
    assert q.shape == (1, 4, 4) and q[0, 0, 0] == 3 and a[0, 0, 1] == 5


@pytest.mark.parametrize(
    "q, a, field, match",
    [
        (Q[:-1], A, "question", "15 characters, expected 16"),
        (Q, A + "#", "answer", "17 characters"),
        (Q[:-1] + "x", A, "question", "character 'x' at row 3, col 3 outside"),
        (Q[:-1] + "o", A, "question", "character 'o'"),
        (Q, A[:-1] + "*", "answer", "character '\\*'"),
        (Q.replace("G", " "), A, "question", "0 'G' cells"),
        (Q.replace("  #", "S #", 1), A, "question", "2 'S' cells"),
        (Q, A.replace("#", " ", 1), "answer", "walls, S and G must be kept"),
        (Q, A.replace("ooo#", "o o#"), "answer", "does not connect S to G"),
        (Q[:-1] + "é", A, "question", "non-ASCII"),
    ],
)
def test_parse_bad(q, a, field, match):
    with pytest.raises(DataFormatError, match=match) as e:
        parse_maze_rows(_rows((Q, A), (q, a)), "bad.csv")
    assert e.value.row == 3 and e.value.field == field and "bad.csv: row 3" in str(e.value)


def test_generated_csv_validates(maze8_dir):
    ((q, a),) = list(read_maze_csv(os.path.join(maze8_dir, "train.csv")))
    assert q.shape == (12, 8, 8)


def test_build_with_dihedral_aug(tmp_path, maze8_dir):
    root = build_maze_dataset(str(tmp_path / "m"), maze8_dir, aug=True, progress=False)
    tr, te = PuzzleDataset(root, "train"), PuzzleDataset(root, "test")
    m = tr.metadata
    assert (m["benchmark"], m["seq_len"], m["vocab_size"], m["num_puzzle_identifiers"]) == ("maze", 64, 6, 1)
    assert m["vocabulary"] == ["<pad>", "#", " ", "S", "G", "o"]
    assert (tr.num_groups, tr.num_puzzles, tr.num_examples) == (12, 96, 96)
    assert (te.num_groups, te.num_puzzles) == (4, 4)
    ((q, a),) = list(read_maze_csv(os.path.join(maze8_dir, "train.csv")))
    x, y = np.asarray(tr.inputs), np.asarray(tr.labels)
    for g in (0, 5):
        for t in range(8):
            assert np.array_equal(x[g * 8 + t], dihedral_transform(q[g], t).reshape(-1))
            assert np.array_equal(y[g * 8 + t], dihedral_transform(a[g], t).reshape(-1))
    assert np.all(x != 5) and set(np.unique(y)) <= {1, 2, 3, 4, 5}
    r2 = build_maze_dataset(str(tmp_path / "m2"), maze8_dir, aug=True, progress=False)
    assert (
        open(os.path.join(root, "train/inputs.npy"), "rb").read()
        == open(os.path.join(r2, "train/inputs.npy"), "rb").read()
    )
    sub = build_maze_dataset(str(tmp_path / "s"), maze8_dir, subsample_size=5, progress=False)
    assert PuzzleDataset(sub, "train").num_puzzles == 5


def test_bad_maze_leaves_no_dataset(tmp_path, maze8_dir, write_csv, no_leftovers):
    bad = write_csv(tmp_path / "test.csv", [("s", Q, A.replace("ooo#", "o o#"), 0)])
    root = str(tmp_path / "ds")
    with pytest.raises(DataFormatError, match="test.csv: row 2: field 'answer'"):
        build_maze_dataset(root, train_csv=os.path.join(maze8_dir, "train.csv"), test_csv=bad, progress=False)
    assert no_leftovers(root)
    empty = write_csv(tmp_path / "empty.csv", [])
    with pytest.raises(DataFormatError, match="no maze"):
        build_maze_dataset(root, train_csv=empty, splits=("train",), progress=False)
    assert no_leftovers(root)
