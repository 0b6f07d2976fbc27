"""Fixtures of the data tests: small generated CSVs (made once per session, no network)."""

import os

import pytest

from keras_trm.data.maze_generator import make_small_maze_csv
from keras_trm.data.sudoku_generator import make_small_sudoku_csv


@pytest.fixture(scope="session")
def sudoku4_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sudoku4")
    make_small_sudoku_csv(str(d), n=4, train_count=40, test_count=10, seed=0)
    return str(d)


@pytest.fixture(scope="session")
def sudoku6_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sudoku6")
    make_small_sudoku_csv(str(d), n=6, train_count=20, test_count=5, seed=1)
    return str(d)


@pytest.fixture(scope="session")
def maze8_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("maze8")
    make_small_maze_csv(str(d), n=8, train_count=12, test_count=4, seed=0)
    return str(d)


def _write_csv(path, rows, header="source,question,answer,rating"):
    """Write raw CSV lines (rows: list of str or tuples)."""
    with open(path, "w", newline="") as f:
        f.write(header + "\n")
        for r in rows:
            f.write((r if isinstance(r, str) else ",".join(str(v) for v in r)) + "\n")
    return str(path)


def _no_leftovers(root):
    """Nothing of a failed build remains: neither the root nor a temporary folder."""
    parent, name = os.path.split(os.path.abspath(root))
    return not os.path.exists(root) and not [f for f in os.listdir(parent) if f.startswith(name + ".tmp-")]


@pytest.fixture
def write_csv():
    return _write_csv


@pytest.fixture
def no_leftovers():
    return _no_leftovers
