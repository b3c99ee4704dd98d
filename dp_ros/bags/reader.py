"""Reading ROS 2 bags (mcap or sqlite3, bag directories or bare files) into typed, timestamped
streams, without ROS.

rosbags deserializes messages into its own dataclasses whose field names match the rclpy
messages (image data as a numpy uint8 array, header.stamp.sec/nanosec), so the rclpy-side
conversions in dp_ros.ros.conversions are reused on them by duck typing.

Every failure becomes a BagError that names the bag and the problem: an unreadable path, a
corrupt file, a missing topic (listing the topics the bag has), a topic of the wrong type.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.typesys.store import Typestore
from tqdm.auto import tqdm

from dp_ros.bags.storage import (
    STORAGE_SUFFIXES,
    StorageError,
    cut_off_mcaps,
    is_shadowed,
    open_reader,
    split_parts,
    storage_kind,
)
from dp_ros.bags.typestore import prepare_type, reading_typestore
from dp_ros.errors import UserError
from dp_ros.ros.conversions import (
    CAMERA_ENCODINGS,
    compressed_camera_problem,
    compressed_image_to_numpy,
    image_to_rgb,
    joint_state_to_numpy,
    joint_trajectory_to_chunk,
)
from dp_ros.stamps import NS_PER_S, stamp_to_ns

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
JOINT_STATE_TYPES = ('sensor_msgs/msg/JointState',)
TRAJECTORY_TYPES = ('trajectory_msgs/msg/JointTrajectory',)
POSE_TYPES = ('geometry_msgs/msg/PoseStamped',)
# a ros2_control forward_command_controller's commands (no header: the receive time counts)
FLOAT_ARRAY_TYPES = ('std_msgs/msg/Float64MultiArray', 'std_msgs/msg/Float32MultiArray')
MARKER_TYPES = ('std_msgs/msg/String', 'std_msgs/msg/Bool', 'std_msgs/msg/Empty')
# a header stamp of 0 between stamps more than this far from 0 (wall-clock time) was left
# unset by its driver (a camera's first frame), not sim time starting at 0
UNSET_STAMP_MIN_NS = 3600 * 1_000_000_000
HEADER_TYPE = 'std_msgs/msg/Header'
# a CDR message's first 12 bytes when its type begins with a Header: the encapsulation header
# (byte 1: 1 little endian, 0 big endian), then header.stamp's int32 sec and uint32 nanosec
_CDR_STAMP = {1: struct.Struct('<iI'), 0: struct.Struct('>iI')}


class BagError(UserError, ValueError):
    """A bag that cannot be converted; the message says which bag and why."""


class BagReadError(BagError):
    """The path is not a readable bag, or its file is corrupt."""


class MissingTopicError(BagError):
    """A topic the config needs is not in the bag."""


class TopicTypeError(BagError):
    """A topic has a message type the config cannot use for it."""


@dataclass(frozen=True)
class TopicInfo:
    """A topic's type and message count; a topic recorded with several types (two
    publishers) has each type with its count in `types`, and msgtype names them all."""

    name: str
    msgtype: str
    count: int
    types: tuple[tuple[str, int], ...] = ()


@dataclass
class TopicSurvey:
    """What Bag.survey saw of one topic."""

    times: Any  # receive times, ns (an int64 array once the survey is done)
    first: list[tuple[int, Any]]  # (receive time ns, message) of its first messages
    error: str | None = None  # why its messages could not be deserialized
    # every message's header stamp (ns), aligned with times: for types that begin with a
    # std_msgs/Header (read without deserializing); None for others
    stamps: Any = field(default_factory=list)


# --- finding bags ----------------------------------------------------------------------------

def is_bag_dir(path: Path) -> bool:
    return path.is_dir() and (path / 'metadata.yaml').is_file()


def _bags_under(folder: Path) -> list[Path]:
    """Bag directories and bare storage files under a folder that is not a bag itself.

    A bag directory's own storage files belong to it; so do those of a split recording that
    lost its metadata.yaml (`<dir>/<dir>_0.mcap`, `_1`, ...: the bag is `<dir>`,
    dp_ros/bags/storage.py); a .mcap/.db3 anywhere else is a bag of its own (what
    non-rosbag2 writers produce: Foxglove's mcap writer, a copied .db3), and so is one
    compressed whole without its metadata.yaml (`x.mcap.zstd`), unless its uncompressed file
    sits beside it (is_shadowed: the same file, read from `x.mcap`, the skip noted there).
    """
    dirs = sorted(p.parent for p in folder.rglob('metadata.yaml'))
    inside = set(dirs)
    split = [d for d in [folder, *sorted(p for p in folder.rglob('*') if p.is_dir())]
             if split_parts(d) and not any(parent in inside for parent in d.parents)]
    parts = {p for d in split for p in split_parts(d)}
    bare = sorted(p for p in folder.rglob('*') if storage_kind(p) and p.is_file()
                  and p not in parts and not is_shadowed(p)
                  and not any(parent in inside for parent in p.parents))
    return sorted(dirs + split + bare)


def _not_a_bag(path: Path) -> str:
    """Why a file is not a bag; a ROS 1 bag is pointed to its conversion."""
    if path.suffix == '.bag':
        return (f'{path} is a ROS 1 bag: convert it to a ROS 2 bag first, with '
                f'`rosbags-convert --src {path} --dst {path.with_suffix("")}` (in this venv)')
    return (f'{path} is not a ROS 2 bag: expected a directory with metadata.yaml or a '
            f'{"/".join(STORAGE_SUFFIXES)} file (or one compressed whole: .mcap.zstd)')


def find_bags(paths: Iterable[str | Path]) -> list[Path]:
    """Bags named directly or found under folders: bag directories (metadata.yaml + storage
    files) and bare .mcap/.db3 files (or .mcap.zstd/.db3.zstd: compressed whole).

    A folder that is not a bag is searched recursively; its bags come sorted by path, so a
    folder of `ros2 bag record` outputs converts in recording order (their names hold the date).
    """
    bags: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise BagReadError(f'no such bag or folder: {path}')
        if is_bag_dir(path):
            bags.append(path)
        elif path.is_file() and storage_kind(path):
            bags.append(path)  # a bare storage file: rosbags reads those too
        elif path.is_dir():
            found = _bags_under(path)
            if not found:
                raise BagReadError(f'{path} is not a ROS 2 bag (no metadata.yaml) and holds '
                                   f'no bag directories or {"/".join(STORAGE_SUFFIXES)} files')
            bags.extend(found)
        else:
            raise BagReadError(_not_a_bag(path))
    unique = list(dict.fromkeys(p.resolve() for p in bags))
    return unique


# --- an open bag -----------------------------------------------------------------------------

class Bag:
    """An open bag: its topics, and its messages deserialized with a rosbags type store."""

    def __init__(self, path: Path, reader: Any, typestore: Typestore,
                 notes: Sequence[str] = ()):
        """reader: rosbags' Reader, or a SplitReader (dp_ros/bags/storage.py); notes: how
        the bag was read where it was not as rosbags reads it (a WAL folded in, a split
        recording's files read as one), for the reports."""
        self.path = path
        self._reader = reader
        self.typestore = typestore
        self.notes = list(notes)
        self.topics: dict[str, TopicInfo] = {
            name: _topic_info(name, info) for name, info in sorted(reader.topics.items())}

    def _prepare(self, connections: Iterable[Any]) -> None:
        """The code that deserializes these connections' types, made before their messages
        are read (dp_ros/bags/typestore.py says why it is made apart)."""
        for msgtype in sorted({c.msgtype for c in connections}):
            prepare_type(self.typestore, msgtype)

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time)

    def describe_topics(self) -> str:
        if not self.topics:
            return '(no topics)'
        return ', '.join(f'{t.name} [{t.msgtype}, {t.count} msgs]' for t in self.topics.values())

    def require(self, topic: str, allowed_types: Sequence[str], needed_by: str) -> TopicInfo:
        """The topic's info, or a clear error when it is absent or of an unusable type."""
        info = self.topics.get(topic)
        if info is None:
            why = ''.join(f'; {note}' for note in self.notes if note.startswith(f'{topic} '))
            raise MissingTopicError(f'bag {self.path}: topic {topic} (needed by {needed_by}) is '
                                    f'not in the bag; the bag has: {self.describe_topics()}'
                                    + why)
        if info.msgtype not in allowed_types:
            has = f'{info.msgtype};' if info.types else f'type {info.msgtype}, but'
            raise TopicTypeError(f'bag {self.path}: topic {topic} has {has} {needed_by} '
                                 f'needs {" or ".join(allowed_types)}')
        return info

    def messages(self, topics: Iterable[str], progress: bool = True,
                 deserialized: Container[str] | None = None,
                 ) -> Iterator[tuple[str, int, Any]]:
        """(topic, receive time ns, deserialized message) in bag order.

        deserialized: the topics whose messages are deserialized (None: all); the others'
        come as None, in their places: a second pass over the same topics (the same order)
        that needs only some of their messages costs no deserialization for the rest."""
        wanted = set(topics)
        connections = [c for c in self._reader.connections if c.topic in wanted]
        self._prepare(connections)
        total = sum(c.msgcount for c in connections)
        deserialize = self.typestore.deserialize_cdr
        index = 0
        per_topic: dict[str, int] = {}  # messages read of each topic: a bad one's place
        with tqdm(total=total, desc=f'reading {self.path.name}', unit='msg',
                  disable=not progress, leave=False) as bar:
            stored = iter(self._reader.messages(connections))
            while True:
                try:
                    conn, recv_ns, raw = next(stored)
                except StopIteration:
                    break
                except Exception as exc:  # corrupt storage: where the bag's reading stopped
                    raise BagReadError(f'bag {self.path}: cannot read the bag past message '
                                       f'{index} (of the topics read): '
                                       f'{type(exc).__name__}: {exc}') from exc
                topic = conn.topic
                place = per_topic.get(topic, 0)
                try:
                    msg = (deserialize(raw, conn.msgtype)
                           if deserialized is None or topic in deserialized else None)
                except Exception as exc:  # corrupt CDR: counted within its topic, as
                    # read_streams' decode errors are
                    raise BagReadError(f'bag {self.path}: cannot read message {place} (topic '
                                       f'{topic}): {type(exc).__name__}: {exc}') from exc
                per_topic[topic] = place + 1
                yield topic, int(recv_ns), msg
                index += 1
                if index % 256 == 0:
                    bar.update(256)
            bar.update(index % 256)

    def survey(self, samples: int, progress: bool = True,
               samples_by_type: dict[str, int] | None = None) -> dict[str, TopicSurvey]:
        """One pass over the bag: every topic's receive times (ns, sorted) and its first
        `samples` messages deserialized (`samples_by_type`: as many for a topic of that
        message type; a topic whose messages cannot be: its error)."""
        wanted = {c.topic: (samples_by_type or {}).get(c.msgtype, samples)
                  for c in self._reader.connections}
        found = {name: TopicSurvey([], []) for name in self.topics}
        self._prepare(self._reader.connections)
        total = sum(c.msgcount for c in self._reader.connections)
        deserialize = self.typestore.deserialize_cdr
        stamped = {t: starts_with_header(self.typestore, t)
                   for t in {c.msgtype for c in self._reader.connections}}
        with tqdm(total=total, desc=f'scanning {self.path.name}', unit='msg',
                  disable=not progress, leave=False) as bar:
            try:
                for index, (conn, recv_ns, raw) in enumerate(self._reader.messages(), 1):
                    topic = found.setdefault(conn.topic, TopicSurvey([], []))
                    topic.times.append(int(recv_ns))
                    if len(topic.first) < wanted[conn.topic] and topic.error is None:
                        try:
                            topic.first.append((int(recv_ns), deserialize(raw, conn.msgtype)))
                        except Exception as exc:  # noqa: BLE001 - an unknown or corrupt type
                            topic.error = self._undecodable(conn.msgtype, exc)
                    if topic.stamps is not None:
                        stamp = cdr_header_stamp_ns(raw) if stamped[conn.msgtype] else None
                        if stamp is None and stamped[conn.msgtype]:  # not plain CDR: in full
                            stamp = self._stamp_of(raw, conn.msgtype)
                        if stamp is None:
                            topic.stamps = None
                        else:
                            topic.stamps.append(stamp)
                    if index % 4096 == 0:
                        bar.update(4096)
            except Exception as exc:  # corrupt storage: name the bag
                raise BagReadError(f'bag {self.path}: cannot scan its messages: '
                                   f'{type(exc).__name__}: {exc}') from exc
        for name, topic in found.items():
            if not topic.times and topic.error is None and name in self.topics:
                topic.error = self.unread(name)
            times = np.asarray(topic.times, dtype=np.int64)
            order = np.argsort(times, kind='stable')
            topic.times = times[order]
            if topic.stamps is not None:
                topic.stamps = np.asarray(topic.stamps, dtype=np.int64)[order]
        return found

    def unread(self, topic: str) -> str | None:
        """Why a topic of which no message was read is empty when its metadata counts some
        (files that lost them, a metadata.yaml that disagrees with them); None when it counts
        none."""
        count = self.topics[topic].count
        if not count:
            return None
        return (f'metadata.yaml counts {count} message(s) of {topic}, none could be read from '
                'the storage files (do they hold them? `ros2 bag reindex` rewrites '
                'metadata.yaml from the files)')

    def _undecodable(self, msgtype: str, exc: Exception) -> str:
        """Why a topic's messages cannot be deserialized: a type the bag defines nowhere
        (a Humble sqlite3 bag stores no definitions) named as such; else the error."""
        if msgtype not in self.typestore.fielddefs:
            return (f'no definition of {msgtype} in the bag (a Humble sqlite3 bag stores none, '
                    'and it is not a standard type): skipped, not needed unless a key uses it')
        return f'{type(exc).__name__}: {exc}'

    def _stamp_of(self, raw: Any, msgtype: str) -> int | None:
        try:
            return header_stamp_ns(self.typestore.deserialize_cdr(raw, msgtype))
        except Exception:  # noqa: BLE001 - the first messages' deserialization reports it
            return None


def _topic_info(name: str, info: Any) -> TopicInfo:
    """A rosbags TopicInfo as ours: a topic of several types (msgtype None there) names each
    with its message count, from its connections."""
    if info.msgtype is not None:
        return TopicInfo(name, info.msgtype, int(info.msgcount))
    counts: dict[str, int] = {}
    for conn in info.connections:
        counts[conn.msgtype] = counts.get(conn.msgtype, 0) + int(conn.msgcount)
    types = tuple(sorted(counts.items()))
    listed = ', '.join(f'{msgtype} ({count})' for msgtype, count in types)
    return TopicInfo(name, f'{len(types)} types: {listed}', int(info.msgcount), types)


@contextmanager
def open_bag(path: str | Path) -> Iterator[Bag]:
    """Open a bag directory (or bare .mcap/.db3); errors say which bag and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise BagReadError(f'no such bag: {path}')
    if path.is_dir() and not (path / 'metadata.yaml').is_file() and not split_parts(path):
        raise BagReadError(f'{path} is not a ROS 2 bag: it has no metadata.yaml')
    if path.is_file() and not storage_kind(path):
        raise BagReadError(_not_a_bag(path))
    with ExitStack() as stack:
        try:
            reader, notes = open_reader(path, stack)
        except StorageError as exc:
            raise BagReadError(f'cannot open bag {path}: {exc}') from exc
        except Exception as exc:
            raise BagReadError(f'cannot open bag {path}: {_open_failure(path, exc)}') from exc
        idl = MessageDefinitionFormat.IDL
        yield Bag(path, reader, reading_typestore(
            (c.msgtype, c.msgdef.data, *(('idl',) if c.msgdef.format is idl else ()))
            for c in reader.connections), notes)


def _open_failure(path: Path, exc: Exception) -> str:
    """Why a bag did not open: a cut-off .mcap named as such, with the way out (its
    messages up to the cut are readable); else rosbags' own error."""
    cut = cut_off_mcaps(path) if path.exists() else []
    if not cut:
        return f'{type(exc).__name__}: {exc}'
    others = f' (and {len(cut) - 1} more)' if len(cut) > 1 else ''
    return (f'{cut[0].name}{others} is cut off (truncated: no mcap end magic, as a recorder '
            'stopped before closing the file leaves it); its messages can be rescued with '
            f'`mcap recover {cut[0]} -o {cut[0].with_suffix(".recovered.mcap").name}` (the mcap '
            'CLI): convert the recovered file')


# --- typed decoding ---------------------------------------------------------------------------

def header_stamp_ns(msg: Any) -> int:
    """The header stamp in ns, 0 when the message has no header (or an unset stamp)."""
    header = getattr(msg, 'header', None)
    return 0 if header is None else stamp_to_ns(header.stamp)


def starts_with_header(store: Typestore, msgtype: str) -> bool:
    """Whether msgtype's first field is `header`, a std_msgs/Header: its CDR then starts with
    the header stamp (cdr_header_stamp_ns)."""
    fields = store.fielddefs.get(msgtype, (None, []))[1]
    return bool(fields) and fields[0][0] == 'header' and fields[0][1][1] == HEADER_TYPE


def cdr_header_stamp_ns(raw: bytes | memoryview) -> int | None:
    """The header stamp (ns) of a serialized message whose type starts_with_header, read from
    its first 12 bytes without deserializing it; None when it is not plain CDR (XCDR2 and the
    parameter-list encodings lay it out otherwise) or too short."""
    if len(raw) < 12 or raw[0] != 0 or raw[1] not in _CDR_STAMP:
        return None
    sec, nanosec = _CDR_STAMP[raw[1]].unpack_from(raw, 4)
    return sec * NS_PER_S + nanosec


def decode_image(msg: Any, msgtype: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an Image or CompressedImage, at its own size (bag2zarr fits
    it to the policy's: dp_ros.image_fit)."""
    if msgtype == 'sensor_msgs/msg/CompressedImage':
        rgb = compressed_image_to_numpy(msg)
    else:
        rgb = image_to_rgb(msg)
    return np.ascontiguousarray(rgb)


def camera_readable(msgtype: str, encoding: str) -> bool:
    """Whether decode_image takes images of this encoding (an Image's) or format (a
    CompressedImage's): a camera's colour, mono8 or YUV 4:2:2 / 4:2:0 pixels, not a depth image's
    (16UC1, '16UC1; png compressed ', compressedDepth)."""
    if msgtype == 'sensor_msgs/msg/CompressedImage':
        return compressed_camera_problem(encoding) is None
    return encoding in CAMERA_ENCODINGS


def decode_joint_state(msg: Any, names: Sequence[str], field_name: str = 'position',
                       ) -> np.ndarray:
    return joint_state_to_numpy(msg, names, field_name)


def decode_trajectory(msg: Any, names: Sequence[str]) -> tuple[int, np.ndarray, np.ndarray]:
    """(stamp ns, due times ns (N,), positions (N, D) in `names` order)."""
    chunk = joint_trajectory_to_chunk(msg)
    index = {n: i for i, n in enumerate(chunk.joint_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f'trajectory lacks joint(s) {missing}; it has {chunk.joint_names}')
    positions = chunk.positions[:, [index[n] for n in names]]
    return chunk.stamp_ns, chunk.due_ns.astype(np.int64), positions


def decode_float_array(msg: Any, names: Sequence[str]) -> np.ndarray:
    """A Float64MultiArray's values, one per name (a forward controller's joints, in order)."""
    values = np.asarray(msg.data, dtype=np.float64).ravel()
    if len(values) != len(names):
        raise ValueError(f'{len(values)} value(s), joints {list(names)} need {len(names)}')
    return values


# a String marker saying one of these (any case, blanks around) says its role itself
MARKER_WORDS = {'start': True, 'begin': True, 'end': False, 'stop': False}


def decode_marker(msg: Any, msgtype: str) -> bool | None:
    """Bool markers say start (True) or end (False), as does a String saying start/begin or
    end/stop (a teleop's 'start' and 'stop'; bag2zarr takes a String's only where the topic
    says both); any other String, and Empty, carry no role."""
    if msgtype == 'std_msgs/msg/Bool':
        return bool(msg.data)
    if msgtype == 'std_msgs/msg/String':
        return MARKER_WORDS.get(str(msg.data).strip().lower())
    return None


# --- streams ---------------------------------------------------------------------------------

@dataclass
class Stream:
    """One topic's messages, decoded: header stamps (0 = missing), receive times, values."""

    topic: str
    msgtype: str
    stamps_ns: list[int] = field(default_factory=list)
    recv_ns: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    frames: set[str] = field(default_factory=set)  # header.frame_id values (stamped types)

    def __len__(self) -> int:
        return len(self.values)

    def times_ns(self) -> tuple[np.ndarray, bool]:
        """(times, stamped): header stamps, or receive times when the stream never set them.

        A zero stamp among other stamps is a real time (sim time starts at 0) unless it sits
        among wall-clock stamps: then it was left unset and is placed by its receive time
        (place_unset_stamps), not in 1970, where it would stretch the grid over 54 years.
        """
        stamps = np.asarray(self.stamps_ns, dtype=np.int64)
        if len(stamps) and np.any(stamps != 0):
            return place_unset_stamps(stamps, np.asarray(self.recv_ns, dtype=np.int64))[0], True
        return np.asarray(self.recv_ns, dtype=np.int64), False

    def unset_stamps(self) -> int:
        """How many of its zero stamps times_ns takes as unset (0 in a stream never stamped:
        there receive times stand in for all of them)."""
        stamps = np.asarray(self.stamps_ns, dtype=np.int64)
        if not np.any(stamps != 0):
            return 0
        return place_unset_stamps(stamps, np.asarray(self.recv_ns, dtype=np.int64))[1]


def place_unset_stamps(stamps_ns: np.ndarray, recv_ns: np.ndarray) -> tuple[np.ndarray, int]:
    """(times, how many placed): the stamps, each unset zero stamp replaced by its receive
    time plus the offset (stamp - receive time) of its nearest stamped neighbour.

    A zero stamp is unset when its nearest non-zero stamps in receive order (the one before
    and the one after, where they exist) are all more than UNSET_STAMP_MIN_NS from 0: a
    driver that leaves its first frame's stamp unset in a wall-clock bag. Among stamps near
    0 (sim time) a zero stamp is a real time and stays.
    """
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    zero = stamps == 0
    if not zero.any() or zero.all():
        return stamps, 0
    order = np.argsort(np.asarray(recv_ns, dtype=np.int64), kind='stable')
    s = stamps[order]
    r = np.asarray(recv_ns, dtype=np.int64)[order]
    stamped = np.flatnonzero(s != 0)
    zeros = np.flatnonzero(s == 0)
    after = np.searchsorted(stamped, zeros)  # the next stamped one's place in `stamped`
    has_prev, has_next = after > 0, after < len(stamped)
    prev = stamped[np.maximum(after - 1, 0)]
    nxt = stamped[np.minimum(after, len(stamped) - 1)]
    unset = ((~has_prev | (np.abs(s[prev]) > UNSET_STAMP_MIN_NS))
             & (~has_next | (np.abs(s[nxt]) > UNSET_STAMP_MIN_NS)))
    if not unset.any():
        return stamps, 0
    use_next = has_next & (~has_prev | (r[nxt] - r[zeros] < r[zeros] - r[prev]))
    near = np.where(use_next, nxt, prev)
    placed = s.copy()
    placed[zeros[unset]] = (r[zeros] + (s[near] - r[near]))[unset]
    out = np.empty_like(stamps)
    out[order] = placed
    return out, int(unset.sum())


Decoder = Callable[[Any], Any]


def read_streams(bag: Bag, decoders: dict[str, Decoder], progress: bool = True,
                 ) -> dict[str, Stream]:
    """Decode every message of the given topics; a decode failure names topic and message."""
    streams = {topic: Stream(topic, bag.topics[topic].msgtype) for topic in decoders}
    for topic, recv_ns, msg in bag.messages(decoders, progress=progress):
        stream = streams[topic]
        try:
            value = decoders[topic](msg)
        except ValueError as exc:
            raise BagReadError(f'bag {bag.path}: message {len(stream)} of {topic} cannot be '
                               f'converted: {exc}') from exc
        stream.stamps_ns.append(header_stamp_ns(msg))
        stream.recv_ns.append(recv_ns)
        stream.values.append(value)
        header = getattr(msg, 'header', None)
        if header is not None:
            stream.frames.add(header.frame_id)
    for topic, stream in streams.items():
        if not stream and (why := bag.unread(topic)):
            raise BagReadError(f'bag {bag.path}: {why}')
    return streams
