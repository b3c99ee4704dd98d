"""The policy node's parameters and their check against the checkpoint, without ROS.

PolicyNodeConfig is the one list of parameters (dp_ros/params.py: the ROS declarations, the
type and range checks and the README table come from it); resolve_setup checks the values
against each other and the checkpoint and gives what the planning loop runs with.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import check_writable_file
from dp_ros.dimension_names import (
    JOINT_STATE_FIELDS,
    compare_names,
    joint_value_name,
    lerobot_names,
    named_field,
)
from dp_ros.errors import UserError
from dp_ros.params import check_range, default_of, param, param_fields, parse_topic_map, shown
from dp_ros.pose_fields import POSE_FIELDS, pose_target_problem
from dp_ros.recorded_sources import (
    FRAME_ID,
    OFFSET_S,
    command_topic_values,
    command_topics,
    compare_sources,
    describe_yaw_wraps,
    is_reference,
    on_sim_time,
    rate_hz,
    tolerance_ns,
    value_fields,
    value_prefixes,
    value_topics,
    wraps_differ,
    yaw_wraps,
)
from dp_ros.runtime.execution import EXECUTION_MODES
from dp_ros.runtime.safety import MAX_STOP_S, JointLimits, combine_limits, urdf_limits
from dp_ros.runtime.state_range import StateRange, state_range, unit_warning
from dp_ros.runtime.twist_servo import TwistLimits
from dp_ros.stamps import seconds_to_ns

MAX_SEED = 2 ** 40  # sample_seed and env seeds are at most this (the generator seed fits int64)
SAMPLERS = ('', 'ddim', 'ddpm')


@dataclass
class PolicyNodeConfig:
    """The node's parameters; defaults drive the Push-T sim in realtime mode."""

    checkpoint: str = param('', 'policy directory (policy.json + model.safetensors) or '
                            'hf://org/name[@rev] (Hugging Face Hub, cached); required')
    device: str = param('auto', "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'")
    dtype: str = param('float32', "'float32', 'bfloat16' (CPU or CUDA) or 'float16' (CUDA "
                       'only)')
    sampler: str = param('', "'ddim' or 'ddpm'; empty: the checkpoint's")
    num_inference_steps: int = param(0, "denoising steps; 0: the checkpoint's (a count whose "
                                     "first step, with the paper's leading spacing, lies far "
                                     'below a smaller count\'s, e.g. 51 of 100 starting at '
                                     'step 50 where 50 start at 98, is warned of)',
                                     range=(0, 1000))
    cpu_threads: int = param(0, 'torch CPU threads; 0: torch default', range=(0, 256))
    torchscript: bool = param(True, 'on the CPU, sample with a TorchScript-frozen UNet (about '
                              "1.3x faster at batch 1: the README's inference table); false: "
                              'eager PyTorch. On CUDA each chunk is one CUDA graph replay '
                              'either way')
    torch_compile: bool = param(False, "on CUDA, the UNet compiled by torch.compile inside the "
                                "chunk's CUDA graph (on an H100 the paper-size policy's DDIM-10 "
                                'chunk: 17 ms without, 12.8 ms fp32, 6.5 ms bfloat16: the '
                                "README's GPU table); warm-up takes about 10 s longer and needs "
                                'Triton and a C compiler; if the compiled UNet fails, one '
                                'warning and graphs of the plain one. No effect on the CPU')
    warmup: bool = param(True, 'run the model once at start (CUDA kernels, caches) before '
                         'taking inputs')
    image_topics: list[str] = param(['/pusht/image_raw'], 'camera topics, one per image key of '
                                    'the checkpoint, in its order; a checkpoint without a '
                                    'camera takes the default as none')
    compressed_images: bool = param(False, 'read every camera as sensor_msgs/CompressedImage '
                                    '(jpeg/png; a driver or relay that publishes it under a '
                                    "plain name); false: an image_topics entry ending in "
                                    "'/compressed' (image_transport's) is read compressed, "
                                    'the others raw')
    joint_state_topic: str = param('/pusht/joint_states', 'sensor_msgs/JointState topic of the '
                                   'low-dim observation')
    state_joint_names: list[str] = param(['agent_x', 'agent_y'], 'joints whose values, in this '
                                         'order, form the low-dim observation')
    state_joint_topics: list[str] = param(
        [], 'per state joint, in state_joint_names order, the sensor_msgs/JointState topic it '
        "is read from (an arm's driver and a gripper's): each topic is an input stream of its "
        'own, sampled at the observation times as the cameras are, its values put in their '
        'places; empty: all from joint_state_topic')
    state_pose_topics: list[str] = param(
        [], 'of the state topics (joint_state_topic, state_joint_topics), those that publish '
        "geometry_msgs/PoseStamped (an end effector's pose: a bag2zarr pose source); their "
        'names in state_joint_names are pose fields among x, y, z, qx, qy, qz, qw, yaw and the '
        'rotation matrix entries r00..r22 (r<row><column>); empty: none')
    state_yaw_min: float = param(-math.pi, 'a pose\'s yaw (about z) is wrapped into '
                                 '[state_yaw_min, state_yaw_min + 2 pi), as the bag2zarr pose '
                                 "source's yaw_min", range=(-10.0, 10.0), unit='rad')
    state_obs_key: str = param('', 'checkpoint key of the low-dim observation, checked against '
                               "the checkpoint's only one; empty: every low-dim observation, "
                               'state_joint_names naming their values in the checkpoint\'s '
                               'key order (e.g. an end effector\'s pose, then its gripper)')
    state_field: str = param('position', 'JointState field of the observation: position, '
                             'velocity or effort')
    state_fields: list[str] = param(
        [], 'per state joint, in state_joint_names order, the JointState field it is read '
        "from (a joint's position and velocity: name it twice, once per field; a pose "
        "topic's values: position); empty: state_field for all")
    state_joint_drivers: list[str] = param(
        [], 'per state joint, in state_joint_names order, a name for the driver whose '
        "messages give it (e.g. arm, gripper): an arm's and its gripper's driver on one "
        'joint-state topic, each message with its own joints, are read as input streams of '
        'their own, each sampled at the observation times; empty: as the training data read '
        'them (bag2zarr sources of one topic), else one driver per topic')
    action_topic: str = param('/pusht/joint_trajectory', 'trajectory_msgs/JointTrajectory '
                              'topic the chunks go to')
    action_joint_names: list[str] = param(['agent_x', 'agent_y'], 'joint names of the action '
                                          'dimensions, in order')
    action_joint_topics: list[str] = param(
        [], 'per action joint, in action_joint_names order, the JointTrajectory topic it goes '
        "to (an arm's and a gripper's joint_trajectory_controller): each topic gets one "
        'trajectory of its joints, with the same stamp and points as the others; empty: all '
        'on action_topic')
    action_stream_topics: list[str] = param(
        [], 'of the command topics (action_topic, action_joint_topics), those that take '
        'std_msgs/Float64MultiArray, one position per joint applied at once (a ros2_control '
        'forward_command_controller, e.g. a gripper\'s): each point is sent as it falls due '
        '(checked every 5 ms), the stop once (with stop_deceleration its points as they '
        'fall due); a dry run publishes trajectories only; empty: '
        'none')
    action_pose_topics: list[str] = param(
        [], 'of the command topics (action_topic, action_joint_topics), those that take '
        "geometry_msgs/PoseStamped, a Cartesian controller's target (cartesian_controllers' "
        "target_frame, MoveIt Servo's pose commands): their action_joint_names are pose fields, "
        'x, y, z and one orientation: qx, qy, qz, qw (normalized); yaw (about z of frame_id, '
        'roll and pitch 0); or a rotation 6D, the matrix\'s first two columns r00, r10, r20, '
        'r01, r11, r21 or rows r00, r01, r02, r10, r11, r12 (made orthonormal); each point is '
        'sent as it falls due (checked every 5 ms), the stop once; empty: none')
    action_twist_topics: list[str] = param(
        [], 'of the command topics (action_topic, action_joint_topics), those that take '
        "geometry_msgs/TwistStamped, a velocity-driven servo's input (MoveIt Servo's "
        'delta_twist_cmds): their action_joint_names are a whole pose as for '
        'action_pose_topics, and every 5 ms the node sends the twist from the measured pose '
        '(a state pose topic must give the same fields) toward the plan\'s pose then, with '
        'the plan\'s velocity (twist_gain, twist_max_linear, twist_max_angular); the stop '
        'sends a zero twist; empty: none')
    twist_gain: float = param(5.0, 'action_twist_topics: the share of the pose error removed '
                              'per second', range=(0.0, 1000.0), unit='1/s')
    twist_max_linear: float = param(0.25, 'action_twist_topics: the largest linear speed sent',
                                    range=(0.0, 100.0), unit='m/s')
    twist_max_angular: float = param(1.0, 'action_twist_topics: the largest angular speed '
                                     'sent', range=(0.0, 100.0), unit='rad/s')
    topic_name_prefixes: list[str] = param(
        [], "'topic=prefix', one per state or command topic whose messages name their joints "
        '(JointState, JointTrajectory; a PoseStamped or TwistStamped its pose fields) without '
        "the prefix the training data gives them (two arms whose drivers name their joints "
        "alike, two end effectors; bag2zarr's source prefix): with '/left/joint_states=left_' "
        "the message's 'waist' is state joint 'left_waist', with "
        "'/left/arm_controller/joint_trajectory=left_' action joint 'left_waist' is commanded "
        "as 'waist'; the joint parameters name the joints as the training data does; empty: "
        'none')
    frame_id: str = param('', 'header.frame_id of the published trajectories, poses and '
                          'twists (a pose or twist needs one)')
    topic_frame_ids: list[str] = param(
        [], "'topic=frame', per command topic whose messages take another header.frame_id "
        "than frame_id (two Cartesian controllers, each taking targets in its own arm's base "
        "frame: '/right/target_frame=right_base_link'); empty: frame_id for all")
    n_action_steps: int = param(0, "actions of each chunk to execute; 0: the checkpoint's",
                                range=(0, 1024))
    control_period_s: float = param(0.0, 'time between actions and between observation steps; '
                                    "0: the checkpoint's", range=(0.0, 10.0), unit='s')
    max_input_age_s: float = param(0.5, 'inputs older than this (ROS time) stop planning',
                                   range=(0.001, 3600.0), unit='s')
    history_s: float = param(3.0, 'time of messages kept per input stream',
                             range=(0.01, 3600.0), unit='s')
    action_lower: list[float] = param([], 'lower bound per action dimension (actions are '
                                      'clamped); empty: none')
    action_upper: list[float] = param([], 'upper bound per action dimension (actions are '
                                      'clamped); empty: none')
    sample_seed: int = param(0, 'sampling seed; episode generator seed = sample_seed * 1000003 '
                             '+ env seed', range=(0, MAX_SEED))
    env_seed: int = param(0, 'env seed of the episode when no episode_start_topic announces it',
                          range=(0, MAX_SEED))
    episode_start_topic: str = param('', 'std_msgs/String JSON {"episode","seed","start_ns"} '
                                     'published at each episode start (the sim: '
                                     '/pusht/episode_start) by a reliable, transient-local '
                                     '(latched) publisher, so a node started late still '
                                     'hears it: DDS refuses a volatile one (ros2 topic pub: '
                                     '--qos-durability transient_local); empty: none')
    start_enabled: bool = param(True, 'publish actions from the start (the managed node: from '
                                'each activation); false: wait for ~/enable')
    dry_run: bool = param(False, 'publish every chunk and stop on ~/dry_run/joint_trajectory '
                          '(all action joints) instead of action_topic or action_joint_topics: '
                          'the policy runs on the live cameras and joints and nothing reaches '
                          "the controllers (to compare it with the operator's commands and "
                          'watch its plans and latency before it moves the robot)')
    lockstep: bool = param(False, 'the sim waits for the action of its current observation '
                           '(use with use_sim_time): plan on it once the plan has run out, '
                           'and again when its chunk was not published (discarded; failed, '
                           'non-finite or no measured position: up to 3 times)')
    replan_threshold: int = param(2, 'realtime: plan the next chunk once at most this many '
                                  'future actions are left (lockstep always waits for the plan '
                                  'to run out)', range=(0, 1024))
    action_lead_s: float = param(0.0, 'realtime: points due sooner than this are dropped as '
                                 'past (actuation delay), and a chunk\'s first point gets the '
                                 'share of the step limit left after it; lockstep ignores it, '
                                 'as it does replan_threshold', range=(0.0, 10.0), unit='s')
    diagnostics_period_s: float = param(1.0, 'period of /diagnostics, on the wall clock',
                                        range=(0.05, 60.0), unit='s')
    stamp_tolerance_s: float = param(
        1.0, 'messages stamped further than this from the node clock, ahead or behind, are '
        'rejected as bad input (a sensor on another clock, a broken driver); in realtime, '
        'ahead by more than max_input_age_s too (it would stay fresh that much longer and '
        'delay the stale stop), whatever this is; 0: no limit of its own (stamps behind the '
        'clock, and in lockstep ahead of it, are not checked)',
        range=(0.0, 86400.0), unit='s')
    execution_mode: str = param(
        'replace', "how a new chunk takes over: 'replace' (from its first point on, as the "
        "paper), 'temporal_ensemble' (ACT: weighted mean of every chunk's prediction for a "
        "step) or 'blend' (into the old plan over blend_steps)")
    ensemble_decay: float = param(0.01, "temporal_ensemble: the k-th oldest chunk predicting a "
                                  "step weighs exp(-decay * k) (ACT's m); 0: plain mean",
                                  range=(0.0, 100.0))
    blend_steps: int = param(3, 'blend: points over which the new chunk takes over from the '
                             'old plan', range=(1, 1024))
    urdf_path: str = param('', "URDF whose <limit> elements bound the action joints (position "
                           "and velocity; the tighter of these and the parameters); empty: "
                           'none')
    max_step_delta: list[float] = param([], 'largest change of each action dimension from one '
                                        'point to the next, across chunk boundaries too; '
                                        'empty: none')
    max_velocity: list[float] = param([], 'largest speed of each action dimension (a step '
                                      'limit of max_velocity * control_period_s); empty: '
                                      "none, or the URDF's", unit='unit/s')
    stop_deceleration: list[float] = param(
        [0.0], 'how a stop (disable, stale inputs, shutdown) brings a moving arm to rest, per '
        'action dimension or one value for all, in action units/s^2: > 0: a trajectory that '
        "continues the controller's commanded motion, decelerating uniformly (each dimension "
        'at most this) to rest, a point every control period within the action bounds (or '
        'between them and a start outside them: the ramp-in walking back in), to '
        'JointTrajectory topics at once, to forward controllers (action_stream_topics) point '
        'by point as they fall due (the hold point after a shutdown, deactivation or a '
        'stopped /clock), pose targets the hold point, twists a zero twist; a '
        'stop on stale inputs lasts at most what the running plan still commanded '
        '(decelerating harder than this when that is shorter), any stop at most 60 s (harder '
        "when this would take longer: warned at start where a joint's top speed, its step "
        'limit a period, needs longer), one on a clock gone back or '
        'reading 0, or at an episode start, is the one point; 0: one point due '
        'one period ahead at the measured position (an arm at speed stops within that '
        'period, a controller spline may overshoot); lockstep always the one point',
        unit='unit/s^2')
    ramp_in_s: float = param(0.0, 'after enabling (and after a stop), move from the measured '
                             "position into the policy's plan over this time; 0: no ramp",
                             range=(0.0, 60.0), unit='s')
    debug_topics: bool = param(False, 'publish ~/planned_chunk (each sampled chunk, raw, as a '
                               'JointTrajectory) and ~/planned_path (with debug_path_joints)')
    debug_path_joints: list[str] = param([], "action joints that are the end effector's x, y "
                                         '(and z) in frame_id, drawn as the nav_msgs/Path '
                                         '~/planned_path (Push-T: agent_x, agent_y); empty: '
                                         'no path')
    debug_path_scale: float = param(1.0, 'metres per action unit on ~/planned_path (Push-T '
                                    'pixels: 0.001 draws the 512 px workspace as 0.5 m)',
                                    range=(1e-9, 1e9))
    debug_extra_latency_s: float = param(0.0, 'TEST ONLY: sleep this long after each sampling, '
                                         'to emulate a slow policy', range=(0.0, 60.0), unit='s')
    observation_log_path: str = param('', 'DEBUG: append one JSON line per plan to this file: '
                                      't_obs, and per stream the stamps and values (images: '
                                      'SHA-1) of the samples the observation was assembled '
                                      'from (runtime/observation_log.py); past 100 MB it '
                                      'is renamed PATH.1 and begun anew; checked writable at '
                                      'start, off after a failed write (said once); empty: '
                                      'off')


