"""twist_toward_plan (dp_ros/runtime/twist_servo.py) on a plan whose orientation crosses the
wrap of its own fields: a yaw from +3.10 to -3.10 rad (0.083 rad the short way, through pi),
or a qw >= 0 quaternion (decode_pose's convention) whose sign flips there. The twist goes
toward "the plan's pose at that moment (linearly interpolated between its points)": between
two points 0.083 rad apart, not half a turn away, so a servo never turns the wrong way at
full speed where a plan crosses pi. Pinned: the interpolated target turns the short way, as
the feedforward (rotation_vector) does."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.pose_fields import pose_target
from dp_ros.runtime.twist_servo import TwistLimits, twist_toward_plan

MS = 1_000_000
DUE = np.array([1000, 1100]) * MS
LIMITS = TwistLimits(gain=5.0, max_linear=10.0, max_angular=10.0)
NO_GAIN = TwistLimits(gain=0.0, max_linear=10.0, max_angular=10.0)


def quaternion(yaw: float) -> list[float]:
    """qx, qy, qz, qw of a turn about z, with qw >= 0 as decode_pose gives them."""
    q = [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]
    return [-v for v in q] if q[3] < 0 else q


def wrapped_yaw(yaw: float) -> list[float]:
    return [math.remainder(yaw, math.tau)]


FIELDS = pytest.mark.parametrize('names, encode', [
    (('x', 'y', 'z', 'yaw'), wrapped_yaw),
    (('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'), quaternion),
], ids=['yaw', 'quaternion'])


@FIELDS
def test_the_twist_turns_the_short_way_on_a_plan_across_the_wrap(names, encode):
    """Halfway between plan points at yaw 3.10 and 3.18 (= -3.10), the end effector at 3.14
    is sent the plan's own turn rate (+0.8 rad/s about z), not a full-speed turn back."""
    plan = np.array([[0.5, 0.0, 0.2, *encode(3.10)], [0.5, 0.0, 0.2, *encode(3.18)]])
    measured = np.array([0.5, 0.0, 0.2, *encode(3.14)])
    _, angular = twist_toward_plan(DUE, plan, names, 1050 * MS, measured, LIMITS)
    assert angular[2] == pytest.approx(0.8, abs=0.05), angular


@FIELDS
@pytest.mark.parametrize('share', [0.25, 0.75])
def test_the_target_lies_between_the_points_across_the_wrap(names, encode, share):
    """With the end effector at the plan's pose for that moment (a quarter or three
    quarters of the way from 3.10 to 3.18), the twist is the feedforward alone: the
    interpolated target is where the measured pose is (a quaternion's to within the
    normalized interpolation's 1e-5 rad)."""
    plan = np.array([[0.5, 0.0, 0.2, *encode(3.10)], [0.5, 0.0, 0.2, *encode(3.18)]])
    measured = np.array([0.5, 0.0, 0.2, *encode(3.10 + share * 0.08)])
    t = int(DUE[0] + share * (DUE[1] - DUE[0]))
    _, angular = twist_toward_plan(DUE, plan, names, t, measured, LIMITS)
    assert angular == pytest.approx([0.0, 0.0, 0.8], abs=1e-4), angular


def test_a_rotation_6d_plan_interpolates_its_fields_as_before():
    """Rotation 6D (no wrap in its fields): the target is still the fields' linear
    interpolation made orthonormal, so the twist toward it from the first point's pose is
    the error to that pose plus the feedforward."""
    names = ('x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r21')

    def six_d(yaw: float) -> list[float]:
        c, s = math.cos(yaw), math.sin(yaw)
        return [c, s, 0.0, -s, c, 0.0]

    plan = np.array([[0.5, 0.0, 0.2, *six_d(0.0)], [0.5, 0.0, 0.2, *six_d(1.0)]])
    measured = np.array([0.5, 0.0, 0.2, *six_d(0.0)])
    _, angular = twist_toward_plan(DUE, plan, names, 1050 * MS, measured, NO_GAIN)
    assert angular == pytest.approx([0.0, 0.0, 10.0], abs=1e-9)  # 1 rad / 0.1 s
    mid = plan[0] + 0.5 * (plan[1] - plan[0])
    target = pose_target(mid, names)[1]
    expected = 2 * math.atan2(target[2], target[3])
    _, angular = twist_toward_plan(DUE, plan, names, 1050 * MS, measured,
                                   TwistLimits(gain=1.0, max_linear=10.0, max_angular=100.0))
    assert angular[2] == pytest.approx(expected + 10.0, abs=1e-9)
