"""A configure of the managed policy node that fails after the policy loaded, in its own
process: rcl refuses a subscription (episode_start_topic on /diagnostics, which the node
publishes as another type). rclpy turned the exception into ERROR without a word, and the
loaded policy and its worker thread stayed behind, one more per retry. Now the reason is
logged, what the configure made is released, and a retry or a shutdown finds a clean node."""
from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_msgs.msg import State, Transition
from ros.test_policy_lifecycle_node import lifecycle_cmd

pytestmark = pytest.mark.ros


def thread_count(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('Threads:'):
            return int(line.split()[1])
    raise AssertionError(f'no thread count for {pid}')


def test_a_configure_refused_by_rcl_is_logged_and_releases_the_policy(ros_processes,
                                                                      ros_probe, checkpoint):
    node = ros_processes.start('lifecycle', lifecycle_cmd(checkpoint,
                                                          episode_start_topic='/diagnostics'))

    state, change = ros_probe.lifecycle_state, ros_probe.change_lifecycle_state
    assert state() == State.PRIMARY_STATE_UNCONFIGURED
    threads = []
    for _ in range(3):
        assert not change(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        threads.append(thread_count(node.popen.pid))
    # the first configure imported torch and may have started its threads; none after that
    # (each failure left the policy's worker thread behind)
    assert threads[1] == threads[2] == threads[0], threads
    failures = [line for line in node.log().splitlines()
                if 'configure: could not wire the policy' in line]
    assert len(failures) == 3 and 'incompatible type' in failures[0], node.log()[-3000:]
    assert change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert node.popen.wait(30) == 0, node.log()[-3000:]
    assert 'Traceback' not in node.log()
