"""Write ROS 2 bags (mcap or sqlite3) without a ROS install, as `ros2 bag record` lays them out.

The writer takes already serialized CDR bytes (what an rclpy raw subscription gives) or a
rosbags message object, so the same code records live topics (sim_bridge/record_demo.py) and
builds test and benchmark bags. Not rclpy.serialization.serialize_message's bytes: with the
PyPI wheels (rmw_fastrtps) a JointState comes back 8 bytes longer than its CDR, with garbage,
which rosbags refuses ('CDR message size mismatch').
No rclpy here: message definitions come from the rosbags type store.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from dp_ros.atomic_dir import naming
from dp_ros.bags.storage import message_spans
from dp_ros.bags.typestore import prepare_type, shared_typestore

STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
# zstd as rosbag2 writes it: each message (--compression-mode message, sqlite3 only: rosbag2's
# mcap storage refuses it), or each chunk of an .mcap (-s mcap --storage-preset-profile
# zstd_fast: any mcap reader decompresses it), or none
COMPRESSION = {'none': CompressionMode.NONE, 'message': CompressionMode.MESSAGE,
               'chunks': CompressionMode.STORAGE}
COMPRESSION_STORAGE = {'message': 'sqlite3', 'chunks': 'mcap'}
# a sqlite3 bag commits at most this often (or after this many messages), as rosbag2 flushes
# its cache: rosbags keeps one transaction open until close(), so a recorder killed outright
# (SIGKILL, the OOM killer) lost every message; now the last second's at most
COMMIT_EVERY_S = 1.0
COMMIT_EVERY_MESSAGES = 1000
# the row a message-compressed sqlite3 bag's metadata table gets at open, as rosbag2 writes
# one (rosbags adds the whole metadata at close; the newest row is read)
OPENED_COMPRESSED = 'compression_mode: message\ncompression_format: zstd\n'
# sqlite3's result codes for a write the machine refused, as the errno an OSError carries
# (the first whose name the code's starts with)
SQLITE_ERRNOS = {'SQLITE_READONLY_DBMOVED': errno.ENOENT, 'SQLITE_FULL': errno.ENOSPC,
                 'SQLITE_READONLY': errno.EROFS, 'SQLITE_PERM': errno.EACCES,
                 'SQLITE_CANTOPEN': errno.EACCES}
# what sqlite3's own message leaves unclear ('attempt to write a readonly database')
SQLITE_SAYS = {'SQLITE_READONLY_DBMOVED': 'its .db3 file was moved or deleted while the bag '
                                          'was open'}


@contextlib.contextmanager
def refused_writes_named(path: Path) -> Iterator[None]:
    """Within: a refused write is an OSError naming the bag, whichever storage refused it.

    A sqlite3 bag's full disk is a sqlite3.OperationalError ('database or disk is full';
    'disk I/O error' past a file-size limit), which a recorder catching OSError for its
    one-line 'cannot write' did not catch: record_demo --storage sqlite3 ended in a traceback
    and left the cut-off bag. An mcap bag's is an OSError naming no file (naming)."""
    with naming(path):
        try:
            yield
        except sqlite3.Error as exc:
            name = getattr(exc, 'sqlite_errorname', '') or ''
            code = next((e for prefix, e in SQLITE_ERRNOS.items() if name.startswith(prefix)),
                        errno.EIO)
            raise OSError(code, f'{SQLITE_SAYS.get(name, exc)} ({name or type(exc).__name__})',
                          str(path)) from exc


def normalize_msgtype(msgtype: str) -> str:
    """'sensor_msgs/Image' -> 'sensor_msgs/msg/Image' (the form bags store)."""
    parts = msgtype.strip().split('/')
    if len(parts) == 2 and all(parts):
        return f'{parts[0]}/msg/{parts[1]}'
    if len(parts) == 3 and all(parts):
        return msgtype.strip()
    raise ValueError(f"message type must look like 'pkg/msg/Name', got {msgtype!r}")


def _policy(kind: type[Enum], value: Any) -> Any:
    """A QoS policy as rosbags names it, from rclpy's enum (or its int: rclpy and rosbags both
    number the policies as rmw does) or a name ('best_effort'); UNKNOWN if neither."""
    if isinstance(value, kind):
        return value
    try:
        if isinstance(value, str):
            return kind[value.strip().upper()]
        return kind(int(value))
    except (KeyError, TypeError, ValueError):
        return kind['UNKNOWN']


