"""`dp-ros dry-run-report BAGS`: a policy's dry run against what the operator did.

A policy node with `dry_run: true` publishes every chunk on `~/dry_run/joint_trajectory`
while nothing reaches the controllers and an operator drives the robot (README: "Dry run").
Record both, e.g.

    ros2 bag record /dp_policy/dry_run/joint_trajectory /arm_controller/joint_trajectory \\
        /joint_states

and this command samples the two on the control grid as a joint_trajectory_controller would
have executed them (the point due at each time: bag2zarr's joint_trajectory rule,
training.bag_episodes.sample_bag_at), then reports per joint how far the policy's commands were
from the operator's (or from the measured joints one period later, as a dataset's future-state
action), beside the error of holding the reference's value from the step before each chunk
over the chunk's steps (the open-loop report's baseline: a policy that learned no motion) and
the time shift that fits best (a policy some periods behind the operator: its latency, or a
late reaction). It sees what `dp-ros open-loop` on a dataset cannot: the live
cameras through the node's crops and fits, the joint order, the latency, the replanning.
"""
from __future__ import annotations

import argparse
import json
import math
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import check_writable_file, write_text
from dp_ros.bags.reader import (
    FLOAT_ARRAY_TYPES,
    JOINT_STATE_TYPES,
    POSE_TYPES,
    TRAJECTORY_TYPES,
    Bag,
    decode_trajectory,
    find_bags,
    header_stamp_ns,
    open_bag,
)
from dp_ros.errors import UserError
from dp_ros.params import parse_topic_map
from dp_ros.pose_fields import POSE_FIELDS
from dp_ros.runtime.policy_node_config import DRY_RUN_TOPIC as NODE_DRY_RUN_TOPIC
from dp_ros.stamps import NS_PER_S as NS
from training.bag2zarr_config import (
    MAX_SECONDS,
    SOURCE_KINDS,
    Bag2ZarrConfig,
    KeyConfig,
    SourceConfig,
)
from training.bag_episodes import sample_bag_at
from training.inspect_bags import JOINT_STATE_SAMPLES
from training.open_loop import check_plot_apart, finite_list, held_steps
from training.plots import check_figure_path

REPORT_FORMAT = 'dp_ros.dry_run_report'
REPORT_VERSION = 2  # 2: reference_topics, a list
# the node's ~/dry_run/joint_trajectory, under any node name and namespace; the default node's
DRY_RUN_SUFFIX = NODE_DRY_RUN_TOPIC.removeprefix('~')
DRY_RUN_TOPIC = '/dp_policy' + DRY_RUN_SUFFIX
# a forward controller's command is in force until the next (a gripper commanded on change):
# the largest tolerance bag2zarr takes, which `dp-ros inspect`'s draft gives such a source
ARRAY_TOLERANCE_S = MAX_SECONDS
TITLE_WIDTH = 130  # characters of the plot's 9-point title on its 10-inch width
# a dry-run chunk stamped further than this from its receive time, against the others'
# (receive time - stamp), and outside the others' times is left out (a stamp of 1 ns, a
# clock that jumped): no controller ran it with them, and it would stretch the grid
STAMP_OUTLIER_S = 5.0


@dataclass(frozen=True)
class Reference:
    """A topic the dry run is compared with, and which of its joints (or pose fields)."""

    topic: str
    kind: str  # 'joint_trajectory' | 'float_array' | 'pose' | 'joint_state'
    # the dry run's names (the training data's: with the topic's prefix); a float_array's
    # every value's, in order (read by place)
    joints: list[str]
    prefix: str = ''  # --prefix: the topic's messages name the joints without it


@dataclass
class Comparison:
    """One bag on its grid: the policy's and the reference's values, and where both exist."""

    bag: str
    reference_topics: list[str]  # one, or each controller's (an arm's and its gripper's)
    # 'joint_trajectory', 'float_array', 'pose' or several joined by '+'; or 'joint_state'
    reference_kind: str
    offset_s: float
    joints: list[str]
    period_ns: int
    times_ns: np.ndarray  # (T,) the grid
    policy: np.ndarray  # (T, J)
    reference: np.ndarray  # (T, J)
    policy_ok: np.ndarray  # (T,) the policy had a point due within the tolerance
    reference_ok: np.ndarray  # (T,)
    chunk_starts: np.ndarray  # the grid steps where a dry-run chunk takes over, sorted
    # the references with messages stamped 0: placed by receipt
    stamp_zero_topics: list[str] = field(default_factory=list)
    policy_topic: str = DRY_RUN_TOPIC  # the dry run's topic in this bag
    notes: list[str] = field(default_factory=list)  # what was left out, for the report

    @property
    def valid(self) -> np.ndarray:
        return self.policy_ok & self.reference_ok


