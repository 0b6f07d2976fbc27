"""Sudoku-Extreme: TRM-MLP (the paper's best, 87.4%) and TRM-Att (74.7%). Copy this file to make your own recipe.

    python recipes/sudoku_extreme.py --size smoke                 # 4x4, a few minutes on a laptop CPU
    python recipes/sudoku_extreme.py --variant att --set source=data/sudoku-extreme-csv
    python recipes/sudoku_extreme.py --print-config               # every setting, resolved
    keras-trm train sudoku --size smoke                           # the same recipe, installed with the package

The settings, the data build and the evaluation are `keras_trm.recipes.sudoku`'s; the run is
`keras_trm.recipes.runner.run`: build the data, TRMBackbone + TRMPuzzleSolver, fit with an evaluation every interval,
a final evaluation, then <out_dir>/model.keras, task.json and results.json.
"""

from dataclasses import dataclass

from keras_trm.recipes import sudoku


@dataclass
class Config(sudoku.SudokuConfig):
    """The paper's Sudoku-Extreme settings. Change a default by writing it here, e.g. `hidden_dim: int = 256`
    (or on the command line: `--set hidden_dim=256`); add a size to `SIZES` for a setting of your own."""


def main(argv=None):
    """Train and evaluate; returns the results dict (also in <out_dir>/results.json)."""
    return sudoku.main(argv, config_class=Config)


if __name__ == "__main__":
    main()