# what to do when two arms' drivers name their joints alike
TWO_ARMS = ("two arms whose drivers name their joints alike are told apart by a prefix per "
            "topic: name the joints as the training data does (bag2zarr's source prefix, "
            "e.g. 'left_waist') and give topic_name_prefixes (e.g. "
            "['/left/joint_states=left_', '/left/arm_controller/joint_trajectory=left_'])")

# where a dry run's commands go (the node's private namespace: no controller listens there)
DRY_RUN_TOPIC = '~/dry_run/joint_trajectory'


class PrefixedNames:
    """A topic's values named as the training data names them (`joint_names`) and as its
    messages do: without the topic's `prefix` (topic_name_prefixes). Computed once: the
    node publishes and steers by them on every tick."""

    joint_names: tuple[str, ...]
    prefix: str

    @functools.cached_property
    def message_names(self) -> list[str]:
        """The joint names (a pose's fields) as the topic's driver or controller gives
        them."""
        return [n.removeprefix(self.prefix) for n in self.joint_names]


@dataclass(frozen=True)
class CommandGroup(PrefixedNames):
    """One command topic and the action dimensions it carries, in action order."""

    topic: str
    columns: tuple[int, ...]
    joint_names: tuple[str, ...]  # a pose's: its fields
    stream: bool = False  # one message per point as it falls due, not a trajectory
    pose: bool = False  # streamed as geometry_msgs/PoseStamped, else Float64MultiArray
    twist: bool = False  # geometry_msgs/TwistStamped toward the plan every tick
    prefix: str = ''  # taken off joint_names (a pose's fields) in the messages
    frame_id: str = ''  # header.frame_id of its messages (frame_id, or topic_frame_ids)


def joint_command_topics(cfg: PolicyNodeConfig) -> list[str]:
    """The command topic of each action joint: action_joint_topics, else action_topic."""
    return cfg.action_joint_topics or [cfg.action_topic] * len(cfg.action_joint_names)


