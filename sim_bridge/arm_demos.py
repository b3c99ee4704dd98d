"""The paper's 206 Push-T demonstrations as arm demonstrations: IK of the recorded pusher path,
replayed open-loop in the arm env, in-process (no ROS).

Each episode starts from its recorded start state (the end effector on the recorded pusher
position, joints from the IK). Step k (k = 0 .. T-2) commands the joints the IK gives for the
recorded pusher position of step k + 1 (state[k + 1, :2]): following the recorded positions,
not the recorded PD targets (action), is what makes a stiff arm reproduce the block's motion,
because the point pusher lagged its targets (its PD law) and a joint controller does not.

An episode's replay succeeds when the block ends as well placed as the demonstrator left it:
its final coverage of the goal is at least the recorded final coverage minus `tolerance`
(0.05). The paper's success threshold (coverage > 0.95, reward 1) is also counted, for the
replay and for the recorded episodes themselves: the teleoperators stopped at a median
coverage of 0.85, so almost no recorded episode passes it.

    python -m sim_bridge.arm_demos --report bench/results/arm_demos.json
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import write_text
from dp_ros.selection import parse_episodes
from sim_bridge.arm_kinematics import DEFAULT_ARM, JOINT_NAMES, ArmGeometry
from sim_bridge.pusht_geometry import SUCCESS_THRESHOLD, coverage, reward_from_coverage
from sim_bridge.replay import DEFAULT_DATASET, episode_span, open_pusht_store, resolve_dataset

TOLERANCE = 0.05


PROG = 'python -m sim_bridge.arm_demos'  # its errors name it


@dataclass
class Demonstrations:
    states: np.ndarray  # (N, 5)
    ends: np.ndarray  # (E,) exclusive end index per episode
    dataset: Path = Path('the dataset')  # named by the errors

    def episode(self, index: int) -> np.ndarray:
        """The recorded states of one episode (ValueError: out of range, or of no steps)."""
        start, end = episode_span(self.ends, index, self.dataset)
        return self.states[start:end]


def load_demonstrations(dataset: Path, command: str = 'arm-record') -> Demonstrations:
    """All recorded states and episode ends of the paper's zarr replay buffer (read-only),
    checked as replay checks it (open_pusht_store: one line for what is no Push-T store)."""
    root, ends = open_pusht_store(dataset, command, keys=('state',))  # commands: IK of states
    return Demonstrations(states=np.asarray(root['data/state'][:], dtype=np.float64),
                          ends=ends, dataset=Path(dataset))


def joint_commands(states: np.ndarray, arm: ArmGeometry = DEFAULT_ARM) -> np.ndarray:
    """(T - 1, 3) joint targets: step k goes to the IK of the recorded pusher at step k + 1."""
    return arm.inverse(np.asarray(states, dtype=np.float64)[1:, :2])


def replay_episode(env: Any, states: np.ndarray, commands: np.ndarray,
                   tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Run `commands` open-loop from the episode's recorded start; the per-episode result."""
    env.reset(options={'state': states[0]})
    max_reward = 0.0
    first_success = None
    max_ee_error = 0.0
    max_speed = np.zeros(3)
    info: dict[str, Any] = {}
    for k, target in enumerate(commands):
        _obs, reward, terminated, _trunc, info = env.step(target)
        max_reward = max(max_reward, float(reward))
        if terminated and first_success is None:
            first_success = k + 1
        max_ee_error = max(max_ee_error, float(np.hypot(*(info['pos_agent'] - states[k + 1, :2]))))
        for _i, _q, qd in env.substep_states:
            max_speed = np.maximum(max_speed, np.abs(qd))
    recorded = coverage(states[-1, 2:5])
    final = float(info['coverage']) if info else coverage(states[0, 2:5])
    block = info['block_pose'] if info else states[0, 2:5]
    angle_error = float(np.abs((block[2] - states[-1, 4] + np.pi) % (2 * np.pi) - np.pi))
    return dict(
        steps=int(len(commands)),
        recorded_final_coverage=round(recorded, 6),
        final_coverage=round(final, 6),
        max_reward=round(max_reward, 6),
        recorded_max_reward=round(max(reward_from_coverage(coverage(s[2:5]))[0]
                                      for s in states), 6),
        success=bool(final >= recorded - tolerance),
        paper_success=first_success is not None,
        paper_success_step=first_success,
        final_block_position_error_px=round(float(np.hypot(*(block[:2] - states[-1, 2:4]))), 4),
        final_block_angle_error_rad=round(angle_error, 6),
        max_end_effector_error_px=round(max_ee_error, 6),
        max_joint_speed=[round(float(v), 4) for v in max_speed],
    )


