"""A geometry_msgs/PoseStamped as observation values: the one decoding that `dp-ros bag2zarr`
(a `pose` source) and the policy node (`state_pose_topics`) share, so that a policy sees live
poses exactly as it was trained on them. Base layer: works on any object with the message's
attributes (an rclpy message or a rosbags one)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

POSE_FIELDS = ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw', 'yaw')


def decode_pose(msg: Any, fields: Sequence[str], yaw_min: float = -math.pi) -> np.ndarray:
    """Selected pose fields; yaw (about z, from the quaternion) wrapped into
    [yaw_min, yaw_min + 2 pi) so that it can match a dataset's angle convention."""
    pose = msg.pose
    p, q = pose.position, pose.orientation
    values = {'x': p.x, 'y': p.y, 'z': p.z, 'qx': q.x, 'qy': q.y, 'qz': q.z, 'qw': q.w}
    if 'yaw' in fields:
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        values['yaw'] = (yaw - yaw_min) % (2 * math.pi) + yaw_min
    return np.array([values[f] for f in fields], dtype=np.float64)
