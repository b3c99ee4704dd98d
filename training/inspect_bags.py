"""`dp-ros inspect BAG...`: what recorded bags hold, and a first bag2zarr config for them.

Per topic: type, messages, rate (median period), the longest gap, from its first messages
what a config needs (an image's size and encoding, a JointState's or a JointTrajectory's
joint names), and from every message's header stamp (read without deserializing) how far
stamps sit from receive times: bag2zarr samples by header stamps, so a stream stamped 0,
some of its stamps left 0 among wall-clock ones, a stream on another clock, stamps that go
backwards (a sim clock reset) and a stamp far from the others (a clock jump) are named,
with the first message concerned. With --draft-config the report becomes a commented
bag2zarr YAML: every camera an image key (the slowest one the grid's reference; a depth
stream, which bag2zarr refuses as a camera, left out in a comment), the busiest JointState the
state (a driver that gives no positions, a wheel's, by its velocity), the action the recorded
JointTrajectory commands (what the policy node publishes) or, without them, the state one
control period later; to check and edit.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dp_ros.atomic_dir import write_text
from dp_ros.bags.reader import (
    CAMERA_ENCODINGS,
    FLOAT_ARRAY_TYPES,
    IMAGE_TYPES,
    JOINT_STATE_TYPES,
    MARKER_TYPES,
    POSE_TYPES,
    TRAJECTORY_TYPES,
    TopicInfo,
    TopicSurvey,
    camera_readable,
    find_bags,
    header_stamp_ns,
    open_bag,
    place_unset_stamps,
)
from dp_ros.dimension_names import JOINT_STATE_FIELDS
from dp_ros.errors import UserError
from dp_ros.recorded_sources import camera_base
from dp_ros.stamps import NS_PER_S as NS
from training.bag2zarr_config import MAX_SECONDS, Bag2ZarrConfig
from training.resample import OTHER_CLOCK_S, stamp_offset_ns, stamp_restarts

SAMPLE_MESSAGES = 20  # per topic, deserialized for sizes, names (and stamps: other types)
# a joint-state topic's: enough to meet every driver publishing on it (a 10 Hz gripper's
# beside a 1 kHz arm's within 2 s)
JOINT_STATE_SAMPLES = 2000
# stamps that go back by more than this (confirmed by the next ones) restart: half of the
# control period bag2zarr's draft config starts from, its margin for the same rule
RESTART_MARGIN_NS = int(round(Bag2ZarrConfig.control_period_s * NS)) // 2
# a stamp whose stamp - receive time is this far from the topic's median is far from the
# others (a clock jump): FAR_STAMP_MIN_S, or FAR_STAMP_SPANS times the topic's receive span
# (sim time at a real-time factor, and its resets, move stamps by about one span)
FAR_STAMP_MIN_S = 60.0
FAR_STAMP_SPANS = 10


@dataclass
class TopicSummary:
    topic: str
    msgtype: str
    count: int
    # 1 / median period (None below 2 messages) and the longest interval, s: of its header
    # stamps where the bag's stamped streams share a clock other than the receive clock (a
    # lockstep sim's: the clock bag2zarr's grid runs on), else of its receive times
    rate_hz: float | None
    max_gap_s: float | None
    detail: str = ''  # image size and encoding, joint names
    width: int | None = None  # a Float64MultiArray's values per message (its first's)
    joints: list[str] = field(default_factory=list)
    # a joint-state topic on which several drivers publish, each its own joints: each
    # driver's joints, rate (Hz), longest gap (s) over the sampled messages and field
    # (joint_field), in order of first message
    drivers: list[tuple[list[str], float | None, float | None, str]] = field(
        default_factory=list)
    encoding: str = ''  # an Image's encoding, a CompressedImage's format
    size: tuple[int, int] | None = None  # an image's (width, height), where it says
    # a JointState's field its sampled messages all fill: 'position', or 'velocity' or
    # 'effort' for a driver that gives no positions (a wheel's)
    joint_field: str = 'position'
    stamp_offset_s: float | None = None  # median header stamp - receive time
    problems: list[str] = field(default_factory=list)


@dataclass
class BagSummary:
    path: str
    duration_s: float
    topics: list[TopicSummary]
    notes: list[str] = field(default_factory=list)  # how it was read (Bag.notes)


def image_size(msg: Any, msgtype: str) -> tuple[int, int] | None:
    """(width, height) of an image message: an Image's fields, a CompressedImage's PNG/JPEG
    header (None where it does not say)."""
    if not msgtype.endswith('CompressedImage'):
        return int(msg.width), int(msg.height)
    from dp_ros.image_header import HeaderError, declared_size
    try:
        return declared_size(msg.data)
    except HeaderError:
        return None


def _image_detail(msg: Any, msgtype: str, size: tuple[int, int] | None) -> str:
    shown = f'{size[0]}x{size[1]} ' if size else ''
    if msgtype.endswith('CompressedImage'):
        return f'{shown}{msg.format or "compressed"}'
    return f'{shown}{msg.encoding}'


def rate_and_gap(times_ns: np.ndarray) -> tuple[float | None, float | None]:
    """Times (ns, in receive order) -> (rate: 1 / the median positive interval, Hz; the
    longest interval, s); None below 2 messages."""
    periods = np.diff(times_ns) / NS
    positive = periods[periods > 0]
    return (float(1.0 / np.median(positive)) if len(positive) else None,
            float(periods.max()) if len(periods) else None)


def summarize_topic(info: TopicInfo, seen: TopicSurvey, sim_clock: bool = False,
                    ) -> TopicSummary:
    """sim_clock: the bag's stamped streams share a clock other than the receive clock
    (_shared_sim_clock): rates and gaps on it, no clock mismatch."""
    rate, gap = rate_and_gap(seen.times)
    summary = TopicSummary(topic=info.name, msgtype=info.msgtype, count=info.count,
                           rate_hz=rate, max_gap_s=gap)
    if seen.error is not None:  # an unknown or corrupt type: listed, not described
        summary.problems.append(f'cannot read: {seen.error}')
        return summary
    samples = seen.first
    if not samples:
        return summary
    first = samples[0][1]
    if info.msgtype in IMAGE_TYPES:
        summary.size = image_size(first, info.msgtype)
        summary.detail = _image_detail(first, info.msgtype, summary.size)
        summary.encoding = first.format if info.msgtype.endswith('CompressedImage') \
            else first.encoding
        if not camera_readable(info.msgtype, summary.encoding):
            summary.detail += ' (not a camera image bag2zarr reads: a depth image)'
    elif info.msgtype in JOINT_STATE_TYPES:
        summary.joints = list(first.name)
        drivers = _drivers(samples, on_stamps=sim_clock)
        summary.joint_field = drivers[0][3]
        summary.detail = f'joints {summary.joints}' + _field_note(summary.joint_field)
        if len(drivers) > 1:
            summary.drivers = drivers
            summary.detail = f'{len(drivers)} drivers: ' + '; '.join(
                f"joints {names} ({f'{rate:.1f} Hz' if rate else 'rate unknown'})"
                + _field_note(field_name) for names, rate, _, field_name in drivers)
    elif info.msgtype in TRAJECTORY_TYPES:
        summary.joints = list(first.joint_names)
        summary.detail = f'joints {summary.joints}, {len(first.points)} point(s)'
    elif info.msgtype in FLOAT_ARRAY_TYPES:  # no names: the config gives one per value
        summary.width = len(first.data)
        summary.detail = f'{summary.width} value(s)'
    elif info.msgtype in POSE_TYPES:  # the frame a Cartesian target needs (frame_id)
        frames = list(dict.fromkeys(m.header.frame_id for _, m in samples))
        summary.detail = f"frame {', '.join(repr(f) for f in frames)}"
        if len(frames) > 1:
            summary.problems.append(f'header.frame_id changes ({frames}): poses in '
                                    'different frames cannot be one dimension')
    if hasattr(first, 'header'):
        _check_stamps(summary, seen, sim_clock)
    return summary


def _drivers(samples: list[tuple[int, Any]], on_stamps: bool = False,
             ) -> list[tuple[list[str], float | None, float | None, str]]:
    """The joint sets of a joint-state topic's sampled messages (one per driver publishing
    on it), each with its rate over them (1 / the median interval), its longest interval and
    the field its messages fill (_joint_field). on_stamps (a bag on a sim clock): intervals
    of the header stamps, the clock the topic's own rate and bag2zarr use (a sim slower than
    real time has longer receive intervals), unless a stamp is unset (0)."""
    stamped = on_stamps and all(header_stamp_ns(m) for _, m in samples)
    times: dict[frozenset[str], list[int]] = {}
    names: dict[frozenset[str], list[str]] = {}
    messages: dict[frozenset[str], list[Any]] = {}
    for recv_ns, msg in samples:
        key = frozenset(msg.name)
        names.setdefault(key, list(msg.name))
        times.setdefault(key, []).append(header_stamp_ns(msg) if stamped else recv_ns)
        messages.setdefault(key, []).append(msg)
    return [(names[key], *rate_and_gap(np.sort(np.asarray(recv, dtype=np.int64))),
             _joint_field(messages[key])) for key, recv in times.items()]


def _joint_field(messages: list[Any]) -> str:
    """The JointState field a driver's messages all fill, one value per name: 'position'
    where they do (or none does: bag2zarr then names the problem), else 'velocity' or
    'effort' (a wheel driver that gives no positions: its positions cannot be read)."""
    for name in JOINT_STATE_FIELDS:
        if all(len(getattr(m, name)) == len(m.name) for m in messages):
            return name
    return 'position'


def _field_note(field_name: str) -> str:
    return '' if field_name == 'position' else f' ({field_name} only: no positions)'


def _by_driver(topic: TopicSummary) -> list[TopicSummary]:
    """A joint-state topic as one entry per driver publishing on it (a bag2zarr source
    each: bag2zarr and the policy node read each driver's messages as a stream of its own)."""
    if not topic.drivers:
        return [topic]
    return [dataclasses.replace(topic, joints=names, rate_hz=rate, max_gap_s=gap, drivers=[],
                                joint_field=field_name)
            for names, rate, gap, field_name in topic.drivers]


def _values(width: int | None) -> str:
    """How many names a float array's `joints` takes, as its first message says."""
    if width is None:
        return 'one name per value'
    return f'{width} name(s), one per value in order'


def _check_stamps(summary: TopicSummary, seen: TopicSurvey, sim_clock: bool = False) -> None:
    """Header stamps as bag2zarr will take them: every message's (the survey read them), or
    for a type whose header is not its first field, its first messages'. sim_clock: on a
    clock the bag's stamped streams share (summarize_topic)."""
    if seen.stamps is not None and len(seen.stamps) == len(seen.times):
        stamps, received, which = seen.stamps, seen.times, ''
    else:
        first = sorted(seen.first, key=lambda sample: sample[0])
        stamps = np.array([header_stamp_ns(m) for _, m in first], dtype=np.int64)
        received = np.array([t for t, _ in first], dtype=np.int64)
        which = 'the first '
    if np.all(stamps == 0):
        summary.problems.append('header stamps are 0: bag2zarr falls back to receive '
                                'times for it (their jitter lands in the data)')
        return
    times, unset = place_unset_stamps(stamps, received)
    if unset:
        at = int(np.flatnonzero(times != stamps)[0])
        why = ('"start now" (a controller starts such a trajectory on receipt: a policy '
               "node's stops, a teleop tool's)" if summary.msgtype in TRAJECTORY_TYPES
               else 'left unset by the driver')
        summary.problems.append(
            f'{unset} of {which}{len(stamps)} header stamps are 0 among wall-clock stamps '
            f'(the first: message {at}): {why}; bag2zarr places them by receive time')
    offsets = times - received
    median = stamp_offset_ns(received, times)
    summary.stamp_offset_s = median / NS
    if abs(median) > OTHER_CLOCK_S * NS and sim_clock:
        if not which:  # every message's stamp: rates on the clock bag2zarr aligns by
            summary.rate_hz, summary.max_gap_s = rate_and_gap(times)
    elif abs(median) > OTHER_CLOCK_S * NS:
        summary.problems.append(f'header stamps {median / NS:+.3g} s from receive times: '
                                'another clock (sim time?); streams on different '
                                'clocks cannot be aligned')
    cuts = stamp_restarts(received, times, RESTART_MARGIN_NS)
    if len(cuts):
        at = int(np.searchsorted(received, cuts[0]))
        summary.problems.append(
            f'header stamps go backwards at {len(cuts)} point(s) (the first: message {at}): '
            'a clock reset (sim time restarted?); without an episode marker bag2zarr splits '
            'episodes there by receive time when this is its reference topic')
    off = np.abs(offsets - median)
    limit = max(FAR_STAMP_MIN_S * NS, FAR_STAMP_SPANS * int(received[-1] - received[0]))
    far = np.flatnonzero(off > limit)
    if len(far):
        summary.problems.append(
            f'{len(far)} header stamp(s) up to {off.max() / NS:.3g} s away from the others '
            f'(the first: message {int(far[0])}): a clock jump; bag2zarr\'s grid spans them '
            '(a gap there, or the bag refused)')


def _shared_sim_clock(seen: dict[str, TopicSurvey]) -> tuple[list[str], int]:
    """(the topics stamped on one clock other than the receive clock, their stamp - receive
    offset, ns): the bag's streams that stamp every message (a header first), whose offsets
    (stamp_offset_ns) lie within OTHER_CLOCK_S of each other and beyond it from 0 (a
    lockstep sim's time); ([], 0) otherwise. One such stream alone is the bag's clock too
    (the others unstamped: bag2zarr places them at its stamps), unless a stream whose header
    is not its first field, read only in its first messages, is stamped: its clock unknown."""
    offsets = {}
    partly_stamped = False
    for name, topic in seen.items():
        stamps = topic.stamps
        if stamps is not None and len(stamps) == len(topic.times) and np.any(stamps != 0):
            times, _ = place_unset_stamps(stamps, topic.times)
            offsets[name] = stamp_offset_ns(topic.times, times)
        elif stamps is None and any(header_stamp_ns(m) for _, m in topic.first):
            partly_stamped = True
    values = sorted(offsets.values())
    if (not values or (len(values) == 1 and partly_stamped)
            or values[-1] - values[0] > OTHER_CLOCK_S * NS
            or min(abs(v) for v in values) <= OTHER_CLOCK_S * NS):
        return [], 0
    return sorted(offsets), values[len(values) // 2]


def summarize_bag(path: Path, progress: bool = False) -> BagSummary:
    with open_bag(path) as bag:
        seen = bag.survey(SAMPLE_MESSAGES, progress=progress,
                          samples_by_type=dict.fromkeys(JOINT_STATE_TYPES, JOINT_STATE_SAMPLES))
        shared, offset = _shared_sim_clock(seen)
        topics = [summarize_topic(info, seen[name], name in shared)
                  for name, info in bag.topics.items()]
        duration = ((bag.end_ns - bag.start_ns) / NS
                    if any(info.count for info in bag.topics.values()) else 0.0)
        notes = list(bag.notes)
    if shared:
        notes.append(f'header stamps of {", ".join(shared)} sit {offset / NS:+.3g} s from '
                     "receive times: one clock (a sim's), which bag2zarr aligns them on; "
                     'their rates and gaps are on it')
    return BagSummary(path=str(path), duration_s=float(duration), topics=topics, notes=notes)


def format_bag(s: BagSummary) -> str:
    lines = [f'{s.path}: {s.duration_s:.1f} s, {len(s.topics)} topics']
    for t in s.topics:
        rate = f'{t.rate_hz:7.1f} Hz' if t.rate_hz else '      - Hz'
        gap = f'max gap {t.max_gap_s:.3f} s' if t.max_gap_s is not None else ''
        stamp = '' if t.stamp_offset_s is None else (
            f', stamp - receive {t.stamp_offset_s * 1000:+.1f} ms'
            if abs(t.stamp_offset_s) <= OTHER_CLOCK_S  # else another clock's: in seconds
            else f', stamp - receive {t.stamp_offset_s:+.4g} s')
        lines.append(f'  {t.topic:<40} {t.msgtype:<36} {t.count:>7} msgs {rate} {gap}{stamp}')
        if t.detail:
            lines.append(f'      {t.detail}')
        lines += [f'      warning: {p}' for p in t.problems]
    lines += [f'  note: {note}' for note in s.notes]
    return '\n'.join(lines)


def _key_name(topic: str, taken: set[str]) -> str:
    """'img' for the first camera (the shipped training configs' key), then from the topic."""
    if 'img' not in taken:
        return 'img'
    parts = [p for p in topic.strip('/').split('/')
             if p not in ('image_raw', 'image', 'compressed', 'image_color', 'image_rect_color')]
    base = '_'.join(parts or ['camera']).replace('-', '_').replace('.', '_') + '_img'
    name, i = base, 2
    while name in taken:
        name, i = f'{base}{i}', i + 1
    return name


def _names_joints(topic: TopicSummary) -> bool:
    return topic.msgtype in (*JOINT_STATE_TYPES, *TRAJECTORY_TYPES) and bool(topic.joints)


def _merge(summaries: list[BagSummary]) -> dict[str, TopicSummary]:
    """One entry per topic over all bags: the first bag that has it describes it; a topic
    naming joints, the last (bags in recording order, as find_bags sorts rosbag2's dated
    folders: the names the driver gives now, where an update renamed them)."""
    merged: dict[str, TopicSummary] = {}
    for s in summaries:
        for t in s.topics:
            if _names_joints(t) and t.topic in merged:
                merged[t.topic] = t
            merged.setdefault(t.topic, t)
    return merged


def _joint_lists(topic: TopicSummary) -> list[list[str]]:
    """The joint names a topic's messages give, one list per driver publishing on it."""
    return [names for names, *_ in topic.drivers] if topic.drivers else [topic.joints]


def renamed_joints(summaries: list[BagSummary], merged: dict[str, TopicSummary],
                   ) -> tuple[dict[str, str], list[str]]:
    """Joint names an earlier bag's topic gives otherwise than the last bag's (`merged`, by
    _merge: a driver update renamed them): {old name: name} where the one list that differs
    pairs by position with one of the same length, and a note per topic for the draft (which
    bag, what names). Only the names gone are paired, each with the name added at its
    position (one joint renamed and the list reordered: [a, b, c] then [x, c, b] gives a: x);
    not paired where a name gone sits opposite a name the earlier bag gives too (a list
    shifted by one, [a, b] then [b, c]: no rename reads that bag's b as c, and bag2zarr would
    refuse it as c missing). The same names in another order need nothing (read by name)."""
    newest = {t.topic: _joint_lists(t) for t in merged.values() if _names_joints(t)}
    current = {j for v in newest.values() for names in v for j in names}
    renames: dict[str, str] = {}
    notes: list[str] = []
    for s in summaries:
        for t in s.topics:
            if t.topic not in newest or not _names_joints(t):
                continue
            now, lists = newest[t.topic], _joint_lists(t)
            old = [names for names in lists if names not in now]
            new = [names for names in now if names not in lists]
            if not old:
                continue
            bag = Path(s.path).name
            if len(old) == len(new) == 1 and len(old[0]) == len(new[0]):
                gone, added = set(old[0]) - set(new[0]), set(new[0]) - set(old[0])
                if not gone and not added:
                    continue
                pairs = {o: n for o, n in zip(old[0], new[0], strict=True) if o in gone}
                if set(pairs.values()) <= added and \
                        all(renames.setdefault(o, n) == n for o, n in pairs.items()):
                    notes.append(f'{bag}: {t.topic} gives {old[0]} where the last bag gives '
                                 f'{new[0]} (paired by position: check)')
                    continue
            notes.append(f'{bag}: {t.topic} gives {old} where the last bag gives {now}: not '
                         'paired (map them by hand, or leave that bag out)')
    return {o: n for o, n in renames.items() if o not in current}, notes


def _aspect_note(size: tuple[int, int] | None, height: int = 96) -> list[str]:
    """The draft's comment on a camera that is not square: shape [96, 96] keeps the centre
    square of its frames (image_fit crops to the shape's aspect, then resizes), its sides cut."""
    if size is None or size[0] == size[1] or min(size) <= 0:
        return []
    w, h = size
    side = min(w, h)
    whole = [height, round(height * w / h)]
    return [f'    # {w}x{h}: [{height}, {height}] keeps the centre {side}x{side} of it (the rest '
            f'cut); shape: {whole} keeps the whole frame, a crop: a part of your choice']


def _gap_note(topic: TopicSummary, stale_after: float) -> str:
    """A note where the topic's longest interval leaves a grid time without a fresh enough
    message: longer than `stale_after` (the tolerance; for the reference camera, whose frames
    the grid times fall on, one period plus the tolerance)."""
    if topic.max_gap_s is None or topic.max_gap_s <= stale_after:
        return ''
    return f'; its longest gap ({topic.max_gap_s:.3f} s) exceeds the tolerance: a gap there'


def own_tolerance(topic: TopicSummary, tolerance: float) -> float | None:
    """A source's own tolerance for the draft where its period (1 / its rate) exceeds the
    config's: its newest message at a grid time is up to a period old, so with the config's
    tolerance most grid times would be gaps (two 10 Hz cameras out of phase converted to no
    episode). 1.2 periods (jitter), rounded up to the ms; None where the config's covers that
    (not where it covers only the period: a 20 Hz stream with 5 ms of jitter under a 0.05 s
    tolerance converted to 7 episodes of 258 steps where 0.06 s gives the one of 300)."""
    if not topic.rate_hz:
        return None
    own = math.ceil(1200.0 / topic.rate_hz) / 1000.0
    return own if own > tolerance else None


def _source_tolerance(topic: TopicSummary, tolerance: float, indent: str
                      ) -> tuple[float, list[str]]:
    """(the tolerance a source's samples are judged by, the draft's line giving it its own
    where own_tolerance does: none otherwise)."""
    own = own_tolerance(topic, tolerance)
    return (tolerance, []) if own is None else (own, [
        f'{indent}tolerance: {own:g}   # s: a {topic.rate_hz:.1f} Hz stream\'s newest message is '
        f'up to a period old, more with jitter (the config\'s {tolerance:g} s would leave steps '
        'gaps)'])


def draft_config(summaries: list[BagSummary],
                 control_period_s: float = Bag2ZarrConfig.control_period_s) -> str:
    """A commented bag2zarr YAML for these bags; UserError when they hold no camera or
    no joint states (the config then needs choices no scan can make)."""
    topics = _merge(summaries)
    images = [t for t in topics.values() if t.msgtype in IMAGE_TYPES and t.count]
    # a depth stream bag2zarr refuses as a camera: left out, said in a comment
    cameras = [t for t in images if camera_readable(t.msgtype, t.encoding)]
    not_cameras = [t for t in images if t not in cameras]
    # a camera recorded raw and through its compressed transport (`ros2 bag record -a`):
    # one key, the raw frames (no JPEG loss), the other said
    raw = {t.topic for t in cameras if not t.msgtype.endswith('CompressedImage')}
    twins = [t for t in cameras if t.msgtype.endswith('CompressedImage')
             and t.topic != camera_base(t.topic) and camera_base(t.topic) in raw]
    cameras = [t for t in cameras if t not in twins]
    states = sorted((d for t in topics.values() if t.msgtype in JOINT_STATE_TYPES and t.joints
                     for d in _by_driver(t)), key=lambda t: -t.count)
    commands = [t for t in topics.values() if t.msgtype in TRAJECTORY_TYPES and t.joints]
    markers = [t for t in topics.values() if t.msgtype in MARKER_TYPES]
    empty = [t.topic for t in topics.values() if not t.count
             and (t.msgtype in IMAGE_TYPES or t.msgtype in JOINT_STATE_TYPES)]
    if (not cameras or not states) and empty:
        raise UserError(f'a draft config needs a camera and a joint-state topic with messages; '
                        f'{", ".join(empty)} hold no message')
    if not cameras or not states:
        found = ', '.join(f'{t.topic} [{t.msgtype}'
                          + (f' {t.encoding}: not a camera image' if t in not_cameras else '')
                          + ']' for t in topics.values())
        raise UserError('a draft config needs a camera (sensor_msgs/Image or CompressedImage) '
                        'and a sensor_msgs/JointState topic; '
                        + (f'found {found}' if found else 'the bags hold no topic'))
    reference = min(cameras, key=lambda t: t.rate_hz or float('inf'))
    tolerance = control_period_s / 2  # bag2zarr's default: half a period of staleness
    # the arm's, its gripper's; two arms whose drivers name their joints alike, prefixed
    state_sources = _distinct_joints(states)
    state_joints = [prefix + j for t, _, prefix in state_sources for j in t.joints]
    q = json.dumps  # JSON strings and lists are YAML too, whatever the names hold
    bags = ', '.join(Path(s.path).name for s in summaries[:3])
    lines = [
        f'# dp-ros bag2zarr config drafted by `dp-ros inspect --draft-config` from {bags}'
        + (f' (+{len(summaries) - 3} more)' if len(summaries) > 3 else ''),
        '# Check every entry: the choices below are guesses from topic types and rates.',
        '',
        f"control_period_s: {control_period_s:g}        # s: the policy's control period",
        f'tolerance: {tolerance:g}              # s: a stream whose newest message is older '
        'than this at a grid time has a gap there',
        "align: at_or_before          # the policy node's rule",
        'grid_start: first_reference',
        'image_dtype: uint8',
        f'reference_topic: {q(reference.topic)}   # the slowest camera',
    ]
    if any(c.msgtype.endswith('/CompressedImage') for c in cameras):
        lines += ['damaged_frames: leave_out     # a JPEG a camera driver lost data of: left '
                  'out, said (refuse: stop)']
    renames, rename_notes = renamed_joints(summaries, topics)
    if rename_notes:
        lines += ['# joints named otherwise in earlier bags (a driver update?): their old names '
                  'read as the last bag\'s', *(f'#   {note}' for note in rename_notes)]
    if renames:
        lines += ['joint_renames:               # old name: the name the driver gives now',
                  *(f'  {q(o)}: {q(n)}' for o, n in renames.items())]
    lines += [
        '',
        'episodes:',
    ]
    if markers:
        lines += [f'  # marker: {q(markers[0].topic)}   # {markers[0].msgtype}: bounds '
                  'episodes inside a bag (else one episode per bag)']
    lines += ['  on_gap: split                # a gap ends one episode, the next starts after',
              '  min_steps: 10', '', 'keys:']
    taken: set[str] = set()
    for camera in sorted(cameras, key=lambda t: t.topic):
        name = _key_name(camera.topic, taken)
        taken.add(name)
        # the reference camera's frames are the grid times: one period plus the tolerance
        stale, own = (control_period_s + tolerance, []) if camera is reference else \
            _source_tolerance(camera, tolerance, '    ')
        lines += [f'  {name}:',
                  f'    image: {q(camera.topic)}   # {camera.detail}, '
                  f'{camera.rate_hz or 0:.1f} Hz' + _gap_note(camera, stale), *own,
                  '    shape: [96, 96]', *_aspect_note(camera.size),
                  '    # crop: [x0, y0, width, height]   # px: the workspace, cut first']
    for twin in sorted(twins, key=lambda t: t.topic):
        lines += [f'  # {q(twin.topic)} left out: the compressed transport of '
                  f'{q(camera_base(twin.topic))}, the same camera (read raw: no JPEG loss)']
    for image in sorted(not_cameras, key=lambda t: t.topic):
        lines += [f'  # {q(image.topic)} left out: {image.encoding or "its encoding"} is no '
                  'camera image bag2zarr reads (a depth stream; Image encodings: '
                  f'{", ".join(CAMERA_ENCODINGS)}, or a jpeg/png CompressedImage)']
    if len(state_sources) == 1:
        state = state_sources[0][0]
        stale, own = _source_tolerance(state, tolerance, '    ')
        lines += ['  state:',
                  f'    joint_state: {q(state.topic)}   # {state.rate_hz or 0:.1f} Hz'
                  + _gap_note(state, stale),
                  f'    joints: {q(state.joints)}', *_field_line(state, '    '), *own]
    else:
        lines += [f'  state:                # the joint states of {len(state_sources)} drivers, '
                  'concatenated (the policy node: state_joint_topics)']
        for state, _, prefix in state_sources:
            stale, own = _source_tolerance(state, tolerance, '      ')
            lines += [f'    - joint_state: {q(state.topic)}   # {state.rate_hz or 0:.1f} Hz'
                      + _gap_note(state, stale),
                      f'      joints: {q(state.joints)}', *_field_line(state, '      '), *own,
                      *_prefix_line(prefix)]
    future = ['  action:',
              '    future_of: state         # action[k] = the state one period later',
              f'    offset: {control_period_s:g}']
    controllers = _controllers(commands, state_joints)
    if len(controllers) == 1:  # what the policy node publishes: the policy learns the commands
        command, joints, _ = controllers[0]
        lines += ['  action:               # the commanded trajectory: the point due at each '
                  'grid time',
                  f'    joint_trajectory: {q(command.topic)}   # {command.rate_hz or 0:.1f} Hz',
                  f'    joints: {q(joints)}',
                  '  # or the state one period later:', *(f'  #{x[1:]}' for x in future)]
    elif controllers:
        lines += ['  action:               # the commanded trajectories of '
                  f'{len(controllers)} controllers, concatenated (the policy node: '
                  'action_joint_topics)']
        for command, joints, prefix in controllers:
            lines += [f'    - joint_trajectory: {q(command.topic)}   # '
                      f'{command.rate_hz or 0:.1f} Hz',
                      f'      joints: {q(joints)}', *_prefix_line(prefix)]
        lines += ['  # or the state one period later:', *(f'  #{x[1:]}' for x in future)]
    else:
        lines += future
    lines += _uncommanded_notes(state_sources, controllers, control_period_s)
    arrays = [t for t in topics.values() if t.msgtype in FLOAT_ARRAY_TYPES]
    for array in arrays:  # no names in the message: the user's to give
        lines += [f'  # a forward controller\'s commands ({array.msgtype}), e.g. a gripper\'s, as '
                  'a source of action:',
                  f'  #   - {{float_array: {q(array.topic)}, joints: [FILL IN: '
                  f'{_values(array.width)}], tolerance: {MAX_SECONDS:g}}}']
    for pose in (t for t in topics.values() if t.msgtype in POSE_TYPES and t.count):
        lines += [f"  # a pose ({pose.msgtype}), e.g. the end effector's, as a source of state "
                  '(the policy node: state_pose_topics), or a Cartesian target\'s as the '
                  'action (action_pose_topics):',
                  f'  #   - {{pose: {q(pose.topic)}, fields: [x, y, z, yaw]}}   # '
                  f'{pose.rate_hz or 0:.1f} Hz, {pose.detail}',
                  '  #     (a whole orientation: fields [x, y, z, r00, r10, r20, r01, r11, r21], '
                  'the rotation 6D)']
    return '\n'.join(lines) + '\n'


def _uncommanded_notes(state_sources: list[tuple[TopicSummary, list[str], str]],
                       controllers: list[tuple[TopicSummary, list[str], str]],
                       control_period_s: float) -> list[str]:
    """The draft's comment on a driver whose joints are in the state but in no recorded
    command (a gripper on its own driver, moved by a tool that was not recorded): the
    action as drafted leaves them out; its future state can be a second action source."""
    q = json.dumps  # as draft_config writes names
    commanded = {j for _, joints, _ in controllers for j in joints}
    notes = []
    for state, _, prefix in state_sources:
        if not controllers or state.joint_field != 'position' or any(
                prefix + j in commanded for j in state.joints):
            continue
        notes += [f'  # {q(state.joints)} ({state.topic}) are in the state, in no recorded '
                  'command: to learn them too, make the action a list, the source(s) above '
                  'then', f'  #   - {{joint_state: {q(state.topic)}, joints: '
                  f'{q(state.joints)}, offset: {control_period_s:g}}}   # the state one '
                  'period later']
    return notes


def _distinct_joints(topics: list[TopicSummary], state_joints: Sequence[str] = (),
                     ) -> list[tuple[TopicSummary, list[str], str]]:
    """The topics that carry distinct joints (an arm's and its gripper's), the one with the
    most joints first (where two overlap it wins: an aggregated /joint_states), then the
    busiest; each with its joints, those of `state_joints` (prefixed names) first and in that
    order, and its prefix: topics in namespaces of their own that name the very same joints
    (two arms whose drivers name their joints alike) are each taken, prefixed by their
    namespace ('/left/joint_states': 'left_')."""
    chosen, covered = [], set()
    for topic in sorted(topics, key=lambda t: (-len(t.joints), -t.count)):
        prefix = _alike_prefix(topic, topics)
        names = [prefix + j for j in topic.joints]
        if not covered & set(names):
            covered |= set(names)
            order = [j for j in state_joints if j in names]
            joints = order + [j for j in names if j not in order]
            chosen.append((topic, [j.removeprefix(prefix) for j in joints], prefix))
    return chosen


def _namespace(topic: str) -> str:
    """A topic's first namespace, '' at the root: '/left/arm/joint_states' -> 'left'."""
    parts = topic.strip('/').split('/')
    return parts[0] if len(parts) > 1 else ''


def _alike_prefix(topic: TopicSummary, topics: list[TopicSummary]) -> str:
    """'namespace_' when other topics name the same joints, each in a namespace of its own
    (two arms); '' otherwise (one arm, or the same joints republished: one is taken)."""
    alike = [_namespace(t.topic) for t in topics if set(t.joints) == set(topic.joints)]
    if len(alike) < 2 or '' in alike or len(set(alike)) != len(alike):
        return ''
    return f'{_namespace(topic.topic)}_'


def _field_line(state: TopicSummary, indent: str) -> list[str]:
    """`field: velocity` for a driver whose messages give no positions (a wheel's)."""
    return [] if state.joint_field == 'position' else [
        f'{indent}field: {state.joint_field}   # its messages give no positions']


def _prefix_line(prefix: str) -> list[str]:
    return [f'      prefix: {json.dumps(prefix)}   # two arms name these joints alike: '
            'the data\'s names are prefixed (the policy node: topic_name_prefixes)'] \
        if prefix else []


def _controllers(commands: list[TopicSummary], state_joints: list[str],
                 ) -> list[tuple[TopicSummary, list[str], str]]:
    """The trajectory topics that command distinct joints (_distinct_joints), each with its
    joints in the state's order, the topics in the order of their first joint in the state."""
    rank = {j: i for i, j in enumerate(state_joints)}
    return sorted(_distinct_joints(commands, state_joints),
                  key=lambda c: min(rank.get(c[2] + j, len(rank)) for j in c[1]))


def inspect_bags(paths: list[str], draft_path: Path | None, json_path: Path | None,
                 progress: bool, strict: bool = False) -> int:
    """The `dp-ros inspect` run for bags; the exit code: 1 with `strict` when a topic has a
    warning (as for a dataset: a pipeline stops on it), else 0."""
    summaries = [summarize_bag(p, progress) for p in find_bags(paths)]
    for s in summaries:
        print(format_bag(s))
    if json_path:
        from dataclasses import asdict

        write_text(json_path, json.dumps([asdict(s) for s in summaries], indent=1) + '\n')
    if draft_path:
        text = draft_config(summaries)
        write_text(draft_path, text)
        print(f'draft config: {draft_path} (check it, then: dp-ros bag2zarr -c {draft_path} '
              f'-o DATASET.zarr BAGS)')
    return 1 if strict and any(t.problems for s in summaries for t in s.topics) else 0