def _duration(value: Any) -> QosTime:
    """rclpy's Duration (Infinite: 2**63 - 1 ns, rmw's RMW_DURATION_INFINITE), nanoseconds, or
    a QosTime -> QosTime(sec, nsec), as rosbag2 writes an rmw_time_t."""
    if isinstance(value, QosTime):
        return value
    sec, nsec = divmod(int(getattr(value, 'nanoseconds', value)), 1_000_000_000)
    return QosTime(sec, nsec)


def offered_qos(profile: Any) -> Qos:
    """One publisher's QoS as a bag records it: a rosbags Qos, from an rclpy QoSProfile (what
    Node.get_publishers_info_by_topic reports: a discovered publisher's history is unknown
    and its depth 0, as `ros2 bag record` stores them) or a rosbags Qos (returned as is)."""
    if isinstance(profile, Qos):
        return profile
    return Qos(history=_policy(QosHistory, profile.history),
               depth=int(profile.depth),
               reliability=_policy(QosReliability, profile.reliability),
               durability=_policy(QosDurability, profile.durability),
               deadline=_duration(profile.deadline),
               lifespan=_duration(profile.lifespan),
               liveliness=_policy(QosLiveliness, profile.liveliness),
               liveliness_lease_duration=_duration(profile.liveliness_lease_duration),
               avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions))


def discovered_qos(reliability: str = 'reliable', durability: str = 'volatile') -> Qos:
    """A publisher's QoS by policy names, as `ros2 bag record` stores a discovered one
    (history unknown, depth 0, durations infinite, liveliness automatic): for bags built
    without a live publisher to ask."""
    forever = _duration(2**63 - 1)  # RMW_DURATION_INFINITE, as rosbag2 writes it
    return Qos(history=QosHistory.UNKNOWN, depth=0,
               reliability=_policy(QosReliability, reliability),
               durability=_policy(QosDurability, durability),
               deadline=forever, lifespan=forever, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=forever, avoid_ros_namespace_conventions=False)


def _offered_list(qos: Any) -> list[Qos]:
    """None -> [] (unknown); one profile -> [it]; a sequence of profiles -> each."""
    if qos is None:
        return []
    if isinstance(qos, Qos) or hasattr(qos, 'reliability'):
        return [offered_qos(qos)]
    return [offered_qos(p) for p in qos]


