"""Import a checkpoint of the official PyTorch TRM (SamsungSAILMontreal/TinyRecursiveModels).

The official file is a `torch.save`d state dict whose keys look like
`_orig_mod.model.inner.L_level.layers.0.self_attn.qkv_proj.weight`; linear weights are stored (out, in) and Keras
kernels are (in, out). Reading the file needs torch (imported only then), whatever the Keras backend; the model's
computation never depends on the backend outside `keras_trm/backend/` (docs/architecture.md).
"""

import json
import os

import numpy as np

from keras_trm.data.puzzle_dataset import read_metadata
from keras_trm.models.trm_backbone import TRMBackbone
from keras_trm.models.trm_presets import PAPER_SOLVER
from keras_trm.models.trm_puzzle_solver import TRMPuzzleSolver
from keras_trm.utils.preset_utils import save_preset
from keras_trm.utils.puzzle_spec import PuzzleSpec

_PREFIXES = ("_orig_mod.", "model.", "inner.")


def load_official_state_dict(path):
    """Read an official checkpoint into {key without prefixes: float32 numpy array}."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is in every supported install
        raise ImportError("Reading an official checkpoint needs PyTorch: pip install 'keras-trm[torch]'.") from e
    if not os.path.exists(path):
        raise FileNotFoundError(f"Official checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable torch.save'd state dict ({e}).") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}.")
    weights = {}
    for key, value in state.items():
        short = key
        for prefix in _PREFIXES:
            if short.startswith(prefix):
                short = short[len(prefix) :]
        if hasattr(value, "detach"):
            value = value.detach().to(torch.float32).cpu().numpy()
        weights[short] = np.asarray(value, dtype=np.float32)
    return weights


def load_official_arch_config(arch_config):
    """The official `arch` settings from a dict, a config.json, an arch yaml or a run's all_config.yaml."""
    if isinstance(arch_config, dict):
        config = dict(arch_config)
    else:
        path = os.fspath(arch_config)
        with open(path) as f:
            if path.endswith((".yaml", ".yml")):
                import yaml

                config = yaml.safe_load(f)
            else:
                config = json.load(f)
        if not isinstance(config, dict):
            raise ValueError(f"{path}: expected a mapping of architecture settings.")
    if "arch" in config and isinstance(config["arch"], dict):  # a whole all_config.yaml
        config = dict(config["arch"])
    return config


def _official_token_loss(config):
    """`TRMPuzzleSolver`'s `token_loss` from the official arch settings (their `loss.loss_type`)."""
    loss = config.get("loss") or {}
    loss_type = loss.get("loss_type", "stablemax_cross_entropy") if isinstance(loss, dict) else str(loss)
    return "softmax" if "softmax" in loss_type else "stablemax"


