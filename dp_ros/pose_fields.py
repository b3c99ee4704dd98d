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
    [yaw_min, yaw_min + 2 pi) so that it can match a dataset's angle convention; the
    quaternion taken with qw >= 0 (q and -q are one rotation, and drivers send either: a
    policy would see the same orientation as two far-apart values)."""
    pose = msg.pose
    p, q = pose.position, pose.orientation
    sign = -1.0 if q.w < 0 else 1.0
    values = {'x': p.x, 'y': p.y, 'z': p.z, 'qx': sign * q.x, 'qy': sign * q.y,
              'qz': sign * q.z, 'qw': sign * q.w}
    if 'yaw' in fields:
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        values['yaw'] = (yaw - yaw_min) % (2 * math.pi) + yaw_min
    return np.array([values[f] for f in fields], dtype=np.float64)


QUATERNION = ('qx', 'qy', 'qz', 'qw')


def pose_target_problem(names: Sequence[str]) -> str | None:
    """Why these pose fields do not make a whole pose to command (None: they do): x, y, z and
    either qx, qy, qz, qw or yaw, nothing else, each once."""
    orientation = [n for n in names if n in (*QUATERNION, 'yaw')]
    if sorted(names) != sorted(set(names)) or not {'x', 'y', 'z'} <= set(names) \
            or set(names) - {'x', 'y', 'z', *orientation} \
            or sorted(orientation) not in (sorted(QUATERNION), ['yaw']):
        return (f'{list(names)} is not a whole pose: x, y, z and either qx, qy, qz, qw or yaw '
                '(about z, roll and pitch 0), each once')
    return None


def pose_target(values: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(position x, y, z; unit quaternion x, y, z, w) of action values named by pose fields
    (pose_target_problem says which make a pose): a predicted quaternion is normalized, a yaw
    turns about z. ValueError when the quaternion is (near) zero or a value is not finite."""
    by_name = dict(zip(names, np.asarray(values, dtype=np.float64).tolist(), strict=True))
    position = np.array([by_name['x'], by_name['y'], by_name['z']])
    if 'yaw' in by_name:
        half = by_name['yaw'] / 2
        quaternion = np.array([0.0, 0.0, math.sin(half), math.cos(half)])
    else:
        quaternion = np.array([by_name[q] for q in QUATERNION])
        norm = float(np.linalg.norm(quaternion))
        if not norm > 1e-6:
            raise ValueError(f'quaternion {quaternion.tolist()} has no direction')
        quaternion = quaternion / norm
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quaternion))):
        raise ValueError(f'pose {by_name} is not finite')
    return position, quaternion
