"""The `dp-ros bag2zarr` config: which topics make which dataset keys, on which time grid.

A YAML file (config/bag2zarr_pusht.yaml, config/bag2zarr_example_arm.yaml) parsed into the
dataclasses below, checked before any bag is opened; every error names the entry.
"""
from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dp_ros.bags.reader import (
    FLOAT_ARRAY_TYPES,
    IMAGE_TYPES,
    JOINT_STATE_TYPES,
    POSE_TYPES,
    TRAJECTORY_TYPES,
)
from dp_ros.dimension_names import JOINT_STATE_FIELDS, joint_value_name
from dp_ros.errors import UserError
from dp_ros.image_fit import check_crop
from dp_ros.pose_fields import POSE_FIELDS
from dp_ros.safe_yaml import safe_load
from dp_ros.stamps import NS_PER_S as NS
from training.deprecated_keys import DeprecatedKeyWarning, rename_deprecated
from training.resample import (
    ALIGN_ALIASES,
    ALIGN_MODES,
    AT_OR_BEFORE,
    GAP_POLICIES,
    GRID_STARTS,
    MARKER_ROLES,
)

SOURCE_KINDS = {'image': IMAGE_TYPES, 'joint_state': JOINT_STATE_TYPES,
                'joint_trajectory': TRAJECTORY_TYPES, 'pose': POSE_TYPES,
                'float_array': FLOAT_ARRAY_TYPES}
JOINT_KINDS = ('joint_state', 'joint_trajectory', 'float_array')  # sources that name joints
_COMMON = {'offset', 'tolerance'}
# The YAML options each kind of source reads (SourceConfig documents them); any other is
# refused rather than silently ignored ('fields: [velocity]' on a joint state).
SOURCE_OPTIONS = {'image': {'shape', 'crop'} | _COMMON,
                  'joint_state': {'joints', 'field', 'prefix'} | _COMMON,
                  'joint_trajectory': {'joints', 'prefix'} | _COMMON,
                  'float_array': {'joints', 'prefix'} | _COMMON,
                  'pose': {'fields', 'yaw_min', 'prefix'} | _COMMON}
IMAGE_DTYPES = ('float32', 'uint8')
# what bag2zarr does with a damaged JPEG frame (dp_ros/jpeg_decode.py)
DAMAGED_FRAME_POLICIES = ('leave_out', 'refuse')
# old top-level key -> new: still read, with a DeprecationWarning
RENAMED = {'control_period': 'control_period_s'}
MAX_SECONDS = 3600.0  # the longest control period, offset or gap tolerance taken
MIN_PERIOD_S = 1e-6  # the shortest control period (1 MHz): the grid is in whole ns


class ConfigError(UserError, ValueError):
    """The bag2zarr config is malformed; the message names the offending entry."""


