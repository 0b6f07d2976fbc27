#!/usr/bin/env bash
# One prepared run of the throughput suite on a GPU machine, bfloat16 (mixed_bfloat16), under ten minutes.
#
# Usage (from the repository root, with the project's environment active and GPU builds of jax/torch/tf):
#   bash benchmarks/gpu_suite.sh            # all three backends
#   BACKENDS="jax torch" bash benchmarks/gpu_suite.sh
#
# Budget (one H100/H200-class GPU): each (backend, config) subprocess is capped by `timeout`; the Sudoku configs use
# the official per-GPU batch (768 / 4 GPUs = 192) and the L=900 configs a batch of 32, 6 optimizer steps each (the
# first compiles), inference with the full N_sup = 16. Results: benchmarks/results/train_throughput_gpu_*.json and
# the markdown table printed at the end (paste it into docs/benchmarks.md).
set -u
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-"jax torch tensorflow"}
PER_RUN=${PER_RUN:-45}          # seconds per (backend, config) subprocess
export XLA_PYTHON_CLIENT_PREALLOCATE=false TF_FORCE_GPU_ALLOW_GROWTH=true
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

run() {  # tag configs batch infer_batch
  timeout $((PER_RUN * 3 * 2)) python benchmarks/train_throughput.py --backends $BACKENDS --configs $2 \
    --batch "$3" --steps 6 --infer-batch "$4" --infer-steps 16 --dtype mixed_bfloat16 --tag "gpu_$1" \
    --note "GPU, mixed_bfloat16" || echo "run $1 did not finish in time"
}
start=$(date +%s)
run sudoku "sudoku_att sudoku_mlp" 192 192
run l900 "maze arc" 32 32
echo "suite took $(( $(date +%s) - start )) s"
python - <<'EOF'
import glob, json
from benchmarks.train_throughput import markdown_table
rows = []
for path in sorted(glob.glob("benchmarks/results/train_throughput_gpu_*.json")):
    rows += json.load(open(path))["results"]
print(markdown_table(rows))
EOF
