"""`dp-ros bag2zarr`: recorded ROS 2 bags -> a zarr replay buffer that `dp-ros train` reads.

A YAML config maps topics to dataset keys (see config/bag2zarr_pusht.yaml). Every stream is
resampled onto the policy's control grid by header stamps; grid times where a stream has no
message within the tolerance are gaps, reported, and cut the episode or drop it.

The output changes all at once or not at all: episodes are written into a temporary store
beside the output (a copy of it when appending), which replaces the output by an atomic
rename at the very end. A corrupt bag, a missing topic or Ctrl-C leave the output as it was.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from dp_ros.atomic_dir import replace_dir
from dp_ros.bags.reader import (
    IMAGE_TYPES,
    JOINT_STATE_TYPES,
    MARKER_TYPES,
    POSE_FIELDS,
    POSE_TYPES,
    TRAJECTORY_TYPES,
    Bag,
    BagError,
    Stream,
    decode_image,
    decode_joint_state,
    decode_marker,
    decode_pose,
    decode_trajectory,
    find_bags,
    open_bag,
    read_streams,
)
from dp_ros.errors import UserError
from training.replay_buffer import NotAReplayBufferError, ReplayBuffer
from training.resample import (
    ALIGN_MODES,
    GAP_POLICIES,
    cut_episodes,
    grid_start,
    make_grid,
    marker_windows,
    rate_stats,
    recv_to_reference_stamps,
    recv_to_stamp_boundaries,
    sample_indices,
    trajectory_targets,
)

NS = 1_000_000_000
SOURCE_KINDS = {'image': IMAGE_TYPES, 'joint_state': JOINT_STATE_TYPES,
                'joint_trajectory': TRAJECTORY_TYPES, 'pose': POSE_TYPES}
IMAGE_DTYPES = ('float32', 'uint8')
JOINT_FIELDS = ('position', 'velocity', 'effort')


class ConfigError(UserError, ValueError):
    """The bag2zarr config is malformed; the message names the offending entry."""


# --- config ----------------------------------------------------------------------------------

@dataclass
class SourceConfig:
    """One topic feeding (part of) a dataset key."""

    kind: str  # image | joint_state | joint_trajectory | pose
    topic: str
    joints: list[str] = field(default_factory=list)  # joint_state, joint_trajectory
    joint_field: str = 'position'  # joint_state: position | velocity | effort
    fields: list[str] = field(default_factory=list)  # pose
    yaw_min: float = -math.pi  # pose: yaw wrapped into [yaw_min, yaw_min + 2 pi)
    shape: tuple[int, int] | None = None  # image (H, W)
    offset_s: float = 0.0  # sample at grid time + offset (future state: + control period)
    tolerance_s: float | None = None  # default: the config's tolerance

    @property
    def width(self) -> int:
        return len(self.joints) if self.kind in ('joint_state', 'joint_trajectory') \
            else len(self.fields)

    def slot(self) -> tuple:
        """Sources decoding a topic the same way share one decoded value."""
        return (self.kind, self.topic, tuple(self.joints), self.joint_field, tuple(self.fields),
                self.yaw_min, self.shape)


@dataclass
class KeyConfig:
    name: str
    sources: list[SourceConfig]  # concatenated along the last axis; images: exactly one
    dtype: str = 'float32'

    @property
    def is_image(self) -> bool:
        return self.sources[0].kind == 'image'


@dataclass
class EpisodeConfig:
    marker: str | None = None  # topic whose messages bound episodes inside a bag
    marker_role: str = 'end'  # end | start (std_msgs/Bool markers: true = start, false = end)
    on_gap: str = 'split'  # split | drop
    min_steps: int = 2


@dataclass
class Bag2ZarrConfig:
    keys: dict[str, KeyConfig]
    control_period_s: float = 0.1
    tolerance_s: float | None = None  # default: half the control period
    align: str = 'nearest'
    image_dtype: str = 'float32'  # float32 0..255 as the paper's Push-T set, or uint8
    reference_topic: str | None = None  # the grid starts at its first message (default: a camera)
    episodes: EpisodeConfig = field(default_factory=EpisodeConfig)

    @property
    def period_ns(self) -> int:
        return int(round(self.control_period_s * NS))

    def tolerance_ns(self, source: SourceConfig) -> int:
        tol = source.tolerance_s if source.tolerance_s is not None else self.tolerance_s
        return int(round((self.control_period_s / 2 if tol is None else tol) * NS))

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
    allowed = {kind, 'joints', 'field', 'fields', 'yaw_min', 'shape', 'offset', 'tolerance'}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f'{where}: unknown source option(s) {unknown} (known: '
                          f'{sorted(allowed)})')
    topic = raw[kind]
    if not isinstance(topic, str) or not topic.startswith('/'):
        raise ConfigError(f'{where}: topic must be an absolute name like /camera/image_raw, '
                          f'got {topic!r}')
    src = SourceConfig(kind=kind, topic=topic, offset_s=float(raw.get('offset', 0.0)),
                       tolerance_s=None if raw.get('tolerance') is None
                       else float(raw['tolerance']))
    if kind in ('joint_state', 'joint_trajectory'):
        joints = raw.get('joints')
        if not joints or not all(isinstance(j, str) for j in joints):
            raise ConfigError(f'{where}: {kind} {topic} needs joints: [names...], got {joints!r}')
        src.joints = list(joints)
        src.joint_field = str(raw.get('field', 'position'))
        if src.joint_field not in JOINT_FIELDS:
            raise ConfigError(f'{where}: field must be one of {JOINT_FIELDS}, got '
                              f'{src.joint_field!r}')
    elif kind == 'pose':
        fields_ = raw.get('fields', ['x', 'y', 'yaw'])
        bad = [f for f in fields_ if f not in POSE_FIELDS]
        if bad or not fields_:
            raise ConfigError(f'{where}: pose fields must be among {POSE_FIELDS}, got '
                              f'{fields_!r}')
        src.fields = list(fields_)
        src.yaw_min = float(raw.get('yaw_min', -math.pi))
    elif kind == 'image':
        shape = raw.get('shape')
        if shape is not None:
            if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                    or not all(isinstance(v, int) and v > 0 for v in shape)):
                raise ConfigError(f'{where}: image shape must be [height, width], got '
                                  f'{shape!r}')
            src.shape = (int(shape[0]), int(shape[1]))
    if src.tolerance_s is not None and src.tolerance_s < 0:
        raise ConfigError(f'{where}: tolerance must be >= 0 s, got {src.tolerance_s}')
    return src


def config_from_dict(raw: dict) -> Bag2ZarrConfig:
    """Parse and check a config mapping (the YAML file's content)."""
    if not isinstance(raw, dict):
        raise ConfigError(f'config must be a mapping, got {type(raw).__name__}')
    known = {'control_period', 'tolerance', 'align', 'image_dtype', 'reference_topic',
             'episodes', 'keys'}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f'unknown config key(s) {unknown} (known: {sorted(known)})')
    period = float(raw.get('control_period', 0.1))
    if not period > 0:
        raise ConfigError(f'control_period must be > 0 s, got {period}')
    image_dtype = str(raw.get('image_dtype', 'float32'))
    if image_dtype not in IMAGE_DTYPES:
        raise ConfigError(f'image_dtype must be one of {IMAGE_DTYPES}, got {image_dtype!r}')
    align = str(raw.get('align', 'nearest'))
    if align not in ALIGN_MODES:
        raise ConfigError(f'align must be one of {ALIGN_MODES}, got {align!r}')
    tolerance = raw.get('tolerance')
    if tolerance is not None and float(tolerance) < 0:
        raise ConfigError(f'tolerance must be >= 0 s, got {tolerance}')

    raw_keys = raw.get('keys')
    if not isinstance(raw_keys, dict) or not raw_keys:
        raise ConfigError('config needs keys: {dataset key: source or [sources]}')
    keys: dict[str, KeyConfig] = {}
    futures: dict[str, dict] = {}
    for name, spec in raw_keys.items():
        if isinstance(spec, dict) and 'future_of' in spec:
            futures[name] = spec
            continue
        specs = spec if isinstance(spec, list) else [spec]
        dtype = 'float32'
        if isinstance(spec, dict) and 'dtype' in spec:
            spec = dict(spec)
            dtype = str(spec.pop('dtype'))
            specs = [spec]
            try:
                np.dtype(dtype)
            except TypeError as exc:
                raise ConfigError(f'keys.{name}: dtype {dtype!r} is not a numpy dtype') from exc
        sources = [_source_from_dict(name, s) for s in specs]
        if not sources:
            raise ConfigError(f'keys.{name}: no sources')
        if any(s.kind == 'image' for s in sources):
            if len(sources) != 1:
                raise ConfigError(f'keys.{name}: an image key has exactly one image source')
            dtype = image_dtype
        keys[name] = KeyConfig(name, sources, dtype)
    for name, spec in futures.items():
        base = keys.get(spec['future_of'])
        if base is None or base.is_image:
            raise ConfigError(f"keys.{name}: future_of must name a non-image key, got "
                              f"{spec['future_of']!r} (keys: {sorted(keys)})")
        offset = float(spec.get('offset', period))
        keys[name] = KeyConfig(name, [SourceConfig(**{**asdict(s), 'offset_s': s.offset_s + offset})
                                      for s in base.sources], base.dtype)

    raw_ep = raw.get('episodes') or {}
    ep_known = {'marker', 'marker_role', 'on_gap', 'min_steps'}
    if set(raw_ep) - ep_known:
        raise ConfigError(f'unknown episodes option(s) {sorted(set(raw_ep) - ep_known)} '
                          f'(known: {sorted(ep_known)})')
    episodes = EpisodeConfig(marker=raw_ep.get('marker'),
                             marker_role=str(raw_ep.get('marker_role', 'end')),
                             on_gap=str(raw_ep.get('on_gap', 'split')),
                             min_steps=int(raw_ep.get('min_steps', 2)))
    if episodes.marker_role not in ('start', 'end'):
        raise ConfigError(f"episodes.marker_role must be 'start' or 'end', got "
                          f'{episodes.marker_role!r}')
    if episodes.on_gap not in GAP_POLICIES:
        raise ConfigError(f'episodes.on_gap must be one of {GAP_POLICIES}, got '
                          f'{episodes.on_gap!r}')
    if episodes.min_steps < 1:
        raise ConfigError(f'episodes.min_steps must be >= 1, got {episodes.min_steps}')
    config = Bag2ZarrConfig(keys=keys, control_period_s=period,
                            tolerance_s=None if tolerance is None else float(tolerance),
                            align=align, image_dtype=image_dtype,
                            reference_topic=raw.get('reference_topic'), episodes=episodes)
    config.grid_topic()  # fails early when nothing can set the grid
    return config


