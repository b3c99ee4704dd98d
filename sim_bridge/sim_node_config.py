"""Parameters of the pusht_sim node, documented and checked without ROS (dp_ros/params.py).

The node declares these fields as its ROS parameters; the episode stepper reads them; the unit
tests build them from plain dicts. One name is deprecated: `control_rate_hz` (Hz) became
`control_period_s` (s), as everywhere else in the project; the old name is still read, with a
warning, from a parameter file or the command line.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dp_ros.params import coerce, config_from_dict, param
from sim_bridge.trajectory_follower import Workspace
from sim_bridge.video import check_video_pattern

PUSHT_CONTROL_PERIOD_S = 0.1  # the env integrates 0.1 s per step (paper: sim 100 Hz, control 10 Hz)
PUSHT_CONTROL_RATE_HZ = 1.0 / PUSHT_CONTROL_PERIOD_S  # the point robot's camera rate too
MODES = ('lockstep', 'realtime')
ROBOTS = ('point', 'arm')  # the sim's robots; eval, training and dp-ros sim use this list
MAX_SEED = 2**32 - 1  # numpy's legacy RandomState, which places the paper's start states
# the slowest camera the sim runs: a frame every 1000 s (at 1e-300 Hz the period overflowed its
# nanoseconds: a traceback at start)
MIN_CAMERA_RATE_HZ = 1e-3


def answer_stamp_ns(mode: str, observation_ns: int) -> int:
    """The header stamp of a one-point command answering an observation stamped
    observation_ns (dp-ros replay, the teleop). Lockstep: that stamp, the step waiting for it
    (and a recorder pairs the two by stamp); otherwise 0 ("now", as a teleoperator's stream
    is): a realtime step has started when the answer arrives, and a point due at its stamp
    would end in the past (refused as ends_in_past)."""
    return int(observation_ns) if mode == 'lockstep' else 0


def first_seed_outside(seeds: Iterable[int]) -> int | None:
    """The first of `seeds` the sim cannot start an episode with (numpy takes 0..MAX_SEED),
    or None: the command-line check of `dp-ros eval` and `dp-ros sim`."""
    return next((s for s in seeds if not 0 <= s <= MAX_SEED), None)

# old name -> its description; the node declares these too, so that old files still load
DEPRECATED_PARAMETERS: dict[str, str] = {
    'control_rate_hz': 'DEPRECATED: use control_period_s (= 1 / control_rate_hz). The control '
                       'rate in Hz; read with a warning, must be 10',
}


def parse_initial_state(value: Any, workspace: Workspace) -> np.ndarray | None:
    """None for an empty value, else 5 finite numbers with both positions in the workspace
    and a T block the walls let start there (pusht_geometry.MAX_WALL_REACH_PX)."""
    values = coerce('initial_state', 'list[float]', value)
    if not values:
        return None
    state = np.array(values, dtype=np.float64)
    if state.shape != (5,) or not np.all(np.isfinite(state)):
        raise ValueError('parameter initial_state must be 5 finite numbers [agent_x, agent_y, '
                         f'block_x, block_y, block_angle] or empty, got {values}')
    low, high = np.asarray(workspace.low), np.asarray(workspace.high)
    for name, xy in (('agent', state[:2]), ('block', state[2:4])):
        if np.any(xy < low) or np.any(xy > high):
            raise ValueError(f'parameter initial_state puts the {name} at {xy.tolist()}, outside '
                             f'the workspace low={list(workspace.low)} high={list(workspace.high)}')
    from sim_bridge.pusht_geometry import MAX_WALL_REACH_PX, t_reach_past_walls

    reach = t_reach_past_walls(state[2:5])
    if reach > MAX_WALL_REACH_PX:
        raise ValueError(f"parameter initial_state puts the T block {reach:.1f} px past the "
                         f"walls' inner faces (block at {state[2:4].tolist()}, angle "
                         f'{state[4]:g} rad): the physics pushes a block back onto the table '
                         f'from up to {MAX_WALL_REACH_PX:g} px past them; deeper, it wedges in a '
                         'wall or leaves the table')
    return state


@dataclass
class SimNodeConfig:
    """Everything the node reads from its ROS parameters; validate() checks the combination."""

    mode: str = param('lockstep', "'lockstep' (sim time on /clock, a step waits for its "
                      "action) or 'realtime' (wall-clock steps, ROS time stamps)")
    robot: str = param('point', "'point': the paper's pusher, x/y 'joints' in px, one "
                       "observation per step; 'arm': a planar 3-joint arm whose end effector "
                       'pushes (joint position targets in rad, per-joint velocity and '
                       'acceleration limits, JointState at 100 Hz, a 640 x 480 camera)')
    seeds: list[int] = param([], 'episode seeds in order; empty: seed_start, seed_start + 1, '
                             '...', range=(0, MAX_SEED))
    seed_start: int = param(100000, 'first seed when seeds is empty (paper test seeds: '
                            '100000..100049)', range=(0, MAX_SEED))
    seed_count: int = param(0, 'number of episodes when seeds is empty; 0: unlimited',
                            range=(0, MAX_SEED))
    max_steps: int = param(300, 'control steps per episode before it is truncated (a change '
                           'applies to the running episode too)', range=(1, 2**31 - 1),
                           read_only=False)
    control_period_s: float = param(PUSHT_CONTROL_PERIOD_S, 'seconds per control step; fixed '
                                    'at 0.1 by the Push-T physics', unit='s')
    camera_rate_hz: float = param(0.0, "image rate; 0: the robot's (point: 1 / "
                                  'control_period_s, which lockstep requires and realtime may '
                                  'lower; arm: 30, a multiple of the control rate so that every '
                                  'step boundary has a frame; in lockstep the arm takes one '
                                  'frame per step); else at least 0.001', range=(0.0, 1000.0),
                                  unit='Hz')
    action_wait_timeout_s: float = param(60.0, "lockstep: wall seconds to wait for a step's "
                                         'action before holding the last target (counted); 0: '
                                         'wait forever', range=(0.0, 86400.0), unit='s')
    obs_republish_period_s: float = param(1.0, "lockstep: while waiting, republish the step's "
                                          'observation this often (wall seconds) for late '
                                          'subscribers; 0: never', range=(0.0, 3600.0),
                                          unit='s')
    auto_reset: bool = param(True, 'start the next episode when one ends (else wait for the '
                             'reset service)')
    autostart: bool = param(True, 'start the first episode at launch (else wait for the reset '
                            'service)')
    video_path: str = param('', "write each episode as .gif or .mp4 here ('{episode}', "
                            "'{seed}' are filled in; without them _epNNN is appended); empty: "
                            'no video')
    video_size: int = param(256, 'video frame size', range=(8, 4096), unit='px')
    image_size: int = param(96, 'point robot: published (square) camera image size; the '
                            "arm's camera is 640 x 480", range=(8, 4096), unit='px')
    frame_id: str = param('pusht_workspace', 'header.frame_id of the observations, and the '
                          'frame pose targets must be in')
    joint_names: list[str] = param([], "joint names in joint_states and joint_trajectory; "
                                   "empty: the robot's (point: agent_x, agent_y; arm: "
                                   'shoulder, elbow, wrist)')
    workspace_low: list[float] = param([], "lowest valid target per joint; targets outside "
                                       "are rejected; within the robot's range (a wider one "
                                       "is refused); empty: the robot's (point: 0, 0 px; "
                                       'arm: its joint position limits, rad)')
    workspace_high: list[float] = param([], "highest valid target per joint; empty: the "
                                        "robot's (point: 512, 512 px; arm: its joint "
                                        'position limits, rad)')
    initial_state: list[float] = param([], 'start every episode from this state [agent_x, '
                                       'agent_y, block_x, block_y, block_angle] instead of the '
                                       "seed's (used from the next episode); empty: the seed "
                                       'decides', read_only=False)
    image_topic: str = param('image_raw', 'camera topic (sensor_msgs/Image rgb8, sensor-data '
                             'QoS)')
    joint_states_topic: str = param('joint_states', 'agent position and velocity '
                                    '(sensor_msgs/JointState)')
    block_pose_topic: str = param('block_pose', 'T block pose (geometry_msgs/PoseStamped)')
    reward_topic: str = param('reward', 'reward of each step (std_msgs/Float64)')
    episode_result_topic: str = param('episode_result', 'JSON result of each episode '
                                      '(std_msgs/String, transient local)')
    episode_start_topic: str = param('episode_start', 'JSON {"episode", "seed", "start_ns"} '
                                     'at each episode start, before its first observation '
                                     '(std_msgs/String, transient local): the policy node '
                                     'seeds its sampling generator from it')
    trajectory_topic: str = param('joint_trajectory', 'targets in '
                                  '(trajectory_msgs/JointTrajectory)')
    ee_pose_topic: str = param(
        '', "the end effector's pose in frame_id with every joint state "
        '(geometry_msgs/PoseStamped; x, y in px, z 0, the end link\'s yaw about z; the point: '
        "its x, y, yaw 0), a Cartesian policy's state (the policy node's state_pose_topics); "
        'empty: not published')
    pose_target_topic: str = param(
        '', "Cartesian targets in (geometry_msgs/PoseStamped in frame_id, a Cartesian "
        "controller's target: the end effector's x, y; z and orientation are not controlled, "
        "the twin is planar), each turned into joint targets (the arm: its IK) due at its "
        'stamp (0, or in realtime a stamp already past: on receipt, as a Cartesian controller '
        'takes the latest target) and held; refused and counted, the robot holding from when '
        'it is due (a lockstep step does not wait): another frame_id, out of reach, stamped '
        'before the episode start; empty: not subscribed')
    clock_topic: str = param('/clock', 'sim time in lockstep mode (rosgraph_msgs/Clock)')
    reset_service: str = param('reset', "std_srvs/Trigger: start the next seed's episode")

    def validate(self) -> None:
        """The checks that involve more than one field, or more than a type and a range."""
        if self.mode not in MODES:
            raise ValueError(f"parameter mode must be one of {MODES}, got '{self.mode}'")
        if self.robot not in ROBOTS:
            raise ValueError(f"parameter robot must be one of {ROBOTS}, got '{self.robot}'")
        if not abs(self.control_period_s - PUSHT_CONTROL_PERIOD_S) <= 1e-9:  # nan too
            raise ValueError(f'parameter control_period_s must be {PUSHT_CONTROL_PERIOD_S} (the '
                             'Push-T physics integrates 0.1 s per step), got '
                             f'{self.control_period_s}')
        # the period is PUSHT_CONTROL_PERIOD_S within 1e-9 (above), and the default camera
        # rate is filled from this rate: 1 / control_period_s would refuse that default
        rate = PUSHT_CONTROL_RATE_HZ
        if 0.0 < self.camera_rate_hz < MIN_CAMERA_RATE_HZ:  # its period, in ns, overflowed
            raise ValueError(f'parameter camera_rate_hz must be at least {MIN_CAMERA_RATE_HZ:g} '
                             f'Hz (a frame every {1 / MIN_CAMERA_RATE_HZ:g} s), got '
                             f'{self.camera_rate_hz}')
        if self.robot == 'arm':
            per_step = self.camera_rate_hz / rate
            if self.camera_rate_hz <= 0 or round(per_step) < 1 or \
                    abs(per_step - round(per_step)) > 1e-9:
                raise ValueError('parameter camera_rate_hz must be a whole multiple of the '
                                 f'control rate {rate:g} Hz for the arm (every step boundary '
                                 f'has a frame), got {self.camera_rate_hz}')
        elif not 0.0 < self.camera_rate_hz <= rate + 1e-9:
            raise ValueError(f'parameter camera_rate_hz must be in (0, 1 / control_period_s = '
                             f'{rate}], got {self.camera_rate_hz}')
        elif self.mode == 'lockstep' and abs(self.camera_rate_hz - rate) > 1e-9:
            raise ValueError('parameter camera_rate_hz must equal 1 / control_period_s in '
                             f'lockstep mode (every step is observed), got {self.camera_rate_hz}')
        if self.max_steps < 1:
            raise ValueError(f'parameter max_steps must be >= 1, got {self.max_steps}')
        if self.seed_count < 0 or self.seed_start < 0 or any(s < 0 for s in self.seeds):
            raise ValueError(f'seeds must be >= 0 and seed_count >= 0, got seeds={self.seeds} '
                             f'seed_start={self.seed_start} seed_count={self.seed_count}')
        if self.action_wait_timeout_s < 0 or self.obs_republish_period_s < 0:
            raise ValueError('parameters action_wait_timeout_s and obs_republish_period_s must '
                             f'be >= 0 (0: off), got {self.action_wait_timeout_s} and '
                             f'{self.obs_republish_period_s}')
        n = len(robot_defaults(self.robot)['joint_names'])
        if len(self.joint_names) != n or len(set(self.joint_names)) != n or not all(
                self.joint_names):
            raise ValueError(f'parameter joint_names must be {n} distinct names for the '
                             f'{self.robot} robot, got {self.joint_names}')
        if len(self.workspace_low) != n or len(self.workspace_high) != n:
            raise ValueError(f'parameters workspace_low/high must have {n} values for the '
                             f'{self.robot} robot, got {self.workspace_low} / '
                             f'{self.workspace_high}')
        Workspace(tuple(self.workspace_low), tuple(self.workspace_high))
        physical = robot_defaults(self.robot)  # the table (point), the joint limits (arm)
        beyond = [self.joint_names[i] for i in range(n)
                  if self.workspace_low[i] < physical['workspace_low'][i] - 1e-9
                  or self.workspace_high[i] > physical['workspace_high'][i] + 1e-9]
        if beyond:
            raise ValueError(
                f'parameters workspace_low/high {self.workspace_low} / {self.workspace_high} '
                f'reach beyond the {self.robot} robot\'s range '
                f"{[round(v, 6) for v in physical['workspace_low']]} / "
                f"{[round(v, 6) for v in physical['workspace_high']]} for {beyond}: targets "
                'there would be clamped by the robot, not rejected; keep the workspace within '
                'it (empty: the whole range)')
        if self.image_size < 8 or self.video_size < 8:
            raise ValueError(f'image_size and video_size must be >= 8, got {self.image_size} '
                             f'and {self.video_size}')
        if self.video_path:
            try:
                check_video_pattern(self.video_path)
            except ValueError as exc:
                raise ValueError(f'parameter video_path {exc}') from None
        parse_initial_state(self.initial_state, self.table)

    @property
    def workspace(self) -> Workspace:
        return Workspace(tuple(self.workspace_low), tuple(self.workspace_high))

    @property
    def table(self) -> Workspace:
        """Where initial_state may put the agent and the block (px): the point's workspace,
        the table for the arm (whose workspace is its joint limits)."""
        return self.workspace if self.robot == 'point' else Workspace()

    @property
    def dt_ns(self) -> int:
        """The step period in ns, rounded so that 0.1 s is exactly 100_000_000."""
        return int(round(self.control_period_s * 1e9))

    def seed_for_episode(self, episode: int) -> int | None:
        """The seed of episode `episode` (0-based), None once the seeds are used up."""
        if self.seeds:
            return self.seeds[episode] if episode < len(self.seeds) else None
        if self.seed_count and episode >= self.seed_count:
            return None
        seed = self.seed_start + episode
        return seed if seed <= MAX_SEED else None  # the last seed numpy takes ends the run

    def episode_count(self) -> int | None:
        return len(self.seeds) if self.seeds else (self.seed_count or None)


def robot_defaults(robot: str) -> dict[str, Any]:
    """What an empty joint_names / workspace_low / workspace_high / 0 camera_rate_hz means."""
    if robot == 'arm':
        from sim_bridge.arm_kinematics import (
            JOINT_NAMES,
            POSITION_LOWER,
            POSITION_UPPER,
        )

        return {'joint_names': list(JOINT_NAMES), 'workspace_low': list(POSITION_LOWER),
                'workspace_high': [float(v) for v in POSITION_UPPER], 'camera_rate_hz': 30.0}
    return {'joint_names': ['agent_x', 'agent_y'], 'workspace_low': [0.0, 0.0],
            'workspace_high': [512.0, 512.0],
            'camera_rate_hz': PUSHT_CONTROL_RATE_HZ}


def finish_config(config: SimNodeConfig, deprecated: dict[str, Any],
                  warn: Callable[[str], None]) -> SimNodeConfig:
    """Apply the deprecated names that were given (None: not given) and the robot's defaults
    for the fields left empty, then validate."""
    rate = deprecated.get('control_rate_hz')
    if rate is not None:
        rate = coerce('control_rate_hz', 'float', rate)
        warn('parameter control_rate_hz is deprecated: use control_period_s '
             '(= 1 / control_rate_hz, in seconds) instead')
        if not abs(rate * PUSHT_CONTROL_PERIOD_S - 1.0) <= 1e-9:  # NaN compares false
            raise ValueError(f'parameter control_rate_hz (deprecated: use control_period_s) must '
                             f'be {PUSHT_CONTROL_RATE_HZ} (the Push-T physics integrates '
                             f'{PUSHT_CONTROL_PERIOD_S} s per step), got {rate}')
        if abs(config.control_period_s - PUSHT_CONTROL_PERIOD_S) > 1e-12:
            raise ValueError(f'parameters control_rate_hz {rate} (deprecated) and '
                             f'control_period_s {config.control_period_s} disagree: give '
                             f'control_period_s only')
        config = dataclasses.replace(config, control_period_s=1.0 / rate)
    defaults = robot_defaults(config.robot if config.robot in ROBOTS else 'point')
    filled = {name: value for name, value in defaults.items() if not getattr(config, name)}
    config = dataclasses.replace(config, **filled)
    config.validate()
    return config


def config_from_values(values: dict[str, Any], warn: Callable[[str], None]) -> SimNodeConfig:
    """The validated config of raw parameter values, e.g. a parameter file's section."""
    values = dict(values)
    deprecated = {name: values.pop(name) for name in DEPRECATED_PARAMETERS if name in values}
    return finish_config(config_from_dict(SimNodeConfig, values), deprecated, warn)
