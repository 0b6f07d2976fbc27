import numpy as np
import pytest

from keras_trm.data.csv_sources import rating_summary
from keras_trm.data.puzzle_dataset import PuzzleDataset
from keras_trm.data.sampler import PuzzleBatches
from keras_trm.data.sudoku import augment_sudoku, build_sudoku_dataset, read_sudoku_csv, valid_solution
from keras_trm.data.sudoku_generator import generate_sudoku, make_small_sudoku_csv, sudoku_signature
from keras_trm.data.sudoku_solver import SudokuSolver


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
