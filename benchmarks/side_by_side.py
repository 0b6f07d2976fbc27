"""keras-trm on each backend side by side with the official TinyRecursiveModels code, in one run.

Every system (the official PyTorch code and keras-trm on JAX, TensorFlow and PyTorch) lives in its own worker
process, started at the same time and kept alive for the whole run, so that its peak memory (`getrusage` maxrss)
is its own. The parent then interleaves them step by step: training step 1 of every system, then step 2 of every
system, ... (the order rotates each round), then the inference calls the same way. Only one system computes at a
time, and a slow period of the shared machine hits every system alike, so the ratios of the medians hold even when
absolute times do not.

Per system it reports: import + model build time, the time to the first training step (it compiles on JAX and
TensorFlow), the median training step after `--warmup` steps, training examples/s (B / step), the first inference
call (compile) and the median inference call of `--infer-steps` supervision steps on `--infer-batch` rows,
inference examples/s extrapolated to the full 16 supervision steps, and peak RSS. Ratios are against the official
code. JSON goes to `benchmarks/results/side_by_side_<config>.json`; `--markdown` prints the table for
`docs/benchmarks.md`.

The official code is not part of keras-trm: pass its folder (the one holding `official_cpu.py`, which runs it on
CPU) with `--official`:

    python benchmarks/side_by_side.py --official OFFICIAL_DIR --config small
    python benchmarks/side_by_side.py --official OFFICIAL_DIR --config sudoku_att --warmup 2 --steps 4

Both systems train the same thing: the official Sudoku attention architecture (V 11, L 81, P 16, H_cycles 3,
L_cycles 6, 2 layers, expansion 4, RoPE, float32), random puzzles (the same ones in every system), one puzzle
identifier with a D-sized puzzle embedding (sign-SGD), AdamATan2 lr 1e-4 with weight decay 0.1, halt_max_steps 16
and exploration 0.1; the official code through its own `pretrain.create_model` and `pretrain.train_batch`, eval
mode and `torch.inference_mode()` for inference (its `evaluate` loop), keras-trm through `train_on_batch` and
`predict_on_batch`.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SYSTEMS = ("official", "jax", "tensorflow", "torch")
ARCH = dict(vocab=11, seq_len=81, H_cycles=3, L_cycles=6, layers=2, expansion=4, puzzle_emb_len=16, halt_max_steps=16)
CONFIGS = {
    "sudoku_att": dict(hidden=512, heads=8, batch=32, infer_batch=8, infer_steps=2),
    "small": dict(hidden=128, heads=4, batch=64, infer_batch=64, infer_steps=4),
}
LR, WEIGHT_DECAY, EMB_LR, WARMUP = 1e-4, 0.1, 1e-2, 2000


def batches(cfg, n, seed=0):
    """`n` random training batches (numpy): inputs and labels in 1..V-1, one puzzle identifier (0)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    B, L, V = cfg["batch"], ARCH["seq_len"], ARCH["vocab"]
    return [
        dict(
            inputs=rng.integers(1, V, (B, L)).astype("int32"),
            labels=rng.integers(1, V, (B, L)).astype("int32"),
            puzzle_identifiers=np.zeros((B,), "int32"),
        )
        for _ in range(n)
    ]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------------- workers
