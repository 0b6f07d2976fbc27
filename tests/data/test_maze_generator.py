import numpy as np

from keras_trm.data.maze import MAZE_CHARSET, read_maze_csv
from keras_trm.data.maze_generator import (
    default_min_path,
    generate_maze,
    make_maze_csvs,
    maze_shortest_path,
    maze_signature,
)
from keras_trm.data.transforms import dihedral_transform


def test_maze_generator_small_and_30x30(tmp_path):
    rows, sigs = generate_maze(8, 10, seed=0)
    assert len(rows) == len(sigs) == 10
    for q, a, moves in rows:
        assert moves > default_min_path(8) and a.count("o") == moves - 1
        g = np.array(list(q)).reshape(8, 8)
        _, again = maze_shortest_path(g)
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
    chars = np.array(list("?" + MAZE_CHARSET))

    def sig(g):
        return maze_signature("".join(chars[g.reshape(-1)]))

    tr = {sig(g) for g in qtr}
    assert len(tr) == 20 and not tr & {sig(g) for g in qte}
    # the signature is dihedral-invariant
    assert {sig(dihedral_transform(qtr[0], t)) for t in range(8)} == {sig(qtr[0])}