def command_groups(cfg: PolicyNodeConfig) -> list[CommandGroup]:
    """Where each action joint is commanded: one group per topic of action_joint_topics, in
    the order the topics first appear (an arm's controller, then its gripper's), else one on
    action_topic; in a dry run one trajectory of every joint on the node's own topic (as an
    operator compares it with the recorded commands), and nothing streamed."""
    names = cfg.action_joint_names
    if cfg.dry_run:  # the training data's names: one trajectory, each joint named once
        return [CommandGroup(DRY_RUN_TOPIC, tuple(range(len(names))), tuple(names),
                             frame_id=cfg.frame_id)]
    topics, prefixes, frames = joint_command_topics(cfg), topic_prefixes(cfg), topic_frames(cfg)
    groups = []
    for topic in dict.fromkeys(topics):
        columns = tuple(i for i, t in enumerate(topics) if t == topic)
        pose = topic in cfg.action_pose_topics
        groups.append(CommandGroup(topic, columns, tuple(names[i] for i in columns),
                                   pose or topic in cfg.action_stream_topics, pose,
                                   topic in cfg.action_twist_topics, prefixes.get(topic, ''),
                                   frames.get(topic, cfg.frame_id)))
    return groups


def topic_frames(cfg: PolicyNodeConfig) -> dict[str, str]:
    """topic_frame_ids as {topic: frame}; ValueError for a malformed entry or a topic given
    twice."""
    return parse_topic_map(cfg.topic_frame_ids, 'parameter topic_frame_ids', 'frame',
                           '/right/target_frame=right_base_link')


@dataclass(frozen=True)
class StateSource(PrefixedNames):
    """One state topic (JointState, or an end effector's PoseStamped) and the low-dim
    observation values it gives, in state order."""

    topic: str
    stream_name: str  # its input stream: the state's label itself when it is the only source
    columns: tuple[int, ...]  # its values' places in the observation
    joint_names: tuple[str, ...]  # a pose's: its fields
    pose: bool = False  # geometry_msgs/PoseStamped, not sensor_msgs/JointState
    frame_id: str = ''  # a pose's frame in the training data ('': not recorded, not checked)
    fields: tuple[str, ...] = ()  # a joint state's: the JointState field of each value
    prefix: str = ''  # put before its messages' names or fields (topic_name_prefixes)
    # one of several drivers' streams on its topic (an arm's and its gripper's,
    # split_shared_topics): it takes the messages that give its joints (message_streams)
    shared: bool = False


def joint_state_topics(cfg: PolicyNodeConfig) -> list[str]:
    """The joint-state topic of each state joint: state_joint_topics, else joint_state_topic."""
    return cfg.state_joint_topics or [cfg.joint_state_topic] * len(cfg.state_joint_names)


def state_value_fields(cfg: PolicyNodeConfig) -> list[str]:
    """The JointState field of each state joint: state_fields, else state_field; a pose
    topic's values have none and count as position (named as they are: pose fields)."""
    if cfg.state_fields:
        return list(cfg.state_fields)
    return ['position' if t in cfg.state_pose_topics else cfg.state_field
            for t in joint_state_topics(cfg)]


def state_sources(cfg: PolicyNodeConfig, label: str) -> list[StateSource]:
    """Where each state joint is read: one source per topic, in the order the topics first
    appear in state_joint_topics (an arm's driver, then its gripper's); a single source is the
    stream `label` (state_label: the state's key or keys), several are `label:topic`."""
    topics, fields = joint_state_topics(cfg), state_value_fields(cfg)
    prefixes = topic_prefixes(cfg)
    unique = list(dict.fromkeys(topics))
    sources = []
    for topic in unique:
        columns = tuple(i for i, t in enumerate(topics) if t == topic)
        pose = topic in cfg.state_pose_topics
        sources.append(StateSource(topic, label if len(unique) == 1 else f'{label}:{topic}',
                                   columns, tuple(cfg.state_joint_names[i] for i in columns),
                                   pose, fields=() if pose else tuple(fields[i] for i in columns),
                                   prefix=prefixes.get(topic, '')))
    return sources


def split_shared_topics(sources: list[StateSource], recorded: list[dict] | None,
                        label: str, drivers: Sequence[str] = ()) -> list[StateSource]:
    """Each joint-state source split by driver: an arm's driver and its gripper's on
    /joint_states, each message with its own joints, are each a stream of its own, sampled
    at the observation times apart, '<label>:<topic> [<joints>]' taking the messages that
    give its joints. `drivers` (state_joint_drivers: a name per state value) says which
    values come together; empty: as the training data read them (`recorded`, the state's
    recorded sources in column order; None: not recorded, nothing split)."""
    spans = recorded_spans(recorded)
    out = []
    for src in sources:
        groups = _named_groups(src, drivers) if drivers else _recorded_groups(src, spans)
        if src.pose or len(groups) < 2:
            out.append(src)
            continue
        for cols in groups:
            at = [src.columns.index(c) for c in cols]
            names = tuple(src.joint_names[i] for i in at)
            out.append(dataclasses.replace(
                src, stream_name=f"{label}:{src.topic} [{', '.join(dict.fromkeys(names))}]",
                columns=tuple(src.columns[i] for i in at), joint_names=names,
                fields=tuple(src.fields[i] for i in at), shared=True))
    return out


def _named_groups(src: StateSource, drivers: Sequence[str]) -> list[list[int]]:
    """A source's columns per driver name (state_joint_drivers), in order of appearance."""
    groups: dict[str, list[int]] = {}
    for c in src.columns:
        groups.setdefault(drivers[c], []).append(c)
    return list(groups.values())


def _recorded_groups(src: StateSource, spans: list[tuple[dict, range]]) -> list[list[int]]:
    """A source's columns per driver as the training data read them: bag2zarr joint-state
    sources of one topic reading different joints (matched by columns, so a renamed topic
    splits alike); [] when its recorded sources do not cover it exactly."""
    mine = [(e, cols) for e, cols in spans if set(cols) <= set(src.columns)]
    groups: dict[frozenset[str], list[int]] = {}
    for _, cols in mine:
        joints = frozenset(src.joint_names[src.columns.index(c)] for c in cols)
        groups.setdefault(joints, []).extend(cols)
    covered = sorted(c for cols in groups.values() for c in cols)
    if (covered != sorted(src.columns) or any(e['kind'] != 'joint_state' for e, _ in mine)
            or len({e['topic'] for e, _ in mine}) != 1):
        return []
    return [sorted(cols) for cols in groups.values()]


def recorded_streams(recorded: list[dict] | None, names: Sequence[str]) -> set[frozenset[int]]:
    """The state columns the training data sampled as one stream each (bag2zarr: a topic, or
    a topic's joint set where its sources read several); `names`: the state values' names.
    Empty when not recorded."""
    groups: dict[tuple[str, frozenset[str]], set[int]] = {}
    by_topic: dict[str, set[frozenset[str]]] = {}
    for entry, cols in recorded_spans(recorded):
        joints = frozenset(names[c] for c in cols) if entry['kind'] == 'joint_state' \
            else frozenset()
        by_topic.setdefault(entry['topic'], set()).add(joints)
        groups.setdefault((entry['topic'], joints), set()).update(cols)
    return {frozenset(c for (t, j), cols in groups.items() if t == topic
                      and (len(by_topic[topic]) == 1 or j == joints) for c in cols)
            for topic, joints in groups}


def message_streams(sources: Sequence[StateSource], names: Sequence[str]) -> list[StateSource]:
    """The streams of one topic a JointState naming `names` goes to: those whose joints it
    gives (one driver's; a merged message's, all); none of them: the topic's first, which
    reads it as another driver's (its action joints' measured positions) or refuses it.
    A topic read whole has one stream: it gets every message."""
    if len(sources) == 1:
        return list(sources)
    given = set(names)
    return [s for s in sources if not given.isdisjoint(s.message_names)] or [sources[0]]


def drivers_warning(cfg: PolicyNodeConfig, streams: Sequence[StateSource],
                    recorded: set[frozenset[int]]) -> list[str]:
    """A warning when state_joint_drivers reads the state joints in other groups than the
    training data sampled them (a stream's sample at an observation time is its newest
    message: read together, one driver's values wait for the other's)."""
    mine = {frozenset(s.columns) for s in streams}
    if not cfg.state_joint_drivers or not recorded or mine == recorded:
        return []

    def named(groups: set[frozenset[int]]) -> str:
        return ' + '.join(sorted(str([cfg.state_joint_names[c] for c in sorted(g)])
                                 for g in groups))
    return [f'parameter state_joint_drivers reads the state as {named(mine)}, the training '
            f'data sampled it as {named(recorded)}: each group is a stream of its own']


def recorded_spans(recorded: list[dict] | None) -> list[tuple[dict, range]]:
    """The state's recorded sources, each with the state columns it filled ([] when not
    recorded, or a width is missing)."""
    spans, start = [], 0
    for entry in recorded or ():
        width = entry.get('width')
        if not isinstance(width, int):
            return []
        spans.append((entry, range(start, start + width)))
        start += width
    return spans


def own_recorded(recorded: list[dict], stream: StateSource) -> list[dict]:
    """The recorded sources of a stream: of one split by driver (split_shared_topics), those
    of its own columns (its driver's rate and tolerance, not its topic's other driver's);
    of another, or one whose columns the data read with others, all of the state's (looked
    up by topic)."""
    own = [e for e, cols in recorded_spans(recorded) if set(cols) <= set(stream.columns)]
    return own if stream.shared and own else recorded


def topic_prefixes(cfg: PolicyNodeConfig) -> dict[str, str]:
    """topic_name_prefixes as {topic: prefix}; ValueError for a malformed entry or a topic
    given twice."""
    return parse_topic_map(cfg.topic_name_prefixes, 'parameter topic_name_prefixes', 'prefix',
                           '/left/joint_states=left_')


