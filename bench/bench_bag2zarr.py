"""bag2zarr conversion speed: frames/s for 96x96 Push-T bags (goal: >= 2,000 frames/s).

    .venv/bin/python bench/bench_bag2zarr.py [--steps 3000] [--repeats 3]

Bags are written from the shared Push-T dataset's episodes (images, joint states, block
poses, trajectories: 4 messages per frame, as the sim bridge records them), then converted
end to end (read, deserialize, resample, float32 images, blosc/zstd zarr, atomic swap) with
the Push-T config, for mcap and sqlite3 and both image dtypes; and once more as one mcap bag
per episode (how demonstrations are often recorded: the cost of opening a bag counts
there). Prints and writes bench/results/bag2zarr.json.
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

from dp_ros.bags.recorder import write_pusht_bag  # noqa: E402
from training.bag2zarr import convert  # noqa: E402
from training.bag2zarr_config import load_config  # noqa: E402

DEFAULT_ZARR = REPO.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'
GOAL_FPS = 2000.0


def dataset_episodes(path: Path, steps: int) -> list[dict[str, np.ndarray]]:
    """Leading episodes of the dataset, about `steps` steps in all."""
    root = zarr.open(str(path), mode='r')
    ends = np.asarray(root['meta/episode_ends'][:])
    n_eps = int(np.searchsorted(ends, steps)) + 1
    stop = int(ends[min(n_eps, len(ends)) - 1])
    data = {k: np.asarray(root[f'data/{k}'][:stop]) for k in ('img', 'state', 'action')}
    starts = np.concatenate([[0], ends[:n_eps - 1]])
    return [{k: v[a:b] for k, v in data.items()} for a, b in zip(starts, ends[:n_eps],
                                                                 strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--zarr', type=Path, default=DEFAULT_ZARR)
    parser.add_argument('--steps', type=int, default=3000, help='frames per bag (about)')
    parser.add_argument('--repeats', type=int, default=3, help='best of N conversions')
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'bag2zarr.json')
    args = parser.parse_args()

    load_before = [round(x, 2) for x in os.getloadavg()]
    episodes = dataset_episodes(args.zarr, args.steps)
    frames = sum(len(e['action']) for e in episodes)
    config_path = REPO / 'config' / 'bag2zarr_pusht.yaml'
    results = []
    work = Path(tempfile.mkdtemp(prefix='bench_bag2zarr_'))
    layouts = [('mcap', 'one bag', ('float32', 'uint8')),
               ('sqlite3', 'one bag', ('float32', 'uint8')),
               ('mcap', 'bag per episode', ('float32',))]
    try:
        for storage, layout, image_dtypes in layouts:
            folder = work / f'{storage}_{layout.replace(" ", "_")}'
            groups = [episodes] if layout == 'one bag' else [[e] for e in episodes]
            t0 = time.perf_counter()
            for i, group in enumerate(groups):
                write_pusht_bag(folder / f'bag_{i:03d}', group, storage=storage)
            write_s = time.perf_counter() - t0
            bag_mb = sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) / 2**20
            for image_dtype in image_dtypes:
                config = load_config(config_path)
                for key in config.keys.values():
                    if key.is_image:
                        key.dtype = image_dtype
                times = []
                for _ in range(args.repeats):
                    out = work / 'out.zarr'
                    shutil.rmtree(out, ignore_errors=True)
                    t0 = time.perf_counter()
                    summary = convert([folder], config, out, progress=False)
                    times.append(time.perf_counter() - t0)
                    assert summary.steps_added == frames, (summary.steps_added, frames)
                best = min(times)
                row = dict(storage=storage, layout=layout, bags=len(groups),
                           image_dtype=image_dtype, frames=frames,
                           episodes=len(episodes), bag_mb=round(bag_mb, 1),
                           bag_write_s=round(write_s, 3), convert_s=[round(t, 3) for t in times],
                           frames_per_s=round(frames / best, 1),
                           messages_per_s=round(4 * frames / best, 1))
                results.append(row)
                print(f'{storage:8s} {layout:16s} {image_dtype:8s} {frames} frames '
                      f'({len(groups)} bag(s), {bag_mb:.0f} MB): '
                      f'{row["frames_per_s"]:8.0f} frames/s  (best of {args.repeats}: '
                      f'{best:.2f} s; bag written in {write_s:.2f} s)', flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    worst = min(r['frames_per_s'] for r in results)
    report = dict(benchmark='bag2zarr', goal_frames_per_s=GOAL_FPS,
                  worst_frames_per_s=worst, meets_goal=worst >= GOAL_FPS, results=results,
                  machine=dict(platform=platform.platform(), python=platform.python_version(),
                               cpus=os.cpu_count(), load_average_1_5_15_min=dict(
                                   before=load_before,
                                   after=[round(x, 2) for x in os.getloadavg()])),
                  note='end to end: bag read + deserialize + resample + zarr write + swap; '
                       'the CPU is shared with other jobs (load average above, before and '
                       'after the run), so numbers are lower bounds')
    print(f'worst case {worst:.0f} frames/s (goal {GOAL_FPS:.0f}): '
          f'{"met" if report["meets_goal"] else "NOT met"}')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
