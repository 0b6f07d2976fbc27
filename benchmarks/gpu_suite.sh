#!/usr/bin/env bash
# One prepared run of the throughput suite on a GPU machine, bfloat16 (mixed_bfloat16), under ten minutes.
#
# Usage (from the repository root, with the project's environment active and GPU builds of jax/torch/tf):
#   bash benchmarks/gpu_suite.sh            # all three backends
#   BACKENDS="jax torch" bash benchmarks/gpu_suite.sh
#   OFFICIAL=../TinyRecursiveModels NGPU=4 bash benchmarks/gpu_suite.sh   # + the official code, 4-GPU scaling
#
# Budget (one H100/H200-class GPU): each (backend, config) subprocess is capped by `timeout`; the Sudoku configs use
# the official per-GPU batch (768 / 4 GPUs = 192) and the L=900 configs a batch of 32, 6 optimizer steps each (the
# first compiles), inference with the full N_sup = 16. Results: benchmarks/results/train_throughput_gpu_*.json and
# the markdown table printed at the end (paste it into docs/benchmarks.md). Then the scaling runs: Sudoku-Att at the
# official global batch 768 on 1 device and on every GPU of the machine (NGPU, default: all that nvidia-smi lists),
# each backend its own way (PyTorch: NGPU torch.distributed ranks on NCCL, as torchrun runs them; TensorFlow:
# MirroredStrategy; JAX: keras.distribution), bf16: benchmarks/results/train_scaling_gpu.json and its table.
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
NGPU=${NGPU:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}
COUNTS="1"; [ "${NGPU:-0}" -gt 1 ] && COUNTS="1 $NGPU"
timeout $((PER_RUN * 3 * 4)) python benchmarks/train_throughput.py --processes $COUNTS --backends $BACKENDS \
  --configs sudoku_att --batch 768 --steps 6 --dtype mixed_bfloat16 --tag gpu --note "GPU, mixed_bfloat16" \
  || echo "the scaling runs did not finish in time"
# The official code's figures in the same run: OFFICIAL=<folder of the official code, holding official_cpu.py>
# (benchmarks/side_by_side.py runs it as that folder's script runs it, interleaved with keras-trm per backend).
if [ -n "${OFFICIAL:-}" ]; then
  timeout $((PER_RUN * 6)) python benchmarks/side_by_side.py --official "$OFFICIAL" --config sudoku_att \
    --tag gpu --note "GPU machine" || echo "side_by_side did not finish in time"
fi
echo "suite took $(( $(date +%s) - start )) s"
python - <<'EOF'
import glob, json
from benchmarks.train_throughput import markdown_table
rows = []
for path in sorted(glob.glob("benchmarks/results/train_throughput_gpu_*.json")):
    rows += json.load(open(path))["results"]
print(markdown_table(rows))
EOF