def check_topic_prefixes(cfg: PolicyNodeConfig) -> None:
    """Each prefixed topic is a state topic or a command topic whose messages name their
    values (not a Float64MultiArray stream), and its names (the training data's) begin with
    the prefix and go on. ValueError."""
    prefixes = topic_prefixes(cfg)
    named = [*state_sources(cfg, ''), *(g for g in command_groups(
        dataclasses.replace(cfg, dry_run=False)) if g.pose or g.twist or not g.stream)]
    unknown = sorted(set(prefixes) - {g.topic for g in named})
    if unknown:
        raise ValueError(f'parameter topic_name_prefixes names {shown(unknown)}: not a state topic '
                         'or a command topic of the node whose messages name their values '
                         '(JointState, PoseStamped, JointTrajectory, TwistStamped)')
    for group in named:
        short = [n for n in group.joint_names
                 if not n.startswith(group.prefix) or n == group.prefix]
        if group.prefix and short:
            what = 'state' if isinstance(group, StateSource) else 'action'
            raise ValueError(f'parameter {what}_joint_names: {short} of {group.topic} do not '
                             f"begin with its prefix {group.prefix!r} (topic_name_prefixes): "
                             'name the joints as the training data does, the prefix then the '
                             "message's name")


def join_state(values: dict[str, list[Any]], state_keys: Sequence[str],
               state_sizes: Sequence[int], sources: list[StateSource]) -> dict[str, list[Any]]:
    """An observation's per-stream samples -> per checkpoint key: the state sources' values
    put in their places, time by time, and the state cut into the checkpoint's low-dim keys
    (one source of one key: the samples as they are)."""
    if len(sources) == 1 and [sources[0].stream_name] == list(state_keys):
        return values
    joined = {k: v for k, v in values.items() if k not in {s.stream_name for s in sources}}
    n_values = sum(len(s.columns) for s in sources)
    steps = []
    for j in range(len(values[sources[0].stream_name])):
        state = np.empty(n_values, dtype=np.float32)
        for source in sources:
            state[list(source.columns)] = values[source.stream_name][j]
        steps.append(state)
    ends = np.cumsum(state_sizes).tolist()
    for key, start, end in zip(state_keys, [0, *ends[:-1]], ends, strict=True):
        joined[key] = [step[start:end] for step in steps]
    return joined


def state_label(state_keys: Sequence[str]) -> str:
    """The state's name as an input stream: its key, or its keys joined by '+'."""
    return '+'.join(state_keys)


def joined_per_key(per_key: Sequence[list | None]) -> list | None:
    """Per-key lists (names, recorded sources) of the state's keys, concatenated in order;
    None when any key's is not recorded."""
    if not per_key or any(v is None for v in per_key):
        return None
    return [x for v in per_key for x in v]


