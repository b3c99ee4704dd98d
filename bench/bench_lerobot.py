"""Push-T zarr -> LeRobotDataset v3.0 -> zarr: time, size, and what the round trip changes.

    .venv/bin/python bench/bench_lerobot.py [--zarr PATH] [--crf 30] [--vcodec libsvtav1]

Converts the whole dataset with `dp-ros convert`'s functions (training/lerobot_convert.py)
into a temporary directory and back, then compares the copy with the original: every
non-image array must be identical (dtype, shape, values) and the episode ends equal; images
come back within the video codec's error, reported as mean and max absolute error per pixel
value (0..255), the share of values off by more than 8 and 32, and the PSNR. Prints and
writes bench/results/lerobot_roundtrip.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.lerobot_convert import lerobot_to_zarr, zarr_to_lerobot  # noqa: E402
from training.lerobot_format import default_encoding, directory_bytes  # noqa: E402

DEFAULT_ZARR = REPO.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'


def compare(original: Path, copy: Path, block: int = 2048) -> dict:
    a, b = zarr.open_group(str(original), mode='r'), zarr.open_group(str(copy), mode='r')
    out: dict = {'episode_ends_equal': bool(np.array_equal(a['meta/episode_ends'][:],
                                                           b['meta/episode_ends'][:])),
                 'arrays': {}}
    for key in sorted(a['data'].array_keys()):
        x, y = a['data'][key], b['data'][key]
        entry = {'dtype': f'{x.dtype} -> {y.dtype}', 'shape_equal': x.shape == y.shape}
        if key != 'img':
            xv, yv = x[:], y[:]
            entry['identical'] = bool(xv.dtype == yv.dtype and np.array_equal(xv, yv))
        else:
            total = err_sum = sq_sum = over8 = over32 = 0
            err_max = 0
            for s in range(0, x.shape[0], block):
                d = np.abs(x[s:s + block].astype(np.float32) - y[s:s + block].astype(np.float32))
                total += d.size
                err_sum += float(d.sum(dtype=np.float64))
                sq_sum += float((d.astype(np.float64) ** 2).sum())
                err_max = max(err_max, int(d.max()))
                over8 += int((d > 8).sum())
                over32 += int((d > 32).sum())
            mse = sq_sum / total
            entry.update({'mean_abs_error': round(err_sum / total, 4), 'max_abs_error': err_max,
                          'share_over_8': round(over8 / total, 6),
                          'share_over_32': round(over32 / total, 6),
                          'psnr_db': round(10 * np.log10(255 ** 2 / mse), 2)})
        out['arrays'][key] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--zarr', type=Path, default=DEFAULT_ZARR)
    parser.add_argument('--crf', type=int, default=30)
    parser.add_argument('--vcodec', default=None, help='default: libsvtav1 where available')
    parser.add_argument('--out', type=Path,
                        default=REPO / 'bench' / 'results' / 'lerobot_roundtrip.json')
    args = parser.parse_args()

    enc = default_encoding(crf=args.crf, **({'vcodec': args.vcodec} if args.vcodec else {}))
    work = Path(tempfile.mkdtemp(prefix='bench_lerobot_'))
    try:
        lerobot_dir, back = work / 'pusht_lerobot', work / 'pusht_back.zarr'
        to_lr = zarr_to_lerobot(args.zarr, lerobot_dir, fps=10, task='Push the T onto the goal',
                                encoding=enc, progress=False)
        sizes = {part: directory_bytes(lerobot_dir / part) for part in ('data', 'videos', 'meta')}
        to_zarr = lerobot_to_zarr(lerobot_dir, back, progress=False)
        t0 = time.perf_counter()
        diff = compare(args.zarr, back)
        compare_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    frames = to_lr['frames']
    result = {
        'bench': 'lerobot_roundtrip',
        'dataset': str(args.zarr), 'episodes': to_lr['episodes'], 'frames': frames,
        'encoder': {'vcodec': enc.vcodec, 'pix_fmt': enc.pix_fmt, 'crf': enc.crf, 'g': enc.g,
                    'preset': enc.preset},
        'zarr_to_lerobot': {'seconds': to_lr['seconds'],
                            'frames_per_s': round(frames / to_lr['seconds'], 1),
                            'bytes': to_lr['bytes'], 'bytes_by_part': sizes},
        'lerobot_to_zarr': {'seconds': to_zarr['seconds'],
                            'frames_per_s': round(frames / to_zarr['seconds'], 1),
                            'bytes': to_zarr['bytes']},
        'source_zarr_bytes': directory_bytes(args.zarr),
        'round_trip': diff, 'compare_seconds': round(compare_s, 1),
        'commands': ['dp-ros convert PUSHT.zarr pusht_lerobot --fps 10',
                     'dp-ros convert pusht_lerobot pusht_back.zarr'],
        'machine': {'python': platform.python_version(), 'cpus': os.cpu_count(),
                    'loadavg_1m': round(os.getloadavg()[0], 2)},
        'when': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + '\n')


if __name__ == '__main__':
    main()
