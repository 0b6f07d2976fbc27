"""PuzzleBatches sharded by rank: the shards of every batch are the rows of the one unsharded sampler's batch."""

import numpy as np
import pytest

from keras_trm.data import PuzzleBatches, PuzzleDataset, build_sudoku_dataset, make_sudoku_csvs


@pytest.fixture(scope="module")
def sudoku4(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard")
    make_sudoku_csvs(str(root / "csv"), n=4, train_count=40, test_count=10, seed=0)
    build_sudoku_dataset(
        str(root / "ds"), train_csv=str(root / "csv/train.csv"), test_csv=str(root / "csv/test.csv"), progress=False
    )
    return str(root / "ds")


@pytest.mark.parametrize("mode, split", [("train", "train"), ("eval", "test")])
def test_shards_make_the_global_batches(sudoku4, mode, split):
    ds = PuzzleDataset(sudoku4, split)
    whole = PuzzleBatches(ds, 8, mode=mode, seed=3)
    shards = [PuzzleBatches(ds, 8, mode=mode, seed=3, num_shards=4, shard_index=r) for r in range(4)]
    assert all(len(s) == len(whole) and s.batch_size == 2 and s.global_batch_size == 8 for s in shards)
    for k in range(len(whole)):
        x, y, w = whole[k]
        parts = [s[k] for s in shards]
        np.testing.assert_array_equal(np.concatenate([p[0]["inputs"] for p in parts]), x["inputs"])
        ids = np.concatenate([p[0]["puzzle_identifiers"] for p in parts])
        np.testing.assert_array_equal(ids, x["puzzle_identifiers"])
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
        np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), w)
    if mode == "eval":  # 10 examples in batches of 8: the second global batch has 2 real rows, both in shard 0
        assert [float(s[1][2].sum()) for s in shards] == [2.0, 0.0, 0.0, 0.0]


def test_bad_shards(sudoku4):
    ds = PuzzleDataset(sudoku4, "train")
    with pytest.raises(ValueError, match="divide batch_size"):
        PuzzleBatches(ds, 8, num_shards=3)
    with pytest.raises(ValueError, match="shard_index"):
        PuzzleBatches(ds, 8, num_shards=2, shard_index=2)
