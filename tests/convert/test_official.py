"""The official checkpoint importer: key handling, settings files and clear errors."""

import json

import numpy as np
import pytest
import torch
import yaml

import keras_trm
from keras_trm.convert.official import backbone_kwargs_from_official, load_official_state_dict


def _write_state(path, state):
    torch.save({k: torch.as_tensor(v) for k, v in state.items()}, path)


@pytest.fixture
def att(official_fixture_dir):
    folder = official_fixture_dir / "trm_tiny_att"
    config = json.loads((folder / "config.json").read_text())
    return folder, config, load_official_state_dict(folder / "step_0")


def test_prefixes_are_optional(att, tmp_path):
    folder, config, state = att
    expected = np.load(folder / "expected.npz")
    for prefix in ("", "model.", "_orig_mod.model.inner."):
        path = tmp_path / f"ckpt_{len(prefix)}.pt"
        _write_state(path, {prefix + ("inner." if prefix == "model." else "") + k: v for k, v in state.items()})
        solver = keras_trm.import_official_checkpoint(path, config)
        out = solver.supervision_steps(expected["inputs"], expected["puzzle_identifiers"], num_steps=1)[0]
        np.testing.assert_allclose(np.asarray(out["logits"]), expected["logits"][0], atol=1e-4)


def test_yaml_settings_all_config_and_arch_only(att, tmp_path):
    folder, config, _ = att
    arch = {
        k: v for k, v in config.items() if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers", "batch_size")
    }
    arch["loss"] = {"name": "losses@ACTLossHead", "loss_type": "softmax_cross_entropy"}
    full = tmp_path / "all_config.yaml"
    full.write_text(yaml.safe_dump({"arch": arch, "global_batch_size": 768}))
    # rope with attention: the sequence length cannot be read off the weights, so it must be given
    with pytest.raises(ValueError, match="sequence_length"):
        keras_trm.import_official_checkpoint(folder / "step_0", full)
    solver = keras_trm.import_official_checkpoint(folder / "step_0", full, sequence_length=16)
    assert solver.token_loss == "softmax"
    overridden = keras_trm.import_official_checkpoint(
        folder / "step_0", full, sequence_length=16, token_loss="stablemax"
    )
    assert overridden.token_loss == "stablemax"
    assert solver.backbone.vocabulary_size == 11 and solver.backbone.num_puzzle_identifiers == 5
    only_arch = tmp_path / "trm.yaml"
    only_arch.write_text(yaml.safe_dump(arch))
    solver = keras_trm.import_official_checkpoint(folder / "step_0", only_arch, sequence_length=16)
    assert solver.halt_max_steps == config["halt_max_steps"]


def test_sequence_length_read_off_mlp_t_weights(official_fixture_dir):
    folder = official_fixture_dir / "trm_tiny_mlp"
    config = json.loads((folder / "config.json").read_text())
    del config["seq_len"]
    kwargs = backbone_kwargs_from_official(config, load_official_state_dict(folder / "step_0"))
    assert kwargs["sequence_length"] == 25 and kwargs["mlp_t"]


def test_missing_key_is_named(att, tmp_path):
    folder, config, state = att
    key = "L_level.layers.1.mlp.down_proj.weight"
    del state[key]
    path = tmp_path / "missing.pt"
    _write_state(path, state)
    with pytest.raises(ValueError, match=r"missing key 'L_level\.layers\.1\.mlp\.down_proj\.weight'.*\(64, 256\)"):
        keras_trm.import_official_checkpoint(path, config)


def test_unexpected_key_is_named(att, tmp_path):
    folder, config, state = att
    state["L_level.layers.2.mlp.down_proj.weight"] = np.zeros((64, 256), "float32")
    path = tmp_path / "extra.pt"
    _write_state(path, state)
    with pytest.raises(ValueError, match=r"unexpected key 'L_level\.layers\.2\.mlp\.down_proj\.weight'.*\(64, 256\)"):
        keras_trm.import_official_checkpoint(path, config)


def test_wrong_shape_names_key_and_both_shapes(att, tmp_path):
    folder, config, state = att
    state["lm_head.weight"] = np.zeros((12, 64), "float32")
    path = tmp_path / "shape.pt"
    _write_state(path, state)
    with pytest.raises(ValueError, match=r"'lm_head\.weight' has shape \(12, 64\).*expects \(11, 64\)"):
        keras_trm.import_official_checkpoint(path, config)


def test_missing_file_and_garbage_file(att, tmp_path):
    _, config, _ = att
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        keras_trm.import_official_checkpoint(tmp_path / "nothere.pt", config)
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        keras_trm.import_official_checkpoint(bad, config)