class BagRecorder:
    """A bag being written: one connection per topic, messages with their receive time.

    Use as a context manager (or call close()): metadata.yaml is written on close, and a bag
    without it is not readable.
    """

    def __init__(self, path: str | Path, storage: str = 'mcap',
                 typestore: Typestore | None = None, compression: str = 'none'):
        """compression, zstd as rosbag2 writes it (a 640 x 480 sim camera frame: 0.9 MB ->
        tens of kB): 'chunks' for mcap, each chunk (`ros2 bag record -s mcap
        --storage-preset-profile zstd_fast`; any mcap reader decompresses it); 'message' for
        sqlite3, each message (`--compression-mode message --compression-format zstd`;
        readers decompress it as metadata.yaml says). rosbag2 refuses message compression
        with mcap (an .mcap whose messages only metadata.yaml says are compressed), so
        that is a ValueError here too."""
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        if compression not in COMPRESSION:
            raise ValueError(f'compression must be one of {sorted(COMPRESSION)}, got '
                             f'{compression!r}')
        if COMPRESSION_STORAGE.get(compression, storage) != storage:
            other = next(c for c, s in COMPRESSION_STORAGE.items() if s == storage)
            raise ValueError(f'compression {compression!r} is for '
                             f'{COMPRESSION_STORAGE[compression]} bags; {storage} compresses '
                             f'with {other!r} (as rosbag2 does)')
        self.path = Path(path)
        self.storage = storage
        self.typestore = typestore or shared_typestore()
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST,
                              storage_plugin=STORAGES[storage])
        self._writer.set_compression(COMPRESSION[compression], CompressionFormat.ZSTD)
        with refused_writes_named(self.path):  # a sqlite3 .db3 sqlite cannot make: OSError
            self._writer.open()
        # rosbags' sqlite3 storage writes through this connection (None for mcap)
        conn = getattr(self._writer.storage, 'conn', None)
        self._db: sqlite3.Connection | None = (
            conn if isinstance(conn, sqlite3.Connection) else None)
        if self._db is not None and compression == 'message':
            # rosbag2 records the mode in the .db3's metadata table when it opens the file,
            # rosbags only at close: a recorder killed before then left zstd frames the reader
            # took for CDR (storage._message_compression reads the newest row)
            with refused_writes_named(self.path):
                self._db.execute('INSERT INTO metadata(metadata_version, metadata) '
                                 'VALUES(?, ?)', (Writer.VERSION_LATEST, OPENED_COMPRESSED))
                self._db.commit()
        self._uncommitted = 0
        self._committed_at = time.monotonic()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._closed = False

    def add_topic(self, topic: str, msgtype: str, qos: Any = None) -> None:
        """Register a topic (also done by the first write); a topic keeps one type.

        qos: the QoS its publishers offer, one profile per publisher (rosbags Qos or rclpy
        QoSProfile, see offered_qos; one profile alone is fine), stored as the topic's
        offered_qos_profiles as `ros2 bag record` does: `ros2 bag play` republishes with it
        (a latched topic stays transient-local, a camera best-effort). None: unknown (an
        empty list; playback then uses rosbag2's default, reliable and volatile). Only the
        call that registers the topic sets it.
        """
        msgtype = normalize_msgtype(msgtype)
        have = self._connections.get(topic)
        if have is not None:
            if have.msgtype != msgtype:
                raise ValueError(f'topic {topic} is recorded as {have.msgtype}, '
                                 f'cannot also write {msgtype}')
            return
        if msgtype not in self.typestore.types:
            raise ValueError(f'message type {msgtype} is unknown to the type store '
                             f'(topic {topic})')
        prepare_type(self.typestore, msgtype)
        with refused_writes_named(self.path):  # sqlite3 inserts the topic's rows now
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore,
                offered_qos_profiles=_offered_list(qos))
        self.counts[topic] = 0

    def write(self, topic: str, msgtype: str, recv_ns: int,
              data: bytes | bytearray | memoryview | Any, qos: Any = None) -> None:
        """Write one message: CDR bytes, or a rosbags message object (serialized here).

        recv_ns is the bag timestamp (when the recorder received it); the header stamp, if
        any, travels inside the message. qos: as add_topic's, used if this write registers
        the topic.
        """
        if self._closed:
            raise RuntimeError(f'bag {self.path} is closed')
        self.add_topic(topic, msgtype, qos)
        conn = self._connections[topic]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            given = getattr(data, '__msgtype__', None)
            if given != conn.msgtype:  # it would serialize as the topic's type, silently wrong
                raise ValueError(f'a {given or type(data).__name__} message written to {topic}, '
                                 f'a {conn.msgtype} topic')
            data = self.typestore.serialize_cdr(data, conn.msgtype)
        with self._refused_writes():  # the bag it was for, not a file in it
            self._writer.write(conn, int(recv_ns), data)
            self.counts[topic] += 1
            self._commit_now_and_then()

    @contextlib.contextmanager
    def _refused_writes(self) -> Iterator[None]:
        """refused_writes_named, and where sqlite3 rolled back its open transaction (a full
        disk: SQLITE_FULL), the messages written since the last commit are gone: the counts
        (ours, and the writer's that metadata.yaml reports) become what the .db3 holds, and
        the error says how many were lost."""
        try:
            with refused_writes_named(self.path):
                yield
        except OSError as exc:
            lost = self._forget_rolled_back()
            if not lost:
                raise
            raise OSError(exc.errno, f'{exc.strerror}; sqlite3 rolled back the {lost} '
                          'message(s) written since its last commit', exc.filename) \
                from (exc.__cause__ or exc)  # sqlite3's own error, as refused_writes_named's

    def _forget_rolled_back(self) -> int:
        """Recount from the .db3 after a rollback; the number of messages it lost (0: none,
        or no rollback)."""
        db = self._db
        if db is None or db.in_transaction or not self._uncommitted:
            return 0
        try:
            held = message_spans(db)
        except sqlite3.Error:
            return 0
        before = sum(self.counts.values())
        for topic, conn in self._connections.items():
            n = held.get(conn.id, (0, 0, 0))[0]
            self.counts[topic] = self._writer.counts[conn.id] = n
        self._writer.min_timestamp = min((lo for _, lo, _ in held.values()), default=2**63 - 1)
        self._writer.max_timestamp = max((hi for _, _, hi in held.values()), default=0)
        self._uncommitted = 0
        return before - sum(self.counts.values())

    def _commit_now_and_then(self) -> None:
        """Commit a sqlite3 bag's messages every COMMIT_EVERY_S or COMMIT_EVERY_MESSAGES: a
        kill then loses only what came after (the reader notes the rolled-back rest)."""
        if self._db is None:
            return
        self._uncommitted += 1
        if self._uncommitted >= COMMIT_EVERY_MESSAGES:
            self._commit()
        else:
            self.commit_if_due()

    def commit_if_due(self) -> None:
        """Commit what waits uncommitted once COMMIT_EVERY_S has passed since the last commit.

        write() calls it; so should the recorder's spin loop while no message comes, or a
        burst followed by silence (the last messages of an episode, a topic that stopped)
        waits for the next message or close(), and a kill in between loses it all."""
        if (self._db is not None and self._uncommitted and not self._closed
                and time.monotonic() - self._committed_at >= COMMIT_EVERY_S):
            self._commit()

    def _commit(self) -> None:
        with self._refused_writes():
            self._db.commit()
        self._uncommitted, self._committed_at = 0, time.monotonic()

    def close(self) -> None:
        """Write the rest and metadata.yaml; once (a failed close is not tried again)."""
        if not self._closed:
            self._closed = True
            with refused_writes_named(self.path):
                self._writer.close()

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- bags from arrays: demonstrations without a sim or a robot -------------------------------

