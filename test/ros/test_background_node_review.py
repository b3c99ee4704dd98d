"""Review tests of dp_ros/ros/background_node.py with real rclpy nodes: service calls time out
(in seconds) whether the service is missing or silent, while_waiting runs while waiting, the
client is released, close() is idempotent and shuts the private context down, a second
start() keeps the one spin thread, and a failed construction leaves no context running."""
from __future__ import annotations

import threading
import time

import pytest
from std_srvs.srv import Trigger

from dp_ros.ros.background_node import BackgroundNode

pytestmark = pytest.mark.ros


def call_in_thread(node: BackgroundNode, name: str, timeout: float, **kw):
    """Run node.call on a thread; (thread, box) where box gets the result or the exception."""
    box: dict = {}

    def target():
        try:
            box['result'] = node.call(Trigger, name, Trigger.Request(), timeout, **kw)
        except BaseException as exc:  # noqa: BLE001 (the test inspects it)
            box['error'] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_a_missing_service_times_out_after_timeout_seconds():
    """No such service, timeout 0.5 s: TimeoutError naming it, well before 30 s."""
    node = BackgroundNode('review_bg_missing')
    try:
        thread, box = call_in_thread(node, '/review_bg/absent', 0.5)
        thread.join(30)
        assert not thread.is_alive(), 'call() ignored its timeout'
        assert isinstance(box.get('error'), TimeoutError), box
        assert 'not available' in str(box['error']) and '/review_bg/absent' in str(box['error'])
    finally:
        node.close()


def test_a_service_that_never_answers_times_out():
    """A server whose node is never spun is discovered but never replies: TimeoutError
    'no reply' after the timeout."""
    server = BackgroundNode('review_bg_server', spin=False)
    client = BackgroundNode('review_bg_client')
    try:
        server.node.create_service(Trigger, '/review_bg/silent',
                                   lambda req, resp: resp)
        thread, box = call_in_thread(client, '/review_bg/silent', 1.0)
        thread.join(30)
        assert not thread.is_alive(), 'call() waited past its timeout for a reply'
        assert isinstance(box.get('error'), TimeoutError), box
        assert 'no reply' in str(box['error']), box
    finally:
        client.close()
        server.close()


def test_while_waiting_runs_while_the_service_is_missing_and_may_raise():
    """while_waiting's exception ends the wait for a service that is not there."""
    node = BackgroundNode('review_bg_waiting')

    def died():
        raise RuntimeError('the serving process died')

    try:
        thread, box = call_in_thread(node, '/review_bg/absent2', 10.0, while_waiting=died)
        thread.join(30)
        assert not thread.is_alive()
        assert isinstance(box.get('error'), RuntimeError), box
        assert 'died' in str(box['error'])
    finally:
        node.close()


def test_a_call_answers_and_releases_its_client():
    """A served call returns the reply; the client it made is destroyed afterwards."""
    server = BackgroundNode('review_bg_answer')
    client = BackgroundNode('review_bg_asker')
    try:
        server.node.create_service(
            Trigger, '/review_bg/ok', lambda req, resp: Trigger.Response(success=True,
                                                                          message='hi'))
        before = len(list(client.node.clients))
        reply = client.call(Trigger, '/review_bg/ok', Trigger.Request(), 15.0)
        assert reply.success and reply.message == 'hi'
        assert len(list(client.node.clients)) == before
    finally:
        client.close()
        server.close()


def test_close_twice_and_with_shut_the_context_down_once():
    """close() twice raises nothing; `with` closes: the private context is shut down and the
    spin thread ended."""
    node = BackgroundNode('review_bg_close')
    node.close()
    node.close()
    assert not node.context.ok()
    with BackgroundNode('review_bg_with') as other:
        assert other.context.ok()
    assert not other.context.ok()
    assert not other._thread.is_alive()


def test_a_second_start_keeps_the_one_spin_thread():
    """start() after spin=True started it: the same thread, still alive."""
    node = BackgroundNode('review_bg_start')
    try:
        thread = node._thread
        node.start()
        assert node._thread is thread and thread.is_alive()
        assert sum(t.name == 'spin review_bg_start' for t in threading.enumerate()) == 1
    finally:
        node.close()


def test_a_node_rcl_refuses_leaves_its_context_shut_down():
    """An invalid node name: the constructor raises, and the context it initialised is shut
    down (not left running)."""
    node = BackgroundNode.__new__(BackgroundNode)
    with pytest.raises(Exception):  # noqa: B017 (rclpy's name validation error)
        node.__init__('bad name')
    assert not node.context.ok()


def test_close_joins_the_spin_thread():
    """After close() the spin thread has ended (no callback can run on a destroyed node)."""
    node = BackgroundNode('review_bg_join')
    time.sleep(0.1)
    node.close()
    assert not node._thread.is_alive()
