import numpy as np
import pytest

from keras_trm.evaluation.grids import (
    format_grid_report,
    grid_validity,
    maze_is_valid_solution,
    maze_shortest_path_length,
    score_grid_predictions,
    sudoku_is_valid_solution,
)

SUDOKU_9 = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
# 6x6 with 2-row x 3-column boxes.
SUDOKU_6 = "123456456123231564564231312645645312"
SUDOKU_4 = "1234341221434321"


def tokens(digits):
    return np.array([int(c) + 1 for c in digits])


def blank(solution, cells):
    puzzle = solution.copy()
    puzzle[list(cells)] = 1
    return puzzle


@pytest.mark.parametrize("digits,n", [(SUDOKU_4, 4), (SUDOKU_6, 6), (SUDOKU_9, 9)])
def test_sudoku_valid_solutions(digits, n):
    solution = tokens(digits)
    puzzle = blank(solution, range(0, n * n, 2))
    assert sudoku_is_valid_solution(solution, puzzle, n)
    assert sudoku_is_valid_solution(solution.reshape(n, n), puzzle.reshape(n, n), n)


def test_sudoku_6x6_uses_two_by_three_boxes():
    # Rows and columns are permutations, but the 2x3 boxes are not (the 3x2 ones would be).
    transposed = tokens(SUDOKU_6).reshape(6, 6).T.ravel()
    grid = transposed.reshape(6, 6)
    assert all(sorted(row) == list(range(2, 8)) for row in grid)
    assert all(sorted(col) == list(range(2, 8)) for col in grid.T)
    assert not sudoku_is_valid_solution(transposed, np.ones(36, int), 6)


def test_sudoku_rule_breaks():
    solution = tokens(SUDOKU_9)
    puzzle = blank(solution, range(40))
    swapped = solution.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # row still a permutation, columns and box broken
    assert not sudoku_is_valid_solution(swapped, np.ones(81, int), 9)
    unfinished = solution.copy()
    unfinished[50] = 1
    assert not sudoku_is_valid_solution(unfinished, puzzle, 9)
    out_of_range = solution.copy()
    out_of_range[0] = 11
    assert not sudoku_is_valid_solution(out_of_range, np.ones(81, int), 9)


def test_sudoku_givens_must_be_kept():
    solution = tokens(SUDOKU_9)
    relabelled = np.where(solution == 2, 3, np.where(solution == 3, 2, solution))  # swap digits 1 and 2
    assert sudoku_is_valid_solution(relabelled, np.ones(81, int), 9)  # a valid grid on its own
    puzzle = blank(solution, range(0, 81, 3))
    assert not sudoku_is_valid_solution(relabelled, puzzle, 9)


# 5 x 6 maze, two shortest paths of 5 steps from S (1, 1) to G (3, 3) around the centre wall.
MAZE = [
    "######",
    "#S   #",
    "# #  #",
    "#  G #",
    "######",
]
CHARS = {"#": 1, " ": 2, "S": 3, "G": 4, "o": 5}


def maze(lines):
    return np.array([CHARS[c] for line in lines for c in line])


def test_maze_shortest_path_length():
    assert maze_shortest_path_length(maze(MAZE), 5, 6) == 4
    walled = maze(["######", "#S # #", "###  #", "#  G #", "######"])
    assert maze_shortest_path_length(walled, 5, 6) is None


def test_maze_accepts_any_shortest_path():
    right_then_down = maze(["######", "#Soo #", "# #o #", "#  G #", "######"])
    down_then_right = maze(["######", "#S   #", "#o#  #", "#ooG #", "######"])
    for answer in (right_then_down, down_then_right):
        assert maze_is_valid_solution(answer, maze(MAZE), 5, 6)