def load_config(path: str | Path) -> Bag2ZarrConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'config {path} is not valid YAML: {exc}') from exc
    try:
        return config_from_dict(raw)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f'config {path}: {exc}') from exc


# --- one bag -> episodes ---------------------------------------------------------------------

@dataclass
class TopicReport:
    topic: str
    msgtype: str
    count: int
    rate_hz: float
    drops: int
    max_gap_s: float
    stamped: bool  # False: header stamps missing, receive times used


@dataclass
class BagReport:
    path: str
    topics: list[TopicReport] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    trimmed_steps: int = 0
    gaps: list[dict] = field(default_factory=list)  # {t_s, steps, streams}
    dropped_steps: int = 0
    notes: list[str] = field(default_factory=list)


def _decoder(sources: list[SourceConfig], msgtype: str) -> Callable[[Any], tuple]:
    """One function per topic, decoding each distinct use of it once."""
    def one(src: SourceConfig) -> Callable[[Any], Any]:
        if src.kind == 'image':
            return lambda m: decode_image(m, msgtype, src.shape)
        if src.kind == 'joint_state':
            return lambda m: decode_joint_state(m, src.joints, src.joint_field)
        if src.kind == 'joint_trajectory':
            return lambda m: decode_trajectory(m, src.joints)
        return lambda m: decode_pose(m, src.fields, src.yaw_min)
    funcs = [one(s) for s in sources]
    return lambda m: tuple(f(m) for f in funcs)


