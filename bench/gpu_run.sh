#!/usr/bin/env bash
# Issue 15's device run, in one go: install the carried wheels (bench/gpu_wheels.sh made
# them), run the CUDA tests, then bench/bench_gpu.py. Everything lands in $OUT (the device
# tool brings it back; default outputs/gpu_run here).
#
# Device call (repository root; .gpu_wheels is git-ignored, so it must be carried):
#   bash bench/gpu_wheels.sh      # the sampling set, about 7 MB: NOT --train (34.5 MB), which
#                                 # with the tracked files (39.7 MB, the checkpoint 30.8 MB)
#                                 # goes past the call's 64 MiB
#   run(command="bash bench/gpu_run.sh", carry=[".gpu_wheels"], timeout_s=560)
# One device script per session: a 15-minute session holds one call of this size or of
# gpu_train_score.sh's, not both (the machine's start takes 1-2 minutes of it).
# Sized for under 560 s: wheels ~15 s, tests <= 120 s, bench <= 400 s: --budget-s at most
# 220, since a part may run its own limit (sampling parts 180 s) past it. Afterwards copy $OUT/gpu.json to
# bench/results/gpu_runN.json (session 45, an H100: run 1 the whole bench, 268 s; run 2
# BENCH_ARGS="--only profile,conv_variants,compile --budget-s 290", 272 s).
# BENCH_ARGS="--only node --budget-s 100" times the node's runner alone (with torch_compile).
# BENCH_ARGS="--only latency,node,profile --budget-s 220": issue 15's open latency targets
# (every convolution as a GEMM, max-autotune, the compiled chunk's kernels), then the node.
# BENCH_ARGS=--smoke runs the same script on a CPU (with python3 the .venv one) as a check.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/gpu_run}
mkdir -p "$OUT"
. bench/gpu_site.sh
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm,clocks.max.sm,driver_version \
    --format=csv 2>&1 | tee "$OUT/nvidia_smi.txt"
python3 -c 'import torch, diffusers; print("torch", torch.__version__, "cuda",
torch.cuda.is_available(), "diffusers", diffusers.__version__)' 2>&1 | tee "$OUT/versions.txt"

# the CUDA tests (conftest.py needs rclpy, absent there: --noconftest, test/ on the path)
PYTHONPATH="/tmp/site:$PWD/test:$PWD" timeout 120 python3 -m pytest -q --noconftest \
    -p no:cacheprovider test/test_graph_sampler.py test/test_gpu_batches.py \
    > "$OUT/cuda_tests.log" 2>&1
echo "cuda tests exit $?" >> "$OUT/cuda_tests.log"

timeout 400 python3 bench/bench_gpu.py --output "$OUT/gpu.json" ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
echo "bench exit $?" >> "$OUT/bench.log"

tail -n 25 "$OUT/cuda_tests.log"
tail -n 80 "$OUT/bench.log"
