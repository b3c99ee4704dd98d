"""The safety envelope (runtime/safety.py): a second mutation review's findings.

Behaviour the first pass (test_safety*.py, test_safety_execution_mutants.py) and the
planning-loop / execution tests left open, each test naming the change it catches:

- counters: rate_limited counts values, not points (a count per point survived);
- boundaries: a target exactly on a bound is not named beyond it when another joint is (>= 0
  survived); a measured value is believed within the bounds' width, not only their magnitude
  (the width dropped from far_outside_margin survived); the ramp weight at an off-grid due
  time (floor division survived); unramped leaves a point after the ramp bit for bit (w <= 1
  survived);
- limits: URDF bounds infinite on every joint are no bounds (kept as +-inf arrays survived);
  JointLimits.any; a non-numeric URDF upper is refused, not read as no bound (a parse failure
  taken as inf survived); point 0 keeps its share of max_step from the reference even where a
  held point is further than max_step (the fallback's upper edge at max_step survived);
- the decelerating stop: its point count where T / dt is a whole number up to rounding (the
  1e-9 slack dropped survived: one point more, the stop a period longer); a start above the
  upper bound goes on from the start, not the bound (the upper widening dropped survived);
- texts a user reads: lower <= upper naming the values, 'given together', the missing <limit>
  element, dt_ns, the per-step limit's period, and the beyond-the-bounds line (its separator
  and the bounds' digits).

And one defect, mended in safety.urdf_limits: a URDF <limit> that leaves out lower (or
upper) on a revolute / prismatic joint was read as unbounded on that side, where urdfdom (and
so robot_state_publisher, MoveIt, ros2_control) reads the attribute's default, 0; now it is
0, and a <limit> with neither is refused (urdfdom's [0, 0] would pin the joint at 0).
Real objects, exact values; no node, no clock.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_safety import DT, T0, due

from dp_ros.runtime.safety import (
    JointLimits,
    SafetyEnvelope,
    combine_limits,
    far_outside_bounds,
    stop_path,
    urdf_limits,
)

INF = np.inf


def write_urdf(tmp_path, limit: str, kind: str = 'revolute'):
    path = tmp_path / 'arm.urdf'
    path.write_text('<?xml version="1.0"?><robot name="arm"><link name="base"/><link name="l1"/>'
                    f'<joint name="j1" type="{kind}"><parent link="base"/><child link="l1"/>'
                    f'{limit}</joint></robot>')
    return path


# --- counters and boundaries ---------------------------------------------------------------------

def test_rate_limited_counts_each_value_held_back():
    """Two joints held back at each of two points: 4 values (diagnostics count values, as
    actions_clamped does), not 2 points."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([0.1, 0.1])), DT)
    out = envelope.apply(due(2), np.array([[1.0, -1.0], [1.0, -1.0]]), np.zeros(2))
    np.testing.assert_allclose(out, [[0.1, -0.1], [0.2, -0.2]])
    assert envelope.rate_limited == 4


def test_the_beyond_bounds_line_names_only_joints_beyond_them():
    """Joint a exactly on its upper bound is not named beside b and c beyond theirs; the
    joints are separated by '; ' and the bounds given to 4 digits (0.25, not 0.2)."""
    envelope = SafetyEnvelope(JointLimits(np.array([-1.0, 0.0, 0.0]),
                                          np.array([1.0, 0.25, 2.0])), DT)
    line = envelope.beyond_bounds_line(np.array([[1.0, 0.5, 2.5], [0.0, 0.0, 0.0]]),
                                       ['a', 'b', 'c'])
    assert line == ('the policy asked for targets beyond the action bounds, clamped to them: '
                    'b by up to 0.25 (bounds [0, 0.25]); c by up to 0.5 (bounds [0, 2]) '
                    '(actions_clamped on /diagnostics)')