def backbone_kwargs_from_official(config, weights=None, **overrides):
    """`TRMBackbone` arguments from official arch settings; sizes missing from them are read off `weights`."""
    weights = weights or {}
    hidden = int(config["hidden_size"])
    emb_ndim = int(config.get("puzzle_emb_ndim", hidden))
    emb_len = int(config.get("puzzle_emb_len", 16))
    P = emb_len if emb_len else -(emb_ndim // -hidden)
    mlp_t = bool(config.get("mlp_t", False))
    pos = config.get("pos_encodings", "rope")
    if int(config.get("H_layers", 0)):
        raise ValueError("H_layers > 0 (an HRM-style second module) is not part of TRM and is not supported.")

    vocab = config.get("vocab_size")
    if vocab is None and "embed_tokens.embedding_weight" in weights:
        vocab = weights["embed_tokens.embedding_weight"].shape[0]
    ids = config.get("num_puzzle_identifiers")
    if ids is None and "puzzle_emb.weights" in weights:
        ids = weights["puzzle_emb.weights"].shape[0]
    seq_len = config.get("seq_len")
    if seq_len is None and "embed_pos.embedding_weight" in weights:
        seq_len = weights["embed_pos.embedding_weight"].shape[0] - P
    if seq_len is None and "L_level.layers.0.mlp_t.down_proj.weight" in weights:
        seq_len = weights["L_level.layers.0.mlp_t.down_proj.weight"].shape[0] - P
    kwargs = dict(
        vocabulary_size=vocab,
        sequence_length=seq_len,
        hidden_dim=hidden,
        num_heads=int(config.get("num_heads", 8)),
        num_layers=int(config.get("L_layers", 2)),
        H_cycles=int(config["H_cycles"]),
        L_cycles=int(config["L_cycles"]),
        expansion=float(config.get("expansion", 4)),
        mlp_t=mlp_t,
        pos_encodings=pos,
        num_puzzle_identifiers=ids if ids is not None else 1,
        puzzle_emb_ndim=emb_ndim,
        puzzle_emb_len=emb_len,
        rope_theta=float(config.get("rope_theta", 10000.0)),
        norm_epsilon=float(config.get("rms_norm_eps", 1e-5)),
    )
    kwargs.update(overrides)
    for name in ("vocabulary_size", "sequence_length"):
        if kwargs[name] is None:
            raise ValueError(
                f"The official settings do not give `{name}` and the checkpoint does not determine it: pass "
                f"{name}=... (seq_len and vocab_size come from the official dataset's metadata)."
            )
    return kwargs


def _weight_map(backbone):
    """{official key: (keras variable, transpose?)} for a TRMBackbone."""
    mapping = {
        "embed_tokens.embedding_weight": (backbone.input_embedding.token_embedding.embeddings, False),
        "lm_head.weight": (backbone.lm_head.kernel, True),
        "q_head.weight": (backbone.q_head.kernel, True),
        "q_head.bias": (backbone.q_head.bias, False),
        "H_init": (backbone.recursion.H_init, False),
        "L_init": (backbone.recursion.L_init, False),
    }
    if backbone.puzzle_embedding is not None:
        mapping["puzzle_emb.weights"] = (backbone.puzzle_embedding.embeddings, False)
    if backbone.pos_encodings == "learned":
        mapping["embed_pos.embedding_weight"] = (backbone.input_embedding.position_embeddings, False)
    for i, block in enumerate(backbone.recursion.reasoning_module.blocks):
        prefix = f"L_level.layers.{i}."
        if block.mlp_t:
            mapping[prefix + "mlp_t.gate_up_proj.weight"] = (block.token_mixer.gate_up.kernel, True)
            mapping[prefix + "mlp_t.down_proj.weight"] = (block.token_mixer.down.kernel, True)
        else:
            mapping[prefix + "self_attn.qkv_proj.weight"] = (block.token_mixer.qkv.kernel, True)
            mapping[prefix + "self_attn.o_proj.weight"] = (block.token_mixer.out.kernel, True)
        mapping[prefix + "mlp.gate_up_proj.weight"] = (block.mlp.gate_up.kernel, True)
        mapping[prefix + "mlp.down_proj.weight"] = (block.mlp.down.kernel, True)
    return mapping


def official_key_for_variables(backbone):
    """{id(keras variable): official key}, e.g. to compare gradients with official ones by name."""
    return {id(var): key for key, (var, _) in _weight_map(backbone).items()}


def load_official_weights(backbone, weights, source="checkpoint"):
    """Copy official weights into a built TRMBackbone, checking every key and shape first."""
    mapping = _weight_map(backbone)
    missing = sorted(set(mapping) - set(weights))
    if missing:
        var, transform = mapping[missing[0]]
        raise ValueError(
            f"{source}: missing key {missing[0]!r} (the model expects shape {_official_shape(var, transform)})"
            + (f" and {len(missing) - 1} more: {missing[1:]}" if len(missing) > 1 else "")
        )
    unexpected = sorted(set(weights) - set(mapping))
    if unexpected:
        raise ValueError(
            f"{source}: unexpected key {unexpected[0]!r} with shape {tuple(weights[unexpected[0]].shape)} "
            f"(not part of this architecture)" + (f"; also {unexpected[1:]}" if len(unexpected) > 1 else "")
        )
    values = []
    for key, (var, transpose) in mapping.items():
        expected = _official_shape(var, transpose)
        value = weights[key]
        if tuple(value.shape) != expected:
            raise ValueError(
                f"{source}: key {key!r} has shape {tuple(value.shape)} in the checkpoint but the model expects "
                f"{expected}."
            )
        values.append((var, value.T if transpose else value))
    for var, value in values:  # assign only once everything checked out
        var.assign(value.astype(var.dtype) if hasattr(value, "astype") else value)


def _official_shape(var, transpose):
    shape = tuple(int(s) for s in var.shape)
    return shape[::-1] if transpose else shape


def import_official_checkpoint(path, arch_config, dataset=None, **overrides):
    """Build a `TRMPuzzleSolver` carrying the weights of an official checkpoint.

    Args:
        path: the `torch.save`d state dict (keys with or without the `_orig_mod.` and `model.` prefixes).
        arch_config: the official `arch` settings: a dict with the keys of an official run's all_config.yaml `arch`
            section (`hidden_size`, `H_cycles`, `L_cycles`, `pos_encodings`, `mlp_t`, ...), or the path of that
            yaml file, or of a config.json with those keys.
        dataset: optional root of the build the checkpoint was trained on (for ARC: `build_arc_dataset`, which
            numbers the puzzles as the official builder does, so row k of the checkpoint's puzzle table is the
            trained embedding of identifier k). Gives `sequence_length` and `vocabulary_size`, must have as many
            identifiers as the table has rows, and becomes the solver's `puzzle_spec` (its identifier table:
            `solve_arc` then runs a task of the build with that task's trained variants).
        **overrides: `TRMBackbone` arguments to set (e.g. `sequence_length` when the settings do not give `seq_len`
            and the checkpoint cannot tell it), and solver arguments `halt_max_steps`, `halt_exploration_prob`,
            `no_ACT_continue`, `token_loss` (default: the settings' `loss.loss_type`).

    Returns:
        A `TRMPuzzleSolver`; `solver.predict({"inputs", "puzzle_identifiers"})` gives `logits` (B, L, V) and
        `q_halt_logits` (B,) after `halt_max_steps` supervision steps.

    Example:
    An official-format checkpoint of a tiny model, written here with torch (keys as an official run saves them,
    linear weights (out, in)); a real run's `step_N` file and its `all_config.yaml` are read the same way:

    >>> import json, keras, numpy as np, torch
    >>> from keras_trm import TRMBackbone
    >>> tiny = TRMBackbone(vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, num_layers=1,
    ...                    H_cycles=1, L_cycles=2, puzzle_emb_len=1)
    >>> keys = official_key_for_variables(tiny)
    >>> def official(v):
    ...     w = keras.ops.convert_to_numpy(v)
    ...     return torch.tensor(w.T.copy() if v.path.endswith("kernel") else w)
    >>> torch.save({"_orig_mod.model.inner." + keys[id(v)]: official(v) for v in tiny.weights if id(v) in keys},
    ...            "step_0")
    >>> sorted(load_official_state_dict("step_0"))[:3]  # prefixes dropped
    ['H_init', 'L_init', 'L_level.layers.0.mlp.down_proj.weight']
    >>> tuple(load_official_state_dict("step_0")["lm_head.weight"].shape)  # (vocabulary, hidden): (out, in)
    (6, 16)
    >>> with open("config.json", "w") as f:             # the `arch` section of the run's all_config.yaml
    ...     json.dump({"hidden_size": 16, "num_heads": 2, "L_layers": 1, "H_cycles": 1, "L_cycles": 2,
    ...                "puzzle_emb_len": 1, "vocab_size": 6, "seq_len": 16, "halt_max_steps": 2}, f)
    >>> solver = import_official_checkpoint("step_0", "config.json")
    >>> solver.halt_max_steps, solver.token_loss, solver.backbone.sequence_length
    (2, 'stablemax', 16)
    >>> kernel = solver.backbone.lm_head.kernel
    >>> tuple(kernel.shape), bool(np.array_equal(keras.ops.convert_to_numpy(kernel),
    ...                                          keras.ops.convert_to_numpy(tiny.lm_head.kernel)))
    ((16, 6), True)
    >>> x = {"inputs": np.ones((2, 16), "int32"), "puzzle_identifiers": np.zeros((2,), "int32")}
    >>> out = solver.predict(x, batch_size=2, verbose=0)
    >>> tuple(out["logits"].shape), tuple(out["q_halt_logits"].shape)
    ((2, 16, 6), (2,))
    """
    config = load_official_arch_config(arch_config)
    weights = load_official_state_dict(path)
    if dataset is not None:
        meta = _check_dataset_matches(dataset, weights, path)
        overrides.setdefault("sequence_length", int(meta["seq_len"]))
        overrides.setdefault("vocabulary_size", int(meta["vocab_size"]))
    solver_keys = ("halt_max_steps", "halt_exploration_prob", "token_loss", "no_ACT_continue")
    solver_kwargs = {k: overrides.pop(k) for k in solver_keys if k in overrides}
    backbone = TRMBackbone(**backbone_kwargs_from_official(config, weights, **overrides))
    load_official_weights(backbone, weights, source=os.fspath(path))
    solver = TRMPuzzleSolver(
        backbone,
        **{  # the override, else the official settings, else the official code's defaults
            key: type(default)(solver_kwargs.get(key, config.get(key, default)))
            for key, default in PAPER_SOLVER.items()
            if key != "token_loss"
        },
        token_loss=solver_kwargs.get("token_loss", _official_token_loss(config)),
    )
    if dataset is not None:
        solver.backbone.puzzle_spec = PuzzleSpec.from_dataset(dataset)
    return solver


def _check_dataset_matches(dataset, weights, path):
    """metadata.json of ``dataset``; raises ValueError unless it has one identifier per puzzle-table row."""
    meta = read_metadata(os.fspath(dataset))
    table = weights.get("puzzle_emb.weights")
    if table is not None and int(table.shape[0]) != int(meta["num_puzzle_identifiers"]):
        raise ValueError(
            f"{os.path.join(os.fspath(dataset), 'metadata.json')}: field 'num_puzzle_identifiers': "
            f"{meta['num_puzzle_identifiers']} identifiers, but the puzzle table 'puzzle_emb.weights' of "
            f"{os.fspath(path)} has {table.shape[0]} rows (trained on another build?)"
        )
    return meta


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
    solver = import_official_checkpoint(checkpoint, arch_config, **overrides)
    b = solver.backbone
    if spec is None:  # the first known puzzle kind with the model's sequence length and vocabulary size
        known = [PuzzleSpec.sudoku(n) for n in (4, 6, 9)] + [PuzzleSpec.maze(), PuzzleSpec.arc("arc-agi-1")]
        sizes = (b.sequence_length, b.vocabulary_size)
        spec = next((s for s in known if (s.seq_len, s.vocab_size) == sizes), None)
        if spec is None:
            side = int(round(b.sequence_length**0.5))
            shape = [side, side] if side * side == b.sequence_length else [1, b.sequence_length]
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
