"""Write the architecture-only preset folders shipped in `keras_trm/presets/assets/` (config files, no weights).

python -m keras_trm.presets.build_assets            # all of ARCHITECTURES
python -m keras_trm.presets.build_assets trm_maze_hard
"""

import os
import shutil
import sys

from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_presets import ARCHITECTURES, ASSETS_DIR, backbone_presets
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver
from keras_trm.utils.preset_utils import MODEL_WEIGHTS_FILE
from keras_trm.utils.puzzle_spec import PuzzleSpec


def architecture_spec(name):
    """The `PuzzleSpec` of a named architecture preset."""
    arch = ARCHITECTURES[name]
    kind, side = arch["spec"]
    if kind == "sudoku":
        spec = PuzzleSpec.sudoku(side)
    elif kind == "maze":
        spec = PuzzleSpec.maze(side)
    else:
        spec = PuzzleSpec.arc(kind)
    spec.architecture_only = True
    spec.description = backbone_presets[name]["metadata"]["description"]
    spec.halt_max_steps = arch["solver"]["halt_max_steps"]
    spec.training = {"official_settings": arch["training"], "paper_result": arch["paper_result"]}
    return spec


def build_architecture_solver(name, **overrides):
    """A randomly initialised `TRMPuzzleSolver` with the named configuration (no preset folder needed)."""
    arch = ARCHITECTURES[name]
    backbone = TRMBackbone(**dict(arch["backbone"], **overrides))
    backbone.puzzle_spec = architecture_spec(name)
    return TRMPuzzleSolver(backbone, **arch["solver"])


def write_architecture_preset(name, preset_dir):
    """Save the named configuration as a preset folder without weights (config.json, task.json, metadata, spec)."""
    solver = build_architecture_solver(name)
    if os.path.isdir(preset_dir):
        shutil.rmtree(preset_dir)
    solver.save_to_preset(preset_dir)
    os.remove(os.path.join(preset_dir, MODEL_WEIGHTS_FILE))
    return solver


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or list(ARCHITECTURES)
    for name in names:
        solver = write_architecture_preset(name, os.path.join(ASSETS_DIR, name))
        b = solver.backbone
        table = (
            0
            if b.puzzle_embedding_table is None
            else int(b.puzzle_embedding_table.shape[0]) * int(b.puzzle_embedding_table.shape[1])
        )
        print(name, "params (without the puzzle table):", b.count_params() - table)


if __name__ == "__main__":
    main()
