"""Messages made by the conversions survive a real publisher -> subscriber hop between processes."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import QoSProfile
from ros.conversion_publisher import JOINTS, STAMP_NS, payload
from ros_harness import module_cmd
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def test_round_trip_between_processes(ros_processes, ros_probe):
    pub = ros_processes.start('publisher', module_cmd('ros.conversion_publisher'))
    qos = QoSProfile(depth=10)
    got = {enc: ros_probe.collect(Image, f'image_{enc}', qos) for enc in ('rgb8', '16UC1', '32FC1')}
    joints = ros_probe.collect(JointState, 'joint_states', qos)
    trajs = ros_probe.collect(JointTrajectory, 'joint_trajectory', qos)
    expected = payload()
    for enc, received in got.items():
        msg = ros_probe.wait_for_messages(received, 1, 30.0, f'{enc} images')[0]
        assert msg.encoding == enc and msg.header.frame_id == 'cam'
        assert cv.time_to_ns(msg.header.stamp) == STAMP_NS
        np.testing.assert_array_equal(cv.image_to_numpy(msg), expected[enc])
    js = ros_probe.wait_for_messages(joints, 1, 10.0, 'joint states')[0]
    np.testing.assert_array_equal(cv.joint_state_to_numpy(js, JOINTS), expected['joints'])
    chunk = cv.joint_trajectory_to_chunk(
        ros_probe.wait_for_messages(trajs, 1, 10.0, 'trajectories')[0])
    assert chunk.stamp_ns == STAMP_NS and chunk.joint_names == JOINTS
    np.testing.assert_array_equal(chunk.positions, expected['chunk'])
    assert pub.alive(), pub.log()
