"""An official PyTorch TRM checkpoint as a keras-hub preset."""

import os


def import_official_to_preset(checkpoint, arch_config, preset_dir, spec=None, description=None, **overrides):
    """Convert an official checkpoint (`torch.save`d state dict) to a preset folder; returns the solver.

    Args:
        checkpoint: the official checkpoint file (e.g. `step_0`).
        arch_config: the official `arch` settings (dict, all_config.yaml, arch yaml or config.json), as for
            `keras_trm.import_official_checkpoint`.
        preset_dir: the folder to write (keras-hub layout plus `assets/trm/puzzle_spec.json`).
        spec: a `PuzzleSpec` (vocabulary, grid shape, ARC identifier map); default: Sudoku when the sequence is
            81 tokens with vocabulary 11, Maze for 900 / 6, ARC-AGI-1 for 900 / 12, else a generic spec.
        description: the spec's description (default names the checkpoint).
        **overrides: `TRMBackbone` / solver arguments (see `import_official_checkpoint`).

    Example:
    An official-format checkpoint of a tiny model, written here with torch (a real run's `step_N` file and its
    `all_config.yaml` are read the same way; ARC builds pass `spec=PuzzleSpec.from_dataset(root)`):

    >>> import keras, numpy as np, torch
    >>> from keras_trm import TRMBackbone
    >>> from keras_trm.convert.official import official_key_for_variables
    >>> from keras_trm.presets import validate_preset
    >>> tiny = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, num_layers=1,
    ...                    H_cycles=1, L_cycles=2, puzzle_emb_len=1)
    >>> keys = official_key_for_variables(tiny)           # e.g. "lm_head.weight"; official linears are (out, in)
    >>> def official(v):
    ...     w = keras.ops.convert_to_numpy(v)
    ...     return torch.tensor(w.T.copy() if v.path.endswith("kernel") else w)
    >>> torch.save({keys[id(v)]: official(v) for v in tiny.weights if id(v) in keys}, "step_0")
    >>> arch = {"hidden_size": 16, "num_heads": 2, "L_layers": 1, "H_cycles": 1, "L_cycles": 2, "puzzle_emb_len": 1,
    ...         "vocab_size": 6, "seq_len": 16, "halt_max_steps": 2}   # the `arch` section of all_config.yaml
    >>> solver = import_official_to_preset("step_0", arch, "trm_official_tiny")
    >>> spec = validate_preset("trm_official_tiny")       # 16 tokens, vocabulary 6: taken for 4x4 Sudoku
    >>> spec.benchmark, spec.grid_shape, spec.description, solver.halt_max_steps
    ('sudoku', [4, 4], 'Official TRM checkpoint step_0 imported with keras_trm.', 2)
    >>> loaded = TRMBackbone.from_preset("trm_official_tiny")
    >>> same = [np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    ...         for a, b in zip(loaded.weights, tiny.weights)]
    >>> len(same), all(same)                              # every weight came back, transposed back
    (11, True)
    """
    from keras_trm.convert.official import import_official_checkpoint
    from keras_trm.presets.preset_utils import save_preset
    from keras_trm.presets.puzzle_spec import PuzzleSpec

    solver = import_official_checkpoint(checkpoint, arch_config, **overrides)
    b = solver.backbone
    if spec is None:
        side = int(round(b.sequence_length**0.5))
        square = side * side == b.sequence_length
        if square and b.vocabulary_size == side + 2 and side in (4, 6, 9):
            spec = PuzzleSpec.sudoku(side)
        elif b.sequence_length == 900 and b.vocabulary_size == 6:
            spec = PuzzleSpec.maze(30)
        elif b.sequence_length == 900 and b.vocabulary_size == 12:
            spec = PuzzleSpec.arc("arc-agi-1")
        else:
            shape = [side, side] if square else [1, b.sequence_length]
            spec = PuzzleSpec("custom", [str(i) for i in range(b.vocabulary_size)], shape)
    spec.description = (
        description
        or spec.description
        or (f"Official TRM checkpoint {os.path.basename(os.fspath(checkpoint))} imported with keras_trm.")
    )
    spec.training = dict(
        spec.training or {},
        command=(f"keras_trm.presets.import_official_to_preset({os.fspath(checkpoint)!r}, ...)"),
        results=(spec.training or {}).get("results") or "as the official checkpoint",
        source="official PyTorch checkpoint",
    )
    save_preset(solver, preset_dir, spec)
    return solver
