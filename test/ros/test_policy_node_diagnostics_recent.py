"""The policy node's /diagnostics status over real topics: one bad message makes it WARN for
the recent window, then OK again while the key-values keep the cumulative count (the rule:
test_input_checks_recent_problems.py). It used to stay WARN for the rest of the node's life."""
from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros.test_policy_node import RELIABLE, Feeder, node_cmd
from ros.tiny_checkpoint import make_tiny_checkpoint

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def status_of(msg: DiagnosticArray) -> tuple[int, dict[str, str]]:
    status = msg.status[0]
    return status.level, {kv.key: kv.value for kv in status.values}


def test_one_bad_message_warns_then_the_status_is_ok_again(ros_processes, ros_probe,
                                                          tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny')
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    ros_processes.start('policy', node_cmd(checkpoint, start_enabled=False, torchscript=False,
                                           warmup=False))
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for(lambda: diags and status_of(diags[-1])[1].get(
            'input_agent_pos_filed', '0') != '0', 60.0, 'filed joint states')
        deadline = time.monotonic() + 20.0
        while status_of(diags[-1])[1].get('bad_non_finite') is None:
            assert time.monotonic() < deadline, 'no bad_non_finite in diagnostics'
            stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            feeder.joint_pub.publish(cv.numpy_to_joint_state(  # best effort: until seen
                np.array([np.nan, 1.0]), ['jx', 'jy'], stamp=stamp))
            time.sleep(0.1)
        first = next(m for m in diags if 'bad_non_finite' in status_of(m)[1])
        level, values = status_of(first)
        assert level == DiagnosticStatus.WARN and 'bad message' in first.status[0].message
        window_s = float(values['problems_window_s'])
        assert window_s == 5.0
        ros_probe.wait_for(lambda: status_of(diags[-1])[0] == DiagnosticStatus.OK, 60.0,
                           'OK again after the window')
        level, values = status_of(diags[-1])
        assert int(values['bad_messages']) >= 1 and int(values['bad_non_finite']) >= 1
    finally:
        feeder.close()
