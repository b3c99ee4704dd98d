"""The twist toward the plan (dp_ros/runtime/twist_servo.py): the turn as a rotation vector,
the gain, feedforward and limits, and a velocity-tracking arm that follows a planned turn
and comes to rest on the plan's last pose."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.pose_fields import MATRIX_COLUMNS, pose_target, quaternion_to_matrix, rotation_vector
from dp_ros.runtime.policy_node_config import PolicyNodeConfig
from dp_ros.runtime.twist_servo import TwistLimits, servo_twist, twist_toward_plan

NAMES = ('x', 'y', 'z', *MATRIX_COLUMNS)
MS = 1_000_000


def about_z(angle: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)])


def pose_values(position, yaw: float) -> np.ndarray:
    """x, y, z and the rotation 6D (the first two columns) of a turn about z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([*position, c, s, 0.0, -s, c, 0.0])


def test_a_turn_is_a_rotation_vector_the_short_way_round():
    np.testing.assert_allclose(rotation_vector(about_z(0.2), about_z(0.7)), [0, 0, 0.5],
                               atol=1e-12)
    # 350 degrees ahead is 10 degrees back; q and -q are the same orientation
    np.testing.assert_allclose(rotation_vector(about_z(0.0), about_z(math.radians(350))),
                               [0, 0, -math.radians(10)], atol=1e-12)
    np.testing.assert_allclose(rotation_vector(about_z(0.3), -about_z(0.3)), [0, 0, 0],
                               atol=1e-12)
    tilt = np.array([math.sin(0.25), 0.0, 0.0, math.cos(0.25)])  # 0.5 rad about x
    np.testing.assert_allclose(rotation_vector(about_z(0.0), tilt), [0.5, 0, 0], atol=1e-12)


def test_the_twist_is_gain_times_the_error_plus_the_plans_velocity_within_the_limits():
    limits = TwistLimits(gain=2.0, max_linear=0.5, max_angular=1.0)
    measured = (np.zeros(3), about_z(0.0))
    target = (np.array([0.1, 0.0, 0.0]), about_z(0.2))
    still = (np.zeros(3), np.zeros(3))
    linear, angular = servo_twist(target, measured, still, limits)
    np.testing.assert_allclose(linear, [0.2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(angular, [0, 0, 0.4], atol=1e-12)
    linear, angular = servo_twist(target, measured, (np.array([0, 0.1, 0]), still[1]), limits)
    np.testing.assert_allclose(linear, [0.2, 0.1, 0], atol=1e-12)
    far = (np.array([3.0, 4.0, 0.0]), about_z(3.0))
    linear, angular = servo_twist(far, measured, still, limits)
    np.testing.assert_allclose(linear, [0.3, 0.4, 0], atol=1e-12)  # scaled to 0.5 m/s
    np.testing.assert_allclose(angular, [0, 0, 1.0], atol=1e-12)


def test_the_plans_pose_is_interpolated_with_its_velocity_as_feedforward():
    due = np.array([1000, 1100, 1200]) * MS
    plan = np.stack([pose_values((0.0, 0, 0.2), 0.0), pose_values((0.1, 0, 0.2), 0.1),
                     pose_values((0.1, 0, 0.2), 0.1)])
    limits = TwistLimits(gain=5.0, max_linear=10.0, max_angular=10.0)
    assert twist_toward_plan(due, plan, NAMES, 999 * MS, plan[0], limits) is None
    # on the plan halfway between its first two points: the plan's own velocity
    halfway = plan[0] + 0.5 * (plan[1] - plan[0])
    linear, angular = twist_toward_plan(due, plan, NAMES, 1050 * MS, halfway, limits)
    np.testing.assert_allclose(linear, [1.0, 0, 0], atol=1e-9)  # 0.1 m in 0.1 s
    np.testing.assert_allclose(angular, [0, 0, 1.0], atol=1e-6)  # 0.1 rad in 0.1 s
    # after the last point: toward it, at rest
    linear, angular = twist_toward_plan(due, plan, NAMES, 1300 * MS, plan[0], limits)
    np.testing.assert_allclose(linear, [0.5, 0, 0], atol=1e-9)
    np.testing.assert_allclose(angular, [0, 0, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match='no direction'):
        twist_toward_plan(due, np.zeros_like(plan), NAMES, 1050 * MS, plan[0], limits)


def test_an_arm_that_follows_the_twist_tracks_the_plan_and_rests_on_its_end():
    """A velocity-tracking end effector integrating the twist every 5 ms follows a planned
    0.3 m move with a 1.5 rad turn within a few mm and hundredths of a radian, and settles on
    the last pose."""
    due = (np.arange(16) * 100 + 1000) * MS
    plan = np.stack([pose_values((0.3 + 0.02 * k, 0.1, 0.2), 0.1 * k) for k in range(16)])
    node = PolicyNodeConfig()  # the node's defaults: gain 5/s, 0.25 m/s, 1 rad/s
    limits = TwistLimits(node.twist_gain, node.twist_max_linear, node.twist_max_angular)
    position, quaternion = pose_target(plan[0], NAMES)
    worst_position = worst_angle = 0.0
    for t in range(1000 * MS, 3000 * MS, 5 * MS):
        matrix = quaternion_to_matrix(quaternion)
        values = np.concatenate([position, matrix[:, 0], matrix[:, 1]])  # the 6D's columns
        linear, angular = twist_toward_plan(due, plan, NAMES, t, values, limits)
        position = position + linear * 0.005
        quaternion = turn(quaternion, angular * 0.005)
        if t <= due[-1]:
            i = min(int((t - due[0]) // (100 * MS)), 14)
            share = (t - due[i]) / (100 * MS)
            want = pose_target(plan[i] + share * (plan[i + 1] - plan[i]), NAMES)
            worst_position = max(worst_position, float(np.linalg.norm(want[0] - position)))
            worst_angle = max(worst_angle, float(np.linalg.norm(rotation_vector(quaternion,
                                                                                want[1]))))
    assert worst_position < 0.005 and worst_angle < 0.02
    end = pose_target(plan[-1], NAMES)  # 0.5 s after the end at 5/s: e^-2.5 of what was left
    assert np.linalg.norm(end[0] - position) < 1e-4
    assert np.linalg.norm(rotation_vector(quaternion, end[1])) < 1e-4


def turn(q: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """q turned by a small rotation vector in the fixed frame."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-15:
        return q
    axis = rotvec / angle
    d = np.array([*(axis * math.sin(angle / 2)), math.cos(angle / 2)])
    x1, y1, z1, w1 = d
    x0, y0, z0, w0 = q
    out = np.array([w1 * x0 + x1 * w0 + y1 * z0 - z1 * y0, w1 * y0 - x1 * z0 + y1 * w0 + z1 * x0,
                    w1 * z0 + x1 * y0 - y1 * x0 + z1 * w0, w1 * w0 - x1 * x0 - y1 * y0 - z1 * z0])
    return out / np.linalg.norm(out)
