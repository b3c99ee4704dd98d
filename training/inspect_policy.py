"""`dp-ros inspect POLICY_DIR`: what a trained policy expects on the robot, read from its
policy.json alone (no weights are loaded), and a first policy node parameter file for it.

Prints the cameras (order, size, camera crop), the state and the action (dimension, the joint
names the training data recorded, the range the training data spanned), the timeline
(observation steps, horizon, actions per plan, control period), the sampler and where the
policy came from (dataset, step, score). With --draft-params it writes a policy node YAML:
what the checkpoint knows filled in (joint names, the training range as action bounds, the
period), what only the robot knows (topics) marked FILL IN.

    dp-ros inspect runs/my_arm/checkpoints/best --draft-params config/my_arm_policy.yaml
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dp_ros.atomic_dir import write_text
from dp_ros.dimension_names import lerobot_names, plain_value_name, split_joint_value_name
from dp_ros.errors import UserError
from dp_ros.policy.checkpoint import (
    METADATA_FILE,
    metadata_config,
    read_policy_metadata,
    recorded_score,
)
from dp_ros.policy.config import PolicyConfig
from dp_ros.policy.hub import HubError, is_hub_spec, parse_hub_spec, resolve_policy_dir
from dp_ros.pose_fields import POSE_FIELDS, pose_target_problem
from dp_ros.recorded_sources import FIELD, RATE_HZ, rate_hz
from dp_ros.runtime.policy_node_config import (
    joined_per_key,
    recorded_spans,
    recorded_topics,
    state_label,
)

FILL_IN = 'FILL IN'
FILL_IN_NAMESPACE = '/' + FILL_IN.replace(' ', '_')  # placeholder topics: /FILL_IN/...


@dataclass
class Dimensions:
    """A low-dim observation or the action: its size, names and training range."""

    key: str
    size: int
    names: list[str] | None  # recorded with the training data (None: not recorded)
    low: list[float] | None  # the training data's range (the normalizer's limits)
    high: list[float] | None
    # names from LeRobot data (no sources recorded: lerobot_names), 'motor.pos' the motor's
    lerobot: bool = False


@dataclass
class PolicySummary:
    path: str
    num_parameters: int | None
    cameras: list[dict[str, Any]]  # key, shape [H, W], camera_crop, frame_size [H, W] and
    # rate_hz as recorded (None: unknown), in the node's topic order
    states: list[Dimensions]
    action: Dimensions
    n_obs_steps: int
    horizon: int
    n_action_steps: int
    control_period_s: float
    sampler: str
    num_inference_steps: int
    num_train_timesteps: int
    provenance: dict[str, Any] = field(default_factory=dict)
    # the training's episode split: val_ratio, split_seed, exclude_episodes ({}: not recorded)
    split: dict[str, Any] = field(default_factory=dict)
    # the node's topic parameters as the training data was recorded (None: not recorded):
    # image_topics, state_joint_topics, state_pose_topics, action_joint_topics,
    # action_stream_topics, action_pose_topics
    topics: dict[str, Any] = field(default_factory=dict)
    # a joint-state topic several drivers published on, each its own joints, read apart by
    # bag2zarr (and so by the node): topic -> each driver's joints and recorded rate (Hz)
    drivers: dict[str, list[tuple[list[str], float | None]]] = field(default_factory=dict)


def is_policy_dir(path: str | Path) -> bool:
    """A policy directory (policy.json), or a Hub checkpoint hf://org/name[@revision]
    (resolved by inspect_policy; hf://datasets/... and longer paths are fsspec URLs of data)."""
    if is_hub_spec(str(path)):
        try:
            parse_hub_spec(str(path))
        except HubError:
            return False
        return True
    return (Path(path) / METADATA_FILE).is_file()


def _dimensions(key: str, config: PolicyConfig, normalizer: dict) -> Dimensions:
    size = config.action_dim if key == 'action' else config.obs_shape(key)[0]
    stats = normalizer.get('fields', {}).get(key, {})
    return Dimensions(key=key, size=size, names=config.dimension_names(key),
                      low=stats.get('min'), high=stats.get('max'),
                      lerobot=lerobot_names(config.recorded_sources(key)))


def summarize_policy(directory: str | Path) -> PolicySummary:
    meta = read_policy_metadata(directory)
    config = metadata_config(meta, directory)
    provenance = meta.get('provenance', {})
    return PolicySummary(
        path=str(directory), num_parameters=meta.get('weights', {}).get('num_parameters'),
        cameras=[{'key': k, 'shape': list(config.obs_shape(k)[1:]),
                  'camera_crop': None if config.camera_crop(k) is None
                  else list(config.camera_crop(k)),
                  'frame_size': None if (size := config.frame_size(k)) is None
                  else list(size),
                  'rate_hz': rate_hz(config.recorded_sources(k))} for k in config.rgb_keys],
        states=[_dimensions(k, config, meta['normalizer']) for k in config.low_dim_keys],
        action=_dimensions('action', config, meta['normalizer']),
        n_obs_steps=config.n_obs_steps, horizon=config.horizon,
        n_action_steps=config.n_action_steps,
        control_period_s=float(meta['control_period_s']), sampler=config.sampler,
        num_inference_steps=config.num_inference_steps,
        num_train_timesteps=config.num_train_timesteps,
        provenance={k: provenance[k] for k in ('step', 'epoch', 'ema', 'dataset', 'metrics')
                    if k in provenance},
        split={**{k: v for k, v in provenance.get('train_config', {}).get('data', {}).items()
                  if k in ('val_ratio', 'split_seed', 'exclude_episodes')},
               # the episodes the run held out, as drawn (dataset_meta.split_record)
               **{k: v for k, v in (provenance.get('split') or {}).items()
                  if k in ('n_episodes', 'val_episodes')}},
        topics=recorded_topics(config, config.low_dim_keys) if config.low_dim_keys else {},
        drivers=shared_topic_drivers(config))


def shared_topic_drivers(config: PolicyConfig) -> dict[str, list[tuple[list[str], float | None]]]:
    """The state's joint-state topics that bag2zarr read as several sources of different
    joints (an arm's driver and its gripper's on one topic): topic -> each source's joints
    (value names) and recorded rate, as the node splits them (split_shared_topics)."""
    found: dict[str, dict[frozenset[str], tuple[list[str], float | None]]] = {}
    for key in config.low_dim_keys:
        names = config.dimension_names(key)
        for source, cols in recorded_spans(config.recorded_sources(key)) if names else ():
            mine = names[cols.start:cols.stop]
            if source['kind'] != 'joint_state':
                continue
            joints = frozenset(split_joint_value_name(n, source.get(FIELD, 'position'),
                                                      lerobot=False) for n in mine)
            drivers = found.setdefault(source['topic'], {})
            known = drivers.get(joints, ([], None))
            drivers[joints] = ([*known[0], *mine], source.get(RATE_HZ))
    return {t: list(d.values()) for t, d in found.items() if len(d) > 1}


def joined_state(states: list[Dimensions]) -> Dimensions:
    """The low-dim observations as the node's one state: their values in order."""
    if len(states) == 1:
        return states[0]
    return Dimensions(key=state_label([d.key for d in states]), size=sum(d.size for d in states),
                      names=joined_per_key([d.names for d in states]),
                      low=joined_per_key([d.low for d in states]),
                      high=joined_per_key([d.high for d in states]),
                      lerobot=any(d.lerobot for d in states))


def _values(values: list[float] | None) -> str:
    return 'not recorded' if values is None else '[' + ', '.join(f'{v:.4g}' for v in values) + ']'


def _dims_line(d: Dimensions) -> str:
    names = d.names if d.names else '(names not recorded)'
    return (f'{d.size} values {names}; training range {_values(d.low)} .. '
            f'{_values(d.high)}')


def format_policy(s: PolicySummary) -> str:
    params = f'{s.num_parameters:,} parameters' if s.num_parameters else 'parameters unknown'
    lines = [f'{s.path}: dp_ros policy, {params}']
    p = s.provenance
    if p:
        score = recorded_score(p)
        lines.append('  trained: ' + ', '.join(
            x for x in (f"step {p['step']}" if 'step' in p else '',
                        'EMA weights' if p.get('ema') else '',
                        f"on {p['dataset']}" if 'dataset' in p else '',
                        f'score {score:.3f} at that step' if score is not None else '') if x))
    if s.split.get('val_ratio'):
        excluded = s.split.get('exclude_episodes')
        held, n = s.split.get('val_episodes'), s.split.get('n_episodes')
        how = f"data.val_ratio {s.split['val_ratio']:g}, split seed {s.split.get('split_seed')}"
        if held is not None and n:  # as drawn: the ratio of a few episodes is not the share
            which = f' {held}' if 0 < len(held) <= 12 else ''
            lines.append(f'  held out: {len(held)} of {n} episodes{which} ({how})'
                         + (': `dp-ros open-loop` compares on them' if held else
                            ': none, so `dp-ros open-loop` compares on all'))
        else:
            lines.append(f"  held out: {100 * s.split['val_ratio']:.3g}% of the episodes "
                         f"(split seed {s.split.get('split_seed')}): `dp-ros open-loop` "
                         'compares on them')
        if excluded:
            lines[-1] += f'; excluded from training: {excluded}'
    for i, cam in enumerate(s.cameras):
        crop = f", camera crop {cam['camera_crop']}" if cam['camera_crop'] else ''
        size, rate = cam.get('frame_size'), cam.get('rate_hz')
        at = [x for x in (f'{size[1]}x{size[0]} px' if size else '',
                          f'{rate:g} Hz' if rate else '') if x]
        recorded = f", recorded at {', '.join(at)}" if at else ''
        lines.append(f"  camera {i} (image_topics[{i}]): {cam['key']} "
                     f"{cam['shape'][1]}x{cam['shape'][0]}{crop}{recorded}")
    lines += [f'  state {d.key}: {_dims_line(d)}' for d in s.states]
    lines.append(f'  action: {_dims_line(s.action)}')
    lines.append(f'  timeline: {s.n_obs_steps} observation steps, horizon {s.horizon}, '
                 f'{s.n_action_steps} actions per plan, every {s.control_period_s:g} s '
                 f'({1 / s.control_period_s:g} Hz)')
    lines.append(f'  sampler: {s.sampler}, {s.num_inference_steps} steps (of '
                 f'{s.num_train_timesteps} trained)')
    t, commands = s.topics, s.topics.get('action_joint_topics')
    states, prefixed = t.get('state_joint_topics'), recorded_prefixes(t)
    recorded = [x for x in (
        f"cameras {t['image_topics']}" if t.get('image_topics') else '',
        f'joint states {_one_or_list(states)}' if states else '',
        f"poses {t['state_pose_topics']}" if t.get('state_pose_topics') else '',
        f'commands {list(dict.fromkeys(commands))}' if commands else '',
        f"streamed {t['action_stream_topics']}" if t.get('action_stream_topics') else '',
        f"pose targets {t['action_pose_topics']}" if t.get('action_pose_topics') else '',
        f'names prefixed {prefixed}' if prefixed else '') if x]
    if recorded:
        lines.append('  recorded from: ' + '; '.join(recorded))
    for topic, drivers in s.drivers.items():
        lines.append(f'  {topic}: {len(drivers)} drivers, read apart (the node too): ' + '; '.join(
            f"{names}{f' at {rate:g} Hz' if rate else ''}" for names, rate in drivers))
    unnamed = [d.key for d in (*s.states, s.action) if not d.names]
    if unnamed:
        lines.append(f'  note: no joint names recorded for {unnamed} (data not from '
                     'bag2zarr or LeRobot names): the node cannot check its joint order')
    return '\n'.join(lines)


def _one_or_list(per_value: list[str]) -> str:
    """The distinct topics of per-value topics: one plainly, several as a list."""
    topics = list(dict.fromkeys(per_value))
    return topics[0] if len(topics) == 1 else str(topics)


# plain words ROS 2's parameter parser reads as booleans or null, not strings (a joint or pose
# field named y: `[x, y, z]` fails as "Sequence should be of same type")
NOT_STRINGS = {'y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', '~'}


def _scalar(v: Any) -> str:
    if isinstance(v, float):  # always with a point (a ROS double array refuses `12`), every
        # digit YAML needs to read back this very float (a trained period or bound, not one
        # 3e-7 off: the node compares the period exactly, a rounded bound cuts the range)
        return np.format_float_positional(v, unique=True, trim='0')
    if isinstance(v, str) and (v.lower() in NOT_STRINGS or not _plain_in_a_list(v)):
        return json.dumps(v)  # quoted: a string whatever it spells
    return str(v)


def _plain_in_a_list(v: str) -> bool:
    """Whether v reads back as itself unquoted in a flow list (not 'arm[0]', 'a, b', 'exp #3',
    '12' or '')."""
    try:
        return yaml.safe_load(f'[{v}]') == [v]
    except yaml.YAMLError:
        return False


def _flow(values: list[Any]) -> str:
    """A YAML flow list that ROS 2's parameter parser reads with the types given."""
    return '[' + ', '.join(_scalar(v) for v in values) + ']'


def _joint_names(d: Dimensions, what: str) -> str:
    if d.names:  # as the node names them: LeRobot's 'shoulder_pan.pos' is 'shoulder_pan'
        names = [plain_value_name(n, d.lerobot) for n in d.names]
        return f'{_flow(names)}   # recorded with the training data: this order'
    fill = [f'joint_{i}' for i in range(d.size)]
    return f'{_flow(fill)}   # {FILL_IN}: the {d.size} {what} joints, in training order'


def _state_joint_lines(state: Dimensions, recorded: list[str | None] | None) -> list[str]:
    """state_joint_names and the JointState field(s) they are read from, as recorded: a
    velocity value's name 'joint.velocity' is the joint read from velocity."""
    fields = [f or 'position' for f in recorded] if recorded else ['position'] * state.size
    if state.names:
        state = replace(state, names=[split_joint_value_name(n, f, state.lerobot)
                                      for n, f in zip(state.names, fields, strict=True)])
    lines = [f'    state_joint_names: {_joint_names(state, "state")}']
    if len(set(fields)) == 1:
        note = '   # recorded with the training data' if recorded and any(recorded) else ''
        return lines + [f'    state_field: {fields[0]}{note}']
    return lines + ['    state_field: position',
                    f'    state_fields: {_flow(fields)}   # recorded: one per state joint']


def recorded_prefixes(t: dict[str, Any]) -> list[str]:
    """The node's topic_name_prefixes as the training data was recorded: 'topic=prefix' for
    each state and command topic whose joint names bag2zarr prefixed."""
    pairs = [(topics, t.get(f'{what}_name_prefixes'))
             for topics, what in ((t.get('state_joint_topics'), 'state'),
                                  (t.get('action_joint_topics'), 'action'))]
    return list(dict.fromkeys(f'{topic}={prefix}' for topics, prefixes in pairs
                              if topics and prefixes
                              for topic, prefix in zip(topics, prefixes, strict=True)
                              if prefix))


def alike_prefixes(names: list[str] | None) -> list[str]:
    """The prefixes that name the very same joints twice or more ('left_' and 'right_'
    before waist, ..., gripper: two arms whose drivers likely name their joints alike, as a
    LeRobot ALOHA dataset's names say), in order of appearance; [] otherwise."""
    groups: dict[str, set[str]] = {}
    for name in names or ():
        head, sep, rest = name.partition('_')
        if not sep or not rest:
            return []
        groups.setdefault(head + sep, set()).add(rest)
    rests = list(groups.values())
    return list(groups) if len(rests) > 1 and all(r == rests[0] for r in rests) else []


def _prefix_lines(t: dict[str, Any], targets: list[str], names: list[str] | None,
                  ) -> list[str]:
    """topic_name_prefixes as recorded, and those of the drafted pose `targets`; a FILL IN
    for the command topics where the action is another future state of prefixed joints (no
    controller topic recorded); where nothing was recorded but the joint `names` look like
    two arms', a commented example."""
    prefixes = recorded_prefixes(t) + targets
    alike = alike_prefixes(names)
    if not prefixes and alike and not t.get('state_joint_topics'):
        ns = [p.rstrip('_') for p in alike]
        example = [f'/{n}/joint_states={p}' for n, p in zip(ns, alike, strict=True)] + \
            [f'/{n}/arm_controller/joint_trajectory={p}' for n, p in zip(ns, alike, strict=True)]
        return [f'    # {FILL_IN} if two arms\' drivers name these joints alike (the names '
                f'repeat after {alike}): their topics\' prefixes, e.g.',
                f'    # topic_name_prefixes: {_flow(example)}']
    if not prefixes:
        return []
    lines = [f'    topic_name_prefixes: {_flow(prefixes)}   # recorded: the messages name '
             'the joints without them']
    if not t.get('action_joint_topics') and not targets:
        lines.append(f'    # {FILL_IN}: and each command topic\'s, e.g. '
                     "'/left/arm_controller/joint_trajectory=left_'")
    return lines


def _frame_lines(frames: dict[str, str], what: str) -> list[str]:
    """The frame_id line: the recorded frame of the poses or targets ({target topic:
    frame}, '': not recorded), else a FILL IN; targets recorded in frames of their own (two
    arms' base frames) get theirs in topic_frame_ids."""
    first = next(iter(frames.values()), '')
    if not first:
        return [f'    frame_id: base_link   # {FILL_IN}: the frame of the {what}']
    lines = [f'    frame_id: {_scalar(first)}   # the recorded {what}\' frame']
    others = [f'{topic}={frame}' for topic, frame in frames.items() if frame and frame != first]
    if others:
        lines.append(f'    topic_frame_ids: {_flow(others)}   # recorded in frames of their '
                     'own')
    return lines


def _frames_by_target(targets: list[str], frames: list[str]) -> dict[str, str]:
    """The recorded frame of each target topic: the recorded pose sources' frames, one per
    target in order, or one frame for all; {} when they cannot be paired."""
    if len(frames) == len(targets):
        return dict(zip(targets, frames, strict=True))
    return dict.fromkeys(targets, frames[0]) if len(set(frames)) == 1 else {}


def _pose_action_topics(names: list[str] | None, frames: list[str],
                        prefixes: list[str] | None, recorded: list[str | None] | None = None,
                        streams: list[str] | None = None,
                        ) -> tuple[list[str], list[str]] | None:
    """For an action that is a whole pose (a future end-effector pose: no controller topic
    recorded), possibly beside a gripper, or one per prefix (two end effectors): FILL IN
    lines for a Cartesian controller's target each (or a velocity servo), not a joint
    trajectory controller's; and the 'topic=prefix' entries of those placeholder topics.
    recorded: each value's recorded command topic (None: none): a gripper's recorded command
    (a Float64MultiArray among `streams`) is kept in place of its placeholder. None for
    other actions."""
    if not names:
        return None
    prefixes = prefixes or [''] * len(names)
    fields = [n.removeprefix(p) for n, p in zip(names, prefixes, strict=True)]
    arms = list(dict.fromkeys(prefixes))
    for arm in arms:
        pose = [f for f, p in zip(fields, prefixes, strict=True) if p == arm and f in POSE_FIELDS]
        if not pose or pose_target_problem(pose) is not None:
            return None
    # placeholders of the topics the draft cannot know: never a recorded (state) topic
    targets = {arm: f'{FILL_IN_NAMESPACE}/{arm}target_pose' for arm in arms}
    grippers = {arm: f'{FILL_IN_NAMESPACE}/{arm}gripper_controller/joint_trajectory'
                for arm in arms}
    recorded = recorded if recorded is not None and len(recorded) == len(fields) else \
        [None] * len(fields)
    for f, p, r in zip(fields, prefixes, recorded, strict=True):
        if f in POSE_FIELDS and r is not None:  # a recorded target (not a state topic): kept
            targets[p] = r
    per_joint = [targets[p] if f in POSE_FIELDS else (r or grippers[p])
                 for f, p, r in zip(fields, prefixes, recorded, strict=True)]
    kept = {t for t in per_joint if t in (streams or [])}

    def placeholder(topic: str) -> bool:
        return topic.startswith(FILL_IN_NAMESPACE + '/')

    whose = 'controller\'s' if len(arms) == 1 else 'controllers\' (one per end effector)'
    recorded_targets = not any(placeholder(t) for t in targets.values())
    lines = [f'    action_topic: {per_joint[0]}   # '
             + ('recorded with the training data' if not placeholder(per_joint[0]) else
                f'{FILL_IN}: your Cartesian {whose} PoseStamped target topic'),
             f'    action_pose_topics: {_flow(list(targets.values()))}   # '
             + ('recorded PoseStamped targets' if recorded_targets else
                'the action is a whole pose (e.g. cartesian_controllers\' /target_frame)')]
    if not recorded_targets:
        lines.append('    # or a velocity servo (MoveIt Servo) instead: action_twist_topics: '
                     '[/servo_node/delta_twist_cmds], and that topic in place of the target\'s')
    if len(set(per_joint)) > 1:
        fill_grippers = any(t in grippers.values() for t in per_joint)
        what = ((('gripper\'s controller' if len(arms) == 1 else 'controllers')
                 if fill_grippers else 'target') if any(map(placeholder, per_joint)) else None)
        lines.append(f'    action_joint_topics: {_flow(per_joint)}   # '
                     + (f'{FILL_IN}: the {what}' if what else 'recorded')
                     + (' (the recorded Float64MultiArray commands kept)' if kept else ''))
    if kept:
        lines.append(f'    action_stream_topics: {_flow(sorted(kept))}   # recorded '
                     'Float64MultiArray commands')
    # the recorded poses' frames, one per pose source: one per end effector, in order
    lines += _frame_lines(_frames_by_target(list(targets.values()), frames), 'poses')
    entries = [f'{topic}={p}' for topic, p in dict(zip(per_joint, prefixes, strict=True)).items()
               if p]
    return lines, entries


def _action_topics(per_joint: list[str] | None, streams: list[str] | None,
                   poses: list[str] | None, frames: list[str],
                   partial: list[str | None] | None = None, names: list[str] | None = None,
                   partial_streams: list[str] | None = None) -> list[str]:
    """The command topic lines: the recorded controllers' topics, else those recorded for
    some action joints (`partial`, None for a joint whose action was its future state: a
    FILL IN placeholder there), else a FILL IN."""
    if not per_joint and partial:
        return _partial_action_topics(partial, names or [], partial_streams or [])
    if not per_joint:
        return [f'    action_topic: /joint_trajectory_controller/joint_trajectory   # {FILL_IN}: '
                'your controller\'s',
                '    # a gripper on its own controller: one trajectory topic per action joint, '
                'in order',
                '    # action_joint_topics: [/arm_controller/joint_trajectory, ..., '
                '/gripper_controller/joint_trajectory]']
    lines = [f'    action_topic: {per_joint[0]}   # recorded with the training data']
    if len(set(per_joint)) > 1:
        lines.append(f'    action_joint_topics: {_flow(per_joint)}   # recorded: one per joint')
    if streams:
        lines.append(f'    action_stream_topics: {_flow(streams)}   # recorded '
                     'Float64MultiArray commands')
    if poses:
        lines.append(f'    action_pose_topics: {_flow(poses)}   # recorded PoseStamped targets')
        ordered = list(dict.fromkeys(t for t in per_joint if t in poses))  # recorded order
        lines += _frame_lines(_frames_by_target(ordered, frames), 'targets')
    return lines


def _partial_action_topics(partial: list[str | None], names: list[str],
                           streams: list[str]) -> list[str]:
    """The command topic lines of an action mixing recorded commands (an arm's trajectory)
    with future states (a gripper no recorded command moved): the recorded topics kept, a
    FILL IN placeholder per future-state joint's controller."""
    names = names if len(names) == len(partial) else [str(i) for i in range(len(partial))]
    missing = [n for n, t in zip(names, partial, strict=True) if t is None]
    per_joint: list[str] = []
    for i, (name, topic) in enumerate(zip(names, partial, strict=True)):
        if topic is None and i and partial[i - 1] is None:  # a run of joints: one controller
            topic = per_joint[-1]
        per_joint.append(topic or f'{FILL_IN_NAMESPACE}/{name}_controller/joint_trajectory')
    lines = [f'    action_topic: {per_joint[0]}   # '
             + ('recorded with the training data' if partial[0] is not None
                else f"{FILL_IN}: {names[0]}'s controller")]
    if len(set(per_joint)) > 1:
        lines.append(f'    action_joint_topics: {_flow(per_joint)}   # recorded, except '
                     f"{FILL_IN} {', '.join(missing)}: trained on its future state, no "
                     'command recorded: its controller\'s topic')
    if streams:
        lines.append(f'    action_stream_topics: {_flow(streams)}   # recorded '
                     'Float64MultiArray commands')
    return lines


def _camera_transport(recorded: list[str]) -> tuple[list[str], list[str]]:
    """The camera topics to draft and the compressed_images lines, from the recorded topics:
    the recorded topics, each read as recorded (the node reads image_transport's
    '<base>/compressed' topics as sensor_msgs/CompressedImage, the others raw); all of them
    compressed: compressed_images true, as the comment says."""
    packed = [t for t in recorded if t.endswith('/compressed')]
    if not packed:
        return recorded, ['    compressed_images: false']
    if len(packed) == len(recorded):
        return recorded, ['    compressed_images: true   # recorded as sensor_msgs/'
                          "CompressedImage (image_transport's /compressed topics)"]
    return recorded, [f'    compressed_images: false   # {_flow(packed)} recorded compressed: '
                      "read so (a '/compressed' topic), the others raw"]


def draft_params(s: PolicySummary) -> str:
    """A policy node parameter file (config/policy_example_arm.yaml's layout) for `s`."""
    if not s.states:
        raise UserError(f'--draft-params: {s.path} has no low-dim observation (images only), '
                        'and the policy node feeds one from the joint states: it cannot run '
                        'this policy, so there are no parameters to draft')
    state, action, t = joined_state(s.states), s.action, s.topics
    order = ', '.join(f"{c['key']} {c['shape'][1]}x{c['shape'][0]}" for c in s.cameras)
    compressed = ['    compressed_images: false']
    if t.get('image_topics'):
        topics, compressed = _camera_transport(t['image_topics'])
        cameras = f"{_flow(topics)}   # recorded with the training data: {order}"
    else:
        cameras = '[' + ', '.join(f'{FILL_IN_NAMESPACE}/camera_{i}/image_raw'
                                  for i in range(len(s.cameras))) + \
            f']   # {FILL_IN}: one per camera, in this order: {order}'
    per_joint = t.get('state_joint_topics')
    if per_joint:
        joint_states = [f'    joint_state_topic: {per_joint[0]}   # recorded with the training '
                        'data']
        if len(set(per_joint)) > 1:
            joint_states.append(f'    state_joint_topics: {_flow(per_joint)}   # recorded: one '
                                'per joint')
        if t.get('state_pose_topics'):
            joint_states.append(f"    state_pose_topics: {_flow(t['state_pose_topics'])}   # "
                                'recorded PoseStamped: their state_joint_names are pose fields')
        if t.get('state_yaw_min') is not None:
            joint_states.append(f"    state_yaw_min: {t['state_yaw_min']!r}   # rad: the "
                                "recorded yaw wrap")
    else:
        joint_states = [f'    joint_state_topic: /joint_states   # {FILL_IN}: your '
                        'sensor_msgs/JointState topic',
                        '    # a gripper on its own joint-state topic: one topic per state '
                        'joint, in order',
                        '    # state_joint_topics: [/joint_states, ..., /gripper/joint_states]',
                        "    # or its driver on the arm's topic, each message with its own "
                        'joints: a driver per state joint',
                        '    # state_joint_drivers: [arm, ..., gripper]']
    pose_targets = None if t.get('action_joint_topics') else _pose_action_topics(
        action.names, t.get('action_pose_frames') or [], t.get('action_name_prefixes'),
        t.get('action_command_topics'), t.get('action_command_streams'))
    checkpoint = s.path if is_hub_spec(s.path) else str(Path(s.path).resolve())
    lines = [
        f'# Policy node parameters drafted by `dp-ros inspect {s.path} --draft-params`',
        '# from the checkpoint alone. Replace every FILL IN with your robot\'s, check the bounds,',
        '# then: ros2 launch dp_ros policy.launch.py params_file:=THIS checkpoint:=DIR',
        '# (without a ROS install: .venv/bin/policy_node --ros-args --params-file THIS)',
        '/**/dp_policy:',
        '  ros__parameters:',
        f'    checkpoint: {_scalar(checkpoint)}',
        '    device: auto',
        f'    image_topics: {cameras}',
        *compressed,
        *joint_states,
        *([f"    # the state: {' then '.join(f'{d.key} ({d.size})' for d in s.states)}, "
           "every low-dim observation in the checkpoint's order"] if len(s.states) > 1 else []),
        *_state_joint_lines(state, t.get('state_fields')),
        *(pose_targets[0] if pose_targets else
          _action_topics(t.get('action_joint_topics'), t.get('action_stream_topics'),
                         t.get('action_pose_topics'), t.get('action_pose_frames') or [],
                         t.get('action_command_topics'), action.names,
                         t.get('action_command_streams'))),
        f'    action_joint_names: {_joint_names(action, "action")}',
        *_prefix_lines(t, pose_targets[1] if pose_targets else [], state.names),
        f'    control_period_s: {_scalar(s.control_period_s)}   # the training data\'s grid',
        *(['    use_sim_time: true   # the training bags were stamped on a sim\'s time: run on '
            'its /clock (false on a robot\'s wall clock)'] if t.get('use_sim_time') else
          ['    # use_sim_time: true   # where the robot runs on a sim\'s /clock (its stamps '
           'too)']),
    ]
    if action.low is not None and action.high is not None:
        lines += [
            '    # the range of the training actions: the policy never commanded beyond it;',
            '    # narrow it to your joint limits (or add urdf_path), never widen it blindly',
            f'    action_lower: {_flow([float(v) for v in action.low])}',
            f'    action_upper: {_flow([float(v) for v in action.high])}',
        ]
    lines += [
        f'    # max_step_delta: [...]   # {FILL_IN}: the largest move per period, per joint',
        '    ramp_in_s: 1.0          # after ~/enable: from the measured joints, over 1 s',
        '    execution_mode: replace',
        '    start_enabled: false    # call ~/enable (std_srvs/SetBool; pip-only: dp-ros node '
        'enable) when the robot is ready',
        '    lockstep: false',
    ]
    return '\n'.join(lines) + '\n'


def inspect_policy(path: str, draft_path: Path | None, json_path: Path | None) -> int:
    """The `dp-ros inspect` run for a policy directory or Hub spec (its cached snapshot; an
    unreachable one is a HubError, one line); the exit code."""
    summary = summarize_policy(resolve_policy_dir(path))
    if is_hub_spec(path):  # named as given: the draft's checkpoint is the spec, as the node
        summary.path = path  # takes it
    print(format_policy(summary))
    if json_path:
        write_text(json_path, json.dumps(asdict(summary), indent=1) + '\n')
    if draft_path:
        text = draft_params(summary)
        write_text(draft_path, text)
        print(f'draft parameters: {draft_path} (replace each {FILL_IN}, then: ros2 launch '
              f'dp_ros policy.launch.py params_file:={draft_path} checkpoint:={path})')
    return 0
