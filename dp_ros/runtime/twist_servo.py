"""A Cartesian velocity command toward the planned pose: what a twist-driven servo (MoveIt
Servo's TwistStamped input, a Cartesian velocity controller) gets instead of a pose target.

The policy plans poses; such a controller takes velocities and stops when they stop coming.
Each tick the twist is a proportional step from the measured pose toward the plan's pose at
that moment (linearly interpolated between its points, the orientation the short way round:
short_way), plus the plan's own velocity there, clamped to the speed limits: linear in m/s,
angular as the rotation vector of the remaining turn, in rad/s, both in the header's frame
(the frame the poses are in). ROS-free: the node sends what `twist_toward_plan` returns
(through PlanningLoop.twist_due) as geometry_msgs/TwistStamped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dp_ros.pose_fields import QUATERNION, pose_target, rotation_vector


@dataclass(frozen=True)
class TwistLimits:
    """How hard the servo pulls toward the plan (the node's twist_gain, twist_max_linear and
    twist_max_angular, whose defaults are the node's parameters').

    Attributes:
        gain: 1/s: the share of the remaining error removed per second (a gain of 5 closes
            an error to 1/e in 0.2 s, two control periods at 10 Hz).
        max_linear: m/s: the largest translational speed sent (the vector is scaled down).
        max_angular: rad/s: the largest rotational speed sent (the vector is scaled down).
    """

    gain: float
    max_linear: float
    max_angular: float


def _clamp(v: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v * (limit / norm) if norm > limit else v


def servo_twist(target: tuple[np.ndarray, np.ndarray], measured: tuple[np.ndarray, np.ndarray],
                feedforward: tuple[np.ndarray, np.ndarray], limits: TwistLimits
                ) -> tuple[np.ndarray, np.ndarray]:
    """(linear m/s, angular rad/s) that move the measured pose (position, unit quaternion)
    toward the target pose: gain times the error plus the plan's own velocity (feedforward:
    linear, angular), each clamped to its limit."""
    linear = limits.gain * (target[0] - measured[0]) + feedforward[0]
    angular = limits.gain * rotation_vector(measured[1], target[1]) + feedforward[1]
    return _clamp(linear, limits.max_linear), _clamp(angular, limits.max_angular)


def short_way(before: np.ndarray, after: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """`after`'s pose fields written the short way round from `before`'s, so that their
    linear interpolation turns as rotation_vector does: a yaw by the wrapped difference, a
    quaternion of the other sign (q and -q: one orientation) negated. A rotation 6D's fields
    have no wrap and are returned as they are."""
    after = np.array(after, dtype=np.float64)
    names = list(names)
    if 'yaw' in names:
        k = names.index('yaw')
        after[k] = before[k] + math.remainder(after[k] - before[k], math.tau)
    elif 'qw' in names:
        columns = [names.index(q) for q in QUATERNION]
        if float(np.dot(before[columns], after[columns])) < 0:
            after[columns] = -after[columns]
    return after


def _segment_velocity(due: np.ndarray, values: np.ndarray, i: int, names: tuple[str, ...]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(linear, angular) velocity of the plan from point i to point i + 1."""
    span_s = (int(due[i + 1]) - int(due[i])) / 1e9
    a, b = pose_target(values[i], names), pose_target(values[i + 1], names)
    return (b[0] - a[0]) / span_s, rotation_vector(a[1], b[1]) / span_s


def twist_toward_plan(due_ns: np.ndarray, values: np.ndarray, names: tuple[str, ...],
                      t_ns: int, measured: np.ndarray, limits: TwistLimits,
                      min_span_ns: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """The twist at t for a plan of pose-field values (one row per point due at due_ns) and
    the measured values of the same fields: toward the plan's pose at t (interpolated between
    the points around it, the short way round across a yaw's or a quaternion's wrap), with
    the plan's velocity there as feedforward; after the last point toward it at rest. None
    before the first point. ValueError when a pose has no direction (pose_fields.pose_target).

    A segment shorter than `min_span_ns` (a control period) is the seam between a plan and
    the one replacing it (a camera's stamps are off the old plan's grid: a millisecond
    apart): their disagreement over it is no velocity (a millimetre in a millisecond: 1 m/s).
    Its feedforward is the next segment's, the new plan's own (none after its last point)."""
    due = np.asarray(due_ns, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    i = int(np.searchsorted(due, int(t_ns), side='right')) - 1
    if i < 0:
        return None
    if i + 1 >= len(due):
        target, feedforward = pose_target(values[-1], names), (np.zeros(3), np.zeros(3))
    else:
        span_s = (int(due[i + 1]) - int(due[i])) / 1e9
        share = (int(t_ns) - int(due[i])) / (span_s * 1e9)
        after = short_way(values[i], values[i + 1], names)
        target = pose_target(values[i] + share * (after - values[i]), names)
        feedforward = _segment_velocity(due, values, i, names)
        if int(due[i + 1]) - int(due[i]) < min_span_ns:
            feedforward = _segment_velocity(due, values, i + 1, names) \
                if i + 2 < len(due) else (np.zeros(3), np.zeros(3))
    return servo_twist(target, pose_target(measured, names), feedforward, limits)
