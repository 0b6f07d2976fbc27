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
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
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
