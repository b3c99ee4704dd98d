"""ROS 2 node `pusht_sim`: the Push-T environment behind camera, joint-state and trajectory topics.

Two clocks. `realtime`: the sim steps at wall-clock 10 Hz whatever the policy does, stamps are
ROS time, and a slow policy pays its latency. `lockstep`: the sim owns time (published on
/clock from 0), publishes the observation of step k at t_k = k * 0.1 s and runs step k only
once the active trajectory covers t_k, applying the point scheduled for t_k. Nothing in
lockstep depends on wall time except the action wait timeout, so a run is reproducible.

One worker thread steps the env; the executor thread only files incoming trajectories and
reset requests under the same lock, so stepping order never depends on callback timing.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import (
    NameValidationException,
    ParameterException,
    ParameterUninitializedException,
)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros.conversions import (
    joint_trajectory_to_chunk,
    ns_to_time,
    numpy_to_image,
    numpy_to_joint_state,
    seconds_to_ns,
)
from sim_bridge.trajectory_follower import (
    RejectionLog,
    TrajectoryFollower,
    TrajectoryRejected,
    Workspace,
    check_trajectory,
)

NODE_NAME = 'pusht_sim'
PUSHT_CONTROL_RATE_HZ = 10.0  # the env integrates 0.1 s per step (paper: sim 100 Hz, control 10 Hz)
MODES = ('lockstep', 'realtime')

RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass
class SimNodeConfig:
    """Everything the node reads from its ROS parameters, validated in one place."""

    mode: str = 'lockstep'
    seeds: list[int] = field(default_factory=list)
    seed_start: int = 100000
    seed_count: int = 0
    max_steps: int = 300
    control_rate_hz: float = PUSHT_CONTROL_RATE_HZ
    camera_rate_hz: float = PUSHT_CONTROL_RATE_HZ
    action_wait_timeout_s: float = 60.0
    obs_republish_period_s: float = 1.0
    auto_reset: bool = True
    autostart: bool = True
    video_path: str = ''
    video_size: int = 256
    image_size: int = 96
    frame_id: str = 'pusht_workspace'
    joint_names: list[str] = field(default_factory=lambda: ['agent_x', 'agent_y'])
    workspace_low: list[float] = field(default_factory=lambda: [0.0, 0.0])
    workspace_high: list[float] = field(default_factory=lambda: [512.0, 512.0])
    image_topic: str = 'image_raw'
    joint_states_topic: str = 'joint_states'
    block_pose_topic: str = 'block_pose'
    reward_topic: str = 'reward'
    episode_result_topic: str = 'episode_result'
    episode_start_topic: str = 'episode_start'
    trajectory_topic: str = 'joint_trajectory'
    clock_topic: str = '/clock'
    reset_service: str = 'reset'

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"parameter mode must be one of {MODES}, got '{self.mode}'")
        if abs(self.control_rate_hz - PUSHT_CONTROL_RATE_HZ) > 1e-9:
            raise ValueError(f'parameter control_rate_hz must be {PUSHT_CONTROL_RATE_HZ} (the '
                             f'Push-T physics integrates 0.1 s per step), got '
                             f'{self.control_rate_hz}')
        if not 0.0 < self.camera_rate_hz <= self.control_rate_hz:
            raise ValueError(f'parameter camera_rate_hz must be in (0, control_rate_hz='
                             f'{self.control_rate_hz}], got {self.camera_rate_hz}')
        if self.mode == 'lockstep' and self.camera_rate_hz != self.control_rate_hz:
            raise ValueError(f'parameter camera_rate_hz must equal control_rate_hz in lockstep '
                             f'mode (every step is observed), got {self.camera_rate_hz}')
        if self.max_steps < 1:
            raise ValueError(f'parameter max_steps must be >= 1, got {self.max_steps}')
        if self.seed_count < 0 or self.seed_start < 0 or any(s < 0 for s in self.seeds):
            raise ValueError(f'seeds must be >= 0 and seed_count >= 0, got seeds={self.seeds} '
                             f'seed_start={self.seed_start} seed_count={self.seed_count}')
        if self.action_wait_timeout_s < 0 or self.obs_republish_period_s < 0:
            raise ValueError('parameters action_wait_timeout_s and obs_republish_period_s must '
                             f'be >= 0 (0: off), got {self.action_wait_timeout_s} and '
                             f'{self.obs_republish_period_s}')
        if len(self.joint_names) != 2 or len(set(self.joint_names)) != 2 or not all(
                self.joint_names):
            raise ValueError(f'parameter joint_names must be two distinct names (x, y), got '
                             f'{self.joint_names}')
        if len(self.workspace_low) != 2 or len(self.workspace_high) != 2:
            raise ValueError(f'parameters workspace_low/high must have 2 values, got '
                             f'{self.workspace_low} / {self.workspace_high}')
        Workspace(tuple(self.workspace_low), tuple(self.workspace_high))
        if self.image_size < 8 or self.video_size < 8:
            raise ValueError(f'image_size and video_size must be >= 8, got {self.image_size} '
                             f'and {self.video_size}')
        if self.video_path and Path(self.video_path).suffix.lower() not in ('.gif', '.mp4'):
            raise ValueError(f"parameter video_path must end in .gif or .mp4, got "
                             f"'{self.video_path}'")
        try:  # now, not on the worker at the first episode's end
            video_file_for(self.video_path, 0, 0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"parameter video_path '{self.video_path}': only {{episode}} and "
                             f'{{seed}} can be filled in ({exc!r})') from None

    @property
    def workspace(self) -> Workspace:
        return Workspace(tuple(self.workspace_low), tuple(self.workspace_high))

    @property
    def dt_ns(self) -> int:
        return seconds_to_ns(1.0 / self.control_rate_hz)

    def seed_for_episode(self, episode: int) -> int | None:
        """The seed of episode `episode` (0-based), None once the seeds are used up."""
        if self.seeds:
            return self.seeds[episode] if episode < len(self.seeds) else None
        if self.seed_count and episode >= self.seed_count:
            return None
        return self.seed_start + episode

    def episode_count(self) -> int | None:
        return len(self.seeds) if self.seeds else (self.seed_count or None)


PARAMETER_HELP: dict[str, str] = {
    'mode': "'lockstep' (sim time on /clock, a step waits for its action) or 'realtime' "
            '(wall-clock 10 Hz, ROS time stamps)',
    'seeds': 'episode seeds in order; empty: seed_start, seed_start + 1, ...',
    'seed_start': 'first seed when seeds is empty (paper test seeds: 100000..100049)',
    'seed_count': 'number of episodes when seeds is empty; 0: unlimited',
    'max_steps': 'control steps per episode before it is truncated',
    'control_rate_hz': 'control rate; fixed at 10 by the Push-T physics',
    'camera_rate_hz': 'image rate in realtime mode (<= control rate); must equal it in lockstep',
    'action_wait_timeout_s': 'lockstep: wall seconds to wait for a step\'s action before '
                             'holding the last target (counted); 0: wait forever',
    'obs_republish_period_s': 'lockstep: while waiting, republish the step\'s observation this '
                              'often (wall seconds) for late subscribers; 0: never',
    'auto_reset': 'start the next episode when one ends (else wait for the reset service)',
    'autostart': 'start the first episode at launch (else wait for the reset service)',
    'video_path': "write each episode as .gif or .mp4 here ('{episode}', '{seed}' are "
                  'filled in; without them _epNNN is appended); empty: no video',
    'video_size': 'video frame size in pixels',
    'image_size': 'published camera image size in pixels',
    'frame_id': 'header.frame_id of the observations',
    'joint_names': 'names of the agent x and y joints in joint_states and joint_trajectory',
    'workspace_low': 'lowest valid target (x, y); targets outside are rejected',
    'workspace_high': 'highest valid target (x, y); targets outside are rejected',
    'image_topic': 'camera topic (sensor_msgs/Image rgb8, sensor-data QoS)',
    'joint_states_topic': 'agent position and velocity (sensor_msgs/JointState)',
    'block_pose_topic': 'T block pose (geometry_msgs/PoseStamped)',
    'reward_topic': 'reward of each step (std_msgs/Float64)',
    'episode_result_topic': 'JSON result of each episode (std_msgs/String, transient local)',
    'episode_start_topic': 'JSON {"episode", "seed", "start_ns"} at each episode start, before '
                           'its first observation (std_msgs/String, transient local): the '
                           'policy node seeds its sampling generator from it',
    'trajectory_topic': 'targets in (trajectory_msgs/JointTrajectory)',
    'clock_topic': 'sim time in lockstep mode (rosgraph_msgs/Clock)',
    'reset_service': 'std_srvs/Trigger: start the next seed\'s episode',
}


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'parameter {name} must be a number, got {value!r}')
    return float(value)


def read_config(node: Node) -> SimNodeConfig:
    """Declare every parameter (read-only, with its description) and build the config.

    Numbers are declared with dynamic typing so that `10` and `10.0` both work from YAML and
    the command line; the config then checks them with errors that name the parameter.
    """
    defaults = SimNodeConfig()
    values: dict[str, Any] = {}
    for name, default in asdict(defaults).items():
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        numeric_list = name.startswith('workspace_')
        descriptor = ParameterDescriptor(description=PARAMETER_HELP[name], read_only=True,
                                         dynamic_typing=numeric or numeric_list)
        if name == 'seeds':
            node.declare_parameter(name, Parameter.Type.INTEGER_ARRAY, descriptor)
            try:
                value = node.get_parameter(name).value
            except ParameterUninitializedException:
                value = []
        else:
            value = node.declare_parameter(name, default, descriptor).value
        if numeric:
            value = _as_float(name, value)
            if isinstance(default, int):
                if value != int(value):
                    raise ValueError(f'parameter {name} must be an integer, got {value}')
                value = int(value)
        elif numeric_list:
            value = [_as_float(name, v) for v in (value or [])]
        values[name] = list(value) if isinstance(value, (list, tuple)) else value
    config = SimNodeConfig(**values)
    config.validate()
    return config


def parse_initial_state(value: Any, workspace: Workspace) -> np.ndarray | None:
    """None for an empty value, else 5 finite numbers with both positions in the workspace."""
    if value is None or isinstance(value, (str, bool, int, float)):
        raise ValueError(f'parameter initial_state must be a list, got {value!r}')
    values = list(value)  # list or array.array, as rclpy hands arrays over
    if not values:
        return None
    state = np.array([_as_float('initial_state', v) for v in values], dtype=np.float64)
    if state.shape != (5,) or not np.all(np.isfinite(state)):
        raise ValueError('parameter initial_state must be 5 finite numbers [agent_x, agent_y, '
                         f'block_x, block_y, block_angle] or empty, got {values}')
    low, high = np.asarray(workspace.low), np.asarray(workspace.high)
    for name, xy in (('agent', state[:2]), ('block', state[2:4])):
        if np.any(xy < low) or np.any(xy > high):
            raise ValueError(f'parameter initial_state puts the {name} at {xy.tolist()}, outside '
                             f'the workspace low={list(workspace.low)} high={list(workspace.high)}')
    return state


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation about z."""
    return 0.0, 0.0, float(np.sin(yaw / 2.0)), float(np.cos(yaw / 2.0))


