"""Which topics a dataset's arrays were recorded from: sources that travel with the data.

bag2zarr records, per array, the topics its values came from and how (zarr attrs `sources`:
[{kind, topic, width}], in column order); training copies them into the checkpoint's
shape_meta; `dp-ros inspect POLICY --draft-params` fills the node's topic parameters from
them; the policy node compares its topic parameters with them at start. A robot may rename
its topics (another namespace, a sim), so other names are a warning; the recorded cameras in
another order are an error: each image would feed the other camera's encoder. Base layer:
plain Python.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dp_ros.dimension_names import JOINT_STATE_FIELDS
from dp_ros.pose_fields import UNIT_FIELDS

# The field's name in zarr array attrs and in a checkpoint's shape_meta entries.
SOURCES = 'sources'
# a pose source's yaw wrap, [yaw_min, yaw_min + 2 pi) (present where it gives yaw)
YAW_MIN = 'yaw_min'
# a pose source's header.frame_id (present where the bags named one)
FRAME_ID = 'frame_id'
# a joint_state source's JointState field (position, velocity or effort; absent in data
# recorded before fields were: unknown)
FIELD = 'field'
# a joint source's name prefix: its message names a joint 'waist', the data 'left_waist' (two
# arms whose drivers name their joints alike; absent: none)
PREFIX = 'prefix'
# a camera source's frame size [height, width] as recorded, before any crop or resize
# (absent: not recorded, or the camera changed size): a crop box is in these pixels. A
# shape_meta rgb entry without sources may carry its own: a LeRobot video's size, the frames
# as the camera gave them and training read them (entry_frame_size)
FRAME_SIZE = 'frame_size'
# a source's gap tolerance (s) bag2zarr sampled it with: a sample older than this at a grid
# time was a gap, never training data (the node refuses such an observation alike)
TOLERANCE_S = 'tolerance_s'
# a source's message rate (Hz, from the median interval) in its slowest bag: the policy node
# warns when its input comes much slower (older samples at the observation times than in
# training: a camera driver at 15 fps where the data was recorded at 30)
RATE_HZ = 'rate_hz'
# a source's sampling offset (s): its values are the topic's at grid time + offset (a future
# state as the action: one control period); absent in data recorded before offsets were
OFFSET_S = 'offset_s'
# a source's alignment rule (bag2zarr's `align`: 'at_or_before' or 'nearest'; a float_array
# always 'at_or_before'; absent for a joint_trajectory, whose rule is the point due, and in
# data recorded before it was): the two rules pick other samples of one bag, so an append
# under another is refused. Kept in the store, not copied into a checkpoint (check_sources)
ALIGN = 'align'
# a source of the topic bag2zarr's control grid sat on (`reference: true`; absent: another
# topic's, or data recorded before it was said): training paired this topic's samples, fresh
# at each grid time, with the others' at or before it, so the policy node anchors its
# observation on that stream alike (observation_history: reference)
REFERENCE = 'reference'
# the bags' stamps were a sim's time (`sim_time: true`; absent: a wall clock's, or data
# recorded before it was said): the robot ran with use_sim_time, and the drafted node
# parameters say use_sim_time: true alike (recorded_topics' use_sim_time)
SIM_TIME = 'sim_time'
# sources whose topic the policy node publishes to (the recorded commands)
COMMAND_KINDS = ('joint_trajectory', 'float_array', 'pose')


def check_sources(sources: object, width: int | None, where: str) -> list[dict] | None:
    """`sources` as a list of {kind, topic, width[, yaw_min, frame_id, field, prefix,
    frame_size, tolerance_s, rate_hz, offset_s, reference, sim_time]} whose widths add up to
    `width` (an image: one source, width None), or None (not recorded). ValueError naming
    `where` otherwise."""
    if sources is None:
        return None
    problem = ('it is no list' if not isinstance(sources, (list, tuple))
               else 'it is empty' if not sources
               else next((f'source {i}: {p}' for i, p in enumerate(
                   _source_problem(s, image=width is None) for s in sources) if p), None))
    if problem:
        raise ValueError(f'{where}: {SOURCES} must be a list of {{kind, topic, width}} with '
                         f'absolute topics (a {FIELD} among {JOINT_STATE_FIELDS}); {problem}, '
                         f'got {sources!r}')
    if width is None:
        if len(sources) != 1:
            raise ValueError(f'{where}: an image has one source, got {len(sources)}')
    elif sum(s['width'] for s in sources) != width:
        raise ValueError(f'{where}: {SOURCES} widths {[s.get("width") for s in sources]} do '
                         f'not add up to the {width} values')
    return [{'kind': s['kind'], 'topic': s['topic'], 'width': s.get('width'),
             **({YAW_MIN: float(s[YAW_MIN])} if YAW_MIN in s else {}),
             **({FRAME_ID: s[FRAME_ID]} if FRAME_ID in s else {}),
             **({FIELD: s[FIELD]} if FIELD in s else {}),
             **({PREFIX: s[PREFIX]} if s.get(PREFIX) else {}),
             **({FRAME_SIZE: [int(v) for v in s[FRAME_SIZE]]} if FRAME_SIZE in s else {}),
             **({TOLERANCE_S: float(s[TOLERANCE_S])} if TOLERANCE_S in s else {}),
             **({RATE_HZ: float(s[RATE_HZ])} if RATE_HZ in s else {}),
             **({OFFSET_S: float(s[OFFSET_S])} if OFFSET_S in s else {}),
             **({REFERENCE: True} if s.get(REFERENCE) else {}),
             **({SIM_TIME: True} if s.get(SIM_TIME) else {})}
            for s in sources]


def frame_size(sources: Sequence[dict] | None) -> tuple[int, int] | None:
    """A camera's recorded (height, width), from its sources (None: not recorded)."""
    size = sources[0].get(FRAME_SIZE) if sources else None
    return None if size is None else (int(size[0]), int(size[1]))


