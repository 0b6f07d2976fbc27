"""Presets: save / load with the PuzzleSpec, named configurations, handles (monkeypatched download), resize."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.data.arc import variant_name
from keras_trm.models.trm_presets import ASSETS_DIR
from keras_trm.presets import (
    ARCHITECTURES,
    PuzzleSpec,
    backbone_presets,
    is_architecture_only,
    load_puzzle_spec,
    resize_puzzle_embeddings,
    save_preset,
)

NAMED = ["trm_sudoku_mlp", "trm_sudoku_att", "trm_maze_hard", "trm_arc_agi_1", "trm_arc_agi_2", "trm_sudoku_4x4"]


def tiny_solver(num_ids=3, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    backbone = TRMBackbone(
        vocabulary_size=6,
        sequence_length=16,
        hidden_dim=16,
        num_heads=2,
        H_cycles=2,
        L_cycles=2,
        puzzle_emb_len=1,
        num_puzzle_identifiers=num_ids,
        **kwargs,
    )
    # Random (non-zero) puzzle rows and halting head so that every weight matters in the comparisons.
    rng = np.random.default_rng(seed)
    backbone.puzzle_embedding_table.assign(rng.normal(size=backbone.puzzle_embedding_table.shape).astype("float32"))
    backbone.q_head.kernel.assign(rng.normal(size=backbone.q_head.kernel.shape).astype("float32") * 0.1)
    return TRMPuzzleSolver(backbone, halt_max_steps=3)


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "inputs": rng.integers(1, 6, (n, 16)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, 3, (n,)).astype("int32"),
    }


def test_named_presets_are_listed():
    for cls in (TRMBackbone, TRMPuzzleSolver, keras_hub.models.Backbone):
        assert set(NAMED) <= set(cls.presets)
    for name in NAMED:
        meta = backbone_presets[name]["metadata"]
        assert meta["description"] and meta["params"] > 0
        assert os.path.isdir(backbone_presets[name]["kaggle_handle"]), name
    assert "Architecture only" in backbone_presets["trm_sudoku_att"]["metadata"]["description"]
    assert backbone_presets["trm_sudoku_att"]["metadata"]["params"] == 6828034  # SPEC section 4
    assert backbone_presets["trm_sudoku_mlp"]["metadata"]["params"] == 5028866


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_shipped_architecture_folders_match_the_configurations(name):
    folder = os.path.join(ASSETS_DIR, name)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)["config"]
    for key, value in ARCHITECTURES[name]["backbone"].items():
        assert config[key] == value, (name, key)
    with open(os.path.join(folder, "task.json")) as f:
        task = json.load(f)["config"]
    for key, value in ARCHITECTURES[name]["solver"].items():
        assert task[key] == value, (name, key)
    assert not os.path.exists(os.path.join(folder, "model.weights.h5"))
    spec = load_puzzle_spec(name)
    assert spec.architecture_only and is_architecture_only(name)
    assert spec.benchmark == ARCHITECTURES[name]["spec"][0]
    assert spec.seq_len == config["sequence_length"] and spec.vocab_size == config["vocabulary_size"]


def test_architecture_preset_loads_by_name_randomly_initialised():
    backbone = TRMBackbone.from_preset("trm_sudoku_mlp")
    assert backbone.mlp_t and backbone.hidden_dim == 512 and backbone.sequence_length == 81
    assert backbone.puzzle_spec.benchmark == "sudoku" and backbone.puzzle_spec.architecture_only
    # Usable by name through the base class too, and the task carries the halting settings.
    solver = TRMPuzzleSolver.from_preset(
        "trm_arc_agi_1", num_puzzle_identifiers=7, hidden_dim=32, num_heads=2, puzzle_emb_ndim=32
    )
    assert solver.halt_max_steps == 16 and solver.backbone.L_cycles == 4
    assert tuple(solver.backbone.puzzle_embedding_table.shape) == (7, 32)
    assert solver.puzzle_spec.benchmark == "arc-agi-1"


@pytest.mark.parametrize("kind", ["solver", "backbone"])
def test_save_and_load_round_trip(tmp_path, kind):
    solver = tiny_solver()
    spec = PuzzleSpec(
        "custom",
        [str(i) for i in range(6)],
        [4, 4],
        description="tiny test preset",
        training={"command": "test", "results": {"x": 1}},
        halt_max_steps=3,
    )
    model = solver if kind == "solver" else solver.backbone
    save_preset(model, tmp_path / "p", spec)
    for f in ("config.json", "model.weights.h5", "metadata.json", "assets/trm/puzzle_spec.json"):
        assert (tmp_path / "p" / f).exists(), f
    assert (tmp_path / "p" / "task.json").exists() == (kind == "solver")
    assert not (tmp_path / "p" / "task.weights.h5").exists()  # the carry is not part of a preset
    loaded = TRMPuzzleSolver.from_preset(str(tmp_path / "p"))
    assert loaded.puzzle_spec == spec
    assert loaded.halt_max_steps == 3  # from task.json, or for a backbone-only preset from its spec
    x = batch()
    a, b = solver.predict(x, verbose=0), loaded.predict(x, verbose=0)
    np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-6)
    np.testing.assert_allclose(a["q_halt_logits"], b["q_halt_logits"], atol=1e-6)
    backbone = TRMBackbone.from_preset(tmp_path / "p")  # a pathlib.Path works too
    np.testing.assert_allclose(
        ops.convert_to_numpy(backbone.puzzle_embedding_table),
        ops.convert_to_numpy(solver.backbone.puzzle_embedding_table),
    )


def test_trained_solver_saves_without_its_carry(tmp_path):
    solver = tiny_solver()
    solver.compile(learning_rate=1e-3, warmup_steps=1)
    x = batch(8)
    solver.fit(x, x["inputs"], batch_size=8, epochs=1, verbose=0)
    solver.save_to_preset(str(tmp_path / "p"))
    loaded = TRMPuzzleSolver.from_preset(str(tmp_path / "p"))
    # The trained solver is compiled (XLA on TensorFlow), the loaded one not: float32 rounding differs slightly.
    np.testing.assert_allclose(
        solver.predict(x, verbose=0)["logits"], loaded.predict(x, verbose=0)["logits"], atol=1e-4
    )


def test_arc_identifier_table_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    transforms = {1: (0, np.arange(10)), 2: (5, np.concatenate([[0], rng.permutation(9) + 1])), 3: (0, np.arange(10))}
    names = ["<blank>", "t1", variant_name("t1", *transforms[2]), "t2"]  # the official puzzle names
    spec = PuzzleSpec.arc("arc-agi-1", identifiers=names, transforms=transforms, description="arc test")
    spec.save(str(tmp_path))
    back = load_puzzle_spec(str(tmp_path))
    assert back.identifiers == names and set(back.transforms) == {1, 2, 3}
    np.testing.assert_array_equal(back.transforms[2][1], transforms[2][1])
    assert back.transforms[2][0] == 5
    assert [(i, t) for i, t, _ in back.variants_of("t1")] == [(1, 0), (2, 5)]
    assert back == spec


@pytest.mark.parametrize("scheme", ["kaggle", "hf"])
def test_remote_handles_go_through_keras_hub(tmp_path, monkeypatch, scheme):
    """kaggle:// and hf:// handles: keras-hub's download is replaced by a copy from a local folder."""
    from keras_hub.src.utils import preset_utils

    solver = tiny_solver()
    spec = PuzzleSpec.sudoku(4, description="remote test", training={"command": "t", "results": "r"})
    save_preset(solver, tmp_path / "remote", spec)
    requested = []

    def fake_kaggle(handle, path):
        requested.append((handle, path))
        full = tmp_path / "remote" / path
        if not full.exists():
            raise ValueError(f"'{path}' is not present in the model files")
        return str(full)

    class FakeHF:
        @staticmethod
        def hf_hub_download(repo_id, filename):
            requested.append((repo_id, filename))
            full = tmp_path / "remote" / filename
            if not full.exists():
                raise preset_utils.EntryNotFoundError(filename)
            return str(full)

    if scheme == "kaggle":
        monkeypatch.setattr(preset_utils, "kagglehub", type("K", (), {"model_download": staticmethod(fake_kaggle)}))
        handle = "kaggle://someone/trm/keras/tiny/1"
    else:
        monkeypatch.setattr(preset_utils, "huggingface_hub", FakeHF)
        handle = "hf://someone/trm-tiny"
    loaded = TRMPuzzleSolver.from_preset(handle)
    assert loaded.puzzle_spec == spec
    files = {p for _, p in requested}
    assert {"config.json", "task.json", "model.weights.h5", "assets/trm/puzzle_spec.json"} <= files
    x = batch()
    np.testing.assert_allclose(
        solver.predict(x, verbose=0)["logits"], loaded.predict(x, verbose=0)["logits"], atol=1e-6
    )