def run(dataset: Path, episodes: str | None = None, tolerance: float = TOLERANCE,
        with_commands: bool = True, arm: ArmGeometry = DEFAULT_ARM) -> dict[str, Any]:
    """Replay the episodes (an --episodes spec, checked against the dataset's count; all when
    None) in the arm env; the report as a dict."""
    from sim_bridge.arm_env import ArmPushTEnv

    demos = load_demonstrations(dataset, PROG)
    indices = parse_episodes(episodes, len(demos.ends)) or list(range(len(demos.ends)))
    env = ArmPushTEnv(arm=arm, render_obs=False, max_episode_steps=None)
    t0 = time.perf_counter()
    rows = []
    for index in indices:
        states = demos.episode(index)
        commands = joint_commands(states, arm)
        row = {'episode': index, **replay_episode(env, states, commands, tolerance)}
        if with_commands:
            row['joint_commands'] = np.round(commands, 6).tolist()
        rows.append(row)
    wall = time.perf_counter() - t0
    ok = [r['episode'] for r in rows if r['success']]
    return {
        'what': 'the paper\'s Push-T demonstrations replayed open-loop in the arm env '
                '(sim_bridge/arm_env.py): joint commands = IK of the recorded pusher '
                'positions (step k -> state[k+1, :2]), 10 Hz, 100 Hz physics, in-process',
        'command': f'{PROG} --report bench/results/arm_demos.json',
        'dataset': str(dataset),
        'success_rule': f'final coverage >= the recorded final coverage - {tolerance}',
        'paper_success_rule': f'coverage > {SUCCESS_THRESHOLD} at some step (the env '
                              'terminates, reward 1)',
        'arm': {'shoulder': list(arm.shoulder), 'links': list(arm.links),
                'joint_names': list(JOINT_NAMES), 'lower': list(arm.lower),
                'upper': list(arm.upper), 'max_velocity': list(arm.max_velocity),
                'max_acceleration': list(arm.max_acceleration),
                'ik_rule': 'end link radial from the shoulder, elbow q2 > 0'},
        'episodes': len(rows),
        'succeeded': len(ok),
        'failed_episodes': [r['episode'] for r in rows if not r['success']],
        'paper_success_replayed': sum(r['paper_success'] for r in rows),
        'paper_success_recorded': sum(r['recorded_max_reward'] >= 1.0 for r in rows),
        'mean_final_coverage': round(float(np.mean([r['final_coverage'] for r in rows])), 6),
        'mean_recorded_final_coverage': round(float(np.mean(
            [r['recorded_final_coverage'] for r in rows])), 6),
        'median_final_block_position_error_px': round(float(np.median(
            [r['final_block_position_error_px'] for r in rows])), 4),
        'max_end_effector_error_px': max(r['max_end_effector_error_px'] for r in rows),
        'max_joint_speed': np.max([r['max_joint_speed'] for r in rows], axis=0).tolist(),
        'wall_s': round(wall, 2),
        'machine': f'{platform.machine()} {platform.python_version()}',
        'per_episode': rows,
    }


def report_json(report: dict[str, Any]) -> str:
    """Indented JSON with one line per episode (the joint commands make rows long)."""
    head = {k: v for k, v in report.items() if k != 'per_episode'}
    text = json.dumps(head, indent=2)[:-2]
    rows = ',\n    '.join(json.dumps(r, separators=(',', ':')) for r in report['per_episode'])
    return f'{text},\n  "per_episode": [\n    {rows}\n  ]\n}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG,
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', type=Path, default=DEFAULT_DATASET)
    parser.add_argument('--episodes', help="'A:B', 'N' or 'N,M,...' (default: all)")
    parser.add_argument('--tolerance', type=float, default=TOLERANCE,
                        help='success: final coverage >= recorded final coverage - this')
    parser.add_argument('--report', type=Path, help='write the JSON report here')
    parser.add_argument('--no-commands', action='store_true',
                        help='leave the joint command sequences out of the report')
    args = parser.parse_args(argv)
    if not math.isfinite(args.tolerance):  # nan: every episode fails, inf: none can
        print(f'error: --tolerance must be a finite number, got {args.tolerance}',
              file=sys.stderr)
        return 2
    try:
        report = run(resolve_dataset(args.dataset), args.episodes,
                     args.tolerance, not args.no_commands)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f"{report['succeeded']} of {report['episodes']} demonstrations succeed in the arm env "
          f"({report['success_rule']}); paper threshold: {report['paper_success_replayed']} "
          f"replayed, {report['paper_success_recorded']} recorded; mean final coverage "
          f"{report['mean_final_coverage']:.3f} (recorded "
          f"{report['mean_recorded_final_coverage']:.3f})"
          f"; failed: {report['failed_episodes']}; {report['wall_s']} s")
    if args.report:
        write_text(args.report, report_json(report))
        print(f'wrote {args.report}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
