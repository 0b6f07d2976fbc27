"""Preset behaviour of `TRMPuzzleSolver` on top of keras-hub's `Task.from_preset` (mixed in before `Task`).

- The `PuzzleSpec` of a preset (`assets/trm/puzzle_spec.json`) is loaded with the solver (`solver.puzzle_spec`, kept
  on its backbone, which also writes it back: `TRMBackbone.save_to_preset`).
- Architecture-only presets (the paper's configurations, no weights exist for them here) load randomly initialised
  instead of failing on the missing weights file.
- A solver saved without a preprocessor still writes `preprocessor.json` when its `PuzzleSpec` names one (Sudoku,
  maze, ARC), so that every preset it writes reads raw puzzles.
- The solver's training carry is transient state: it is never saved as task weights (a preset loads into a fresh
  solver whatever batch size it was trained with).
- `save_to_preset` is atomic: the preset is written into a temporary sibling folder and renamed into place only when
  complete, so a failed save leaves no half-written preset (and an earlier preset at that path intact).
"""

import inspect
import os
import shutil

from keras_hub.src.utils.preset_utils import check_file_exists

from keras_trm.models.puzzle_preprocessor import PuzzlePreprocessor, preset_preprocessor
from keras_trm.utils.preset_utils import TASK_CONFIG_FILE, is_architecture_only, load_puzzle_spec, preset_str


class SolverPresetMixin:
    """Mixed into `TRMPuzzleSolver` (before keras-hub's `Task`)."""

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        preset = preset_str(preset)
        spec = load_puzzle_spec(preset)
        if is_architecture_only(preset, spec):
            load_weights = False
        if spec is not None and not check_file_exists(preset, TASK_CONFIG_FILE):
            # A backbone-only preset: the halting settings come from its spec.
            kwargs.setdefault("halt_max_steps", spec.halt_max_steps)
            kwargs.setdefault("halt_at_inference", spec.halt_at_inference)
        names = set(inspect.signature(cls.backbone_cls.__init__).parameters) - {"self", "kwargs", "dtype"}
        backbone_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        if backbone_kwargs and "backbone" not in kwargs:
            # keras-hub forwards only `dtype` to the backbone of a task preset; build it here with the overrides
            # (e.g. `num_puzzle_identifiers` of the dataset for an ARC configuration).
            kwargs["backbone"] = cls.backbone_cls.from_preset(
                preset, load_weights=load_weights, dtype=kwargs.get("dtype"), **backbone_kwargs
            )
            load_weights = False
        if "preprocessor" not in kwargs:  # its preprocessor.json, else its PuzzleSpec's preprocessor, else None
            kwargs["preprocessor"] = preset_preprocessor(preset)
        model = super().from_preset(preset, load_weights=load_weights, **kwargs)
        model.backbone.puzzle_spec = spec
        return model

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """keras-hub's `Task.save_to_preset`, plus the preprocessor of the solver's `PuzzleSpec` when it has none.

        Written into `<preset_dir>.tmp-<pid>` first and renamed to `preset_dir` only when complete (an existing
        preset there is replaced only then); on failure the temporary folder is removed and the error re-raised.
        """
        final = os.path.abspath(preset_str(preset_dir))
        tmp = f"{final}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            super().save_to_preset(tmp, max_shard_size=max_shard_size)
            if self.preprocessor is None:
                preprocessor = PuzzlePreprocessor.from_spec(self.puzzle_spec)
                if preprocessor is not None:
                    preprocessor.save_to_preset(tmp)
            _replace_folder(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @property
    def puzzle_spec(self):
        """The backbone's `PuzzleSpec` (vocabulary, grid shape, ...), or None."""
        return getattr(self.backbone, "puzzle_spec", None)

    def has_task_weights(self):
        # Only the carry (training state rebuilt by `fit`) lives outside the backbone.
        return False


def _replace_folder(new, final):
    """Move the complete folder `new` to `final`; an existing `final` is moved aside first, deleted after."""
    old = None
    if os.path.exists(final):
        old = f"{final}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    try:
        os.replace(new, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
