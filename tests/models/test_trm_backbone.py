"""TRMBackbone: sizes of the official configurations, initialisers, config round trip, puzzle positions."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_trm import TRMBackbone


def _tiny(**kwargs):
    args = dict(vocabulary_size=11, sequence_length=16, hidden_dim=64, num_heads=4, num_layers=2, H_cycles=2,
                L_cycles=2, num_puzzle_identifiers=5, puzzle_emb_len=4)  # fmt: skip
    args.update(kwargs)
    return TRMBackbone(**args)


def _inputs(backbone, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    z_H, z_L = backbone.initial_states(batch)
    return {
        "z_H": ops.convert_to_numpy(z_H),
        "z_L": ops.convert_to_numpy(z_L),
        "inputs": rng.integers(0, backbone.vocabulary_size, (batch, backbone.sequence_length)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, backbone.num_puzzle_identifiers, (batch,)).astype("int32"),
    }


def _trained_count(backbone):
    return sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)


@pytest.mark.parametrize(
    "mlp_t, pos, expected", [(False, "rope", 6_828_034), (True, "none", 5_028_866)], ids=["attention", "mlp"]
)
def test_official_sudoku_parameter_counts(mlp_t, pos, expected):
    backbone = TRMBackbone(vocabulary_size=11, sequence_length=81, hidden_dim=512, num_heads=8, num_layers=2,
                           H_cycles=3, L_cycles=6, mlp_t=mlp_t, pos_encodings=pos, puzzle_emb_len=16)  # fmt: skip
    assert _trained_count(backbone) == expected  # the puzzle table and H_init / L_init are not counted


def test_outputs_shapes_and_dtypes():
    backbone = _tiny()
    out = backbone(_inputs(backbone))
    assert tuple(out["logits"].shape) == (3, 16, 11)
    assert tuple(out["z_H"].shape) == tuple(out["z_L"].shape) == (3, 20, 64)
    assert tuple(out["q_halt_logits"].shape) == tuple(out["q_continue_logits"].shape) == (3,)
    assert keras.backend.standardize_dtype(out["q_halt_logits"].dtype) == "float32"


def test_official_initialisation():
    backbone = TRMBackbone(vocabulary_size=11, sequence_length=81, hidden_dim=512, num_heads=8, H_cycles=3,
                           L_cycles=6, num_puzzle_identifiers=7)  # fmt: skip
    q = backbone.q_head
    np.testing.assert_array_equal(ops.convert_to_numpy(q.kernel), 0.0)
    np.testing.assert_array_equal(ops.convert_to_numpy(q.bias), -5.0)
    np.testing.assert_array_equal(ops.convert_to_numpy(backbone.puzzle_embedding_table), 0.0)
    assert not backbone.recursion.H_init.trainable and not backbone.puzzle_embedding_table.trainable
    for var in (backbone.recursion.H_init, backbone.recursion.L_init):
        assert abs(float(np.std(ops.convert_to_numpy(var))) - 1.0) < 0.15
    # Linear weights: truncated normal, std exactly 1/sqrt(fan_in), cut at +-2 std of the normal drawn from
    # (std / 0.8796, as the official and JAX's truncated normal do).
    cut = 2 / 0.87962566103423978
    block = backbone.recursion.reasoning_module.blocks[0]
    for kernel in (block.token_mixer.qkv.kernel, block.mlp.gate_up.kernel, block.mlp.down.kernel):
        w = ops.convert_to_numpy(kernel)
        std = 1.0 / np.sqrt(w.shape[0])
        assert abs(w.std() / std - 1.0) < 0.02
        assert 2.1 * std < np.abs(w).max() <= cut * std * 1.0001
    emb = ops.convert_to_numpy(backbone.input_embedding.token_embedding.embeddings)
    assert np.abs(emb).max() <= cut / np.sqrt(512) * 1.0001


def test_config_round_trip_gives_same_outputs():
    backbone = _tiny(pos_encodings="learned")
    clone = TRMBackbone.from_config(backbone.get_config())
    clone.set_weights(backbone.get_weights())
    x = _inputs(backbone)
    np.testing.assert_allclose(
        ops.convert_to_numpy(backbone(x)["logits"]), ops.convert_to_numpy(clone(x)["logits"]), atol=1e-6
    )
    expected_keys = {"vocabulary_size", "sequence_length", "hidden_dim", "num_heads", "num_layers", "H_cycles",
                     "L_cycles", "expansion", "mlp_t", "pos_encodings", "num_puzzle_identifiers", "puzzle_emb_ndim",
                     "puzzle_emb_len", "rope_theta", "norm_epsilon"}  # fmt: skip
    assert expected_keys <= set(backbone.get_config())


def test_puzzle_positions_ceil_rule_when_len_is_zero():
    backbone = _tiny(puzzle_emb_len=0, puzzle_emb_ndim=100)  # ceil(100 / 64) = 2 positions
    assert backbone.puzzle_emb_positions == 2
    out = backbone(_inputs(backbone))
    assert tuple(out["z_H"].shape) == (3, 18, 64)


def test_puzzle_vector_reaches_the_output():
    backbone = _tiny()
    x = _inputs(backbone)
    before = ops.convert_to_numpy(backbone(x)["logits"])
    table = np.zeros((5, 64), "float32")
    table[x["puzzle_identifiers"][0]] = 1.0
    backbone.puzzle_embedding_table.assign(table)
    after = ops.convert_to_numpy(backbone(x)["logits"])
    assert np.abs(after[0] - before[0]).max() > 1e-3


@pytest.mark.parametrize("pos", ["rope", "learned", "none"])
def test_position_encodings_matter_only_when_on(pos):
    backbone = _tiny(pos_encodings=pos, num_puzzle_identifiers=1, puzzle_emb_len=1)
    x = _inputs(backbone, batch=1)
    x["inputs"][:] = 3  # the same token everywhere: only positions can tell tokens apart
    logits = ops.convert_to_numpy(backbone(x)["logits"])[0]
    spread = np.abs(logits - logits[:1]).max()
    if pos == "none":
        assert spread < 1e-5
    else:
        assert spread > 1e-4


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="pos_encodings"):
        _tiny(pos_encodings="alibi")
    with pytest.raises(ValueError, match="num_heads"):
        _tiny(num_heads=5)
    with pytest.raises(ValueError, match="puzzle_emb_ndim"):
        _tiny(puzzle_emb_ndim=300, puzzle_emb_len=4)