def video_file_for(path: str, episode: int, seed: int) -> Path:
    if '{episode' in path or '{seed' in path:
        return Path(path.format(episode=episode, seed=seed))
    p = Path(path)
    return p if episode == 0 else p.with_name(f'{p.stem}_ep{episode:03d}{p.suffix}')


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """GIF through imageio; MP4 through imageio when it has a backend, else OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import imageio.v3 as iio

    if path.suffix.lower() == '.gif':
        iio.imwrite(path, np.stack(frames), duration=1000.0 / fps, loop=0)
        return
    try:
        iio.imwrite(path, np.stack(frames), fps=fps)
    except (OSError, ImportError, ValueError):
        import cv2

        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        finally:
            writer.release()


@dataclass
class Episode:
    """Bookkeeping of the running episode."""

    index: int
    seed: int
    start_ns: int
    steps: int = 0
    max_reward: float = 0.0
    coverage: float = 0.0
    terminated: bool = False
    ended: bool = False
    action_timeouts: int = 0
    initial_state: list[float] | None = None
    frames: list = field(default_factory=list)


class PushTSimNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.config = read_config(self)
        cfg = self.config
        self.initial_state = parse_initial_state(self.declare_parameter(
            'initial_state', [], ParameterDescriptor(
                description='start every episode from this state [agent_x, agent_y, block_x, '
                            'block_y, block_angle] instead of the seed\'s (settable at run '
                            'time, used from the next reset); empty: the seed decides',
                dynamic_typing=True)).value, cfg.workspace)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        from sim_bridge.pusht_env import PushTEnv  # pymunk/pygame only once parameters are ok

        self.env = PushTEnv(render_size=cfg.image_size, max_episode_steps=None,
                            render_obs=True, video_size=cfg.video_size)
        self.follower = TrajectoryFollower()
        self.rejections = RejectionLog()
        self._cond = threading.Condition()
        self._stop = False
        self._generation = 0  # bumped by every reset, so a waiting step notices it
        self._tick = 0  # lockstep: index of the current observation since start (t = tick*dt)
        self._t_ns = 0  # time of the current observation
        self._episode: Episode | None = None
        self._episodes_started = 0
        self._last_obs_msgs: tuple = ()
        self._next_image_ns = 0
        self._video_threads: list[threading.Thread] = []
        self.worker_error: BaseException | None = None

        self.pub_image = self.create_publisher(Image, cfg.image_topic, qos_profile_sensor_data)
        self.pub_joints = self.create_publisher(JointState, cfg.joint_states_topic, RELIABLE_10)
        self.pub_block = self.create_publisher(PoseStamped, cfg.block_pose_topic, RELIABLE_10)
        self.pub_reward = self.create_publisher(Float64, cfg.reward_topic, RELIABLE_10)
        self.pub_result = self.create_publisher(String, cfg.episode_result_topic, LATCHED)
        self.pub_episode_start = self.create_publisher(String, cfg.episode_start_topic, LATCHED)
        self.pub_clock = (self.create_publisher(Clock, cfg.clock_topic, RELIABLE_10)
                          if cfg.mode == 'lockstep' else None)
        self.create_subscription(JointTrajectory, cfg.trajectory_topic, self._on_trajectory,
                                 RELIABLE_10)
        self.create_service(Trigger, cfg.reset_service, self._on_reset)
        self._worker = threading.Thread(target=self._run, name='pusht_sim_worker', daemon=True)
        seeds = cfg.seeds or f'{cfg.seed_start}.. ({cfg.seed_count or "unlimited"})'
        self.get_logger().info(f'{cfg.mode} Push-T sim: seeds {seeds}, max_steps='
                               f'{cfg.max_steps}, auto_reset={cfg.auto_reset}')

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        for thread in self._video_threads:
            thread.join(timeout=30.0)

    def worker_alive(self) -> bool:
        return self._worker.is_alive()

    def _run(self) -> None:
        try:
            if self.config.autostart:
                with self._cond:
                    self._start_episode()
            if self.config.mode == 'lockstep':
                self._run_lockstep()
            else:
                self._run_realtime()
        except BaseException as exc:  # surface it: the process exits non-zero
            self.worker_error = exc
            self.get_logger().error(f'sim worker failed: {exc!r}\n{traceback.format_exc()}')

    # --- time -----------------------------------------------------------------------------

    def _now_ns(self) -> int:
        """'Now' for incoming trajectories: the current step's time in lockstep."""
        if self.config.mode == 'lockstep':
            return self._t_ns
        return self.get_clock().now().nanoseconds

    # --- the two stepping loops -----------------------------------------------------------

    def _wait_for_episode(self) -> bool:
        """(lock held) Until an episode runs: True, or False once the node stops."""
        while not self._stop:
            if self._episode is not None and not self._episode.ended:
                return True
            self._cond.wait(timeout=0.5)
        return False

    def _run_lockstep(self) -> None:
        cfg = self.config
        while True:
            with self._cond:
                if not self._wait_for_episode():
                    return
                generation, t_ns = self._generation, self._t_ns
                timed_out = not self._wait_for_action(generation, t_ns)
                if self._stop:
                    return
                if self._generation != generation:
                    continue  # reset while waiting: the new episode's step 0 comes next
                if timed_out:
                    ep = self._episode
                    ep.action_timeouts += 1
                    if ep.action_timeouts == 1:
                        self.get_logger().warning(
                            f'no action for step {ep.steps} (t={t_ns / 1e9:.1f} s) after '
                            f'{cfg.action_wait_timeout_s} s: holding the last target (logged '
                            'once per episode; the count is in the episode result)')
                self._tick += 1
                self._step(t_ns, self._tick * cfg.dt_ns)

    def _wait_for_action(self, generation: int, t_ns: int) -> bool:
        """Lockstep wait (lock held) until the action for t exists; False on timeout."""
        cfg = self.config
        start = time.monotonic()
        deadline = start + cfg.action_wait_timeout_s if cfg.action_wait_timeout_s > 0 else None
        period = cfg.obs_republish_period_s
        next_republish = start + period if period > 0 else None
        while not self.follower.covers(t_ns):
            if self._stop or self._generation != generation:
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            if next_republish is not None and now >= next_republish:
                self._republish()
                next_republish = now + period
            wakeups = [w for w in (deadline, next_republish) if w is not None]
            self._cond.wait(timeout=min(wakeups) - now if wakeups else None)
        return True

    def _run_realtime(self) -> None:
        dt_ns = self.config.dt_ns
        while True:
            with self._cond:
                if not self._wait_for_episode():
                    return
                generation = self._generation
                # The target for the interval [t_k, t_k+1) is what is scheduled at t_k, known
                # by then: an answer to observation k arrives too late for it (real latency).
                t_k = self._t_ns
                target_k = self.follower.target_at(t_k)
                next_ns = t_k + dt_ns
                while not self._stop and self._generation == generation:
                    remaining = next_ns - self.get_clock().now().nanoseconds
                    if remaining <= 0:
                        break
                    self._cond.wait(timeout=remaining / 1e9)
                if self._stop:
                    return
                if self._generation != generation:
                    continue
                now_ns = self.get_clock().now().nanoseconds
                if now_ns - next_ns >= dt_ns:  # overran: stamp the current slot, not a past one
                    next_ns += (now_ns - next_ns) // dt_ns * dt_ns
                self._step(t_k, next_ns, target=target_k)

    # --- episode and step (called with the lock held) -------------------------------------

    def _start_episode(self) -> bool:
        cfg = self.config
        index = self._episodes_started
        seed = cfg.seed_for_episode(index)
        if seed is None:
            return False
        if self._episode is not None:
            self._tick += 1  # a fresh time for the new episode's first observation
        self._t_ns = (self._tick * cfg.dt_ns if cfg.mode == 'lockstep'
                      else self.get_clock().now().nanoseconds)
        self._episodes_started += 1
        self._generation += 1
        options = None if self.initial_state is None else {'state': self.initial_state}
        obs, info = self.env.reset(seed=int(seed), options=options)
        self._episode = Episode(index=index, seed=int(seed), start_ns=self._t_ns,
                                initial_state=None if options is None
                                else self.initial_state.tolist())
        self.follower.reset(hold=np.asarray(info['pos_agent'], dtype=np.float64))
        self.rejections.clear()
        self._next_image_ns = self._t_ns
        if cfg.video_path:
            self._episode.frames.append(self.env.render())
        self.pub_episode_start.publish(String(data=json.dumps(
            dict(episode=index, seed=int(seed), start_ns=int(self._t_ns)))))
        self._publish_observation(obs, info, self._t_ns)
        self.get_logger().info(f'episode {index} started: seed {seed}')
        self._cond.notify_all()
        return True

    def _step(self, t_k: int, t_next: int, target: np.ndarray | None = None) -> None:
        cfg = self.config
        ep = self._episode
        if target is None:
            target = self.follower.target_at(t_k)
        obs, reward, terminated, _truncated, info = self.env.step(
            np.asarray(target, dtype=np.float64))
        ep.steps += 1
        ep.max_reward = max(ep.max_reward, float(reward))
        ep.coverage = float(info['coverage'])
        ep.terminated = bool(terminated)
        self._t_ns = t_next
        if cfg.video_path:
            ep.frames.append(self.env.render())
        self._publish_observation(obs, info, t_next)
        self.pub_reward.publish(Float64(data=float(reward)))
        if terminated or ep.steps >= cfg.max_steps:
            self._end_episode('success' if terminated else 'max_steps')
            if cfg.auto_reset and not self._start_episode():
                self.get_logger().info(f'all {self._episodes_started} episodes done')

    def _end_episode(self, reason: str) -> None:
        ep = self._episode
        ep.ended = True
        result = dict(seed=ep.seed, episode=ep.index, steps=ep.steps,
                      max_reward=float(ep.max_reward), final_coverage=round(ep.coverage, 6),
                      terminated=ep.terminated, reason=reason, mode=self.config.mode,
                      action_timeouts=ep.action_timeouts, rejected=self.rejections.as_dict(),
                      start_stamp_ns=ep.start_ns)
        if ep.initial_state is not None:
            result['initial_state'] = ep.initial_state
        self.pub_result.publish(String(data=json.dumps(result)))
        self.get_logger().info(
            f'episode {ep.index} (seed {ep.seed}) ended: {reason} after {ep.steps} steps, '
            f'max_reward={ep.max_reward:.3f}, coverage={ep.coverage:.3f}, '
            f'action_timeouts={ep.action_timeouts}, rejected={self.rejections.total()} '
            f'{self.rejections.as_dict()}')
        if self.config.video_path and ep.frames:
            path = video_file_for(self.config.video_path, ep.index, ep.seed)
            frames, ep.frames = ep.frames, []
            thread = threading.Thread(target=self._write_video, args=(path, frames), daemon=True)
            thread.start()
            self._video_threads = [t for t in self._video_threads if t.is_alive()] + [thread]

    def _write_video(self, path: Path, frames: list) -> None:
        try:
            write_video(path, frames, self.config.control_rate_hz)
            self.get_logger().info(f'wrote {len(frames)} frames to {path}')
        except Exception as exc:  # a video is a by-product: never stop the sim for it
            self.get_logger().error(f'could not write video {path}: {exc!r}')

    def _publish_observation(self, obs: dict, info: dict, t_ns: int) -> None:
        cfg = self.config
        stamp = ns_to_time(t_ns)
        state = np.asarray(self.env.get_state(), dtype=np.float64)
        joints = numpy_to_joint_state(np.asarray(info['pos_agent'], dtype=np.float64),
                                      cfg.joint_names, velocity=info['vel_agent'], stamp=stamp)
        joints.header.frame_id = cfg.frame_id
        pose = PoseStamped()
        pose.header.stamp = stamp
        pose.header.frame_id = cfg.frame_id
        pose.pose.position.x, pose.pose.position.y = float(state[2]), float(state[3])
        q = yaw_to_quaternion(float(state[4]))
        (pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z,
         pose.pose.orientation.w) = q
        msgs: list = []
        if self.pub_clock is not None:
            clock = Clock(clock=stamp)
            self.pub_clock.publish(clock)
            msgs.append((self.pub_clock, clock))
        if cfg.mode == 'lockstep' or t_ns >= self._next_image_ns:
            image = numpy_to_image(np.ascontiguousarray(obs['image'], dtype=np.uint8), 'rgb8',
                                   stamp=stamp, frame_id=cfg.frame_id)
            self.pub_image.publish(image)
            msgs.append((self.pub_image, image))
            period = seconds_to_ns(1.0 / cfg.camera_rate_hz)
            self._next_image_ns = max(self._next_image_ns + period, t_ns + period // 2)
        self.pub_joints.publish(joints)
        self.pub_block.publish(pose)
        self._last_obs_msgs = (*msgs, (self.pub_joints, joints), (self.pub_block, pose))

    def _republish(self) -> None:
        for publisher, msg in self._last_obs_msgs:
            publisher.publish(msg)

    # --- callbacks (executor thread) ------------------------------------------------------

    def _reject(self, kind: str, message: str) -> None:
        if self.rejections.record(kind):
            self.get_logger().warning(f'rejected trajectory ({kind}): {message} (logged once '
                                      'per kind and episode; counts in the episode result)')

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self._cond:
            try:
                chunk = joint_trajectory_to_chunk(msg)
            except ValueError as exc:
                self._reject('dimension', str(exc))
                return
            episode_start = self._episode.start_ns if self._episode is not None else None
            try:
                trajectory = check_trajectory(
                    chunk.joint_names, self.config.joint_names, chunk.stamp_ns,
                    chunk.times_from_start_ns, chunk.positions, self._now_ns(),
                    self.config.workspace, episode_start)
            except TrajectoryRejected as exc:
                self._reject(exc.kind, str(exc))
                return
            self.follower.replace(trajectory)
            self._cond.notify_all()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        with self._cond:
            if self.config.seed_for_episode(self._episodes_started) is None:
                response.success = False
                response.message = f'all {self._episodes_started} seeds are used up'
                return response
            ep = self._episode
            if ep is not None and not ep.ended:
                self._end_episode('reset')
            self._start_episode()
            ep = self._episode
            response.success = True
            response.message = (f'episode {ep.index} started: seed={ep.seed} '
                                f'stamp_ns={ep.start_ns}'
                                + (' initial_state=given' if ep.initial_state else ''))
        return response

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name != 'initial_state':
                continue
            try:
                state = parse_initial_state(param.value, self.config.workspace)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            with self._cond:
                self.initial_state = state
        return SetParametersResult(successful=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv if argv is None else ['pusht_sim_node', *argv]
    rclpy.init(args=args)
    node = None
    executor = SingleThreadedExecutor()
    try:
        try:
            node = PushTSimNode()
        except (ValueError, ParameterException, NameValidationException) as exc:
            print(f'pusht_sim: invalid parameters: {exc}', file=sys.stderr)
            return 2
        executor.add_node(node)
        node.start()
        while rclpy.ok() and node.worker_alive():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop()
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        if rclpy.ok():
            rclpy.shutdown()
    return 1 if node is not None and node.worker_error is not None else 0


if __name__ == '__main__':
    sys.exit(main())
