"""A replay client (dp-ros arm-record, dp-ros replay --start-sim) whose sim process ends while
it waits for an observation or a service says that the sim exited, within a poll, instead of
waiting out the whole timeout and blaming it (found by exploratory testing: a kill -9 of the
sim gave 'timed out after 30 s waiting for observation 114', or 5 minutes with --timeout 300).
The wait is called on a client built without ROS: only its condition and process are used."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from sim_bridge.replay import ReplayClient


def _client(sim: subprocess.Popen | None) -> ReplayClient:
    client = ReplayClient.__new__(ReplayClient)  # no ROS node: wait() needs none
    client.cond = threading.Condition()
    client.sim = sim
    return client


def test_a_wait_the_sim_outlives_is_said_at_once_not_as_a_timeout():
    sim = subprocess.Popen([sys.executable, '-c', 'import sys; sys.exit(3)'])
    sim.wait()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match='the sim node exited with code 3 while waiting for '
                                           'observation 7'):
        _client(sim).wait(lambda: None, 600.0, 'observation 7')
    assert time.monotonic() - start < 60  # far below the 600 s timeout


def test_without_a_sim_process_a_wait_still_times_out_as_before():
    with pytest.raises(TimeoutError, match='timed out after 0 s waiting for observation 7'):
        _client(None).wait(lambda: None, 0.2, 'observation 7')
    assert _client(None).wait(lambda: 5, 0.2, 'x') == 5


class _Unanswered:
    """BackgroundNode.call for a service that never answers: `while_waiting` every few ms
    until the timeout."""

    def call(self, srv_type, name, request, timeout, while_waiting=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if while_waiting is not None:
                while_waiting()
            time.sleep(0.01)
        raise TimeoutError(f'no reply from {name} after {timeout:g} s')


class _Unmatched:
    """A publisher or subscription nothing has matched."""

    def get_subscription_count(self) -> int:
        return 0

    def get_publisher_count(self) -> int:
        return 0


def _exited_sim() -> subprocess.Popen:
    sim = subprocess.Popen([sys.executable, '-c', 'import sys; sys.exit(3)'])
    sim.wait()
    return sim


def test_a_service_call_the_sim_outlives_is_said_at_once_not_as_a_timeout():
    client = _client(_exited_sim())
    client.ros = _Unanswered()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match='the sim node exited with code 3 while waiting for '
                                           '/pusht/reset'):
        client.call(None, '/pusht/reset', None, 600.0)
    assert time.monotonic() - start < 60  # far below the 600 s timeout


def test_a_connection_wait_the_sim_outlives_is_said_at_once():
    client = _client(None)
    client.ns, client.traj_pub, client.subscriptions = '/pusht', _Unmatched(), [_Unmatched()]
    with pytest.raises(RuntimeError, match='the sim node exited with code 3 while waiting for '
                                           'its topics on /pusht'):
        client.wait_connected(600.0, _exited_sim())
