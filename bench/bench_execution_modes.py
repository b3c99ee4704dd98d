"""Execution modes with a slow policy in realtime: chunk-boundary discontinuity and jerk.

    .venv/bin/python bench/bench_execution_modes.py [--seeds 100000 100001 100002]
        [--latency 0.25] [--max-step-delta 40] [--output bench/results/execution_modes.json]

`dp-ros sim --mode realtime` (the Push-T sim at wall-clock 10 Hz and the policy node, two
processes, the shipped policy) on the same seeds once per configuration: replace without a
step limit (the node before issue 13), then replace, temporal_ensemble and blend with
max_step_delta. The node sleeps `--latency` s after each sampling (debug_extra_latency_s),
so its plan runs out before the next chunk arrives, the case where chunk boundaries jerk.

A probe records every JointTrajectory the node publishes (with its receive time) and the
sim's step times (joint_states stamps); the targets the sim executes at each step are
reconstructed with the sim's own follower (sim_bridge/trajectory_follower.py). Reported per
configuration, over the same episodes:
- boundary_step_max: the largest jump at a chunk boundary, |first point of a chunk - the
  commanded point in force one period before it| (max over x, y), px, on the commanded
  timeline (each chunk replacing the points from its first one on);
- executed_step_max: the largest change between the executed targets of consecutive
  10 Hz slots, px (a slot the sim skipped because it overran is counted in sim_overruns and
  no step is taken across it);
- jerk: sum over steps of the squared second difference of the executed targets, px^2
  (and per step), over consecutive slots;
- the episodes' scores (max reward), steps and the node's diagnostics counters.
The Push-T demonstrations move at most 33 px per step in 99 % of steps (57 px: 99.9 %).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import ros_bench_env  # the ROS environment, set before rclpy and dp_ros are imported

REPO = ros_bench_env.REPO

import numpy as np  # noqa: E402

RESULTS = REPO / 'bench' / 'results' / 'execution_modes.json'
JOINTS = ['agent_x', 'agent_y']
DT_NS = 100_000_000


class Recorder:
    """Trajectories (receive time, message), joint-state stamps and positions, episode starts."""

    def __init__(self):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from dp_ros.ros.background_node import BackgroundNode

        self.ros = BackgroundNode('bench_execution_modes')
        node = self.ros.node
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.lock = threading.Lock()
        self.trajs: list = []
        self.joints: list = []
        self.starts: list = []
        node.create_subscription(JointTrajectory, '/pusht/joint_trajectory', self._on_traj,
                                 reliable)
        node.create_subscription(JointState, '/pusht/joint_states', self._on_joints, reliable)
        node.create_subscription(String, '/pusht/episode_start', self._on_start, latched)

    def _now(self) -> int:
        return self.ros.node.get_clock().now().nanoseconds

    def _on_traj(self, msg) -> None:
        with self.lock:
            self.trajs.append((self._now(), msg))

    def _on_joints(self, msg) -> None:
        from dp_ros.ros.conversions import joint_state_to_numpy, time_to_ns

        with self.lock:
            self.joints.append((time_to_ns(msg.header.stamp),
                                joint_state_to_numpy(msg, JOINTS, 'position')))

    def _on_start(self, msg) -> None:
        with self.lock:
            info = json.loads(msg.data)
            if all(s['start_ns'] != info['start_ns'] for s in self.starts):
                self.starts.append(info)

    def close(self) -> None:
        self.ros.close()


def executed_targets(ticks: list[int], hold: np.ndarray, trajs: list) -> np.ndarray:
    """The target the sim applies at each step: its follower, fed the trajectories in the
    order and at the time they were received."""
    from dp_ros.ros.conversions import joint_trajectory_to_chunk
    from sim_bridge.trajectory_follower import (
        TrajectoryFollower,
        TrajectoryRejected,
        check_trajectory,
    )

    follower = TrajectoryFollower(hold=hold, interpolate=True)  # the realtime sim's
    out, k = [], 0
    for t in ticks:
        while k < len(trajs) and trajs[k][0] <= t:
            chunk = joint_trajectory_to_chunk(trajs[k][1])
            try:
                follower.replace(check_trajectory(chunk.joint_names, JOINTS, chunk.stamp_ns,
                                                  chunk.times_from_start_ns, chunk.positions,
                                                  trajs[k][0]))
            except TrajectoryRejected:
                pass
            k += 1
        out.append(follower.target_at(t))
    return np.asarray(out, dtype=np.float64)


def is_hold(msg) -> bool:
    """The node's stop: one point due a period after the stamp (a plan's first point is due
    at its stamp)."""
    return len(msg.points) == 1 and (msg.points[0].time_from_start.sec
                                     or msg.points[0].time_from_start.nanosec)


def boundary_steps(trajs: list) -> list[float]:
    """|first point of each chunk - the commanded point in force a period before it|, on the
    commanded timeline (each chunk replacing the points from its first one on)."""
    from dp_ros.ros.conversions import joint_trajectory_to_chunk
    from dp_ros.runtime.execution import held_at

    due, points, steps = np.zeros(0, dtype=np.int64), np.zeros((0, 2)), []
    for _, msg in trajs:
        if is_hold(msg):
            due, points = np.zeros(0, dtype=np.int64), np.zeros((0, 2))  # a new motion next
            continue
        chunk = joint_trajectory_to_chunk(msg)
        first = int(chunk.due_ns[0])
        before = held_at(due, points, first - DT_NS) if len(due) else None
        if before is not None:
            steps.append(float(np.abs(chunk.positions[0] - before).max()))
        keep = due < first
        due = np.concatenate([due[keep], chunk.due_ns])
        points = np.concatenate([points[keep], chunk.positions])
    return steps


def analyse(rec: Recorder, results: list[dict]) -> dict:
    with rec.lock:
        starts = sorted(s['start_ns'] for s in rec.starts)
        trajs, joints = list(rec.trajs), sorted(rec.joints, key=lambda j: j[0])
    episodes = []
    for i, start in enumerate(starts[:len(results)]):
        end = starts[i + 1] if i + 1 < len(starts) else None
        inside = [j for j in joints if j[0] >= start and (end is None or j[0] < end)]
        ticks = sorted({t for t, _ in inside})[:int(results[i]['steps'])]
        ep_trajs = [(t, m) for t, m in trajs
                    if t >= start and (end is None or t < end)]
        targets = executed_targets(ticks, inside[0][1], ep_trajs)
        # a realtime sim that overran its 10 Hz slot skips it (its stamps jump by 2 dt):
        # steps and second differences are taken over consecutive slots only
        on_grid = np.diff(np.asarray(ticks, dtype=np.int64)) == DT_NS
        steps = np.abs(np.diff(targets, axis=0)).max(axis=1)[on_grid]
        second = np.diff(targets, n=2, axis=0)[on_grid[1:] & on_grid[:-1]]
        bounds = boundary_steps(ep_trajs)
        episodes.append({
            'seed': results[i]['seed'], 'score': round(float(results[i]['max_reward']), 4),
            'steps': len(ticks), 'chunks': sum(not is_hold(m) for _, m in ep_trajs),
            'sim_overruns': int(np.count_nonzero(~on_grid)),
            'holds': sum(bool(is_hold(m)) for _, m in ep_trajs),
            'boundary_step_max': round(max(bounds, default=0.0), 3),
            'executed_step_max': round(float(steps.max()), 3),
            'jerk': round(float((second ** 2).sum()), 1),
        })
    steps_total = sum(e['steps'] for e in episodes)
    jerk = sum(e['jerk'] for e in episodes)
    return {
        'mean_score': round(float(np.mean([e['score'] for e in episodes])), 4),
        'boundary_step_max': max(e['boundary_step_max'] for e in episodes),
        'executed_step_max': max(e['executed_step_max'] for e in episodes),
        'jerk': round(jerk, 1), 'jerk_per_step': round(jerk / max(steps_total, 1), 2),
        'episodes': episodes,
    }


def run_config(name: str, overrides: dict, args: argparse.Namespace) -> dict:
    from dp_ros.app.sim_launcher import SessionConfig, SimSession

    rec = Recorder()
    cfg = SessionConfig(checkpoint=args.checkpoint.resolve(), seeds=list(args.seeds),
                        mode='realtime', cpu_threads=args.threads, max_steps=args.max_steps,
                        log_dir=args.logs / name,
                        policy_overrides={'debug_extra_latency_s': args.latency, **overrides})
    start = time.perf_counter()
    try:
        with SimSession(cfg) as session:
            results = session.run()
            time.sleep(0.5)  # the last messages reach the recorder (analysis only)
    finally:
        rec.close()
    out = {'name': name, 'policy_overrides': overrides, 'wall_s': round(
        time.perf_counter() - start, 1), **analyse(rec, results)}
    print(json.dumps({k: v for k, v in out.items() if k != 'episodes'}), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', type=Path, default=REPO / 'checkpoints' / 'pusht_default')
    p.add_argument('--seeds', type=int, nargs='+', default=[100000, 100001, 100002])
    p.add_argument('--latency', type=float, default=0.25, help='debug_extra_latency_s')
    p.add_argument('--max-step-delta', type=float, default=40.0, help='px per step')
    p.add_argument('--modes', nargs='+', default=['replace', 'temporal_ensemble', 'blend'])
    p.add_argument('--max-steps', type=int, default=300)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--logs', type=Path, default=Path('/tmp/bench_execution_modes'))
    p.add_argument('--output', type=Path, default=RESULTS)
    args = p.parse_args(argv)
    limit = [args.max_step_delta] * 2
    configs = [('replace, no step limit', {'execution_mode': 'replace'})]
    configs += [(f'{mode}, max_step_delta {args.max_step_delta:g}',
                 {'execution_mode': mode, 'max_step_delta': limit}) for mode in args.modes]
    runs = [run_config(name, overrides, args) for name, overrides in configs]
    report = {
        'bench': 'execution_modes', 'command': 'python bench/bench_execution_modes.py '
        + ' '.join(argv if argv is not None else sys.argv[1:]),
        'checkpoint': str(args.checkpoint), 'seeds': args.seeds, 'sim_mode': 'realtime',
        'debug_extra_latency_s': args.latency, 'max_step_delta_px': args.max_step_delta,
        'runs': runs, 'load_average': list(os.getloadavg()), 'cpus': os.cpu_count(),
        'python': platform.python_version(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + '\n')
    print(f"{'configuration':<40} {'score':>6} {'boundary':>9} {'step max':>9} {'jerk/step':>10}")
    for r in runs:
        print(f"{r['name']:<40} {r['mean_score']:>6.3f} {r['boundary_step_max']:>9.1f} "
              f"{r['executed_step_max']:>9.1f} {r['jerk_per_step']:>10.1f}")
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