@dataclass(frozen=True)
class _Timeline:
    """The dry-run topic's joints and times (ns)."""

    joints: list[str]
    spacing: int  # the usual point spacing (0: one-point chunks)
    first: int  # the first chunk's stamp
    last: int  # the last point's due time
    delay: int  # median (receive time - stamp) of the chunks
    span: int  # median (last point's due time - stamp) of the chunks
    stamps: list[int]  # each chunk's (stops left out: they end a run, they plan nothing)
    # (receive time, stamp) of the chunks left out (stamped_apart), in receive order
    left_out: list[tuple[int, int]] = field(default_factory=list)


def stamped_apart(chunks: list[tuple[int, int, int]]) -> list[int]:
    """The indices of the (receive time, stamp, last due time) chunks to leave out: stamped
    more than STAMP_OUTLIER_S from their receive time against the usual (receive time -
    stamp) of the chunks, and outside the times of the rest (before the first stamp, after
    the last due time). Such a chunk is never the active one on the grid of the rest (a
    trajectory is active from its stamp until a later-stamped one), so leaving it out of the
    grid leaves it out of the comparison. A chunk received late but stamped among the rest
    (a stalled recorder) is kept: a controller runs it by its stamp, and so is it sampled."""
    delays = sorted(recv - stamp for recv, stamp, _ in chunks)
    usual = delays[(len(delays) - 1) // 2]  # a median that is one chunk's: that one stays
    far = [abs(recv - stamp - usual) > STAMP_OUTLIER_S * NS for recv, stamp, _ in chunks]
    near = [c for c, f in zip(chunks, far, strict=True) if not f]
    first, last = min(c[1] for c in near), max(c[2] for c in near)
    return [i for i, (c, f) in enumerate(zip(chunks, far, strict=True))
            if f and not first <= c[1] <= last]


def _policy_timeline(bag: Bag, topic: str) -> _Timeline:
    """The dry-run topic's joints, point spacing, first stamp, last due time and how its
    chunks were received; chunks stamped far apart from the rest left out (stamped_apart)."""
    names: list[str] | None = None
    spacing: list[int] = []
    chunks: list[tuple[int, int, int]] = []  # (receive time, stamp, last due time)
    for _, recv, msg in bag.messages([topic], progress=False):
        joints = list(msg.joint_names)
        if names is None:
            names = joints
        elif joints != names:
            raise UserError(f'bag {bag.path}: {topic} changes its joints from {names} to '
                            f'{joints}')
        stamp, due, _ = decode_trajectory(msg, names)
        if len(due) == 0 or stamp == 0:  # a stop: due from when it arrived, not a timeline
            continue
        spacing += np.diff(due).tolist()
        chunks.append((int(recv), int(stamp), int(due[-1])))
    if names is None or not chunks:
        raise UserError(f'bag {bag.path}: {topic} has no trajectory points (was the node '
                        'running with dry_run: true while the bag recorded?)')
    apart = set(stamped_apart(chunks))
    kept = [c for i, c in enumerate(chunks) if i not in apart]
    period = int(np.median(spacing)) if spacing else 0
    return _Timeline(names, period, min(c[1] for c in kept), max(c[2] for c in kept),
                     int(np.median([recv - stamp for recv, stamp, _ in kept])),
                     int(np.median([due - stamp for _, stamp, due in kept])),
                     [c[1] for c in kept], [chunks[i][:2] for i in sorted(apart)])


def left_out_note(path: object, timeline: _Timeline) -> list[str]:
    """The report's line on the chunks stamped_apart left out: how many, and when the first
    few were received and stamped (s from the first kept chunk's stamp)."""
    if not timeline.left_out:
        return []
    shown = '; '.join(f'received at {(recv - timeline.first) / NS:.3f} s, stamped at '
                      f'{(stamp - timeline.first) / NS:+.6g} s'
                      for recv, stamp in timeline.left_out[:3])
    more = ', ...' if len(timeline.left_out) > 3 else ''
    return [f'{path}: {len(timeline.left_out)} dry-run chunk(s) left out: stamped more than '
            f"{STAMP_OUTLIER_S:g} s from their receive times, outside the other chunks' times "
            f"({shown}{more}; from the first kept chunk's stamp)"]


def non_finite_notes(path: object, values: np.ndarray, ok: np.ndarray, joints: list[str],
                     topics: list[str], grid: np.ndarray) -> list[str]:
    """A line per joint whose sampled values (where `ok`) are NaN or inf: its topic, how
    many steps, the first (s from the grid's start); those steps are left out of that
    joint's figures (comparison_metrics), the joint's other steps and the other joints kept."""
    notes = []
    for j, (joint, topic) in enumerate(zip(joints, topics, strict=True)):
        bad = np.flatnonzero(ok & ~np.isfinite(values[:, j]))
        if len(bad):
            notes.append(f'{path}: {topic}: {joint} not finite (NaN or inf) at {len(bad)} of '
                         f'{int(ok.sum())} step(s) (the first at '
                         f'{(grid[bad[0]] - grid[0]) / NS:.3f} s), left out of its figures')
    return notes


def chunk_starts_on_grid(grid: np.ndarray, stamps: list[int], period_ns: int) -> np.ndarray:
    """The grid steps where each chunk becomes the active trajectory (the first at or after
    its stamp, a grid time a little early allowed as the sampling allows it:
    training.resample.trajectory_targets' slack), sorted, once each."""
    slack = period_ns // 2 - 1
    at = np.searchsorted(grid + slack, np.asarray(stamps, dtype=np.int64), side='left')
    return np.unique(at[at < len(grid)])


def _stamp_zero_topics(bag: Bag, refs: list[Reference]) -> list[str]:
    """The reference topics whose messages are all stamped 0 (a teleop tool's commands:
    "start now"; an arm's and a gripper's controllers alike), in the references' order:
    the first is the grid topic; none when each stamps its messages.

    bag2zarr places a message stamped 0 at the stamp of its grid topic's message received
    last before it (lockstep: a command answers the observation before it). With the dry
    run's sparse chunks as that topic, several of the operator's commands would fall on one
    chunk's stamp; with this topic as the grid topic, which has no stamps, every message
    stamped 0 (the dry run's stops too) stays at its receive time."""
    topics = dict.fromkeys(r.topic for r in refs)
    stamped: dict[str, bool] = {}
    for topic, _, msg in bag.messages(topics, progress=False):
        stamped[topic] = stamped.get(topic, False) or header_stamp_ns(msg) != 0
        if len(stamped) == len(topics) and all(stamped.values()):
            break  # the usual case: each stamps its first message
    return list(dict.fromkeys(r.topic for r in refs if not stamped.get(r.topic, True)))


def _check_receipt_clock(bag: Bag, topic: str, policy_topic: str, timeline: _Timeline,
                         period_ns: int) -> None:
    """Receive times stand for the stamps of `topic` only when the bag received on the node's
    clock: then each dry-run chunk arrives within its own span of its stamp (its first point
    is due about when it is sent). A recorder on another clock (wall time, the node on sim
    time) would shift the commands against the dry run: refused, not reported."""
    if abs(timeline.delay) > max(timeline.span, period_ns):
        raise UserError(f'bag {bag.path}: commands stamped 0: {topic} (placed at their receive '
                        f'times), but the bag received {policy_topic} '
                        f'{timeline.delay / NS:+.3f} s from its stamps: it recorded on another '
                        "clock than the node's; record on the node's clock (ros2 bag record "
                        '--use-sim-time for a node on sim time) or stamp the commands')


def _topic_joints(bag: Bag, topic: str, prefix: str = '',
                  array_names: dict[str, list[str]] | None = None) -> list[list[str]]:
    """The joint names of a trajectory topic's first message, after `prefix` (as the training
    data names them); of a joint-state topic, each driver's publishing on it (the distinct
    name sets of its first JOINT_STATE_SAMPLES messages: an arm's and its gripper's); a pose
    topic gives the pose fields; a Float64MultiArray the names given for its values
    (`array_names`: its messages carry none), which its first message must match in number."""
    msgtype = bag.topics[topic].msgtype
    if msgtype in POSE_TYPES:
        return [[prefix + f for f in POSE_FIELDS]]
    if msgtype in FLOAT_ARRAY_TYPES:
        names = (array_names or {}).get(topic)
        if not names:
            raise UserError(f'--reference {topic}: a {msgtype} carries no joint names: give '
                            f'them in the order of its values, --reference {topic}=joint1,'
                            'joint2,...')
        for _, _, msg in bag.messages([topic], progress=False):
            if len(msg.data) != len(names):
                raise UserError(f'bag {bag.path}: {topic} holds {len(msg.data)} value(s), '
                                f'--reference names {len(names)} joint(s) {names}')
            break
        return [[prefix + n for n in names]]
    found: dict[frozenset[str], list[str]] = {}
    for count, (_, _, msg) in enumerate(bag.messages([topic], progress=False), 1):
        names = msg.joint_names if hasattr(msg, 'joint_names') else msg.name
        found.setdefault(frozenset(names), [prefix + n for n in names])
        if hasattr(msg, 'joint_names') or count >= JOINT_STATE_SAMPLES:
            break
    return list(found.values())


def _kind(bag: Bag, topic: str) -> str:
    """The bag2zarr source kind that reads the topic (its type was checked: a trajectory, a
    joint state or a pose)."""
    msgtype = bag.topics[topic].msgtype
    return next(kind for kind, types in SOURCE_KINDS.items() if msgtype in types)


def _cover(bag: Bag, topics: list[str], joints: list[str], prefixes: dict[str, str],
           array_names: dict[str, list[str]] | None = None) -> list[Reference]:
    """Each topic with the dry run's joints it gives first (in the dry run's order; a
    prefixed topic's names after its prefix), topics that give none left out."""
    covered: set[str] = set()
    chosen = []
    for topic in topics:
        prefix = prefixes.get(topic, '')
        # a driver's on a shared topic each
        for names in _topic_joints(bag, topic, prefix, array_names):
            mine = [j for j in joints if j in names and j not in covered]
            if mine:
                covered |= set(mine)
                kind = _kind(bag, topic)  # an array's values are read by place: all, in order
                chosen.append(Reference(topic, kind, names if kind == 'float_array' else mine,
                                        prefix))
    return chosen


def _pick_references(bag: Bag, policy_topic: str, wanted: list[str], joints: list[str],
                     prefixes: dict[str, str],
                     array_names: dict[str, list[str]] | None = None) -> list[Reference]:
    """The topics asked for (commands: JointTrajectory, a forward controller's
    Float64MultiArray with `array_names`, or PoseStamped targets of a Cartesian controller; or
    measurements: JointState), else the busiest other trajectory topics that together give
    every joint (the operator's commands, on one controller or an arm's and its gripper's),
    else the joint-state topics that do."""
    if wanted:
        for topic in wanted:
            bag.require(topic, TRAJECTORY_TYPES + FLOAT_ARRAY_TYPES + JOINT_STATE_TYPES
                        + POSE_TYPES, '--reference')
            if topic in (array_names or {}) and bag.topics[topic].msgtype \
                    not in FLOAT_ARRAY_TYPES:
                raise UserError(f'--reference {topic}=...: joint names are given for a '
                                f'Float64MultiArray only; {topic} is a '
                                f'{bag.topics[topic].msgtype}, which names its own')
        kinds = {_kind(bag, t) == 'joint_state' for t in wanted}
        if len(kinds) > 1:
            raise UserError(f'--reference {wanted}: give commands (JointTrajectory, '
                            'Float64MultiArray, PoseStamped) or JointState topics, not both '
                            '(they are compared at different offsets)')
        chosen = _cover(bag, wanted, joints, prefixes, array_names)
        missing = [j for j in joints if j not in {j for r in chosen for j in r.joints}]
        if missing:
            raise UserError(f'bag {bag.path}: --reference {wanted} gives none of the dry '
                            f"run's joints {missing}: add the topic that does (another "
                            '--reference)')
        return chosen
    for types in (TRAJECTORY_TYPES, JOINT_STATE_TYPES):
        found = sorted((t for t in bag.topics.values()
                        if t.msgtype in types and t.name != policy_topic and t.count
                        and not is_dry_run(t.name)),  # another node's dry run: no operator
                       key=lambda t: -t.count)
        chosen = _cover(bag, [t.name for t in found], joints, prefixes)
        if sum(len(r.joints) for r in chosen) == len(joints):
            return chosen
    raise UserError(f'bag {bag.path}: no reference to compare with (the operator\'s '
                    f'JointTrajectory commands or JointState topics that give the dry run\'s '
                    f'joints {joints}, or --reference a PoseStamped target or a '
                    'Float64MultiArray with its joints: TOPIC=joint1,...; two arms whose '
                    "drivers name their joints alike: --prefix TOPIC=PREFIX as the node's "
                    f'topic_name_prefixes); it has: {bag.describe_topics()}')


def is_dry_run(topic: str) -> bool:
    """A policy node's ~/dry_run/joint_trajectory, whatever its name and namespace."""
    return topic.endswith(DRY_RUN_SUFFIX)


def dry_run_topic(bag: Bag, given: str | None) -> str:
    """The dry run's topic: `given` (--policy-topic), else DRY_RUN_TOPIC, else the one
    ~/dry_run/joint_trajectory in the bag (a node in a namespace or renamed: /left/dp_policy),
    of those with messages."""
    if given:
        return given
    found = sorted(t for t, info in bag.topics.items()
                   if is_dry_run(t) and info.msgtype in TRAJECTORY_TYPES and info.count)
    if DRY_RUN_TOPIC in found:
        return DRY_RUN_TOPIC
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f'bag {bag.path}: {len(found)} dry runs ({", ".join(found)}): name '
                        'the one to compare with --policy-topic')
    return DRY_RUN_TOPIC  # absent: require() names it and what the bag has


