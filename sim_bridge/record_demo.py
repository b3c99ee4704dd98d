"""Record ROS topics into a bag (mcap or sqlite3): what `ros2 bag record` does, without a ROS
install.

    python -m sim_bridge.record_demo -o demos/rosbag2_pusht_0 [--storage mcap]
        [--topics /pusht/image_raw ...] [--stop-after-results N] [--duration S]

Messages are taken serialized (raw subscriptions: no deserialization) and written with their
receive time, header stamps untouched, so `dp-ros bag2zarr` resamples them by stamp as it
would a bag from a robot. QoS follows the publishers, as rosbag2 does: reliable only when
every publisher offers it, transient-local for latched topics (episode results); and the bag
stores each topic's offered QoS (one profile per publisher, in metadata.yaml), so that
`ros2 bag play` republishes a latched topic latched and the camera best-effort. Stops on
Ctrl-C / SIGTERM, after N episode results (refused when --topics leaves out the result topic:
it would never stop), or after a duration; the bag is closed (metadata written) in every case.
A topic whose message type this machine lacks is said once and not recorded, as rosbag2 does.
A write the disk refuses (full, over the size limit) ends the recording
at once: one line naming the bag, exit 2, and the cut-off bag (no summary, no metadata.yaml:
inspect and bag2zarr refuse it) is removed.
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dp_ros.bags.recorder import BagRecorder, offered_qos

DEFAULT_TOPICS = ('image_raw', 'joint_states', 'block_pose', 'joint_trajectory',
                  'episode_result', 'reward')
QUEUE_DEPTH = 1000  # a recorder must not drop messages while the disk catches up
# 'ready:' waits this long for every subscription to match its topic's publishers, then says
# which have not (and prints it once they have)
MATCH_TIMEOUT_S = 10.0
# after the last episode result: messages in flight are taken for at least STRAGGLERS_S, then
# the queue is drained until a spin finds nothing, for at most DRAIN_LIMIT_S in all
STRAGGLERS_S = 0.5
DRAIN_LIMIT_S = 10.0


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' (or a service's event type, 'std_srvs/srv/Trigger_Event') ->
    the rclpy message class. ImportError or AttributeError: its package is not installed here,
    or has no such type."""
    package, kind, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m sim_bridge.record_demo',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('-o', '--output', type=Path, required=True,
                        help='bag directory to create (must not exist)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--compression', choices=('none', 'chunks', 'message'), default='none',
                        help="zstd for full-size cameras, as rosbag2 writes it: 'chunks' for "
                             'mcap (`--storage-preset-profile zstd_fast`), \'message\' for '
                             'sqlite3 (`--compression-mode message`)')
    parser.add_argument('--namespace', default='/pusht',
                        help='prefix of the default topics (default /pusht)')
    parser.add_argument('--topics', nargs='+', default=None,
                        help='absolute topic names (default: the sim bridge topics)')
    parser.add_argument('--stop-after-results', type=int, default=0,
                        help='stop after this many messages on <namespace>/episode_result')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (default: run until Ctrl-C)')
    return parser


