"""Behaviour of sim_bridge/record_demo.py's Recorder and command, and sim_bridge/teleop.py's
TeleopNode, that their other tests left unpinned (a mutation review; the ROS-free half is
test/test_record_demo_arm_demos_mutants.py). Real rclpy nodes: the real Recorder and
TeleopNode, a probe node's publishers, a real parameter node, record_demo in a child process.

record_demo: with no publisher it writes an empty bag after --duration, names every default
topic under the namespace (a trailing '/' dropped) as never seen, on stderr; a bag the disk
refuses when it is made, written or closed is one line with the reason, exit 2, no folder
left (a refused write ends even a recording without limits); --duration 0
runs until SIGTERM, which ends it as 'interrupted' with the bag written, its 'ready:' line
naming the bag; it subscribes best-effort and volatile when one publisher offers less, with
a queue of QUEUE_DEPTH, and only to topics that have a publisher; the offered QoS seen last
is kept when the publishers go; the not-matched message waits MATCH_TIMEOUT_S from the
moment every topic was subscribed and is said once; --stop-after-results 2 counts two
results; without a bag (between episodes) messages are dropped without an error and 'ready:'
is said once; switch() gives the previous bag back and counts results afresh; close() takes
its node off the graph.
teleop: a trailing '/' of the namespace is dropped, the mode is asked of <ns>/<node-name>
and must be one of MODES, each frame is answered once (agent_x, agent_y), a frame's stamp
and count are taken, a missing reset service is said.

Defects it found, mended: --stop-after-results with --topics that leave out the result topic
ran until Ctrl-C (nothing counts; now exit 2); a topic given twice in --topics kept the
recorder from ever being ready; the teleop blamed a sim node that does not answer in time on
its name (--node-name).
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import LATCHED, RELIABLE, RosProbe
from sensor_msgs.msg import Image
from std_msgs.msg import String
from support import checkout_env, module_cmd
from trajectory_msgs.msg import JointTrajectory

from dp_ros.bags.reader import open_bag
from dp_ros.bags.recorder import BagRecorder
from dp_ros.ros.background_node import BackgroundNode
from dp_ros.ros.conversions import time_to_ns
from sim_bridge import record_demo
from sim_bridge.record_demo import Recorder

pytestmark = pytest.mark.ros

NS = '/rec_mut'
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
VOLATILE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


@pytest.fixture
def handlers_kept() -> Iterator[None]:
    """record_demo.main installs SIGINT/SIGTERM handlers: put pytest's back."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in kept.items():
        signal.signal(sig, handler)


class Spinning:
    """A Recorder's spin_until on a thread: its return value or its exception."""

    def __init__(self, recorder: Recorder, max_results: int = 0):
        self.recorder, self.stop = recorder, threading.Event()
        self.reason: str | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(max_results,), daemon=True)
        self.thread.start()

    def _run(self, max_results: int) -> None:
        try:
            self.reason = self.recorder.spin_until(self.stop, max_results, 0.0)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def ticks_after(self, ros_probe: RosProbe, n: int) -> None:
        """Until the recorder has run n more callbacks (discovery ticks among them)."""
        start = self.recorder.callbacks
        ros_probe.wait_for(lambda: self.recorder.callbacks >= start + n or self.error, 30,
                           f'{n} more recorder callbacks')

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.recorder.close()


@pytest.fixture
def spinning() -> Iterator[Callable[..., Spinning]]:
    made: list[Spinning] = []

    def start(topics: list[str], bag: BagRecorder | None, max_results: int = 0) -> Spinning:
        made.append(Spinning(Recorder(topics, bag, f'{NS}/episode_result'), max_results))
        return made[-1]

    yield start
    for s in made:
        s.close()


# --- record_demo's command ---------------------------------------------------------------------

