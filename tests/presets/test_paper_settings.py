"""The paper's hyper-parameters have one home, `keras_trm.models.trm_presets`: everything else agrees with it.

The recipe configs read their paper-size defaults from the table; the argument defaults of `TRMBackbone`,
`TRMPuzzleSolver` and `TRMPuzzleSolver.compile` are written in their signatures (keras-hub style) and must be
`DEFAULT_ARCHITECTURE`'s settings.
"""

import inspect

import pytest

from keras_trm.models import TRMBackbone, TRMPuzzleSolver
from keras_trm.models.trm_presets import ARCHITECTURES, DEFAULT_ARCHITECTURE, PAPER_SOLVER
from keras_trm.recipes import ARC2Config, ARCConfig, MazeConfig, SudokuConfig, make_config
from keras_trm.recipes.config import TRMConfig, paper_settings
from keras_trm.utils.puzzle_spec import PuzzleSpec


def _defaults(fn):
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


# Read at import: tests/conftest.py wraps `compile` during TensorFlow tests (to turn XLA off), hiding its signature.
COMPILE_DEFAULTS = _defaults(TRMPuzzleSolver.compile)


def test_backbone_defaults_are_the_default_architecture():
    defaults = _defaults(TRMBackbone.__init__)
    paper = ARCHITECTURES[DEFAULT_ARCHITECTURE]["backbone"]
    compared = set(defaults) & set(paper)
    assert compared >= {"hidden_dim", "num_heads", "num_layers", "H_cycles", "L_cycles", "puzzle_emb_len", "mlp_t"}
    assert {k: defaults[k] for k in compared} == {k: paper[k] for k in compared}


def test_solver_and_compile_defaults_are_the_default_architecture():
    assert {k: _defaults(TRMPuzzleSolver.__init__)[k] for k in PAPER_SOLVER} == PAPER_SOLVER
    compile_defaults = dict(COMPILE_DEFAULTS)
    for emb, main in (("puzzle_emb_learning_rate", "learning_rate"), ("puzzle_emb_weight_decay", "weight_decay")):
        assert compile_defaults[emb] is None  # None: the main optimiser's value
        compile_defaults[emb] = compile_defaults[main]
    training = ARCHITECTURES[DEFAULT_ARCHITECTURE]["training"]
    compared = set(compile_defaults) & set(training)
    assert compared >= {"learning_rate", "weight_decay", "warmup_steps", "lr_min_ratio", "beta_1", "beta_2"}
    assert {k: compile_defaults[k] for k in compared} == {k: training[k] for k in compared}


@pytest.mark.parametrize(
    "config, name",
    [
        (make_config(SudokuConfig), "trm_sudoku_mlp"),
        (make_config(SudokuConfig, variant="att"), "trm_sudoku_att"),
        (make_config(MazeConfig), "trm_maze_hard"),
        (make_config(ARCConfig), "trm_arc_agi_1"),
        (make_config(ARC2Config), "trm_arc_agi_2"),
        (TRMConfig(), DEFAULT_ARCHITECTURE),
    ],
)
def test_recipe_paper_sizes_are_the_paper_table(config, name):
    paper = paper_settings(name)
    fields = config.to_dict()
    shared = set(paper) & set(fields)
    assert len(shared) >= 20, sorted(shared)  # model, halting and optimisation settings, not a few
    assert {k: fields[k] for k in shared} == {k: paper[k] for k in shared}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_the_table_sizes_are_its_puzzles(name):
    arch = ARCHITECTURES[name]
    kind, side = arch["spec"]
    spec = PuzzleSpec.arc(kind) if kind.startswith("arc") else getattr(PuzzleSpec, kind)(side)
    assert (arch["backbone"]["sequence_length"], arch["backbone"]["vocabulary_size"]) == (spec.seq_len, spec.vocab_size)
    assert (spec.seq_len, spec.vocab_size) == {"sudoku": (81, 11), "maze": (900, 6)}.get(kind, (900, 12))
