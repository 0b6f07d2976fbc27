"""Pictures of puzzles, answers and their evolution over the supervision steps (Pillow, no matplotlib).

Example:
    >>> import numpy as np
    >>> from keras_trm.visualize import render_maze, save_png
    >>> picture = render_maze(np.array([3, 5, 5, 1, 1, 4]), 2, 3)
    >>> picture.shape, str(picture.dtype)
    ((25, 37, 3), 'uint8')
    >>> save_png(picture, "pictures/maze.png").stat().st_size > 0
    True
"""

from keras_trm.visualize.render import (
    ARC_PALETTE,
    MAZE_COLOURS,
    render_arc_grid,
    render_arc_tokens,
    render_evolution,
    render_maze,
    render_puzzle_row,
    render_sudoku,
    render_tokens,
    save_png,
    stack_rows,
)

__all__ = [
    "ARC_PALETTE",
    "MAZE_COLOURS",
    "render_arc_grid",
    "render_arc_tokens",
    "render_evolution",
    "render_maze",
    "render_puzzle_row",
    "render_sudoku",
    "render_tokens",
    "save_png",
    "stack_rows",
]
