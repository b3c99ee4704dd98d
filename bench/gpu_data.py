"""A small copy of the Push-T demonstrations for the GPU machine (issue 15's training score).

The device run carries at most 64 MiB, the checkout included; the paper's store is 32 MB
because it keeps its images as float32 (blosc-zstd with byte shuffle). The same images as
uint8 under zstd level 19 take about 3 MB, and the dataset reads them as the same uint8
frames (training/dataset.py converts a float store's images to uint8 on load). Every array
and meta/episode_ends is copied; the copy is checked equal to the source before it is kept.

Usage (repository root): python bench/gpu_data.py [--source ZARR] [--output .gpu_data/pusht.zarr]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numcodecs
import numpy as np
import zarr

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'
OUTPUT = REPO / '.gpu_data' / 'pusht.zarr'
IMAGE_KEY = 'img'


def small_copy(source: Path, output: Path) -> dict[str, int]:
    """Write the copy next to `output`, check it, then move it in place; {array: bytes}."""
    src = zarr.open_group(str(source), mode='r')
    staging = output.with_name(output.name + '.partial')
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write_checked(src, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # no half-written copy is left
        raise
    shutil.rmtree(output, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(output)
    return {str(p.relative_to(output)): p.stat().st_size for p in output.rglob('*')
            if p.is_file()}


def _write_checked(src: zarr.Group, staging: Path) -> None:
    dst = zarr.open_group(str(staging), mode='w', zarr_format=2)
    for group in ('data', 'meta'):
        for key in src[group].array_keys():
            arr = src[group][key][:]
            if key == IMAGE_KEY:
                frames = np.rint(arr).astype(np.uint8)
                if not np.array_equal(frames.astype(arr.dtype), arr):
                    raise ValueError(f'{group}/{key} is not whole numbers 0..255')
                arr = frames
            dst.create_array(f'{group}/{key}', data=arr, chunks=src[group][key].chunks,
                             compressor=numcodecs.Zstd(level=19))
    check = zarr.open_group(str(staging), mode='r')
    for group in ('data', 'meta'):
        for key in src[group].array_keys():
            if not np.array_equal(check[group][key][:].astype(np.float64),
                                  src[group][key][:].astype(np.float64)):
                raise RuntimeError(f'{group}/{key} differs in the copy')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--source', type=Path, default=SOURCE)
    parser.add_argument('--output', type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    sizes = small_copy(args.source, args.output)
    print(f'{args.output}: {sum(sizes.values()) / 1e6:.1f} MB in {len(sizes)} files')
    return 0


if __name__ == '__main__':
    sys.exit(main())
