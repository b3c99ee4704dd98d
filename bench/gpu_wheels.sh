#!/usr/bin/env bash
# The Python packages the GPU machine lacks for bench/bench_gpu.py and the CUDA tests, as
# cp312 wheels in .gpu_wheels/ (git-ignored; about 7 MB), downloaded here where PyPI is
# reachable. That machine (issue 15) has Python 3.12 with torch, accelerate, safetensors,
# huggingface_hub 1.33, numpy, pyyaml, tqdm, requests, filelock, regex, pillow and zipp,
# but not diffusers (training imports its EMAModel and lr schedules; sampling does not),
# nor importlib_metadata, which diffusers needs, nor lazy-importer, which importlib_metadata
# 10 needs. The versions are this checkout's .venv ones. zarr, pymunk and ROS are not
# needed: the bench uses synthetic data. zipp travels too, so the install does not depend on
# the image's version.
#
# Usage (repository root): bash bench/gpu_wheels.sh [--train]
# The device run then carries .gpu_wheels and runs bench/gpu_run.sh (it installs them).
# --train adds what `dp-ros train` and its Push-T evaluation need there (bench/
# gpu_train_score.sh): zarr and its codecs, the sim's pymunk, shapely, gymnasium and pygame,
# imageio for the videos; about 34 MB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -rf .gpu_wheels
WHEELS=(diffusers==0.42.1 importlib_metadata==10.2.0 lazy-importer==0.1.0 zipp==4.1.2)
if [ "${1:-}" = --train ]; then
    WHEELS+=(zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0
             pymunk==7.3.1 cffi==2.1.1 pycparser==3.12 shapely==2.2.0 gymnasium==1.4.0
             farama-notifications==0.0.6 cloudpickle==3.1.3 pygame==2.6.1 imageio==2.38.1)
fi
"$PY" -m pip download -q --only-binary=:all: --no-deps --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 -d .gpu_wheels "${WHEELS[@]}"
ls -l .gpu_wheels
du -sh .gpu_wheels