def check_bag(bag: Bag, config: Bag2ZarrConfig) -> None:
    """Every topic present with a usable type, before anything is read."""
    for key, source in config.sources():
        bag.require(source.topic, SOURCE_KINDS[source.kind], f"key '{key}' ({source.kind})")
    bag.require(config.grid_topic(), [t for ts in SOURCE_KINDS.values() for t in ts],
                'reference_topic')
    if config.episodes.marker:
        bag.require(config.episodes.marker, MARKER_TYPES, 'episodes.marker')


@dataclass
class _Sorted:
    times: np.ndarray
    values: list[Any]
    recv: np.ndarray


def _sorted_stream(stream: Stream, ref: Stream | None = None) -> tuple[_Sorted, bool]:
    """Messages in time order; a stream without stamps is placed by its receive times,
    moved onto a stamped reference stream's clock when one is given."""
    times, stamped = stream.times_ns()
    if not stamped and ref is not None:
        ref_times, ref_stamped = ref.times_ns()
        if ref_stamped:
            times = recv_to_reference_stamps(times, np.asarray(ref.recv_ns, np.int64),
                                             ref_times)
    order = np.argsort(times, kind='stable')
    return (_Sorted(times[order], [stream.values[i] for i in order],
                    np.asarray(stream.recv_ns, dtype=np.int64)[order]), stamped)


