"""The arm twin's closed loop in realtime: what reaches the policy node, and what it costs.

`dp-ros sim --robot arm --mode realtime` (the arm sim and the policy node, two processes with
the shipped Fast DDS profile) runs the given episodes while a probe here reads the node's
/diagnostics. Per stream: messages the sim sent (its episode results count them) against
those the node received and filed; the node's inference latency p50/p95 and its overhead per
plan beyond the model (goal <= 5 ms) with the 640 x 480 camera; late points dropped and
chunks that came entirely too late. Goal: no frame lost at 30 Hz.

    python bench/bench_arm_loop.py --checkpoint runs/pusht_arm/checkpoints/best --seeds 3
    python bench/bench_arm_loop.py        # an untrained policy of the arm recipe's size

Without --checkpoint the policy is the arm recipe's model (config/train_pusht_arm_cpu.yaml,
7.7M parameters, DDIM-10) with random weights: latency and message figures do not depend on
what it learned, but its score means nothing and is not reported. Prints and writes
bench/results/arm_loop.json (the load average is recorded beside the figures).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import ros_bench_env  # the ROS environment, set before rclpy and dp_ros are imported

REPO = ros_bench_env.REPO

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_harness import RosProbe  # noqa: E402

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def untrained_recipe_policy(directory: Path) -> Path:
    """The arm recipe's model with random weights, normalized over the IK's joint ranges."""
    import numpy as np
    import torch

    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.config import PolicyConfig
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer
    from training.config import load_config

    torch.manual_seed(0)
    section = dict(load_config(REPO / 'config' / 'train_pusht_arm_cpu.yaml').policy)
    section['shape_meta'] = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                                     'joint_pos': {'shape': [3], 'type': 'low_dim'}},
                             'action': {'shape': [3]}}
    config = PolicyConfig.from_dict(section)
    rng = np.random.default_rng(0)
    low, high = np.array([-2.3, 0.6, -1.4]), np.array([0.1, 2.9, -0.3])
    data = {'joint_pos': rng.uniform(low, high, (256, 3)),
            'action': rng.uniform(low, high, (256, 3))}
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=0.1,
                       provenance={'note': 'untrained arm recipe model (bench)'})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', type=Path, help='an arm policy (default: untrained)')
    parser.add_argument('--seeds', type=int, default=3, help='episodes, from seed 100000')
    parser.add_argument('--max-steps', type=int, default=300)
    parser.add_argument('--execution-mode', default='replace')
    parser.add_argument('--threads', type=int, default=0, help="the node's torch threads")
    parser.add_argument('--work', type=Path, default=Path('outputs/bench_arm_loop'))
    parser.add_argument('--output', type=Path, default=REPO / 'bench' / 'results' /
                        'arm_loop.json')
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    trained = args.checkpoint is not None
    checkpoint = args.checkpoint or untrained_recipe_policy(args.work / 'untrained_arm')
    seeds = [100000 + i for i in range(args.seeds)]

    from dp_ros.app.sim_launcher import SessionConfig, SimSession

    cfg = SessionConfig(checkpoint=checkpoint, seeds=seeds, mode='realtime', robot='arm',
                        max_steps=args.max_steps, device='cpu', cpu_threads=args.threads,
                        log_dir=args.work / 'logs',
                        policy_overrides={'execution_mode': args.execution_mode})
    probe = RosProbe('bench_arm_loop')
    try:
        diags = probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
        start = time.monotonic()
        with SimSession(cfg) as session:
            results = session.run()
            wall = time.monotonic() - start
            # the node's counters come with its diagnostics (one a second): wait for two more
            # with the nodes still up, so the last one counts every message of the run
            seen, deadline = len(diags), time.monotonic() + 10.0
            while len(diags) < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        # the node's last diagnostics: its counters over the whole run
        full = [d for d in diags if any(kv.key == 'chunks_published' for kv in d.status[0].values)]
        values = {kv.key: kv.value for kv in full[-1].status[0].values} if full else {}
    finally:
        probe.close()
    sent = {k: sum(r['sent'][k] for r in results) for k in ('joint_states', 'images')}
    report = {
        'benchmark': 'arm_loop', 'command': ' '.join(['python', 'bench/bench_arm_loop.py',
                                                      *(argv or sys.argv[1:])]),
        'policy': str(checkpoint) if trained else 'untrained arm recipe model (7.7M, DDIM-10)',
        'seeds': seeds, 'max_steps': args.max_steps,
        'execution_mode': args.execution_mode, 'wall_s': round(wall, 1),
        'load_average': os.getloadavg(), 'cpu': platform.processor() or platform.machine(),
        'streams': {
            'camera_640x480_rgb8_30hz': {'sent': sent['images'],
                                         'received': int(values.get('input_image_received', -1)),
                                         'filed': int(values.get('input_image_filed', -1))},
            'joint_states_100hz': {'sent': sent['joint_states'],
                                   'received': int(values.get('input_joint_pos_received', -1)),
                                   'filed': int(values.get('input_joint_pos_filed', -1))},
        },
        'inference_latency_ms': {'p50': values.get('latency_p50_ms'),
                                 'p95': values.get('latency_p95_ms')},
        'node_overhead_per_plan_ms': {'p50': values.get('node_overhead_p50_ms'),
                                      'p95': values.get('node_overhead_p95_ms')},
        'chunks_published': values.get('chunks_published'),
        'late_points_dropped': values.get('actions_dropped'),
        'chunks_all_late': values.get('chunks_all_late'),
        # an untrained policy's score means nothing: not reported
        'episodes': [{k: r[k] for k in ('seed', 'steps', 'sent', 'rejected')
                      + (('max_reward',) if trained else ())} for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + '\n')
    print(json.dumps(report, indent=2))
    print(f'-> {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
