"""An official checkpoint written as a preset reproduces the official outputs (fixtures) when loaded back."""

import numpy as np
import pytest

from keras_trm import TRMPuzzleSolver
from keras_trm.presets import import_official_to_preset, validate_preset

TOLERANCE = {"trm_tiny_att": 1e-4, "trm_tiny_mlp": 1e-3}


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_official_checkpoint_preset_matches_fixture(official_fixture_dir, tmp_path, name):
    folder = official_fixture_dir / name
    import_official_to_preset(folder / "step_0", folder / "config.json", str(tmp_path / name))
    spec = validate_preset(str(tmp_path / name))
    assert "step_0" in spec.description and spec.training["command"]
    solver = TRMPuzzleSolver.from_preset(str(tmp_path / name))
    expected = np.load(folder / "expected.npz")
    x = {"inputs": expected["inputs"].astype("int32"), "puzzle_identifiers": expected["puzzle_identifiers"]}
    out = solver.predict(x, batch_size=len(x["inputs"]), verbose=0)
    assert solver.halt_max_steps == expected["logits"].shape[0]
    np.testing.assert_allclose(out["logits"], expected["logits"][-1], atol=TOLERANCE[name])
    np.testing.assert_allclose(out["q_halt_logits"], expected["q_halt_logits"][-1], atol=TOLERANCE[name])
