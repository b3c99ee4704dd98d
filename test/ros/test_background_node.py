"""BackgroundNode: a callback that raises is logged and counted, and the spinning goes on;
a lost query reply is asked again; a Ctrl-C while it is built leaves nothing half made.

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


def test_a_query_whose_reply_is_lost_is_asked_again_after_resend_s():
    """A server that gives no reply to the first request (its callback raises: the reply
    rmw_fastrtps drops for a client not yet matched looks the same to the caller): without
    resend_s the call ends in NoReply; with it, the second request's reply is returned."""
    from std_srvs.srv import Trigger

    from dp_ros.ros.background_node import NoReply

    asked: list[int] = []

    def answer_from_the_second(request: Trigger.Request, response: Trigger.Response):
        asked.append(len(asked))
        if len(asked) == 1:
            raise RuntimeError('the first reply is lost')
        response.success, response.message = True, f'request {len(asked)}'
        return response

    server = BackgroundNode('bg_server', spin=False)
    client = BackgroundNode('bg_client')
    try:
        server.node.create_service(Trigger, '/bg_test/query', answer_from_the_second)
        server.start()
        with pytest.raises(NoReply, match='no reply from /bg_test/query after 2 s'):
            client.call(Trigger, '/bg_test/query', Trigger.Request(), 2.0)
        wait_for(lambda: len(asked) == 1, 15.0, 'the first request served')
        asked.clear()
        reply = client.call(Trigger, '/bg_test/query', Trigger.Request(), 60.0, resend_s=0.5)
        assert reply.success and reply.message == 'request 2'
        assert dict(server.callback_errors) == {'RuntimeError': 2}
    finally:
        client.close()
        server.close()


STOPPED_WHILE_BUILT = '''
import os, signal
import rclpy.executors
from dp_ros.ros.background_node import BackgroundNode
made = rclpy.executors.SignalHandlerGuardCondition
def signalled(*args, **kwargs):  # the last thing the executor's __init__ makes
    os.kill(os.getpid(), signal.SIGINT)
    return made(*args, **kwargs)
rclpy.executors.SignalHandlerGuardCondition = signalled
try:
    BackgroundNode('bg_stopped')
    print('built', flush=True)
except KeyboardInterrupt:
    print('interrupted', flush=True)
'''


def test_a_ctrl_c_while_the_node_is_built_closes_it_then_raises():
    """A Ctrl-C inside the executor's __init__ left it half made: its __del__ printed
    "AttributeError: ... no attribute '_sigint_gc'" at exit. Now the build is held back
    from it; the KeyboardInterrupt comes after, with the node closed."""
    import subprocess
    import sys

    from support import checkout_env

    proc = subprocess.run([sys.executable, '-c', STOPPED_WHILE_BUILT], env=checkout_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'interrupted\n', proc.stdout + proc.stderr
    assert proc.stderr == ''
