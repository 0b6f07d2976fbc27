"""TRM's layers against numpy references written from SPEC section 1."""

import numpy as np
import pytest
from keras import ops

from keras_trm.layers import (
    ReasoningModule,
    RotaryEmbedding,
    SwiGLU,
    TRMAttention,
    TRMBlock,
    TRMRecursion,
    rms_norm,
    swiglu_intermediate_dim,
)


def np_rms(x, axis=-1, eps=1e-5):
    return x / np.sqrt((x**2).mean(axis=axis, keepdims=True) + eps)


def np_silu(x):
    return x / (1 + np.exp(-x))


def np_swiglu(layer, x):
    gu = x @ ops.convert_to_numpy(layer.gate_up.kernel)
    i = layer.intermediate_dim
    return (np_silu(gu[..., :i]) * gu[..., i:]) @ ops.convert_to_numpy(layer.down.kernel)


def np_rope(x, theta=10000.0):
    _, S, _, d = x.shape
    inv = 1.0 / theta ** (np.arange(0, d, 2) / d)
    ang = np.concatenate([np.outer(np.arange(S), inv)] * 2, axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], axis=-1)
    return x * np.cos(ang) + rot * np.sin(ang)


def np_attention(layer, x, rope=True):
    B, S, D = x.shape
    H, d = layer.num_heads, layer.head_dim
    qkv = (x @ ops.convert_to_numpy(layer.qkv.kernel)).reshape(B, S, 3 * H, d)
    q, k, v = qkv[:, :, :H], qkv[:, :, H : 2 * H], qkv[:, :, 2 * H :]
    if rope:
        q, k = np_rope(q), np_rope(k)
    scores = np.einsum("bshd,bthd->bhst", q, k) / np.sqrt(d)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    y = np.einsum("bhst,bthd->bshd", p, v).reshape(B, S, D)
    return y @ ops.convert_to_numpy(layer.out.kernel)


def _np(x):
    return ops.convert_to_numpy(ops.stop_gradient(x))


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_rms_norm_has_no_scale_and_uses_eps():
    x = _x(2, 3, 8)
    np.testing.assert_allclose(ops.convert_to_numpy(rms_norm(x)), np_rms(x), atol=1e-5)
    tiny = np.full((1, 4), 1e-3, "float32")  # eps 1e-5 dominates mean(x^2) = 1e-6
    np.testing.assert_allclose(ops.convert_to_numpy(rms_norm(tiny)), tiny / np.sqrt(1e-6 + 1e-5), rtol=1e-5)


def test_rotary_embedding_matches_rotate_half():
    x = _x(2, 7, 3, 8)
    np.testing.assert_allclose(ops.convert_to_numpy(RotaryEmbedding(8, 10)(x)), np_rope(x), atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7, 10)


def test_rotary_scores_depend_on_relative_position_only():
    rope = RotaryEmbedding(8, 12)
    q = np.tile(_x(1, 1, 1, 8, seed=1), (1, 12, 1, 1))
    k = np.tile(_x(1, 1, 1, 8, seed=2), (1, 12, 1, 1))
    rq, rk = ops.convert_to_numpy(rope(q))[0, :, 0], ops.convert_to_numpy(rope(k))[0, :, 0]
    assert np.dot(rq[2], rk[5]) == pytest.approx(np.dot(rq[6], rk[9]), abs=1e-4)


@pytest.mark.parametrize("width, expected", [(512, 1536), (97, 512), (64, 256), (29, 256)])
def test_swiglu_official_inner_width(width, expected):
    assert swiglu_intermediate_dim(width, 4) == expected
    assert SwiGLU(width, 4).intermediate_dim == expected


def test_swiglu_matches_reference():
    layer = SwiGLU(16, 4)
    x = _x(2, 5, 16)
    out = ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, np_swiglu(layer, x), atol=1e-4)
    assert layer.gate_up.bias is None and layer.down.bias is None


def test_attention_matches_reference_non_causal_with_rope():
    layer = TRMAttention(16, 4)
    x = _x(2, 6, 16)
    layer(x)
    rope = RotaryEmbedding(4, 6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x, rotary=rope)), np_attention(layer, x), atol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), np_attention(layer, x, rope=False), atol=1e-4)


