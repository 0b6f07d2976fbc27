import os

import numpy as np
import pytest

from keras_trm.data.dataset import PuzzleDataset
from keras_trm.data.generators import (
    SudokuSolver,
    default_min_path,
    generate_maze,
    generate_sudoku,
    main,
    make_maze_csvs,
    make_small_sudoku_csv,
    maze_signature,
    rating_summary,
    solve_maze,
    sudoku_signature,
)
from keras_trm.data.maze import read_maze_csv
from keras_trm.data.sampler import PuzzleBatches
from keras_trm.data.sudoku import augment_sudoku, build_sudoku_dataset, read_sudoku_csv, valid_solution
from keras_trm.data.transforms import dihedral_transform


@pytest.mark.parametrize("n, count", [(4, 30), (6, 15), (9, 3)])
def test_sudoku_unique_valid_and_rated(n, count):
    puzzles, sigs = generate_sudoku(n, count, seed=5)
    assert len(puzzles) == count == len(sigs)
    solver = SudokuSolver(n)
    for q, a, rating in puzzles:
        assert q.shape == (n, n) and valid_solution(a) and np.all((q == 0) | (q == a))
        c, sol, bt = solver.solve(q.reshape(-1).tolist(), limit=2)
        assert c == 1 and sol == a.reshape(-1).tolist()
        assert solver.solve(q.reshape(-1).tolist(), limit=1)[2] == rating


def test_sudoku_min_rating_and_summary():
    puzzles, _ = generate_sudoku(6, 3, seed=0, min_rating=1, max_tries=5000)
    assert all(r >= 1 for *_, r in puzzles)
    s = rating_summary([0, 0, 1, 3, 12])
    assert s["count"] == 5 and s["max"] == 12 and s["zero_share"] == 0.4
    assert s["histogram"] == {"0": 2, "1": 1, "2-4": 1, "10-19": 1}
    assert rating_summary([]) == {"count": 0}


def test_sudoku_signature_is_a_symmetry_invariant():
    puzzles, _ = generate_sudoku(9, 2, seed=1)
    rng = np.random.default_rng(0)
    for q, a, _ in puzzles:
        qa, _ = augment_sudoku(q, a, 30, rng)
        assert {sudoku_signature(g) for g in qa} == {sudoku_signature(q)}
    assert sudoku_signature(puzzles[0][0]) != sudoku_signature(puzzles[1][0])


def test_sudoku_csvs_disjoint_and_deterministic(tmp_path):
    a = make_small_sudoku_csv(str(tmp_path / "a"), n=4, train_count=60, test_count=20, seed=2)
    b = make_small_sudoku_csv(str(tmp_path / "b"), n=4, train_count=60, test_count=20, seed=2)
    for split in ("train", "test"):
        assert open(a[split]["path"], "rb").read() == open(b[split]["path"], "rb").read()
        assert a[split]["count"] == (60 if split == "train" else 20)
    ((qtr, _, _),) = list(read_sudoku_csv(a["train"]["path"]))
    ((qte, _, _),) = list(read_sudoku_csv(a["test"]["path"]))
    train_sigs = {sudoku_signature(q) for q in qtr}
    assert len(train_sigs) == 60 and not train_sigs & {sudoku_signature(q) for q in qte}
    c = make_small_sudoku_csv(str(tmp_path / "c"), n=4, train_count=60, test_count=20, seed=3)
    assert open(a["train"]["path"], "rb").read() != open(c["train"]["path"], "rb").read()


def test_generated_sudoku_to_fit_ready_batches(tmp_path, sudoku6_dir):
    root = build_sudoku_dataset(str(tmp_path / "s6"), sudoku6_dir, num_aug=3, seed=0, progress=False)
    b = PuzzleBatches(PuzzleDataset(root, "train"), 16, seed=0)
    x, y, w = b[0]
    assert x["inputs"].shape == (16, 36) and y.max() <= 7 and np.all(w == 1)


def test_maze_generator_small_and_30x30(tmp_path):
    rows, sigs = generate_maze(8, 10, seed=0)
    assert len(rows) == len(sigs) == 10
    for q, a, moves in rows:
        assert moves > default_min_path(8) and a.count("o") == moves - 1
        g = np.array(list(q)).reshape(8, 8)
        _, again = solve_maze(g)
        assert again == moves
    big, _ = generate_maze(30, 2, seed=1)
    for q, a, moves in big:
        assert len(q) == 900 and moves > 110 and 0.2 < q.count("#") / 900 < 0.55
    assert default_min_path(30) == 110


def test_maze_csvs_disjoint_deterministic_and_valid(tmp_path):
    a = make_maze_csvs(str(tmp_path / "a"), n=6, train_count=20, test_count=10, seed=0)
    b = make_maze_csvs(str(tmp_path / "b"), n=6, train_count=20, test_count=10, seed=0)
    assert open(a["test"]["path"], "rb").read() == open(b["test"]["path"], "rb").read()
    ((qtr, _),) = list(read_maze_csv(a["train"]["path"]))  # validates every row
    ((qte, _),) = list(read_maze_csv(a["test"]["path"]))
    chars = np.array(list("?# SGo"))

    def sig(g):
        return maze_signature("".join(chars[g.reshape(-1)]))

    tr = {sig(g) for g in qtr}
    assert len(tr) == 20 and not tr & {sig(g) for g in qte}
    # the signature is dihedral-invariant
    assert {sig(dihedral_transform(qtr[0], t)) for t in range(8)} == {sig(qtr[0])}


def test_cli(tmp_path, capsys):
    main(["sudoku", str(tmp_path / "s"), "--n", "4", "--train", "5", "--test", "2"])
    assert '"count": 5' in capsys.readouterr().out
    main(["maze", str(tmp_path / "m"), "--n", "6", "--train", "3", "--test", "2"])
    assert os.path.isfile(tmp_path / "m" / "test.csv")
