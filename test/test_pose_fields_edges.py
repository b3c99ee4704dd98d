"""Edges of pose decoding and pose targets (dp_ros/pose_fields.py): a NaN or tiny quaternion,
the yaw of a tilted orientation, every rotation-matrix entry against an independent
rotation, non-unit quaternions, 180-degree turns (Shepperd's other branches) and tiny
predicted axes."""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_pose_fields import _Msg

from dp_ros.pose_fields import MATRIX, MATRIX_COLUMNS, decode_pose, pose_target


def _multiply(a, b):
    """Hamilton product of quaternions (x, y, z, w)."""
    x1, y1, z1, w1 = a
    x2, y2, z2, w2 = b
    return np.array([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                     w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2])


def _about(axis: int, angle: float) -> np.ndarray:
    q = np.zeros(4)
    q[axis], q[3] = math.sin(angle / 2), math.cos(angle / 2)
    return q


def _rotate(q, v):
    """v turned by unit quaternion q: q v q*."""
    conj = np.array([-q[0], -q[1], -q[2], q[3]])
    return _multiply(_multiply(q, np.array([*v, 0.0])), conj)[:3]


# yaw 0.7 about z, then pitch 0.3 about y, then roll 0.2 about x (ZYX)
TILTED = _multiply(_multiply(_about(2, 0.7), _about(1, 0.3)), _about(0, 0.2))


def test_a_nan_quaternion_has_no_direction():
    with pytest.raises(ValueError, match='no direction'):
        decode_pose(_Msg((0, 0, 0), (math.nan, 0.0, 0.0, 1.0)), ['yaw'])


def test_the_yaw_of_a_tilted_orientation_is_its_zyx_yaw():
    assert decode_pose(_Msg((0, 0, 0), TILTED), ['yaw'])[0] == pytest.approx(0.7)


def test_every_matrix_entry_is_the_rotation_of_the_axes():
    """Column j of the matrix is the pose frame's axis j turned by the quaternion."""
    matrix = decode_pose(_Msg((0, 0, 0), TILTED), MATRIX).reshape(3, 3)
    expected = np.stack([_rotate(TILTED, e) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(matrix, expected, atol=1e-12)


def test_a_non_unit_quaternion_gives_the_matrix_of_its_direction():
    unit = decode_pose(_Msg((0, 0, 0), TILTED), MATRIX)
    scaled = decode_pose(_Msg((0, 0, 0), 2.0 * TILTED), MATRIX)
    np.testing.assert_allclose(scaled, unit, atol=1e-12)


@pytest.mark.parametrize('scale', [0.5, 0.9, 1.1, 2.0])
def test_a_non_unit_quaternion_gives_the_yaw_of_its_direction(scale):
    """Drivers send quaternions a little off unit (float32, an unnormalized filter): the yaw
    is the rotation's, not biased by the norm (1 - 2(y^2 + z^2) assumed a unit one: at 2x, a
    yaw of 0.7 read as 1.60)."""
    yaw = decode_pose(_Msg((0, 0, 0), scale * TILTED), ['yaw'])[0]
    assert yaw == pytest.approx(0.7, abs=1e-12)
    flat = decode_pose(_Msg((0, 0, 0), scale * _about(2, 3.0)), ['yaw'])[0]
    assert flat == pytest.approx(3.0, abs=1e-12)


@pytest.mark.parametrize('axis', [0, 1, 2])
def test_a_half_turn_target_from_matrix_columns(axis):
    """A half turn has trace -1: the quaternion comes from the diagonal branch, not the
    trace one (which would divide by zero)."""
    q = _about(axis, math.pi)
    columns = decode_pose(_Msg((0, 0, 0), q), MATRIX_COLUMNS)
    _, target = pose_target(np.array([0.0, 0.0, 0.0, *columns]), ['x', 'y', 'z',
                                                                  *MATRIX_COLUMNS])
    expected = np.zeros(4)
    expected[axis] = 1.0
    np.testing.assert_allclose(target, expected, atol=1e-12)


def test_a_near_zero_quaternion_target_is_refused():
    with pytest.raises(ValueError, match='no direction'):
        pose_target(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-9]),
                    ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'])


def test_a_near_zero_first_axis_is_refused():
    with pytest.raises(ValueError, match=r'rotation axis .* has no direction'):
        pose_target(np.array([0, 0, 0, 1e-9, 0, 0, 0, 1.0, 0]), ['x', 'y', 'z',
                                                                 *MATRIX_COLUMNS])