def test_attention_block_is_post_norm():
    block = TRMBlock(16, 4)
    x = _x(2, 6, 16)
    out = ops.convert_to_numpy(block(x))
    h = np_rms(x + np_attention(block.token_mixer, x, rope=False))
    np.testing.assert_allclose(out, np_rms(h + np_swiglu(block.mlp, h)), atol=1e-4)


def test_mlp_t_block_mixes_and_normalises_over_the_sequence():
    block = TRMBlock(16, 4, mlp_t=True, sequence_length=6)
    x = _x(2, 6, 16)
    out = ops.convert_to_numpy(block(x))
    xt = x.transpose(0, 2, 1)  # (B, D, S)
    h = np_rms(xt + np_swiglu(block.token_mixer, xt)).transpose(0, 2, 1)
    np.testing.assert_allclose(out, np_rms(h + np_swiglu(block.mlp, h)), atol=1e-4)
    with pytest.raises(ValueError, match="sequence_length"):
        TRMBlock(16, 4, mlp_t=True)


def test_reasoning_module_adds_injection_then_runs_blocks():
    f = ReasoningModule(2, 16, 4)
    h, inj = _x(2, 6, 16, seed=1), _x(2, 6, 16, seed=2)
    out = _np(f(h, inj))
    expected = _np(f.blocks[1](f.blocks[0](h + inj)))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _recursion(H_cycles):
    rec = TRMRecursion(16, 4, 1, H_cycles=H_cycles, L_cycles=2, sequence_length=6, pos_encodings="none")
    rec.build((2, 6, 16))
    return rec


def test_recursion_order_T_times_n_latent_updates_then_answer():
    rec = _recursion(H_cycles=2)
    z_H, z_L, x = (ops.convert_to_tensor(_x(2, 6, 16, seed=s)) for s in (1, 2, 3))
    f = rec.f
    eH, eL = z_H, z_L
    for _ in range(2):
        for _ in range(2):
            eL = f(eL, eH + x)
        eH = f(eH, eL)
    out_H, out_L = rec(z_H, z_L, x)
    np.testing.assert_allclose(_np(out_H), _np(eH), atol=1e-5)
    np.testing.assert_allclose(_np(out_L), _np(eL), atol=1e-5)


def test_gradient_flows_only_through_the_last_recursion(value_and_grad):
    x = _x(2, 6, 16, seed=3)
    z = _x(2, 6, 16, seed=1)
    # With T = 2 the carried z_H only feeds the gradient-free first recursion: its gradient is exactly zero.
    rec = _recursion(H_cycles=2)
    _, grad = value_and_grad(lambda t: rec(t, z, x)[0], z)
    assert np.abs(ops.convert_to_numpy(grad)).max() == 0.0
    # ...while the input embedding still gets a gradient through the last recursion.
    _, grad = value_and_grad(lambda t: rec(z, z, t)[0], x)
    assert np.abs(ops.convert_to_numpy(grad)).max() > 0.0
    # With T = 1 the carried state is differentiated.
    rec = _recursion(H_cycles=1)
    _, grad = value_and_grad(lambda t: rec(t, z, x)[0], z)
    assert np.abs(ops.convert_to_numpy(grad)).max() > 0.0


def test_layers_config_round_trip():
    for layer in (RotaryEmbedding(8, 10), SwiGLU(16, 4), TRMAttention(16, 4), TRMBlock(16, 4, mlp_t=True,
                  sequence_length=6), ReasoningModule(2, 16, 4), _recursion(3)):  # fmt: skip
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config


def test_truncated_normal_initializer_has_exact_std_and_cut():
    from keras_trm.layers.initializers import TruncatedNormal

    w = ops.convert_to_numpy(TruncatedNormal(0.1, seed=3)((400, 500)))
    assert abs(w.std() / 0.1 - 1) < 0.01 and abs(w.mean()) < 1e-3
    cut = 2 * 0.1 / 0.87962566103423978
    assert cut * 0.99 < np.abs(w).max() <= cut * 1.0001
    assert TruncatedNormal.from_config(TruncatedNormal(0.1, seed=3).get_config()).std == 0.1