def entry_frame_size(value: object, where: str) -> tuple[int, int] | None:
    """A shape_meta rgb entry's own FRAME_SIZE as (height, width); None: absent. ValueError
    naming `where` for anything but two positive whole numbers."""
    if value is None:
        return None
    if not _is_size(value):
        raise ValueError(f'{where}: {FRAME_SIZE} must be [height, width] in pixels, got '
                         f'{value!r}')
    return int(value[0]), int(value[1])


def tolerance_ns(sources: Sequence[dict] | None, topic: str | None = None) -> int | None:
    """The gap tolerance (ns) recorded sources were sampled with: `topic`'s (several sources
    of it, positions and velocities of one joint-state topic: the smallest, as bag2zarr
    dropped a step where any of them had a gap; the largest let the node serve a state
    training dropped), or without one (or a topic they do not name) the largest; None: not
    recorded."""
    found = [float(s[TOLERANCE_S]) for s in sources or () if TOLERANCE_S in s
             and (topic is None or s['topic'] == topic)]
    if not found and topic is not None:
        return tolerance_ns(sources)
    if not found:
        return None
    return int(round((max(found) if topic is None else min(found)) * 1e9))


def rate_hz(sources: Sequence[dict] | None, topic: str | None = None) -> float | None:
    """The recorded message rate (Hz) of `topic` among sources, or without one of the one
    topic they name; None: not recorded (older data, a topic the data does not name, or
    several topics and none given)."""
    topics = {s['topic'] for s in sources or ()}
    if topic is None:
        if len(topics) != 1:
            return None
        topic = topics.pop()
    found = [float(s[RATE_HZ]) for s in sources or () if RATE_HZ in s and s['topic'] == topic]
    return min(found) if found else None


def on_sim_time(sources: Sequence[dict] | None) -> bool:
    """Whether recorded sources say their bags' stamps were a sim's time (SIM_TIME)."""
    return any(s.get(SIM_TIME) for s in sources or ())


def is_reference(sources: Sequence[dict] | None, topic: str | None = None) -> bool:
    """Whether recorded sources (of `topic` only, where given) include the grid's reference
    topic (REFERENCE)."""
    return any(s.get(REFERENCE) for s in sources or () if topic is None or s['topic'] == topic)


def yaw_wraps(sources: Sequence[dict] | None) -> list[tuple[str, float]]:
    """(topic, yaw_min) of each source that recorded a yaw wrap, once each, in order: a
    policy node wraps every pose of its state with one state_yaw_min, so more than one value
    here is data it cannot run."""
    return list(dict.fromkeys((s['topic'], s[YAW_MIN]) for s in sources or () if YAW_MIN in s))


def wraps_differ(wraps: Sequence[tuple[str, float]]) -> bool:
    """More than one yaw_min among `wraps` (yaw_wraps' pairs): data a policy node cannot run
    as its state, which it wraps with its one state_yaw_min."""
    return len({yaw_min for _, yaw_min in wraps}) > 1


def describe_yaw_wraps(wraps: Sequence[tuple[str, float]]) -> str:
    """'/left/ee_pose from 0, /right/ee_pose from -3.14159': for messages."""
    return ', '.join(f'{topic} from {yaw_min:g}' for topic, yaw_min in wraps)


