"""Data benchmark: official Sudoku build (1000 base puzzles x 1000 augmentations), Maze build (1000 generated 30x30
mazes x 8 dihedral augmentations), ARC-AGI-1 + ConceptARC build (1000 variants), and sampler speed; prints JSON.

The public Sudoku-Extreme and Maze-Hard CSVs cannot be downloaded offline, so the base puzzles are generated
(`keras_trm.data.*_generator`); build cost does not depend on their difficulty. One function per benchmark:
`sudoku_benchmark(args)`, `maze_benchmark(args)` and `arc_benchmark(args)` (from `arc_data_benchmark`, by default on
the first ``--arc-task-limit`` tasks per source and extrapolated; ``--arc-full`` builds all of it: about 12 minutes
and 7 GiB of temporary disk).

    python benchmarks/data_benchmark.py [--base 1000] [--aug 1000] [--mazes 1000] [--batch-size 768] [--workers 2]
    python benchmarks/data_benchmark.py --arc-full            # the full ARC-AGI-1 build too
    python benchmarks/data_benchmark.py --skip-sudoku --skip-arc   # Maze only

Maze figure (--skip-sudoku --skip-arc --workers 1 --maze-min-path 40, shared 2-core machine): 1000 train mazes x 8
dihedral images + 1000 test mazes = 9000 examples built in 3.5 s (0.9 s CPU), 15.6 MB (uint8), peak RSS +19 MB;
sampler at batch 768: train 191 batches/s. Generating 2000 30x30 mazes with paths > 40 took 43 s on one worker;
Maze-Hard's > 110 rejects about 299 grids in 300 and takes far longer, which is a generator figure, not a build one.
ARC figures: see arc_data_benchmark.py.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arc_data_benchmark import PeakRSS, _cpu_s, _loadavg, arc_benchmark, disk_bytes  # noqa: E402


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sampler_speed(root, split, mode, batch_size, batches):
    """Batches per second of PuzzleBatches (train: one batch per stream position, so a new pass each time)."""
    from keras_trm.data.puzzle_dataset import PuzzleDataset
    from keras_trm.data.sampler import PuzzleBatches

    ds = PuzzleDataset(root, split)
    t0 = time.perf_counter()
    loader = PuzzleBatches(ds, batch_size, mode=mode, seed=0, steps_per_epoch=batches if mode == "train" else None)
    setup = time.perf_counter() - t0
    n = min(batches, len(loader))
    t0 = time.perf_counter()
    for i in range(n):
        loader[i]
    dt = time.perf_counter() - t0
    return {
        "split": split,
        "mode": mode,
        "batch_size": batch_size,
        "batches": n,
        "batches_per_s": n / dt,
        "examples_per_s": n * batch_size / dt,
        "setup_s": setup,
    }


def sudoku_benchmark(args):
    import numpy as np

    from keras_trm.data.sudoku import build_sudoku_dataset
    from keras_trm.data.sudoku_generator import make_sudoku_csvs

    work = tempfile.mkdtemp(prefix="sudoku_bench_", dir=args.tmp)
    try:
        t0 = time.perf_counter()
        info = make_sudoku_csvs(os.path.join(work, "csv"), 9, args.base, args.test, seed=0, workers=args.workers)
        gen_s = time.perf_counter() - t0
        root = os.path.join(work, "sudoku-1k-aug-1000")
        rss0 = _rss_mb()
        tracemalloc.start()
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), _cpu_s()
            build_sudoku_dataset(
                root, os.path.join(work, "csv"), subsample_size=args.base, num_aug=args.aug, seed=0, progress=False
            )
            build_s, cpu_s = time.perf_counter() - t0, _cpu_s() - c0
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        meta = json.load(open(os.path.join(root, "metadata.json")))
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        examples = meta["splits"]["train"]["examples"] + meta["splits"]["test"]["examples"]
        out = {
            "generator": {
                "puzzles": args.base + args.test,
                "seconds": gen_s,
                "workers": args.workers,
                "ratings_train": info["train"],
                "ratings_test": info["test"],
            },
            "build": {
                "base_puzzles": args.base,
                "augmentations": args.aug,
                "splits": meta["splits"],
                "seconds": build_s,
                "cpu_seconds": cpu_s,
                "load_average_1min": _loadavg(),
                "examples_per_s": examples / build_s,
                "disk_mb": disk / 2**20,
                "token_dtype": meta.get("token_dtype"),
                "tracemalloc_peak_mb": traced_peak / 2**20,
                "peak_rss_mb": _rss_mb(),
                "rss_before_build_mb": rss0,
                "build_peak_rss_increase_mb": mem.as_dict()["peak_rss_increase_mb"],
            },
            "sampler": [
                sampler_speed(root, "train", "train", args.batch_size, args.batches),
                sampler_speed(root, "test", "eval", args.batch_size, args.batches),
            ],
        }
        for o in ("ratings_train", "ratings_test"):
            out["generator"][o].pop("path", None)
        np.set_printoptions()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def maze_benchmark(args):
    """Generate ``args.mazes`` train (and ``args.maze_test``) 30x30 mazes, build them with 8x dihedral augmentation."""
    from keras_trm.data.maze import build_maze_dataset
    from keras_trm.data.maze_generator import make_maze_csvs

    work = tempfile.mkdtemp(prefix="maze_bench_", dir=args.tmp)
    try:
        t0 = time.perf_counter()
        info = make_maze_csvs(
            os.path.join(work, "csv"),
            args.maze_size,
            args.mazes,
            args.maze_test,
            seed=0,
            min_path=args.maze_min_path,
            workers=args.workers,
        )
        gen_s = time.perf_counter() - t0
        root = os.path.join(work, f"maze-{args.maze_size}x{args.maze_size}-{args.mazes}-aug8")
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), _cpu_s()
            build_maze_dataset(root, os.path.join(work, "csv"), aug=True, seed=0, progress=False)
            build_s, cpu_s = time.perf_counter() - t0, _cpu_s() - c0
        with open(os.path.join(root, "metadata.json")) as f:
            meta = json.load(f)
        examples = meta["splits"]["train"]["examples"] + meta["splits"]["test"]["examples"]
        for split in ("train", "test"):
            info[split].pop("path", None)
        return {
            "generator": {
                "size": args.maze_size,
                "mazes": args.mazes + args.maze_test,
                "seconds": gen_s,
                "min_path": args.maze_min_path if args.maze_min_path is not None else "default (hard)",
                "workers": args.workers,
                "path_lengths_train": info["train"],
                "path_lengths_test": info["test"],
            },
            "build": {
                "mazes": args.mazes,
                "augmentation": "8 dihedral",
                "splits": meta["splits"],
                "token_dtype": meta.get("token_dtype"),
                "seconds": build_s,
                "cpu_seconds": cpu_s,
                "load_average_1min": _loadavg(),
                "examples_per_s": examples / build_s,
                "disk_mb": disk_bytes(root) / 2**20,
                **mem.as_dict(),
            },
            "sampler": [
                sampler_speed(root, "train", "train", args.batch_size, args.batches),
                sampler_speed(root, "test", "eval", args.batch_size, args.batches),
            ],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=int, default=1000, help="base train puzzles (official 1000)")
    ap.add_argument("--aug", type=int, default=1000, help="augmentations per base puzzle (official 1000)")
    ap.add_argument("--test", type=int, default=100, help="generated test puzzles")
    ap.add_argument("--batch-size", type=int, default=768)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR"))
    ap.add_argument("--mazes", type=int, default=1000, help="generated train mazes (8 dihedral images each)")
    ap.add_argument("--maze-test", type=int, default=1000, help="generated test mazes")
    ap.add_argument("--maze-size", type=int, default=30)
    ap.add_argument(
        "--maze-min-path",
        type=int,
        default=None,
        help="shortest path longer than this (default: Maze-Hard's 110 at 30x30; a smaller one generates "
        "much faster, and the build figure does not depend on it)",
    )
    ap.add_argument("--arc-full", action="store_true", help="build all of ARC-AGI-1 + ConceptARC (~12 min, 7 GiB)")
    ap.add_argument("--arc-task-limit", type=int, default=16, help="ARC tasks per source when not --arc-full")
    ap.add_argument("--arc-variants", type=int, default=1000)
    ap.add_argument("--arc-batches", type=int, default=100)
    ap.add_argument(
        "--arc-no-cold",
        dest="arc_cold",
        action="store_false",
        help="skip the ARC sampler measurement with the build evicted from the page cache",
    )
    ap.add_argument("--skip-sudoku", action="store_true")
    ap.add_argument("--skip-maze", action="store_true")
    ap.add_argument("--skip-arc", action="store_true")
    args = ap.parse_args(argv)
    results = {}
    if not args.skip_sudoku:
        results["sudoku"] = sudoku_benchmark(args)
    if not args.skip_maze:
        results["maze"] = maze_benchmark(args)
    if not args.skip_arc:
        results["arc"] = arc_benchmark(args)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
