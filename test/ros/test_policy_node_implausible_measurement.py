"""An arm driver gone bad after a plan ran: only partial joint states (each lacks a state
joint, so each is refused) whose action joint reads 1e300 or 1e30. They still measured the
arm, and the stale stop held at joint jx=1e300 (a review's fuzzing). Now such values are not
measured: the hold is within the action bounds. The rule:
test/test_planning_loop_implausible_measurement.py."""
from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import (
    LOWER,
    RELIABLE,
    UPPER,
    Feeder,
    is_hold,
    latest_diagnostics,
    node_cmd,
)
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def test_partial_joint_states_of_garbage_positions_are_not_held_at(ros_processes, ros_probe,
                                                                   checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe, position=(250.0, 260.0))
    try:
        ros_probe.wait_for_messages(trajs, 1, 60.0, 'a chunk')
    finally:
        feeder.close()
    joints = feeder.joint_pub  # one publisher: two of a joint are refused
    sent = len(trajs)
    end = time.monotonic() + 10.0
    garbage = [1e300, 1e30]
    while time.monotonic() < end and not any(is_hold(m) for m in trajs[sent:]):
        stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
        joints.publish(JointState(name=['jx'], position=[garbage[0]], header=_header(stamp)))
        joints.publish(JointState(name=['jy'], position=[260.0], header=_header(stamp)))
        garbage.reverse()
        time.sleep(0.01)
    holds = [m for m in trajs[sent:] if is_hold(m)]
    assert holds, 'the stale stop'
    point = np.array(holds[0].points[0].positions)
    assert np.all(np.isfinite(point)), point
    assert np.all(point >= LOWER) and np.all(point <= UPPER), point
    ros_probe.wait_for(lambda: diags and int(latest_diagnostics(diags).get(
        'bad_measured_out_of_bounds', 0)) > 0, 10.0, 'the 1e30 measurements counted')


def _header(stamp):
    from std_msgs.msg import Header

    return Header(stamp=stamp)