def _source_problem(s: object, image: bool) -> str | None:
    """What makes `s` no source of an image's (width None) or a low-dim array's (a width of
    values, a positive whole number: a width-less one would be counted 0 in the sum and 1
    by the per-value lists); None: nothing."""
    if not isinstance(s, dict):
        return 'is no mapping'
    checks = (
        ('kind', lambda v: isinstance(v, str) and v != '', 'a name'),
        ('topic', lambda v: isinstance(v, str) and v.startswith('/'), 'an absolute topic'),
        ('width', (lambda v: v is None) if image else _is_count,
         'null (an image has none)' if image else 'a positive whole number'),
        (YAW_MIN, _is_finite, 'a finite angle'),
        (FRAME_ID, lambda v: isinstance(v, str), 'a string'),
        (FIELD, lambda v: v in JOINT_STATE_FIELDS, f'one of {JOINT_STATE_FIELDS}'),
        (PREFIX, lambda v: isinstance(v, str), 'a string'),
        (FRAME_SIZE, _is_size, '[height, width] in pixels'),
        (TOLERANCE_S, _is_non_negative, 'a finite number >= 0'),
        (RATE_HZ, lambda v: _is_non_negative(v) and v > 0, 'a finite number > 0'),
        (OFFSET_S, _is_finite, 'a finite number'),
        (REFERENCE, lambda v: isinstance(v, bool), 'true or false'),
        (SIM_TIME, lambda v: isinstance(v, bool), 'true or false'))
    required = ('kind', 'topic') if image else ('kind', 'topic', 'width')
    for key, ok, what in checks:
        if (key in s or key in required) and not ok(s.get(key)):
            return f'its {key} {s.get(key)!r} is not {what}'
    return None


def _is_non_negative(value: object) -> bool:
    return _is_finite(value) and value >= 0


def _is_finite(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_size(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_count, value))


def value_sources(sources: Sequence[dict]) -> list[dict]:
    """The source of each value, in column order (a source gives `width` columns, an image's
    its one)."""
    return [s for s in sources for _ in range(s['width'] or 1)]


def value_topics(sources: Sequence[dict]) -> list[str]:
    """The topic of each value, in column order."""
    return [s['topic'] for s in value_sources(sources)]


def value_fields(sources: Sequence[dict]) -> list[str | None]:
    """The JointState field of each value, in column order (None: not a joint state, or its
    field not recorded)."""
    return [s.get(FIELD) if s['kind'] == 'joint_state' else None
            for s in value_sources(sources)]


def sliced_sources(sources: Sequence[dict], columns: slice, width: int,
                   names: Sequence[str] | None = None) -> list[dict] | None:
    """The sources of columns `columns` (a training key's 'state[2:4]') of a `width`-wide
    array: each source that gives some of them, with the width it keeps, so the per-value
    topics, fields and prefixes stay those of the kept values (velocities stay velocities
    for the node). A pose that keeps no yaw (by `names`, the array's) loses its yaw_min.
    None: a slice with a step (no run of columns per source)."""
    if columns.step not in (None, 1):
        return None
    start, stop, _ = columns.indices(width)
    out, first = [], 0
    for s in sources:
        n = s['width'] or 1
        lo, hi = max(start, first), min(stop, first + n)
        if lo < hi:
            kept = {**s, 'width': hi - lo if s['width'] is not None else None}
            if (YAW_MIN in s and names is not None
                    and not any(name.removeprefix(s.get(PREFIX, '')) == 'yaw'
                                for name in names[lo:hi])):
                del kept[YAW_MIN]
            out.append(kept)
        first += n
    return out


def value_prefixes(sources: Sequence[dict]) -> list[str]:
    """The name prefix of each value's topic, in column order ('': none)."""
    return [s.get(PREFIX, '') for s in sources for _ in range(s['width'] or 1)]


def command_topics(sources: Sequence[dict] | None, state_topics: Sequence[str] = (),
                   ) -> tuple[list[str], list[str], list[str]] | None:
    """(topic per action value, the float_array topics, the pose topics among them) when
    every action source is a recorded command the node can publish; None otherwise (a future
    state as the action: a joint state, or a pose from one of `state_topics`; or nothing
    recorded)."""
    if not sources or not all(_is_command(s, state_topics) for s in sources):
        return None

    def topics(kind: str) -> list[str]:
        return list(dict.fromkeys(s['topic'] for s in sources if s['kind'] == kind))

    return value_topics(sources), topics('float_array'), topics('pose')


