"""Publishes known arrays as ROS messages until stopped (the far end of a round-trip test)."""
from __future__ import annotations

import sys

import numpy as np
import rclpy
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

JOINTS = ['agent_x', 'agent_y']
STAMP_NS = 1_700_000_000 * cv.NS_PER_S + 987_654_321


def payload() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        'rgb8': rng.integers(0, 256, (96, 96, 3)).astype(np.uint8),
        '16UC1': rng.integers(0, 65536, (30, 40)).astype(np.uint16),
        '32FC1': rng.normal(size=(30, 40)).astype(np.float32),
        'joints': np.array([123.25, 456.5]),
        'chunk': rng.uniform(0, 512, (8, 2)),
    }


def main() -> None:
    rclpy.init()
    node = rclpy.create_node('conversion_publisher')
    data = payload()
    stamp = cv.ns_to_time(STAMP_NS)
    images = {enc: node.create_publisher(Image, f'image_{enc}', 10)
              for enc in ('rgb8', '16UC1', '32FC1')}
    joints = node.create_publisher(JointState, 'joint_states', 10)
    traj = node.create_publisher(JointTrajectory, 'joint_trajectory', 10)

    def publish() -> None:
        for enc, pub in images.items():
            pub.publish(cv.numpy_to_image(data[enc], enc, stamp=stamp, frame_id='cam'))
        joints.publish(cv.numpy_to_joint_state(data['joints'], JOINTS, stamp=stamp))
        traj.publish(cv.chunk_to_joint_trajectory(data['chunk'], JOINTS, 0.1, STAMP_NS))

    node.create_timer(0.05, publish)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
