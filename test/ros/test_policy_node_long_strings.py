"""What the node repeats of a message's strings is cut: a joint-state topic flooded with
thousands of distinct generated joint names grew the node without bound and made its
inputs_unread warning a 631 KB line, and an image encoding of a megabyte went whole into the
bad-message line and last_bad_message (a review's flood). The rules:
test/test_planning_loop_unread_names.py."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import RELIABLE, node_cmd, wait_diag
from sensor_msgs.msg import Image, JointState

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

LINE_LIMIT = 3000  # characters: input_checks.MAX_TEXT and the line's own words


def test_foreign_joint_names_and_a_huge_encoding_make_short_lines(ros_processes, ros_probe,
                                                                  checkpoint):
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    joints = ros_probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
    camera = ros_probe.publisher(Image, '/cam/image_raw', qos_profile_sensor_data)
    ros_probe.wait_for_subscribers(joints, 1, 60.0)
    ros_probe.wait_for_subscribers(camera, 1, 60.0)
    k = 0

    def flood() -> bool:
        nonlocal k
        stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
        for _ in range(50):
            msg = JointState(name=[f'base_wheel_{k}_{j}_' + 'x' * 80 for j in range(8)],
                             position=[0.0] * 8)
            msg.header.stamp = stamp
            joints.publish(msg)
            k += 1
        image = cv.numpy_to_image(cv.np.zeros((96, 96, 3), cv.np.uint8), 'rgb8', stamp=stamp)
        image.encoding = 'y' * 100_000
        camera.publish(image)
        return 'gave its joints' in node.log()

    ros_probe.wait_for(flood, 30.0, 'the inputs_unread warning')
    values = wait_diag(ros_probe, diags, lambda d: 'image_encoding' in d.get(
        'last_bad_message', ''), 10.0, 'the encoding refused')
    assert len(values['last_bad_message']) < LINE_LIMIT
    lines = node.log().splitlines()
    unread = [line for line in lines if 'gave its joints' in line]
    assert unread and len(unread[0]) < LINE_LIMIT and ' more' in unread[0], unread[0][:300]
    assert max(len(line) for line in lines) < LINE_LIMIT