def convert_bag(bag: Bag, config: Bag2ZarrConfig, progress: bool = True,
                ) -> tuple[list[dict[str, np.ndarray]], BagReport]:
    """The bag's episodes (key -> array) on the control grid, and what happened to its data."""
    report = BagReport(str(bag.path))
    episodes = list(iter_bag_episodes(bag, config, report, progress=progress))
    return episodes, report


def iter_bag_episodes(bag: Bag, config: Bag2ZarrConfig, report: BagReport,
                      progress: bool = True, dtypes: dict[str, np.dtype] | None = None,
                      ) -> Iterator[dict[str, np.ndarray]]:
    """Episodes one at a time (a bag's frames are decoded once, then gathered per episode).

    dtypes overrides the config's per key (an existing store's dtypes when appending).
    """
    check_bag(bag, config)
    by_topic: dict[str, list[SourceConfig]] = {}
    slots: dict[tuple, tuple[str, int]] = {}  # source slot -> (topic, index in decoded tuple)
    for _, source in config.sources():
        if source.slot() in slots:
            continue
        uses = by_topic.setdefault(source.topic, [])
        slots[source.slot()] = (source.topic, len(uses))
        uses.append(source)
    grid_topic = config.grid_topic()
    decoders = {t: _decoder(s, bag.topics[t].msgtype) for t, s in by_topic.items()}
    if grid_topic not in decoders:
        decoders[grid_topic] = lambda m: ()
    marker = config.episodes.marker
    if marker:
        marker_type = bag.topics[marker].msgtype
        decoders[marker] = lambda m: decode_marker(m, marker_type)
    streams = read_streams(bag, decoders, progress=progress)

    sorted_streams: dict[str, _Sorted] = {}
    stamped: dict[str, bool] = {}
    for topic, stream in streams.items():
        sorted_streams[topic], stamped[topic] = _sorted_stream(
            stream, None if topic == marker else streams[grid_topic])
        if len(stream) == 0 and topic != marker:
            raise BagError(f'bag {bag.path}: topic {topic} has no messages')
    windows, domain = _episode_windows(streams, config, grid_topic, report)
    for topic, stream in streams.items():
        data = sorted_streams[topic]
        if topic == marker:
            stats = rate_stats(data.recv)
        else:
            times = data.times if domain == 'stamp' else data.recv
            stats = rate_stats([data.times[(times >= lo) & (times < hi)] for lo, hi in windows])
        report.topics.append(TopicReport(topic, stream.msgtype, len(stream), stats.rate_hz,
                                         stats.drops, stats.max_gap_s, stamped[topic]))
        if not stamped[topic] and topic != marker:
            how = ('receive times used' if not stamped[grid_topic]
                   else f'placed at the {grid_topic} stamp last received before each')
            report.notes.append(f'{topic}: header stamps are zero, {how}')

    dtypes = {**{k: np.dtype(v.dtype) for k, v in config.keys.items()}, **(dtypes or {})}
    for lo, hi in windows:
        for episode in _window_episodes(sorted_streams, slots, config, grid_topic, lo, hi,
                                        domain, report, dtypes):
            report.episode_lengths.append(len(next(iter(episode.values()))))
            yield episode


