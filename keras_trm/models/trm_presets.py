"""TRM preset table (registered with keras-hub by `keras_trm/models/__init__.py`: `TRMBackbone.presets`).

The paper's configurations (`trm_sudoku_mlp`, `trm_sudoku_att`, `trm_maze_hard`, `trm_arc_agi_1`,
`trm_arc_agi_2`) are architecture only: no trained weights exist for them here, so loading them builds a randomly
initialised model with the paper's (official code's) settings, ready to train. `trm_sudoku_4x4` is trained (by
`recipes/train_shipped_preset.py`) and shipped inside the package: it solves 4x4 Sudoku out of the box.

Every preset is a folder under `keras_trm/presets/assets/`; its "kaggle_handle" is that local folder, so keras-hub
loads it without any download.
"""

import os

from keras_trm.data.maze import MAZE_HARD_SIDE
from keras_trm.utils.puzzle_spec import PuzzleSpec

ASSETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets", "assets")

# The paper's hyper-parameters (the official code's configurations) live here and only here. The recipe configs
# (`keras_trm.recipes`) take their paper-size defaults from `ARCHITECTURES`; the argument defaults of `TRMBackbone`,
# `TRMPuzzleSolver` and `TRMPuzzleSolver.compile` are `DEFAULT_ARCHITECTURE`'s (tests/presets/test_paper_settings.py
# checks that they agree).
PAPER_BACKBONE = dict(  # shared by every configuration
    hidden_dim=512,
    num_heads=8,
    num_layers=2,
    H_cycles=3,
    expansion=4.0,
    puzzle_emb_len=16,
    rope_theta=10000.0,
    norm_epsilon=1e-5,
    num_puzzle_identifiers=1,
)
PAPER_SOLVER = dict(halt_max_steps=16, halt_exploration_prob=0.1, no_ACT_continue=True, token_loss="stablemax")
PAPER_OPTIMIZER = dict(  # shared by every configuration (TRMPuzzleSolver.compile arguments and the batch size)
    global_batch_size=768,
    warmup_steps=2000,
    lr_min_ratio=1.0,
    beta_1=0.9,
    beta_2=0.95,
    ema_momentum=0.999,
)
DEFAULT_ARCHITECTURE = "trm_sudoku_att"  # the configuration the model's argument defaults describe


def _task(kind, side):
    """The sequence length and vocabulary size of a benchmark's puzzles (their `PuzzleSpec`)."""
    if kind in ("sudoku", "maze"):
        spec = getattr(PuzzleSpec, kind)(side)
    else:
        spec = PuzzleSpec.arc(kind)
    return dict(vocabulary_size=spec.vocab_size, sequence_length=spec.seq_len)


def _training(lr, emb_lr, wd, epochs, augmentation):
    return dict(
        PAPER_OPTIMIZER,
        learning_rate=lr,
        puzzle_emb_learning_rate=emb_lr,
        weight_decay=wd,
        puzzle_emb_weight_decay=wd,
        epochs=epochs,
        augmentation=augmentation,
    )


def _architecture(benchmark, side, L_cycles, mlp_t, pos_encodings, training, paper_result):
    """One paper configuration: the paper backbone on a benchmark's puzzles, the paper solver, its training."""
    return {
        "backbone": dict(
            PAPER_BACKBONE,
            **_task(benchmark, side),
            L_cycles=L_cycles,
            mlp_t=mlp_t,
            pos_encodings=pos_encodings,
        ),
        "solver": dict(PAPER_SOLVER),
        "spec": (benchmark, side),
        "training": dict(training),
        "paper_result": paper_result,
    }


_SUDOKU_TRAINING = _training(1e-4, 1e-4, 1.0, 50000, "1000 per puzzle")
_ARC_TRAINING = _training(1e-4, 1e-2, 0.1, 100000, "1000 variants per task")

# Architecture presets: TRMBackbone / TRMPuzzleSolver arguments, the PuzzleSpec and the official training settings.
ARCHITECTURES = {
    "trm_sudoku_mlp": _architecture(
        "sudoku", 9, 6, True, "none", _SUDOKU_TRAINING, "Sudoku-Extreme test accuracy 87.4% (paper)"
    ),
    "trm_sudoku_att": _architecture(
        "sudoku", 9, 6, False, "rope", _SUDOKU_TRAINING, "Sudoku-Extreme test accuracy 74.7% (paper)"
    ),
    "trm_maze_hard": _architecture(
        "maze",
        MAZE_HARD_SIDE,
        4,
        False,
        "rope",
        _training(1e-4, 1e-4, 1.0, 50000, "dihedral x8 (optional)"),
        "Maze-Hard 30x30 test accuracy 85.3% (paper)",
    ),
    "trm_arc_agi_1": _architecture("arc-agi-1", 30, 4, False, "rope", _ARC_TRAINING, "ARC-AGI-1 pass@2 44.6% (paper)"),
    "trm_arc_agi_2": _architecture("arc-agi-2", 30, 4, False, "rope", _ARC_TRAINING, "ARC-AGI-2 pass@2 7.8% (paper)"),
}

_ARC_NOTE = (
    " The puzzle-embedding table has 1 row here: pass num_puzzle_identifiers=<the dataset's "
    "num_puzzle_identifiers> to from_preset (one row per task variant)."
)

# Trained parameters of the network as the paper counts them: without the puzzle-embedding table and without the
# fixed H_init / L_init vectors (official configuration: 6,828,034 for Sudoku attention, 5,028,866 for Sudoku MLP).
_PARAMS = {
    "trm_sudoku_mlp": 5028866,
    "trm_sudoku_att": 6828034,
    "trm_maze_hard": 6822914,
    "trm_arc_agi_1": 6829058,
    "trm_arc_agi_2": 6829058,
    "trm_sudoku_4x4": 57794,
}


def _description(name):
    a = ARCHITECTURES[name]
    b = a["backbone"]
    kind = "TRM-MLP (sequence SwiGLU, no positions)" if b["mlp_t"] else "TRM-Att (attention, RoPE)"
    text = (
        f"Architecture only (no trained weights; loads randomly initialised): {kind}, D {b['hidden_dim']}, "
        f"{b['num_layers']} layers, T={b['H_cycles']}, n={b['L_cycles']}, N_sup {a['solver']['halt_max_steps']}, "
        f"the official {a['spec'][0]} configuration. {a['paper_result']}."
    )
    return text + (_ARC_NOTE if a["spec"][0].startswith("arc") else "")


backbone_presets = {
    name: {
        "metadata": {
            "description": _description(name),
            "params": _PARAMS[name],
            "path": "trm",
            "trained": False,
            "benchmark": ARCHITECTURES[name]["spec"][0],
        },
        "kaggle_handle": os.path.join(ASSETS_DIR, name),
    }
    for name in ARCHITECTURES
}
backbone_presets["trm_sudoku_4x4"] = {
    "metadata": {
        "description": (
            "Trained here (recipes/train_shipped_preset.py, JAX on CPU) on generated 4x4 Sudoku; solves 4x4 Sudoku "
            "out of the box. Command and held-out accuracy in assets/trm/puzzle_spec.json (training)."
        ),
        "params": _PARAMS["trm_sudoku_4x4"],
        "path": "trm",
        "trained": True,
        "benchmark": "sudoku",
    },
    "kaggle_handle": os.path.join(ASSETS_DIR, "trm_sudoku_4x4"),
}

SHIPPED_PRESET = "trm_sudoku_4x4"