def test_a_measurement_within_the_bounds_width_outside_them_is_believed():
    """Bounds [-5, 5] (width 10, magnitude 5): 12 is 7 outside, within the width, believed;
    15.5 is beyond it, refused. The margin is the width where it is the largest."""
    limits = JointLimits(np.array([-5.0, -1.0]), np.array([5.0, 1.0]))
    assert far_outside_bounds(np.array([12.0, 0.0]), limits) == []
    assert far_outside_bounds(np.array([-14.9, 0.0]), limits) == []
    assert far_outside_bounds(np.array([15.5, 0.0]), limits) == [0]


def test_the_ramp_weight_at_an_off_grid_due_time():
    """A chunk replanned on a camera off the control grid has points due between grid
    times: half a period after the ramp's start the weight is 1.5 periods' worth
    (1.5 / 4 of a 3-period ramp), not the grid time's before it."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=3 * DT)
    envelope.start_motion(np.array([0.0]), T0)
    assert envelope.ramp_weight(T0 + DT // 2) == 0.375
    out = envelope.apply(np.array([T0 + DT // 2]), np.array([[8.0]]), None)
    assert out.tolist() == [[3.0]]


def test_unramped_returns_a_point_after_the_ramp_bit_for_bit():
    """Weight 1 (the ramp over): the point itself, not m + (p - m) / 1, which rounds
    (0.7 + (0.1 - 0.7) is 0.09999999999999998): blend mixes the very targets."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=DT)
    envelope.start_motion(np.array([0.7]), T0)
    out = envelope.unramped(due(3), np.array([[0.4], [0.1], [0.1]]))
    assert out[1:].tolist() == [[0.1], [0.1]]


# --- the limits ----------------------------------------------------------------------------------

def test_urdf_bounds_infinite_on_every_joint_are_no_bounds():
    """A URDF with only continuous joints and joints without lower/upper gives no bounds
    (None), as the parameters left out do: the envelope then passes a chunk as it is."""
    urdf = (np.array([-INF, -INF]), np.array([INF, INF]), np.array([INF, INF]),
            np.array([True, False]))
    limits = combine_limits(2, 0.1, urdf=urdf)
    assert limits.lower is None and limits.upper is None and limits.max_step is None
    assert limits.wrap.tolist() == [True, False]
    envelope = SafetyEnvelope(JointLimits(lower=limits.lower, upper=limits.upper), DT)
    actions = np.array([[9.0, -9.0]])
    assert envelope.apply(due(1), actions, None) is actions


def test_joint_limits_any_is_bounds_or_a_step_limit():
    assert not JointLimits().any
    assert JointLimits(lower=np.array([0.0]), upper=np.array([1.0])).any
    assert JointLimits(max_step=np.array([0.1])).any


def test_a_non_numeric_urdf_upper_is_refused_not_read_as_no_bound(tmp_path):
    """upper='abc' names the joint and the text; taken as inf it would drop the bound."""
    path = write_urdf(tmp_path, '<limit lower="-1" upper="abc" velocity="1" effort="1"/>')
    with pytest.raises(ValueError, match="joint 'j1' has a non-numeric limit upper='abc'"):
        urdf_limits(path, ['j1'])