def test_with_no_publisher_an_empty_bag_is_written_and_every_default_topic_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], handlers_kept: None):
    """The six default topics under --namespace (its trailing '/' dropped), none published:
    an mcap bag with metadata and no message, 'no messages', and the topics named on stderr."""
    out = tmp_path / 'bag'
    assert record_demo.main(['-o', str(out), '--namespace', '/rec_mut_none/',
                             '--duration', '0.3']) == 0
    got = capsys.readouterr()
    assert got.out.splitlines()[-1] == f'wrote {out} (mcap) after --duration 0.3 s: no messages'
    topics = [f'/rec_mut_none/{t}' for t in ('image_raw', 'joint_states', 'block_pose',
                                             'joint_trajectory', 'episode_result', 'reward')]
    assert got.err.splitlines()[-1] == f'record_demo: never saw a publisher on {topics}'
    assert (out / 'metadata.yaml').is_file() and list(out.glob('*.mcap'))
    with open_bag(out) as bag:
        assert list(bag.messages(topics, progress=False)) == []


def test_duration_0_records_until_sigterm(tmp_path: Path, ros_probe: RosProbe):
    """No --duration: no limit; SIGTERM ends it as 'interrupted' with the bag written (the
    message sent just before may or may not be in it), after a 'ready:' line naming the bag
    and a line per topic with its type."""
    topic = f'{NS}/until_term'
    pub = ros_probe.publisher(String, topic, RELIABLE)
    out = tmp_path / 'bag'
    proc = subprocess.Popen(module_cmd('sim_bridge.record_demo', '-o', str(out), '--topics',
                                       topic), env=checkout_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        while not (line := proc.stdout.readline()).startswith('ready:'):
            assert line, f'record_demo ended before it was ready: {lines} {proc.stderr.read()}'
            lines.append(line)
        assert line == f'ready: recording 1 topics into {out}\n'
        assert lines == [f'recording {topic} [std_msgs/msg/String]\n']
        ros_probe.wait_for_subscribers(pub)
        pub.publish(String(data='kept'))
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f'wrote {out} (mcap) after interrupted: ' in rest
    with open_bag(out) as bag:
        assert [m.data for _, _, m in bag.messages([topic], progress=False)] in ([], ['kept'])


def cap_file_size() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8))  # no bag file can be written


@pytest.mark.parametrize(('storage', 'reason'), [
    ('mcap', 'File too large; the cut-off bag is removed'),  # its footer, at close
    ('sqlite3', 'disk I/O error (SQLITE_IOERR_WRITE)'),  # its schema, making the bag
])
def test_a_bag_the_disk_refuses_is_one_line_and_no_folder(tmp_path: Path, storage: str,
                                                          reason: str):
    """Files capped at 8 bytes: the mcap bag fails closing (no message was written), the
    sqlite3 one at its making; exit 2, the reason alone, and the folder removed."""
    out = tmp_path / 'bag'
    proc = subprocess.run(module_cmd('sim_bridge.record_demo', '-o', str(out), '--storage',
                                     storage, '--duration', '0.2', '--topics', f'{NS}/capped'),
                          env=checkout_env(), capture_output=True, text=True, timeout=120,
                          preexec_fn=cap_file_size)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines()[-1] == f'record_demo: cannot write {out}: {reason}'
    assert 'wrote' not in proc.stdout and not out.exists()


def test_a_write_the_disk_refuses_ends_an_unlimited_recording(tmp_path: Path,
                                                               ros_probe: RosProbe):
    """No --duration, no result count: a write past the 64 KiB cap ends the recording at
    once, exit 2, one line naming the bag (not a recording that goes on until Ctrl-C)."""
    topic = f'{NS}/filling'
    pub = ros_probe.publisher(String, topic, RELIABLE)
    out = tmp_path / 'bag'

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = subprocess.Popen(module_cmd('sim_bridge.record_demo', '-o', str(out), '--topics',
                                       topic), env=checkout_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=cap)
    try:
        while not (line := proc.stdout.readline()).startswith('ready:'):
            assert line, f'record_demo ended before it was ready: {proc.stderr.read()}'
        ros_probe.wait_for_subscribers(pub)
        big = String(data='x' * 65536)
        for _ in range(400):  # 25 MB at most; the cap is passed long before
            if proc.poll() is not None:
                break
            pub.publish(big)
            time.sleep(0.005)  # pacing only: the writer's queue is 50 deep
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, err[-2000:]
    assert err.splitlines()[-1] == (f'record_demo: cannot write {out}: File too large; the '
                                    'cut-off bag is removed')
    assert not out.exists()


def test_stop_after_results_without_the_result_topic_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], handlers_kept: None):
    out = tmp_path / 'bag'
    code = record_demo.main(['-o', str(out), '--namespace', NS, '--topics', f'{NS}/only',
                             '--stop-after-results', '1', '--duration', '0.2'])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert f'counts {NS}/episode_result messages, which --topics leaves out' in err


