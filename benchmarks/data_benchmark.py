"""Data benchmark: official Sudoku build (1000 base puzzles x 1000 augmentations) and sampler speed; prints JSON.

The public Sudoku-Extreme CSV cannot be downloaded offline, so the 1000 base puzzles are generated 9x9 puzzles
(`keras_trm.data.generators`); build cost does not depend on their difficulty. One function per benchmark:
`sudoku_benchmark(args)`; an `arc_benchmark(args)` defined in this module (or importable from
`arc_data_benchmark`) is run too.

    python benchmarks/data_benchmark.py [--base 1000] [--aug 1000] [--batch-size 768] [--workers 2]
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


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sampler_speed(root, split, mode, batch_size, batches):
    """Batches per second of PuzzleBatches (train: one batch per stream position, so a new pass each time)."""
    from keras_trm.data.dataset import PuzzleDataset
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
    return {"split": split, "mode": mode, "batch_size": batch_size, "batches": n, "batches_per_s": n / dt,
            "examples_per_s": n * batch_size / dt, "setup_s": setup}


def sudoku_benchmark(args):
    import numpy as np

    from keras_trm.data.generators import make_sudoku_csvs
    from keras_trm.data.sudoku import build_sudoku_dataset

    work = tempfile.mkdtemp(prefix="sudoku_bench_", dir=args.tmp)
    try:
        t0 = time.perf_counter()
        info = make_sudoku_csvs(os.path.join(work, "csv"), 9, args.base, args.test, seed=0, workers=args.workers)
        gen_s = time.perf_counter() - t0
        root = os.path.join(work, "sudoku-1k-aug-1000")
        rss0 = _rss_mb()
        tracemalloc.start()
        t0 = time.perf_counter()
        build_sudoku_dataset(root, os.path.join(work, "csv"), subsample_size=args.base, num_aug=args.aug, seed=0,
                             progress=False)
        build_s = time.perf_counter() - t0
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        meta = json.load(open(os.path.join(root, "metadata.json")))
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        examples = meta["splits"]["train"]["examples"] + meta["splits"]["test"]["examples"]
        out = {
            "generator": {"puzzles": args.base + args.test, "seconds": gen_s, "workers": args.workers,
                          "ratings_train": info["train"], "ratings_test": info["test"]},
            "build": {"base_puzzles": args.base, "augmentations": args.aug, "splits": meta["splits"],
                      "seconds": build_s, "examples_per_s": examples / build_s, "disk_mb": disk / 2 ** 20,
                      "tracemalloc_peak_mb": traced_peak / 2 ** 20, "peak_rss_mb": _rss_mb(),
                      "rss_before_build_mb": rss0},
            "sampler": [sampler_speed(root, "train", "train", args.batch_size, args.batches),
                        sampler_speed(root, "test", "eval", args.batch_size, args.batches)],
        }
        for o in ("ratings_train", "ratings_test"):
            out["generator"][o].pop("path", None)
        np.set_printoptions()
        return out
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
    ap.add_argument("--skip-arc", action="store_true")
    args = ap.parse_args(argv)
    results = {"sudoku": sudoku_benchmark(args)}
    arc = globals().get("arc_benchmark")
    if arc is None and not args.skip_arc:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        try:
            from arc_data_benchmark import arc_benchmark as arc  # noqa: F811
        except ImportError:
            arc = None
    if arc is not None and not args.skip_arc:
        results["arc"] = arc(args)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