def _is_command(source: dict, state_topics: Sequence[str]) -> bool:
    """Whether an action source is a recorded command the node can publish (not a future
    state: a joint state, or a pose from one of `state_topics`)."""
    return source['kind'] in COMMAND_KINDS and not (
        source['kind'] == 'pose' and source['topic'] in state_topics)


def command_topic_values(sources: Sequence[dict] | None, state_topics: Sequence[str] = (),
                         ) -> list[str | None] | None:
    """The recorded command topic of each action value, None for a value whose source is a
    future state (a gripper without a recorded command beside an arm's trajectory), when
    some source is a command: what a drafted parameter file keeps; None when none is."""
    if not sources or not any(_is_command(s, state_topics) for s in sources):
        return None
    return [s['topic'] if _is_command(s, state_topics) else None
            for s in sources for _ in range(s['width'] or 1)]


def camera_base(topic: str) -> str:
    """An image_transport topic's base: /cam/image_raw/compressed -> /cam/image_raw (a
    camera recorded compressed and read raw, or the other way round, is the same camera)."""
    return topic.removesuffix('/compressed')


def compare_sources(recorded: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """The node's topic parameters against the recorded ones: warnings (other names), or
    ValueError (the recorded cameras in another order).

    recorded/given hold any of: 'image_topics' (one per camera), 'state_joint_topics' (one
    per state joint), 'state_pose_topics', 'action_joint_topics' (one per action joint),
    'action_stream_topics', 'action_pose_topics', 'state_name_prefixes',
    'action_name_prefixes' (one per value); a recorded value of None was not recorded."""
    warnings = []
    cams, live = recorded.get('image_topics'), given.get('image_topics')
    if cams and None not in cams and live is not None:  # raw or compressed: the same camera
        cams, live = [camera_base(t) for t in cams], [camera_base(t) for t in live]
    if cams and None not in cams and live is not None and live != cams:
        if sorted(live) == sorted(cams):
            raise ValueError(f'parameter image_topics {list(live)} lists the cameras the '
                             f'checkpoint was recorded with in another order ({list(cams)}): '
                             'each image would feed the other camera\'s encoder; give them in '
                             'the recorded order')
        warnings.append(f'parameter image_topics {list(live)} is not the topics the training '
                        f'data was recorded from ({list(cams)}): make sure each is the same '
                        'camera, in that order')
    want, have = recorded.get('state_joint_topics'), given.get('state_joint_topics')
    if want is not None and have is not None and want != have:
        warnings.append(f'parameter {_state_parameter(have)} is not what the training data '
                        f'was recorded from ({_state_parameter(want, named=False)})')
    for key in ('state_pose_topics', 'action_joint_topics', 'action_stream_topics',
                'action_pose_topics'):
        want, have = recorded.get(key), given.get(key)
        if want is not None and have is not None and want != have:
            warnings.append(f'parameter {key} {have} is not what the training data was '
                            f'recorded from ({want})')
    for what in ('state', 'action'):  # per value: how its topic's names were prefixed
        want, have = recorded.get(f'{what}_name_prefixes'), given.get(f'{what}_name_prefixes')
        if want is not None and have is not None and want != have:
            warnings.append(f'parameter topic_name_prefixes puts {have} before the {what} '
                            f'joints\' names in the messages, the training data {want} (per '
                            f'value): make sure the drivers name the joints as the prefixes '
                            'say')
    return warnings


def _state_parameter(topics: Sequence[str], named: bool = True) -> str:
    """Per-joint state topics as the node's parameters say them: one topic is
    joint_state_topic, several are state_joint_topics."""
    if len(set(topics)) == 1:
        return f'joint_state_topic {topics[0]}' if named else topics[0]
    return f'state_joint_topics {list(topics)}' if named else str(list(topics))


def unit_rotation_columns(names: Sequence[str] | None, sources: Sequence[dict] | None
                          ) -> list[int]:
    """The columns that are a pose source's quaternion or rotation matrix entries (in [-1, 1]
    whatever the pose): the paper's code leaves rotations unnormalized (its robomimic
    absolute actions: position min-max, rotation 6D identity; quaternion observations
    identity). [] when the names or sources were not recorded."""
    if not names or not sources:
        return []
    kinds = [s['kind'] for s in sources for _ in range(s['width'] or 1)]
    return [i for i, (name, kind, prefix) in enumerate(zip(names, kinds, value_prefixes(sources),
                                                           strict=True))
            if kind == 'pose' and name.removeprefix(prefix) in UNIT_FIELDS]
