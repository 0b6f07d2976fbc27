import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm.training.schedules import WarmupCosine


def official(step, base, warmup, total, min_ratio):
    """The official TRM schedule, evaluated at the official (1-based) step."""
    if step < warmup:
        return base * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return base * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))))


def value(schedule, step):
    return float(ops.convert_to_numpy(schedule(step)))


def test_hand_values_default_offset():
    # Keras iteration i is the official step i + 1.
    s = WarmupCosine(0.1, warmup_steps=4, total_steps=12, min_ratio=0.0)
    want = {0: 0.025, 1: 0.05, 2: 0.075, 3: 0.1, 5: 0.1 * 0.5 * (1 + math.cos(math.pi / 4)), 7: 0.05, 11: 0.0}
    for step, lr in want.items():
        assert value(s, step) == pytest.approx(lr, abs=1e-8), step


def test_hand_values_no_offset():
    s = WarmupCosine(2.0, warmup_steps=4, total_steps=8, min_ratio=0.5, step_offset=0)
    assert value(s, 0) == 0.0
    assert value(s, 2) == pytest.approx(1.0)
    assert value(s, 4) == pytest.approx(2.0)
    assert value(s, 6) == pytest.approx(2.0 * (0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi / 2))))
    assert value(s, 8) == pytest.approx(1.0)


@pytest.mark.parametrize("min_ratio", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("warmup", [0, 1, 5])
def test_matches_official_formula(min_ratio, warmup):
    s = WarmupCosine(1e-4, warmup_steps=warmup, total_steps=30, min_ratio=min_ratio)
    for step in range(0, 31):
        want = official(step + 1, 1e-4, warmup, 30, min_ratio)
        assert value(s, step) == pytest.approx(want, rel=1e-5, abs=1e-12)


def test_constant_after_warmup_with_min_ratio_one():
    s = WarmupCosine(1e-4, warmup_steps=2000, total_steps=10_000, min_ratio=1.0)
    assert value(s, 999) == pytest.approx(5e-5)
    for step in (1999, 5000, 9999):
        assert value(s, step) == pytest.approx(1e-4)


def test_accepts_tensor_step_and_variable():
    s = WarmupCosine(1.0, warmup_steps=10, total_steps=20)
    assert value(s, ops.convert_to_tensor(4, dtype="int32")) == pytest.approx(0.5)
    it = keras.Variable(4, dtype="int", trainable=False)
    assert value(s, it) == pytest.approx(0.5)


def test_get_config_round_trip():
    s = WarmupCosine(3e-4, warmup_steps=7, total_steps=70, min_ratio=0.2, step_offset=0)
    config = s.get_config()
    clone = WarmupCosine.from_config(config)
    assert clone.get_config() == config
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(restored, WarmupCosine)
    for step in (0, 3, 7, 30, 70):
        assert value(restored, step) == pytest.approx(value(s, step))


def test_drives_a_keras_optimizer():
    s = WarmupCosine(1.0, warmup_steps=4, total_steps=8)
    opt = keras.optimizers.SGD(learning_rate=s)
    v = keras.Variable(np.zeros((1,), "float32"))
    for _ in range(3):
        opt.apply([ops.ones((1,), "float32")], [v])
    # lrs 0.25 + 0.5 + 0.75
    np.testing.assert_allclose(ops.convert_to_numpy(v), [-1.5], rtol=1e-6)
