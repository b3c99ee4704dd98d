"""Poses as values (dp_ros/pose_fields.py): what makes a whole pose target, and the target's
position and unit quaternion from predicted fields."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.pose_fields import decode_pose, pose_target, pose_target_problem


class _Msg:
    """A PoseStamped-shaped object (the decoder reads attributes only)."""

    def __init__(self, position, quaternion):
        from types import SimpleNamespace as NS

        self.pose = NS(position=NS(**dict(zip('xyz', position, strict=True))),
                       orientation=NS(**dict(zip('xyzw', quaternion, strict=True))))


@pytest.mark.parametrize('names, whole', [
    (['x', 'y', 'z', 'yaw'], True),
    (['yaw', 'z', 'x', 'y'], True),
    (['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'], True),
    (['x', 'y', 'yaw'], False),  # no z: a target would fly to z = 0
    (['x', 'y', 'z'], False),  # no orientation
    (['x', 'y', 'z', 'yaw', 'qw'], False),
    (['x', 'y', 'z', 'qx', 'qy', 'qz'], False),
    (['x', 'y', 'z', 'yaw', 'yaw'], False),
    (['x', 'y', 'z', 'yaw', 'gripper'], False),
])
def test_a_whole_pose_is_a_position_and_one_orientation(names, whole):
    assert (pose_target_problem(names) is None) == whole


def test_a_target_turns_by_its_yaw_or_normalizes_its_quaternion():
    position, q = pose_target(np.array([0.1, 0.2, 0.3, math.pi / 2]), ['x', 'y', 'z', 'yaw'])
    assert position.tolist() == [0.1, 0.2, 0.3]
    np.testing.assert_allclose(q, [0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    # the decoder reads the yaw back: the target and a recorded pose agree
    assert decode_pose(_Msg(position, q), ['yaw'])[0] == pytest.approx(math.pi / 2)
    names = ['qw', 'x', 'qx', 'y', 'qy', 'z', 'qz']
    _, q = pose_target(np.array([2.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0]), names)
    assert q.tolist() == [0.0, 0.0, 0.0, 1.0]  # (0, 0, 0, 2) normalized
    with pytest.raises(ValueError, match='no direction'):
        pose_target(np.array([0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0]), names)
    with pytest.raises(ValueError, match='not finite'):
        pose_target(np.array([0.1, math.nan, 0.3, 0.0]), ['x', 'y', 'z', 'yaw'])


def test_a_quaternion_and_its_negative_decode_alike():
    """q and -q are one rotation: the decoded quaternion always has qw >= 0, whichever a driver
    sent, and the yaw is the same."""
    half = 0.3
    q = (0.1, -0.2, math.sin(half), math.cos(half))
    fields = ['qx', 'qy', 'qz', 'qw', 'yaw']
    plus = decode_pose(_Msg((0, 0, 0), q), fields)
    minus = decode_pose(_Msg((0, 0, 0), tuple(-v for v in q)), fields)
    assert plus.tolist() == minus.tolist() and plus[3] > 0
