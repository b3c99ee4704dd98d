"""Poses as values (dp_ros/pose_fields.py): what makes a whole pose target, and the target's
position and unit quaternion from predicted fields."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.pose_fields import (
    MATRIX,
    MATRIX_COLUMNS,
    MATRIX_ROWS,
    decode_pose,
    pose_target,
    pose_target_problem,
)


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
    (['x', 'y', 'z', *MATRIX_COLUMNS], True),
    (['x', 'y', 'z', *MATRIX_ROWS], True),
    (['x', 'y', 'z', *MATRIX], False),  # nine: which six to trust is not said
    (['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11'], False),
    (['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r12'], False),  # a row and a column
    (['x', 'y', 'z', *MATRIX_COLUMNS, 'qw'], False),
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


def _random_quaternions(n: int) -> np.ndarray:
    q = np.random.default_rng(3).normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, 3:] < 0, -q, q)  # qw >= 0, as decoded


@pytest.mark.parametrize('six', [MATRIX_COLUMNS, MATRIX_ROWS])
def test_a_rotation_6d_target_is_the_recorded_orientation(six):
    """Decoded matrix entries (two columns or two rows) command the orientation they were
    read from, whatever order the fields are listed in."""
    names = ['x', 'y', 'z', *reversed(six)]
    for q in _random_quaternions(50):
        decoded = decode_pose(_Msg((0.1, 0.2, 0.3), q), names)
        position, target = pose_target(decoded, names)
        assert position.tolist() == [0.1, 0.2, 0.3]
        np.testing.assert_allclose(target, q, atol=1e-12)


def test_the_matrix_entries_are_the_rotation_matrix():
    """A quarter turn about z: the pose frame's x axis (the matrix's first column) points along
    the header frame's y."""
    half = math.pi / 4
    m = decode_pose(_Msg((0, 0, 0), (0, 0, math.sin(half), math.cos(half))), MATRIX)
    np.testing.assert_allclose(m.reshape(3, 3), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_a_predicted_rotation_6d_is_made_orthonormal():
    """A prediction is never exactly orthonormal: Gram-Schmidt keeps the first axis's
    direction and the plane of the two (Zhou et al. 2019); axes with no plane are refused."""
    names = ['x', 'y', 'z', *MATRIX_COLUMNS]
    # x axis (2, 0, 0), y axis tilted toward x: the result is the identity
    _, q = pose_target(np.array([0, 0, 0, 2.0, 0, 0, 0.5, 0.9, 0]), names)
    np.testing.assert_allclose(q, [0, 0, 0, 1], atol=1e-12)
    with pytest.raises(ValueError, match='no direction'):
        pose_target(np.array([0, 0, 0, 0, 0, 0, 0, 1.0, 0]), names)
    with pytest.raises(ValueError, match='no direction apart'):
        pose_target(np.array([0, 0, 0, 1.0, 0, 0, -3.0, 0, 0]), names)
    with pytest.raises(ValueError, match='not finite'):
        pose_target(np.array([0, 0, 0, 1.0, 0, 0, 0, math.inf, 0]), names)


def test_the_matrix_has_no_jump_where_the_quaternion_has_one():
    """Why rotation 6D: turning through 180 degrees about x, the quaternion taken with qw >= 0
    jumps to its negative, while the matrix entries move by small steps."""
    angles = np.linspace(math.pi - 0.05, math.pi + 0.05, 11)
    fields = ['qx', 'qy', 'qz', 'qw', *MATRIX_COLUMNS]
    values = np.array([decode_pose(_Msg((0, 0, 0), (math.sin(a / 2), 0, 0, math.cos(a / 2))),
                                   fields) for a in angles])
    assert np.abs(np.diff(values[:, :4], axis=0)).max() > 1.5  # qx: +1 -> -1
    assert np.abs(np.diff(values[:, 4:], axis=0)).max() < 0.02
