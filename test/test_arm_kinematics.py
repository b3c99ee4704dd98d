"""The planar arm's kinematics: FK(IK(p)) = p on the whole table, one continuous IK, limits."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.arm_kinematics import (
    DEFAULT_ARM,
        SHOULDER,
    ArmGeometry,
    Unreachable,
)

ARM = DEFAULT_ARM


def table_grid(step: float = 2.0) -> np.ndarray:
    g = np.arange(0.0, 512.0 + 1e-9, step)
    x, y = np.meshgrid(g, g)
    return np.stack([x, y], axis=-1)


def test_fk_of_ik_is_the_target_on_the_whole_table_corners_included():
    p = table_grid()
    q = ARM.inverse(p)  # raises Unreachable on any point outside reach or limits
    assert np.abs(ARM.forward(q) - p).max() < 1e-9
    assert ARM.within_limits(q).all()
    # the elbow stays in the IK's working range, away from the stretched singularity
    lo, hi = ARM.ik_elbow_range
    assert q[..., 1].min() >= lo - 1e-9 and q[..., 1].max() <= hi + 1e-9


def test_ik_rule_end_link_points_radially_away_from_the_shoulder():
    p = table_grid(16.0).reshape(-1, 2)
    q = ARM.inverse(p)
    phi = np.cumsum(q, axis=-1)[:, 2] - np.pi / 2  # the end link's absolute angle
    theta = np.arctan2(p[:, 1] - SHOULDER[1], p[:, 0] - SHOULDER[0])
    assert np.allclose(np.angle(np.exp(1j * (phi - theta))), 0.0, atol=1e-9)
    assert (q[:, 1] > 0).all()  # the positive elbow branch
    assert np.allclose(q[:, 2], -q[:, 1] / 2)  # equal upper links: the wrist follows


def test_ik_is_smooth_over_the_table():
    q = ARM.inverse(table_grid(1.0))
    # one pixel of end-effector motion moves no joint by more than 0.012 rad, anywhere
    assert np.abs(np.diff(q, axis=0)).max() < 0.012
    assert np.abs(np.diff(q, axis=1)).max() < 0.012
    # and the joint ranges the limits document
    assert q[..., 0].min() > -2.4 and q[..., 0].max() < 0.15


def test_ik_is_continuous_along_demonstration_paths(pusht_zarr):
    import zarr

    root = zarr.open(str(pusht_zarr), mode='r')
    pos = np.asarray(root['data/state'][:, :2], dtype=np.float64)
    ends = np.asarray(root['meta/episode_ends'][:])
    q = ARM.inverse(pos)
    assert np.abs(ARM.forward(q) - pos).max() < 1e-9
    dq = np.abs(np.diff(q, axis=0))
    dp = np.hypot(*np.diff(pos, axis=0).T)
    keep = np.ones(len(dq), bool)
    keep[ends[:-1] - 1] = False  # episode boundaries
    # joint steps scale with the pusher's steps: no branch flips along any path
    assert (dq[keep].max(axis=1) <= 0.012 * dp[keep] + 1e-9).all()
    # every 0.1 s step is within the joint velocity limits
    assert (dq[keep] / 0.1 <= np.asarray(ARM.max_velocity)).all()


def test_unreachable_targets_and_limits_are_named():
    with pytest.raises(Unreachable, match='out of the arm'):
        ARM.inverse(np.array([256.0, -200.0]))
    with pytest.raises(Unreachable, match='out of the arm'):
        ARM.inverse(np.array([256.0, 600.0]))  # too close: the elbow would fold past 170 deg
    narrow = ArmGeometry(lower=(-1.0, 0.0, -np.pi), upper=(1.0, np.pi, np.pi))
    with pytest.raises(Unreachable, match='outside the limits'):
        narrow.inverse(np.array([10.0, 500.0]))
    with pytest.raises(ValueError, match='finite'):
        ARM.inverse(np.array([np.nan, 1.0]))


def test_joint_points_chain_ends_at_the_end_effector():
    q = ARM.inverse(np.array([[100.0, 200.0], [400.0, 50.0]]))
    pts = ARM.joint_points(q)
    assert pts.shape == (2, 4, 2)
    assert np.allclose(pts[:, 0], SHOULDER)
    assert np.allclose(pts[:, -1], ARM.forward(q))
    seg = np.hypot(*np.diff(pts, axis=1).transpose(2, 0, 1))
    assert np.allclose(seg, ARM.links)
