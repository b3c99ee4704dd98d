"""BackgroundNode: a callback that raises is logged and counted, and the spinning goes on.

Teleop, replay and the `dp-ros sim` driver spin their node on its thread; one bad message
(a camera frame in another encoding) used to end that thread for good, and the tool went on
without hearing anything, silently.
"""
from __future__ import annotations

import time

import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from dp_ros.ros.background_node import BackgroundNode

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.02)


def test_a_raising_callback_is_logged_once_per_type_counted_and_the_spinning_goes_on(capfd):
    received: list[str] = []

    def on_msg(msg: String) -> None:
        if msg.data.startswith('bad'):
            raise ValueError(f'cannot read {msg.data!r}')
        if msg.data == 'key':
            raise KeyError(msg.data)
        received.append(msg.data)

    listener = BackgroundNode('bg_listener', spin=False)
    talker = BackgroundNode('bg_talker')
    try:
        listener.node.create_subscription(String, '/bg_test/chatter', on_msg, RELIABLE)
        listener.start()
        pub = talker.node.create_publisher(String, '/bg_test/chatter', RELIABLE)
        wait_for(lambda: pub.get_subscription_count() >= 1, 15.0, 'the subscription')
        for data in ('a', 'bad 1', 'bad 2', 'key', 'b', 'c'):
            pub.publish(String(data=data))
            time.sleep(0.05)
        wait_for(lambda: received[-1:] == ['c'], 15.0, "the messages after the bad ones")
        assert received == ['a', 'b', 'c']
        assert listener._thread.is_alive()
        assert dict(listener.callback_errors) == {'ValueError': 2, 'KeyError': 1}
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if 'a callback raised' in line]
        assert len(lines) == 2, err  # once per exception type
        assert "ValueError: cannot read 'bad 1'" in lines[0] and 'in on_msg' in lines[0]
        assert 'KeyError' in lines[1]
    finally:
        talker.close()
        listener.close()
    assert not listener._thread.is_alive()


def test_the_spin_thread_ends_when_its_context_is_shut_down():
    import rclpy

    node = BackgroundNode('bg_shutdown')
    try:
        assert node._thread.is_alive()
        rclpy.shutdown(context=node.context)
        node._thread.join(5.0)
        assert not node._thread.is_alive()
        assert not node.callback_errors
    finally:
        node.close()
