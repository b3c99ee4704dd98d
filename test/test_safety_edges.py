"""Edges of the safety envelope that the main tests leave open: how limits combine when only
some joints have them, the guards on bad settings, and the fallbacks of the ramp and the
first point's reach."""
from __future__ import annotations

import numpy as np
import pytest
from test_safety import DT, T0, due

from dp_ros.runtime.safety import (
    JointLimits,
    SafetyEnvelope,
    combine_limits,
    hold_point,
    urdf_limits,
)

INF = np.inf

URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/><link name="l4"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <limit lower="-1.5" upper="1.5" velocity="2.0" effort="10"/></joint>
  <joint name="wrist" type="continuous"><parent link="l1"/><child link="l2"/>
    <limit lower="-1.0" upper="1.0" velocity="0.5" effort="10"/></joint>
  <joint name="slide" type="prismatic"><parent link="l2"/><child link="l3"/>
    <limit lower="0.0" upper="0.2" effort="10"/></joint>
  <joint name="mount" type="fixed"><parent link="l3"/><child link="l4"/></joint>
</robot>
"""


def write_urdf(tmp_path):
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    return path


def test_a_continuous_joints_limit_lower_upper_are_ignored_and_a_fixed_joint_needs_none(
        tmp_path):
    """A continuous joint's <limit> bounds are ignored (URDF) and a fixed joint needs no <limit>."""
    lower, upper, velocity, wrap = urdf_limits(write_urdf(tmp_path), ['wrist', 'mount'])
    assert lower.tolist() == [-INF, -INF] and upper.tolist() == [INF, INF]
    assert velocity.tolist() == [0.5, INF] and wrap.tolist() == [True, False]


def test_max_velocity_and_the_urdf_velocity_combine_to_the_slower(tmp_path):
    """The slower of max_velocity and the URDF velocity wins: a parameter must not loosen it."""
    urdf = urdf_limits(write_urdf(tmp_path), ['j1'])
    np.testing.assert_allclose(combine_limits(1, 0.1, max_velocity=[5.0], urdf=urdf).max_step,
                               [0.2])  # the URDF's 2.0 rad/s, not the parameter's 5.0
    np.testing.assert_allclose(combine_limits(1, 0.1, max_velocity=[1.0], urdf=urdf).max_step,
                               [0.1])


def test_a_joint_without_limits_leaves_the_others_limited(tmp_path):
    """One joint without limits must not drop the step limit or bounds of the other joints."""
    limits = combine_limits(3, 0.1, urdf=urdf_limits(write_urdf(tmp_path),
                                                     ['j1', 'slide', 'wrist']))
    np.testing.assert_allclose(limits.max_step, [0.2, INF, 0.05])
    assert limits.lower.tolist() == [-1.5, 0.0, -INF]
    assert limits.upper.tolist() == [1.5, 0.2, INF]
    out = SafetyEnvelope(limits, DT).apply(due(2), np.array([[9.0, 9.0, 0.0]] * 2),
                                           np.zeros(3))
    np.testing.assert_allclose(out, [[0.2, 0.2, 0.0], [0.4, 0.2, 0.0]])


def test_equal_bounds_pin_a_joint_and_nan_bounds_are_refused():
    """lower == upper pins a joint; a NaN bound is refused (np.clip would publish NaN)."""
    limits = combine_limits(2, 0.1, lower=[0.5, -1.0], upper=[0.5, 1.0])
    out = SafetyEnvelope(limits, DT).apply(due(1), np.array([[0.0, 0.0]]), None)
    assert out.tolist() == [[0.5, 0.0]]
    with pytest.raises(ValueError, match='action_lower has a NaN'):
        combine_limits(2, 0.1, lower=[np.nan, 0.0], upper=[1.0, 1.0])


def test_a_continuous_joint_bounded_on_one_side_is_not_taken_the_short_way():
    """One finite bound makes a continuous joint go the bounded way: the short way crosses it."""
    limits = JointLimits(np.array([-INF]), np.array([3.0]), np.array([0.1]), np.array([True]))
    assert limits.short_way is None
    out = SafetyEnvelope(limits, DT).apply(due(2), np.array([[-2.95], [-2.95]]),
                                           np.array([2.95]))
    np.testing.assert_allclose(out[:, 0], [2.85, 2.75])


def test_a_zero_period_or_negative_ramp_is_refused():
    """dt 0 would divide by zero, a negative ramp give weights outside [0, 1]: both refused."""
    with pytest.raises(ValueError, match='dt_ns must be > 0'):
        SafetyEnvelope(JointLimits(), 0)
    with pytest.raises(ValueError, match='ramp_in_ns must be >= 0'):
        SafetyEnvelope(JointLimits(), DT, ramp_in_ns=-DT)


def test_ramp_weight_and_first_share_stay_within_zero_and_one():
    """Ramp weight and point 0's share stay in [0, 1]: a negative limit would push the arm."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([1.0])), DT, ramp_in_ns=3 * DT)
    envelope.start_motion(np.array([0.0]), T0)
    assert envelope.ramp_weight(T0 - 5 * DT) == 0.0
    assert envelope.first_share(-DT // 2) == 0.0
    out = envelope.apply(due(1, T0), np.array([[8.0]]), np.array([0.0]),
                         first_segment_ns=-DT // 2)
    assert out.tolist() == [[0.0]]


def test_point_0_falls_back_to_max_step_of_a_held_point_when_its_share_cannot_reach():
    """Point 0 falls back to max_step of a held point when its share cannot reach both."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([6.0])), DT)
    out = envelope.apply(due(1), np.array([[20.0]]), np.array([10.0]), [np.array([2.0])],
                         first_segment_ns=DT // 2)
    assert out.tolist() == [[8.0]]


def test_a_motion_without_a_measurement_or_after_clear_has_no_ramp():
    """start_motion(None) and clear() end an old ramp: it must not pull a new motion back."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=3 * DT)
    envelope.start_motion(np.array([0.0]), T0)
    envelope.start_motion(None, T0)
    assert envelope.apply(due(1), np.array([[8.0]]), None).tolist() == [[8.0]]
    envelope.start_motion(np.array([0.0]), T0)
    envelope.clear()
    assert envelope.ramp_weight(T0) == 1.0
    assert envelope.apply(due(1), np.array([[8.0]]), None).tolist() == [[8.0]]


def test_a_hold_keeps_its_position_when_the_callers_buffer_changes():
    """A hold copies its position: a measurement buffer reused in place must not move it."""
    measured, commanded = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    held = hold_point('stale', T0, measured, None)
    from_commanded = hold_point('stale', T0, None, commanded)
    measured[:] = 9.0
    commanded[:] = 9.0
    assert held.position.tolist() == [1.0, 2.0]
    assert from_commanded.position.tolist() == [3.0, 4.0]