def test_point_0_keeps_its_share_when_a_held_point_is_beyond_reach():
    """max_step 1, half a period to point 0 (share 0.5), a held point 1.8 away: no value is
    within reach of both, so point 0 moves its share from the reference (0.5), not 0.8
    (max_step of the held point, beyond the share: twice the speed on the way)."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([1.0])), DT)
    out = envelope.apply(due(1), np.array([[5.0]]), np.array([0.0]), [np.array([1.8])],
                         first_segment_ns=DT // 2)
    assert out.tolist() == [[0.5]]


# --- the decelerating stop -----------------------------------------------------------------------

def test_a_stop_lasting_whole_periods_up_to_rounding_has_that_many_points():
    """0.1 * 3 (0.30000000000000004) at 1 /s^2 stops in 3 periods: 3 points, the last at
    rest, not a 4th repeating it a period later."""
    path, step_ns = stop_path(np.zeros(1), np.array([0.1 * 3]), np.array([1.0]), DT)
    assert (len(path), step_ns) == (3, DT)
    np.testing.assert_allclose(path[:, 0], [0.025, 0.04, 0.045])


def test_a_stop_from_above_the_upper_bound_goes_on_from_the_start():
    """A stop on the ramp-in's walk down into the bounds (start 2, upper 1) decelerates
    from where the arm is (1.925, 1.9), not a leap to the bound."""
    limits = JointLimits(np.array([-1.0]), np.array([1.0]))
    path, step_ns = stop_path(np.array([2.0]), np.array([-1.0]), np.array([5.0]), DT, limits)
    assert step_ns == DT
    np.testing.assert_allclose(path[:, 0], [1.925, 1.9])


# --- texts a user reads --------------------------------------------------------------------------

def test_the_refusals_name_what_is_wrong():
    urdf = (np.array([-1.0]), np.array([0.2]), np.array([INF]), np.array([False]))
    with pytest.raises(ValueError) as info:
        combine_limits(1, 0.1, lower=[0.5], upper=[1.0], urdf=urdf)
    assert str(info.value) == ('position limits must have lower <= upper, got [0.5] / [0.2] '
                               '(action_lower/upper and the URDF together)')
    with pytest.raises(ValueError, match='^parameters action_lower and action_upper must be '
                                         'given together$'):
        combine_limits(1, 0.1, lower=[0.0])
    with pytest.raises(ValueError, match='^dt_ns must be > 0, got -5$'):
        SafetyEnvelope(JointLimits(), -5)
    with pytest.raises(ValueError) as info:
        combine_limits(1, 0.0, max_velocity=[1.0])  # no period: no step
    assert str(info.value) == ('the per-step limit must be > 0 for every dimension, got [0.0] '
                               '(max_step_delta, max_velocity and the URDF over a period of '
                               '0.0 s)')


def test_a_revolute_joint_without_limit_is_named(tmp_path):
    path = write_urdf(tmp_path, '')
    with pytest.raises(ValueError) as info:
        urdf_limits(path, ['j1'])
    assert str(info.value) == (f"parameter urdf_path: joint 'j1' (revolute) in {path} has no "
                               '<limit> element')


# --- the defect, mended ------------------------------------------------------------------------

def test_a_left_out_urdf_lower_is_zero_as_urdfdom_reads_it(tmp_path):
    """Was -inf: the node let the policy command positions below 0 that the robot description
    (as robot_state_publisher, MoveIt and ros2_control read it) excludes."""
    path = write_urdf(tmp_path, '<limit upper="1.0" velocity="1" effort="1"/>')
    lower, upper, _, _ = urdf_limits(path, ['j1'])
    assert (lower.tolist(), upper.tolist()) == ([0.0], [1.0])


@pytest.mark.parametrize('kind', ['revolute', 'prismatic'])
def test_a_left_out_urdf_upper_is_zero_as_urdfdom_reads_it(tmp_path, kind):
    path = write_urdf(tmp_path, '<limit lower="-0.5" velocity="1" effort="1"/>', kind)
    lower, upper, _, _ = urdf_limits(path, ['j1'])
    assert (lower.tolist(), upper.tolist()) == ([-0.5], [0.0])


def test_a_urdf_limit_without_lower_and_upper_is_refused_naming_the_joint(tmp_path):
    """urdfdom's [0, 0] would have the node drive the joint to 0 and pin it there."""
    path = write_urdf(tmp_path, '<limit velocity="1" effort="1"/>')
    with pytest.raises(ValueError, match="joint 'j1' \\(revolute\\) in .* has a <limit> "
                                         'without lower and upper'):
        urdf_limits(path, ['j1'])
