"""Steps per second of the Push-T sim through ROS 2 in lockstep mode.

The sim node runs in its own process; this process is the "policy": it answers observations
with JointTrajectory messages, either one point per step (a full round trip per step, the
worst case) or chunks of 8 points (one round trip per 8 steps, as the diffusion policy
executes its action horizon). The in-process env rate is measured too, for the ROS overhead.

    .venv/bin/python bench/bench_sim_ros.py [--steps 300] [--out bench/results/sim_ros.json]
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
import ros_bench_env  # the ROS environment, set before rclpy and dp_ros are imported

REPO = ros_bench_env.REPO

from dp_ros.ros.conversions import chunk_to_joint_trajectory  # noqa: E402
from dp_ros.ros.processes import stop  # noqa: E402
from sim_bridge.replay import JOINTS, ReplayClient  # noqa: E402


def targets(n: int) -> np.ndarray:
    """A circle through the workspace: the agent moves and sometimes pushes the block."""
    phase = np.arange(n) * 2 * np.pi / 60
    return np.stack([256 + 150 * np.cos(phase), 256 + 150 * np.sin(phase)], axis=1)


def env_rate(steps: int) -> float:
    from sim_bridge.pusht_env import PushTEnv

    env = PushTEnv(max_episode_steps=None)
    env.reset(seed=100000)
    actions = targets(steps)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps / (time.perf_counter() - start)


def run_lockstep(client: ReplayClient, steps: int, chunk: int, timeout: float) -> dict:
    start_ns = client.reset(timeout)
    actions = targets(steps)
    round_trips = []  # publish -> the observation after the trajectory's last step
    started = time.perf_counter()
    k = 0
    while k < steps:
        n = min(chunk, steps - k)
        t_k = start_ns + k * 100_000_000
        sent = time.perf_counter()
        client.traj_pub.publish(chunk_to_joint_trajectory(actions[k:k + n], JOINTS, 0.1, t_k))
        k += n
        t_next = start_ns + k * 100_000_000
        client.wait(lambda t=t_next: [t] if t in client.joints else [], timeout,
                    f'observation at {t_next} ns')
        round_trips.append(time.perf_counter() - sent)
    wall = time.perf_counter() - started
    rt = np.array(round_trips) * 1e3
    return {'chunk_points': chunk, 'steps': steps, 'wall_s': round(wall, 3),
            'steps_per_s': round(steps / wall, 1),
            'round_trip_ms': {'median': round(float(np.median(rt)), 2),
                              'p95': round(float(np.percentile(rt, 95)), 2)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'sim_ros.json')
    args = parser.parse_args(argv)

    import subprocess

    sim = subprocess.Popen(
        [sys.executable, '-m', 'sim_bridge.pusht_sim_node', '--ros-args', '-r', '__ns:=/pusht',
         '-p', 'autostart:=false', '-p', 'auto_reset:=false', '-p', f'max_steps:={args.steps}',
         '-p', 'action_wait_timeout_s:=0',
         '-p', f'seeds:=[{", ".join(["100000"] * (2 * args.repeats))}]'],  # same work per run
        cwd=str(REPO), start_new_session=True, env={**os.environ, 'PYTHONPATH': str(REPO)})
    client = ReplayClient('/pusht', 'pusht_sim')
    runs = []
    try:
        client.wait_connected(60.0, sim)
        for chunk in (1, 8):
            for _ in range(args.repeats):
                run = run_lockstep(client, args.steps, chunk, 30.0)
                print(f'lockstep, {chunk} point(s) per trajectory: {run["steps_per_s"]} steps/s, '
                      f'round trip median {run["round_trip_ms"]["median"]} ms', flush=True)
                runs.append(run)
    finally:
        client.close()
        stop(sim)
    in_process = env_rate(args.steps)
    print(f'in-process env (render 96x96 each step): {in_process:.1f} steps/s')
    best = {c: max(r['steps_per_s'] for r in runs if r['chunk_points'] == c) for c in (1, 8)}
    result = {
        'benchmark': 'sim_ros',
        'what': 'Push-T sim steps per second through ROS 2 in lockstep mode, driven by a '
                'second process answering each observation (1 point) or every 8th (8-point '
                'chunks); in-process env rate for comparison',
        'steps_per_episode': args.steps,
        'lockstep_steps_per_s_1_point': best[1],
        'lockstep_steps_per_s_8_points': best[8],
        'in_process_env_steps_per_s': round(in_process, 1),
        'runs': runs,
        'machine': {'python': platform.python_version(), 'platform': platform.platform(),
                    'cpus': os.cpu_count(),
                    'load_average_after': [round(x, 2) for x in os.getloadavg()],
                    'rmw': os.environ.get('RMW_IMPLEMENTATION',
                                                                   'default (Fast DDS)')},
        'date': time.strftime('%Y-%m-%dT%H:%M:%S'),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
