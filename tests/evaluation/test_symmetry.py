"""Test-time augmentation: puzzle views keep the rules, map back exactly, and augmented rollouts are deterministic."""

import numpy as np
import pytest

from keras_trm.data.sudoku import valid_solution
from keras_trm.evaluation.solve import run_solver, solve_sudoku
from keras_trm.evaluation.stepwise import run_stepwise
from keras_trm.evaluation.symmetry import logits_to_original, random_view, to_original
from keras_trm.presets import SHIPPED_PRESET

SUDOKU_4 = np.array([[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]])
SUDOKU_6 = np.array(  # boxes of 2 rows x 3 columns
    [[1, 2, 3, 4, 5, 6], [4, 5, 6, 1, 2, 3], [2, 3, 1, 5, 6, 4], [5, 6, 4, 2, 3, 1], [3, 1, 2, 6, 4, 5],
     [6, 4, 5, 3, 1, 2]]
)  # fmt: skip


@pytest.mark.parametrize("solution", [SUDOKU_4, SUDOKU_6], ids=["4x4", "6x6"])
def test_a_sudoku_view_of_a_solution_is_a_solution_and_maps_back(solution):
    n = len(solution)
    assert valid_solution(solution)
    tokens = solution.reshape(-1) + 1  # digit d -> token d + 1
    seen = set()
    for seed in range(20):
        perm, token_map = random_view("sudoku", n * n, n + 2, np.random.default_rng(seed))
        assert sorted(perm) == list(range(n * n)) and token_map[0] == 0 and token_map[1] == 1
        view = token_map[tokens[perm]]
        assert valid_solution((view - 1).reshape(n, n)), seed  # the rules hold in the view
        np.testing.assert_array_equal(to_original(view, perm, token_map), tokens)
        seen.add(view.tobytes())
    assert len(seen) > 10  # the views differ


def test_a_maze_view_is_a_rotation_or_reflection_and_maps_back():
    grid = np.arange(36).reshape(6, 6)  # every cell its own token, so that the 8 views differ
    tokens = grid.reshape(-1)
    views = set()
    for seed in range(30):
        perm, token_map = random_view("maze", 36, 36, np.random.default_rng(seed))
        np.testing.assert_array_equal(token_map, np.arange(36))  # maze cells keep their meaning
        view = tokens[perm].reshape(6, 6)
        dihedral = [np.rot90(grid, k) for k in range(4)] + [np.rot90(grid, k).T for k in range(4)]
        assert any(np.array_equal(view, d) for d in dihedral)
        np.testing.assert_array_equal(to_original(view.reshape(-1), perm, token_map), tokens)
        views.add(view.tobytes())
    assert len(views) == 8


def test_logits_map_back_with_their_argmax():
    rng = np.random.default_rng(0)
    perm, token_map = random_view("sudoku", 16, 6, rng)
    logits = rng.normal(size=(16, 6))
    back = logits_to_original(logits, perm, token_map)
    np.testing.assert_array_equal(back.argmax(-1), to_original(logits.argmax(-1), perm, token_map))


def test_unknown_symmetries_are_refused():
    with pytest.raises(ValueError, match="arc"):
        random_view("arc", 16, 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="augment"):
        run_stepwise(None, np.ones((1, 16), "int32"), augment="arc")


def test_augmented_rollouts_are_deterministic_and_solve_with_the_shipped_preset():
    from keras_trm import TRMPuzzleSolver

    solver = TRMPuzzleSolver.from_preset(SHIPPED_PRESET)
    rng = np.random.default_rng(0)  # three puzzles with a solution: SUDOKU_4 with 7 of its 16 digits given
    puzzles = ["".join(str(d) if keep else "." for d, keep in zip(SUDOKU_4.reshape(-1), rng.permutation(16) < 7))
               for _ in range(3)]  # fmt: skip
    x, _ = solver.preprocessor.encode(puzzles)
    plain = run_solver(solver, x, halt=False)
    one = run_solver(solver, x, halt=False, rollouts=1, augment="sudoku")
    np.testing.assert_array_equal(one["tokens"], plain["tokens"])  # rollout 0 sees the puzzle itself
    a = run_stepwise(solver, x, rollouts=4, seed=2, batch_size=3, augment="sudoku")
    b = run_stepwise(solver, x, rollouts=4, seed=2, batch_size=16, augment="sudoku")
    for key in ("tokens", "votes", "steps"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)
    np.testing.assert_array_equal(a["logits"].argmax(-1), a["tokens"])  # logits mapped back with the answer
    out = solve_sudoku(solver, puzzles, rollouts=4, augment=True)
    assert out["valid"].all(), out["strings"]
