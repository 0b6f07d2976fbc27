"""How long a recipe trains and how often it evaluates: the official trainer's step and evaluation counts."""

import math


def train_group_passes(cfg):
    """Group permutations per pass of the training sampler: the official `epochs_per_iter` (= `eval_interval`).

    Args:
        cfg: TRMConfig. The run's settings; with `max_steps > 0` one pass is one permutation.

    Returns:
        int: the `group_passes` of the training `PuzzleBatches`.
    """
    return 1 if cfg.max_steps > 0 else cfg.eval_interval


def official_schedule(
    epochs, eval_interval, num_groups, mean_puzzle_examples, global_batch_size, batches_per_iteration
):
    """(optimizer steps, steps per evaluation, evaluations) of the official trainer (`pretrain.py`).

    It stops updating at `total_steps = int(epochs * groups * mean_puzzle_examples / global_batch_size)` and runs
    `epochs // eval_interval` iterations, each one pass of the sampler over `eval_interval` concatenated group
    permutations (one partial batch dropped per iteration) followed by one evaluation.

    Args:
        epochs: int. Official epochs (passes over the training groups).
        eval_interval: int. Official epochs per iteration (one evaluation each); must divide `epochs`.
        num_groups: int. Groups of the training split (a puzzle and its augmented variants).
        mean_puzzle_examples: float. Examples per puzzle, on average.
        global_batch_size: int. Examples per optimizer step.
        batches_per_iteration: int. Batches the sampler serves per iteration.

    Raises:
        ValueError: `eval_interval` does not divide `epochs`.

    Example:
    >>> official_schedule(50000, 5000, 1000, 1.0, 768, batches_per_iteration=5000 * 1000 // 768)
    (65100, 6510, 10)
    """
    if epochs % eval_interval:
        raise ValueError(f"eval_interval ({eval_interval}) must divide epochs ({epochs}), as in the official trainer")
    iterations = epochs // eval_interval
    total_steps = int(epochs * num_groups * mean_puzzle_examples / global_batch_size)
    return min(total_steps, iterations * batches_per_iteration), batches_per_iteration, iterations


def schedule(cfg, train):
    """(total optimizer steps, steps per Keras epoch = per evaluation, Keras epochs) for training on `train`.

    With `epochs` this is `official_schedule`: a Keras epoch is one iteration (the batches of the sampler's first
    pass; passes have the same length whenever every puzzle has one example, as in Sudoku and Maze, and differ by a
    few cut batches otherwise). When `total_steps` ends training before the last iteration, the run stops there (the
    official loop would repeat the same evaluation). With `max_steps`, that many steps with an evaluation every
    `eval_every_steps`.

    Args:
        cfg: TRMConfig. The run's settings.
        train: PuzzleBatches. The training split's train-mode batches with `group_passes=train_group_passes(cfg)`,
            so that one of its passes is one official iteration.
    """
    if cfg.max_steps > 0:
        total = int(cfg.max_steps)
        every = min(int(cfg.eval_every_steps) if cfg.eval_every_steps > 0 else total, total)
        return total, every, math.ceil(total / every)
    ds = train.dataset
    return official_schedule(
        cfg.epochs,
        cfg.eval_interval,
        ds.num_groups,
        ds.num_examples / max(ds.num_puzzles, 1),
        cfg.global_batch_size,
        train.steps_per_epoch,
    )