class OfficialSystem:
    """The official code: `pretrain.create_model` + `pretrain.train_batch`, its evaluation loop for inference."""

    def __init__(self, cfg, official_path, threads):
        import torch

        torch.set_num_threads(threads)
        sys.path.insert(0, str(official_path))
        import official_cpu  # noqa: F401 - puts the official code on sys.path, CUDA -> CPU
        import pretrain
        from puzzle_dataset import PuzzleDatasetMetadata

        self.torch, self.pretrain = torch, pretrain
        self.import_rss_mb = peak_rss_mb()
        torch.manual_seed(0)
        arch = pretrain.ArchConfig(
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
            loss=pretrain.LossConfig(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
            halt_exploration_prob=0.1,
            halt_max_steps=ARCH["halt_max_steps"],
            H_cycles=ARCH["H_cycles"],
            L_cycles=ARCH["L_cycles"],
            H_layers=0,
            L_layers=ARCH["layers"],
            hidden_size=cfg["hidden"],
            num_heads=cfg["heads"],
            expansion=ARCH["expansion"],
            puzzle_emb_ndim=cfg["hidden"],
            pos_encodings="rope",
            forward_dtype="float32",
            mlp_t=False,
            puzzle_emb_len=ARCH["puzzle_emb_len"],
            no_ACT_continue=True,
        )
        self.config = pretrain.PretrainConfig(
            arch=arch,
            data_paths=[],
            global_batch_size=cfg["batch"],
            epochs=10**6,
            lr=LR,
            lr_min_ratio=1.0,
            lr_warmup_steps=WARMUP,
            weight_decay=WEIGHT_DECAY,
            beta1=0.9,
            beta2=0.95,
            puzzle_emb_lr=EMB_LR,
            puzzle_emb_weight_decay=WEIGHT_DECAY,
        )
        meta = PuzzleDatasetMetadata(
            pad_id=0,
            ignore_label_id=-100,
            blank_identifier_id=0,
            vocab_size=ARCH["vocab"],
            seq_len=ARCH["seq_len"],
            num_puzzle_identifiers=1,
            total_groups=10**6,
            mean_puzzle_examples=1.0,
            total_puzzles=10**6,
            sets=["all"],
        )
        self.state = pretrain.init_train_state(self.config, meta, rank=0, world_size=1)
        self.state.model.train()

    def _tensors(self, batch):
        return {k: self.torch.from_numpy(v) for k, v in batch.items()}

    def train(self, batch):
        metrics = self.pretrain.train_batch(
            self.config, self.state, self._tensors(batch), self.config.global_batch_size, rank=0, world_size=1
        )
        return float(metrics["train/lm_loss"])

    def infer(self, batch, steps):
        torch, model = self.torch, self.state.model
        model.eval()
        batch = self._tensors(batch)
        with torch.inference_mode():
            carry = model.initial_carry(batch)
            for _ in range(steps):
                carry, _, _, preds, _ = model(carry=carry, batch=batch, return_keys=["logits"])
            return float(preds["logits"].sum())


class KerasSystem:
    """keras-trm on the running Keras backend: `train_on_batch` / `predict_on_batch` of a `TRMPuzzleSolver`."""

    def __init__(self, cfg, threads, infer_steps):
        import keras

        if keras.backend.backend() == "torch":
            import torch

            torch.set_num_threads(threads)
        from keras_trm.models import TRMBackbone, TRMPuzzleSolver

        self.import_rss_mb = peak_rss_mb()  # Keras imports JAX (orbax callback), keras-hub imports TensorFlow
        keras.utils.set_random_seed(0)
        backbone = TRMBackbone(
            vocabulary_size=ARCH["vocab"],
            sequence_length=ARCH["seq_len"],
            hidden_dim=cfg["hidden"],
            num_heads=cfg["heads"],
            num_layers=ARCH["layers"],
            H_cycles=ARCH["H_cycles"],
            L_cycles=ARCH["L_cycles"],
            expansion=float(ARCH["expansion"]),
            puzzle_emb_len=ARCH["puzzle_emb_len"],
            num_puzzle_identifiers=1,
            dtype="float32",
        )
        self.solver = TRMPuzzleSolver(backbone, halt_max_steps=ARCH["halt_max_steps"], seed=0, compile=False)
        self.solver.compile(
            learning_rate=LR,
            weight_decay=WEIGHT_DECAY,
            puzzle_emb_learning_rate=EMB_LR,
            warmup_steps=WARMUP,
        )
        self.solver.build_carry(cfg["batch"])
        self.infer_steps = infer_steps

    def train(self, batch):
        x = {"inputs": batch["inputs"], "puzzle_identifiers": batch["puzzle_identifiers"]}
        logs = self.solver.train_on_batch(x, batch["labels"], return_dict=True)
        return float(logs["lm_loss"])

    def infer(self, batch, steps):
        import numpy as np

        if self.solver.halt_max_steps != steps:  # set once, before the first call: changing it re-traces
            self.solver.halt_max_steps = steps
            self.solver.predict_function = None
        x = {"inputs": batch["inputs"], "puzzle_identifiers": batch["puzzle_identifiers"]}
        out = self.solver.predict_on_batch(x)
        return float(np.sum(out["logits"]))


def worker(args):
    """One system, commanded line by line on stdin; answers `RESULT <json>` lines on stdout."""
    t0 = time.perf_counter()
    cfg = CONFIGS[args.config]
    if args.system == "official":
        system = OfficialSystem(cfg, args.official, args.threads)
    else:
        system = KerasSystem(cfg, args.threads, args.infer_steps)
    train_batches = batches(cfg, args.warmup + args.steps)
    infer_batch = {k: v[: args.infer_batch] for k, v in batches(dict(cfg, batch=args.infer_batch), 1, 1)[0].items()}
    reply({"build_s": time.perf_counter() - t0, "rss_mb": peak_rss_mb(), "import_rss_mb": system.import_rss_mb})
    step = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "train":
            t = time.perf_counter()
            loss = system.train(train_batches[step])
            step += 1
            reply({"s": time.perf_counter() - t, "loss": loss, "rss_mb": peak_rss_mb()})
        elif command == "infer":
            t = time.perf_counter()
            check = system.infer(infer_batch, args.infer_steps)
            reply({"s": time.perf_counter() - t, "check": check, "rss_mb": peak_rss_mb()})
        elif command == "quit":
            break


def reply(obj):
    sys.stdout.write("RESULT " + json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------------- parent
class Worker:
    def __init__(self, system, args):
        cmd = [sys.executable, __file__, "--worker", "--system", system, "--config", args.config]
        cmd += ["--warmup", str(args.warmup), "--steps", str(args.steps), "--threads", str(args.threads)]
        cmd += ["--infer-batch", str(args.infer_batch), "--infer-steps", str(args.infer_steps)]
        if args.official is not None:
            cmd += ["--official", str(args.official.resolve())]
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
        if system != "official":
            env["KERAS_BACKEND"] = system
        self.system = system
        self.log_path = pathlib.Path(tempfile.gettempdir()) / f"side_by_side_{system}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def receive(self):
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
        raise RuntimeError(f"the {self.system} worker ended: see {self.log_path}")

    def call(self, command):
        self.send(command)
        return self.receive()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def run(args):
    cfg = CONFIGS[args.config]
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    workers = [Worker(s, args) for s in args.systems]
    records = {w.system: {"train_s": [], "infer_s": [], "loss": []} for w in workers}
    for w in workers:  # built in parallel; each waits for its first command
        records[w.system]["build"] = w.receive()
    print("built: " + ", ".join(f"{s} {r['build']['build_s']:.1f} s" for s, r in records.items()), flush=True)

    def rounds(command, n, key):
        for i in range(n):
            order = workers[i % len(workers) :] + workers[: i % len(workers)]
            for w in order:
                out = w.call(command)
                records[w.system][key].append(out["s"])
                records[w.system]["rss_mb"] = out["rss_mb"]
                if "loss" in out:
                    records[w.system]["loss"].append(out["loss"])
            print(
                f"{command} round {i + 1}/{n}: " + ", ".join(f"{s} {r[key][-1]:.2f}" for s, r in records.items()),
                flush=True,
            )

    rounds("train", args.warmup + args.steps, "train_s")
    for r in records.values():
        r["train_rss_mb"] = r["rss_mb"]
    rounds("infer", 1 + args.infer_rounds, "infer_s")
    for w in workers:
        w.send("quit")
        w.proc.wait()
        w.log.close()

    full = ARCH["halt_max_steps"]
    results = {}
    for system, r in records.items():
        step = median(r["train_s"][args.warmup :])
        infer = median(r["infer_s"][1:])
        results[system] = {
            "build_s": r["build"]["build_s"],
            "first_step_s": r["train_s"][0],
            "train_step_s": step,
            "train_examples_per_s": cfg["batch"] / step,
            "first_infer_s": r["infer_s"][0],
            "infer_call_s": infer,
            "infer_examples_per_s": args.infer_batch / (infer * full / args.infer_steps),
            "import_rss_mb": r["build"]["import_rss_mb"],
            "train_peak_rss_mb": r["train_rss_mb"],
            "peak_rss_mb": r["rss_mb"],
            "train_s": r["train_s"],
            "infer_s": r["infer_s"],
            "lm_loss": r["loss"],
        }
    if "official" in results:
        ref = results["official"]
        for res in results.values():
            res["train_vs_official"] = res["train_examples_per_s"] / ref["train_examples_per_s"]
            res["infer_vs_official"] = res["infer_examples_per_s"] / ref["infer_examples_per_s"]
            res["rss_vs_official"] = res["peak_rss_mb"] / ref["peak_rss_mb"]
    meta = {**cfg, **ARCH, "config": args.config, "dtype": "float32"}
    meta.update(
        warmup=args.warmup,
        steps=args.steps,
        infer_batch=args.infer_batch,
        infer_steps=args.infer_steps,
        infer_rounds=args.infer_rounds,
        threads=args.threads,
        cpus=os.cpu_count(),
        machine=platform.processor() or platform.machine(),
        load_average_end=os.getloadavg()[0],
        time=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        note=args.note,
    )
    out = {"meta": meta, "results": results}
    path = ROOT / "benchmarks" / "results" / f"side_by_side_{args.tag or args.config}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    print(markdown_table(out))
    return out


NAMES = {"official": "official PyTorch (eager, its `train_batch`)", "jax": "keras-trm JAX"}
NAMES.update(tensorflow="keras-trm TensorFlow", torch="keras-trm PyTorch")


def markdown_table(out):
    m = out["meta"]
    head = (
        f"| system | train s/step (median of {m['steps']} after {m['warmup']}) | train vs official | "
        f"first step s | infer ex/s ({m['infer_steps']} of 16 steps, batch {m['infer_batch']}) | infer vs official | "
        "first infer call s | build s | peak RSS MB | RSS vs official | RSS after imports MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for system, r in out["results"].items():
        rows.append(
            f"| {NAMES.get(system, system)} | {r['train_step_s']:.2f} | {r.get('train_vs_official', 1.0):.2f} | "
            f"{r['first_step_s']:.1f} | {r['infer_examples_per_s']:.3f} | {r.get('infer_vs_official', 1.0):.2f} | "
            f"{r['first_infer_s']:.1f} | {r['build_s']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r.get('rss_vs_official', 1.0):.2f} | {r.get('import_rss_mb', float('nan')):.0f} |"
        )
    return head + "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=pathlib.Path, help="folder holding official_cpu.py (needed for 'official')")
    parser.add_argument("--config", default="small", choices=list(CONFIGS))
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument(
        "--warmup", type=int, default=2, help="training steps left out of the median (the first compiles)"
    )
    parser.add_argument("--steps", type=int, default=4, help="measured training steps")
    parser.add_argument("--infer-batch", type=int, default=None, help="rows per inference call (config default)")
    parser.add_argument("--infer-steps", type=int, default=None, help="supervision steps per inference call")
    parser.add_argument("--infer-rounds", type=int, default=2, help="measured inference calls after the first")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads (all cores)")
    parser.add_argument("--tag", default="", help="JSON name suffix (default: the config)")
    parser.add_argument("--note", default="")
    parser.add_argument("--markdown", metavar="JSON", help="only print the table of this result file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.markdown:
        print(markdown_table(json.loads(pathlib.Path(args.markdown).read_text())))
        return
    cfg = CONFIGS[args.config]
    args.infer_batch = args.infer_batch or cfg["infer_batch"]
    args.infer_steps = args.infer_steps or cfg["infer_steps"]
    if args.worker:
        worker(args)
        return
    if "official" in args.systems and (args.official is None or not (args.official / "official_cpu.py").exists()):
        parser.error("the 'official' system needs --official DIR, the folder holding official_cpu.py")
    run(args)


if __name__ == "__main__":
    main()