class Recorder:
    """An rclpy node writing every message of the chosen topics into a BagRecorder."""

    def __init__(self, topics: list[str], bag: BagRecorder | None, result_topic: str):
        from dp_ros.ros.background_node import BackgroundNode

        self.topics = list(dict.fromkeys(topics))  # one subscription a topic: 'ready:' counts
        self.bag = bag
        self.result_topic = result_topic
        self.results = 0
        self.ros = BackgroundNode('record_demo', spin=False)  # spun here: spin_until()
        self.node, self.context, self.executor = self.ros.node, self.ros.context, self.ros.executor
        self.subscribed: dict[str, str] = {}
        # topic -> its type, where this machine lacks the type's package (as rosbag2 does:
        # said once, skipped; the other topics are recorded and 'ready:' comes without it)
        self.unknown_types: dict[str, str] = {}
        self.subscriptions: dict[str, Any] = {}
        self.ready = False  # every topic subscribed and matched with its publishers
        self.callbacks = 0  # callbacks run (messages and discovery): what a spin found
        self._all_subscribed_at: float | None = None
        self._unmatched_said = False
        # per topic: its publishers' QoS, as the bag stores it (offered_qos_profiles)
        self.offered: dict[str, list] = {}
        # a write the bag's disk refused (its path named): nothing more is recorded, and
        # spin_until returns, instead of the spin thread dying with a traceback
        self.failure: OSError | None = None
        self._lock = threading.Lock()
        self.node.create_timer(0.1, self._discover)

    def _qos(self, topic: str):
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        infos = self.node.get_publishers_info_by_topic(topic)
        reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
        latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                      for i in infos)
        return QoSProfile(depth=QUEUE_DEPTH,
                          reliability=ReliabilityPolicy.RELIABLE if reliable
                          else ReliabilityPolicy.BEST_EFFORT,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                          else DurabilityPolicy.VOLATILE)

    def _offered(self, topic: str) -> list:
        """The QoS the topic's publishers offer now (rosbags Qos, one per publisher); those
        seen last if none is left."""
        infos = self.node.get_publishers_info_by_topic(topic)
        if infos:
            self.offered[topic] = [offered_qos(i.qos_profile) for i in infos]
        return self.offered.get(topic, [])

    def _discover(self) -> None:
        """Subscribe to each topic once a publisher shows its type (and its QoS)."""
        self.callbacks += 1
        if self.unseen():
            self._subscribe()
        if not self.ready and not self.unseen():
            self._check_matched()

    def unseen(self) -> list[str]:
        """The topics no publisher has shown yet: neither subscribed nor of a type this
        machine lacks."""
        return [t for t in self.topics if t not in self.subscribed and t not in self.unknown_types]

    def _unmatched(self) -> dict[str, tuple[int, int]]:
        """Topic -> (publishers matched, publishers in the graph) where some are not yet."""
        counts = {t: (sub.get_publisher_count(), self.node.count_publishers(t))
                  for t, sub in self.subscriptions.items()}
        return {t: c for t, c in counts.items() if c[0] < c[1]}

    def _check_matched(self) -> None:
        """'ready:' once each subscription is matched with the publishers the graph shows for
        its topic: before that, messages published are not received (a caller that starts
        its run on 'ready:' would lose the first ones)."""
        now = time.monotonic()
        if self._all_subscribed_at is None:
            self._all_subscribed_at = now
        unmatched = self._unmatched()
        if not unmatched:
            self.ready = True
            where = f' into {self.bag.path}' if self.bag is not None else ''
            print(f'ready: recording {len(self.subscribed)} topics{where}', flush=True)
        elif not self._unmatched_said and now - self._all_subscribed_at >= MATCH_TIMEOUT_S:
            self._unmatched_said = True
            said = ', '.join(f'{t} ({m} of {n} publishers)' for t, (m, n) in unmatched.items())
            print(f'record_demo: after {MATCH_TIMEOUT_S:g} s not yet matched with every '
                  f'publisher: {said} (incompatible QoS?); recording what arrives, not ready',
                  file=sys.stderr, flush=True)

    def _subscribe(self) -> None:
        known = dict(self.node.get_topic_names_and_types())
        for topic in self.topics:
            if topic in self.subscribed or topic in self.unknown_types or topic not in known:
                continue
            if not self.node.get_publishers_info_by_topic(topic):
                continue
            msgtype = known[topic][0]
            try:
                msg_class = message_class(msgtype)
            except (ImportError, AttributeError, ValueError) as exc:
                self.unknown_types[topic] = msgtype
                print(f'record_demo: {topic} is of type {msgtype}, which this machine cannot '
                      f'load ({exc}): not recorded (install its message package)',
                      file=sys.stderr, flush=True)
                continue
            self._offered(topic)
            self.subscriptions[topic] = self.node.create_subscription(
                msg_class, topic, self._writer(topic, msgtype), self._qos(topic),
                raw=True)
            self.subscribed[topic] = msgtype
            print(f'recording {topic} [{msgtype}]', flush=True)

    def _writer(self, topic: str, msgtype: str):
        subscribed_ns = time.time_ns()

        def on_message(data: bytes, info) -> None:
            self.callbacks += 1
            recv_ns = info['received_timestamp'] or time.time_ns()
            with self._lock:
                if self.bag is None or self.failure is not None:  # between bags (switch),
                    return  # or after a failed write: not recorded
                # a topic's first message in this bag registers it with the QoS its
                # publishers offer now (a bag per episode: each gets them)
                qos = self._offered(topic) if topic not in self.bag.counts else None
                try:
                    self.bag.write(topic, msgtype, recv_ns, data, qos=qos)
                except OSError as exc:  # BagRecorder names the bag
                    self.failure = exc
                    return
                if topic != self.result_topic:
                    return
                if info['source_timestamp'] >= subscribed_ns:
                    self.results += 1
                else:  # latched, of an episode that ended before: --stop-after-results
                    # counted it and stopped at once
                    print(f'{topic}: a result published before the recording started: '
                          'recorded, not counted', flush=True)
        return on_message

    def switch(self, bag: BagRecorder | None) -> BagRecorder | None:
        """Write the next messages into `bag` (None: drop them); the previous bag, to close."""
        with self._lock:
            old, self.bag = self.bag, bag
            self.results = 0
        return old

    def spin_until(self, stop: threading.Event, max_results: int, duration: float) -> str:
        """Record until a stop signal, max_results new episode results, duration seconds, or
        a failed write (self.failure); returns which."""
        deadline = time.monotonic() + duration if duration > 0 else None
        while not stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)
            self._commit_if_due()
            if self.failure is not None:
                return 'a failed write'
            if max_results and self.results >= max_results:
                self._drain()
                return f'{self.results} episode result(s)'
            if deadline is not None and time.monotonic() > deadline:
                return f'--duration {duration:g} s'
        return 'interrupted'

    def _commit_if_due(self) -> None:
        """A quiet spin still commits a sqlite3 bag's last burst (BagRecorder.commit_if_due)."""
        with self._lock:
            if self.bag is None or self.failure is not None:
                return
            try:
                self.bag.commit_if_due()
            except OSError as exc:  # a full disk: as a failed write
                self.failure = exc

    def _drain(self) -> None:
        """The results come last in an episode: the other topics' messages still in flight
        (STRAGGLERS_S) and those queued, one callback a spin, until a spin finds nothing
        (a loaded machine can have many queued), for at most DRAIN_LIMIT_S."""
        start = time.monotonic()
        while time.monotonic() - start < DRAIN_LIMIT_S and self.failure is None:
            before = self.callbacks
            self.executor.spin_once(timeout_sec=0.05)
            if self.callbacks == before and time.monotonic() - start >= STRAGGLERS_S:
                return
        if self.failure is not None:
            return
        print(f'record_demo: messages still arriving {DRAIN_LIMIT_S:g} s after the last '
              'episode result: stopped there', file=sys.stderr, flush=True)

    def close(self) -> None:
        self.ros.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ns = args.namespace.rstrip('/')
    topics = args.topics or [f'{ns}/{t}' for t in DEFAULT_TOPICS]
    bad = [t for t in topics if not t.startswith('/')]
    if bad:
        print(f'record_demo: topics must be absolute names, got {bad}', file=sys.stderr)
        return 2
    if args.stop_after_results < 0 or not 0 <= args.duration < float('inf'):  # nan too
        print(f'record_demo: --stop-after-results must be >= 0 and --duration a finite number '
              f'>= 0 (0: no limit), got {args.stop_after_results} and {args.duration}',
              file=sys.stderr)
        return 2
    if args.stop_after_results and f'{ns}/episode_result' not in topics:
        print(f'record_demo: --stop-after-results counts {ns}/episode_result messages, which '
              f'--topics leaves out: it would never stop (add the topic, or --namespace)',
              file=sys.stderr)
        return 2
    if args.output.exists():
        print(f'record_demo: {args.output} exists already; not overwriting', file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        bag = BagRecorder(args.output, storage=args.storage, compression=args.compression)
    except ValueError as exc:  # a compression its storage does not take (as rosbag2): none made
        print(f'record_demo: {exc}', file=sys.stderr)
        return 2
    except OSError as exc:  # its folder: a full disk, read-only, not permitted
        shutil.rmtree(args.output, ignore_errors=True)  # did not exist (checked above)
        print(f'record_demo: cannot write {args.output}: {exc.strerror or exc}',
              file=sys.stderr)
        return 2
    recorder = Recorder(topics, bag, f'{ns}/episode_result')
    try:
        reason = recorder.spin_until(stop, args.stop_after_results, args.duration)
    finally:
        recorder.close()
        try:
            bag.close()
        except OSError as exc:  # its footer or metadata.yaml on a full disk
            recorder.failure = recorder.failure or exc
    if recorder.failure is not None:
        exc = recorder.failure
        shutil.rmtree(args.output, ignore_errors=True)
        print(f'record_demo: cannot write {args.output}: {exc.strerror or exc}; the cut-off '
              'bag is removed', file=sys.stderr)
        return 2
    counts = ', '.join(f'{t}: {n}' for t, n in bag.counts.items()) or 'no messages'
    print(f'wrote {args.output} ({args.storage}) after {reason}: {counts}', flush=True)
    missing = recorder.unseen()
    if missing:
        print(f'record_demo: never saw a publisher on {missing}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