def compare_bag(path: Path, policy_topic: str | None, references: list[str],
                offset_s: float | None, period_s: float | None,
                progress: bool = False, yaw_min: float = -math.pi,
                prefixes: dict[str, str] | None = None,
                array_names: dict[str, list[str]] | None = None) -> Comparison:
    """The policy's dry-run commands and the reference, sampled on one grid; `prefixes`:
    {topic: prefix} of the topics whose messages name the joints without it; `array_names`:
    {topic: joint names} of Float64MultiArray references, in the order of their values."""
    with open_bag(path) as bag:
        policy_topic = dry_run_topic(bag, policy_topic)
        bag.require(policy_topic, TRAJECTORY_TYPES, 'the dry run (--policy-topic)')
        timeline = _policy_timeline(bag, policy_topic)
        joints = timeline.joints
        period_ns = int(round(period_s * NS)) if period_s else timeline.spacing
        if period_ns <= 0:
            raise UserError(f'bag {bag.path}: the dry run\'s chunks have one point each: give '
                            'the control period (--period)')
        refs = _pick_references(bag, policy_topic, references, joints, prefixes or {},
                                array_names)
        stamp_zero = _stamp_zero_topics(bag, refs)
        for topic in stamp_zero:
            _check_receipt_clock(bag, topic, policy_topic, timeline, period_ns)
        kind = '+'.join(dict.fromkeys(r.kind for r in refs))
        offset = offset_s if offset_s is not None else (
            period_ns / NS if kind == 'joint_state' else 0.0)
        config = Bag2ZarrConfig(keys={
            'policy': KeyConfig('policy', [SourceConfig('joint_trajectory', policy_topic,
                                                        joints=joints)]),
            # joint states: the newest within a period (a 10 Hz driver out of phase with
            # the grid is no gap); commands: a point due within half a period, as bag2zarr
            'reference': KeyConfig('reference', [
                SourceConfig('pose', r.topic, fields=[j.removeprefix(r.prefix) for j in r.joints],
                             prefix=r.prefix, yaw_min=yaw_min, offset_s=offset)
                if r.kind == 'pose' else
                SourceConfig(r.kind, r.topic, joints=[j.removeprefix(r.prefix) for j in r.joints],
                             prefix=r.prefix, offset_s=offset,
                             tolerance_s=period_ns / NS if r.kind == 'joint_state' else
                             ARRAY_TOLERANCE_S if r.kind == 'float_array' else None)
                for r in refs])},
            control_period_s=period_ns / NS,
            reference_topic=stamp_zero[0] if stamp_zero else policy_topic)
        grid = np.arange(timeline.first, timeline.last + 1, period_ns, dtype=np.int64)
        try:
            values, ok = sample_bag_at(bag, config, grid, progress=progress)
        except ValueError as exc:  # a reference without one of the joints, say
            raise UserError(f'bag {bag.path}: {exc}') from None
    concatenated = [j for r in refs for j in r.joints]  # back to the dry run's joint order
    reference = values['reference'][:, [concatenated.index(j) for j in joints]]
    reference = reference.astype(np.float64)
    policy = values['policy'].astype(np.float64)
    topic_of = {j: r.topic for r in reversed(refs) for j in r.joints}  # the first giving it
    notes = [*left_out_note(bag.path, timeline),
             *non_finite_notes(bag.path, policy, ok['policy'], joints,
                               [policy_topic] * len(joints), grid),
             *non_finite_notes(bag.path, reference, ok['reference'], joints,
                               [topic_of[j] for j in joints], grid)]
    # NaN (not inf) where not finite: the metrics leave NaN out per joint, the plot as a gap
    policy[~np.isfinite(policy)] = np.nan
    reference[~np.isfinite(reference)] = np.nan
    return Comparison(str(path), [r.topic for r in refs], kind, offset, joints, period_ns, grid,
                      policy, reference, ok['policy'], ok['reference'],
                      chunk_starts_on_grid(grid, timeline.stamps, period_ns), stamp_zero,
                      policy_topic, notes)


