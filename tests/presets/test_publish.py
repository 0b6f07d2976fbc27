"""publish_preset: validation with errors naming the file and field, then keras_hub.upload_preset (monkeypatched)."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_trm import TRMBackbone, TRMPuzzleSolver
from keras_trm.models.trm_presets import ASSETS_DIR
from keras_trm.presets import PresetValidationError, PuzzleSpec, publish_preset, save_preset, validate_preset


@pytest.fixture
def preset(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=6, sequence_length=16, hidden_dim=16, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
    )
    spec = PuzzleSpec.sudoku(4, description="tiny", training={"command": "python x.py", "results": {"acc": 1.0}})
    return save_preset(TRMPuzzleSolver(backbone, halt_max_steps=2), str(tmp_path / "p"), spec)


def _edit_json(path, fn):
    with open(path) as f:
        d = json.load(f)
    fn(d)
    with open(path, "w") as f:
        json.dump(d, f)


def test_valid_preset_is_uploaded(preset, monkeypatch):
    calls = []
    monkeypatch.setattr(keras_hub, "upload_preset", lambda uri, d: calls.append((uri, d)))
    spec = publish_preset(preset, "kaggle://me/trm/keras/tiny")
    assert calls == [("kaggle://me/trm/keras/tiny", preset)]
    assert spec.benchmark == "sudoku"
    publish_preset(preset, "hf://me/trm-tiny")
    assert calls[-1] == ("hf://me/trm-tiny", preset)


def test_bad_uri_is_refused_before_upload(preset, monkeypatch):
    monkeypatch.setattr(keras_hub, "upload_preset", lambda *a: pytest.fail("must not upload"))
    with pytest.raises(ValueError, match="kaggle://"):
        publish_preset(preset, "s3://bucket/x")


@pytest.mark.parametrize(
    "breakage, file, field",
    [
        (lambda d: os.remove(os.path.join(d, "model.weights.h5")), "model.weights.h5", None),
        (lambda d: os.remove(os.path.join(d, "config.json")), "config.json", None),
        (lambda d: os.remove(os.path.join(d, "metadata.json")), "metadata.json", None),
        (lambda d: os.remove(os.path.join(d, "assets/trm/puzzle_spec.json")), "assets/trm/puzzle_spec.json", None),
        (
            lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c["config"].pop("hidden_dim")),
            "config.json",
            "config.hidden_dim",
        ),
        (
            lambda d: _edit_json(
                os.path.join(d, "assets/trm/puzzle_spec.json"), lambda c: c.update(vocabulary=c["vocabulary"][:-1])
            ),
            "assets/trm/puzzle_spec.json",
            "vocabulary",
        ),
        (
            lambda d: _edit_json(os.path.join(d, "assets/trm/puzzle_spec.json"), lambda c: c.update(grid_shape=[3, 3])),
            "assets/trm/puzzle_spec.json",
            "grid_shape",
        ),
        (
            lambda d: _edit_json(os.path.join(d, "assets/trm/puzzle_spec.json"), lambda c: c.update(description="")),
            "assets/trm/puzzle_spec.json",
            "description",
        ),
        (
            lambda d: _edit_json(os.path.join(d, "assets/trm/puzzle_spec.json"), lambda c: c.update(training=None)),
            "assets/trm/puzzle_spec.json",
            "training.command",
        ),
        (
            lambda d: _edit_json(os.path.join(d, "assets/trm/puzzle_spec.json"), lambda c: c.update(halt_max_steps=5)),
            "assets/trm/puzzle_spec.json",
            "halt_max_steps",
        ),
        (
            lambda d: _edit_json(os.path.join(d, "task.json"), lambda c: c.update(class_name="Other")),
            "task.json",
            "class_name",
        ),
        (lambda d: open(os.path.join(d, "model.weights.h5"), "wb").write(b"not hdf5"), "model.weights.h5", None),
    ],
)
def test_validation_names_the_file_and_field(preset, monkeypatch, breakage, file, field):
    monkeypatch.setattr(keras_hub, "upload_preset", lambda *a: pytest.fail("must not upload an invalid preset"))
    breakage(preset)
    with pytest.raises(PresetValidationError) as err:
        publish_preset(preset, "kaggle://me/trm/keras/tiny")
    assert err.value.file == file and err.value.field == field, str(err.value)
    assert file in str(err.value)


def test_wrong_weights_for_the_config_are_reported(preset, tmp_path):
    keras.utils.set_random_seed(0)
    other = TRMBackbone(
        vocabulary_size=6, sequence_length=16, hidden_dim=8, num_heads=2, H_cycles=1, L_cycles=1, puzzle_emb_len=1
    )
    other.save_weights(os.path.join(preset, "model.weights.h5"))
    with pytest.raises(PresetValidationError, match="model.weights.h5.*does not load"):
        validate_preset(preset)


def test_arc_preset_needs_its_identifier_table(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(
        vocabulary_size=12,
        sequence_length=900,
        hidden_dim=8,
        num_heads=2,
        H_cycles=1,
        L_cycles=1,
        puzzle_emb_len=1,
        num_puzzle_identifiers=3,
    )
    spec = PuzzleSpec.arc(description="arc", training={"command": "c", "results": "r"})
    d = save_preset(backbone, str(tmp_path / "arc"), spec)
    with pytest.raises(PresetValidationError, match="identifiers.json"):
        validate_preset(d, load_weights=False)
    spec.identifiers = ["<blank>", "t"]  # 2 names for 3 rows
    spec.transforms = {1: (0, np.arange(10))}
    spec.save(d)
    with pytest.raises(PresetValidationError) as err:
        validate_preset(d, load_weights=False)
    assert err.value.file == "assets/trm/identifiers.json" and err.value.field == "identifiers"


def test_shipped_architecture_presets_validate():
    for name in ("trm_sudoku_att", "trm_arc_agi_2"):
        spec = validate_preset(os.path.join(ASSETS_DIR, name), load_weights=False)
        assert spec.architecture_only


def _solver_from(preset_dir):
    return TRMPuzzleSolver.from_preset(preset_dir)


def test_a_failed_save_leaves_no_half_written_preset(preset, tmp_path, monkeypatch):
    """save_to_preset writes a temporary sibling folder, renamed only when complete."""
    solver = _solver_from(preset)
    x = {"inputs": np.ones((1, 16), "int32"), "puzzle_identifiers": np.zeros((1,), "int32")}
    before = np.asarray(solver.predict_on_batch(x)["logits"])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    # The preprocessor is saved after task.json, config.json and the weights: the failure comes halfway through.
    assert solver.preprocessor is not None
    monkeypatch.setattr(type(solver.preprocessor), "save_to_preset", broken)
    with pytest.raises(OSError, match="disk full"):
        solver.save_to_preset(str(tmp_path / "new"))
    assert sorted(os.listdir(tmp_path)) == ["p"]  # neither "new" nor a temporary folder

    # over an existing preset: the old one stays whole and loadable
    with pytest.raises(OSError, match="disk full"):
        solver.save_to_preset(preset)
    assert sorted(os.listdir(tmp_path)) == ["p"]
    monkeypatch.undo()
    validate_preset(preset)
    np.testing.assert_allclose(np.asarray(_solver_from(preset).predict_on_batch(x)["logits"]), before, atol=1e-5)

    # a complete save replaces it, and the solver that failed twice still saves and predicts
    solver.save_to_preset(preset)
    assert sorted(os.listdir(tmp_path)) == ["p"]
    np.testing.assert_allclose(np.asarray(_solver_from(preset).predict_on_batch(x)["logits"]), before, atol=1e-5)
