"""Training and inference throughput of TRM for each official configuration and backend.

For every (backend, configuration) pair a fresh subprocess (so that KERAS_BACKEND and the peak memory are its own)
builds the official-size model (D 512, 8 heads, 2 layers, P 16, H_cycles 3), trains `--steps` optimizer steps on
random puzzles and measures:

- training examples/s (rows x supervision steps per second: B / step time, the issue's "examples per second") and
  optimizer steps/s (one optimizer step = one supervision step of the whole batch);
- achieved FLOP/s (analytic count of the matmuls and attention, forward + backward of the last recursion) as a
  fraction of this machine's float32 matmul peak, measured in the subprocess with a large matmul in numpy and in the
  backend;
- compile time (first step minus the median steady step);
- peak memory (`resource.getrusage` maxrss of the subprocess, after training and at the end);
- inference examples/s through `predict` with `halt_max_steps` fixed steps and with halting at inference.

Results go to `benchmarks/results/train_throughput_<tag>.json` and a markdown table to `docs/benchmarks.md`.

The L=900 configurations (Maze, ARC) are very slow on a CPU: run them with a small batch and few steps, e.g.

    python benchmarks/train_throughput.py --configs sudoku_att --batch 32 --steps 3
    python benchmarks/train_throughput.py --configs maze arc --batch 2 --steps 2 --infer-batch 1 --infer-steps 2

Scaling mode (`--processes 1 2 4`): training examples/s of the global batch `--batch` for each device count, per
backend, the way each backend scales out: PyTorch on N processes (torch.distributed: gloo on CPUs, NCCL on GPUs,
each rank its shard of the batch, as under torchrun), TensorFlow with MirroredStrategy over N devices (N logical
CPU devices here, else the GPUs) and JAX with `keras_trm.distribution.data_parallel(N)` (N simulated host devices
on CPUs, else the accelerators). `--small` shrinks the model for CPUs (D 64, 2 heads, 1 x 2 cycles, P 4):

    python benchmarks/train_throughput.py --processes 1 2 --small --configs sudoku_att --batch 16 --steps 4
    python benchmarks/train_throughput.py --processes 1 2 4 8 --configs sudoku_att --batch 768   # the paper's size

Untrained weights never halt (the halting head starts at bias -5), so inference with halting here measures the
cost of the halting loop, not its savings; `benchmarks/eval_halting.py` measures those on a trained model.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("jax", "tensorflow", "torch")
COMMON = dict(hidden_dim=512, num_heads=8, num_layers=2, H_cycles=3, expansion=4.0, puzzle_emb_len=16)
CONFIGS = {
    "sudoku_att": dict(vocabulary_size=11, sequence_length=81, L_cycles=6, mlp_t=False, pos_encodings="rope"),
    "sudoku_mlp": dict(vocabulary_size=11, sequence_length=81, L_cycles=6, mlp_t=True, pos_encodings="none"),
    "maze": dict(vocabulary_size=6, sequence_length=900, L_cycles=4, mlp_t=False, pos_encodings="rope"),
    "arc": dict(
        vocabulary_size=12,
        sequence_length=900,
        L_cycles=4,
        mlp_t=False,
        pos_encodings="rope",
        num_puzzle_identifiers=1000,
    ),
}


SMALL = dict(hidden_dim=64, num_heads=2, num_layers=2, H_cycles=1, expansion=4.0, puzzle_emb_len=4)


def _round256(x):
    return -(x // -256) * 256


def flops_per_row(cfg):
    """(train FLOPs per row per optimizer step, inference FLOPs per row per supervision step); matmuls only."""
    D, V, L = COMMON["hidden_dim"], cfg["vocabulary_size"], cfg["sequence_length"]
    S = COMMON["puzzle_emb_len"] + L
    inner = _round256(round(COMMON["expansion"] * D * 2 / 3))
    channel = 2 * S * (D * 2 * inner + inner * D)
    if cfg["mlp_t"]:
        inner_t = _round256(round(COMMON["expansion"] * S * 2 / 3))
        mix = 2 * D * (S * 2 * inner_t + inner_t * S)
    else:
        mix = 2 * S * (3 * D * D + D * D) + 2 * 2 * S * S * D  # projections, QK^T and AV
    f = COMMON["num_layers"] * (mix + channel)
    per_recursion = (cfg["L_cycles"] + 1) * f
    heads = 2 * S * D * V
    forward = COMMON["H_cycles"] * per_recursion + heads
    backward = 2 * (per_recursion + heads)  # only the last recursion is differentiated
    return forward + backward, forward


def measure_peak(backend_matmul, n=2048, repeats=5):
    """Best float32 matmul FLOP/s of numpy and of the backend."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    best_np = min(_timed(lambda: a @ a) for _ in range(repeats))
    backend_matmul(a)  # warm up
    best_be = min(_timed(lambda: backend_matmul(a)) for _ in range(repeats))
    return 2 * n**3 / best_np, 2 * n**3 / best_be


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _backend_matmul():
    import keras
    from keras import ops

    backend = keras.backend.backend()
    cache = {}

    def run(a):
        if "x" not in cache:
            cache["x"] = ops.convert_to_tensor(a)
        y = ops.matmul(cache["x"], cache["x"])
        if backend == "jax":
            y.block_until_ready()
        else:
            ops.convert_to_numpy(y[0, 0])
        return y

    return run


