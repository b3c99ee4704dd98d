"""Push-T dataset throughput: load time, per-item rate, DataLoader rate at batch 64.

    .venv/bin/python bench/bench_dataset.py [--zarr PATH] [--batches N] [--workers 0 2]

Prints and writes bench/results/dataset.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.dataset import PushTImageDataset  # noqa: E402

DEFAULT_ZARR = REPO.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'


def items_per_second(dataset: PushTImageDataset, n: int, seed: int = 0) -> float:
    order = np.random.default_rng(seed).permutation(len(dataset))[:n]
    dataset[int(order[0])]
    t0 = time.perf_counter()
    for i in order:
        dataset[int(i)]
    return n / (time.perf_counter() - t0)


def loader_samples_per_second(dataset: PushTImageDataset, batch_size: int, workers: int,
                              n_batches: int) -> float:
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
        persistent_workers=workers > 0, drop_last=True)
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    for _ in range(n_batches):
        batch = next(it)
    elapsed = time.perf_counter() - t0
    steps = dataset.obs_steps or dataset.horizon
    assert batch['obs']['image'].shape == (batch_size, steps, 3, 96, 96)
    del it, loader
    return n_batches * batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--zarr', type=Path, default=DEFAULT_ZARR)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--batches', type=int, default=30)
    parser.add_argument('--items', type=int, default=2000)
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    parser.add_argument('--obs-steps', type=int, nargs='+', default=[2, 0],
                        help='observations per window (2: what training loads, the policy\'s '
                             'n_obs_steps; 0: all 16 of the horizon, as the paper\'s dataset)')
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'dataset.json')
    args = parser.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    dataset = PushTImageDataset(args.zarr, horizon=16, pad_before=1, pad_after=7)
    load_s = time.perf_counter() - t0
    image_bytes = dataset.replay_buffer.data['image'].nbytes
    result = {
        'dataset': str(args.zarr),
        'horizon': 16, 'pad_before': 1, 'pad_after': 7,
        'n_train_windows': len(dataset),
        'load_seconds': round(load_s, 2),
        'image_memory_mb': round(image_bytes / 2**20, 1),
        'getitem_samples_per_s': round(items_per_second(dataset, args.items), 1),
        'batch_size': args.batch_size,
        'dataloader_samples_per_s': {},
        'cpu_count': os.cpu_count(),
        'load_average_after': [round(x, 2) for x in os.getloadavg()],
        'torch_threads': torch.get_num_threads(),
        'platform': platform.platform(),
        'python': platform.python_version(),
        'torch': torch.__version__,
    }
    for obs_steps in args.obs_steps:
        dataset.obs_steps = obs_steps or None  # the sampler is rebuilt for the new window
        dataset.sampler = dataset._sampler(dataset.episode_mask)
        for workers in args.workers:
            rate = loader_samples_per_second(dataset, args.batch_size, workers, args.batches)
            key = f'obs_steps_{obs_steps or dataset.horizon}_workers_{workers}'
            result['dataloader_samples_per_s'][key] = round(rate, 1)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
    main()