@dataclass
class SourceConfig:
    """One topic feeding (part of) a dataset key: `{<kind>: /topic, options...}` in YAML.

    Attributes:
        kind: how a message becomes values, and the message types accepted:
            'image' (sensor_msgs/Image or CompressedImage -> (H, W, 3) RGB 0..255),
            'joint_state' (sensor_msgs/JointState -> one value per joint),
            'joint_trajectory' (trajectory_msgs/JointTrajectory -> the point due at each
            grid time, one value per joint), 'pose' (geometry_msgs/PoseStamped -> fields),
            'float_array' (std_msgs/Float64MultiArray or Float32MultiArray, a ros2_control
            forward_command_controller's commands -> its values: the newest sent at or
            before the grid time, whatever `align` says, as the controller holds it; give it
            a `tolerance` as long as the pauses between commands, e.g. a gripper's).
        topic: absolute topic name, e.g. /camera/image_raw.
        joints: joint_state, joint_trajectory: joint names, in the column order wanted;
            float_array: one name per value of the message, in its order.
        joint_field: joint_state (YAML 'field'): 'position', 'velocity' or 'effort', in the
            message's units (rad or m, per s, N or N m). A velocity or effort value is named
            'joint.velocity' / 'joint.effort', so one key may hold a joint's position and
            velocity (two sources of one topic), and the policy node reads each value from
            its field (state_fields).
        prefix: joint_state, joint_trajectory, float_array, pose: put before each joint's
            name (a pose's: each field's) in the data, not in the messages ('left_': the
            message's 'waist' is the data's 'left_waist', a pose's x 'left_x'): two arms
            whose drivers name their joints alike, or two end effectors' poses, become
            distinct values; recorded with the topic, whence the policy node's
            topic_name_prefixes (drafted by `dp-ros inspect --draft-params`) reads and
            commands them alike. Default '' (the names as the messages give them).
        fields: pose: among x, y, z (the pose's units), qx, qy, qz, qw (taken with qw >= 0:
            q and -q are one rotation), yaw (rad, about z), r00..r22 (the rotation matrix's
            entry r<row><column>; two columns, r00, r10, r20, r01, r11, r21, are the rotation
            6D of Zhou et al. 2019: an orientation with no jump, unlike a quaternion at 180
            degrees or a yaw at its wrap). Default [x, y, yaw].
        yaw_min: pose: yaw is wrapped into [yaw_min, yaw_min + 2 pi), rad. Default -pi.
        shape: image: [height, width] in pixels; the frame is fitted to it as the policy
            node fits camera images to the checkpoint's size (centre crop to the aspect,
            then resize: dp_ros.image_fit.fit_image); None: as recorded (or the crop's size).
        crop: image (YAML 'crop'): [x0, y0, width, height] in camera pixels, cut from each
            frame before the fit (the workspace, so that the policy's pixels are spent on
            it); recorded on the image array (attrs camera_crop), whence training puts it in
            the checkpoint and the policy node cuts the same box from the live camera.
            None: the whole frame.
        offset_s: (YAML 'offset') sample at grid time + offset, in s, within +-3600; a
            future state as the action is the state at + one control period. Only for what
            will be the action: the policy node takes every observation at the observation
            time (an image's offset is refused here, training refuses an observation key
            recorded at one). Default 0.
        tolerance_s: (YAML 'tolerance') this source's gap tolerance in s, 0 .. 3600; None: the
            config's.
    """

    kind: str
    topic: str
    joints: list[str] = field(default_factory=list)
    joint_field: str = 'position'
    prefix: str = ''
    fields: list[str] = field(default_factory=list)
    yaw_min: float = -math.pi
    shape: tuple[int, int] | None = None
    crop: tuple[int, int, int, int] | None = None
    offset_s: float = 0.0
    tolerance_s: float | None = None

    @property
    def value_names(self) -> list[str]:
        """One name per value after the prefix: the joints (a joint state's velocity or
        effort: 'joint.field'), or the pose fields (dp_ros/dimension_names.py)."""
        if self.kind == 'joint_state':
            return [joint_value_name(self.prefix + j, self.joint_field) for j in self.joints]
        if self.kind in JOINT_KINDS:
            return [self.prefix + j for j in self.joints]
        return [self.prefix + f for f in self.fields]

    @property
    def width(self) -> int:
        return len(self.value_names)

    def slot(self) -> tuple:
        """Sources decoding a topic the same way share one decoded value."""
        return (self.kind, self.topic, tuple(self.joints), self.joint_field, tuple(self.fields),
                self.yaw_min, self.shape, self.crop)


@dataclass
class KeyConfig:
    """One dataset array, data/<name>: `keys: {name: source | [sources] | future_of}`.

    Attributes:
        name: the zarr array's name (e.g. img, state, action).
        sources: concatenated along the last axis, in order; an image key has exactly one.
            YAML `{future_of: key, offset: s}` copies another (non-image) key's sources,
            sampled `offset` s later (default control_period_s): a future state as action.
        dtype: the stored numpy dtype (YAML 'dtype' beside a single source), a number's
            (float, int, uint or bool); images: the config's image_dtype (a dtype beside an
            image source that is not it is refused). Default float32.
    """

    name: str
    sources: list[SourceConfig]
    dtype: str = 'float32'

    @property
    def is_image(self) -> bool:
        return self.sources[0].kind == 'image'

    @property
    def value_names(self) -> list[str] | None:
        """The names of a non-image key's values, its sources' in order; None when two
        sources repeat a name (one joint's one field twice, or a joint state's position and
        a command of the same joint: no single name)."""
        names = [n for s in self.sources for n in s.value_names]
        return None if self.is_image or len(set(names)) != len(names) else names