def _stamp(typestore: Typestore, ns: int) -> Any:
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return typestore.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec)


def _header(typestore: Typestore, ns: int, frame_id: str = '') -> Any:
    return typestore.types['std_msgs/msg/Header'](stamp=_stamp(typestore, ns), frame_id=frame_id)


def image_message(typestore: Typestore, rgb: np.ndarray, stamp_ns: int) -> Any:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return typestore.types['sensor_msgs/msg/Image'](
        header=_header(typestore, stamp_ns), height=rgb.shape[0], width=rgb.shape[1],
        encoding='rgb8', is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1))


def compressed_image_message(typestore: Typestore, rgb: np.ndarray, stamp_ns: int,
                             fmt: str = 'png') -> Any:
    import cv2

    ok, encoded = cv2.imencode('.png' if fmt == 'png' else '.jpg',
                               np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.uint8))
    if not ok:
        raise ValueError(f'cannot encode a {rgb.shape} image as {fmt}')
    return typestore.types['sensor_msgs/msg/CompressedImage'](
        header=_header(typestore, stamp_ns), format=fmt, data=encoded.reshape(-1))


def joint_state_message(typestore: Typestore, names: list[str], position: np.ndarray,
                        stamp_ns: int, velocity: np.ndarray | None = None) -> Any:
    pos = np.asarray(position, dtype=np.float64).reshape(-1)
    vel = np.zeros(0) if velocity is None else np.asarray(velocity, np.float64).reshape(-1)
    return typestore.types['sensor_msgs/msg/JointState'](
        header=_header(typestore, stamp_ns), name=list(names), position=pos, velocity=vel,
        effort=np.zeros(0))


def pose_message(typestore: Typestore, x: float, y: float, yaw: float, stamp_ns: int,
                 z: float = 0.0, frame_id: str = '') -> Any:
    t = typestore.types
    return t['geometry_msgs/msg/PoseStamped'](
        header=_header(typestore, stamp_ns, frame_id),
        pose=t['geometry_msgs/msg/Pose'](
            position=t['geometry_msgs/msg/Point'](x=float(x), y=float(y), z=float(z)),
            orientation=t['geometry_msgs/msg/Quaternion'](
                x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))))


