#!/usr/bin/env bash
# Issue 15's last "Done when": train on the GPU and report what score a few minutes buy.
# The shipped CPU recipe (config/train_pusht_image_cpu_28k.yaml: 28,000 steps of batch 64,
# 0.897 through ROS after 1.83 h on 2 CPU cores) on the GPU with the settings bench_gpu.py
# measured fastest (device batches, bf16, train.torch_compile=reduce-overhead: 7,558
# samples/s on an H100, about 4 min of steps), evaluated on 50 Push-T episodes halfway and
# at the end (sampling on the GPU, the sim on the CPU).
#
# Prepare here (repository root), once:
#   bash bench/gpu_wheels.sh --train      # + zarr, pymunk, shapely, gymnasium, pygame, ...
#   .venv/bin/python bench/gpu_data.py    # .gpu_data/pusht.zarr: the demonstrations, 4.6 MB
# The shipped checkpoint (31 MB, tracked) would push the call past its 64 MiB: leave it out
# of the call (untracked and ignored: an untracked file that git does not ignore travels),
# and put it back after (from the repository root):
#   git rm -q --cached checkpoints/pusht_default/model.safetensors
#   echo /checkpoints/pusht_default/model.safetensors >> .git/info/exclude
#   ... run(command="bash bench/gpu_train_score.sh", carry=[".gpu_wheels", ".gpu_data"],
#           timeout_s=590) ...
#   sed -i '\#^/checkpoints/pusht_default/model.safetensors$#d' .git/info/exclude
#   git reset -q -- checkpoints/pusht_default/model.safetensors && git status --short
# Outputs in $OUT: train.log, log.jsonl (the run's records: loss, val, test/mean_score),
# curves.png, score.json (the evaluations), one evaluation video.
# STEPS=N shortens the run; TRAIN_TIMEOUT (s, default 480) bounds it, SIGKILL 20 s after
# its SIGTERM (a run cut short keeps its halfway evaluation; log.jsonl is copied to $OUT every
# 30 s, so a call cut off by the device still brings the records back). Sized for one call of
# about 9 minutes: wheels ~20 s, data 10 s, compilation ~1.5 min, 28,000 steps ~4 min at the
# bench's rate, two evaluations ~1.5 min. data.drop_last=true: an epoch's last, smaller batch
# (60 of 23,804 windows) would make torch.compile compile the step again for its size.
# One device script per session (the machine's start takes 1-2 of the 15 minutes).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/gpu_train}
mkdir -p "$OUT"
. bench/gpu_site.sh
export SDL_VIDEODRIVER=dummy
nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1 | tee "$OUT/nvidia_smi.txt"
RUN=${RUN:-/tmp/gpu_train_run}
rm -rf "$RUN"  # a new run, not a resume of one an earlier call on this machine left
STEPS=${STEPS:-28000}
(while sleep 30; do cp "$RUN/log.jsonl" "$OUT/" 2>/dev/null; done) &
copier=$!
timeout -k 20 "${TRAIN_TIMEOUT:-480}" python3 -m dp_ros.cli train \
    --config config/train_pusht_image_cpu_28k.yaml --output "$RUN" \
    data.zarr_path=.gpu_data/pusht.zarr train.cpu=false data.device_batches=true \
    data.drop_last=true \
    train.torch_compile=reduce-overhead train.max_steps="$STEPS" \
    train.eval_every=$((STEPS / 2)) train.checkpoint_every=2000 train.progress=false \
    eval.n_video_episodes=1 ${TRAIN_ARGS:-} > "$OUT/train.log" 2>&1
rc=$?
kill "$copier" 2>/dev/null
echo "train exit $rc" | tee -a "$OUT/train.log"
cp "$RUN/log.jsonl" "$RUN/curves.png" "$OUT/" 2>/dev/null
python3 - "$RUN" "$OUT/score.json" <<'EOF'
import json, sys
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2])
records = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines() if line]
evals = [r for r in records if any(k.startswith('test/') for k in r)]
train = [r for r in records if 'samples_per_s' in r]
summary = {'evaluations': evals, 'last_train_record': train[-1] if train else None,
           'records': len(records)}
out.write_text(json.dumps(summary, indent=1) + '\n')
print(json.dumps(summary, indent=1)[:3000])
EOF
video=$(ls "$RUN"/media/*.mp4 "$RUN"/media/*.gif 2>/dev/null | tail -n 1)
[ -n "$video" ] && cp "$video" "$OUT/"
tail -n 30 "$OUT/train.log"
exit "$rc"