@dataclass
class EpisodeConfig:
    """How a bag's timeline becomes episodes (the YAML `episodes:` section).

    Attributes:
        marker: topic whose messages bound episodes inside a bag (std_msgs String, Bool or
            Empty); None: one episode per bag.
        marker_role: 'end' (each message ends an episode) or 'start'; std_msgs/Bool
            markers ignore it: true starts, false ends, a repeat of either changes nothing
            (a level published now and then); so do the words start/begin and end/stop
            (any case) on a String topic that says both.
        on_gap: at grid times where a stream has no message within tolerance: 'split' the
            episode around the gap, or 'drop' the whole episode.
        min_steps: shorter pieces are dropped, in control steps, >= 1. Default 2.
    """

    marker: str | None = None
    marker_role: str = 'end'
    on_gap: str = 'split'
    min_steps: int = 2


@dataclass
class Bag2ZarrConfig:
    """The whole YAML file (config/bag2zarr_*.yaml).

    Attributes:
        keys: the dataset arrays, by name (at least one).
        control_period_s: seconds between grid times, the policy's control period, 1e-6 ..
            3600 (0.1: 10 Hz). The old YAML key 'control_period' is still read, with a
            DeprecationWarning.
        tolerance_s: (YAML 'tolerance') a stream without a message this close (s) to a grid
            time has a gap there, 0 .. 3600; None: half the control period.
        align: how an observation stream is sampled at a grid time: 'at_or_before' (the
            newest message stamped at or before it, the policy node's own rule:
            dp_ros/runtime/alignment.py) or 'nearest' (the closest either side: an offline
            choice, not what the node sees). The old value 'previous' is read as
            'at_or_before', with a DeprecationWarning. Default 'at_or_before'.
        grid_start: 'first_reference' (grid time k = the reference topic's first stamp in
            the episode + k * control_period_s) or 'reference_phase' (the first stamp moved
            to the reference's mean phase modulo the period, and with align 'at_or_before' on
            to the 95th percentile of the stamps' phases, so each frame is at or before its
            step: only for a reference published at the control rate with jittered stamps;
            a sample up to a tenth of the period after a grid time stands in where none before
            it is within the tolerance, as in the node). Steps before every stream has a
            sample (a camera that starts late) are trimmed; the grid keeps its phase.
        image_dtype: 'float32' (0..255, as the paper's Push-T set) or 'uint8' (4x smaller).
        reference_topic: the topic whose first message starts the grid; None: a camera,
            else a joint_state, else a pose topic.
        episodes: how episodes are cut.
        damaged_frames: a JPEG frame libjpeg finds damaged (a camera driver that lost data,
            dp_ros/jpeg_decode.py): 'leave_out' (as if it had not come: its steps take the
            frame before it within the tolerance; the report says how many and which) or
            'refuse' (the conversion stops naming the bag, topic and message). Default
            'leave_out'.
        joint_renames: {old name: name} for joints a driver update renamed (e.g.
            {joint1: shoulder_pan_joint}): a joint_state or joint_trajectory message that
            lacks a source's joint `name` but gives `old name` is read as giving it, so bags
            recorded before and after the update make one store under the sources' (new)
            names, the names the policy node then sees on the arm. Several old names may
            lead to one name (renamed twice); none may be a name a source reads. Default {}.
    """

    keys: dict[str, KeyConfig]
    control_period_s: float = 0.1
    tolerance_s: float | None = None
    align: str = AT_OR_BEFORE
    grid_start: str = 'first_reference'
    image_dtype: str = 'float32'
    reference_topic: str | None = None
    episodes: EpisodeConfig = field(default_factory=EpisodeConfig)
    joint_renames: dict[str, str] = field(default_factory=dict)
    damaged_frames: str = 'leave_out'

    @property
    def period_ns(self) -> int:
        return int(round(self.control_period_s * NS))

    def tolerance_ns(self, source: SourceConfig) -> int:
        tol = source.tolerance_s if source.tolerance_s is not None else self.tolerance_s
        return int(round((self.control_period_s / 2 if tol is None else tol) * NS))

    def align_of(self, source: SourceConfig) -> str | None:
        """The rule `source` is sampled by: a float_array's command is in force from when it
        was sent (at_or_before whatever `align` says), a joint_trajectory gives the point due
        (None: no alignment), any other source follows `align`."""
        if source.kind == 'joint_trajectory':
            return None
        return AT_OR_BEFORE if source.kind == 'float_array' else self.align

    @functools.cached_property
    def _old_names(self) -> dict[str, list[str]]:
        """joint_renames the other way: name -> its old names (made once, not per message)."""
        olds: dict[str, list[str]] = {}
        for old, new in self.joint_renames.items():
            olds.setdefault(new, []).append(old)
        return olds

    def names_in(self, message_names: Sequence[str], joints: Sequence[str]) -> list[str]:
        """The names to look `joints` up by in a message naming `message_names`: each joint
        itself, or where the message lacks it, an old name of it (joint_renames) that the
        message gives; a joint given under neither keeps its name (the decoder's error then
        names it). Called per joint message: without renames, `joints` at once."""
        olds = self._old_names
        if not olds:
            return list(joints)
        given = set(message_names)
        return [j if j in given else next((o for o in olds.get(j, ()) if o in given), j)
                for j in joints]

    def sources(self) -> Iterator[tuple[str, SourceConfig]]:
        for key in self.keys.values():
            for source in key.sources:
                yield key.name, source

    def grid_topic(self) -> str:
        if self.reference_topic:
            return self.reference_topic
        candidates = [s for _, s in self.sources() if s.offset_s == 0]
        for kind in ('image', 'joint_state', 'pose'):
            for source in candidates:
                if source.kind == kind:
                    return source.topic
        raise ConfigError('no topic can set the control grid: give reference_topic')