def device_peak_mb():
    """Peak accelerator memory of this process in MB, or None on CPU."""
    import keras

    try:
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            stats = dev.memory_stats() if dev.platform != "cpu" else None
            return stats["peak_bytes_in_use"] / 2**20 if stats else None
        if backend == "torch":
            import torch

            return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        import tensorflow as tf

        return (
            tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
            if tf.config.list_physical_devices("GPU")
            else None
        )
    except Exception:  # noqa: BLE001 - a measurement, never a failure
        return None


def torch_threads(requested=0):
    """Torch intra-op threads: `requested`, or (0) all cores on an idle machine and 1 on a loaded one.

    On a machine whose load average exceeds its core count, every multi-threaded torch op waits for the scheduler
    to run all of its threads: measured on the shared 2-core machine (load ~13), an elementwise op on a (4, 97, 512)
    tensor took 21 ms with 2 threads and 1.3 ms with 1, a (388, 512) x (512, 1536) matmul 150 ms vs 43 ms.
    """
    if requested:
        return requested
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] > cores else cores


def worker(args):
    """Runs in the subprocess: one backend (from KERAS_BACKEND), one configuration; prints one JSON line."""
    import keras
    import numpy as np

    from keras_trm.models import TRMBackbone, TRMPuzzleSolver

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(torch_threads(args.threads))
    peak_np, peak_be = measure_peak(_backend_matmul())
    cfg = CONFIGS[args.configs[0]]
    B, steps = args.batch, args.steps
    keras.utils.set_random_seed(0)
    backbone = TRMBackbone(**COMMON, **cfg, dtype=args.dtype)
    solver = TRMPuzzleSolver(backbone, halt_max_steps=16, seed=0)
    solver.compile(learning_rate=1e-4, warmup_steps=2000)
    rng = np.random.default_rng(0)
    V, L = cfg["vocabulary_size"], cfg["sequence_length"]
    n = B * steps
    x = {
        "inputs": rng.integers(1, V, (n, L)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, cfg.get("num_puzzle_identifiers", 1), (n,)).astype("int32"),
    }
    y = rng.integers(1, V, (n, L)).astype("int32")

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step
            times.append(time.perf_counter() - self.t)

    solver.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    train_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steady = float(np.median(times[1:])) if len(times) > 1 else times[0]
    train_flops, infer_flops = flops_per_row(cfg)
    achieved = train_flops * B / steady

    infer = {}
    xi = {k: v[: args.infer_batch] for k, v in x.items()}
    solver.halt_max_steps = args.infer_steps
    for halt in (False, True):
        solver.halt_at_inference = halt
        solver.predict_function = None
        first = _timed(lambda: solver.predict(xi, batch_size=args.infer_batch, verbose=0))
        out = {}
        t = _timed(lambda: out.update(solver.predict(xi, batch_size=args.infer_batch, verbose=0)))
        infer["halting" if halt else "fixed"] = {
            "examples_per_s": args.infer_batch / t,
            "seconds": t,
            "compile_s": max(first - t, 0.0),
            "mean_steps": float(np.mean(out["steps"])),
            "achieved_flops_fraction": infer_flops * float(np.sum(out["steps"])) / t / peak_be,
        }
    result = {
        "backend": backend,
        "config": args.configs[0],
        "dtype": args.dtype,
        "threads": torch_threads(args.threads) if backend == "torch" else None,
        "load_average": os.getloadavg()[0],
        "batch": B,
        "steps": len(times),
        "step_times_s": times,
        "steady_step_s": steady,
        "examples_per_s": B / steady,
        "optimizer_steps_per_s": 1.0 / steady,
        "compile_s": times[0] - steady,
        "train_flops_per_row": train_flops,
        "achieved_flops": achieved,
        "peak_matmul_flops_numpy": peak_np,
        "peak_matmul_flops_backend": peak_be,
        "flops_fraction_of_backend_peak": achieved / peak_be,
        "flops_fraction_of_numpy_peak": achieved / peak_np,
        "train_peak_rss_mb": train_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device_peak_mb": device_peak_mb(),
        "infer_batch": args.infer_batch,
        "infer_halt_max_steps": args.infer_steps,
        "inference": infer,
    }
    print("RESULT " + json.dumps(result), flush=True)


