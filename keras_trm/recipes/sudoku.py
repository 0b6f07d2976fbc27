"""The Sudoku-Extreme recipe: TRM-MLP (the paper's best, 87.4%) and TRM-Att (74.7%).

Paper size: 1000 Sudoku-Extreme train puzzles x 1000 augmentations, the whole test set (422,786), D 512, T 3, n 6,
N_sup 16, batch 768, lr 1e-4, weight decay 1.0, 50k epochs, EMA 0.999. The smaller sizes train on Sudoku puzzles the
package generates offline (`keras_trm.data.make_sudoku_csvs`).

    keras-trm train sudoku --size smoke                          # 4x4, a few minutes on a laptop CPU
    keras-trm train sudoku --variant att --set source=data/sudoku-extreme-csv
"""

import os
from dataclasses import dataclass
from typing import ClassVar, Optional

from keras_trm.data import build_sudoku_dataset, make_sudoku_csvs
from keras_trm.data.sudoku import SUDOKU_REPO
from keras_trm.recipes.config import SMOKE_SIZE, TINY_SIZE, TRMConfig, paper_settings
from keras_trm.recipes.evaluate import evaluate_grid_split
from keras_trm.recipes.runner import recipe_main

_MLP, _ATT = paper_settings("trm_sudoku_mlp"), paper_settings("trm_sudoku_att")
_VARIANT_KEYS = ("mlp_t", "pos_encodings", "L_cycles")


@dataclass
class SudokuConfig(TRMConfig):
    """Sudoku-Extreme settings: variant "mlp" (mlp_t, no positions; the default) or "att" (attention, rope).

    Data fields (besides `TRMConfig`'s):
        source: str. A CSV folder (train.csv, test.csv), "hf:<repo>" or "generate" (default
            "hf:sapientinc/sudoku-extreme").
        grid: int. Side of generated puzzles (4, 6 or 9) when `source` is "generate" (default 9).
        train_count: int. Train puzzles: a subsample of the CSV, or generated (default 1000).
        test_count: int or None. Test puzzles (default None: the whole CSV test set; generated: 1000).
        num_aug: int. Augmentations per train puzzle (default 1000).
        min_rating: int or None. Keep only puzzles at least this hard (default None: all).

    Example:
    >>> from keras_trm.recipes.config import make_config
    >>> cfg = make_config(SudokuConfig, size="smoke", variant="att")
    >>> cfg.grid, cfg.hidden_dim, cfg.mlp_t, cfg.pos_encodings, cfg.resolved().out_dir
    (4, 64, False, 'learned', 'runs/sudoku-att-smoke')
    """

    variant: str = "mlp"
    mlp_t: bool = _MLP["mlp_t"]  # the paper's TRM-MLP: a SwiGLU across the sequence, no positions, n 6
    pos_encodings: str = _MLP["pos_encodings"]
    L_cycles: int = _MLP["L_cycles"]
    # --- data
    source: str = f"hf:{SUDOKU_REPO}"
    grid: int = 9
    train_count: int = 1000
    test_count: Optional[int] = None
    num_aug: int = 1000
    min_rating: Optional[int] = None

    NAME: ClassVar[str] = "sudoku"
    VARIANTS: ClassVar[dict] = {
        "mlp": {k: _MLP[k] for k in _VARIANT_KEYS},
        "att": {k: _ATT[k] for k in _VARIANT_KEYS},
    }
    SIZE_VARIANTS: ClassVar[dict] = {
        # Attention at the smoke size: learned positions (a cell's row, column and box are absolute facts; with
        # RoPE the same run stayed near 10% exact at 600 steps), half the smoke learning rate and 1000 steps.
        # Attention sits on a plateau, then jumps; at 3e-3 when it jumped depended on the backend's initialisation
        # (PyTorch: still 0% exact at 1500 steps); at 1.5e-3 PyTorch reached 90% at step 750 (docs/recipes.md).
        ("smoke", "att"): dict(pos_encodings="learned", learning_rate=1.5e-3, max_steps=1000, eval_every_steps=250),
    }
    SIZES: ClassVar[dict] = {
        "paper": {},
        # 6x6 generated puzzles, a GPU-hour-ish run (or a long CPU one).
        "medium": dict(
            source="generate",
            grid=6,
            train_count=1000,
            test_count=500,
            num_aug=100,
            hidden_dim=128,
            num_heads=4,
            puzzle_emb_len=4,
            H_cycles=2,
            L_cycles=4,
            halt_max_steps=8,
            dtype="float32",
            global_batch_size=128,
            learning_rate=1e-3,
            puzzle_emb_learning_rate=1e-3,
            weight_decay=0.1,
            puzzle_emb_weight_decay=0.1,
            warmup_steps=200,
            ema=False,
            max_steps=6000,
            eval_every_steps=1000,
            eval_max_examples=256,
        ),
        # 4x4 generated puzzles: trains and evaluates in a few minutes on a 2-core CPU (the README's main command).
        "smoke": dict(
            SMOKE_SIZE,
            source="generate",
            grid=4,
            train_count=400,
            test_count=200,
            num_aug=20,
            global_batch_size=64,
            max_steps=300,
            eval_every_steps=100,
            eval_max_examples=200,
        ),
        # The whole path in seconds (tests).
        "tiny": dict(
            TINY_SIZE,
            source="generate",
            grid=4,
            train_count=24,
            test_count=8,
            num_aug=2,
            global_batch_size=8,
        ),
    }


def build_data(cfg):
    """Build the dataset into `cfg.data_dir`: from a CSV folder / hub repo, or from generated puzzles.

    Args:
        cfg: SudokuConfig. The resolved settings (`source`, `grid`, counts, `num_aug`, `seed`).
    """
    if cfg.source == "generate":
        csv_dir = os.path.join(cfg.data_dir + "-csv")
        make_sudoku_csvs(
            csv_dir,
            n=cfg.grid,
            train_count=cfg.train_count,
            test_count=cfg.test_count or 1000,
            seed=cfg.seed,
            min_rating=cfg.min_rating or 0,
        )
        return build_sudoku_dataset(
            cfg.data_dir,
            train_csv=os.path.join(csv_dir, "train.csv"),
            test_csv=os.path.join(csv_dir, "test.csv"),
            num_aug=cfg.num_aug,
            seed=cfg.seed,
            progress=cfg.verbose > 0,
            overwrite=True,
        )
    return build_sudoku_dataset(
        cfg.data_dir,
        cfg.source,
        subsample_size=cfg.train_count,
        test_subsample_size=cfg.test_count,
        min_rating=cfg.min_rating,
        num_aug=cfg.num_aug,
        seed=cfg.seed,
        progress=cfg.verbose > 0,
        overwrite=True,
    )


evaluate = evaluate_grid_split
"""Exact / token accuracy and rule validity over the test split (`keras_trm.evaluation.grids`)."""


def main(argv=None, config_class=SudokuConfig):
    """Train and evaluate TRM on Sudoku.

    Args:
        argv: list of str or None. The command line (default None: `sys.argv[1:]`).
        config_class: type. The config class (default `SudokuConfig`; a subclass changes defaults).

    Returns:
        The results dict (also in <out_dir>/results.json), or the config with `--print-config`.
    """
    return recipe_main(config_class, build_data, evaluate, argv)
