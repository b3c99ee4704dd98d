"""What the bag tests share (bag2zarr, `dp-ros inspect`, the reader): their times, the topics
of a plain camera + joint-state demonstration, its bag2zarr config and its writer.

Imported as `bag_support` (test/conftest.py puts test/ on sys.path, as for support).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from support import MS

from dp_ros.bags.recorder import image_message, joint_state_message

NS = 10**9
T0 = 1_700_000_000 * NS  # a wall-clock time (2023): where the bags' stamps and receipts start
CAMERA = '/cam/image_raw'
JOINT_STATES = '/joint_states'
# bag2zarr's config for write_camera_joints' bags: the camera, joint j1 the state
CAMERA_JOINTS_CONFIG: dict[str, Any] = {
    'control_period_s': 0.1, 'image_dtype': 'uint8',
    'keys': {'img': {'image': CAMERA}, 'state': {'joint_state': JOINT_STATES, 'joints': ['j1']}}}


def write_camera_joints(rec: Any, frames: Iterable[int], camera_clock: int = 0) -> None:
    """Into a BagRecorder: frame i of a 10 Hz camera (4x4, every value i) stamped at
    t = T0 + 100 ms * i (camera_clock: at t - T0 + camera_clock, another clock), received
    5 ms later; the 100 Hz joint states from t on (j1 = i + k / 10), stamped on the wall
    clock and received 1 ms later."""
    ts = rec.typestore
    for i in frames:
        t = T0 + i * 100 * MS
        rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                  image_message(ts, np.full((4, 4, 3), i, np.uint8),
                                t - T0 + camera_clock if camera_clock else t))
        for k in range(10):
            tj = t + k * 10 * MS
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', tj + MS,
                      joint_state_message(ts, ['j1'], [i + k / 10], tj))


# bag2zarr's keys for write_positions_then_velocities' bags: a state of positions, then
# velocities, of joints j1 and j2
POSITIONS_THEN_VELOCITIES_KEYS: dict[str, Any] = {
    'img': {'image': CAMERA},
    'state': [{'joint_state': JOINT_STATES, 'joints': ['j1', 'j2']},
              {'joint_state': JOINT_STATES, 'joints': ['j1', 'j2'], 'field': 'velocity'}],
    'action': {'future_of': 'state'}}


def write_positions_then_velocities(rec: Any, frames: int = 12) -> None:
    """Into a BagRecorder: a 10 Hz camera (frame i, every value i) and 100 Hz joint states
    of j1, j2 with positions (i, -i) and velocities (100 + i, -100 - i)."""
    ts = rec.typestore
    for i in range(frames):
        t = T0 + i * 100 * MS
        rec.write(CAMERA, 'sensor_msgs/msg/Image', t + 5 * MS,
                  image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
        for k in range(10):
            tj = t + k * 10 * MS
            rec.write(JOINT_STATES, 'sensor_msgs/msg/JointState', tj + MS,
                      joint_state_message(ts, ['j1', 'j2'], [i, -i], tj,
                                          velocity=[100 + i, -100 - i]))
