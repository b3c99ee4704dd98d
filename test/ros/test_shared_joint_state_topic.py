"""Two drivers on one joint-state topic, the policy node in its own process.

The arm's driver publishes the state joints on /arm/joint_states, its gripper's driver the
gripper (an action joint, not a state joint) on the same topic, as separate gripper
controllers do. Under a step limit, which needs every action joint's measured position,
the node plans, counts no bad message, and its stop holds both drivers' positions. The
conversion rules are unit-tested in test/test_conversions.py.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import (
    RELIABLE,
    Feeder,
    is_hold,
    latest_diagnostics,
    node_cmd,
    wait_diag,
)
from ros.tiny_checkpoint import make_tiny_checkpoint
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

ARM = (250.0, 260.0)  # jx, jy: the state joints, from the arm's driver
GRIPPER = 300.0  # jg: from the gripper's driver, on the same topic


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny')


def test_a_gripper_driver_on_the_arms_topic_is_measured_not_bad(ros_processes, ros_probe,
                                                                 checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, action_joint_names='[jx,jg]', max_step_delta='[5.0,5.0]'))
    gripper_pub = ros_probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
    stop = threading.Event()

    def gripper_driver():
        while not stop.is_set():
            stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            gripper_pub.publish(cv.numpy_to_joint_state(np.array([GRIPPER]), ['jg'],
                                                        stamp=stamp))
            time.sleep(0.1)

    thread = threading.Thread(target=gripper_driver, daemon=True)
    thread.start()
    feeder = Feeder(ros_probe, position=ARM)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks under the step limit')
        values = wait_diag(ros_probe, diags, lambda d: int(d['input_agent_pos_received']) > 20,
                           20.0, 'both drivers heard')
        assert values['bad_messages'] == '0' and values['chunks_no_reference'] == '0', values
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        ros_probe.wait_for(lambda: any(map(is_hold, trajs)), 10.0, 'the stop')
        hold = [m for m in trajs if is_hold(m)][-1]
        assert list(hold.joint_names) == ['jx', 'jg']
        assert list(hold.points[0].positions) == [ARM[0], GRIPPER]  # each driver's
        assert latest_diagnostics(diags)['bad_messages'] == '0'
        assert node.alive(), node.log()
    finally:
        stop.set()
        thread.join(2.0)
        feeder.close()
