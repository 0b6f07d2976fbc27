"""Maze-Hard 30x30: TRM-Att (the paper's 85.3%).

Paper size: the 1000 train / 1000 test mazes of sapientinc/maze-30x30-hard-1k (shortest path > 110), attention with
rope, D 512, T 3, n 4 (the official code; the paper says 6), N_sup 16, batch 768, lr 1e-4, weight decay 1.0, 50k
epochs, EMA 0.999; dihedral augmentation optional (`aug=true`). Smaller sizes train on mazes the package generates.

    python recipes/maze_hard.py --size smoke
    python recipes/maze_hard.py --set source=data/maze-30x30-hard-1k-csv
    keras-trm train maze --size medium
"""

from dataclasses import dataclass
from typing import ClassVar, Optional

try:
    from recipes import common
except ImportError:  # python recipes/maze_hard.py
    import common  # type: ignore


@dataclass
class MazeConfig(common.TRMConfig):
    """Maze-Hard settings (SPEC 3)."""

    L_cycles: int = 4
    # --- data
    source: str = "hf:sapientinc/maze-30x30-hard-1k"  # CSV folder (train.csv/test.csv), hf:<repo>, or "generate"
    grid: int = 30  # side of generated mazes when source == "generate"
    train_count: int = 1000
    test_count: int = 1000
    min_path: Optional[int] = None  # generated: shortest path longer than this (default scales 110 at 30x30)
    aug: bool = False  # 8 dihedral copies of each train maze

    NAME: ClassVar[str] = "maze"
    SIZES: ClassVar[dict] = {
        "paper": {},
        "medium": dict(
            source="generate",
            grid=12,
            train_count=1000,
            test_count=200,
            aug=True,
            hidden_dim=128,
            num_heads=4,
            puzzle_emb_len=4,
            H_cycles=2,
            L_cycles=3,
            halt_max_steps=8,
            dtype="float32",
            global_batch_size=64,
            learning_rate=1e-3,
            puzzle_emb_learning_rate=1e-3,
            weight_decay=0.1,
            puzzle_emb_weight_decay=0.1,
            warmup_steps=200,
            ema=False,
            max_steps=5000,
            eval_every_steps=1000,
            eval_max_examples=200,
        ),
        "smoke": dict(
            source="generate",
            grid=8,
            train_count=300,
            test_count=50,
            aug=True,
            hidden_dim=64,
            num_heads=4,
            puzzle_emb_len=4,
            H_cycles=2,
            L_cycles=3,
            halt_max_steps=4,
            dtype="float32",
            global_batch_size=32,
            learning_rate=3e-3,
            puzzle_emb_learning_rate=3e-3,
            weight_decay=0.1,
            puzzle_emb_weight_decay=0.1,
            warmup_steps=50,
            ema=False,
            max_steps=500,
            eval_every_steps=100,
            eval_max_examples=50,
        ),
        "tiny": dict(
            source="generate",
            grid=6,
            train_count=12,
            test_count=4,
            aug=False,
            hidden_dim=32,
            num_heads=2,
            num_layers=1,
            puzzle_emb_len=2,
            H_cycles=1,
            L_cycles=1,
            halt_max_steps=2,
            dtype="float32",
            global_batch_size=4,
            learning_rate=1e-3,
            puzzle_emb_learning_rate=1e-3,
            weight_decay=0.1,
            puzzle_emb_weight_decay=0.1,
            warmup_steps=2,
            ema=False,
            max_steps=4,
            eval_every_steps=2,
            tensorboard=False,
            verbose=0,
        ),
    }


def build_data(cfg):
    """Build the dataset into `cfg.data_dir`: from a CSV folder / hub repo, or from generated mazes."""
    from keras_trm.data import build_maze_dataset, make_maze_csvs

    source = cfg.source
    if source == "generate":
        source = cfg.data_dir + "-csv"
        make_maze_csvs(
            source,
            n=cfg.grid,
            train_count=cfg.train_count,
            test_count=cfg.test_count,
            seed=cfg.seed,
            min_path=cfg.min_path,
        )
        subsample = None
    else:
        subsample = cfg.train_count
    return build_maze_dataset(
        cfg.data_dir,
        source,
        subsample_size=subsample,
        aug=cfg.aug,
        seed=cfg.seed,
        progress=cfg.verbose > 0,
        overwrite=True,
    )


def evaluate(solver, cfg, data_dir, test_batches, max_examples=0, progress=False):
    """Exact / token accuracy and shortest-path validity over the test split (keras_trm.evaluation.grids)."""
    from keras_trm.data import read_metadata

    return common.evaluate_grids(solver, test_batches, read_metadata(data_dir), max_examples, progress)


def main(argv=None):
    """Train and evaluate TRM on mazes; returns the results dict (also in <out_dir>/results.json)."""
    return common.recipe_main(MazeConfig, build_data, evaluate, argv)


Config = MazeConfig

if __name__ == "__main__":
    main()