def test_imported_model_saves_in_keras_format(att, tmp_path):
    import keras

    folder, config, _ = att
    solver = keras_trm.import_official_checkpoint(folder / "step_0", config)
    path = tmp_path / "trm.keras"
    solver.save(path)
    restored = keras.saving.load_model(path)
    expected = np.load(folder / "expected.npz")
    x = {"inputs": expected["inputs"].astype("int32"), "puzzle_identifiers": expected["puzzle_identifiers"]}
    out = restored.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(out["logits"], expected["logits"][-1], atol=1e-4)


# ------------------------------------------------------------------------------------------------ an ARC checkpoint
ARC_ARCH = {
    "hidden_size": 16,
    "num_heads": 2,
    "L_layers": 1,
    "H_cycles": 1,
    "L_cycles": 1,
    "expansion": 2,
    "pos_encodings": "rope",
    "puzzle_emb_ndim": 16,
    "puzzle_emb_len": 1,
    "halt_max_steps": 1,
    "mlp_t": False,
}


@pytest.fixture(scope="module")
def arc_build(tmp_path_factory):
    from keras_trm.data.arc import build_arc_dataset

    root = tmp_path_factory.mktemp("arc") / "arc1concept-aug-2"
    return build_arc_dataset(root, "arc-agi-1", num_variants=2, task_limit=2, progress=False)


def _official_arc_checkpoint(path, rows):
    """An official-format state dict for ARC_ARCH whose puzzle-table row k is filled with k (distinguishable)."""
    import keras

    from keras_trm.convert.official import _weight_map
    from keras_trm.models.trm_backbone import TRMBackbone

    backbone = TRMBackbone(
        **backbone_kwargs_from_official(ARC_ARCH, vocabulary_size=12, sequence_length=900, num_puzzle_identifiers=rows)
    )
    state = {
        k: keras.ops.convert_to_numpy(v).T if t else keras.ops.convert_to_numpy(v)
        for k, (v, t) in _weight_map(backbone).items()
    }
    state["puzzle_emb.weights"] = np.repeat(np.arange(rows, dtype="float32")[:, None], 16, axis=1)
    _write_state(path, state)
    return state


def test_arc_checkpoint_with_our_build_uses_its_trained_rows(arc_build, tmp_path):
    import keras

    from keras_trm.data import PuzzleDataset

    ds = PuzzleDataset(arc_build, "test")
    rows = ds.metadata["num_puzzle_identifiers"]
    state = _official_arc_checkpoint(tmp_path / "arc.pt", rows)
    solver = keras_trm.import_official_checkpoint(tmp_path / "arc.pt", ARC_ARCH, dataset=arc_build)
    assert (solver.backbone.sequence_length, solver.backbone.vocabulary_size) == (900, 12)  # from the build
    table = keras.ops.convert_to_numpy(solver.backbone.puzzle_embedding.embeddings)
    np.testing.assert_array_equal(table, state["puzzle_emb.weights"])  # row k = identifier k
    assert solver.puzzle_spec.identifiers == ds.identifiers


def test_solve_arc_on_a_task_of_the_build_uses_its_variants(arc_build, tmp_path, monkeypatch):
    from keras_trm.data import PuzzleDataset, arc
    from keras_trm.evaluation import solve

    ds = PuzzleDataset(arc_build, "test")
    _official_arc_checkpoint(tmp_path / "arc.pt", ds.metadata["num_puzzle_identifiers"])
    solver = keras_trm.import_official_checkpoint(tmp_path / "arc.pt", ARC_ARCH, dataset=arc_build)
    # the first evaluation task of the build: its original then its 2 variants, identifiers first..first+2
    first = int(ds.puzzle_identifiers[ds.group_indices[0]])
    task_id = ds.identifiers[first]
    assert [arc.task_id_of(n) for n in ds.identifiers[first : first + 3]] == [task_id] * 3
    seen, real = [], solve.run_solver

    def recording(model, inputs, puzzle_identifiers=None, **kwargs):
        seen.append(np.asarray(puzzle_identifiers))
        return real(model, inputs, puzzle_identifiers, **kwargs)

    monkeypatch.setattr(solve, "run_solver", recording)
    task = arc.load_variant_table(arc_build)["tasks"][task_id]
    out = solve.solve_arc(solver, task, task_id=task_id)
    assert out["num_variants"] == 3
    assert sorted(set(np.concatenate(seen).tolist())) == [first, first + 1, first + 2]  # its trained rows


def test_arc_checkpoint_of_another_build_is_refused(arc_build, tmp_path):
    _official_arc_checkpoint(tmp_path / "other.pt", 5)
    with pytest.raises(
        ValueError, match=r"metadata.json: field 'num_puzzle_identifiers': \d+ identifiers, but .* 5 rows"
    ):
        keras_trm.import_official_checkpoint(tmp_path / "other.pt", ARC_ARCH, dataset=arc_build)
