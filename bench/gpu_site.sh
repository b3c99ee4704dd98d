# Sourced by the device scripts (bench/gpu_run.sh, bench/gpu_train_score.sh) from the
# repository root: the carried .gpu_wheels installed into /tmp/site, which goes on PYTHONPATH
# with the checkout; a failed install stops the script (exit 3).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu_wheels/*.whl || { echo "$(basename "$0"): wheel install failed"; exit 3; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
