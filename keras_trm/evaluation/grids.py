"""Sudoku and Maze scoring in numpy: exact and token accuracy, and rule validity.

Tokens follow the dataset conventions: 0 is padding / the ignored label; Sudoku cells hold value + 1 (blank 1,
digits 2..n+1); Maze cells hold 1 '#' wall, 2 ' ' open, 3 'S' start, 4 'G' goal, 5 'o' path. Grids are flattened
row-major.

Example:
    >>> import numpy as np
    >>> from keras_trm.evaluation.grids import score_grid_predictions, format_grid_report
    >>> solution = np.array([1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]) + 1
    >>> puzzle = solution.copy(); puzzle[[0, 5, 10, 15]] = 1
    >>> report = score_grid_predictions(solution[None], puzzle[None], solution[None], "sudoku", (4, 4))
    >>> report["exact_accuracy"], report["valid_fraction"]
    (1.0, 1.0)
    >>> print(format_grid_report(report).splitlines()[0])
    sudoku 4x4: 1 puzzles
"""

from collections import deque

import numpy as np

from keras_trm.data.format import IGNORE_LABEL_ID, PAD_ID
from keras_trm.data.maze import MAZE_CHARSET
from keras_trm.data.sudoku import box_shape

SUDOKU_BLANK = 1  # token of a blank cell (value 0 + 1)
MAZE_WALL, MAZE_OPEN, MAZE_START, MAZE_GOAL, MAZE_PATH = range(1, len(MAZE_CHARSET) + 1)  # '#', ' ', 'S', 'G', 'o'


