"""One bag -> episodes on the control grid, and a report of what happened to its data.

Every stream is sampled on the grid by header stamps (receive times when a driver leaves
them unset: on a real robot as they are, in a sim moved onto the stamped reference stream's
clock, training/resample.py place_unstamped): the grid is t0 + k * period,
t0 by the config's grid_start rule; an observation stream gives its newest message at or
before each grid time (the policy node's rule, dp_ros/runtime/alignment.py, with its jitter
allowance), a trajectory the point due then. Grid times where a stream has no message
within the tolerance are gaps, reported, and cut the episode or drop it. Episode markers
bound episodes inside a bag.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dp_ros.bags.reader import (
    FLOAT_ARRAY_TYPES,
    MARKER_TYPES,
    Bag,
    BagError,
    BagReadError,
    Stream,
    decode_float_array,
    decode_image,
    decode_joint_state,
    decode_marker,
    decode_trajectory,
    read_streams,
)
from dp_ros.jpeg_decode import DamagedJpeg
from dp_ros.pose_fields import decode_pose
from dp_ros.runtime.alignment import jitter_allowance_ns
from dp_ros.stamps import stamp_to_ns
from training.bag2zarr_config import NS, SOURCE_KINDS, Bag2ZarrConfig, SourceConfig
from training.resample import (
    AT_OR_BEFORE,
    NO_COMMON_TIME,
    OTHER_CLOCK_S,
    cut_episodes,
    grid_length,
    grid_start,
    make_grid,
    marker_windows,
    on_receive_clock,
    place_unstamped,
    rate_stats,
    recv_to_stamp_boundaries,
    repeated_states,
    replaced_before_due,
    sample_indices,
    stamp_offset_ns,
    stamp_restarts,
    trajectory_targets,
)

# how long (receive time) stamps must stay behind their newest for a marked episode to be
# split there (or five control periods, if longer): a clock stepped back, not a late burst
RESTART_SPAN_NS = 500_000_000

# a window's grid may have this many steps per reference message (a reference slower than
# the grid by more is a stamp far from the others), and at least MIN_GRID_STEPS_LIMIT
GRID_STEPS_PER_MESSAGE = 100
MIN_GRID_STEPS_LIMIT = 1_000_000
# an observation stream below this fraction of the reference's rate is slower than it
SLOWER = 0.9


@dataclass
class TopicReport:
    """One topic of a bag: message count, rate (Hz) and drops within the episodes."""

    topic: str
    msgtype: str
    count: int
    rate_hz: float
    drops: int
    max_gap_s: float
    stamped: bool  # False: header stamps missing, receive times used
    frames: list[str] = field(default_factory=list)  # header.frame_id values, sorted


@dataclass
class BagReport:
    """What a bag gave: topics, episode lengths (steps), gaps and steps cut or dropped."""

    path: str
    topics: list[TopicReport] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    trimmed_steps: int = 0
    # the streams without a valid sample in the trimmed steps (started late, ended early)
    trimmed_streams: list[str] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)  # {t_s, steps, streams}
    dropped_steps: int = 0
    notes: list[str] = field(default_factory=list)
    # camera topic -> the [height, width] of its frames as recorded, before any crop or
    # resize: the node refuses a camera of another size where the crop box would cut elsewhere
    frame_sizes: dict[str, list[list[int]]] = field(default_factory=dict)
    # the grid's stamps were a sim's time (on_sim_time): the robot ran with use_sim_time,
    # and so must the policy node (the store records it: SIM_TIME)
    sim_time: bool = False


def _decoder(sources: list[SourceConfig], msgtype: str,
             frame_sizes: set[tuple[int, int]] | None,
             names_in: Callable[[Sequence[str], Sequence[str]], list[str]],
             ) -> Callable[[Any], tuple]:
    """One function per topic, decoding each distinct use of it once; a camera's frame
    sizes, as recorded, are added to `frame_sizes` (None: not kept). names_in: the names a
    message gives a source's joints under (Bag2ZarrConfig.names_in: a driver's old names)."""
    sizes = set() if frame_sizes is None else frame_sizes

    def frame(m: Any) -> np.ndarray:
        rgb = decode_image(m, msgtype)
        sizes.add((int(rgb.shape[0]), int(rgb.shape[1])))
        return rgb

    def one(src: SourceConfig) -> Callable[[Any], Any]:
        if src.kind == 'image' and (fit := _fit(src)) is not None:
            return lambda m: fit(frame(m))
        if src.kind == 'image':
            return frame
        if src.kind == 'joint_state':
            def joint_state(m: Any) -> np.ndarray | None:
                names = names_in(m.name, src.joints)
                if foreign_joint_state(m, names):
                    return None
                with renamed_hint(SHARED_TOPIC_HINT):
                    return decode_joint_state(m, names, src.joint_field)
            return joint_state
        if src.kind == 'joint_trajectory':
            def trajectory(m: Any) -> tuple:
                with renamed_hint():
                    return decode_trajectory(m, names_in(m.joint_names, src.joints))
            return trajectory
        if src.kind == 'float_array':
            return lambda m: decode_float_array(m, src.joints)
        return lambda m: decode_pose(m, src.fields, src.yaw_min)
    funcs = [one(s) for s in sources]
    return lambda m: tuple(f(m) for f in funcs)


def _fit(src: SourceConfig) -> Callable[[np.ndarray], np.ndarray] | None:
    """A camera source's frame to the dataset's size exactly as the policy node fits a camera
    image to the checkpoint's (the camera crop, centre crop to the aspect, resize): the same
    pixels; None when the frames are kept as recorded."""
    if src.shape is None and src.crop is None:
        return None
    from dp_ros.image_fit import fit_image

    height, width = src.shape if src.shape is not None else (src.crop[3], src.crop[2])
    return lambda rgb: np.ascontiguousarray(fit_image(rgb, height, width, src.crop))


def _frame_check(sources: list[SourceConfig], msgtype: str, sizes: set[tuple[int, int]],
                 ) -> Callable[[Any], None]:
    """A camera topic's decoder whose values are not kept (_decode_bag keep_frames False):
    each frame is decoded (one that cannot be is refused, its size recorded, as _decoder
    does), and fitted once per frame shape, the one thing that decides whether a fit fails (a
    crop box outside the frame): no resize of frames nothing keeps."""
    fits = [f for f in map(_fit, sources) if f is not None]
    fitted: set[tuple[int, ...]] = set()

    def check(msg: Any) -> None:
        rgb = decode_image(msg, msgtype)
        sizes.add((int(rgb.shape[0]), int(rgb.shape[1])))
        if rgb.shape not in fitted:
            for fit in fits:
                fit(rgb)
            fitted.add(rgb.shape)
    return check


RENAMED_HINT = ('a driver update renamed joints? joint_renames: {old name: the name the '
                'sources read} in the config reads the old names as the new; `dp-ros inspect '
                'BAGS --draft-config` drafts it')


# a joint state giving some of a source's joints: two drivers on one topic, read as one source
SHARED_TOPIC_HINT = ('two drivers on this topic, an arm\'s and a gripper\'s? give each '
                     "driver's joints a source of its own")


@contextmanager
def renamed_hint(*other: str) -> Iterator[None]:
    """A message lacking a source's joints: the error says how a renamed joint is mapped
    (and any `other` cause there may be)."""
    try:
        yield
    except ValueError as exc:
        if ' lacks joint(s) ' not in str(exc):
            raise
        raise ValueError(f"{exc} ({'; or '.join((*other, RENAMED_HINT))})") from exc


def foreign_joint_state(msg: Any, joints: list[str]) -> bool:
    """A JointState that gives none of a source's joints: another driver's on the same topic
    (a gripper's on the arm's /joint_states), skipped for that source as the policy node
    skips it (dp_ros/ros/conversions.py joint_state_inputs). One that gives some of them
    but not all is an error (decode_joint_state names the missing ones)."""
    return not set(joints).intersection(msg.name)


def stream_keys(config: Bag2ZarrConfig) -> dict[tuple, str]:
    """Source slot -> the stream it is sampled from: its topic, or for a joint state whose
    topic's sources read several joint sets (an arm's and its gripper's drivers on one
    topic, each a source), '<topic> [<joints>]': each set is a stream of the messages that
    give it, with its own times, gaps and rate, as if it had a topic of its own."""
    sets: dict[str, set[frozenset]] = {}
    for _, source in config.sources():
        if source.kind == 'joint_state':
            sets.setdefault(source.topic, set()).add(frozenset(source.joints))
    return {s.slot(): (f"{s.topic} [{', '.join(s.joints)}]"
                       if len(sets.get(s.topic, ())) > 1 else s.topic)
            for _, s in config.sources()}


def _split_joint_states(streams: dict[str, Stream], topic: str, uses: list[SourceConfig],
                        keys: list[str], grid_topic: str, bag_path: Any) -> None:
    """A joint-state topic's stream -> one stream per joint set (stream_keys), each of the
    messages that give its joints (the others: another driver's, skipped). The topic's own
    stream stays only as the reference (its grid is every message's)."""
    stream = streams[topic]
    for key in dict.fromkeys(keys):
        use = keys.index(key)  # the uses of one key read one joint set: one None pattern
        keep = [i for i, v in enumerate(stream.values) if v[use] is not None]
        if stream.values and not keep:
            raise BagError(f'bag {bag_path}: no message of {topic} gives the joints '
                           f'{uses[use].joints} (they come from another driver: '
                           f'`dp-ros inspect` the bag for its joint-state topics; or '
                           f'{RENAMED_HINT})')
        streams[key] = Stream(key, stream.msgtype, [stream.stamps_ns[i] for i in keep],
                              [stream.recv_ns[i] for i in keep],
                              [stream.values[i] for i in keep], set(stream.frames))
    if topic not in keys and topic != grid_topic:
        del streams[topic]


def check_bag(bag: Bag, config: Bag2ZarrConfig) -> None:
    """Every topic present with a usable type, before anything is read (an empty bag has
    none to check: it is skipped, empty_bag)."""
    if empty_bag(bag):
        return
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
    index: np.ndarray  # each message's place in the bag's stream (for errors that name it)


def _on_reference_clock(recv_ns: np.ndarray, ref: Stream) -> np.ndarray:
    """Receive times of unstamped messages as times on a reference stream's clock: as they
    are when it is unstamped too, else by place_unstamped (as they are on a real robot, the
    stamp of the step they answer in a sim)."""
    ref_times, ref_stamped = ref.times_ns()
    if not ref_stamped:
        return np.asarray(recv_ns, dtype=np.int64)
    return place_unstamped(recv_ns, np.asarray(ref.recv_ns, np.int64), ref_times)


def _sorted_stream(stream: Stream, ref: Stream | None = None,
                   leave_out: Sequence[int] = ()) -> tuple[_Sorted, bool]:
    """Messages in time order; a stream without stamps is placed by its receive times, on a
    reference stream's clock when one is given (_on_reference_clock). leave_out: the places
    of messages no step may sample (damaged frames): as if they had not come."""
    times, stamped = stream.times_ns()
    if not stamped and ref is not None:
        times = _on_reference_clock(times, ref)
    order = np.argsort(times, kind='stable')
    if len(leave_out):
        order = order[~np.isin(order, np.asarray(leave_out, dtype=np.int64))]
    return (_Sorted(times[order], [stream.values[i] for i in order],
                    np.asarray(stream.recv_ns, dtype=np.int64)[order], order), stamped)


@dataclass
class _Decoded:
    """A bag's topics decoded and sorted by time, and where each source's values sit."""

    streams: dict[str, Stream]
    sorted: dict[str, _Sorted]
    stamped: dict[str, bool]
    slots: dict[tuple, tuple[str, int]]  # source slot -> (topic, index in decoded tuple)
    grid_topic: str
    marker: str | None
    read: list[str]  # the topics read, in the order given to Bag.messages
    # camera topic -> its decoder, where the frames were not kept (keep_frames False)
    frame_decoders: dict[str, Callable[[Any], tuple]] = field(default_factory=dict)
    # unstamped messages were placed on the bag's /clock (sim_clock_stream)
    on_sim_clock: bool = False
    # the reference's stamps are a sim's time (on_sim_time)
    sim_time: bool = False
    # camera topic -> its damaged JPEG frames (message places, the first's reason): left out
    damaged: dict[str, tuple[list[int], str]] = field(default_factory=dict)


CLOCK_TOPIC, CLOCK_TYPE = '/clock', 'rosgraph_msgs/msg/Clock'
# stamps before 2000-01-01 are no wall clock's: a sim's time, counted from its start
WALL_CLOCK_FROM_NS = 946_684_800 * NS


def _has_sim_clock(bag: Bag) -> bool:
    info = bag.topics.get(CLOCK_TOPIC)
    return info is not None and info.msgtype == CLOCK_TYPE and info.count > 0


def _clock_time(msg: Any) -> int:
    return stamp_to_ns(msg.clock)


def sim_clock_stream(clock: Stream | None, ref: Stream) -> Stream | None:
    """The bag's /clock as a stream stamped with the sim time it published, for placing
    unstamped messages (a forward controller's Float64MultiArray, a trajectory stamped 0) at
    the sim time of their receipt, where the reference's stamps are that sim's: a realtime
    sim's command was moved back to the reference message received before it (up to a camera
    period early: an action from the future). In lockstep the clock stands still until the
    answer comes, so it gives that step's time, as before. None where the bag has no /clock,
    the reference is on the receive clock, or the clock's times are not the reference's."""
    if clock is None or len(clock) == 0:
        return None
    ref_times, ref_stamped = ref.times_ns()
    if not ref_stamped or on_receive_clock(np.asarray(ref.recv_ns, np.int64), ref_times):
        return None
    times = np.asarray(clock.values, dtype=np.int64)
    # the reference's stamps within the clock's span (a second of slack): the same clock
    if not (times.min() - NS <= np.median(ref_times) <= times.max() + NS):
        return None
    return Stream(CLOCK_TOPIC, CLOCK_TYPE, [int(t) for t in times], list(clock.recv_ns),
                  [()] * len(times))


def on_sim_time(ref: Stream, clock: Stream | None) -> bool:
    """Whether the reference's stamps are a sim's time, so that the robot ran with
    use_sim_time: the bag's /clock matched them (sim_clock_stream's `clock`), or they lie
    before any wall clock's (a sim counts from 0; a recorder with --use-sim-time receives on
    that clock too)."""
    if clock is not None:
        return True
    times, stamped = ref.times_ns()
    return bool(stamped and len(times) and np.median(times) < WALL_CLOCK_FROM_NS)


def _sim_step_0_answers(stream: Stream, ref: Stream) -> np.ndarray:
    """Which of a stream's messages stamped 0 answer a sim's step 0 (stamp 0 a real time):
    where the reference's stamps keep a 0 as a real stamp (place_unset_stamps, by
    Stream.times_ns: sim time from 0) and the stream stamps its other messages, those received
    before its first non-zero stamp (a replay's, a lockstep policy node's first answer; the
    recorder may receive it after the step-1 observation). Later ones are "now" (a stop). The
    reference itself too: a sim's command topic as the reference, stamped on sim time from 0,
    keeps its step 0 (it was moved to its receipt, its stamps said to go backwards)."""
    stamps = np.asarray(stream.stamps_ns, dtype=np.int64)
    if np.all(stamps == 0):
        return np.zeros(len(stamps), dtype=bool)
    ref_times, ref_stamped = ref.times_ns()
    if not ref_stamped or not np.any(ref_times == 0):
        return np.zeros(len(stamps), dtype=bool)
    recv = np.asarray(stream.recv_ns, dtype=np.int64)
    order = np.argsort(recv, kind='stable')
    first = int(np.argmax(stamps[order] != 0))  # receive-order place of the first stamped one
    early = np.zeros(len(stamps), dtype=bool)
    early[order[:first]] = True
    return early & (stamps == 0)


def _place_on_receipt(stream: Stream, ref: Stream, placement: Stream | None = None) -> None:
    """A controller starts a trajectory stamped 0 when it receives it (a policy node's stops):
    each such message is placed at its receive time on the reference stream's clock, as an
    unstamped stream is (_on_reference_clock), its points due from there. In a stream that stamps
    its other messages (a node's chunks), its stamp is that time too, so that it replaces the
    chunk before it instead of sorting before them all. Not the answers to a sim's step 0
    (_sim_step_0_answers): their 0 is that step's time. `placement`: the stream whose clock
    they are placed on (sim_clock_stream's /clock; None: ref)."""
    stamps = np.asarray(stream.stamps_ns, dtype=np.int64)
    zero = np.flatnonzero((stamps == 0) & ~_sim_step_0_answers(stream, ref))
    if len(zero) == 0:
        return
    recv = np.asarray(stream.recv_ns, dtype=np.int64)[zero]
    at = recv if ref is stream else _on_reference_clock(recv, placement or ref)
    mixed = np.any(stamps != 0)
    for i, t in zip(zero.tolist(), at.tolist(), strict=True):
        if mixed:
            stream.stamps_ns[i] = t
        stream.values[i] = tuple((t, due - stamp + t, positions)
                                 for stamp, due, positions in stream.values[i])


def _decode_bag(bag: Bag, config: Bag2ZarrConfig, progress: bool,
                frame_sizes: dict[str, list[list[int]]] | None = None,
                keep_frames: bool = True) -> _Decoded:
    """keep_frames False: every frame is still decoded (its size recorded, a frame that cannot
    be converted refused here as before) but not kept: a camera's values are None, and
    _Frames decodes the ones the episodes sample again (a session bag's frames would not
    fit in memory)."""
    check_bag(bag, config)
    by_topic: dict[str, list[SourceConfig]] = {}
    seen_slots: set[tuple] = set()
    for _, source in config.sources():
        if source.slot() in seen_slots:
            continue
        seen_slots.add(source.slot())
        by_topic.setdefault(source.topic, []).append(source)
    key_of = stream_keys(config)
    keys = {t: [key_of[u.slot()] for u in uses] for t, uses in by_topic.items()}
    slots = {u.slot(): (key_of[u.slot()], i) for uses in by_topic.values()
             for i, u in enumerate(uses)}
    grid_topic = config.grid_topic()
    seen: dict[str, set[tuple[int, int]]] = {t: set() for t, s in by_topic.items()
                                             if s[0].kind == 'image'}
    decoders = {t: _decoder(s, bag.topics[t].msgtype, seen.get(t), config.names_in)
                for t, s in by_topic.items()}
    frame_decoders = {} if keep_frames else {t: decoders[t] for t in seen}
    for topic in frame_decoders:
        decoders[topic] = _frame_check(by_topic[topic], bag.topics[topic].msgtype, seen[topic])
    for topic in seen:
        decoders[topic] = (_leaving_out_damaged if config.damaged_frames == 'leave_out'
                           else _refusing_damaged)(decoders[topic])
    if grid_topic not in decoders:
        decoders[grid_topic] = lambda m: ()
    marker = config.episodes.marker
    if marker:
        marker_type = bag.topics[marker].msgtype
        decoders[marker] = lambda m: decode_marker(m, marker_type)
    reads_clock = _has_sim_clock(bag) and CLOCK_TOPIC not in decoders
    if reads_clock:
        decoders[CLOCK_TOPIC] = _clock_time
    streams = read_streams(bag, decoders, progress=progress)
    damaged = {t: _damaged_places(streams[t]) for t in seen}
    damaged = {t: d for t, d in damaged.items() if d[0]}
    clock = sim_clock_stream(streams.pop(CLOCK_TOPIC) if reads_clock else None,
                             streams[grid_topic])
    if frame_sizes is not None:
        frame_sizes.update({t: [list(hw) for hw in sorted(v)] for t, v in seen.items()})
    for topic, uses in by_topic.items():
        if uses[0].kind == 'joint_state':
            _split_joint_states(streams, topic, uses, keys[topic], grid_topic, bag.path)
        if uses[0].kind == 'joint_trajectory':
            # before any times_ns of it: its stamps 0 then hold their receipt on the
            # reference clock, and none is left for the unset-stamp rule (Stream.times_ns)
            _place_on_receipt(streams[topic], streams[grid_topic], clock)

    sorted_streams: dict[str, _Sorted] = {}
    stamped: dict[str, bool] = {}
    for topic, stream in streams.items():
        sorted_streams[topic], stamped[topic] = _sorted_stream(
            stream, None if topic == marker else clock or streams[grid_topic],
            damaged.get(topic, ([], ''))[0])
        if len(stream) == 0 and topic != marker:
            raise BagError(f'bag {bag.path}: topic {topic} has no messages')
    return _Decoded(streams, sorted_streams, stamped, slots, grid_topic, marker,
                    list(decoders), frame_decoders, clock is not None,
                    on_sim_time(streams[grid_topic], clock), damaged)


class _Damaged:
    """The value of a damaged JPEG frame in its stream (_leaving_out_damaged): why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _leaving_out_damaged(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A camera topic's decoder that takes a damaged JPEG frame (jpeg_decode) as a message
    to leave out, not a reason to refuse the bag: its value is a _Damaged, which
    _damaged_places finds (no step samples it: _sorted_stream's leave_out)."""
    def decode_or_leave_out(msg: Any) -> Any:
        try:
            return decode(msg)
        except DamagedJpeg as exc:
            return _Damaged(str(exc))
    return decode_or_leave_out


def _refusing_damaged(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A camera topic's decoder under `damaged_frames: refuse`: a damaged JPEG frame stops
    the conversion (read_streams names the bag, topic and message), saying which setting
    would convert the bag without it."""
    def decode_or_refuse(msg: Any) -> Any:
        try:
            return decode(msg)
        except DamagedJpeg as exc:
            raise DamagedJpeg(f'{exc} (damaged_frames: refuse; leave_out converts the bag '
                              'without such frames)') from None
    return decode_or_refuse


def _damaged_places(stream: Stream) -> tuple[list[int], str]:
    """The places of a camera stream's damaged frames, and the first one's reason."""
    places = [i for i, v in enumerate(stream.values) if isinstance(v, _Damaged)]
    return places, stream.values[places[0]].reason if places else ''


class _Frames:
    """The frames a bag's episodes sample, decoded in a second pass over the bag as the
    episodes need them, each kept until the last episode that samples it is gathered: a
    session bag's memory is about an episode's frames, not all of them, and a frame no
    grid step samples (two of three of a 30 Hz camera on a 10 Hz grid) is not decoded."""

    def __init__(self, bag: Bag, decoded: _Decoded, needed: dict[str, dict[int, int]],
                 progress: bool):
        """needed: camera topic -> {message index in the topic: the last episode (its number
        in the order they are gathered) that samples it}."""
        self._bag = bag
        self._decoders = decoded.frame_decoders
        self._needed = needed
        self._counts = dict.fromkeys(decoded.read, 0)
        self._messages = bag.messages(decoded.read, progress, deserialized=set(needed))
        self._cache: dict[tuple[str, int], tuple] = {}
        self._last: dict[int, list[tuple[str, int]]] = {}
        for topic, uses in needed.items():
            for index, episode in uses.items():
                self._last.setdefault(episode, []).append((topic, index))

    def get(self, topic: str, index: int) -> tuple:
        """The decoded value (one per use of the topic) of the topic's message `index`."""
        while (topic, index) not in self._cache:
            try:
                name, _, msg = next(self._messages)
            except StopIteration:
                raise BagReadError(f'bag {self._bag.path}: message {index} of {topic} was '
                                   'not found when the bag was read again') from None
            place = self._counts[name]
            self._counts[name] = place + 1
            if place in self._needed.get(name, ()):
                try:
                    self._cache[name, place] = self._decoders[name](msg)
                except ValueError as exc:
                    raise BagReadError(f'bag {self._bag.path}: message {place} of {name} '
                                       f'cannot be converted: {exc}') from exc
        return self._cache[topic, index]

    def release(self, episode: int) -> None:
        """Episode `episode` is gathered: the frames no later episode samples are dropped."""
        for key in self._last.pop(episode, ()):
            self._cache.pop(key, None)

    def close(self) -> None:
        self._messages.close()


def iter_bag_episodes(bag: Bag, config: Bag2ZarrConfig, report: BagReport,
                      progress: bool = True, dtypes: dict[str, np.dtype] | None = None,
                      raw_images: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """Episodes one at a time (the cameras' frame sizes go to report.frame_sizes).

    The bag is read twice: once for every stream's times and values, its frames checked but
    not kept; once more for the frames the episodes sample, each held only until the episodes
    that sample it are gathered (_Frames): one bag of a whole session converts in the
    memory of about an episode.

    dtypes overrides the config's per key (an existing store's dtypes when appending).
    raw_images: image keys come as the decoded uint8 frames, whatever their stored dtype
    (the writer converts them chunk by chunk: a quarter of the memory of float32).
    """
    report.notes.extend(bag.notes)  # how it was read: a WAL folded in, split files as one
    if empty_bag(bag):
        report.notes.append('the bag holds no message (a recording stopped as soon as it '
                            'started?): skipped')
        return
    decoded = _decode_bag(bag, config, progress, report.frame_sizes, keep_frames=False)
    streams, sorted_streams, stamped = decoded.streams, decoded.sorted, decoded.stamped
    grid_topic, marker = decoded.grid_topic, decoded.marker
    report.sim_time = decoded.sim_time
    windows, domain = _episode_windows(streams, config, grid_topic, report)
    own = _stream_windows(streams, windows, domain, config, grid_topic, report)
    for topic, stream in streams.items():
        data = sorted_streams[topic]
        if topic == marker:
            stats = rate_stats(data.recv)
        else:
            times = data.times if domain == 'stamp' else data.recv
            # an unstamped stream's rate is its own, not the reference's it may be placed on
            own_times = data.times if stamped[topic] else data.recv
            stats = rate_stats([own_times[(times >= lo) & (times < hi)]
                                for lo, hi in own.get(topic, windows)])
        report.topics.append(TopicReport(topic, stream.msgtype, len(stream), stats.rate_hz,
                                         stats.drops, stats.max_gap_s, stamped[topic],
                                         sorted(stream.frames)))
        if not stamped[topic] and topic != marker:
            rule = _unstamped_rule(streams[grid_topic], grid_topic, decoded.on_sim_clock)
            what = ('no header' if stream.msgtype in FLOAT_ARRAY_TYPES
                    else 'header stamps are zero')
            report.notes.append(f'{topic}: {what}, {rule}')
        if unset := stream.unset_stamps():
            report.notes.append(f'{topic}: {unset} message(s) stamped 0 among wall-clock '
                                'stamps (unset): placed by receive time')
    for topic, (places, reason) in decoded.damaged.items():
        shown = ', '.join(map(str, places[:5])) + (', ...' if len(places) > 5 else '')
        report.notes.append(f'{topic}: {len(places)} damaged JPEG frame(s) left out (messages '
                            f'{shown}; the first: {reason}); the policy node refuses such '
                            'frames too')
    report.notes += _slower_than_reference(report.topics, config, grid_topic)
    if config.align != AT_OR_BEFORE:
        report.notes.append(f"align: {config.align}: observations are sampled offline, not as "
                            "the policy node sees them (align: at_or_before)")

    dtypes = {**{k: np.dtype(v.dtype) for k, v in config.keys.items()}, **(dtypes or {})}
    if raw_images:
        dtypes.update({k: np.dtype(np.uint8) for k, v in config.keys.items() if v.is_image})
    sizes: dict[str, tuple[int, ...]] = {}  # image key -> its frames' shape, over the bag
    non_finite: dict[str, int] = {}  # key -> NaN or infinite values, over the bag
    plans, failure = _plan_windows(sorted_streams, decoded.slots, config, grid_topic, windows,
                                   domain, report, own)
    frames = _Frames(bag, decoded, _needed_frames(plans, decoded.slots, config), progress)
    number = 0
    try:
        for plan in plans:
            plan.said.merge_into(report)  # what the window's sampling said, in its place
            for a, b in plan.ranges:
                episode = _gather({}, decoded.slots, config, plan.columns, a, b, dtypes,
                                  report.path, sizes, frames)
                frames.release(number)
                number += 1
                report.episode_lengths.append(len(next(iter(episode.values()))))
                for key, values in episode.items():
                    if not config.keys[key].is_image and (n := count_non_finite(values)):
                        non_finite[key] = non_finite.get(key, 0) + n
                yield episode
    finally:
        frames.close()
    if failure is not None:  # a later window's error, after the episodes before it
        raise failure
    if any(NO_COMMON_TIME in note for note in report.notes):
        report.notes += _clock_mismatches(streams, grid_topic, marker)
    for key, n in non_finite.items():  # said here, by bag and key, not first at training
        report.notes.append(f'{key}: {n} NaN or infinite value(s), converted as recorded '
                            '(`dp-ros train` refuses them, naming the episodes: exclude those '
                            'or mend the source)')


def _slower_than_reference(topics: list[TopicReport], config: Bag2ZarrConfig,
                           grid_topic: str) -> list[str]:
    """Notes naming the observation streams slower than a grid reference no observation
    reads.

    The grid sits on the reference's stamps, so training pairs a fresh reference sample with
    the slower stream's up to its tolerance old. The store records the reference (sources
    `reference: true`) and the policy node anchors its observation on it alike; but a
    reference that is no input of the node (an action's topic, a topic no key reads) it
    cannot: it assembles at the newest stamp every stream has, mostly the slower stream's,
    and pairs them the other way round, samples training never saw together."""
    observed = [source for key, source in config.sources() if key != 'action'
                and source.offset_s == 0 and source.kind in ('image', 'joint_state', 'pose')]
    if any(source.topic == grid_topic for source in observed):
        return []
    # stream (as the report names it: a shared joint-state topic's joint set is
    # '<topic> [<joints>]', with its own rate) -> the topic a reference_topic would name
    keys = stream_keys(config)
    inputs = {keys[source.slot()]: source.topic for source in observed}
    rates = {t.topic: t.rate_hz for t in topics}
    ref = rates.get(grid_topic, 0.0)
    return [f'{stream} ({rates[stream]:.1f} Hz) is slower than the reference topic '
            f'{grid_topic} ({ref:.1f} Hz) that the grid sits on, which no observation reads: '
            f'the policy node assembles its observation at the newest stamp every stream has '
            f'(mostly {stream}\'s), so it pairs other samples than training did; give '
            f'`reference_topic: {topic}` ('
            + ('the slowest input)' if stream == topic else 'the topic it is read from: the grid '
               'takes all its messages)')
            for stream, topic in sorted(inputs.items())
            if 0 < rates.get(stream, 0.0) < SLOWER * ref]


def empty_bag(bag: Bag) -> bool:
    """A bag without a single message (a recording stopped as soon as it started): skipped
    with a note, as an episode without data is, not an error for a folder of demos."""
    return not any(t.count for t in bag.topics.values())


def _unstamped_rule(ref: Stream, grid_topic: str, on_sim_clock: bool = False) -> str:
    """How an unstamped stream's messages are placed beside this reference (_on_reference_clock)."""
    ref_times, ref_stamped = ref.times_ns()
    if not ref_stamped:
        return 'receive times used'
    if on_receive_clock(np.asarray(ref.recv_ns, np.int64), ref_times):
        return f'receive times used (the {grid_topic} stamps are on the receive clock)'
    if on_sim_clock:
        return (f'placed at the {CLOCK_TOPIC} time last received before each (the '
                f'{grid_topic} stamps are on that sim clock)')
    return (f'placed at the {grid_topic} stamp last received before each (its stamps are on '
            'another clock: a sim\'s)')


def _clock_mismatches(streams: dict[str, Stream], grid_topic: str, marker: str | None,
                      ) -> list[str]:
    """Notes naming the stamped streams on another clock than the reference's (their median
    stamp - receive time differs by more than OTHER_CLOCK_S): why no grid time had them all."""
    def offset(stream: Stream) -> int | None:
        times, stamped = stream.times_ns()
        return stamp_offset_ns(stream.recv_ns, times) if stamped and len(times) else None

    ref = offset(streams[grid_topic]) or 0
    notes = []
    for topic, stream in streams.items():
        own = None if topic in (grid_topic, marker) else offset(stream)
        if own is not None and abs(own - ref) > OTHER_CLOCK_S * NS:
            notes.append(f'{topic} stamps sit {own / NS:+.3g} s from their receive times, the '
                         f'{grid_topic} stamps {ref / NS:+.3g} s: two clocks, which no grid time '
                         'aligns (`dp-ros inspect` the bag)')
    return notes


def count_non_finite(values: np.ndarray) -> int:
    """NaN and infinite values of a float array (0 for an integer one)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        return 0
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def sample_bag_at(bag: Bag, config: Bag2ZarrConfig, times_ns: np.ndarray, progress: bool = False,
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every key of the config at given times (instead of the grid), by the same sampling as
    a conversion: (key -> values per time (images: frames, uint8), key -> valid per time).

    What a policy node that observed at these times would have been given, for checking a
    conversion against the node's own observation log. No episode cutting: invalid times
    have arbitrary values.
    """
    decoded = _decode_bag(bag, config, progress)
    grid = np.asarray(times_ns, dtype=np.int64)
    columns, ok_by_key, _ = _sample_grid(decoded.sorted, decoded.slots, config, grid)
    dtypes = {k: np.dtype(np.uint8 if v.is_image else v.dtype) for k, v in config.keys.items()}
    values = _gather(decoded.sorted, decoded.slots, config, columns, 0, len(grid), dtypes,
                     str(bag.path), {}) if len(grid) else {}
    return values, ok_by_key


def _episode_windows(streams: dict[str, Stream], config: Bag2ZarrConfig, grid_topic: str,
                     report: BagReport) -> tuple[list[tuple[float, float]], str]:
    """[lo, hi) windows and their time domain ('stamp' or 'recv')."""
    marker = config.episodes.marker
    if not marker:
        return _restart_windows(streams[grid_topic], config, grid_topic, report)
    stream = streams[marker]
    marker_recv = np.asarray(stream.recv_ns, dtype=np.int64)
    roles = ['start' if v is True else 'end' if v is False else '' for v in stream.values]
    level = stream.msgtype == 'std_msgs/msg/Bool' or {'start', 'end'} <= set(roles)
    if not level:
        roles = [''] * len(roles)  # one word alone ('end' after each demo): marker_role's
    elif other := roles.count(''):  # a String topic saying start and stop: a level, as a Bool
        report.notes.append(f'{other} {marker} marker(s) say neither start nor stop: ignored '
                            '(the topic says both: only those start and end episodes)')
    default = 'bool' if level else config.episodes.marker_role
    repeats = repeated_states(roles, np.argsort(marker_recv, kind='stable'))
    if repeats:
        report.notes.append(f'{repeats} {marker} marker(s) repeat the state before them (a '
                            'start while recording, an end while not: a level published now '
                            'and then): only a change starts or ends an episode')
    ref = streams[grid_topic]
    ref_times, stamped_ref = ref.times_ns()  # in bag order, as the receive times
    ref_recv = np.asarray(ref.recv_ns, np.int64)
    # the reference's stamps going back anywhere (a sim reset after an end marker while the
    # recording went on, a clock stepped back mid-episode): sorted by stamp, runs would mix
    restarts = (_sustained(stamp_restarts(ref_recv, ref_times, config.period_ns // 2),
                           ref_recv, ref_times, config.period_ns // 2,
                           max(5 * config.period_ns, RESTART_SPAN_NS))
                if stamped_ref else np.zeros(0, np.int64))
    stamped = [st for t, st in streams.items() if t != marker and st.times_ns()[1]]
    all_recv = np.concatenate([np.asarray(st.recv_ns, np.int64) for st in stamped] or [[]])
    all_stamps = np.concatenate([st.times_ns()[0] for st in stamped] or [[]])
    boundaries = None if len(restarts) else recv_to_stamp_boundaries(
        marker_recv, ref_recv, ref_times, all_recv, all_stamps, config.period_ns // 2)
    if boundaries is None:
        windows, split = _split_at_restarts(marker_windows(marker_recv, roles, default),
                                            restarts, ref_recv)
        if len(restarts):
            report.notes.append(f'{grid_topic} stamps go backwards: episodes split by receive '
                                'time' + (f', and at {split} point(s) inside an episode where '
                                          'they went back' if split else ''))
        else:  # no restart: the frames after a marker are older than what came before it
            report.notes.append(f'{grid_topic} frames received after a {marker} marker are '
                                'stamped before messages received before it (a camera whose '
                                'frames arrive long after their stamps, or a clock reset): '
                                'episodes split by receive time, so their edges may take a '
                                'frame late')
        domain, times = 'recv', ref.recv_ns
    else:
        windows, domain, times = marker_windows(boundaries, roles, default), 'stamp', ref_times
    outside = _outside_windows(times, windows)
    if outside:  # a demonstration whose end marker was never sent: said, not lost silently
        report.notes.append(f'{outside} {grid_topic} message(s) lie outside every episode the '
                            f'{marker} markers bound (before the first start, after the last '
                            'end or between an end and the next start): not converted')
    return windows, domain


def _sustained(restarts: np.ndarray, recv: np.ndarray, stamps: np.ndarray, margin_ns: int,
               span_ns: int) -> np.ndarray:
    """The restarts after which the stamps stay behind the newest one before it for span_ns
    of receive time, or never catch up: the clock did go back. A burst of frames delivered
    late (a camera driver's queue), however many, is caught up with by the next fresh frame
    a period later; recv_to_stamp_boundaries places those by their stamps."""
    order = np.argsort(recv, kind='stable')
    recv, stamps = recv[order], np.asarray(stamps, dtype=np.int64)[order]
    kept = []
    for cut in restarts:
        i = int(np.searchsorted(recv, cut, side='right'))
        if i == 0 or i == len(recv):
            continue
        caught = np.flatnonzero(stamps[i:] >= stamps[:i].max() - margin_ns)
        if len(caught) == 0 or recv[i + caught[0]] - recv[i] >= span_ns:
            kept.append(cut)
    return np.asarray(kept, dtype=np.int64)


def _split_at_restarts(windows: list[tuple[float, float]], restarts: np.ndarray,
                       ref_recv: np.ndarray) -> tuple[list[tuple[float, float]], int]:
    """Receive-time windows split at the reference's stamp restarts inside them (with its
    messages on both sides: a restart at an episode's first message splits nothing); and how
    many splits that made."""
    out: list[tuple[float, float]] = []
    split = 0
    for lo, hi in windows:
        inside = [float(c) for c in restarts if lo < c < hi
                  and np.any((ref_recv >= lo) & (ref_recv < c))
                  and np.any((ref_recv >= c) & (ref_recv < hi))]
        edges = [lo, *inside, hi]
        out += list(zip(edges[:-1], edges[1:], strict=True))
        split += len(inside)
    return out, split


def _outside_windows(times: Sequence[int] | np.ndarray, windows: list[tuple[float, float]]
                     ) -> int:
    """How many of `times` no [lo, hi) window holds."""
    t = np.asarray(times, dtype=np.float64)
    inside = np.zeros(len(t), dtype=bool)
    for lo, hi in windows:
        inside |= (t >= lo) & (t < hi)
    return int((~inside).sum())


def _restart_windows(ref: Stream, config: Bag2ZarrConfig, grid_topic: str, report: BagReport,
                     ) -> tuple[list[tuple[float, float]], str]:
    """A bag without a marker is one window over all stamps, unless the reference stream's
    stamps restart in it (a sim clock reset, a clock stepped back): sorted by stamp, the
    runs would overlap and the later overwrite the earlier. It is split there by receive
    time, as a marker where the stamps restart is (_episode_windows); a stamped stream whose
    own stamps restart as often is split at its own restarts instead (_stream_windows)."""
    times, stamped = ref.times_ns()
    cuts = (stamp_restarts(np.asarray(ref.recv_ns, np.int64), times, config.period_ns // 2)
            if stamped else np.zeros(0, np.int64))
    if len(cuts) == 0:
        return [(-np.inf, np.inf)], 'stamp'
    report.notes.append(f'{grid_topic} stamps go backwards at {len(cuts)} point(s): episodes '
                        'split there by receive time')
    edges = [-np.inf, *(float(c) for c in cuts), np.inf]
    return list(zip(edges[:-1], edges[1:], strict=True)), 'recv'


def _stream_windows(streams: dict[str, Stream], windows: list[tuple[float, float]],
                    domain: str, config: Bag2ZarrConfig, grid_topic: str, report: BagReport,
                    ) -> dict[str, list[tuple[float, float]]]:
    """Topic -> its own receive-time windows, where they differ from the reference's.

    Only for a bag split where the reference's stamps restart (_restart_windows): a stamped
    stream whose own stamps restart as often, each restart between the reference's previous
    and next one, is split at its own restarts, so that a message of a run received late,
    past the reference's restart, stays with its run (with the next one, sorted by stamp, it
    would be taken for that run's data). Any other stream is split at the reference's."""
    if config.episodes.marker or domain != 'recv':
        return {}
    edges = [lo for lo, _ in windows] + [np.inf]  # -inf, the reference's restarts, inf
    own: dict[str, list[tuple[float, float]]] = {}
    for topic, stream in streams.items():
        times, stamped = stream.times_ns()
        if topic == grid_topic or not stamped:
            continue  # unstamped: placed on the reference's clock by receive time
        cuts = stamp_restarts(np.asarray(stream.recv_ns, np.int64), times, config.period_ns // 2)
        lower, upper = np.array(edges[:-2]), np.array(edges[2:])
        if len(cuts) == len(edges) - 2 and np.all((cuts > lower) & (cuts < upper)):
            mine = [-np.inf, *(float(c) for c in cuts), np.inf]
            own[topic] = list(zip(mine[:-1], mine[1:], strict=True))
        else:
            report.notes.append(f'{topic} stamps restart at {len(cuts)} point(s), not where '
                                f'the {grid_topic} stamps do: split at those of '
                                f'{grid_topic}, by receive time')
    return own


def _in_window(data: _Sorted, lo: float, hi: float, domain: str) -> _Sorted:
    times = data.times if domain == 'stamp' else data.recv
    keep = np.flatnonzero((times >= lo) & (times < hi))
    return _Sorted(data.times[keep], [data.values[i] for i in keep], data.recv[keep],
                   data.index[keep])


def _grid(ref: _Sorted, config: Bag2ZarrConfig, grid_topic: str, bag_path: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """A window's grid: from its start rule to half a period past the last reference message
    (its stamp may be jittered early), and which of its steps lie in a pause of the reference.

    A reference silent for longer than _pause_ns (a recording paused between two
    demonstrations, a sim reset) starts the grid anew at its next message, by the same rule,
    as a bag of its own would: on the first piece's phase the second's frames would sit up to
    a period off its steps, beyond the tolerance at every other step (half its steps dropped
    as gaps). The steps in the pause (at least one) are marked: no data, as between two bags.
    A stamp far from the others (unset, or a clock jump) would make the grid span years: a
    clear error instead of a memory error."""
    times, period = ref.times, config.period_ns
    pause_ns = _pause_ns(config, grid_topic)
    cuts = ([] if pause_ns is None else
            (np.flatnonzero(np.diff(times) > pause_ns) + 1).tolist())
    pieces = [times[a:b] for a, b in zip([0, *cuts], [*cuts, len(times)], strict=True)]
    starts = [grid_start(p, period, config.grid_start, after_stamps=config.align == AT_OR_BEFORE)
              for p in pieces]
    stop = int(times[-1]) + period // 2
    steps = grid_length(starts[0], stop, period)
    limit = max(GRID_STEPS_PER_MESSAGE * len(times), MIN_GRID_STEPS_LIMIT)
    if steps > limit:
        raise BagError(f'bag {bag_path}: the stamps of reference topic {grid_topic} span '
                       f'{(stop - starts[0]) / NS:.0f} s ({steps} grid steps) for '
                       f'{len(times)} message(s): a stamp far from the others (unset, or '
                       'a clock jump); `dp-ros inspect` the bag')
    grids, paused = [], []
    for piece, start in zip(pieces, starts, strict=True):
        if grids:  # the pause: the previous phase on, up to half a period before the start
            last = int(grids[-1][-1])
            gap = np.arange(last + period, start - period // 2, period, dtype=np.int64)
            gap = gap if len(gap) else np.array([(last + start) // 2], dtype=np.int64)
            grids.append(gap)
            paused.append(np.ones(len(gap), dtype=bool))
        grids.append(make_grid(start, int(piece[-1]) + period // 2, period))
        paused.append(np.zeros(len(grids[-1]), dtype=bool))
    return np.concatenate(grids), np.concatenate(paused)


def _pause_ns(config: Bag2ZarrConfig, grid_topic: str) -> int | None:
    """How long the reference may go silent before the grid starts anew after it: past which
    the old phase would have had a step without it anyway (a gap, split there), so that only
    the phase after it changes: its tolerance (the largest of the keys that read it; twice
    under 'nearest', which takes a message from either side of a step) and three periods.
    None where no key reads the reference: its silence invalidates no step."""
    reads = [s for _, s in config.sources() if s.topic == grid_topic]
    if not reads:
        return None
    return max(config.tolerance_ns(s) * (1 if config.align_of(s) == AT_OR_BEFORE else 2)
               for s in reads) + 3 * config.period_ns


@dataclass
class _Said:
    """What sampling a window adds to its bag's report, held until its episodes come."""

    notes: list[str] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    trimmed_steps: int = 0
    trimmed_streams: set[str] = field(default_factory=set)
    dropped_steps: int = 0

    def merge_into(self, report: BagReport) -> None:
        report.notes += self.notes
        report.gaps += self.gaps
        report.trimmed_steps += self.trimmed_steps
        report.trimmed_streams = sorted(set(report.trimmed_streams) | self.trimmed_streams)
        report.dropped_steps += self.dropped_steps


@dataclass
class _WindowPlan:
    """A window's grid columns (_sample_grid's, an image key's frames as message indices in
    its topic, which _Frames decodes) and episode step ranges, before any frame."""

    columns: dict[str, list[np.ndarray]]
    ranges: list[tuple[int, int]]
    said: _Said


def _plan_windows(sorted_streams: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
                  config: Bag2ZarrConfig, grid_topic: str, windows: list[tuple[float, float]],
                  domain: str, report: BagReport, own: dict[str, list[tuple[float, float]]],
                  ) -> tuple[list[_WindowPlan], Exception | None]:
    """Every window sampled on its grid, up to the first that fails: (the plans, its error),
    the error raised after the episodes before it are gathered, as when each window was
    gathered before the next was sampled."""
    plans = []
    for k, (lo, hi) in enumerate(windows):
        said = _Said()
        try:
            plan = _plan_window(sorted_streams, slots, config, grid_topic, lo, hi, domain,
                                report.path, said, {t: w[k] for t, w in own.items()})
        except Exception as exc:  # noqa: BLE001 - raised by iter_bag_episodes in its place
            plans.append(_WindowPlan({}, [], said))
            return plans, exc
        plans.append(plan or _WindowPlan({}, [], said))
    return plans, None


def _needed_frames(plans: list[_WindowPlan], slots: dict[tuple, tuple[str, int]],
                   config: Bag2ZarrConfig) -> dict[str, dict[int, int]]:
    """Camera topic -> {message index in the topic: the last episode that samples it}."""
    needed: dict[str, dict[int, int]] = {}
    number = 0
    for plan in plans:
        for a, b in plan.ranges:
            for name, key in config.keys.items():
                if key.is_image:
                    topic, _ = slots[key.sources[0].slot()]
                    index = plan.columns[name][0][a:b]
                    needed.setdefault(topic, {}).update(dict.fromkeys(index.tolist(), number))
            number += 1
    return needed


def _plan_window(sorted_streams: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
                 config: Bag2ZarrConfig, grid_topic: str, lo: float, hi: float, domain: str,
                 bag_path: str, said: _Said, own: dict[str, tuple[float, float]] | None = None,
                 ) -> _WindowPlan | None:
    """own: topic -> its own [lo, hi) in the window's place (_stream_windows)."""
    own = own or {}
    local = {t: _in_window(d, *own.get(t, (lo, hi)), domain) for t, d in sorted_streams.items()}
    ref = local[grid_topic]
    if len(ref.times) == 0:
        said.notes.append('an episode window holds no message of the reference topic')
        return None
    grid, paused = _grid(ref, config, grid_topic, bag_path)
    # a time past the window's end (a future state as the action) has no data to sample
    end = hi if domain == 'stamp' else np.inf
    columns, ok_by_key, invalid_by = _sample_grid(local, slots, config, grid, end)
    if paused.any():  # the reference paused there: no step, as between two bags
        ok_by_key = {k: ok & ~paused for k, ok in ok_by_key.items()}
        invalid_by[grid_topic] = invalid_by.get(grid_topic, np.zeros(len(grid), bool)) | paused
    valid = np.logical_and.reduce(list(ok_by_key.values()))

    cut = cut_episodes(valid, config.episodes.on_gap, config.episodes.min_steps)
    said.trimmed_steps += cut.trimmed_steps
    if cut.trimmed_steps and valid.any():
        first, last = int(np.argmax(valid)), len(valid) - int(np.argmax(valid[::-1]))
        said.trimmed_streams |= {t for t, bad in invalid_by.items()
                                 if bad[:first].any() or bad[last:].any()}
    said.dropped_steps += cut.dropped_steps
    for a, b in cut.gaps:
        said.gaps.append({'t_s': round(float(grid[a]) / NS, 6), 'steps': b - a,
                          'streams': sorted(t for t, bad in invalid_by.items()
                                            if bad[a:b].any())})
    if cut.reason:
        said.notes.append(cut.reason)
    said.notes += _never_due_notes(local, slots, config, invalid_by)
    for name, key in config.keys.items():  # the window's streams are not kept: its frames'
        if key.is_image:  # messages are named by their place in their topic
            index = local[slots[key.sources[0].slot()][0]].index
            if len(index):  # else no step has a frame: every step invalid, none gathered
                columns[name] = [index[c] for c in columns[name]]
    return _WindowPlan(columns, list(cut.ranges), said)


def _never_due_notes(local: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
                     config: Bag2ZarrConfig, invalid_by: dict[str, np.ndarray]) -> list[str]:
    """Why a trajectory topic gave no grid time a target: each command replaced by the next
    before any of its points fell due (resample.replaced_before_due), which no rule of the
    sampling can mend."""
    notes = []
    reported: set[str] = set()  # a topic once (not a substring test: /arm/cmd, /arm/cmd_fast)
    for _, source in config.sources():
        topic, slot = slots[source.slot()]
        if source.kind != 'joint_trajectory' or not invalid_by[topic].all() \
                or topic in reported:
            continue
        targets = [v[slot] for v in local[topic].values]
        stamps = np.array([t[0] for t in targets], dtype=np.int64)
        n = replaced_before_due(stamps, [t[1] for t in targets],
                                jitter_allowance_ns(config.period_ns))
        if n and n == len(targets) - 1:
            reported.add(topic)
            notes.append(f"{topic}: each command's points are all due after the next command "
                         f'replaced it ({n} of {len(targets)}), so no grid time has a '
                         'commanded target: send its first point due within a control period, '
                         'or take the action from the joint states (`offset_s`: a future state)')
    return notes


def _sample_grid(local: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
                 config: Bag2ZarrConfig, grid: np.ndarray, end: float = np.inf,
                 ) -> tuple[dict[str, list[np.ndarray]], dict[str, np.ndarray],
                            dict[str, np.ndarray]]:
    """Every source sampled at the grid times: (key -> per-source columns (image keys: frame
    indices), key -> valid per grid time, topic -> invalid per grid time). Times at or past
    `end` (the episode window's, stamp domain) are invalid: the data there is cut off."""
    columns: dict[str, list[np.ndarray]] = {}
    ok_by_key: dict[str, np.ndarray] = {}
    invalid_by: dict[str, np.ndarray] = {}
    for key, source in config.sources():
        topic, slot = slots[source.slot()]
        data = local[topic]
        at = grid + int(round(source.offset_s * NS))
        tol = config.tolerance_ns(source)
        if source.kind == 'joint_trajectory':
            targets = [v[slot] for v in data.values]
            stamps = np.array([t[0] for t in targets], dtype=np.int64)
            dues = [t[1] for t in targets]  # stamp 0 ("now"): placed by _place_on_receipt
            # early grid times (jitter) find their point, never the next step's
            slack = min(tol, config.period_ns // 2 - 1)
            values, ok = trajectory_targets(stamps, dues, [t[2] for t in targets], at, tol,
                                            source.width, slack,
                                            jitter_allowance_ns(config.period_ns))
        else:
            # a command is in force from when it was sent: never one sent after the grid time
            command = source.kind == 'float_array'
            align = config.align_of(source)
            late = 0 if command else jitter_allowance_ns(config.period_ns)  # the node's
            index, ok = sample_indices(data.times, at, tol, align, late)
            if source.kind == 'image':
                values = index  # frames are gathered per episode, not per grid step
            else:
                width = source.width
                table = (np.stack([v[slot] for v in data.values]) if data.values
                         else np.zeros((0, width)))
                values = table[index] if len(table) else np.zeros((len(grid), width))
        if end != np.inf:
            ok = ok & (at < end)
        columns.setdefault(key, []).append(values)
        ok_by_key[key] = ok_by_key.get(key, np.ones(len(grid), bool)) & ok
        invalid_by[topic] = invalid_by.get(topic, np.zeros(len(grid), bool)) | ~ok
    return columns, ok_by_key, invalid_by


def _gather(local: dict[str, _Sorted], slots: dict[tuple, tuple[str, int]],
            config: Bag2ZarrConfig, columns: dict[str, list[np.ndarray]], a: int, b: int,
            dtypes: dict[str, np.dtype], bag_path: str, sizes: dict[str, tuple[int, ...]],
            frames: _Frames | None = None) -> dict[str, np.ndarray]:
    """Grid steps [a, b) as arrays in the stored dtypes.

    sizes: image key -> the shape of its first frame gathered from the bag (filled here),
    which every later frame must have. frames: where the frames come from when the streams
    did not keep them (_decode_bag keep_frames False); the image columns are then message
    indices in their topics (_WindowPlan) and `local` is not read."""
    episode: dict[str, np.ndarray] = {}
    for name, key in config.keys.items():
        if key.is_image:
            topic, slot = slots[key.sources[0].slot()]
            # the message's place in its topic, and its value
            if frames is None:
                data = local[topic]
                at = [(int(data.index[j]), data.values[j]) for j in columns[name][0][a:b]]
            else:
                at = [(int(j), frames.get(topic, int(j))) for j in columns[name][0][a:b]]
            size = sizes.setdefault(name, at[0][1][slot].shape)
            out = np.empty((b - a,) + size, dtype=dtypes[name])
            for i, (message, value) in enumerate(at):
                frame = value[slot]
                if frame.shape != size:
                    raise _size_error(bag_path, topic, name, message, frame.shape, size)
                out[i] = frame  # converts to the stored dtype on the way
            episode[name] = out
        else:
            parts = [c[a:b] for c in columns[name]]
            episode[name] = np.concatenate(parts, axis=1).astype(dtypes[name])
    return episode


def _size_error(bag_path: str, topic: str, key: str, message: int, got: tuple[int, ...],
                first: tuple[int, ...]) -> BagError:
    """A camera whose frames change size cannot fill one array as recorded."""
    def hw(shape: tuple[int, ...]) -> str:
        return f'{shape[0]}x{shape[1]}'

    return BagError(f'bag {bag_path}: topic {topic}: message {message} is {hw(got)} px, the '
                    f'first frame {hw(first)} px (height x width): the images change size; '
                    f"give key '{key}' a `shape: [height, width]` in the config, which resizes "
                    'every frame to it')
