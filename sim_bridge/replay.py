"""`dp-ros replay`: play a recorded Push-T episode's actions into the sim bridge over ROS.

The sim is reset to the episode's recorded start state (parameter `initial_state` + the
`reset` service), then each observation k is answered with a one-point JointTrajectory
holding action k. In lockstep mode it is stamped with observation k's time, the step it
answers, so the demonstration is reproduced (the recorded states are compared with the
sim's) and a recorder places it on the right grid step whatever order messages arrive in;
in realtime mode it is stamped 0 ("now"), as a teleoperator's command stream is, arrives
after its step has started and lands one step late, as real latency makes it. With a bag recorder
on the topics, this is how demonstration bags are made.

Either start the node yourself (`--start-sim`, stopped at the end) or point at a running one
(`--namespace`, default /pusht): its max_steps must be at least the episode length.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import check_writable_file, write_text
from dp_ros.errors import UserError
from dp_ros.ros.processes import check_ros_environment, node_command, start_child, stop
from sim_bridge.sim_node_config import MODES, answer_stamp_ns

# relative to the working directory first, then to the source tree (the rule of training's
# data.zarr_path), so an installed copy does not look under site-packages
DEFAULT_DATASET = Path('../shared/datasets/pusht/pusht_cchi_v7_replay.zarr')


def resolve_dataset(path: Path) -> Path:
    if path.is_absolute():
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / path).exists():
            return (base / path).resolve()
    return path.resolve()
JOINTS = ('agent_x', 'agent_y')


@dataclass
class RecordedEpisode:
    index: int
    states: np.ndarray  # (T, 5) agent x, y, block x, y, angle
    actions: np.ndarray  # (T, 2)


def _not_a_replay_buffer(dataset: Path, command: str) -> str:
    """What `command` says of a dataset that is not a zarr replay buffer, instead of zarr's
    "No group found in store": what it is (a LeRobotDataset, which the other dataset commands
    read) and what it takes."""
    if (dataset / 'meta' / 'info.json').is_file():
        return (f'{dataset} is a LeRobotDataset; {command} plays a zarr replay buffer: convert '
                f'it first (dp-ros convert {dataset} OUT.zarr) and pass --dataset OUT.zarr')
    return (f'{dataset} is not a zarr replay buffer (it has no meta/episode_ends); {command} '
            "plays a Push-T store (the paper's, one recorded from the sim with "
            'config/bag2zarr_pusht.yaml, or a LeRobotDataset converted with dp-ros convert)')


def open_pusht_store(dataset: Path, command: str = 'replay',
                     keys: tuple[str, ...] = ('state', 'action')) -> tuple[Any, np.ndarray]:
    """(the zarr group, its episode ends) of a Push-T replay buffer (read-only), checked as
    `command` (replay, arm-record) plays it: a store, with `keys` (state [5], action [2] per
    step; arm-record needs the states alone); ValueError naming what it is otherwise
    (FileNotFoundError when absent)."""
    import zarr

    if not Path(dataset).exists():
        raise FileNotFoundError(f'dataset not found: {dataset}')
    try:
        root = zarr.open_group(str(dataset), mode='r')
    except (FileNotFoundError, ValueError):  # zarr's "No group found in store StorePath(..)"
        root = None  # (or an array found there)
    if root is None or 'meta/episode_ends' not in root:
        raise ValueError(_not_a_replay_buffer(Path(dataset), command))
    missing = [k for k in keys if f'data/{k}' not in root]
    if missing:
        raise ValueError(f'{dataset} has no {" or ".join(f"data/{k}" for k in missing)}: '
                         f'{command} plays a Push-T store (the paper\'s or one recorded from '
                         f'the sim with config/bag2zarr_pusht.yaml)')
    widths = {'state': (5,), 'action': (2,)}
    if any(root[f'data/{k}'].shape[1:] != widths[k] for k in keys):
        held = ' and '.join(f'{k}s {list(root[f"data/{k}"].shape[1:])}' for k in keys)
        raise ValueError(f'{dataset} holds {held} per step; {command} plays Push-T episodes: '
                         'states [5] (agent x, y, block x, y, angle)'
                         + (', actions [2]' if 'action' in keys else ''))
    return root, np.asarray(root['meta/episode_ends'][:], dtype=np.int64)


def load_episode(dataset: Path, episode: int) -> RecordedEpisode:
    """One episode's states and actions from the paper's zarr replay buffer (read-only)."""
    root, ends = open_pusht_store(dataset)
    start, end = episode_span(ends, episode, dataset)
    state, action = root['data/state'], root['data/action']
    return RecordedEpisode(index=episode,
                           states=np.asarray(state[start:end], dtype=np.float64),
                           actions=np.asarray(action[start:end], dtype=np.float64))


def episode_span(ends: np.ndarray, episode: int, dataset: Path) -> tuple[int, int]:
    """(start, end) steps of `episode` in a store of episode ends `ends`; ValueError for one
    out of range or of no steps (a repeated end, another tool's store: nothing to play)."""
    if not 0 <= episode < len(ends):
        raise ValueError(f'episode {episode} is out of range: {dataset} has {len(ends)} '
                         f'episodes (0..{len(ends) - 1})')
    start = 0 if episode == 0 else int(ends[episode - 1])
    end = int(ends[episode])
    if end <= start:
        raise ValueError(f'episode {episode} of {dataset} is empty (its end in episode_ends, '
                         f'{end}, is where it starts): nothing to replay; pick another')
    return start, end


def parse_reset_message(message: str) -> int:
    """The new episode's start stamp from the reset service's reply."""
    match = re.search(r'stamp_ns=(-?\d+)', message)
    if match is None:
        raise ValueError(f"reset reply has no 'stamp_ns=': {message!r}")
    return int(match.group(1))


def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((np.asarray(a) - np.asarray(b) + np.pi) % (2 * np.pi) - np.pi)


@dataclass
class ReplaySummary:
    episode: int
    steps: int
    mode: str
    max_reward: float
    final_reward: float
    max_agent_error_px: float
    max_block_error_px: float
    max_block_angle_error_rad: float
    wall_s: float
    episode_result: dict | None = None
    rewards: list[float] = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dp-ros replay', description=__doc__.splitlines()[0],
        epilog='Without --start-sim a pusht_sim node must be running in --namespace; its '
               'initial_state parameter is set and its reset service called.')
    parser.add_argument('--dataset', type=Path, default=DEFAULT_DATASET,
                        help='zarr replay buffer (default: the shared Push-T dataset)')
    parser.add_argument('--episode', type=int, default=0, help='episode index (default 0)')
    parser.add_argument('--namespace', default='/pusht', help='the sim node namespace')
    parser.add_argument('--node-name', default='pusht_sim', help='the sim node name')
    parser.add_argument('--start-sim', action='store_true',
                        help='start the sim node as a subprocess (stopped at the end)')
    parser.add_argument('--mode', choices=MODES, default='lockstep',
                        help='mode of the node started with --start-sim (default lockstep)')
    parser.add_argument('--video', default='',
                        help='with --start-sim: write the episode video here (.gif/.mp4)')
    parser.add_argument('--print-every', type=int, default=10,
                        help='print a progress line every N steps (default 10; 0: only the end)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for any one observation or service')
    parser.add_argument('--json', type=Path, default=None, help='write the summary here')
    return parser


