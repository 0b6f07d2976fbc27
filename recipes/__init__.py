"""Training recipes: one file per benchmark, each a config object with the paper's defaults and a `main(argv)`."""

RECIPES = {
    "sudoku": "recipes.sudoku_extreme",
    "maze": "recipes.maze_hard",
    "arc-agi-1": "recipes.arc_agi_1",
    "arc-agi-2": "recipes.arc_agi_2",
}
