"""A planar 3-revolute-joint arm over the Push-T table: geometry, FK, IK and joint limits.

ROS-free and pymunk-free: plain numpy, vectorised over points, so that the arm env, the
demonstration mapping and the tests share one definition.

Frame: the Push-T pixel frame (x right, y down, 512 x 512 table, the paper's walls at 5 and
506). Angles are measured in that frame, atan2(dy, dx), so a positive angle turns clockwise on
screen. The shoulder sits on a pedestal at the table's near edge, 116 px beyond it, at
SHOULDER = (256, 628); every target on the table lies in front of it (dy < 0).

Joint q1 is the shoulder (link 1's absolute angle is q1 + SHOULDER_ZERO, so q1 = 0 points
straight across the table, toward -y), q2 the elbow and q3 the wrist (relative angles); link
i's absolute angle is a_i = SHOULDER_ZERO + q1 + ... + qi and the end effector (the pusher
disc's centre) is SHOULDER + sum l_i (cos a_i, sin a_i).

Link lengths 320, 320, 60 px. The IK keeps the elbow in [15, 170] deg (away from the stretched
singularity and from full folding), so the wrist lies 55.8 .. 634.5 px from the shoulder; with
the end link radial (the rule below) the end effector reaches 115.8 .. 694.5 px, and the table
spans 116 px (its near edge) .. 678 px (its far corners) from the shoulder: the whole 512 x 512
table is reachable, every point with the same rule (tested on a grid with the corners).

The IK rule for the redundant joint (one rule, no history): the end link points radially away
from the shoulder, i.e. its absolute angle is the direction from the shoulder to the target;
the elbow takes the positive branch (q2 > 0). The solution is then a smooth function of the
target over the whole table (no switching, no singularity inside it), so a continuous path of
targets gives a continuous joint path with joint steps proportional to the path's steps. With
equal upper links the rule makes q3 = -q2 / 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHOULDER = (256.0, 628.0)
LINK_LENGTHS = (320.0, 320.0, 60.0)
JOINT_NAMES = ('shoulder', 'elbow', 'wrist')
# link 1's absolute angle is q1 + SHOULDER_ZERO: q1 = 0 points it straight across the table
SHOULDER_ZERO = -np.pi / 2

# Hardware limits. Positions (rad): the IK rule's joints over the whole table lie in
# q1 [-2.36, 0.13], q2 [0.52, 2.97], q3 [-1.48, -0.26]. Velocities (rad/s) and accelerations
# (rad/s^2) are those of a fast arm (180 deg/s), above what the paper's 206 teleoperated
# demonstrations need through the IK: their 10 Hz joint paths reach at most 2.17, 1.82 and
# 0.91 rad/s (99.9th percentile 1.45, 1.15, 0.58). The env enforces them; the policy node's
# safety envelope can be given them (config/arm_*.yaml).
POSITION_LOWER = (-2.6, 0.0, -1.8)
POSITION_UPPER = (0.4, np.radians(175.0), 0.3)
VELOCITY_LIMIT = (3.15, 3.15, 3.15)
ACCELERATION_LIMIT = (40.0, 40.0, 40.0)

# The IK's working range of the elbow: away from the stretched singularity (q2 = 0) and from
# full folding, inside the hardware range.
IK_ELBOW_RANGE = (np.radians(15.0), np.radians(170.0))


class Unreachable(ValueError):
    """A target the IK rule cannot reach within the working range and the joint limits."""


@dataclass(frozen=True)
class ArmGeometry:
    """Shoulder position, link lengths and joint limits of the planar arm."""

    shoulder: tuple[float, float] = SHOULDER  # (x, y), px in the Push-T frame
    links: tuple[float, float, float] = LINK_LENGTHS  # px
    lower: tuple[float, float, float] = POSITION_LOWER  # joint positions, rad
    upper: tuple[float, float, float] = POSITION_UPPER  # rad
    max_velocity: tuple[float, float, float] = VELOCITY_LIMIT  # rad/s
    max_acceleration: tuple[float, float, float] = ACCELERATION_LIMIT  # rad/s^2
    ik_elbow_range: tuple[float, float] = IK_ELBOW_RANGE  # (min, max) q2 the IK uses, rad

    def __post_init__(self) -> None:
        """Limits the env and the IK can work with: a negative velocity limit drove a joint
        away from its target (np.clip with min > max), a reversed elbow range refused every
        target with a reach of '696.8 .. 105.3 px'."""
        def values(name: str, n: int) -> np.ndarray:
            v = np.asarray(getattr(self, name), dtype=np.float64)
            if v.shape != (n,) or not np.all(np.isfinite(v)):
                raise ValueError(f'ArmGeometry.{name} must be {n} finite numbers, got '
                                 f'{getattr(self, name)!r}')
            return v

        values('shoulder', 2)
        lower, upper = values('lower', 3), values('upper', 3)
        for name, n in (('links', 3), ('max_velocity', 3), ('max_acceleration', 3)):
            if not np.all(values(name, n) > 0):
                raise ValueError(f'ArmGeometry.{name} must be > 0, got {getattr(self, name)!r}')
        if not np.all(lower < upper):
            raise ValueError(f'ArmGeometry lower {self.lower!r} must be below upper '
                             f'{self.upper!r} for every joint')
        lo, hi = values('ik_elbow_range', 2)
        if not 0 <= lo < hi <= np.pi:
            raise ValueError(f'ArmGeometry.ik_elbow_range must be (min, max) with 0 <= min < '
                             f'max <= pi, got {self.ik_elbow_range!r}')

    @property
    def wrist_reach(self) -> tuple[float, float]:
        """(min, max) distance of the wrist from the shoulder over the IK's elbow range."""
        l1, l2, _ = self.links
        lo, hi = self.ik_elbow_range
        return (float(np.sqrt(l1 * l1 + l2 * l2 + 2 * l1 * l2 * np.cos(hi))),
                float(np.sqrt(l1 * l1 + l2 * l2 + 2 * l1 * l2 * np.cos(lo))))

    def joint_points(self, q: np.ndarray) -> np.ndarray:
        """(..., 4, 2): shoulder, elbow, wrist and end effector positions for joints q (..., 3)."""
        q = _joints(q)
        angles = np.cumsum(q, axis=-1) + SHOULDER_ZERO
        steps = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * np.asarray(
            self.links)[:, None]
        base = np.broadcast_to(np.asarray(self.shoulder), steps.shape[:-2] + (1, 2))
        return np.concatenate([base, base + np.cumsum(steps, axis=-2)], axis=-2)

    def forward(self, q: np.ndarray) -> np.ndarray:
        """End-effector position (..., 2) of joints q (..., 3)."""
        q = _joints(q)
        a1 = q[..., 0] + SHOULDER_ZERO
        a2 = a1 + q[..., 1]
        a3 = a2 + q[..., 2]
        l1, l2, l3 = self.links
        x = self.shoulder[0] + l1 * np.cos(a1) + l2 * np.cos(a2) + l3 * np.cos(a3)
        y = self.shoulder[1] + l1 * np.sin(a1) + l2 * np.sin(a2) + l3 * np.sin(a3)
        return np.stack([x, y], axis=-1)

    def inverse(self, p: np.ndarray, check_limits: bool = True) -> np.ndarray:
        """Joints (..., 3) that put the end effector at p (..., 2), by the module's IK rule.

        Raises Unreachable naming the first target the rule cannot reach.
        """
        p = np.asarray(p, dtype=np.float64)
        if p.shape[-1:] != (2,) or not np.all(np.isfinite(p)):
            raise ValueError(f'targets must be finite (..., 2) positions, got shape {p.shape}')
        l1, l2, l3 = self.links
        d_min, d_max = self.wrist_reach
        dx = p[..., 0] - self.shoulder[0]
        dy = p[..., 1] - self.shoulder[1]
        r = np.hypot(dx, dy)
        theta = np.arctan2(dy, dx)
        # the wrist sits l3 short of the target on the ray from the shoulder
        bad = (r - l3 < d_min) | (r - l3 > d_max)
        if np.any(bad):
            first = p.reshape(-1, 2)[int(np.argmax(bad.reshape(-1)))]
            raise Unreachable(f'target {first.tolist()} is out of the arm\'s reach: '
                              f'{l3 + d_min:.1f} .. {l3 + d_max:.1f} px from the shoulder '
                              f'{list(self.shoulder)} (links {list(self.links)})')
        phi = theta
        wx = dx - l3 * np.cos(phi)
        wy = dy - l3 * np.sin(phi)
        rw2 = wx * wx + wy * wy
        q2 = np.arccos(np.clip((rw2 - l1 * l1 - l2 * l2) / (2.0 * l1 * l2), -1.0, 1.0))
        # the wrist's direction from the shoulder, measured from q1 = 0 and never behind the
        # shoulder (the cut of the wrap), so q1 is continuous; the elbow may swing behind
        q1 = (_wrap(np.arctan2(wy, wx) - SHOULDER_ZERO)
              - np.arctan2(l2 * np.sin(q2), l1 + l2 * np.cos(q2)))
        q3 = _wrap(phi - (q1 + SHOULDER_ZERO) - q2)
        q = np.stack([q1, q2, q3], axis=-1)
        if check_limits:
            outside = np.any((q < np.asarray(self.lower)) | (q > np.asarray(self.upper)),
                             axis=-1)
            if np.any(outside):
                i = int(np.argmax(outside.reshape(-1)))
                raise Unreachable(f'target {p.reshape(-1, 2)[i].tolist()} needs joints '
                                  f'{q.reshape(-1, 3)[i].tolist()} outside the limits '
                                  f'{list(self.lower)}..{list(self.upper)}')
        return q

    def within_limits(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        return np.all((q >= np.asarray(self.lower)) & (q <= np.asarray(self.upper)), axis=-1)


def _joints(q: np.ndarray) -> np.ndarray:
    """q as float64 joints (..., 3): 4 values were read as their first 3, 2 an IndexError."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1:] != (3,):
        raise ValueError(f'joints must be (..., 3) positions, got shape {q.shape}')
    return q


def _wrap(a: np.ndarray) -> np.ndarray:
    """Angles into (-pi, pi]."""
    return np.pi - np.mod(np.pi - a, 2.0 * np.pi)


DEFAULT_ARM = ArmGeometry()