def sudoku_is_valid_solution(pred_tokens, input_tokens, n):
    """Whether `pred_tokens` is a complete Sudoku solution that keeps the givens of `input_tokens`.

    Every row, column and box must be a permutation of the digits 1..n (tokens 2..n+1), and every given
    (input token >= 2) must be unchanged.

    Example:
        >>> import numpy as np
        >>> grid = np.array([1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]) + 1
        >>> sudoku_is_valid_solution(grid, np.ones(16, int), 4)
        True
    """
    br, bc = box_shape(n)
    pred = np.asarray(pred_tokens).reshape(n, n).astype(np.int64)
    givens = np.asarray(input_tokens).reshape(n, n).astype(np.int64)
    kept = givens > SUDOKU_BLANK
    if not np.array_equal(pred[kept], givens[kept]):
        return False
    digits = np.arange(2, n + 2)
    boxes = pred.reshape(n // br, br, n // bc, bc).transpose(0, 2, 1, 3).reshape(n, n)
    for groups in (pred, pred.T, boxes):
        if not np.array_equal(np.sort(groups, axis=1), np.broadcast_to(digits, (n, n))):
            return False
    return True


def maze_shortest_path_length(input_tokens, rows, cols):
    """Number of steps of the shortest 4-connected path from S to G avoiding walls, or None when unreachable."""
    grid = np.asarray(input_tokens).reshape(rows, cols)
    starts, goals = np.argwhere(grid == MAZE_START), np.argwhere(grid == MAZE_GOAL)
    if len(starts) != 1 or len(goals) != 1:
        return None
    passable = (grid != MAZE_WALL) & (grid != PAD_ID)
    return _bfs_distance(passable, tuple(starts[0]), tuple(goals[0]))


def _bfs_distance(passable, start, goal):
    rows, cols = passable.shape
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == goal:
            return dist[(r, c)]
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < rows and 0 <= nc < cols and passable[nr, nc] and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    return None


def maze_is_valid_solution(pred_tokens, input_tokens, rows, cols):
    """Whether `pred_tokens` marks a shortest S-to-G path in the maze `input_tokens`.

    Walls, S and G must be kept; every other cell of the input must become open (2) or path (5); the path cells
    must connect S to G (4-connected) and number exactly shortest_length - 1, which makes them one shortest path
    with no stray cells (any shortest path is accepted, not only the label's).

    Example:
        >>> import numpy as np
        >>> maze = np.array([3, 2, 2, 1, 1, 4])          # S . . / # # G  (2 x 3)
        >>> maze_is_valid_solution(np.array([3, 5, 5, 1, 1, 4]), maze, 2, 3)
        True
    """
    pred = np.asarray(pred_tokens).reshape(rows, cols)
    grid = np.asarray(input_tokens).reshape(rows, cols)
    fixed = np.isin(grid, (MAZE_WALL, MAZE_START, MAZE_GOAL))
    if not np.array_equal(pred[fixed], grid[fixed]):
        return False
    if not np.all(np.isin(pred[~fixed], (MAZE_OPEN, MAZE_PATH))):
        return False
    shortest = maze_shortest_path_length(grid, rows, cols)
    if shortest is None or int((pred == MAZE_PATH).sum()) != shortest - 1:
        return False
    start = tuple(np.argwhere(grid == MAZE_START)[0])
    goal = tuple(np.argwhere(grid == MAZE_GOAL)[0])
    on_path = (pred == MAZE_PATH) | (pred == MAZE_START) | (pred == MAZE_GOAL)
    return _bfs_distance(on_path, start, goal) is not None


def grid_validity(preds, inputs, benchmark, grid_shape):
    """Validity of each row of `preds` (N, L) against `inputs` (N, L) as a bool array (N,)."""
    rows, cols = grid_shape
    preds, inputs = np.asarray(preds), np.asarray(inputs)
    if benchmark == "sudoku":
        if rows != cols:
            raise ValueError(f"A Sudoku grid is square, got {grid_shape}.")
        check = lambda p, i: sudoku_is_valid_solution(p, i, rows)  # noqa: E731
    elif benchmark == "maze":
        check = lambda p, i: maze_is_valid_solution(p, i, rows, cols)  # noqa: E731
    else:
        raise ValueError(f"Validity is defined for 'sudoku' and 'maze', not {benchmark!r}.")
    return np.array([check(p, i) for p, i in zip(preds, inputs)], dtype=bool)


def score_grid_predictions(preds, inputs, labels, benchmark, grid_shape):
    """Score token predictions (N, L) against labels (N, L) over a whole test set.

    Rows without any valid label (padding rows) are left out. Returns a dict with `benchmark`, `grid_shape`,
    `count` (rows scored), `exact_accuracy` (whole row right over its valid labels), `token_accuracy` (per-row
    mean over valid labels, averaged over rows: the official definition), `valid_count` and `valid_fraction`
    (answers obeying the puzzle's rules, see `grid_validity`; None for other benchmarks).
    """
    preds, inputs, labels = (np.asarray(a).reshape(len(a), -1) for a in (preds, inputs, labels))
    mask = labels != IGNORE_LABEL_ID
    keep = mask.any(axis=1)
    preds, inputs, labels, mask = preds[keep], inputs[keep], labels[keep], mask[keep]
    count = int(keep.sum())
    correct = (preds == labels) & mask
    per_row = correct.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    exact = (correct | ~mask).all(axis=1)
    report = {
        "benchmark": benchmark,
        "grid_shape": tuple(int(s) for s in grid_shape),
        "count": count,
        "exact_accuracy": float(exact.mean()) if count else 0.0,
        "token_accuracy": float(per_row.mean()) if count else 0.0,
        "valid_count": None,
        "valid_fraction": None,
    }
    if benchmark in ("sudoku", "maze"):
        valid = grid_validity(preds, inputs, benchmark, grid_shape)
        report["valid_count"] = int(valid.sum())
        report["valid_fraction"] = float(valid.mean()) if count else 0.0
    return report


def format_grid_report(report):
    """A few readable lines for a report from `score_grid_predictions`."""
    rows, cols = report["grid_shape"]
    lines = [
        f"{report['benchmark']} {rows}x{cols}: {report['count']} puzzles",
        f"  exact accuracy  {100 * report['exact_accuracy']:7.2f}%",
        f"  token accuracy  {100 * report['token_accuracy']:7.2f}%",
    ]
    if report.get("valid_fraction") is not None:
        lines.append(f"  valid answers   {100 * report['valid_fraction']:7.2f}%  ({report['valid_count']})")
    return "\n".join(lines)


def print_grid_report(report):
    """Print `format_grid_report(report)`."""
    print(format_grid_report(report))