def test_a_topic_named_twice_is_recorded_once_and_ready(ros_probe: RosProbe,
                                                        spinning: Callable[..., Spinning]):
    topic = f'{NS}/twice'
    ros_probe.publisher(String, topic, RELIABLE)
    rec = spinning([topic, topic], None)
    ros_probe.wait_for(lambda: topic in rec.recorder.subscribed, 30, f'{topic} subscribed')
    sub = rec.recorder.subscriptions[topic]
    ros_probe.wait_for(lambda: sub.get_publisher_count() >= 1, 30, 'the publisher matched')
    rec.ticks_after(ros_probe, 5)
    assert rec.recorder.ready


# --- the Recorder ------------------------------------------------------------------------------

def test_the_subscription_takes_what_every_publisher_offers(ros_probe: RosProbe,
                                                            spinning: Callable[..., Spinning]):
    """Reliable + best-effort publishers: best effort; latched + volatile: volatile; latched
    alone: transient local; every queue QUEUE_DEPTH deep."""
    mixed, durab, latched = f'{NS}/mixed_rel', f'{NS}/mixed_dur', f'{NS}/latched_only'
    for topic, qos in ((mixed, RELIABLE), (mixed, BEST_EFFORT), (durab, LATCHED),
                       (durab, VOLATILE), (latched, LATCHED)):
        ros_probe.publisher(String, topic, qos)
    ros_probe.wait_for(lambda: all(ros_probe.node.count_publishers(t) == n for t, n in
                                   ((mixed, 2), (durab, 2), (latched, 1))), 30, 'publishers')
    rec = spinning([mixed, durab, latched], None)
    ros_probe.wait_for(lambda: len(rec.recorder.subscribed) == 3, 30, 'three subscriptions')
    qos = {t: s.qos_profile for t, s in rec.recorder.subscriptions.items()}
    assert qos[mixed].reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos[durab].durability == DurabilityPolicy.VOLATILE
    assert qos[latched].durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert qos[latched].reliability == ReliabilityPolicy.RELIABLE
    assert {q.depth for q in qos.values()} == {record_demo.QUEUE_DEPTH}


def test_a_topic_with_subscribers_only_is_not_subscribed(ros_probe: RosProbe,
                                                         spinning: Callable[..., Spinning]):
    """No publisher: no type to trust, no QoS to follow; subscribed once one appears."""
    only_sub, other = f'{NS}/only_sub', f'{NS}/has_pub'
    ros_probe.collect(String, only_sub, RELIABLE)
    ros_probe.publisher(String, other, RELIABLE)
    ros_probe.wait_for(lambda: ros_probe.node.count_subscribers(only_sub) == 1, 30, 'reader')
    rec = spinning([only_sub, other], None)
    ros_probe.wait_for(lambda: other in rec.recorder.subscribed, 30, f'{other} subscribed')
    rec.ticks_after(ros_probe, 5)
    assert only_sub not in rec.recorder.subscribed
    ros_probe.publisher(String, only_sub, BEST_EFFORT)
    ros_probe.wait_for(lambda: only_sub in rec.recorder.subscribed, 30, f'{only_sub} subscribed')
    sub = rec.recorder.subscriptions[only_sub]
    assert sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT


def test_the_offered_qos_seen_last_is_kept_when_the_publishers_go(
        ros_probe: RosProbe, spinning: Callable[..., Spinning]):
    topic = f'{NS}/gone'
    pub = ros_probe.publisher(String, topic, LATCHED)
    rec = spinning([topic], None)
    ros_probe.wait_for(lambda: topic in rec.recorder.subscribed, 30, f'{topic} subscribed')
    seen = rec.recorder._offered(topic)
    assert len(seen) == 1
    ros_probe.node.destroy_publisher(pub)
    ros_probe.wait_for(lambda: rec.recorder.node.count_publishers(topic) == 0, 30,
                       'the publisher gone')
    assert rec.recorder._offered(topic) == seen


