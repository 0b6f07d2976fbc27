"""Recipe: one entry of the recipe registry, a benchmark's config class and the `main` that trains it."""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Recipe:
    """A benchmark's recipe: its config class (the paper's settings, sizes, variants) and its `main`.

    Args:
        config_class: type. The `TRMConfig` subclass; its `NAME` is the recipe's name.
        main: callable. `main(argv=None, config_class=...)`: parse the command line, train, evaluate and save;
            returns the results dict.

    Example:
    >>> from keras_trm.recipes import sudoku
    >>> recipe = Recipe(sudoku.SudokuConfig, sudoku.main)
    >>> recipe.name, recipe.config_class().hidden_dim
    ('sudoku', 512)
    """

    config_class: type
    main: Callable

    @property
    def name(self):
        """The recipe's name (`config_class.NAME`)."""
        return self.config_class.NAME

    def train(self, argv=None):
        """Run the recipe on a command line (`--size`, `--variant`, `--set key=value`, `--print-config`, ...).

        Args:
            argv: list of str or None. The arguments (default None: `sys.argv[1:]`).
        """
        return self.main(argv, config_class=self.config_class)
