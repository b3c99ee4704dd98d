"""The sim node's shutdown stops its worker thread, in both modes, on an in-process node that
is made and destroyed, never spun: the worker waits under a condition, and shutdown must set
the stop flag as it notifies (a notify alone leaves the worker waiting: the join would give
up after 5 s with the thread still running)."""
from __future__ import annotations

import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter

from sim_bridge.pusht_sim_node import PushTSimNode


@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_shutdown_stops_the_worker_mid_episode(mode):
    context = Context()
    rclpy.init(context=context)
    node = PushTSimNode(context=context, parameter_overrides=[Parameter('mode', value=mode)])
    try:
        node._worker.start()  # start() without its signal handlers: this is pytest's process
        deadline = time.monotonic() + 60  # autostart: the worker starts an episode, then waits
        while not node.stepper.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert node.stepper.running
        assert not node.finished()
        node.shutdown()
        assert node.finished() and node.exit_code() == 0
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