def test_not_matched_is_said_once_and_only_after_the_timeout(
        ros_probe: RosProbe, spinning: Callable[..., Spinning],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """A latched and a volatile publisher (the transient-local reader matches one), then the
    last topic's: nothing said while MATCH_TIMEOUT_S has not passed since every topic was
    subscribed; said once it has, and once only."""
    topic, late = f'{NS}/half_matched', f'{NS}/half_late'
    monkeypatch.setattr(record_demo, 'MATCH_TIMEOUT_S', 1000.0)
    ros_probe.publisher(String, topic, LATCHED)
    rec = spinning([topic, late], None)
    ros_probe.wait_for(lambda: topic in rec.recorder.subscribed, 30, f'{topic} subscribed')
    ros_probe.publisher(String, topic, VOLATILE)
    ros_probe.wait_for(lambda: rec.recorder.node.count_publishers(topic) == 2, 30,
                       'both publishers')
    ros_probe.publisher(String, late, RELIABLE)  # every topic subscribed from here on
    ros_probe.wait_for(lambda: late in rec.recorder.subscribed, 30, f'{late} subscribed')
    rec.ticks_after(ros_probe, 5)
    err = [capsys.readouterr().err]
    assert 'not yet matched' not in err[0] and not rec.recorder.ready
    monkeypatch.setattr(record_demo, 'MATCH_TIMEOUT_S', 0.2)  # passed long ago

    def said() -> bool:
        err.append(capsys.readouterr().err)
        return 'not yet matched' in ''.join(err)

    ros_probe.wait_for(said, 30, 'the not-matched message')
    rec.ticks_after(ros_probe, 5)
    err = ''.join(err) + capsys.readouterr().err
    assert err.count('not yet matched') == 1, err
    assert f'{topic} (1 of 2 publishers)' in err


def test_stop_after_two_results_counts_both(ros_probe: RosProbe, tmp_path: Path,
                                            spinning: Callable[..., Spinning]):
    result = f'{NS}/episode_result'
    pub = ros_probe.publisher(String, result, RELIABLE)
    bag = BagRecorder(tmp_path / 'bag', storage='mcap')
    try:
        rec = spinning([result], bag, 2)
        ros_probe.wait_for(lambda: rec.recorder.ready, 30, 'the recorder ready')
        pub.publish(String(data='1'))
        ros_probe.wait_for(lambda: rec.recorder.results == 1, 30, 'the first result counted')
        assert rec.thread.is_alive()
        pub.publish(String(data='2'))
        rec.thread.join(60)
        assert rec.error is None and rec.reason == '2 episode result(s)'
    finally:
        rec.close()
        bag.close()
    assert bag.counts == {result: 2}


def test_without_a_bag_messages_are_dropped_without_an_error(
        ros_probe: RosProbe, spinning: Callable[..., Spinning],
        capsys: pytest.CaptureFixture[str]):
    """Between two episode bags (bag None): 50 messages taken, none an error; 'ready:' said
    once, without a bag to name."""
    topic = f'{NS}/no_bag'
    pub = ros_probe.publisher(String, topic, QoSProfile(depth=100,
                                                        reliability=ReliabilityPolicy.RELIABLE))
    rec = spinning([topic], None)
    ros_probe.wait_for(lambda: rec.recorder.ready, 30, 'the recorder ready')
    for i in range(50):
        pub.publish(String(data=str(i)))
    rec.ticks_after(ros_probe, 55)  # 50 messages at most: 5 discovery ticks at least
    assert rec.error is None and rec.thread.is_alive()
    ready = [line for line in capsys.readouterr().out.splitlines() if line.startswith('ready:')]
    assert ready == ['ready: recording 1 topics']


def test_switch_gives_the_previous_bag_back_and_counts_results_afresh(tmp_path: Path,
                                                                       spinning: Any):
    first = BagRecorder(tmp_path / 'first', storage='mcap')
    rec = spinning([f'{NS}/any'], first).recorder
    rec.results = 3
    assert rec.switch(None) is first and rec.results == 0 and rec.bag is None
    first.close()


# --- teleop's node -----------------------------------------------------------------------------

@pytest.fixture
def sim_params() -> Iterator[Callable[[str], None]]:
    """A node named pusht_sim in /tel_mut whose mode parameter is set by the test."""
    holder: list[BackgroundNode] = []

    def make(mode: str) -> None:
        holder.append(BackgroundNode('pusht_sim', '/tel_mut'))
        holder[-1].node.declare_parameter('mode', mode)

    yield make
    for node in holder:
        node.close()


@pytest.fixture
def teleop_node() -> Iterator[Any]:
    from sim_bridge.teleop import TeleopNode

    node = TeleopNode('/tel_mut/')
    yield node
    node.close()


def test_the_teleop_asks_the_mode_of_the_sim_node_under_its_namespace(
        sim_params: Callable[[str], None], teleop_node: Any):
    sim_params('lockstep')
    assert teleop_node.node_path == '/tel_mut/pusht_sim'
    # a first reply lost between two nodes just made is asked again (QUERY_RESEND_S)
    assert teleop_node.sim_mode(timeout=30.0) == 'lockstep'


def test_a_mode_that_is_no_sim_mode_is_refused(sim_params: Callable[[str], None],
                                               teleop_node: Any):
    sim_params('bogus')
    with pytest.raises(RuntimeError, match='/tel_mut/pusht_sim has no mode parameter'):
        teleop_node.sim_mode(timeout=30.0)


def test_a_sim_node_that_does_not_answer_is_not_blamed_on_its_name(teleop_node: Any):
    quiet = BackgroundNode('pusht_sim', '/tel_mut', spin=False)  # its services never answer
    try:
        quiet.node.declare_parameter('mode', 'lockstep')
        with pytest.raises(RuntimeError) as raised:
            teleop_node.sim_mode(timeout=2.0)
    finally:
        quiet.close()
    assert 'no reply' in str(raised.value) and '--node-name' not in str(raised.value)


def test_each_frame_is_answered_once_with_its_stamp(ros_probe: RosProbe, teleop_node: Any):
    """Two sends for one frame: one command; the next frame: the next command. In lockstep
    each carries its frame's stamp; the point is (agent_x, agent_y) = the target."""
    got = ros_probe.collect(JointTrajectory, '/tel_mut/joint_trajectory', RELIABLE)
    ros_probe.wait_for(lambda: teleop_node.pub.get_subscription_count() >= 1, 30, 'reader')
    teleop_node.mode = 'lockstep'
    for stamp, received in ((5_000, 1), (7_000, 2)):
        with teleop_node.lock:
            teleop_node.stamp_ns, teleop_node.frames_received = stamp, received
        teleop_node.send((120.0, 340.0))
        teleop_node.send((120.0, 340.0))
    msgs = ros_probe.wait_for_messages(got, 2, 30, 'commands')
    assert [time_to_ns(m.header.stamp) for m in msgs] == [5_000, 7_000]
    assert all(list(m.joint_names) == ['agent_x', 'agent_y'] for m in msgs)
    assert [list(m.points[0].positions) for m in msgs] == [[120.0, 340.0]] * 2


def test_a_camera_frame_sets_the_stamp_and_the_count(ros_probe: RosProbe, teleop_node: Any):
    pub = ros_probe.publisher(Image, '/tel_mut/image_raw', qos_profile_sensor_data)
    ros_probe.wait_for_subscribers(pub, 1, 30)
    msg = Image(height=2, width=3, encoding='rgb8', step=9, data=list(range(18)))
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345

    def received() -> bool:
        pub.publish(msg)
        return teleop_node.frames_received >= 1

    ros_probe.wait_for(received, 30, 'a frame')
    with teleop_node.lock:
        assert teleop_node.stamp_ns == 12_000_000_345
        assert teleop_node.frame.shape == (2, 3, 3)


def test_a_missing_reset_service_is_said(teleop_node: Any, capsys: pytest.CaptureFixture[str]):
    teleop_node.reset()
    assert 'teleop: no reset service on /tel_mut' in capsys.readouterr().err


def test_a_closed_recorder_leaves_the_graph(ros_probe: RosProbe):
    """close() shuts its node down: no 'record_demo' node left subscribed (main closes it
    before the bag)."""
    recorder = Recorder([f'{NS}/leaves'], None, f'{NS}/episode_result')
    ros_probe.wait_for(lambda: 'record_demo' in ros_probe.node.get_node_names(), 30,
                       'the recorder node in the graph')
    recorder.close()
    ros_probe.wait_for(lambda: 'record_demo' not in ros_probe.node.get_node_names(), 30,
                       'the recorder node gone')
