"""sim_bridge.record_demo's Recorder, at the start and end of a recording, on real rclpy: the
real Recorder node, publishers of a probe node, a real mcap bag.

'ready:' (and arm-record's EpisodeRecorder.ready()) means every topic is subscribed and each
subscription is matched with the publishers the graph shows for its topic: subscribed is not
enough (a publisher its reader does not match, such as a volatile one on a latched topic, is
not recorded). After the last episode result the recorder drains its queue until a spin finds
nothing: a fixed 0.5 s of one callback per spin left messages queued on a loaded machine, and
they were missing from the bag. Only orders and counts are asserted, no wall-clock margins.
"""
from __future__ import annotations

import threading

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import LATCHED, RELIABLE
from std_msgs.msg import String

from dp_ros.bags.reader import open_bag
from dp_ros.bags.recorder import BagRecorder
from sim_bridge import record_demo
from sim_bridge.record_demo import Recorder

pytestmark = pytest.mark.ros

NS = '/rec_ready'
LATCH, LATE, RESULT = f'{NS}/latched', f'{NS}/late', f'{NS}/episode_result'
VOLATILE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
DEEP = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)  # keeps all 200


class Output:
    """What the recorder printed so far (its spin thread prints; capsys captures it)."""

    def __init__(self, capsys):
        self.capsys, self.out, self.err = capsys, '', ''

    def read(self) -> Output:
        got = self.capsys.readouterr()
        self.out += got.out
        self.err += got.err
        return self


def spin(recorder: Recorder, max_results: int) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=recorder.spin_until, args=(stop, max_results, 0.0),
                              daemon=True)
    thread.start()
    return thread, stop


def unmatched_then_matched(ros_probe, output: Output, node, subscribed, topics: dict) -> None:
    """A latched publisher on LATCH (the recorder subscribes transient-local), then a volatile
    one on it (in the graph, not matched by that reader: incompatible), then the last topic's
    publisher: all subscribed, not matched; the recorder says which (MATCH_TIMEOUT_S is 0
    here), and is not ready until the volatile publisher goes."""
    topics[LATCH] = ros_probe.publisher(String, LATCH, LATCHED)
    ros_probe.wait_for(lambda: LATCH in subscribed, 30, f'the recorder on {LATCH}')
    volatile = ros_probe.publisher(String, LATCH, VOLATILE)
    ros_probe.wait_for(lambda: node.count_publishers(LATCH) == 2, 30,
                       f'the recorder seeing both publishers of {LATCH}')
    assert 'ready:' not in output.read().out  # LATE has no publisher yet
    topics[LATE] = ros_probe.publisher(String, LATE, RELIABLE)
    ros_probe.wait_for(lambda: 'not yet matched' in output.read().err or 'ready:' in output.out,
                       30, 'the recorder saying it is not matched')
    assert 'ready:' not in output.out, output.out  # it was, once LATE was subscribed
    assert f'{LATCH} (1 of 2 publishers)' in output.err and LATE not in output.err, output.err
    ros_probe.node.destroy_publisher(volatile)


def test_ready_only_once_every_publisher_is_matched_and_then_nothing_is_lost(
        tmp_path, ros_probe, capsys, monkeypatch):
    monkeypatch.setattr(record_demo, 'MATCH_TIMEOUT_S', 0.0)  # say it at once
    output = Output(capsys)
    bag = BagRecorder(tmp_path / 'bag', storage='mcap')
    recorder = Recorder([LATCH, LATE, RESULT], bag, RESULT)
    pubs = {RESULT: ros_probe.publisher(String, RESULT, LATCHED)}
    thread, stop = spin(recorder, 1)
    try:
        unmatched_then_matched(ros_probe, output, recorder.node, recorder.subscribed, pubs)
        ros_probe.wait_for(lambda: 'ready:' in output.read().out, 30, 'ready:')
        assert recorder.ready
        out = output.out
        assert out.index(f'recording {LATE}') < out.index('ready: recording 3 topics'), out
        assert out.count('ready:') == 1, out
        # published as soon as it is ready: recorded
        pubs[LATE].publish(String(data='right after ready'))
        pubs[LATCH].publish(String(data='latched after ready'))
        pubs[RESULT].publish(String(data='{}'))
        thread.join(60)
        assert not thread.is_alive(), 'the recorder did not stop after the result'
    finally:
        stop.set()
        thread.join(10)
        recorder.close()
        bag.close()
    with open_bag(tmp_path / 'bag') as b:
        got = {t: [m.data for _, _, m in b.messages([t], progress=False)]
               for t in (LATCH, LATE, RESULT)}
    assert got == {LATCH: ['latched after ready'], LATE: ['right after ready'],
                   RESULT: ['{}']}, got


def test_every_message_published_before_the_last_result_is_in_the_bag(tmp_path, ros_probe):
    """200 messages, then the result: all 200 written (one callback a spin after the result;
    the old fixed 0.5 s left some queued under load)."""
    many, result = f'{NS}/many', f'{NS}/drain_result'
    pub = ros_probe.publisher(String, many, DEEP)
    result_pub = ros_probe.publisher(String, result, RELIABLE)
    bag = BagRecorder(tmp_path / 'bag', storage='mcap')
    recorder = Recorder([many, result], bag, result)
    thread, stop = spin(recorder, 1)
    try:
        ros_probe.wait_for(lambda: recorder.ready, 30, 'the recorder ready')
        for i in range(200):
            pub.publish(String(data=str(i)))
        result_pub.publish(String(data='{}'))
        thread.join(60)
        assert not thread.is_alive(), 'the recorder did not stop after the result'
        assert recorder.results == 1
    finally:
        stop.set()
        thread.join(10)
        recorder.close()
        bag.close()
    assert bag.counts == {many: 200, result: 1}, bag.counts
    with open_bag(tmp_path / 'bag') as b:
        got = [m.data for _, _, m in b.messages([many], progress=False)]
    assert got == [str(i) for i in range(200)]


def test_arm_record_waits_for_the_match_not_only_the_subscriptions(ros_probe, capsys,
                                                                   monkeypatch):
    """EpisodeRecorder.ready() (arm-record starts its episodes on it) was true as soon as every
    topic was subscribed; it is the Recorder's ready, and the timeout message says why."""
    from dp_ros.app import arm_record

    monkeypatch.setattr(arm_record, 'TOPICS', ('latched', 'late', 'episode_result'))
    monkeypatch.setattr(record_demo, 'MATCH_TIMEOUT_S', 0.0)
    output = Output(capsys)
    episodes = arm_record.EpisodeRecorder(NS)
    try:
        rec = episodes.recorder
        pubs = {RESULT: ros_probe.publisher(String, RESULT, LATCHED)}
        assert not episodes.ready()
        assert 'found no publisher on' in episodes.not_ready()
        unmatched_then_matched(ros_probe, output, rec.node, rec.subscribed, pubs)
        assert not episodes.ready()  # every topic subscribed: not enough
        assert 'not matched with every publisher' in episodes.not_ready()
        ros_probe.wait_for(episodes.ready, 30, 'the recorder ready')
        assert 'ready:' in output.read().out
    finally:
        episodes.close()
