"""A geometry_msgs/PoseStamped as observation values: the one decoding that `dp-ros bag2zarr`
(a `pose` source) and the policy node (`state_pose_topics`) share, so that a policy sees live
poses exactly as it was trained on them. Base layer: works on any object with the message's
attributes (an rclpy message or a rosbags one)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# r<row><column>: an entry of the orientation's rotation matrix (its columns are the pose
# frame's axes in the header's frame). Two of its columns (Zhou et al. 2019's rotation 6D)
# or two of its rows (pytorch3d's matrix_to_rotation_6d, which the paper's code uses for
# absolute actions) describe an orientation with no jump anywhere, unlike a quaternion
# (q and -q at 180 degrees) or a yaw (at its wrap).
MATRIX = tuple(f'r{i}{j}' for i in range(3) for j in range(3))
POSE_FIELDS = ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw', 'yaw', *MATRIX)


def decode_pose(msg: Any, fields: Sequence[str], yaw_min: float = -math.pi) -> np.ndarray:
    """Selected pose fields; yaw (about z, from the quaternion) wrapped into
    [yaw_min, yaw_min + 2 pi) so that it can match a dataset's angle convention; the
    quaternion taken with qw >= 0 (q and -q are one rotation, and drivers send either: a
    policy would see the same orientation as two far-apart values). ValueError when an
    orientation field is asked of a quaternion of no direction (all zeros, or NaN) or of one
    too long to normalize (components past ~1e154)."""
    pose = msg.pose
    p, q = pose.position, pose.orientation
    if any(f not in ('x', 'y', 'z') for f in fields):
        norm = math.sqrt(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w)
        if not norm > 1e-6:  # NaN too: an unset orientation must not read as a real one
            raise ValueError(f'orientation quaternion ({q.x}, {q.y}, {q.z}, {q.w}) has no '
                             'direction (an unset orientation?)')
        if norm == math.inf:  # its squares overflow: normalized it read as no rotation
            raise ValueError(f'orientation quaternion ({q.x}, {q.y}, {q.z}, {q.w}) is too '
                             'long to normalize (its squared length overflows float64)')
    sign = -1.0 if q.w < 0 else 1.0
    values = {'x': p.x, 'y': p.y, 'z': p.z, 'qx': sign * q.x, 'qy': sign * q.y,
              'qz': sign * q.z, 'qw': sign * q.w}
    if 'yaw' in fields:
        # w^2 + x^2 - y^2 - z^2 is 1 - 2 (y^2 + z^2) for a unit quaternion and scales with
        # the numerator otherwise: a driver's non-unit quaternion gives its direction's yaw
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y),
                         q.w * q.w + q.x * q.x - q.y * q.y - q.z * q.z)
        wrapped = (yaw - yaw_min) % (2 * math.pi)
        # a yaw a hair below yaw_min rounds to 2 pi itself: that is yaw_min's heading
        values['yaw'] = (wrapped if wrapped < 2 * math.pi else 0.0) + yaw_min
    if any(f in MATRIX for f in fields):
        matrix = quaternion_to_matrix(np.array([q.x, q.y, q.z, q.w], dtype=np.float64))
        values.update(zip(MATRIX, matrix.ravel().tolist(), strict=True))
    return np.array([values[f] for f in fields], dtype=np.float64)


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """The rotation matrix of a quaternion (x, y, z, w) of some direction (normalized here, so
    that a driver's slightly-off unit quaternion still gives a rotation)."""
    x, y, z, w = (quaternion / np.linalg.norm(quaternion)).tolist()
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """The unit quaternion (x, y, z, w), w >= 0, of a rotation matrix (Shepperd's method:
    the square root is taken of the largest of the four candidates, so it never divides by a
    small number)."""
    m = matrix
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    candidates = [trace, m[0, 0], m[1, 1], m[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif k == 1:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif k == 2:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    quaternion = np.array(q)
    quaternion /= np.linalg.norm(quaternion)
    return -quaternion if quaternion[3] < 0 else quaternion


def rotation_vector(q_from: np.ndarray, q_to: np.ndarray) -> np.ndarray:
    """The turn from one unit quaternion (x, y, z, w) to another as a rotation vector in the
    fixed frame (axis times angle, the angle in [0, pi]: the short way round)."""
    x1, y1, z1, w1 = q_to
    x0, y0, z0, w0 = -q_from[0], -q_from[1], -q_from[2], q_from[3]  # the conjugate
    turn = np.array([w1 * x0 + x1 * w0 + y1 * z0 - z1 * y0,
                     w1 * y0 - x1 * z0 + y1 * w0 + z1 * x0,
                     w1 * z0 + x1 * y0 - y1 * x0 + z1 * w0,
                     w1 * w0 - x1 * x0 - y1 * y0 - z1 * z0])  # q_to * conj(q_from)
    if turn[3] < 0:
        turn = -turn  # q and -q: the same turn, the shorter way
    sin_half = float(np.linalg.norm(turn[:3]))
    if sin_half < 1e-12:
        return np.zeros(3)
    return turn[:3] / sin_half * 2.0 * math.atan2(sin_half, turn[3])


def _gram_schmidt(a1: np.ndarray, a2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three orthonormal right-handed axes from two predicted ones (Zhou et al. 2019): the
    first normalized, the second made orthogonal to it, the third their cross product.
    ValueError when they span no plane."""
    n1 = float(np.linalg.norm(a1))
    if not n1 > 1e-6:
        raise ValueError(f'rotation axis {a1.tolist()} has no direction')
    b1 = a1 / n1
    rest = a2 - float(b1 @ a2) * b1
    n2 = float(np.linalg.norm(rest))
    if not n2 > 1e-6:
        raise ValueError(f'rotation axes {a1.tolist()} and {a2.tolist()} have no direction '
                         'apart')
    b2 = rest / n2
    return b1, b2, np.cross(b1, b2)


QUATERNION = ('qx', 'qy', 'qz', 'qw')
MATRIX_COLUMNS = ('r00', 'r10', 'r20', 'r01', 'r11', 'r21')  # the x and y axes
MATRIX_ROWS = ('r00', 'r01', 'r02', 'r10', 'r11', 'r12')  # pytorch3d's rotation 6D
ORIENTATIONS = (QUATERNION, ('yaw',), MATRIX_COLUMNS, MATRIX_ROWS)
# the fields that lie in [-1, 1] whatever the pose: a unit quaternion's, a rotation matrix's
UNIT_FIELDS = (*QUATERNION, *MATRIX)


def pose_target_problem(names: Sequence[str]) -> str | None:
    """Why these pose fields do not make a whole pose to command (None: they do): x, y, z and
    one orientation (qx, qy, qz, qw; yaw; or a rotation 6D, two columns or two rows of the
    matrix), nothing else, each once."""
    orientation = sorted(set(names) - {'x', 'y', 'z'})
    if sorted(names) != sorted(set(names)) or not {'x', 'y', 'z'} <= set(names) \
            or orientation not in [sorted(o) for o in ORIENTATIONS]:
        return (f'{list(names)} is not a whole pose: x, y, z and one orientation, each once: '
                'qx, qy, qz, qw; or yaw (about z, roll and pitch 0); or the rotation '
                f'matrix\'s first two columns ({", ".join(MATRIX_COLUMNS)}) or rows '
                f'({", ".join(MATRIX_ROWS)})')
    return None


def pose_target(values: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(position x, y, z; unit quaternion x, y, z, w) of action values named by pose fields
    (pose_target_problem says which make a pose): a predicted quaternion is normalized, a yaw
    turns about z, two predicted matrix columns (or rows) are made orthonormal by Gram-Schmidt
    and completed by their cross product. ValueError when the quaternion is (near) zero, the
    matrix's axes span no plane, a value is not finite or their count is not the names'."""
    flat = np.asarray(values, dtype=np.float64)
    if flat.shape != (len(names),):  # zip's 'argument 2 is shorter than argument 1'
        raise ValueError(f'a pose of fields {list(names)} takes {len(names)} values, got '
                         f'shape {flat.shape}')
    by_name = dict(zip(names, flat.tolist(), strict=True))
    position = np.array([by_name['x'], by_name['y'], by_name['z']])
    if not all(math.isfinite(v) for v in by_name.values()):
        raise ValueError(f'pose {by_name} is not finite')
    if 'yaw' in by_name:
        half = by_name['yaw'] / 2
        quaternion = np.array([0.0, 0.0, math.sin(half), math.cos(half)])
    elif 'r02' in by_name:  # the first two rows
        rows = _gram_schmidt(*(np.array([by_name[f'r{i}{j}'] for j in range(3)])
                               for i in range(2)))
        quaternion = matrix_to_quaternion(np.stack(rows))
    elif 'r20' in by_name:  # the first two columns
        columns = _gram_schmidt(*(np.array([by_name[f'r{i}{j}'] for i in range(3)])
                                  for j in range(2)))
        quaternion = matrix_to_quaternion(np.stack(columns, axis=1))
    else:
        quaternion = np.array([by_name[q] for q in QUATERNION])
        norm = float(np.linalg.norm(quaternion))
        if not norm > 1e-6:
            raise ValueError(f'quaternion {quaternion.tolist()} has no direction')
        quaternion = quaternion / norm
    return position, quaternion