def _number(value: Any, where: str, whole: bool = False) -> float:
    """A finite number of the unit the entry's name says (s, rad): '10Hz' or '50ms' is an
    error, not a traceback. A numeric string is read (PyYAML parses 5e-2 as one). whole: an
    integer ('ten' or 2.5 is an error: int() would truncate 2.5 to 2)."""
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number) and (number.is_integer() or not whole):
                return number
    raise ConfigError(f'{where} must be a {"whole " if whole else ""}number, got {value!r}')


def _seconds(value: Any, where: str) -> float:
    """A time in s (a period, an offset, a tolerance) of at most MAX_SECONDS either way: a
    day-long one is a typo, and past int64 nanoseconds it is no grid at all."""
    seconds = _number(value, where)
    if abs(seconds) > MAX_SECONDS:
        raise ConfigError(f'{where} must be within {MAX_SECONDS:g} s, got {seconds:g}')
    return seconds


def _integer(value: Any, where: str) -> int:
    return int(_number(value, where, whole=True))


def _names(value: Any, where: str) -> list[str]:
    """A YAML list of names: a lone string ('joints: gripper') is an error, not split into
    its characters."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where} must be a list of names like [a, b], got {value!r}')
    return list(value)


def _topic_or_none(value: Any, where: str) -> str | None:
    """An optional absolute topic name (reference_topic, episodes.marker); '' reads as none."""
    if value not in (None, '') and (not isinstance(value, str) or not value.startswith('/')):
        raise ConfigError(f'{where} must be an absolute topic name like /camera/image_raw, '
                          f'got {value!r}')
    return value


def _source_from_dict(key: str, raw: Any) -> SourceConfig:
    where = f'keys.{key}'
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: a source must be a mapping like {{image: /topic}}, got '
                          f'{raw!r}')
    kinds = [k for k in SOURCE_KINDS if k in raw]
    if len(kinds) != 1:
        raise ConfigError(f'{where}: a source names exactly one of {list(SOURCE_KINDS)} with '
                          f'its topic, got keys {sorted(raw)}')
    kind = kinds[0]
    every = {option for options in SOURCE_OPTIONS.values() for option in options}
    unknown = sorted(set(raw) - every - set(SOURCE_KINDS))
    if unknown:
        raise ConfigError(f'{where}: unknown source option(s) {unknown} (known: '
                          f'{sorted(every)})')
    foreign = sorted(set(raw) - SOURCE_OPTIONS[kind] - {kind})
    if foreign:
        raise ConfigError(f'{where}: option(s) {foreign} do not apply to {kind} sources '
                          f'(their options: {sorted(SOURCE_OPTIONS[kind])})')
    topic = raw[kind]
    if not isinstance(topic, str) or not topic.startswith('/'):
        raise ConfigError(f'{where}: topic must be an absolute name like /camera/image_raw, '
                          f'got {topic!r}')
    tolerance = raw.get('tolerance')
    src = SourceConfig(kind=kind, topic=topic,
                       offset_s=_seconds(raw.get('offset', 0.0), f'{where}: offset'),
                       tolerance_s=None if tolerance is None
                       else _seconds(tolerance, f'{where}: tolerance'))
    if kind in JOINT_KINDS:
        joints = raw.get('joints')
        if not joints:
            raise ConfigError(f'{where}: {kind} {topic} needs joints: [names...], got {joints!r}')
        src.joints = _names(joints, f'{where}: joints')
        src.joint_field = str(raw.get('field', 'position'))  # only a joint_state has one
        if src.joint_field not in JOINT_STATE_FIELDS:
            raise ConfigError(f'{where}: field must be one of {JOINT_STATE_FIELDS}, got '
                              f'{src.joint_field!r}')
    elif kind == 'pose':
        fields_ = _names(raw.get('fields', ['x', 'y', 'yaw']), f'{where}: fields')
        bad = [f for f in fields_ if f not in POSE_FIELDS]
        if bad or not fields_:
            raise ConfigError(f'{where}: pose fields must be among {POSE_FIELDS}, got '
                              f'{fields_!r}')
        src.fields = fields_
        src.yaw_min = _number(raw.get('yaw_min', -math.pi), f'{where}: yaw_min')
    elif kind == 'image':
        if src.offset_s != 0:  # an image is never the action: always an observation
            raise ConfigError(f'{where}: image {topic} has offset {src.offset_s:g} s, but a '
                              'camera is an observation, which the policy node takes at the '
                              'observation time (it applies no offset, nor sees ahead); an '
                              'offset is for the action (a future state)')
        shape = raw.get('shape')
        if shape is not None:
            if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                               for v in shape)):
                raise ConfigError(f'{where}: image shape must be [height, width], got '
                                  f'{shape!r}')
            src.shape = (int(shape[0]), int(shape[1]))
        try:
            src.crop = check_crop(raw.get('crop'), f'{where}: crop')
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    src.prefix = raw.get('prefix', '')
    if not isinstance(src.prefix, str) or src.prefix != src.prefix.strip():
        raise ConfigError(f'{where}: prefix must be a string without spaces around it '
                          f"(e.g. 'left_'), got {src.prefix!r}")
    if src.tolerance_s is not None and src.tolerance_s < 0:
        raise ConfigError(f'{where}: tolerance must be >= 0 s, got {src.tolerance_s}')
    return src


def _check_distinct_names(key: str, sources: list[SourceConfig]) -> None:
    """Two sources of one kind on two topics giving a value one name (two arms whose drivers
    name their joints alike, two end effectors' poses) would make a key with no single name
    per value: ConfigError asking for prefixes."""
    seen: dict[tuple[str, str], str] = {}
    for s in sources:
        for name in s.value_names if s.kind != 'image' else ():
            other = seen.setdefault((s.kind, name), s.topic)
            if other != s.topic:
                raise ConfigError(
                    f'keys.{key}: {s.kind} sources {other} and {s.topic} both give a value '
                    f"named {name!r} (two arms whose drivers name their joints alike?): give "
                    "each a prefix (e.g. prefix: left_ and prefix: right_) so that every value "
                    'has a name of its own')


def _joint_renames(raw: Any, keys: dict[str, KeyConfig]) -> dict[str, str]:
    """joint_renames checked against the sources: a renamed-to name no joint source reads
    (a typo would rename nothing, silently), or an old name a source reads (a message giving
    both would say one joint twice), is an error."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in raw.items()):
        raise ConfigError(f'joint_renames must map old joint names to names, like '
                          f'{{joint1: shoulder_pan_joint}}, got {raw!r}')
    # a float_array's values go by position, not name: no rename reaches them
    read = {j for key in keys.values() for s in key.sources
            if s.kind in ('joint_state', 'joint_trajectory') for j in s.joints}
    for old, new in raw.items():
        if new not in read:
            raise ConfigError(f'joint_renames: {old!r} -> {new!r}, but no joint_state or '
                              f'joint_trajectory source reads {new!r} (they read '
                              f'{sorted(read)})')
        if old in read:
            raise ConfigError(f'joint_renames: {old!r} -> {new!r}, but a source reads {old!r} '
                              'itself: a joint has one name in the store')
    return dict(raw)


def config_from_dict(raw: dict, origin: str = '') -> Bag2ZarrConfig:
    """Parse and check a config mapping (the YAML file's content; `origin`: its path)."""
    if not isinstance(raw, dict):
        raise ConfigError(f'config must be a mapping, got {type(raw).__name__}')
    raw = rename_deprecated(raw, RENAMED, origin=origin, error=ConfigError, stacklevel=3)
    known = {'control_period_s', 'tolerance', 'align', 'grid_start', 'image_dtype',
             'reference_topic', 'episodes', 'keys', 'joint_renames', 'damaged_frames'}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f'unknown config key(s) {unknown} (known: {sorted(known)})')
    period = _seconds(raw.get('control_period_s', 0.1), 'control_period_s')
    if not period >= MIN_PERIOD_S:
        raise ConfigError(f'control_period_s must be >= {MIN_PERIOD_S:g} s, got {period:g}')
    image_dtype = str(raw.get('image_dtype', 'float32'))
    if image_dtype not in IMAGE_DTYPES:
        raise ConfigError(f'image_dtype must be one of {IMAGE_DTYPES}, got {image_dtype!r}')
    damaged_frames = raw.get('damaged_frames', 'leave_out')
    if damaged_frames not in DAMAGED_FRAME_POLICIES:
        raise ConfigError(f'damaged_frames must be one of {DAMAGED_FRAME_POLICIES}, got '
                          f'{damaged_frames!r}')
    align = str(raw.get('align', AT_OR_BEFORE))
    if align in ALIGN_ALIASES:
        prefix = f'{origin}: ' if origin else ''
        warnings.warn(f"{prefix}align: '{align}' is the old name of '{ALIGN_ALIASES[align]}'; "
                      'rename it in the config', DeprecatedKeyWarning, stacklevel=3)
        align = ALIGN_ALIASES[align]
    if align not in ALIGN_MODES:
        raise ConfigError(f'align must be one of {ALIGN_MODES}, got {align!r}')
    grid_start = str(raw.get('grid_start', GRID_STARTS[0]))
    if grid_start not in GRID_STARTS:
        raise ConfigError(f'grid_start must be one of {GRID_STARTS}, got {grid_start!r}')
    tolerance = raw.get('tolerance')
    if tolerance is not None:
        tolerance = _seconds(tolerance, 'tolerance')
    if tolerance is not None and tolerance < 0:
        raise ConfigError(f'tolerance must be >= 0 s, got {tolerance}')

    raw_keys = raw.get('keys')
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise ConfigError('config needs keys: {dataset key: source or [sources]}')
    keys: dict[str, KeyConfig] = {}
    futures: dict[str, dict] = {}
    for name, spec in raw_keys.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f'keys: a key name must be a string, got {name!r}')
        if '/' in name or name.startswith('.') or name != name.strip():
            # zarr would nest data/<a>/<b> (a group the store does not list) or hide it
            raise ConfigError(f"keys: {name!r} cannot name an array of the store (no '/', no "
                              "leading '.' or spaces): e.g. cam_front or cam.front")
        if isinstance(spec, dict) and 'future_of' in spec:
            futures[name] = spec
            continue
        specs = spec if isinstance(spec, list) else [spec]
        dtype, dtype_given = 'float32', isinstance(spec, dict) and 'dtype' in spec
        if dtype_given:
            spec = dict(spec)
            dtype = str(spec.pop('dtype'))
            specs = [spec]
            try:
                kind = np.dtype(dtype).kind
            except TypeError as exc:
                raise ConfigError(f'keys.{name}: dtype {dtype!r} is not a numpy dtype') from exc
            if kind not in 'biuf':  # 'str' parses, and stored the values as text
                raise ConfigError(f'keys.{name}: dtype {dtype!r} holds no number (a key '
                                  'stores numbers: float32, float64, an int or bool dtype)')
        sources = [_source_from_dict(name, s) for s in specs]
        if not sources:
            raise ConfigError(f'keys.{name}: no sources')
        if any(s.kind == 'image' for s in sources):
            if len(sources) != 1:
                raise ConfigError(f'keys.{name}: an image key has exactly one image source')
            if dtype_given and dtype != image_dtype:
                raise ConfigError(f'keys.{name}: an image key is stored as the config\'s '
                                  f'image_dtype ({image_dtype}), not a dtype of its own: give '
                                  f'image_dtype: {dtype}' if dtype in IMAGE_DTYPES else
                                  f'keys.{name}: an image key is stored as the config\'s '
                                  f'image_dtype, one of {IMAGE_DTYPES}, not {dtype!r}')
            dtype = image_dtype
        _check_distinct_names(name, sources)
        keys[name] = KeyConfig(name, sources, dtype)
    for name, spec in futures.items():
        if set(spec) - {'future_of', 'offset'}:
            raise ConfigError(f"keys.{name}: a future_of key takes only future_of and offset "
                              f"(it copies the other key's sources and dtype), got "
                              f"{sorted(set(spec) - {'future_of', 'offset'})}")
        base = keys.get(spec['future_of']) if isinstance(spec['future_of'], str) else None
        if base is None or base.is_image:
            raise ConfigError(f"keys.{name}: future_of must name a non-image key, got "
                              f"{spec['future_of']!r} (keys: {sorted(keys)})")
        offset = _seconds(spec.get('offset', period), f'keys.{name}: offset')
        keys[name] = KeyConfig(name, [SourceConfig(**{**asdict(s), 'offset_s': s.offset_s + offset})
                                      for s in base.sources], base.dtype)

    raw_ep = raw.get('episodes') or {}
    if not isinstance(raw_ep, dict):
        raise ConfigError(f'episodes must be a mapping like {{marker: /topic}}, got {raw_ep!r}')
    ep_known = {'marker', 'marker_role', 'on_gap', 'min_steps'}
    if set(raw_ep) - ep_known:
        raise ConfigError(f'unknown episodes option(s) {sorted(set(raw_ep) - ep_known)} '
                          f'(known: {sorted(ep_known)})')
    episodes = EpisodeConfig(
        marker=_topic_or_none(raw_ep.get('marker'), 'episodes.marker'),
        marker_role=str(raw_ep.get('marker_role', 'end')),
        on_gap=str(raw_ep.get('on_gap', 'split')),
        min_steps=_integer(raw_ep.get('min_steps', 2), 'episodes.min_steps'))
    if episodes.marker_role not in MARKER_ROLES:
        raise ConfigError(f"episodes.marker_role must be {' or '.join(map(repr, MARKER_ROLES))}, "
                          f'got {episodes.marker_role!r}')
    if episodes.on_gap not in GAP_POLICIES:
        raise ConfigError(f'episodes.on_gap must be one of {GAP_POLICIES}, got '
                          f'{episodes.on_gap!r}')
    if episodes.min_steps < 1:
        raise ConfigError(f'episodes.min_steps must be >= 1, got {episodes.min_steps}')
    config = Bag2ZarrConfig(keys=keys, control_period_s=period,
                            tolerance_s=tolerance, align=align, grid_start=grid_start,
                            image_dtype=image_dtype, episodes=episodes,
                            reference_topic=_topic_or_none(raw.get('reference_topic'),
                                                           'reference_topic'),
                            joint_renames=_joint_renames(raw.get('joint_renames'), keys),
                            damaged_frames=damaged_frames)
    config.grid_topic()  # fails early when nothing can set the grid
    return config


def load_config(path: str | Path) -> Bag2ZarrConfig:
    """The config in a YAML file; any problem is a ConfigError naming the file."""
    path = Path(path)
    try:
        raw = safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'config {path} is not valid YAML: {exc}') from exc
    try:
        return config_from_dict(raw, origin=str(path))
    except (TypeError, KeyError) as exc:
        raise ConfigError(f'config {path}: {exc}') from exc