def run_all(args):
    results = []
    for config in args.configs:
        for backend in args.backends:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--configs",
                config,
                "--batch",
                str(args.batch),
                "--steps",
                str(args.steps),
                "--infer-batch",
                str(args.infer_batch),
                "--infer-steps",
                str(args.infer_steps),
                "--dtype",
                args.dtype,
                "--threads",
                str(args.threads),
            ]
            env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))
            print(f"== {config} on {backend} ...", flush=True)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(proc.stderr[-3000:])
                results.append({"backend": backend, "config": config, "error": proc.stderr[-500:]})
                continue
            result = json.loads(lines[-1][len("RESULT ") :])
            print(
                f"   {result['examples_per_s']:.2f} ex/s, step {result['steady_step_s']:.1f} s, "
                f"{100 * result['flops_fraction_of_backend_peak']:.0f}% of peak",
                flush=True,
            )
            results.append(result)
    meta = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "note": args.note,
        "time": time.strftime("%Y-%m-%d %H:%M"),
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"train_throughput_{args.tag}.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {path}")
    return results


def scale_worker(args):
    """One process of the scaling mode: `--replicas` devices (TensorFlow, JAX) or one torchrun rank (PyTorch); the
    process that reports (rank 0) prints one RESULT line."""
    backend = os.environ.get("KERAS_BACKEND", "jax")
    replicas = args.replicas
    if backend == "tensorflow" and replicas > 1:
        import tensorflow as tf  # logical CPU devices must exist before TensorFlow starts

        if not tf.config.list_physical_devices("GPU"):
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    import contextlib

    import keras
    import numpy as np

    from keras_trm import distribution
    from keras_trm.models import TRMBackbone, TRMPuzzleSolver

    ranks = distribution.initialize()  # torchrun's ranks on PyTorch; 1 elsewhere
    if backend == "torch":
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks) if not args.threads else args.threads)
    scope = contextlib.nullcontext()
    if backend == "jax" and replicas > 1:
        keras.distribution.set_distribution(distribution.data_parallel(replicas))
    elif backend == "tensorflow" and replicas > 1:
        scope = distribution.tf_strategy(replicas).scope()
    cfg = CONFIGS[args.configs[0]]
    common = dict(SMALL, L_cycles=2) if args.small else dict(COMMON)
    local = args.batch // ranks  # rows of each optimizer step in this process (the global batch on one process)
    rng = np.random.default_rng(distribution.rank())
    V, L = cfg["vocabulary_size"], cfg["sequence_length"]
    n = local * args.steps
    x = {
        "inputs": rng.integers(1, V, (n, L)).astype("int32"),
        "puzzle_identifiers": rng.integers(0, cfg.get("num_puzzle_identifiers", 1), (n,)).astype("int32"),
    }
    y = rng.integers(1, V, (n, L)).astype("int32")
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step (on PyTorch ranks: after the step's all-reduce)
            times.append(time.perf_counter() - self.t)

    with scope:
        keras.utils.set_random_seed(0)
        backbone = TRMBackbone(**{**cfg, **common}, dtype=args.dtype)
        solver = TRMPuzzleSolver(backbone, halt_max_steps=16, seed=0)
        solver.compile(learning_rate=1e-4, warmup_steps=2000)
        solver.fit(x, y, batch_size=local, epochs=1, shuffle=False, verbose=0, callbacks=[Timer()])
    steady = float(np.median(times[1:])) if len(times) > 1 else times[0]
    if distribution.is_main_process():
        result = {
            "backend": backend,
            "config": args.configs[0] + ("_small" if args.small else ""),
            "dtype": args.dtype,
            "devices": max(ranks, replicas),
            "how": "torch.distributed ranks"
            if ranks > 1
            else (
                "one process"
                if replicas == 1
                else "one process, " + ("MirroredStrategy" if backend == "tensorflow" else "keras.distribution")
            ),
            "global_batch": args.batch,
            "steps": len(times),
            "step_times_s": times,
            "steady_step_s": steady,
            "examples_per_s": args.batch / steady,
            "compile_s": times[0] - steady,
            "load_average": os.getloadavg()[0],
        }
        print("RESULT " + json.dumps(result), flush=True)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_scale(args):
    """Scaling mode: each backend on each of `--processes` device counts; a table of examples/s."""
    results = []
    for backend in args.backends:
        for count in args.processes:
            if args.batch % count:
                print(f"== skip {count} devices: the batch {args.batch} does not split evenly")
                continue
            base = [sys.executable, __file__, "--scale-worker", "--configs", args.configs[0], "--batch",
                    str(args.batch), "--steps", str(args.steps), "--dtype", args.dtype, "--threads",
                    str(args.threads)] + (["--small"] if args.small else [])  # fmt: skip
            env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))
            ranks = count if backend == "torch" else 1
            if backend == "jax" and count > 1:
                env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE=str(ranks))
            print(f"== {backend} on {count} device(s) ...", flush=True)
            procs = []
            for rank in range(ranks):
                cmd = base + ["--replicas", str(1 if backend == "torch" else count)]
                rank_env = dict(env, RANK=str(rank), LOCAL_RANK=str(rank))
                procs.append(subprocess.Popen(cmd, env=rank_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True))  # fmt: skip
            outputs = [p.communicate() for p in procs]
            lines = [ln for ln in outputs[0][0].splitlines() if ln.startswith("RESULT ")]
            if any(p.returncode for p in procs) or not lines:
                err = next((e for p, (_, e) in zip(procs, outputs) if p.returncode), outputs[0][1])
                print(err[-3000:])
                results.append({"backend": backend, "devices": count, "error": err[-300:]})
                continue
            result = json.loads(lines[-1][len("RESULT ") :])
            print(f"   {result['examples_per_s']:.1f} ex/s, step {result['steady_step_s']:.3f} s", flush=True)
            results.append(result)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"train_scaling_{args.tag}.json"
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "note": args.note}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {path}")
    return results