def _episode_windows(streams: dict[str, Stream], config: Bag2ZarrConfig, grid_topic: str,
                     report: BagReport) -> tuple[list[tuple[float, float]], str]:
    """[lo, hi) windows and their time domain ('stamp' or 'recv')."""
    marker = config.episodes.marker
    if not marker:
        return [(-np.inf, np.inf)], 'stamp'
    stream = streams[marker]
    marker_recv = np.asarray(stream.recv_ns, dtype=np.int64)
    roles = ['start' if v is True else 'end' if v is False else '' for v in stream.values]
    default = 'bool' if stream.msgtype == 'std_msgs/msg/Bool' else config.episodes.marker_role
    ref = streams[grid_topic]
    ref_times, _ = ref.times_ns()  # in bag order, as the receive times
    stamped = [st for t, st in streams.items() if t != marker and st.times_ns()[1]]
    all_recv = np.concatenate([np.asarray(st.recv_ns, np.int64) for st in stamped] or [[]])
    all_stamps = np.concatenate([st.times_ns()[0] for st in stamped] or [[]])
    boundaries = recv_to_stamp_boundaries(marker_recv, np.asarray(ref.recv_ns, np.int64),
                                          ref_times, all_recv, all_stamps,
                                          config.period_ns // 2)
    if boundaries is None:
        report.notes.append(f'{grid_topic} stamps go backwards: episodes split by receive time')
        return marker_windows(marker_recv, roles, default), 'recv'
    return marker_windows(boundaries, roles, default), 'stamp'


def _in_window(data: _Sorted, lo: float, hi: float, domain: str) -> _Sorted:
    times = data.times if domain == 'stamp' else data.recv
    keep = np.flatnonzero((times >= lo) & (times < hi))
    return _Sorted(data.times[keep], [data.values[i] for i in keep], data.recv[keep])


def _window_episodes(sorted_streams: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
                     config: Bag2ZarrConfig, grid_topic: str, lo: float, hi: float,
                     domain: str, report: BagReport, dtypes: dict[str, np.dtype],
                     ) -> Iterator[dict[str, np.ndarray]]:
    local = {t: _in_window(d, lo, hi, domain) for t, d in sorted_streams.items()}
    ref = local[grid_topic]
    if len(ref.times) == 0:
        report.notes.append('an episode window holds no message of the reference topic')
        return
    # to half a period past the last message: its stamp may be jittered early
    grid = make_grid(grid_start(ref.times, config.period_ns),
                     int(ref.times[-1]) + config.period_ns // 2, config.period_ns)
    columns: dict[str, list[np.ndarray]] = {}
    valid = np.ones(len(grid), dtype=bool)
    invalid_by: dict[str, np.ndarray] = {}
    for key, source in config.sources():
        topic, slot = slots[source.slot()]
        data = local[topic]
        at = grid + int(round(source.offset_s * NS))
        tol = config.tolerance_ns(source)
        if source.kind == 'joint_trajectory':
            targets = [v[slot] for v in data.values]
            stamps = np.array([t[0] for t in targets], dtype=np.int64)
            dues = [t[1] for t in targets]
            if targets and not stamps.any():  # stamp 0 is "now": when it was received
                dues = [d - s + r for d, s, r in zip(dues, stamps, data.times, strict=True)]
                stamps = data.times
            # early grid times (jitter) find their point, never the next step's
            slack = min(tol, config.period_ns // 2 - 1)
            values, ok = trajectory_targets(stamps, dues, [t[2] for t in targets], at, tol,
                                            source.width, slack)
        else:
            index, ok = sample_indices(data.times, at, tol, config.align)
            if source.kind == 'image':
                values = index  # frames are gathered per episode, not per grid step
            else:
                width = source.width
                table = (np.stack([v[slot] for v in data.values]) if data.values
                         else np.zeros((0, width)))
                values = table[index] if len(table) else np.zeros((len(grid), width))
        columns.setdefault(key, []).append(values)
        valid &= ok
        invalid_by[source.topic] = invalid_by.get(source.topic, np.zeros(len(grid), bool)) | ~ok

    cut = cut_episodes(valid, config.episodes.on_gap, config.episodes.min_steps)
    report.trimmed_steps += cut.trimmed_steps
    report.dropped_steps += cut.dropped_steps
    for a, b in cut.gaps:
        report.gaps.append({'t_s': round(float(grid[a]) / NS, 6), 'steps': b - a,
                            'streams': sorted(t for t, bad in invalid_by.items()
                                              if bad[a:b].any())})
    if cut.reason:
        report.notes.append(cut.reason)

    for a, b in cut.ranges:
        episode: dict[str, np.ndarray] = {}
        for name, key in config.keys.items():
            if key.is_image:
                topic, slot = slots[key.sources[0].slot()]
                frames = local[topic].values
                idx = columns[name][0][a:b]
                first = frames[idx[0]][slot]
                out = np.empty((b - a,) + first.shape, dtype=dtypes[name])
                for i, j in enumerate(idx):
                    out[i] = frames[j][slot]  # converts to the stored dtype on the way
                episode[name] = out
            else:
                parts = [c[a:b] for c in columns[name]]
                episode[name] = np.concatenate(parts, axis=1).astype(dtypes[name])
        yield episode


# --- atomic output ---------------------------------------------------------------------------

@contextmanager
def staged_store(output: Path, overwrite: bool) -> Iterator[tuple[Path, bool]]:
    """(temporary store path, appending): the caller fills it; it replaces output on success.

    The temporary store lives beside the output (same file system, so the swap is a rename)
    and is removed whatever happens before the swap.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f'.{output.name}.bag2zarr-{os.getpid()}-{uuid.uuid4().hex[:8]}')
    appending = output.exists() and not overwrite
    try:
        if appending:
            ReplayBuffer.open(output, mode='r')  # refuse anything that is not a replay buffer
            shutil.copytree(output, tmp, symlinks=True)
        yield tmp, appending
        replace_dir(tmp, output)
    finally:
        _remove_tree(tmp)


def _remove_tree(path: Path, attempts: int = 20) -> None:
    """Remove a temporary store, also while zarr's I/O thread still finishes a write into
    it (an interrupt stops the main thread only)."""
    for _ in range(attempts):
        if not path.exists():
            return
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.05)


# --- the command -----------------------------------------------------------------------------

@dataclass
class ConversionSummary:
    output: str
    appended_to_existing: bool
    bags: list[BagReport]
    episodes_added: int
    steps_added: int
    total_episodes: int
    total_steps: int
    keys: dict[str, list]  # key -> [step shape, dtype]

    def to_dict(self) -> dict:
        return asdict(self)


def _check_keys(buffer: ReplayBuffer, config: Bag2ZarrConfig, output: Path) -> None:
    if buffer.n_episodes == 0:
        return
    have, want = set(buffer.keys()), set(config.keys)
    if have != want:
        raise BagError(f'cannot append to {output}: it holds keys {sorted(have)}, the config '
                       f'makes {sorted(want)}')


def _match_store(buffer: ReplayBuffer, episode: dict[str, np.ndarray], output: Path,
                 ) -> dict[str, np.ndarray]:
    """Episodes take the existing store's dtypes; shapes must agree."""
    if buffer.n_episodes == 0:
        return episode
    out = {}
    for key, value in episode.items():
        arr = buffer.data[key]
        if tuple(arr.shape[1:]) != value.shape[1:]:
            raise BagError(f'cannot append to {output}: data/{key} has step shape '
                           f'{tuple(arr.shape[1:])}, the bags give {value.shape[1:]}')
        out[key] = value.astype(arr.dtype, copy=False)
    return out


class _Pending:
    """Episodes held in memory until flushed into the store.

    A fresh store is written in one pass (ReplayBuffer.save_to: every chunk compressed once,
    about twice as fast as appending episode by episode, which rewrites the chunk an episode
    ends in); appends, and batches beyond the memory limit, go episode by episode.
    """

    def __init__(self, limit_bytes: int, progress: bool = True):
        self.limit_bytes = limit_bytes
        self.progress = progress
        self.episodes: list[dict[str, np.ndarray]] = []
        self.nbytes = 0

    def add(self, episode: dict[str, np.ndarray]) -> None:
        self.episodes.append(episode)
        self.nbytes += sum(v.nbytes for v in episode.values())

    @property
    def full(self) -> bool:
        return self.nbytes >= self.limit_bytes

    def flush(self, store: ReplayBuffer | None, path: Path) -> ReplayBuffer | None:
        episodes, self.episodes, self.nbytes = self.episodes, [], 0
        if not episodes:
            return store
        if store is None:
            ends = np.cumsum([len(next(iter(e.values()))) for e in episodes])
            data = {k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}
            episodes.clear()
            ReplayBuffer.from_arrays(data, ends).save_to(
                path, progress=None if self.progress else False)
            return ReplayBuffer.open(path, mode='r+')
        for episode in episodes:
            store.add_episode(episode)
        return store


def convert(bag_paths: Sequence[str | Path], config: Bag2ZarrConfig, output: str | Path,
            overwrite: bool = False, progress: bool = True,
            memory_limit_mb: float = 1024,
            reports: list[BagReport] | None = None) -> ConversionSummary:
    """Convert bags into output (appending when it exists); all or nothing.

    reports, when given, receives each bag's report as it is made (also on failure).
    """
    output = Path(output)
    bags = find_bags(bag_paths)
    if not bags:
        raise BagError('no bags given')
    for path in bags:  # every topic checked before anything is read or written
        with open_bag(path) as bag:
            check_bag(bag, config)
    reports = [] if reports is None else reports
    added_eps = added_steps = 0
    pending = _Pending(int(memory_limit_mb * 2**20), progress)
    with staged_store(output, overwrite) as (tmp, appending):
        store = ReplayBuffer.open(tmp, mode='r+') if appending else None
        if store is not None:
            _check_keys(store, config, output)
        for path in tqdm(bags, desc='bags', unit='bag', disable=not progress or len(bags) < 2):
            report = BagReport(str(path))
            reports.append(report)
            with open_bag(path) as bag:
                dtypes = ({k: np.dtype(v.dtype) for k, v in store.data.items()}
                          if store is not None else None)
                for episode in iter_bag_episodes(bag, config, report, progress, dtypes):
                    if store is not None:
                        episode = _match_store(store, episode, output)
                    pending.add(episode)
                    added_eps += 1
                    added_steps += len(next(iter(episode.values())))
                    if pending.full:
                        store = pending.flush(store, tmp)
        if added_eps == 0:
            raise BagError('no episode survived the conversion (see the gaps and notes in the '
                           'summary)')
        store = pending.flush(store, tmp)
        summary = ConversionSummary(
            output=str(output), appended_to_existing=appending, bags=reports,
            episodes_added=added_eps, steps_added=added_steps,
            total_episodes=store.n_episodes, total_steps=store.n_steps,
            keys={k: [list(v.shape[1:]), str(v.dtype)] for k, v in store.data.items()})
    return summary


def format_summary(summary: ConversionSummary) -> str:
    lines = [format_reports(summary.bags)]
    action = 'appended to' if summary.appended_to_existing else 'wrote'
    lines.append(f'{action} {summary.output}: +{summary.episodes_added} episodes, '
                 f'+{summary.steps_added} steps; now {summary.total_episodes} episodes, '
                 f'{summary.total_steps} steps')
    lines.append('keys: ' + ', '.join(f'{k} {tuple(s)} {d}' for k, (s, d) in
                                      summary.keys.items()))
    return '\n'.join(lines)


def format_reports(reports: Sequence[BagReport]) -> str:
    """Per bag: episodes, per-topic rates and drops, gaps, trimmed and dropped steps."""
    lines = []
    for report in reports:
        lens = report.episode_lengths
        lines.append(f'{report.path}: {len(lens)} episode(s), {sum(lens)} steps'
                     + (f' (lengths {lens})' if 1 < len(lens) <= 12 else ''))
        for t in report.topics:
            lines.append(f'  {t.topic:<36} {t.count:6d} msgs {t.rate_hz:7.2f} Hz  '
                         f'drops {t.drops:<4d} max gap {t.max_gap_s:.3f} s'
                         + ('' if t.stamped else '  (receive times)'))
        if report.trimmed_steps:
            lines.append(f'  trimmed {report.trimmed_steps} step(s) at episode ends '
                         '(streams start/stop at different times)')
        for gap in report.gaps:
            lines.append(f"  gap at t={gap['t_s']:.3f} s: {gap['steps']} step(s) without "
                         f"{', '.join(gap['streams'])}")
        if report.dropped_steps:
            lines.append(f'  dropped {report.dropped_steps} step(s)')
        for note in report.notes:
            lines.append(f'  note: {note}')
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dp-ros bag2zarr', description=__doc__.splitlines()[0],
        epilog='An existing output is appended to (keys must match) unless --overwrite. The '
               'output is replaced atomically at the end: errors and Ctrl-C leave it as it was.')
    parser.add_argument('bags', nargs='+', type=Path,
                        help='bag directories (metadata.yaml + .mcap/.db3) or folders of them')
    parser.add_argument('-c', '--config', type=Path, required=True,
                        help='YAML topic -> key mapping (e.g. config/bag2zarr_pusht.yaml)')
    parser.add_argument('-o', '--output', type=Path, required=True, help='zarr replay buffer')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the output instead of appending to it')
    parser.add_argument('--image-dtype', choices=IMAGE_DTYPES, default=None,
                        help='override the config: float32 0..255 (paper) or uint8')
    parser.add_argument('--summary-json', type=Path, default=None,
                        help='also write the summary as JSON here')
    parser.add_argument('--memory-limit-mb', type=float, default=1024,
                        help='episodes held in memory before writing (default 1024 MB)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reports: list[BagReport] = []
    try:
        config = load_config(args.config)
        if args.image_dtype:
            config.image_dtype = args.image_dtype
            for key in config.keys.values():
                if key.is_image:
                    key.dtype = args.image_dtype
        summary = convert(args.bags, config, args.output, overwrite=args.overwrite,
                          progress=not args.no_progress, memory_limit_mb=args.memory_limit_mb,
                          reports=reports)
    except (BagError, ConfigError, NotAReplayBufferError, FileExistsError,
            FileNotFoundError) as exc:
        if reports:
            print(format_reports(reports))
        print(f'dp-ros bag2zarr: error: {exc}', file=sys.stderr)
        print(f'dp-ros bag2zarr: {args.output} was not changed', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'dp-ros bag2zarr: interrupted; {args.output} was not changed', file=sys.stderr)
        return 130
    print(format_summary(summary))
    if args.summary_json is not None:
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps(summary.to_dict(), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
