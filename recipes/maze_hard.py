"""Maze-Hard 30x30: TRM-Att (the paper's 85.3%). Copy this file to make your own recipe.

    python recipes/maze_hard.py --size smoke                      # 6x6 generated mazes, minutes on a CPU
    python recipes/maze_hard.py --set source=data/maze-30x30-hard-1k-csv
    python recipes/maze_hard.py --print-config                    # every setting, resolved
    keras-trm train maze --size medium                            # the same recipe, installed with the package

The settings, the data build and the evaluation are `keras_trm.recipes.maze`'s; the run is
`keras_trm.recipes.runner.run`.
"""

from dataclasses import dataclass

from keras_trm.recipes import maze


@dataclass
class Config(maze.MazeConfig):
    """The paper's Maze-Hard settings. Change a default by writing it here, e.g. `aug: bool = True` (or on the
    command line: `--set aug=true`)."""


def main(argv=None):
    """Train and evaluate; returns the results dict (also in <out_dir>/results.json)."""
    return maze.main(argv, config_class=Config)


if __name__ == "__main__":
    main()