def start_sim_process(args, episode: RecordedEpisode) -> subprocess.Popen:
    state = ', '.join(repr(float(v)) for v in episode.states[0])  # '222.0': a double
    argv = node_command(
        'sim_bridge.pusht_sim_node', 'pusht_sim', '--ros-args', '-r', f'__ns:={args.namespace}',
        '-r', f'__node:={args.node_name}', '-p', f'mode:={args.mode}', '-p', 'autostart:=false',
        '-p', 'auto_reset:=false', '-p', f'max_steps:={len(episode.actions)}',
        '-p', f'initial_state:=[{state}]', '-p', 'action_wait_timeout_s:=0')
    if args.video:
        argv += ['-p', f'video_path:={args.video}']
    return start_child(argv, cwd=str(Path(__file__).resolve().parents[1]))


class ReplayClient:
    """The ROS side of a replay: one node, spun on a background thread."""

    def __init__(self, namespace: str, node_name: str, joints: tuple[str, ...] = JOINTS):
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64, String
        from trajectory_msgs.msg import JointTrajectory

        from dp_ros.ros.background_node import BackgroundNode

        self.ns = namespace.rstrip('/')
        self.joint_names = tuple(joints)
        # the sim process this client started (wait_connected): a wait or a call that it
        # outlives says that it exited, not that it timed out
        self.sim: subprocess.Popen | None = None
        self.node_path = f'{self.ns}/{node_name}'
        self.ros = BackgroundNode('pusht_replay', spin=False)
        self.node, self.context, self.executor = self.ros.node, self.ros.context, self.ros.executor
        self.cond = threading.Condition()
        self.joints: dict[int, object] = {}
        self.poses: dict[int, object] = {}
        self.rewards: list[float] = []
        self.results: list[dict] = []
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.subscriptions = [
            self.node.create_subscription(JointState, f'{self.ns}/joint_states',
                                          self._keyed(self.joints), reliable),
            self.node.create_subscription(PoseStamped, f'{self.ns}/block_pose',
                                          self._keyed(self.poses), reliable)]
        self.node.create_subscription(Float64, f'{self.ns}/reward', self._on_reward, reliable)
        self.node.create_subscription(String, f'{self.ns}/episode_result', self._on_result,
                                      latched)
        self.traj_pub = self.node.create_publisher(JointTrajectory,
                                                   f'{self.ns}/joint_trajectory', reliable)
        self.ros.start()

    def check_joints(self, msg) -> None:
        """RuntimeError when the sim's joint states lack the joints this client commands (the
        arm twin's shoulder, elbow, wrist for the point robot's agent_x, agent_y): its every
        trajectory would be rejected and the wait for rewards time out, said as a timeout."""
        names = list(msg.name)
        if not set(self.joint_names) <= set(names):
            raise RuntimeError(
                f'the sim on {self.ns or "/"} publishes joints {names}, not '
                f'{list(self.joint_names)}: replay plays the point robot\'s recorded actions'
                + (' (the arm twin replays demonstrations as joint commands: dp-ros '
                   'arm-record)' if self.joint_names == JOINTS else ''))

    def _keyed(self, store: dict):
        from dp_ros.ros.conversions import time_to_ns

        def on_msg(msg):
            with self.cond:
                store[time_to_ns(msg.header.stamp)] = msg
                self.cond.notify_all()
        return on_msg

    def _on_reward(self, msg) -> None:
        with self.cond:
            self.rewards.append(float(msg.data))
            self.cond.notify_all()

    def _on_result(self, msg) -> None:
        with self.cond:
            self.results.append(json.loads(msg.data))
            self.cond.notify_all()

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                self._check_sim(what)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
                self.cond.wait(timeout=min(remaining, 0.1))

    def call(self, srv_type, name: str, request, timeout: float):
        """A service call; a sim process that ends meanwhile is said within a poll
        (_check_sim), as dp-ros sim's SimSession.call says it."""
        try:
            return self.ros.call(srv_type, name, request, timeout,
                                 while_waiting=lambda: self._check_sim(name))
        except TimeoutError as exc:
            self._check_sim(name)
            raise TimeoutError(f'{exc} (is the sim node running? see --start-sim)') from None

    def _check_sim(self, what: str) -> None:
        """RuntimeError when the sim process this client started has ended (a crash, a kill):
        said within a poll, not after the whole timeout as a slow machine's."""
        if self.sim is not None and self.sim.poll() is not None:
            raise RuntimeError(f'the sim node exited with code {self.sim.returncode} while '
                               f'waiting for {what}')

    def wait_connected(self, timeout: float, sim: subprocess.Popen | None = None) -> None:
        """Both directions matched, so neither observation 0 nor action 0 is lost."""
        def connected():
            return (self.traj_pub.get_subscription_count() >= 1
                    and all(s.get_publisher_count() >= 1 for s in self.subscriptions))
        self.sim = sim if sim is not None else self.sim
        deadline = time.monotonic() + timeout
        while not connected():
            self._check_sim(f'its topics on {self.ns or "/"}')
            if time.monotonic() > deadline:
                raise TimeoutError(f'no pusht_sim node on {self.ns} after {timeout:.0f} s '
                                   '(is it running? see --start-sim)')
            time.sleep(0.05)

    def set_initial_state(self, state: np.ndarray, timeout: float) -> None:
        self.set_parameters({'initial_state': [float(v) for v in state]}, timeout)

    def set_parameters(self, values: dict, timeout: float) -> None:
        """Set the sim node's run-time parameters (lists of floats, ints)."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        params = []
        for name, value in values.items():
            if isinstance(value, int):
                pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
            else:
                pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                                    double_array_value=[float(v) for v in value])
            params.append(Parameter(name=name, value=pv))
        reply = self.call(SetParameters, f'{self.node_path}/set_parameters',
                          SetParameters.Request(parameters=params), timeout)
        refused = [f'{p.name}: {r.reason}' for p, r in zip(params, reply.results, strict=False)
                   if not r.successful]
        if refused or len(reply.results) != len(params):
            raise RuntimeError(f'{self.node_path} refused {refused or "the parameters"}')

    def reset(self, timeout: float) -> int:
        from std_srvs.srv import Trigger

        reply = self.call(Trigger, f'{self.ns}/reset', Trigger.Request(), timeout)
        if not reply.success:
            raise RuntimeError(f'reset of {self.ns} failed: {reply.message}')
        return parse_reset_message(reply.message)

    def send_action(self, action: np.ndarray, stamp_ns: int = 0) -> None:
        """One point, due at stamp_ns (0: when the sim receives it)."""
        self.send_actions(np.asarray(action)[None], stamp_ns)

    def send_actions(self, actions: np.ndarray, stamp_ns: int = 0) -> None:
        """Points 0.1 s apart, the first due at stamp_ns (0: when the sim receives it)."""
        from dp_ros.ros.conversions import chunk_to_joint_trajectory

        self.traj_pub.publish(chunk_to_joint_trajectory(np.asarray(actions), self.joint_names,
                                                        0.1, stamp_ns))

    def close(self) -> None:
        self.ros.close()


def observed_state(joint_msg, pose_msg) -> np.ndarray:
    q = pose_msg.pose.orientation
    yaw = 2.0 * np.arctan2(q.z, q.w)
    return np.array([joint_msg.position[0], joint_msg.position[1], pose_msg.pose.position.x,
                     pose_msg.pose.position.y, yaw % (2 * np.pi)])


def replay(client: ReplayClient, episode: RecordedEpisode, mode_hint: str, timeout: float,
           print_every: int, sim: subprocess.Popen | None = None) -> ReplaySummary:
    """Drive one episode; observation k (in arrival order after the reset) gets action k."""
    started = time.monotonic()
    client.wait_connected(timeout, sim)
    client.set_initial_state(episode.states[0], timeout)
    start_ns = client.reset(timeout)
    with client.cond:
        n_rewards = len(client.rewards)
    n = len(episode.actions)
    errors = np.zeros((n, 3))
    last_ns = start_ns - 1
    for k in range(n):
        # the first observation of the sim newer than the previous one, with its block pose
        def next_obs(after=last_ns):
            stamps = [s for s in client.joints if s > after and s in client.poses]
            return [min(stamps)] if stamps else []  # a list: stamp 0 is a valid answer
        t_k = client.wait(next_obs, timeout, f'observation {k} of the replayed episode')[0]
        if k == 0:
            client.check_joints(client.joints[t_k])
        last_ns = t_k
        with client.cond:
            state = observed_state(client.joints[t_k], client.poses[t_k])
        client.send_action(episode.actions[k], answer_stamp_ns(mode_hint, t_k))
        recorded = episode.states[k]
        errors[k] = (np.abs(state[:2] - recorded[:2]).max(),
                     np.abs(state[2:4] - recorded[2:4]).max(),
                     angle_difference(state[4], recorded[4]))
        if print_every and (k % print_every == 0 or k == n - 1):
            with client.cond:
                rewards = client.rewards[n_rewards:]
            reward = rewards[-1] if rewards else 0.0
            print(f'step {k + 1:4d}/{n}  t={(t_k - start_ns) / 1e9:6.1f} s  '
                  f'action=({episode.actions[k][0]:6.1f}, {episode.actions[k][1]:6.1f})  '
                  f'reward={reward:.3f}  |state - recorded|: agent {errors[k, 0]:.2g} px, '
                  f'block {errors[k, 1]:.2g} px', flush=True)
    # the reward of the last step, and the episode result if the episode ends with it
    client.wait(lambda: len(client.rewards) - n_rewards >= n, timeout, f'{n} rewards')
    def own_results():  # not the one of the episode the reset ended, nor a latched older one
        return [r for r in client.results
                if isinstance(r, dict) and r.get('start_stamp_ns') == start_ns]
    try:
        result = client.wait(own_results, min(timeout, 5.0), 'the episode result')[-1]
    except TimeoutError:
        result = None  # a running node with max_steps above the episode length goes on
    with client.cond:
        rewards = client.rewards[n_rewards:n_rewards + n]
    return ReplaySummary(episode=episode.index, steps=n, mode=mode_hint,
                         max_reward=float(max(rewards)), final_reward=float(rewards[-1]),
                         max_agent_error_px=float(errors[:, 0].max()),
                         max_block_error_px=float(errors[:, 1].max()),
                         max_block_angle_error_rad=float(errors[:, 2].max()),
                         wall_s=time.monotonic() - started, episode_result=result,
                         rewards=[round(r, 6) for r in rewards])


def argument_problem(args) -> str | None:
    """What is wrong with arguments that parse but cannot work together (None: nothing),
    said before any node starts."""
    if args.video and not args.start_sim:
        return ('--video writes the video of the node replay starts: give --start-sim too (a '
                'running node writes its own: its video_path parameter)')
    if not args.timeout > 0:  # NaN too: a deadline no clock passes
        return f'--timeout must be > 0 s, got {args.timeout}'
    if args.json is not None:  # written after the replay: found before it
        try:
            check_writable_file(args.json, '--json', 'replay.json')
        except UserError as exc:
            return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    refused = argument_problem(args)
    if refused:
        print(f'dp-ros replay: {refused}', file=sys.stderr)
        return 2
    try:  # before rclpy loads: an RMW rcl cannot load ends the process (exit 102) as it does
        check_ros_environment(os.environ)
    except UserError as exc:
        print(f'dp-ros replay: {exc}', file=sys.stderr)
        return 2
    try:
        args.dataset = resolve_dataset(args.dataset)
        episode = load_episode(args.dataset, args.episode)
    except (FileNotFoundError, ValueError) as exc:
        print(f'dp-ros replay: {exc}', file=sys.stderr)
        return 2
    print(f'replaying episode {episode.index} ({len(episode.actions)} steps) of {args.dataset}')
    sim = start_sim_process(args, episode) if args.start_sim else None
    client = ReplayClient(args.namespace, args.node_name)
    try:
        summary = replay(client, episode, args.mode if sim else 'running node', args.timeout,
                         args.print_every, sim)
    except (TimeoutError, RuntimeError, ValueError) as exc:
        print(f'dp-ros replay: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('dp-ros replay: interrupted', file=sys.stderr)
        return 130
    finally:
        client.close()
        if sim is not None:
            stop(sim)
    print(f'episode {summary.episode}: {summary.steps} steps, max reward '
          f'{summary.max_reward:.3f}, final reward {summary.final_reward:.3f}; sim vs recorded: '
          f'agent {summary.max_agent_error_px:.3g} px, block {summary.max_block_error_px:.3g} px, '
          f'{summary.max_block_angle_error_rad:.3g} rad; {summary.wall_s:.1f} s')
    if summary.episode_result is not None:
        print(f'episode result: {json.dumps(summary.episode_result)}')
    if args.json is not None:
        write_text(args.json, json.dumps(summary.__dict__, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