@dataclass
class ResolvedSetup:
    """The config checked against the checkpoint: what the node actually runs with."""

    rgb_keys: list[str]
    state_keys: list[str]  # the checkpoint's low-dim keys the state fills, in order
    state_sizes: list[int]  # the values of each
    image_shapes: dict[str, tuple[int, int]]  # key -> (H, W)
    image_crops: dict[str, tuple[int, int, int, int] | None]  # key -> camera box cut first
    # key -> the camera's (H, W) as recorded (None: unknown): image_fit.frame_size_problem
    image_frame_sizes: dict[str, tuple[int, int] | None]
    n_obs_steps: int
    n_action_steps: int
    dt_ns: int
    max_age_ns: int
    # stream -> how much older than an observation time its sample may be: the tolerance its
    # training data was sampled with (bag2zarr), else max_age_ns
    gap_ns: dict[str, int]
    # stream -> its topic's message rate (Hz) in the training data, where bag2zarr recorded it
    recorded_rates_hz: dict[str, float | None]
    keep_ns: int  # history kept per stream
    limits: JointLimits  # bounds and per-step limits of the actions (runtime/safety.py)
    ramp_in_ns: int
    # the limit of |stamp - clock|; 0: none of its own (in realtime max_age_ns still limits
    # stamps ahead: planning_loop.check_stamp)
    stamp_tolerance_ns: int
    path_joints: list[int]  # action dimensions drawn as ~/planned_path (x, y[, z])
    # the pose target whose position they are, when it has an orientation: its action
    # dimensions and fields, so that the path's poses turn as the targets do
    path_pose: tuple[tuple[int, ...], tuple[str, ...]] | None
    twist_limits: TwistLimits  # how a twist-driven servo is steered toward the plan
    commands: list[CommandGroup]  # the trajectory topics and the action dimensions of each
    state_sources: list[StateSource]  # the joint-state topics and the state values of each
    # the stream the observation is anchored on, as the training grid was (recorded_reference;
    # None: the newest time every stream has): ObservationHistory(reference=)
    reference_stream: str | None = None
    # what the node logs at start as a warning: joint parameters other than the trained names
    warnings: list[str] = field(default_factory=list)
    # the state's training range (policy.json's normalizer stats), for the far-state hint
    state_range: StateRange | None = None
    # per action dimension, the stop's deceleration (units/s^2); None: the one-point stop
    stop_deceleration: np.ndarray | None = None
    # what the node logs at start as a warning about its own safety settings, apart from the
    # data's `warnings`: action joints no step limit bounds on a robot (unlimited_step_warning)
    safety_warnings: list[str] = field(default_factory=list)

    @property
    def start_warnings(self) -> list[str]:
        """Every warning the node logs at start."""
        return self.warnings + self.safety_warnings

    @property
    def lower(self) -> np.ndarray | None:
        return self.limits.lower

    @property
    def upper(self) -> np.ndarray | None:
        return self.limits.upper

    @property
    def streams(self) -> list[str]:
        """The input streams of the observation history: cameras, then the joint states."""
        return [*self.rgb_keys, *(s.stream_name for s in self.state_sources)]

    def model_values(self, values: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """An assembled observation's samples per stream -> per checkpoint key."""
        return join_state(values, self.state_keys, self.state_sizes, self.state_sources)


def controller_topics(cfg: PolicyNodeConfig) -> str:
    """The controllers' topics, those a dry run keeps silent."""
    return ', '.join(dict.fromkeys(joint_command_topics(cfg)))


def describe_group(group: CommandGroup | StateSource) -> str:
    """A topic and its values for the start-up line (a joint state's velocity or effort
    named as bag2zarr names it: 'joint.velocity')."""
    command = isinstance(group, CommandGroup)
    kind = (' (pose)' if group.pose else ' (twist)' if command and group.twist else
            ' (streamed)' if command and group.stream else '')
    names = list(group.joint_names) if command or not group.fields else \
        [joint_value_name(n, f) for n, f in zip(group.joint_names, group.fields, strict=True)]
    prefix = f' (messages without {group.prefix!r})' if group.prefix else ''
    return f"{group.topic} {names}{kind}{prefix}"


def describe_setup(cfg: PolicyNodeConfig, setup: ResolvedSetup, device_name: str,
                   warmup_s: float | None) -> str:
    """The node's start-up log line: what it runs, where it reads and writes, how it plans."""
    timing = ('lockstep' if cfg.lockstep
              else f'realtime (replan at <= {cfg.replan_threshold} left)')
    return (f'policy {cfg.checkpoint} on {device_name} ({cfg.dtype}); cameras '
            f'{dict(zip(setup.rgb_keys, cfg.image_topics, strict=True))}, state '
            f"{' + '.join(repr(k) for k in setup.state_keys)} <- "
            f"{' + '.join(describe_group(s) for s in setup.state_sources)}"
            f", actions -> {', '.join(describe_group(g) for g in setup.commands)}"
            + (f' (DRY RUN: nothing to {controller_topics(cfg)})' if cfg.dry_run else '')
            + f'; n_obs_steps={setup.n_obs_steps}, '
            f'n_action_steps={setup.n_action_steps}, dt={setup.dt_ns / 1e9} s, {timing}, '
            f'execution {cfg.execution_mode}'
            + (f', observation anchored on {setup.reference_stream} (the training grid\'s '
               'reference)' if setup.reference_stream else '')
            + (f', warm-up {warmup_s * 1e3:.0f} ms' if warmup_s is not None else ''))


def recorded_topics(config: Any, state_keys: Sequence[str]) -> dict[str, Any]:
    """The node's topic parameters as the training data was recorded (None: not recorded,
    for every camera, or not something the node subscribes or publishes to as such)."""
    cams = [config.recorded_sources(k) for k in config.rgb_keys]
    state = joined_per_key([config.recorded_sources(k) for k in state_keys])
    readable = bool(state) and all(s['kind'] in ('joint_state', 'pose') for s in state)
    yaw_mins = yaw_wraps(state)
    action = config.recorded_sources('action')
    fields = recorded_fields(value_fields(state) if readable else None,
                             joined_per_key([config.dimension_names(k) for k in state_keys]),
                             lerobot_names(state))
    commands = command_topics(action, [s['topic'] for s in state or ()])
    return {
        'image_topics': [c[0]['topic'] for c in cams] if cams and all(cams) else None,
        'state_joint_topics': value_topics(state) if readable else None,
        'state_pose_topics': sorted({s['topic'] for s in state if s['kind'] == 'pose'})
        if readable else None,
        'state_yaw_min': yaw_mins[0][1] if yaw_mins and not wraps_differ(yaw_mins) else None,
        # (topic, yaw_min) of each recorded pose source: the node takes one for all
        'state_yaw_mins': yaw_mins,
        # the JointState field of each state value (None: a pose's, or not recorded)
        'state_fields': fields,
        'state_pose_frames': _pose_frames(state),
        'action_pose_frames': _pose_frames(action),
        'action_joint_topics': None if commands is None else commands[0],
        'action_stream_topics': None if commands is None else sorted(commands[1]),
        'action_pose_topics': None if commands is None else sorted(commands[2]),
        # each action value's recorded command topic, None for a future state's (a mixed
        # action: the arm's commands, the gripper's future joint state)
        'action_command_topics': command_topic_values(action, [s['topic'] for s in state or ()]),
        # the Float64MultiArray command topics among the action's sources, mixed or not
        'action_command_streams': sorted({s['topic'] for s in action or ()
                                          if s['kind'] == 'float_array'}),
        # the prefix each value's topic put before its message names ('': none); an action
        # that is a future state: the state topics', which its controllers' names lack too
        'state_name_prefixes': value_prefixes(state) if readable else None,
        'action_name_prefixes': value_prefixes(action) if action else None,
        # the bags' stamps were a sim's time (SIM_TIME): the node runs with use_sim_time
        'use_sim_time': True if on_sim_time(
            [*(state or ()), *(action or ()), *(s for c in cams for s in c or ())]) else None}


def recorded_fields(by_source: list[str | None] | None, names: list[str] | None,
                    lerobot: bool) -> list[str | None] | None:
    """The JointState field of each state value: its recorded source's, else the one its
    name says ('j1.velocity': named_field; LeRobot's 'j1.vel' where `lerobot`, names from
    LeRobot data); None when neither records any."""
    by_name = [named_field(n, lerobot) for n in names] if names else None
    if not by_name or not any(by_name):
        return by_source
    if by_source is None:
        return by_name
    return [f or g for f, g in zip(by_source, by_name, strict=True)]


def check_observation_offsets(config: Any) -> None:
    """An observation bag2zarr sampled at grid time + offset (its sources' offset_s) is
    refused: the node samples every input at the observation time, so it would feed values
    other than those the policy learned from (a state 50 ms older), without any error."""
    for key in config.obs_keys:
        for source in config.recorded_sources(key) or ():
            offset = source.get(OFFSET_S)
            if offset:
                raise ValueError(f"the checkpoint's obs {key!r} was trained on {source['topic']} "
                                 f'sampled at each observation time {offset:+g} s (recorded '
                                 f'offset_s {offset!r}, bag2zarr\'s offset); the node samples '
                                 'every input at the observation time and cannot serve it: '
                                 'convert the bags again without an offset on observation keys')


def recorded_gaps(config: Any, rgb_keys: Sequence[str], state_keys: Sequence[str],
                  state_streams: Sequence[StateSource], max_age_ns: int) -> dict[str, int]:
    """Per input stream, the gap tolerance its training data was sampled with (a sample
    older than that at a grid time was a gap there, never data), no more than max_age_ns;
    max_age_ns where none was recorded. A state topic the data does not name (renamed)
    takes the largest of the state's. A state with a key not recorded has none recorded (which
    source was whose is unknown)."""
    gaps = {k: tolerance_ns(config.recorded_sources(k)) for k in rgb_keys}
    state = joined_per_key([config.recorded_sources(k) for k in state_keys]) or []
    gaps.update({s.stream_name: tolerance_ns(own_recorded(state, s), s.topic)
                 for s in state_streams})
    return {name: max_age_ns if gap is None else min(gap, max_age_ns)
            for name, gap in gaps.items()}


def recorded_reference(config: Any, rgb_keys: Sequence[str], state_keys: Sequence[str],
                       state_streams: Sequence[StateSource], lockstep: bool) -> str | None:
    """The input stream the training grid sat on (sources `reference: true`): a camera key,
    or a state stream read from the recorded topic; None where none was recorded, it is no
    input here (an action's topic, a renamed state topic), several streams are (one topic's
    drivers), or in lockstep (every stream stamped at the sim's step: the newest time every
    stream has is the step, as before)."""
    if lockstep:
        return None
    found = [k for k in rgb_keys if is_reference(config.recorded_sources(k))]
    state = joined_per_key([config.recorded_sources(k) for k in state_keys]) or []
    found += [s.stream_name for s in state_streams
              if is_reference(own_recorded(state, s), s.topic)]
    return found[0] if len(found) == 1 else None


def recorded_rates(config: Any, rgb_keys: Sequence[str], state_keys: Sequence[str],
                   state_streams: Sequence[StateSource]) -> dict[str, float | None]:
    """Per input stream, the message rate its training data was recorded at (None: not
    recorded). A state topic the data does not name (renamed) takes the recorded state
    topic's rate when there was one; a state with a key not recorded has none."""
    rates = {k: rate_hz(config.recorded_sources(k)) for k in rgb_keys}
    state = joined_per_key([config.recorded_sources(k) for k in state_keys]) or []
    topics = {s['topic'] for s in state}
    for stream in state_streams:
        renamed = stream.topic not in topics
        rates[stream.stream_name] = rate_hz(own_recorded(state, stream),
                                            None if renamed else stream.topic)
    return rates


def _pose_frames(sources: list[dict] | None) -> list[str]:
    """The frame of each pose topic of recorded `sources`, in order ('': not recorded)."""
    return list({s['topic']: s.get(FRAME_ID, '') for s in sources or ()
                 if s['kind'] == 'pose'}.values())


def check_state_topics(cfg: PolicyNodeConfig, state_dim: int) -> list[str]:
    """state_joint_topics, state_pose_topics and the fields against the state joints; the
    name of each state value (check_state_fields). ValueError."""
    if cfg.state_joint_topics and (len(cfg.state_joint_topics) != state_dim
                                   or not all(cfg.state_joint_topics)):
        raise ValueError(f'parameter state_joint_topics {shown(cfg.state_joint_topics)} must '
                         f'name one topic per state joint {shown(cfg.state_joint_names)} (or be '
                         'empty: all from joint_state_topic)')
    unknown = set(cfg.state_pose_topics) - set(joint_state_topics(cfg))
    if unknown:
        raise ValueError(f'parameter state_pose_topics names {shown(sorted(unknown))}, not a state '
                         'topic (joint_state_topic, or one of state_joint_topics)')
    names = check_state_fields(cfg)
    for source in state_sources(cfg, ''):
        bad = [n for n, f in zip(source.joint_names, source.message_names, strict=True)
               if f not in POSE_FIELDS]
        if source.pose and bad:
            after = f" after its prefix {source.prefix!r}" if source.prefix else ''
            raise ValueError(f'parameter state_joint_names: {shown(bad)} of pose topic '
                             f'{source.topic} (state_pose_topics) must be pose fields{after} among '
                             f'{list(POSE_FIELDS)}')
    return names


def check_state_drivers(cfg: PolicyNodeConfig) -> None:
    """state_joint_drivers against the state joints: a name per joint; one message gives a
    pose topic's values, and a joint's fields (its position and velocity), together.
    ValueError."""
    drivers = cfg.state_joint_drivers
    if not drivers:
        return
    if len(drivers) != len(cfg.state_joint_names) or not all(drivers):
        raise ValueError(f'parameter state_joint_drivers {shown(drivers)} must name a driver '
                         f'per state joint {shown(cfg.state_joint_names)} (or be empty: as the '
                         'training data read them)')
    for source in state_sources(cfg, ''):
        named: dict[str, set[str]] = {}
        for name, c in zip(source.message_names, source.columns, strict=True):
            named.setdefault(name, set()).add(drivers[c])
        if source.pose and len({drivers[c] for c in source.columns}) > 1:
            raise ValueError(f'parameter state_joint_drivers: the pose topic {source.topic} '
                             '(state_pose_topics) gives its values in one message: name one '
                             'driver for them')
        torn = sorted(n for n, d in named.items() if len(d) > 1)
        if torn:
            raise ValueError(f'parameter state_joint_drivers: {torn} of {source.topic} are '
                             "given two drivers: one message gives a joint's fields")


def check_state_fields(cfg: PolicyNodeConfig) -> list[str]:
    """state_field and state_fields against the state joints; the name of each state value
    (a joint's velocity: 'joint.velocity', as bag2zarr names it). ValueError: a field that is
    not one, a pose topic's value given a field, or one joint's field twice."""
    if cfg.state_field not in JOINT_STATE_FIELDS:
        raise ValueError(f"parameter state_field must be position, velocity or effort, got "
                         f"'{cfg.state_field}'")
    if cfg.state_fields and len(cfg.state_fields) != len(cfg.state_joint_names):
        raise ValueError(f'parameter state_fields {shown(cfg.state_fields)} must give one field '
                         f'per state joint {shown(cfg.state_joint_names)} (or be empty: '
                         'state_field for all)')
    bad = sorted(set(cfg.state_fields) - set(JOINT_STATE_FIELDS))
    if bad:
        raise ValueError(f'parameter state_fields: {shown(bad)} are not JointState fields '
                         f'{list(JOINT_STATE_FIELDS)}')
    topics, fields = joint_state_topics(cfg), state_value_fields(cfg)
    posed = [n for n, t, f in zip(cfg.state_joint_names, topics, fields, strict=True)
             if t in cfg.state_pose_topics and f != 'position']
    if posed:
        raise ValueError(f'parameter state_fields: {posed} come from a pose topic '
                         '(state_pose_topics), whose values have no JointState field: give '
                         'them position')
    names = [joint_value_name(n, f) for n, f in zip(cfg.state_joint_names, fields, strict=True)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        on_two = sorted({n for n in repeated
                         if len({t for t, m in zip(topics, names, strict=True) if m == n}) > 1})
        raise ValueError(f'parameter state_joint_names {shown(cfg.state_joint_names)} (fields '
                         f'{fields}) reads {repeated} twice: a joint may appear once per '
                         'field (state_fields)'
                         + (f'; {on_two} come from two topics: {TWO_ARMS}' if on_two else ''))
    return names


def check_recorded_fields(cfg: PolicyNodeConfig, recorded: list[str | None] | None) -> None:
    """Each joint-state value must be read from the field the training data recorded it
    from: a velocity fed where the policy learned positions runs without any error, wrongly."""
    if not recorded:
        return
    topics, fields = joint_state_topics(cfg), state_value_fields(cfg)
    wrong = [f'{name} ({was}, read as {field})' for name, topic, field, was in zip(
        cfg.state_joint_names, topics, fields, recorded, strict=True)
        if was is not None and topic not in cfg.state_pose_topics and field != was]
    if wrong:
        want = [w or f for w, f in zip(recorded, fields, strict=True)]
        raise ValueError(f'parameter state_fields / state_field: the training data recorded '
                         f'state values from other JointState fields: {", ".join(wrong)}; '
                         f'give state_fields: {want}')


def check_command_topics(cfg: PolicyNodeConfig, action_dim: int) -> None:
    """action_joint_topics, action_stream_topics, action_pose_topics and action_twist_topics
    against the action joints, each other and the state's poses; ValueError."""
    if cfg.action_joint_topics and (len(cfg.action_joint_topics) != action_dim
                                    or not all(cfg.action_joint_topics)):
        raise ValueError(f'parameter action_joint_topics {shown(cfg.action_joint_topics)} must '
                         f'name one topic per action joint {shown(cfg.action_joint_names)} (or be '
                         'empty: all on action_topic)')
    kinds = {'action_stream_topics': 'Float64MultiArray', 'action_pose_topics': 'PoseStamped',
             'action_twist_topics': 'TwistStamped'}
    for name in kinds:
        unknown = set(getattr(cfg, name)) - set(joint_command_topics(cfg))
        if unknown:
            raise ValueError(f'parameter {name} names {shown(sorted(unknown))}, not a command '
                             'topic (action_topic, or one of action_joint_topics)')
    for a, b in itertools.combinations(kinds, 2):
        both = set(getattr(cfg, a)) & set(getattr(cfg, b))
        if both:
            raise ValueError(f'parameters {a} and {b} both name {shown(sorted(both))}: a topic '
                             f'takes {kinds[a]} or {kinds[b]}')
    groups = command_groups(dataclasses.replace(cfg, dry_run=False))  # what a run commands
    for group in groups:
        problem = pose_target_problem(group.message_names) if group.pose or group.twist \
            else None
        if problem:
            kind = 'pose' if group.pose else 'twist'
            raise ValueError(f'parameter action_joint_names: the {kind} topic {group.topic} '
                             f'(action_{kind}_topics) gets {problem}')
    unknown = sorted(set(topic_frames(cfg)) - set(joint_command_topics(cfg)))
    if unknown:
        raise ValueError(f'parameter topic_frame_ids names {shown(unknown)}, not a command topic '
                         '(action_topic, or one of action_joint_topics)')
    frameless = [g.topic for g in groups if (g.pose or g.twist) and not g.frame_id]
    if frameless:
        raise ValueError(f'parameter frame_id is empty: the pose targets (action_pose_topics) '
                         f'or twists (action_twist_topics) of {frameless} need the frame they '
                         'are in (frame_id, or topic_frame_ids per topic)')
    measured = {n for s in state_sources(cfg, '') if s.pose for n in s.joint_names}
    for group in groups:
        missing = [n for n in group.joint_names if group.twist and n not in measured]
        if missing:
            raise ValueError(f'parameter action_twist_topics: {group.topic} steers from the '
                             f'measured pose, and no state pose topic (state_pose_topics) gives '
                             f'{missing}')


def topic_roles(cfg: PolicyNodeConfig) -> dict[str, list[str]]:
    """The node's topics by what it does with them, each under the parameter that names it:
    the cameras, the state, the episode start (read) and the commands (published)."""
    return {'image_topics': list(cfg.image_topics),
            'state_joint_topics' if cfg.state_joint_topics else 'joint_state_topic':
                joint_state_topics(cfg),
            'episode_start_topic': [cfg.episode_start_topic] if cfg.episode_start_topic else [],
            'action_joint_topics' if cfg.action_joint_topics else 'action_topic':
                joint_command_topics(cfg)}


def check_topic_roles(cfg: PolicyNodeConfig) -> None:
    """A topic given two roles (a command topic that is also the state's or a camera's, a
    camera topic that is the state's) is refused naming both parameters: the node would read
    its own commands as measurements (a PoseStamped target on the state's pose topic: the
    policy fed what it asked for), or subscribe with two message types (no message, or a DDS
    type clash). Compared as given (a relative name resolves in the node's namespace)."""
    roles = topic_roles(cfg)
    for (a, topics_a), (b, topics_b) in itertools.combinations(roles.items(), 2):
        in_b = set(topics_b)
        both = [t for t in dict.fromkeys(topics_a) if t in in_b]
        if both:
            why = ('the node would read its own commands as what it observes (if meant, on a '
                   'robot without feedback, relay them onto another topic)'
                   if b.startswith('action') else 'a topic carries one kind of message')
            raise ValueError(f'parameters {a} and {b} both name {shown(both)}: {why}')


def camera_compressed(cfg: PolicyNodeConfig, topic: str) -> bool:
    """Whether the node reads a camera topic as sensor_msgs/CompressedImage: every one under
    compressed_images, else image_transport's '<base>/compressed' topics, each camera its own
    way (a wrist camera recorded compressed beside a raw scene camera)."""
    return cfg.compressed_images or topic.endswith('/compressed')


def check_image_transport(cfg: PolicyNodeConfig) -> list[str]:
    """image_topics against compressed_images: a plain topic read as CompressedImage (every
    camera under compressed_images) receives nothing if it publishes sensor_msgs/Image, without
    an error: a warning (a driver or a relay may publish CompressedImage under another name)."""
    plain = [t for t in cfg.image_topics if not t.endswith('/compressed')]
    if plain and cfg.compressed_images:
        return [f'parameter compressed_images is true and image_topics {plain} do not end in '
                "'/compressed' (image_transport's name for a compressed topic): the node reads "
                'them as sensor_msgs/CompressedImage and receives nothing if they publish '
                'sensor_msgs/Image']
    return []


def lockstep_clock_problem(lockstep: bool, use_sim_time: bool) -> str | None:
    """Why lockstep cannot run on this clock (None: it can): on wall time "now" is never the
    sim's observation time, and it would never plan. Checked at start and on a change of
    use_sim_time while the node runs."""
    if lockstep and not use_sim_time:
        return "parameter lockstep needs use_sim_time:=true (the sim's /clock)"
    return None


def control_period_warning(cfg: PolicyNodeConfig, trained_s: float) -> str | None:
    """A warning when control_period_s overrides the checkpoint's control period with another:
    the observations are then spaced, and the actions executed, at another rate than the
    policy learned on (a deliberate choice, so not refused; `dp-ros open-loop`, which reads
    recorded data, refuses another period). The periods are printed with every digit, so
    that two that differ past the sixth (0.0333333 for 1/30) never read alike."""
    if not cfg.control_period_s or math.isclose(cfg.control_period_s, trained_s, rel_tol=1e-9):
        return None
    return (f'parameter control_period_s {float(cfg.control_period_s)!r} s is not the control '
            f'period the policy was trained at ({float(trained_s)!r} s, its policy.json): '
            'observations are spaced and actions executed at another rate than in training '
            "(0: the checkpoint's)")


def with_recorded_frames(sources: list[StateSource], frames: list[str]) -> list[StateSource]:
    """The state's pose sources, each with the frame its recorded counterpart (in the same
    place among the pose topics) was in: the node refuses poses in another frame."""
    poses = [s for s in sources if s.pose]
    if len(poses) != len(frames):
        return sources
    recorded = dict(zip((s.topic for s in poses), frames, strict=True))
    return [dataclasses.replace(s, frame_id=recorded[s.topic]) if s.pose else s
            for s in sources]


def load_setup(cfg: PolicyNodeConfig) -> ResolvedSetup:
    """resolve_setup against the checkpoint directory `cfg.checkpoint` names."""
    from dp_ros.policy.checkpoint import read_policy_metadata
    from dp_ros.policy.hub import resolve_policy_dir

    if not cfg.checkpoint:
        raise ValueError('parameter checkpoint is empty: give the policy directory')
    given = cfg.checkpoint
    try:  # each refusal names the parameter (a parameter review: not all of them did)
        cfg.checkpoint = str(resolve_policy_dir(given))  # hf://org/name[@rev]: cached copy
        if not Path(cfg.checkpoint).is_dir():
            raise ValueError(f"'{given}' is not a directory")
        metadata = read_policy_metadata(cfg.checkpoint)
    except OSError as exc:  # a name longer than the file system allows: ENAMETOOLONG
        raise ValueError(f"parameter checkpoint: '{given}': {exc.strerror or exc}") from None
    except UserError as exc:  # its own type (HubError, CheckpointError), the name in front
        exc.args = (f'parameter checkpoint: {exc}',)
        raise exc from None
    except ValueError as exc:
        raise ValueError(f'parameter checkpoint: {exc}') from None
    return resolve_setup(cfg, metadata)


def check_device(cfg: PolicyNodeConfig) -> None:
    """The device and dtype parameters (last of the checks: they import torch, seconds, and
    every other fault is found without it)."""
    from dp_ros.runtime.inference_runner import resolve_device, resolve_dtype

    try:
        device = resolve_device(cfg.device)
        resolve_dtype(cfg.dtype, device)  # float16 on a CPU: refused at start, not at load
    except ValueError as exc:
        raise ValueError(f'parameter {exc}') from None


_DEFAULT_IMAGE_TOPICS = next(default_of(f) for f in param_fields(PolicyNodeConfig)
                             if f.name == 'image_topics')


MIN_CONTROL_PERIOD_S = 1e-6  # as bag2zarr's control_period_s: a step must take some time


def unlimited_step_warning(cfg: PolicyNodeConfig, limits: JointLimits) -> str:
    """A start-up warning for a node that commands a robot (realtime, not a dry run) with
    action joints no step limit bounds: nothing then bounds a joint's move per period, the
    first point of a motion included (the ramp-in eases the start only), and a drafted
    parameter file leaves max_step_delta to be filled in. Not for the Push-T point robot's
    joints (the parameter's default names: the sim)."""
    if cfg.lockstep or cfg.dry_run or list(cfg.action_joint_names) == default_of(
            PolicyNodeConfig.__dataclass_fields__['action_joint_names']):
        return ''
    step = limits.max_step
    free = [n for j, n in enumerate(cfg.action_joint_names)
            if step is None or not np.isfinite(step[j])]
    if not free:
        return ''
    return (f"no step limit on {', '.join(free)}: nothing bounds how far "
            f"{'it moves' if len(free) == 1 else 'they move'} in a control period, a motion's "
            'first point included (ramp_in_s eases the start only); on a robot give '
            'max_step_delta, max_velocity or urdf_path (README: Safety envelope)')


# a step limit that needs longer than this to cross a joint's training range (its actions'
# min..max) barely moves it: more likely a unit slip (degrees/s on radians) than meant
SLOW_CROSSING_S = 120.0


def slow_step_warning(limits: JointLimits, action: StateRange | None, dt_s: float) -> str:
    """A start-up warning for action joints whose step limit (max_step_delta, max_velocity *
    control period or the URDF's) is so small that crossing the range of the training's
    actions would take longer than SLOW_CROSSING_S: a limit > 0 is taken as given, so a
    1e-4 meant as 1e-1 left the arm all but still without a word. action: the training
    actions' range (state_range of the normalizer's 'action'); None: nothing to judge by."""
    step = limits.max_step
    if step is None or action is None or len(action.names) != len(step):
        return ''
    with np.errstate(divide='ignore'):
        crossing = (action.high - action.low) / step * dt_s
    slow = [f'{name} ({step[j]:.3g} a period: {crossing[j]:.0f} s to cross '
            f'{action.low[j]:.4g}..{action.high[j]:.4g})'
            for j, name in enumerate(action.names)
            if action.checked[j] and np.isfinite(step[j]) and crossing[j] > SLOW_CROSSING_S]
    if not slow:
        return ''
    return (f"step limit too small to follow the training's actions on {', '.join(slow)}: "
            f'longer than {SLOW_CROSSING_S:.0f} s to cross the range the demonstrations used; '
            'the arm would barely move. Another unit (degrees for radians)? Check '
            'max_step_delta, max_velocity and the URDF (README: Safety envelope)')


def still_twist_warning(cfg: PolicyNodeConfig) -> str:
    """A start-up warning for a twist-driven servo that a limit of 0 keeps from moving (all of
    its position or all of its rotation), or that a gain of 0 leaves uncorrected (only the
    plan's own velocity is sent, so the end effector drifts): a step limit of 0 is refused
    as a frozen joint; these may be meant (a fixed orientation), so they are said."""
    if not cfg.action_twist_topics or cfg.dry_run:
        return ''
    said = [f'{name} 0 ({what})' for name, value, what in (
        ('twist_max_linear', cfg.twist_max_linear, 'no linear speed is sent: the position '
         'stays'),
        ('twist_max_angular', cfg.twist_max_angular, 'no angular speed is sent: the '
         'orientation stays'),
        ('twist_gain', cfg.twist_gain, "only the plan's velocity is sent: an error is never "
         'corrected')) if value == 0]
    if not said:
        return ''
    return f"action_twist_topics with {'; '.join(said)}"


def long_stop_warning(cfg: PolicyNodeConfig, limits: JointLimits,
                      deceleration: np.ndarray | None, dt_ns: int) -> str:
    """A start-up warning where stop_deceleration would slow a joint from its top speed (its
    step limit a period) for longer than a stop may last (MAX_STOP_S): such a stop is cut
    short there, decelerating harder than the parameter says; a value that small is more
    likely a unit slip (deg/s^2 for rad/s^2, a factor lost) than meant."""
    speed = limits.max_speed(dt_ns)
    if deceleration is None or speed is None or cfg.lockstep:
        return ''
    with np.errstate(over='ignore'):
        seconds = speed / deceleration
    slow = [f'{n} ({seconds[j]:.3g} s from {speed[j]:g}/s at {deceleration[j]:g}/s^2)'
            for j, n in enumerate(cfg.action_joint_names)
            if np.isfinite(speed[j]) and seconds[j] > MAX_STOP_S]
    if not slow:
        return ''
    return (f"stop_deceleration would take longer than a stop may last ({MAX_STOP_S:g} s) to "
            f"bring {', '.join(slow)} to rest from the top speed its step limit allows: such a "
            'stop decelerates harder, to be at rest by then; check the units (action units/s^2)')


def check_realtime_slice(cfg: PolicyNodeConfig, n_action: int, dt_ns: int) -> None:
    """In realtime a chunk's point i is due i*dt after its observation, which is past once the
    chunk exists: where the executed slice's last point is due no later than action_lead_s
    after it, every chunk would be dropped as all late for ever (however fast the sampling),
    so the setup is refused. Lockstep keeps point 0 (the sim waits): any slice runs."""
    if cfg.lockstep:
        return
    span_ns = (n_action - 1) * dt_ns
    if seconds_to_ns(cfg.action_lead_s) >= span_ns:
        raise ValueError(
            f'parameters n_action_steps ({n_action}) and action_lead_s ({cfg.action_lead_s:g} '
            f's): in realtime the last executed point of a chunk is due (n_action_steps - 1) * '
            f'dt = {span_ns / 1e9:g} s after its observation, past before now + action_lead_s '
            'once the chunk is sampled, so no point would ever be published; give more '
            'n_action_steps or a shorter action_lead_s (lockstep runs any)')


def resolve_setup(cfg: PolicyNodeConfig, metadata: dict) -> ResolvedSetup:
    """Validate the parameters against each other and the checkpoint; ValueError names the fault."""
    from dp_ros.policy.config import PolicyConfig

    for f in param_fields(PolicyNodeConfig):  # a config built without config_from_dict too
        check_range(f.name, getattr(cfg, f.name), f.metadata['range'])
    if not cfg.checkpoint:
        raise ValueError('parameter checkpoint is empty: give the policy directory')
    if cfg.sampler not in SAMPLERS:
        raise ValueError(f"parameter sampler must be 'ddim', 'ddpm' or empty, got "
                         f"'{cfg.sampler}'")
    if not cfg.joint_state_topic or not cfg.action_topic:
        raise ValueError('parameters joint_state_topic and action_topic must not be empty')
    if cfg.observation_log_path:  # at start, not as a crash at the first plan
        try:
            check_writable_file(cfg.observation_log_path, 'parameter observation_log_path')
        except UserError as exc:
            raise ValueError(str(exc)) from None

    config = PolicyConfig.from_dict(metadata['config'])
    if cfg.num_inference_steps:  # 0: the checkpoint's; more than it trained: refused at start
        config.check_inference_steps(cfg.num_inference_steps, 'parameter num_inference_steps')
    late = config.late_start_warning(cfg.num_inference_steps, 'parameter num_inference_steps')
    rgb_keys, low_dim = config.rgb_keys, config.low_dim_keys
    if not rgb_keys and cfg.image_topics == _DEFAULT_IMAGE_TOPICS:
        # a camera-less policy with image_topics left out (`image_topics: []` is the empty
        # list: parameters.given_value): the Push-T camera default stands for "no camera"
        cfg.image_topics = []
    if len(cfg.image_topics) != len(rgb_keys) or not all(cfg.image_topics):
        raise ValueError(f'parameter image_topics has {len(cfg.image_topics)} topic(s) '
                         f'{shown(cfg.image_topics)}, the checkpoint has {len(rgb_keys)} camera(s) '
                         f'{rgb_keys}: give one topic per camera, in that order')
    if len(set(cfg.image_topics)) != len(cfg.image_topics):
        raise ValueError(f'parameter image_topics repeats a topic: {shown(cfg.image_topics)}')
    image_warnings = check_image_transport(cfg)
    if not low_dim:
        raise ValueError('the checkpoint has no low-dim observation for the joint states to '
                         'feed (an image-only policy)')
    if cfg.state_obs_key and [cfg.state_obs_key] != low_dim:
        raise ValueError(f"parameter state_obs_key '{cfg.state_obs_key}': the checkpoint's "
                         f'low-dim observations are {low_dim}; leave it empty to feed them '
                         'all, their values named in order by state_joint_names')
    state_sizes = [config.obs_shape(k)[0] for k in low_dim]
    state_dim = sum(state_sizes)
    if len(cfg.state_joint_names) != state_dim or not all(cfg.state_joint_names):
        layout = ' then '.join(f"'{k}' {n}" for k, n in zip(low_dim, state_sizes, strict=True))
        raise ValueError(f'parameter state_joint_names {shown(cfg.state_joint_names)} must be '
                         f'{state_dim} names (the state: {layout} values)')
    state_names = check_state_topics(cfg, state_dim)
    check_state_drivers(cfg)
    if len(cfg.action_joint_names) != config.action_dim or \
            len(set(cfg.action_joint_names)) != config.action_dim:
        raise ValueError(f'parameter action_joint_names {shown(cfg.action_joint_names)} must be '
                         f'{config.action_dim} distinct names (the action dimension; '
                         f'{TWO_ARMS})')
    check_command_topics(cfg, config.action_dim)
    check_topic_roles(cfg)
    check_topic_prefixes(cfg)
    # the joints the checkpoint was trained with, and the topics, where its data recorded them
    warnings = image_warnings + [w for w in (
        compare_names(joined_per_key([config.dimension_names(k) for k in low_dim]),
                      state_names, 'state_joint_names'
                      + (' with their state_fields' if state_names != cfg.state_joint_names
                         else ''),
                      lerobot_names(joined_per_key([config.recorded_sources(k)
                                                    for k in low_dim]))),
        compare_names(config.dimension_names('action'), cfg.action_joint_names,
                      'action_joint_names', lerobot_names(config.recorded_sources('action'))))
        if w]
    check_observation_offsets(config)
    recorded = recorded_topics(config, low_dim)
    check_recorded_fields(cfg, recorded['state_fields'])
    wraps = recorded['state_yaw_mins']
    if wraps_differ(wraps):
        raise ValueError(f'parameter state_yaw_min {cfg.state_yaw_min:g}: the training data '
                         f'wrapped the yaw of its pose sources differently '
                         f'({describe_yaw_wraps(wraps)}); the node '
                         'wraps every pose with one state_yaw_min, so one of them would differ '
                         'by 2 pi: convert the bags again with one yaw_min for every pose '
                         'source')
    yaw_min = recorded['state_yaw_min']
    if yaw_min is not None and not math.isclose(yaw_min, cfg.state_yaw_min, abs_tol=1e-9):
        raise ValueError(f'parameter state_yaw_min {cfg.state_yaw_min:g}: the training data '
                         f'wrapped pose yaw into [{yaw_min:g}, {yaw_min:g} + 2 pi); give '
                         f'state_yaw_min: {yaw_min!r} (else the yaw differs by 2 pi)')
    run_groups = command_groups(dataclasses.replace(cfg, dry_run=False))  # a dry run's too
    targets = [g for g in run_groups if g.pose]
    if len(targets) == len(recorded['action_pose_frames']):  # each target's, in their order
        named = topic_frames(cfg)
        warnings += [f"parameter {'topic_frame_ids' if g.topic in named else 'frame_id'} "
                     f'{g.frame_id!r} is not the frame the recorded targets of {g.topic} were '
                     f'in ({frame!r})'
                     for g, frame in zip(targets, recorded['action_pose_frames'], strict=True)
                     if frame and g.frame_id != frame]
    prefixes = topic_prefixes(cfg)
    warnings += compare_sources(recorded, {
        'image_topics': cfg.image_topics, 'state_joint_topics': joint_state_topics(cfg),
        'state_pose_topics': sorted(set(cfg.state_pose_topics)),
        'action_joint_topics': joint_command_topics(cfg),
        'action_stream_topics': sorted(set(cfg.action_stream_topics)),
        'action_pose_topics': sorted(set(cfg.action_pose_topics)),
        'state_name_prefixes': [prefixes.get(t, '') for t in joint_state_topics(cfg)],
        'action_name_prefixes': [prefixes.get(t, '') for t in joint_command_topics(cfg)]})
    max_steps = config.horizon - config.n_obs_steps + 1
    n_action = cfg.n_action_steps or config.n_action_steps
    if n_action > max_steps:
        raise ValueError(f'parameter n_action_steps {n_action} is more than the chunk holds '
                         f'(horizon {config.horizon} - n_obs_steps {config.n_obs_steps} + 1 = '
                         f'{max_steps})')
    trained_period = float(metadata['control_period_s'])
    period = cfg.control_period_s or trained_period
    if not period >= MIN_CONTROL_PERIOD_S:  # rounded to ns it may be 0: no time between steps
        raise ValueError(f'parameter control_period_s {period:g} s' + (
            '' if cfg.control_period_s else " (0: the checkpoint's)")
            + f' is under {MIN_CONTROL_PERIOD_S:g} s: give the time between actions')
    warnings += [w for w in [control_period_warning(cfg, trained_period), late] if w]
    if cfg.action_lower or cfg.action_upper:
        if len(cfg.action_lower) != config.action_dim or \
                len(cfg.action_upper) != config.action_dim:
            raise ValueError(f'parameters action_lower {shown(cfg.action_lower)} and action_upper '
                             f'{shown(cfg.action_upper)} must both have {config.action_dim} values '
                             f'(got {len(cfg.action_lower)} and {len(cfg.action_upper)})')
        lower, upper = np.asarray(cfg.action_lower), np.asarray(cfg.action_upper)
        bad = np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper) & (lower <= upper)))
        if bad.size:  # each dimension at fault named: a list of 14 joints is shown cut
            raise ValueError(f'parameters action_lower / action_upper must be finite with '
                             f'lower <= upper: dimension(s) {shown(bad.tolist())} are not ('
                             f'{shown(lower[bad].tolist())} / {shown(upper[bad].tolist())})')
    if cfg.execution_mode not in EXECUTION_MODES:
        raise ValueError(f'parameter execution_mode must be one of {list(EXECUTION_MODES)}, '
                         f"got '{cfg.execution_mode}'")
    driver = {c: n for g in run_groups for c, n in zip(g.columns, g.message_names, strict=True)}
    urdf = urdf_limits(cfg.urdf_path, cfg.action_joint_names,
                       [driver[i] for i in range(config.action_dim)]) if cfg.urdf_path else None
    limits = combine_limits(config.action_dim, period, cfg.action_lower, cfg.action_upper,
                            cfg.max_step_delta, cfg.max_velocity, urdf)
    path_joints = []
    if cfg.debug_path_joints:
        unknown = [n for n in cfg.debug_path_joints if n not in cfg.action_joint_names]
        if unknown or len(cfg.debug_path_joints) not in (2, 3) or \
                len(set(cfg.debug_path_joints)) != len(cfg.debug_path_joints):
            raise ValueError(f'parameter debug_path_joints {shown(cfg.debug_path_joints)} must be '
                             f'2 or 3 distinct action joints of {shown(cfg.action_joint_names)}')
        path_joints = [cfg.action_joint_names.index(n) for n in cfg.debug_path_joints]
    path_pose = next(((g.columns, tuple(g.message_names)) for g in run_groups
                      if g.pose and path_joints and set(path_joints) <= set(g.columns)), None)
    dt_ns = seconds_to_ns(period)
    check_realtime_slice(cfg, n_action, dt_ns)
    max_age_ns = seconds_to_ns(cfg.max_input_age_s)
    keep_ns = seconds_to_ns(cfg.history_s)
    if keep_ns < (config.n_obs_steps - 1) * dt_ns + max_age_ns:
        raise ValueError(f'parameter history_s {cfg.history_s} is shorter than an observation '
                         f'spans ((n_obs_steps-1)*dt + max_input_age_s)')
    check_device(cfg)
    label = state_label(low_dim)
    state_recorded = joined_per_key([config.recorded_sources(k) for k in low_dim])
    streams = with_recorded_frames(split_shared_topics(
        state_sources(cfg, label), state_recorded, label, cfg.state_joint_drivers),
        recorded['state_pose_frames'])
    warnings += drivers_warning(cfg, streams,
                                recorded_streams(state_recorded, cfg.state_joint_names))
    trained_range = state_range(metadata.get('normalizer', {}), low_dim, state_sizes,
                                state_names)
    units = unit_warning(trained_range, joined_per_key([config.dimension_names(k)
                                                         for k in low_dim]),
                         lerobot_names(state_recorded))
    warnings += [units] if units else []
    decel = check_stop_deceleration(cfg.stop_deceleration, config.action_dim)
    action_range = state_range(metadata.get('normalizer', {}), ['action'], [config.action_dim],
                               cfg.action_joint_names)
    return ResolvedSetup(
        rgb_keys=rgb_keys, state_keys=low_dim, state_sizes=state_sizes,
        image_shapes={k: tuple(config.obs_shape(k)[1:]) for k in rgb_keys},
        image_crops={k: config.camera_crop(k) for k in rgb_keys},
        image_frame_sizes={k: config.frame_size(k) for k in rgb_keys},
        n_obs_steps=config.n_obs_steps, n_action_steps=n_action, dt_ns=dt_ns,
        max_age_ns=max_age_ns, keep_ns=keep_ns, limits=limits,
        gap_ns=recorded_gaps(config, rgb_keys, low_dim, streams, max_age_ns),
        recorded_rates_hz=recorded_rates(config, rgb_keys, low_dim, streams),
        ramp_in_ns=seconds_to_ns(cfg.ramp_in_s),
        stamp_tolerance_ns=seconds_to_ns(cfg.stamp_tolerance_s),
        path_joints=path_joints,
        path_pose=path_pose,
        twist_limits=TwistLimits(cfg.twist_gain, cfg.twist_max_linear, cfg.twist_max_angular),
        commands=command_groups(cfg),
        state_sources=streams, warnings=warnings,
        reference_stream=recorded_reference(config, rgb_keys, low_dim, streams, cfg.lockstep),
        state_range=trained_range,
        stop_deceleration=decel,
        safety_warnings=[w for w in [unlimited_step_warning(cfg, limits),
                                     slow_step_warning(limits, action_range, period),
                                     still_twist_warning(cfg),
                                     long_stop_warning(cfg, limits, decel, dt_ns)] if w])


def check_stop_deceleration(values: Sequence[float], dim: int) -> np.ndarray | None:
    """The parameter stop_deceleration per action dimension (one value: for all); None for
    0 (the one-point stop). ValueError: another count, or a value not finite and > 0 (a
    joint that may not decelerate would never stop)."""
    if not len(values) or (len(values) == 1 and values[0] == 0):
        return None
    if len(values) not in (1, dim):
        raise ValueError(f'parameter stop_deceleration has {len(values)} values, the action '
                         f'has {dim} (or give one for all)')
    out = np.broadcast_to(np.asarray(values, dtype=np.float64), (dim,)).copy()
    if not np.all(np.isfinite(out) & (out > 0)):
        raise ValueError(f'parameter stop_deceleration must be finite and > 0 for every '
                         f'dimension (or one 0: the one-point stop), got {list(values)}')
    return out