def scale_table(results):
    """One row per (backend, device count): examples/s of the global batch and the speed-up over one device."""
    head = "| backend | devices | how | global batch | step s | train ex/s | vs 1 device |\n"
    head += "|---|---|---|---|---|---|---|\n"
    one = {r["backend"]: r["examples_per_s"] for r in results if r.get("devices") == 1 and "error" not in r}
    rows = []
    for r in results:
        if "error" in r:
            rows.append(f"| {r['backend']} | {r['devices']} | failed: {r['error'][-80:]!r} |||||")
            continue
        ratio = f"{r['examples_per_s'] / one[r['backend']]:.2f}x" if r["backend"] in one else ""
        rows.append(
            f"| {r['backend']} | {r['devices']} | {r['how']} | {r['global_batch']} | {r['steady_step_s']:.3f} | "
            f"{r['examples_per_s']:.1f} | {ratio} |"
        )
    return head + "\n".join(rows) + "\n"


def markdown_table(results):
    """One row per (config, backend) result."""
    head = (
        "| config | backend | dtype | batch | step s | train ex/s | opt steps/s | % of backend matmul peak "
        "(peak GFLOP/s) | compile s | peak RSS MB | infer ex/s fixed (N_sup) | infer ex/s halting |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        if "error" in r:
            rows.append(f"| {r['config']} | {r['backend']} | failed: {r['error'][-80:]!r} |||||||||||")
            continue
        i = r["inference"]
        rows.append(
            f"| {r['config']} | {r['backend']} | {r['dtype']} | {r['batch']} | {r['steady_step_s']:.1f} | "
            f"{r['examples_per_s']:.2f} | {r['optimizer_steps_per_s']:.3f} | "
            f"{100 * r['flops_fraction_of_backend_peak']:.0f}% ({r['peak_matmul_flops_backend'] / 1e9:.0f}) | "
            f"{r['compile_s']:.1f} | {r['peak_rss_mb']:.0f} | {i['fixed']['examples_per_s']:.3f} "
            f"({r['infer_halt_max_steps']}) | {i['halting']['examples_per_s']:.3f} |"
        )
    return head + "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps (the first one compiles)")
    parser.add_argument("--infer-batch", type=int, default=8)
    parser.add_argument("--infer-steps", type=int, default=16, help="halt_max_steps at inference")
    parser.add_argument("--dtype", default="float32", help="float32 or mixed_bfloat16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--note", default="")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="only print the table of these result files")
    parser.add_argument(
        "--processes", nargs="+", type=int, metavar="N", help="scaling mode: train on each number of devices"
    )
    parser.add_argument("--small", action="store_true", help="scaling mode: a small model (D 64) for CPUs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replicas", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_worker:
        scale_worker(args)
        return
    if args.processes:
        if args.tag == "cpu":
            args.tag = "cpu_small" if args.small else "cpu"
        print(scale_table(run_scale(args)))
        return
    if args.table:
        print(markdown_table([r for path in args.table for r in json.loads(pathlib.Path(path).read_text())["results"]]))
        return
    if args.worker:
        worker(args)
        return
    results = run_all(args)
    print(markdown_table(results))


if __name__ == "__main__":
    main()