def test_resize_puzzle_embeddings_keeps_old_rows_and_fills_the_mean():
    solver = tiny_solver(num_ids=3)
    old = ops.convert_to_numpy(solver.backbone.puzzle_embedding_table)
    bigger = resize_puzzle_embeddings(solver, 6)
    assert isinstance(bigger, TRMPuzzleSolver) and bigger.halt_max_steps == solver.halt_max_steps
    table = ops.convert_to_numpy(bigger.backbone.puzzle_embedding_table)
    assert table.shape == (6, 16)
    np.testing.assert_array_equal(table[:3], old)
    np.testing.assert_allclose(table[3:], np.repeat(old.mean(0, keepdims=True), 3, 0), rtol=1e-6)
    # Every other weight is copied: old identifiers give the same outputs.
    x = batch()
    np.testing.assert_allclose(
        solver.predict(x, verbose=0)["logits"], bigger.predict(x, verbose=0)["logits"], atol=1e-6
    )
    # A backbone resizes to a backbone; shrinking keeps the first rows.
    smaller = resize_puzzle_embeddings(solver.backbone, 2)
    assert isinstance(smaller, TRMBackbone)
    np.testing.assert_array_equal(ops.convert_to_numpy(smaller.puzzle_embedding_table), old[:2])
    with pytest.raises(ValueError, match="new_num_identifiers"):
        resize_puzzle_embeddings(solver, 0)
