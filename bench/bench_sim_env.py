"""Push-T env throughput: control steps per second with and without the image observation.

Replays the paper's demonstration actions (realistic contacts) from their recorded start
states. Prints and saves JSON to bench/results/sim_env.json.

    .venv/bin/python bench/bench_sim_env.py [--steps 3000]
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
import zarr

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sim_bridge.pusht_env import PushTEnv  # noqa: E402

DATASET = REPO_ROOT.parent / 'shared' / 'datasets' / 'pusht' / 'pusht_cchi_v7_replay.zarr'
RESULTS = REPO_ROOT / 'bench' / 'results' / 'sim_env.json'


def _steps_per_second(env: PushTEnv, state: np.ndarray, action: np.ndarray,
                      starts: set[int], n_steps: int) -> float:
    """Replays n_steps recorded actions, re-placing the state at each episode start."""
    env.reset(seed=0)
    t0 = time.perf_counter()
    for i in range(n_steps):
        if i in starts:
            env.set_state(state[i])
        env.step(action[i])
    return n_steps / (time.perf_counter() - t0)


def _calls_per_second(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=3000, help='control steps per measurement')
    parser.add_argument('--out', type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    root = zarr.open(str(DATASET), mode='r')
    n = min(args.steps, root['data/action'].shape[0])
    state = np.asarray(root['data/state'][:n], dtype=np.float64)
    action = np.asarray(root['data/action'][:n], dtype=np.float64)
    ends = np.asarray(root['meta/episode_ends'][:])
    starts = {0, *(int(e) for e in ends[:-1] if e < n)}

    fast, full = PushTEnv(render_obs=False), PushTEnv(render_obs=True)
    full.reset(seed=0)
    result = {
        'steps': n,
        'steps_per_s_no_image': round(_steps_per_second(fast, state, action, starts, n), 1),
        'steps_per_s_with_image_96': round(_steps_per_second(full, state, action, starts, n), 1),
        'resets_per_s': round(_calls_per_second(lambda: fast.reset(seed=100000), 500), 1),
        'video_frames_per_s_256': round(_calls_per_second(
            lambda: (full.set_state(state[1]), full.render()), 500), 1),
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs',
        'load_average_after': [round(x, 2) for x in os.getloadavg()],
        'python': platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
