"""Training recipes: one per benchmark, each a config object with the paper's settings and a `main(argv)`.

This registry is the one list of benchmarks (`keras-trm train <name>` reads it). The modules, one job each:

- `config`: `TRMConfig`, the settings every recipe shares, and how sizes, variants and overrides resolve;
- `schedule`: how many optimizer steps and evaluations (the official trainer's counts);
- `runner`: data -> model -> fit with evaluation -> final evaluation -> <out_dir>/model.keras, results.json;
- `evaluate`, `periodic_evaluation`, `arc_evaluation`: scoring a run's model, during and after training;
- `sudoku`, `maze`, `arc`: the benchmarks' configs (`SIZES`, `VARIANTS`), `build_data` and `main`.

The top-level `recipes/` folder of a source checkout holds one short copyable script per benchmark built on these.

Example:
>>> sorted(RECIPES), sorted(ALIASES)
(['arc-agi-1', 'arc-agi-2', 'maze', 'sudoku'], ['maze-hard', 'sudoku-extreme'])
>>> get_recipe("sudoku-extreme").config_class.__name__
'SudokuConfig'
"""

from keras_trm.recipes import arc, maze, sudoku
from keras_trm.recipes.arc import ARC2Config, ARCConfig
from keras_trm.recipes.arc_evaluation import ARCRunEvaluation
from keras_trm.recipes.command_line import parse_config
from keras_trm.recipes.config import TRMConfig, make_config
from keras_trm.recipes.evaluate import evaluate_grid_split, evaluate_grids, format_report, predict_batches
from keras_trm.recipes.maze import MazeConfig
from keras_trm.recipes.periodic_evaluation import PeriodicEvaluation
from keras_trm.recipes.recipe import Recipe
from keras_trm.recipes.runner import build_solver, compile_solver, recipe_main, run, save_model
from keras_trm.recipes.schedule import official_schedule, schedule, train_group_passes
from keras_trm.recipes.sudoku import SudokuConfig

RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(SudokuConfig, sudoku.main),
        Recipe(MazeConfig, maze.main),
        Recipe(ARCConfig, arc.main),
        Recipe(ARC2Config, arc.main),
    )
}
"""The benchmarks by name: the one list `keras-trm train` offers."""

ALIASES = {"sudoku-extreme": "sudoku", "maze-hard": "maze"}
"""Other names `keras-trm train` accepts: the benchmarks' full names."""


def recipe_names():
    """Every name `get_recipe` accepts: the recipes' names and their aliases, sorted."""
    return sorted([*RECIPES, *ALIASES])


def get_recipe(name):
    """The `Recipe` called `name` (a key of `RECIPES` or of `ALIASES`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    recipe = RECIPES.get(ALIASES.get(name, name))
    if recipe is None:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(recipe_names())}")
    return recipe


__all__ = [
    "ALIASES",
    "ARC2Config",
    "ARCConfig",
    "ARCRunEvaluation",
    "MazeConfig",
    "PeriodicEvaluation",
    "RECIPES",
    "Recipe",
    "SudokuConfig",
    "TRMConfig",
    "build_solver",
    "compile_solver",
    "evaluate_grid_split",
    "evaluate_grids",
    "format_report",
    "get_recipe",
    "make_config",
    "official_schedule",
    "parse_config",
    "predict_batches",
    "recipe_main",
    "recipe_names",
    "run",
    "save_model",
    "schedule",
    "train_group_passes",
]
