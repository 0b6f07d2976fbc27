"""Preset behaviour of `TRMBackbone` and `TRMPuzzleSolver` on top of keras-hub's `from_preset` / `save_to_preset`.

- The `PuzzleSpec` of a preset (`assets/trm/puzzle_spec.json`) is loaded with the model (`model.puzzle_spec`) and
  written back by `save_to_preset`.
- Architecture-only presets (the paper's configurations, no weights exist for them here) load randomly initialised
  instead of failing on the missing weights file.
- The solver's training carry is transient state: it is never saved as task weights (a preset loads into a fresh
  solver whatever batch size it was trained with).

This module imports no model (the model modules import it).
"""

import inspect
import os


def _preset_str(preset):
    return os.fspath(preset) if isinstance(preset, os.PathLike) else preset


class BackbonePresetMixin:
    """Mixed into `TRMBackbone` (before keras-hub's `Backbone`)."""

    puzzle_spec = None

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        from keras_trm.presets.preset_utils import is_architecture_only, load_puzzle_spec

        preset = _preset_str(preset)
        spec = load_puzzle_spec(preset)
        if is_architecture_only(preset, spec):
            load_weights = False
        model = super().from_preset(preset, load_weights=load_weights, **kwargs)
        model.puzzle_spec = spec
        return model

    def save_to_preset(self, preset_dir, max_shard_size=10):
        from keras_trm.presets.preset_utils import write_spec

        preset_dir = _preset_str(preset_dir)
        super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        write_spec(self, preset_dir)
        _fix_metadata_tasks(self, preset_dir)


def _fix_metadata_tasks(backbone, preset_dir):
    """keras-hub lists a task by its first base class (here a mixin); name the TRM tasks themselves."""
    import json

    from keras_hub.src.models.task import Task
    from keras_hub.src.utils.preset_utils import METADATA_FILE, list_subclasses

    path = os.path.join(preset_dir, METADATA_FILE)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        metadata = json.load(f)
    metadata["tasks"] = sorted({t.__name__ for t in list_subclasses(Task) if t.backbone_cls is type(backbone)})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=4)


class SolverPresetMixin:
    """Mixed into `TRMPuzzleSolver` (before keras-hub's `Task`)."""

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        from keras_hub.src.utils.preset_utils import check_file_exists

        from keras_trm.presets.preset_utils import TASK_CONFIG_FILE, is_architecture_only, load_puzzle_spec

        preset = _preset_str(preset)
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
        model = super().from_preset(preset, load_weights=load_weights, **kwargs)
        model.backbone.puzzle_spec = spec
        return model

    @property
    def puzzle_spec(self):
        """The backbone's `PuzzleSpec` (vocabulary, grid shape, ...), or None."""
        return getattr(self.backbone, "puzzle_spec", None)

    def has_task_weights(self):
        # Only the carry (training state rebuilt by `fit`) lives outside the backbone.
        return False
