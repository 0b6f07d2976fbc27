"""The trained preset shipped in the package solves held-out 4x4 Sudoku out of the box (no download)."""

import csv
import os

import numpy as np

from keras_trm import TRMPuzzleSolver
from keras_trm.data.sudoku_generator import generate_sudoku
from keras_trm.evaluation.solve import solve_sudoku
from keras_trm.models.trm_presets import ASSETS_DIR
from keras_trm.presets import SHIPPED_PRESET, load_puzzle_spec, validate_preset

# Measured when the preset was written: 98.7% of the 300 held-out puzzles (its puzzle_spec.json, training.results);
# asserted with a margin.
MIN_EXACT_ACCURACY = 0.93


def test_shipped_preset_is_complete_and_small():
    folder = os.path.join(ASSETS_DIR, SHIPPED_PRESET)
    spec = validate_preset(folder, load_weights=False)
    assert not spec.architecture_only and spec.benchmark == "sudoku" and spec.grid_shape == [4, 4]
    assert "train_shipped_preset.py" in spec.training["command"]
    assert spec.training["results"]["held_out_exact_accuracy"] >= 0.95
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
    assert size < 3 * 2**20


def test_shipped_preset_solves_held_out_sudoku_by_name():
    solver = TRMPuzzleSolver.from_preset(SHIPPED_PRESET)
    assert solver.puzzle_spec == load_puzzle_spec(SHIPPED_PRESET)
    # The held-out puzzles shipped with the preset (disjoint from its training puzzles up to symmetry).
    rows = list(csv.DictReader(open(os.path.join(ASSETS_DIR, SHIPPED_PRESET, "assets/trm/held_out_test.csv"))))
    assert len(rows) >= 100
    questions = [r["question"] for r in rows]
    answers = np.array([[int(c) for c in r["answer"]] for r in rows])
    out = solve_sudoku(solver, questions, batch_size=len(rows))
    exact = np.mean(np.all(out["grids"].reshape(len(rows), 16) == answers, axis=-1))
    assert exact >= MIN_EXACT_ACCURACY, exact
    assert np.mean(out["valid"]) >= MIN_EXACT_ACCURACY
    # Digit arrays (0 blank) give the same answers as the strings; and a generated puzzle from a fresh seed.
    digits = np.array([[0 if c == "." else int(c) for c in q] for q in questions[:8]])
    np.testing.assert_array_equal(solve_sudoku(solver, digits, batch_size=8)["grids"], out["grids"][:8])
    ((q, a, _),) = generate_sudoku(n=4, count=1, seed=12345)[0]
    one = solve_sudoku(solver, "".join(str(v) if v else "." for v in q.reshape(-1)))
    assert one["grids"].shape == (1, 4, 4) and 0.0 <= one["confidence"][0] <= 1.0