def joint_errors(err: np.ndarray) -> dict[str, np.ndarray]:
    """Per joint over its finite errors (a NaN reference or command leaves that joint's
    step out, not the joint): how many, RMSE, MAE and max |err|; NaN where there are none."""
    finite = np.isfinite(err)
    n = finite.sum(axis=0)
    magnitude = np.where(finite, np.abs(err), 0.0)
    none = np.where(n > 0, 0.0, np.nan)
    return {'n': n, 'rmse': np.sqrt((magnitude ** 2).sum(axis=0) / np.maximum(n, 1)) + none,
            'mae': magnitude.sum(axis=0) / np.maximum(n, 1) + none,
            'max_abs': magnitude.max(axis=0, initial=0.0) + none}


def _rmse(err: np.ndarray) -> np.ndarray:
    return joint_errors(err)['rmse']


def shifted_pairs(c: Comparison, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """(policy at t, reference at t - lag periods) where both are valid."""
    n = len(c.times_ns)
    i = np.arange(max(lag, 0), min(n, n + lag))
    j = i - lag
    keep = c.policy_ok[i] & c.reference_ok[j]
    return c.policy[i[keep]], c.reference[j[keep]]


def hold_errors(c: Comparison) -> np.ndarray:
    """Holding the last command (`dp-ros open-loop`'s baseline, training.open_loop.held_steps:
    a policy that learned no motion): the reference of the step before each chunk, held over
    the chunk's steps, minus the reference; over the steps the policy's error uses whose
    chunk has the reference before it (the first chunk of a bag has none on the grid)."""
    steps = np.flatnonzero(c.policy_ok & c.reference_ok)
    before = held_steps(c.chunk_starts, steps)
    keep = before >= 0
    keep[keep] = c.reference_ok[before[keep]]
    return c.reference[before[keep]] - c.reference[steps[keep]]


def comparison_metrics(comparisons: list[Comparison], max_lag: int) -> dict[str, Any]:
    """Per joint and pooled over the bags: errors in the joints' units and normalized by the
    reference's range in these bags (2 / (max - min), the range normalizer's factor, but over
    the operator's range where `dp-ros open-loop`'s rmse_norm takes the policy's training
    range), the hold baseline (hold_errors) and the best-fitting lag
    (among the shifts that keep at least half the unshifted pairs). A joint whose range is
    under the normalizer's RANGE_EPS (held still: its range is noise) has no scale, as the
    normalizer gives it none: left out of the normalized figures and the lag fit. A NaN
    value (compare_bag's notes say where) leaves that step out of that joint's figures."""
    from dp_ros.policy.normalizer import RANGE_EPS  # imports torch: after the bags' checks

    ref = np.concatenate([c.reference[c.reference_ok] for c in comparisons])
    finite = np.isfinite(ref)
    span = np.where(finite.any(axis=0), np.where(finite, ref, -np.inf).max(axis=0)
                    - np.where(finite, ref, np.inf).min(axis=0), np.nan) \
        if len(ref) else np.zeros(len(comparisons[0].joints))
    moved = span >= RANGE_EPS  # a joint the operator never moved has no scale to normalize by
    scale = np.where(moved, 2.0 / np.where(moved, span, 1.0), np.nan)

    def pooled(lag: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = [shifted_pairs(c, lag) for c in comparisons]
        return (np.concatenate([p for p, _ in pairs]), np.concatenate([r for _, r in pairs]))

    def norm(err: np.ndarray) -> float | None:
        scaled = (err[:, moved] * scale[moved]).ravel()
        scaled = scaled[np.isfinite(scaled)]  # a joint's NaN step: that step of it left out
        return float(np.sqrt(np.mean(scaled ** 2))) if len(scaled) else None

    pol, rec = pooled(0)
    err = pol - rec
    # over the policy's steps only: elsewhere it is no baseline (an operator moving while the
    # policy does not plan made holding look worse than it is)
    hold_err = np.concatenate([hold_errors(c) for c in comparisons])
    lags = {}
    for lag in range(-max_lag, max_lag + 1):
        p, r = pooled(lag)  # a shift that leaves under half the pairs is not scored
        lags[lag] = norm(p - r) if 2 * len(p) >= len(pol) else None
    scored = {k: v for k, v in lags.items() if v is not None}
    best = min(scored, key=lambda k: (scored[k], abs(k))) if scored else None
    n_grid = sum(len(c.times_ns) for c in comparisons)
    n_valid = int(len(err))
    errors = joint_errors(err)
    return {
        'n_steps': n_valid, 'n_grid_steps': n_grid,
        'coverage': n_valid / n_grid if n_grid else 0.0,
        'rmse_norm': norm(err), 'hold_rmse_norm': norm(hold_err),
        'best_lag_steps': best, 'best_lag_rmse_norm': scored.get(best),
        'rmse_norm_by_lag': {str(k): v for k, v in lags.items()},
        'per_joint': {
            'n_steps': errors['n'].tolist(),  # the steps compared, less its NaN ones
            'rmse': finite_list(errors['rmse']),
            'mae': finite_list(errors['mae']),
            'max_abs': finite_list(errors['max_abs']),
            'rmse_norm': finite_list(errors['rmse'] * scale),
            'hold_rmse_norm': finite_list(_rmse(hold_err) * scale),
            'reference_range': finite_list(span)},
    }


def plot_comparisons(comparisons: list[Comparison], metrics: dict[str, Any],
                     out_path: Path) -> Path:
    """One panel per joint: the reference and the policy's commands over time (s from each
    bag's first grid time, bags one after the other), gaps left empty."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    joints = comparisons[0].joints
    fig, axes = plt.subplots(len(joints), 1, figsize=(10, 1.9 * len(joints) + 0.8),
                             sharex=True, squeeze=False)
    start = 0.0
    for n, c in enumerate(comparisons):
        t = start + (c.times_ns - c.times_ns[0]) / NS
        for j, ax in enumerate(axes[:, 0]):
            ax.plot(t, np.where(c.reference_ok, c.reference[:, j], np.nan), color='0.25',
                    lw=1.4, label='reference' if n == 0 else None)
            ax.plot(t, np.where(c.policy_ok, c.policy[:, j], np.nan), color='tab:blue',
                    lw=1.1, label='policy (dry run)' if n == 0 else None)
            if n:
                ax.axvline(start, color='0.7', lw=0.8, ls=':')
        start = float(t[-1]) + c.period_ns / NS
    for j, ax in enumerate(axes[:, 0]):
        r = metrics['per_joint']['rmse_norm'][j]
        ax.set_ylabel(joints[j], fontsize=8)
        ax.set_title(f'{joints[j]}: normalized RMSE '
                     f"{'n/a' if r is None else f'{r:.3f}'}", fontsize=8, loc='left')
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc='upper right')
    axes[-1, 0].set_xlabel('time (s)')
    c0 = comparisons[0]
    lag = metrics['best_lag_steps']
    # wrapped: two arms' topics and the lag's explanation run past a 10-inch figure's edges
    topics = textwrap.fill(f"dry run vs {' + '.join(c0.reference_topics)} "
                           f'({c0.reference_kind}, offset {c0.offset_s:g} s):', TITLE_WIDTH)
    fig.suptitle(f'{topics}\ncoverage {metrics["coverage"]:.0%}, '
                 f'{describe_lag(lag, c0.period_ns / NS)}', fontsize=9)
    fig.tight_layout()
    from training.plots import save_figure

    return save_figure(fig, out_path)


def describe_lag(lag: int | None, period_s: float) -> str:
    if lag is None:
        return 'no lag fits (no joint moved)'
    return (f'best lag {lag:+d} step(s) ({lag * period_s:+.2f} s; +: the policy behind the '
            'reference)')


def format_report(report: dict[str, Any]) -> str:
    m = report['metrics']

    def f(v: float | None) -> str:
        return 'n/a' if v is None else f'{v:.4f}'

    w = max([20] + [len(name) + 2 for name in report['joints']])  # UR names run past 20
    lines = [f"dry run {report['policy_topic']} vs {' + '.join(report['reference_topics'])} "
             f"({report['reference_kind']}, offset {report['offset_s']:g} s), "
             f"{len(report['bags'])} bag(s), period {report['period_s']:g} s",
             f"  steps compared {m['n_steps']} of {m['n_grid_steps']} "
             f"(coverage {m['coverage']:.0%}: the rest had no policy point or reference)",
             f"  normalized RMSE {f(m['rmse_norm'])} (holding the command before each chunk: "
             f"{f(m['hold_rmse_norm'])})",
             f"  {describe_lag(m['best_lag_steps'], report['period_s'])}: normalized RMSE "
             f"{f(m['best_lag_rmse_norm'])}",
             f"  {'joint':<{w}}{'rmse':>10}{'mae':>10}{'max':>10}{'rmse_norm':>11}{'hold':>9}"]
    if report['stamp_zero_topics']:
        lines.insert(1, f"  {' + '.join(report['stamp_zero_topics'])}: messages stamped 0, "
                        'placed at their receive times')
    pj = m['per_joint']
    for k, name in enumerate(report['joints']):
        lines.append(f"  {name:<{w}}{f(pj['rmse'][k]):>10}{f(pj['mae'][k]):>10}"
                     f"{f(pj['max_abs'][k]):>10}{f(pj['rmse_norm'][k]):>11}"
                     f"{f(pj['hold_rmse_norm'][k]):>9}")
    lines += [f'warning: {w}' for w in report.get('warnings', [])]
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='dp-ros dry-run-report',
        description="A policy node's dry run (dry_run: true) against the operator's commands "
                    'or the measured joints, from bags recorded during it: per-joint error, '
                    'hold baseline, best-fitting lag, JSON and a plot.')
    p.add_argument('bags', nargs='+', help='bag directories, .mcap/.db3 files or folders')
    p.add_argument('--output', required=True, type=Path, help='report JSON')
    p.add_argument('--plot', type=Path, help='figure: .png, .pdf, .svg or .jpg (default: '
                   '--output with .png)')
    p.add_argument('--no-plot', action='store_true')
    p.add_argument('--policy-topic', default=None,
                   help=f"the dry run's trajectories (default {DRY_RUN_TOPIC}, else the bag's "
                        'one */dry_run/joint_trajectory: a node in a namespace or renamed)')
    p.add_argument('--reference', action='append', default=[], metavar='TOPIC[=JOINTS]',
                   help="the operator's JointTrajectory commands, a forward controller's "
                   'Float64MultiArray (TOPIC=joint1,joint2,...: the joints of its values, in '
                   "order), a Cartesian controller's PoseStamped targets or a JointState "
                   "topic; again for each topic of a split (an arm's controller and its "
                   "gripper's) "
                   "(default: the busiest other trajectory topics that give the dry run's "
                   'joints, else the joint-state topics that do)')
    p.add_argument('--prefix', action='append', default=[], metavar='TOPIC=PREFIX',
                   help="a reference topic whose messages name the joints without PREFIX, as "
                   "the node's topic_name_prefixes (two arms whose drivers name their joints "
                   "alike: /left/arm_controller/joint_trajectory=left_); again per topic")
    p.add_argument('--yaw-min', type=float, default=-math.pi, help='rad: a PoseStamped '
                   "reference's yaw is wrapped into [this, this + 2 pi), as the training data's "
                   'pose sources (default -pi)')
    p.add_argument('--reference-offset', type=float, help='s: compare with the reference '
                   'this much later (default: 0 for commands, one period for joint states: '
                   'where a command aims)')
    p.add_argument('--period', type=float, help='s: the control period (default: the dry '
                   "run's point spacing)")
    p.add_argument('--max-lag', type=int, default=10, help='periods of shift tried either way '
                   '(default 10)')
    p.add_argument('--no-progress', action='store_true')
    return p


def reference_arguments(entries: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """--reference entries as (topics, {topic: joint names}) where given as TOPIC=j1,j2,...
    (a Float64MultiArray's values, in order); ValueError naming a bad entry."""
    with_names = [e for e in entries if '=' in e]
    given = parse_topic_map(with_names, '--reference', 'joint names',
                            '/forward_position_controller/commands=joint1,joint2')
    names = {topic: value.split(',') for topic, value in given.items()}
    for topic, joints in names.items():
        if any(not j or j != j.strip() for j in joints) or len(set(joints)) != len(joints):
            raise ValueError(f'--reference {topic}: joint names {joints} must be distinct and '
                             'non-empty, comma-separated without spaces')
    return [e.partition('=')[0] for e in entries], names


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_lag < 0 or (args.period is not None and not 0 < args.period < math.inf):
        raise UserError('--max-lag must be >= 0 and --period > 0')  # a NaN period passed
    for name, value in (('--yaw-min', args.yaw_min), ('--reference-offset', args.reference_offset)):
        if value is not None and not math.isfinite(value):
            raise UserError(f'{name} must be a finite number, got {value}')
    try:
        prefixes = parse_topic_map(args.prefix, '--prefix', 'prefix',
                                   '/left/arm_controller/joint_trajectory=left_')
        references, array_names = reference_arguments(args.reference)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    check_writable_file(args.output, '--output')  # before the bags are read, not after
    plot_path = args.plot or args.output.with_suffix('.png')
    if not args.no_plot:
        check_figure_path(plot_path, '--plot' if args.plot else '--output (its .png)',
                          'dry_run.png')
        check_plot_apart(plot_path, args.output, given=args.plot is not None)
    t0 = time.time()
    comparisons = [compare_bag(path, args.policy_topic, references, args.reference_offset,
                               args.period, progress=not args.no_progress,
                               yaw_min=args.yaw_min, prefixes=prefixes,
                               array_names=array_names)
                   for path in find_bags(args.bags)]
    first = comparisons[0]
    for c in comparisons[1:]:
        if (c.joints, c.reference_topics, c.period_ns, c.policy_topic) != (
                first.joints, first.reference_topics, first.period_ns, first.policy_topic):
            raise UserError(f'bag {c.bag} differs from {first.bag} in joints, dry-run or '
                            'reference topic, or period: report them apart')
    if not any(c.valid.any() for c in comparisons):
        raise UserError(f"no time where both the dry run and {' + '.join(first.reference_topics)} "
                        'have a value: was the operator recorded during the dry run?')
    metrics = comparison_metrics(comparisons, args.max_lag)
    report = {
        'format': REPORT_FORMAT, 'version': REPORT_VERSION,
        'bags': [c.bag for c in comparisons], 'policy_topic': first.policy_topic,
        'reference_topics': first.reference_topics, 'reference_kind': first.reference_kind,
        'offset_s': first.offset_s, 'period_s': first.period_ns / NS, 'joints': first.joints,
        'stamp_zero_topics': sorted({t for c in comparisons for t in c.stamp_zero_topics}),
        'metrics': metrics, 'warnings': [n for c in comparisons for n in c.notes],
        'wall_s': round(time.time() - t0, 2),
    }
    # allow_nan=False: a NaN left in the report is a bug, not a token no strict reader takes
    write_text(args.output, json.dumps(report, indent=1, allow_nan=False) + '\n')
    print(format_report(report))
    print(f'report: {args.output}')
    if not args.no_plot:
        plot = plot_comparisons(comparisons, metrics, plot_path)
        print(f'plot: {plot}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