@pytest.mark.parametrize(
    "answer",
    [
        ["######", "#Sooo#", "# # o#", "#  Go#", "######"],  # connected but longer
        ["######", "#Soo #", "# #o #", "#o G #", "######"],  # stray path cell, too many
        ["######", "#So  #", "# #o #", "#  G #", "######"],  # too few path cells, disconnected
        ["######", "#Soo #", "# # o#", "#  G #", "######"],  # right count, not connected to G
        ["######", "#So  #", "# #  #", "#ooG #", "######"],  # right count, two pieces
        ["######", "#So  #", "# o  #", "#  G #", "######"],  # path through the wall (wall removed)
        ["######", "# oo #", "# #o #", "#  G #", "######"],  # S erased
        ["######", "#Soo #", "# #o #", "#  GS#", "######"],  # extra S in an open cell
        ["######", "#S   #", "# #  #", "#  G #", "######"],  # no path
    ],
)
def test_maze_rejects(answer):
    assert not maze_is_valid_solution(maze(answer), maze(MAZE), 5, 6)


def test_maze_adjacent_start_and_goal_and_unreachable():
    adjacent = maze(["####", "#SG#", "####"])
    assert maze_is_valid_solution(adjacent, adjacent, 3, 4)
    walled = maze(["#####", "#S#G#", "#####"])
    assert not maze_is_valid_solution(walled, walled, 3, 5)


def test_grid_validity_and_unknown_benchmark():
    solution = tokens(SUDOKU_4)
    wrong = solution.copy()
    wrong[0] = wrong[1]
    np.testing.assert_array_equal(
        grid_validity(np.stack([solution, wrong]), np.ones((2, 16), int), "sudoku", (4, 4)), [True, False]
    )
    with pytest.raises(ValueError):
        grid_validity(solution[None], solution[None], "arc-agi-1", (30, 30))


def test_score_maze_report_by_hand():
    inputs = maze(MAZE)
    label = maze(["######", "#Soo #", "# #o #", "#  G #", "######"])
    other_shortest = maze(["######", "#S   #", "#o#  #", "#ooG #", "######"])
    one_off = label.copy()
    one_off[8] = 2  # (1, 2) back to open: broken path
    preds = np.stack([label, other_shortest, one_off, np.zeros(30, int)])
    labels = np.stack([label, label, label, np.zeros(30, int)])  # last row is padding
    report = score_grid_predictions(preds, np.stack([inputs] * 3 + [np.zeros(30, int)]), labels, "maze", (5, 6))
    assert report["count"] == 3
    assert report["exact_accuracy"] == pytest.approx(1 / 3)
    # other_shortest differs from the label at 6 cells (3 path cells moved), one_off at 1 of 30.
    assert report["token_accuracy"] == pytest.approx((1 + 24 / 30 + 29 / 30) / 3)
    assert report["valid_count"] == 2
    assert report["valid_fraction"] == pytest.approx(2 / 3)
    text = format_grid_report(report)
    assert "maze 5x6: 3 puzzles" in text and "33.33%" in text and "66.67%" in text


def test_score_sudoku_ignores_masked_labels():
    solution = tokens(SUDOKU_4)
    puzzle = blank(solution, [0, 5, 10, 15])
    labels = solution.copy()
    labels[[1, 2]] = 0  # ignored positions
    pred = solution.copy()
    pred[[1, 2]] = 1  # wrong only at ignored positions: exact, but not a valid (complete) grid
    report = score_grid_predictions(pred[None], puzzle[None], labels[None], "sudoku", (4, 4))
    assert report["exact_accuracy"] == 1.0 and report["token_accuracy"] == 1.0
    assert report["valid_fraction"] == 0.0


def test_score_other_benchmark_has_no_validity():
    labels = np.array([[2, 3, 0, 0], [4, 4, 4, 4]])
    preds = np.array([[2, 2, 5, 5], [4, 4, 4, 4]])
    report = score_grid_predictions(preds, preds, labels, "custom", (2, 2))
    assert report["count"] == 2
    assert report["exact_accuracy"] == 0.5
    assert report["token_accuracy"] == pytest.approx(0.75)
    assert report["valid_fraction"] is None
    assert "valid" not in format_grid_report(report)
