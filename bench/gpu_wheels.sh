#!/usr/bin/env bash
# The Python packages the GPU machine lacks for bench/bench_gpu.py and the CUDA tests, as
# cp312 wheels in .gpu_wheels/ (git-ignored; about 5 MB), downloaded here where PyPI is
# reachable. That machine (issue 15) has Python 3.12 with torch, accelerate, safetensors,
# huggingface_hub 1.33, numpy, pyyaml, tqdm, requests, filelock, regex, pillow and zipp,
# but not diffusers (training imports its EMAModel and lr schedules; sampling does not),
# nor importlib_metadata, which diffusers needs, nor lazy-importer, which importlib_metadata
# 10 needs. The versions are this checkout's .venv ones. zarr, pymunk and ROS are not
# needed: the bench uses synthetic data. zipp travels too, so the install does not depend on
# the image's version.
#
# Usage (repository root): bash bench/gpu_wheels.sh
# The device run then carries .gpu_wheels and runs bench/gpu_run.sh (it installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -rf .gpu_wheels
"$PY" -m pip download -q --only-binary=:all: --no-deps --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu_wheels diffusers==0.42.1 importlib_metadata==10.2.0 lazy-importer==0.1.0 \
    zipp==4.1.2
ls -l .gpu_wheels
du -sh .gpu_wheels
