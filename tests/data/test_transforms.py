import numpy as np
import pytest

from keras_trm.data import transforms as T

SHAPES = [(1, 1), (3, 3), (2, 5), (5, 2), (30, 7)]


def test_official_numbering():
    g = np.arange(6).reshape(2, 3)
    expected = [
        g,
        np.rot90(g, 1),
        np.rot90(g, 2),
        np.rot90(g, 3),
        np.fliplr(g),
        np.flipud(g),
        g.T,
        np.fliplr(np.rot90(g, 1)),
    ]
    for tid, e in enumerate(expected):
        np.testing.assert_array_equal(T.dihedral_transform(g, tid), e)
    # The 8 transforms of an asymmetric grid are distinct.
    sq = np.arange(9).reshape(3, 3)
    assert len({T.dihedral_transform(sq, t).tobytes() for t in range(8)}) == 8


@pytest.mark.parametrize("shape", SHAPES)
def test_dihedral_roundtrip(shape):
    rng = np.random.default_rng(1)
    g = rng.integers(0, 10, size=shape)
    for tid in range(8):
        t = T.dihedral_transform(g, tid)
        np.testing.assert_array_equal(T.inverse_dihedral_transform(t, tid), g)
        # DIHEDRAL_INVERSE really is the inverse table.
        np.testing.assert_array_equal(T.dihedral_transform(t, T.DIHEDRAL_INVERSE[tid]), g)


@pytest.mark.parametrize("shape", SHAPES)
def test_variant_roundtrip_random_colour_maps(shape):
    rng = np.random.default_rng(2)
    for _ in range(10):
        g = rng.integers(0, 10, size=shape).astype(np.uint8)
        m = T.random_colour_permutation(rng)
        assert m[0] == 0 and sorted(m.tolist()) == list(range(10))
        for tid in range(8):
            v = T.apply_variant(g, tid, m)
            assert v.dtype == g.dtype
            np.testing.assert_array_equal(T.undo_variant(v, tid, m), g)
            # colour first, then transform
            np.testing.assert_array_equal(v, T.dihedral_transform(m[g], tid))


def test_colour_map_keeps_zero():
    g = np.zeros((2, 3), dtype=np.int32)
    m = T.random_colour_permutation(np.random.default_rng(0))
    np.testing.assert_array_equal(T.apply_colour_permutation(g, m), g)
    np.testing.assert_array_equal(T.undo_colour_permutation(T.apply_colour_permutation(g + 4, m), m), g + 4)


@pytest.mark.parametrize("bad", [8, -1, 2.0, "1", True, None])
def test_bad_tid(bad):
    with pytest.raises(ValueError, match="dihedral"):
        T.dihedral_transform(np.zeros((2, 2)), bad)
    with pytest.raises(ValueError, match="dihedral"):
        T.inverse_dihedral_transform(np.zeros((2, 2)), bad)


def test_bad_grid_rank():
    with pytest.raises(ValueError, match="2-D"):
        T.dihedral_transform(np.zeros((2, 2, 2)), 1)


@pytest.mark.parametrize(
    "bad", [list(range(9)), [1, 0, 2, 3, 4, 5, 6, 7, 8, 9], [0, 1, 1, 3, 4, 5, 6, 7, 8, 9], np.arange(10.0)]
)
def test_bad_colour_map(bad):
    with pytest.raises(ValueError, match="colour permutation"):
        T.apply_colour_permutation(np.zeros((2, 2), dtype=int), bad)
    with pytest.raises(ValueError, match="colour permutation"):
        T.undo_colour_permutation(np.zeros((2, 2), dtype=int), bad)
