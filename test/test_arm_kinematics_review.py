"""Review tests of sim_bridge/arm_kinematics.py: the documented reach, inclusive limits, input
shape checks and error messages that name the offending target."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.arm_kinematics import DEFAULT_ARM, SHOULDER, ArmGeometry, Unreachable

ARM = DEFAULT_ARM


def straight_ahead(r: float) -> np.ndarray:
    """The target r px straight across the table from the shoulder (toward -y)."""
    return np.array([SHOULDER[0], SHOULDER[1] - r])


def test_reach_is_the_documented_115_8_to_694_5_px():
    """The module docstring's reach: end effector 115.8 .. 694.5 px from the shoulder."""
    lo, hi = ARM.wrist_reach
    assert lo + ARM.links[2] == pytest.approx(115.8, abs=0.05)
    assert hi + ARM.links[2] == pytest.approx(694.5, abs=0.05)
    for r in (116.0, 694.0):
        assert np.abs(ARM.forward(ARM.inverse(straight_ahead(r))) - straight_ahead(r)).max() < 1e-9
    for r in (80.0, 100.0, 115.0, 695.0, 720.0, 750.0):
        with pytest.raises(Unreachable, match=r'115\.8 \.\. 694\.5 px'):
            ARM.inverse(straight_ahead(r))


def test_targets_at_full_stretch_give_finite_joints():
    """With an elbow range reaching full stretch (0 deg), targets at the full reach put the
    IK's arccos argument at 1 up to rounding: it is clipped, the joints are finite."""
    stretch = ArmGeometry(ik_elbow_range=(0.0, np.radians(170.0)),
                          lower=(-np.pi, -0.1, -np.pi), upper=(np.pi, np.pi, np.pi))
    assert stretch.wrist_reach[1] == 640.0
    a = np.linspace(-np.pi + 0.2, -0.2, 200)
    p = np.asarray(SHOULDER) + 700.0 * np.stack([np.cos(a), np.sin(a)], axis=-1)
    p = p[np.hypot(*(p - np.asarray(SHOULDER)).T) - ARM.links[2] <= 640.0]
    assert len(p) > 100
    q = stretch.inverse(p)
    assert np.isfinite(q).all()
    assert np.abs(stretch.forward(q) - p).max() < 1e-6


def test_joints_exactly_on_a_limit_are_within_the_limits():
    """Limits are inclusive: within_limits(lower) and within_limits(upper) are True, and the
    IK accepts a target whose joints land exactly on a limit."""
    assert ARM.within_limits(np.asarray(ARM.lower))
    assert ARM.within_limits(np.asarray(ARM.upper))
    p = np.array([200.0, 300.0])
    q = ARM.inverse(p)
    on_lower = ArmGeometry(lower=tuple(q.tolist()))
    on_upper = ArmGeometry(upper=tuple(q.tolist()))
    assert on_lower.inverse(p).tolist() == q.tolist()
    assert on_upper.inverse(p).tolist() == q.tolist()


def test_within_limits_answers_per_joint_vector():
    """within_limits of (..., 3) joints answers per row (shape (...,)), not one bool."""
    q = np.array([ARM.lower, [9.0, 9.0, 9.0], ARM.upper, [0.0, 1.0, -0.5]])
    assert ARM.within_limits(q).tolist() == [True, False, True, True]
    assert ARM.within_limits(q.reshape(2, 2, 3)).shape == (2, 2)


@pytest.mark.parametrize('p', [np.array([100.0, 200.0, 3.0]), np.zeros((4, 3)),
                               np.array([100.0])])
def test_targets_that_are_not_xy_pairs_are_refused(p):
    """A target array whose last axis is not 2 is a ValueError, not silently truncated."""
    with pytest.raises(ValueError, match=r'\(\.\.\., 2\) positions'):
        ARM.inverse(p)


def test_unreachable_message_names_the_first_bad_target_not_the_first_target():
    """The reach error names the first unreachable target of a batch."""
    p = np.array([[200.0, 300.0], [256.0, -200.0], [256.0, 600.0]])
    with pytest.raises(Unreachable, match=r'target \[256\.0, -200\.0\] is out'):
        ARM.inverse(p)


def test_limit_message_names_the_first_target_outside_the_limits():
    """The limit error names the first target whose joints leave the limits, and its joints."""
    narrow = ArmGeometry(lower=(-1.0, 0.0, -np.pi), upper=(1.0, np.pi, np.pi))
    p = np.array([[400.0, 300.0], [10.0, 500.0]])
    assert narrow.within_limits(narrow.inverse(p[:1]))
    with pytest.raises(Unreachable, match=r'target \[10\.0, 500\.0\] needs joints'):
        narrow.inverse(p)


def test_the_far_end_of_the_reach_is_inside_it():
    """Reach is inclusive: the target exactly at the far end (the elbow at 15 deg) is reached."""
    p = straight_ahead(ARM.wrist_reach[1] + ARM.links[2])
    q = ARM.inverse(p)
    assert np.degrees(q[1]) == pytest.approx(15.0, abs=1e-9)
    assert np.abs(ARM.forward(q) - p).max() < 1e-9