def float_array_message(typestore: Typestore, values: Any) -> Any:
    """A std_msgs/Float64MultiArray of `values`, without a layout (as a forward
    controller's commands come: no header, one value per joint)."""
    t = typestore.types
    return t['std_msgs/msg/Float64MultiArray'](
        layout=t['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0),
        data=np.ascontiguousarray(values, dtype=np.float64).reshape(-1))


def trajectory_message(typestore: Typestore, names: list[str], positions: np.ndarray,
                       stamp_ns: int, period_ns: int, first_index: int = 0) -> Any:
    """Point i due at stamp + (first_index + i) * period, as the policy node and the replay
    publish them (a stop: one point, first_index 1, stamp 0)."""
    t = typestore.types
    points = []
    for i, row in enumerate(np.asarray(positions, dtype=np.float64).reshape(len(positions), -1)):
        sec, nanosec = divmod((first_index + i) * int(period_ns), 1_000_000_000)
        points.append(t['trajectory_msgs/msg/JointTrajectoryPoint'](
            positions=row, velocities=np.zeros(0), accelerations=np.zeros(0),
            effort=np.zeros(0),
            time_from_start=t['builtin_interfaces/msg/Duration'](sec=sec, nanosec=nanosec)))
    return t['trajectory_msgs/msg/JointTrajectory'](
        header=_header(typestore, stamp_ns), joint_names=list(names), points=points)


def string_message(typestore: Typestore, text: str) -> Any:
    return typestore.types['std_msgs/msg/String'](data=text)


PUSHT_JOINTS = ['agent_x', 'agent_y']


def write_pusht_bag(path: str | Path, episodes: list[dict[str, np.ndarray]],
                    storage: str = 'mcap', namespace: str = '/pusht',
                    period_ns: int = 100_000_000, start_ns: int = 0,
                    wall_offset_ns: int = 1_700_000_000_000_000_000,
                    latency_ns: int = 2_000_000, jitter_ns: int = 0,
                    drop: dict[str, set[int]] | None = None,
                    late: dict[str, set[int]] | None = None, seed: int = 0) -> BagRecorder:
    """A bag as the sim bridge + `dp-ros replay` + a recorder make it, from dataset episodes.

    Episode arrays: img (T, 96, 96, 3) 0..255, state (T, 5), action (T, 2). Step k of an
    episode is stamped at its sim time; the episode ends with an episode_result marker and the
    next one starts a step later, as the sim's lockstep clock runs. Receive times are wall
    time (stamp + offset + latency, topics interleaved as a recorder sees them). jitter_ns
    moves header stamps (not receive times) by up to that much, drop names message indices
    (counted over the whole bag, per topic) that never reach the bag, late those received a
    second late (after the next episode's marker, for the last steps).
    """
    rng = np.random.default_rng(seed)
    drop = drop or {}
    late = late or {}
    ns = namespace.rstrip('/')
    topics = {'image': f'{ns}/image_raw', 'joints': f'{ns}/joint_states',
              'pose': f'{ns}/block_pose', 'traj': f'{ns}/joint_trajectory',
              'result': f'{ns}/episode_result'}
    counters = dict.fromkeys(topics.values(), 0)
    # what the sim bridge and the replaying node offer (dp_ros.ros.qos): a camera best
    # effort, the episode marker latched, the rest reliable
    reliable = discovered_qos()
    offered = {topics['image']: discovered_qos('best_effort'),
               topics['result']: discovered_qos(durability='transient_local')}
    recorder = BagRecorder(path, storage=storage)
    ts = recorder.typestore
    tick = start_ns // period_ns

    def put(topic: str, msgtype: str, recv: int, msg: Any) -> None:
        index = counters[topic]
        counters[topic] += 1
        if index not in drop.get(topic, ()):
            delay = 1_000_000_000 if index in late.get(topic, ()) else 0
            recorder.write(topic, msgtype, recv + delay, msg, offered.get(topic, reliable))

    def jittered(t: int) -> int:
        return t + int(rng.integers(-jitter_ns, jitter_ns + 1)) if jitter_ns else t

    with recorder:
        for number, episode in enumerate(episodes):
            state, action, img = episode['state'], episode['action'], episode['img']
            for k in range(len(action)):
                t = tick * period_ns
                recv = t + wall_offset_ns + latency_ns
                put(topics['image'], 'sensor_msgs/msg/Image', recv,
                    image_message(ts, img[k], jittered(t)))
                put(topics['joints'], 'sensor_msgs/msg/JointState', recv + 1000,
                    joint_state_message(ts, PUSHT_JOINTS, state[k, :2], jittered(t)))
                put(topics['pose'], 'geometry_msgs/msg/PoseStamped', recv + 2000,
                    pose_message(ts, state[k, 2], state[k, 3], float(state[k, 4]),
                                 jittered(t)))
                put(topics['traj'], 'trajectory_msgs/msg/JointTrajectory', recv + latency_ns,
                    trajectory_message(ts, PUSHT_JOINTS, action[k:k + 1], t, period_ns))
                tick += 1
            recv = tick * period_ns + wall_offset_ns + latency_ns
            put(topics['result'], 'std_msgs/msg/String', recv,
                string_message(ts, json.dumps({'episode': number, 'steps': len(action)})))
            tick += 1
    return recorder
