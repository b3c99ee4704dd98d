"""The safety envelope, the execution modes and the chunk timing (runtime/safety.py,
execution.py, action_schedule.py): behaviour a mutation review found no test of. Each test
names what it guards; a change that breaks it was left passing by the rest of the suite (a
URDF upper bound dropped where the lower is absent, point 0 allowed more than max_step when
its chunk lands early, the fallbacks of point 0's reach, a ramp-in on a continuous joint
undone the long way or applied past its end, a decelerating stop's points closer than a
control period, the controller model off a point at its due time, a message about targets
beyond the bounds naming none or missing the lower side), and one defect it found (a URDF
with a <ros2_control> block was refused). Real objects, exact values; no node, no clock.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_safety import DT, T0, due

from dp_ros.runtime.execution import TimedChunk, commanded_at
from dp_ros.runtime.safety import (
    MAX_STOP_POINTS,
    JointLimits,
    SafetyEnvelope,
    combine_limits,
    joint_delta,
    stop_path,
    unwrapped,
    urdf_limits,
)

INF = np.inf
MS = 1_000_000
WRAP = np.array([True])


# --- the limits: parameters and URDF ------------------------------------------------------------

def test_a_zero_step_parameter_is_refused_naming_the_parameter():
    """max_step_delta or max_velocity 0 is refused by its own name (not only by the combined
    per-step check, whose message names no parameter): the user fixes the value they set."""
    for name, values in (('max_step_delta', {'max_step_delta': [0.1, 0.0]}),
                         ('max_velocity', {'max_velocity': [0.0, 1.0]})):
        with pytest.raises(ValueError, match=f'parameter {name} must be > 0 for every'):
            combine_limits(2, 0.1, **values)


def test_a_urdf_upper_bound_binds_where_the_lower_is_absent():
    """A URDF joint with only an upper bound (lower left out: -inf) keeps that bound: the
    bounds are dropped only where both sides are infinite, or the arm is driven past it."""
    urdf = (np.array([-INF]), np.array([0.5]), np.array([INF]), np.array([False]))
    limits = combine_limits(1, 0.1, urdf=urdf)
    assert limits.lower.tolist() == [-INF] and limits.upper.tolist() == [0.5]
    out = SafetyEnvelope(limits, DT).apply(due(2), np.array([[2.0], [0.2]]), None)
    assert out.tolist() == [[0.5], [0.2]]


# --- continuous joints: the half turn and unwrapping ---------------------------------------------

def test_a_half_turn_is_taken_one_way_as_documented():
    """joint_delta maps into [-pi, pi): a change of exactly half a turn is -pi, whichever side
    it comes from, so the envelope, the ramp and the controller model agree on its way."""
    start = np.array([0.0, 1.0])
    wrap = np.array([True, True])
    np.testing.assert_array_equal(joint_delta(start, start + np.pi, wrap), [-np.pi, -np.pi])
    np.testing.assert_array_equal(joint_delta(start, start - np.pi, wrap), [-np.pi, -np.pi])


def test_a_point_exactly_half_a_turn_away_is_kept_as_it_is():
    """unwrapped moves only values more than pi from the one before: one exactly pi away is
    within pi and kept bit for bit (no point is rewritten without need)."""
    out = unwrapped(np.array([[np.pi], [0.0]]), np.array([0.0]), WRAP)
    np.testing.assert_array_equal(out, [[np.pi], [0.0]])


# --- the ramp-in ---------------------------------------------------------------------------------

def test_no_ramp_in_means_no_ramp_even_from_a_measurement():
    """ramp_in_ns 0 starts no ramp (start_motion with a measurement): a point due before the
    motion's first is not pulled back to the measured position, and the chunk passes."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=0)
    envelope.start_motion(np.array([0.0]), T0)
    assert envelope.ramp_start_ns is None and envelope.ramp_weight(T0 - DT) == 1.0
    actions = np.array([[5.0], [6.0]])
    assert envelope.apply(due(2, T0 - DT), actions, None) is actions


def test_the_ramp_starts_where_the_arm_was_when_the_callers_buffer_changes():
    """start_motion copies the measured position: a measurement buffer the caller reuses in
    place (the next reading written into it) must not move the ramp's start under the arm."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=3 * DT)
    measured = np.array([1.0])
    envelope.start_motion(measured, T0)
    measured[:] = 9.0
    out = envelope.apply(due(1), np.array([[5.0]]), None)
    assert out.tolist() == [[2.0]]  # 1 + (5 - 1) / 4


def test_unramped_leaves_a_point_due_before_the_ramp_as_it_is():
    """A point due before the ramp started (weight 0) is not divided by its weight: it is
    returned as it is, finite, not inf / NaN."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=3 * DT)
    envelope.start_motion(np.array([1.0]), T0)
    with np.errstate(divide='raise', invalid='raise'):
        out = envelope.unramped(due(2, T0 - 2 * DT), np.array([[4.0], [5.0]]))
    assert out.tolist() == [[4.0], [5.0]]


def test_unramped_undoes_the_ramp_the_short_way_on_a_continuous_joint():
    """The ramp on a continuous joint, published unwrapped near where the controller is
    (3.18: a turn from the measured -3.1), is undone the short way: the targets come back
    (mod a turn), not -3.1 plus a turn divided by the ramp weight (a leap of tens of rad)."""
    envelope = SafetyEnvelope(JointLimits(wrap=WRAP), DT, ramp_in_ns=4 * DT)
    measured = np.array([-3.1])
    envelope.start_motion(measured, T0)
    targets = np.array([[-2.9], [3.1], [-3.0]])
    published = envelope.apply(due(3), targets, measured + 2 * np.pi)
    assert np.abs(published - (measured + 2 * np.pi)).max() < 0.2  # near the controller
    back = envelope.unramped(due(3), published)
    np.testing.assert_allclose(joint_delta(targets, back, WRAP), 0.0, atol=1e-12)
    assert np.abs(back - measured).max() < np.pi


def test_points_after_the_ramp_are_the_targets_bit_for_bit():
    """Once the ramp is over (weight 1) a point is the target itself, not m + (x - m), which
    rounds (0.7 + (0.1 - 0.7) is 0.09999999999999998): bit-exact targets after the ramp."""
    envelope = SafetyEnvelope(JointLimits(), DT, ramp_in_ns=DT)
    envelope.start_motion(np.array([0.7]), T0)
    out = envelope.apply(due(3), np.array([[0.4], [0.1], [0.1]]), None)
    assert out[1:].tolist() == [[0.1], [0.1]]


# --- the per-step limit of point 0 ----------------------------------------------------------------

def test_point_0_moves_at_most_max_step_however_early_the_chunk_lands():
    """A chunk landing more than a period before its first point gives point 0 at most one
    max_step from the reference (its share is capped at 1): the per-step limit is a bound on
    each change, not a speed averaged over the wait."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([0.1])), DT)
    assert envelope.first_share(3 * DT) == 1.0
    out = envelope.apply(due(2), np.array([[1.0], [1.0]]), np.array([0.0]),
                         first_segment_ns=3 * DT)
    np.testing.assert_allclose(out[:, 0], [0.1, 0.2])


def test_point_0_keeps_within_max_step_of_the_last_held_point_when_not_of_all():
    """Held points too far apart for one reach (-3 and 1.5 from the reference, max_step 1):
    point 0 keeps within max_step of the last of them, the point a forward controller holds
    when point 0 comes (the third fallback), not from the reference alone."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([1.0])), DT)
    out = envelope.apply(due(1), np.array([[-1.0]]), np.array([0.0]),
                         [np.array([-3.0]), np.array([1.5])])
    assert out.tolist() == [[0.5]]


def test_point_0_between_held_points_exactly_two_steps_apart_despite_rounding():
    """The reference -2.5 and a held point -2.3 (0.2 apart, two max_steps of 0.1, which
    rounding makes 0.20000000000000018) leave one value between them: point 0 goes there
    (-2.4), not 0.1 from the reference the other way (-2.6: 0.3 from the held point)."""
    envelope = SafetyEnvelope(JointLimits(max_step=np.array([0.1])), DT)
    out = envelope.apply(due(1), np.array([[-2.6]]), np.array([-2.5]), [np.array([-2.3])])
    np.testing.assert_allclose(out, [[-2.4]], atol=1e-12)


# --- the line about targets beyond the bounds --------------------------------------------------

def test_targets_on_the_bounds_are_not_reported_beyond_them():
    """Targets exactly on a bound are within the bounds: no line (a line naming no joint
    would send the user looking for nothing)."""
    envelope = SafetyEnvelope(JointLimits(np.array([-1.0, 0.0]), np.array([1.0, 2.0])), DT)
    targets = np.array([[-1.0, 2.0], [1.0, 0.0]])
    assert envelope.beyond_bounds_line(targets, ['a', 'b']) == ''
    assert 'b by up to 0.5' in envelope.beyond_bounds_line(targets + [0.0, 0.5], ['a', 'b'])


def test_targets_below_the_lower_bound_are_reported_too():
    """Targets below a lower bound are beyond the bounds as much as those above an upper one:
    the line names the joint and how far (0.25 below -1), and leaves the other out."""
    envelope = SafetyEnvelope(JointLimits(np.array([-1.0, 0.0]), np.array([1.0, 2.0])), DT)
    line = envelope.beyond_bounds_line(np.array([[-1.25, 1.0], [0.0, 1.0]]), ['a', 'b'])
    assert 'a by up to 0.25 (bounds [-1, 1])' in line and 'b by' not in line


# --- the decelerating stop ----------------------------------------------------------------------

def test_a_stop_of_exactly_max_points_keeps_a_control_period_between_them():
    """A stop needing exactly MAX_STOP_POINTS points (9.995 s at 10 ms) keeps them a control
    period apart, the last at rest: only a longer one spaces them wider, never narrower than a
    period (points streamed faster than the controller's rate)."""
    path, step_ns = stop_path(np.array([0.0]), np.array([9.995]), np.array([1.0]), 10 * MS)
    assert (len(path), step_ns) == (MAX_STOP_POINTS, 10 * MS)
    np.testing.assert_allclose(path[-1], [9.995 ** 2 / 2], rtol=1e-12)


def test_a_long_stops_wider_spacing_reaches_the_rest_time():
    """Past MAX_STOP_POINTS the spacing is rounded up (12345679 ns for 12.3456789 s), so
    the last point is due at or after the time the motion comes to rest, not before it."""
    path, step_ns = stop_path(np.array([0.0]), np.array([12.3456789]), np.array([1.0]), 10 * MS)
    assert (len(path), step_ns) == (MAX_STOP_POINTS, 12_345_679)
    assert MAX_STOP_POINTS * step_ns >= 12_345_678_900


def test_a_stop_with_an_unknown_velocity_is_the_one_point_hold():
    """A commanded velocity that is NaN gives no path (None: the one-point hold at the
    position), not a crash building NaN many points (int(nan) raises)."""
    assert stop_path(np.array([0.0, 1.0]), np.array([np.nan, 0.5]), np.array([1.0, 1.0]),
                     DT) is None


# --- the controller model: interpolation at a point's due time ------------------------------------

def test_on_a_points_due_time_the_model_gives_that_point_exactly():
    """A continuous joint crossing +-pi (3.0 then -3.0): at each point's due time the model
    gives the point itself, not the previous one plus the short-way change (3.283, a turn
    off the published value), whichever way it is asked; between them commanded_at goes the
    short way too (pi, not 0: where blend and the reference take the controller to be)."""
    chunk = TimedChunk(T0 + np.array([0, DT]), np.array([[3.0], [-3.0]]))
    for t, value in ((T0, 3.0), (T0 + DT, -3.0)):
        assert chunk.interpolate(t, WRAP).tolist() == [value]
        assert commanded_at(chunk, t, True, WRAP).tolist() == [value]
    for between in (chunk.interpolate(T0 + DT // 2, WRAP),
                    commanded_at(chunk, T0 + DT // 2, True, WRAP)):
        np.testing.assert_allclose(between, [np.pi])  # the short way, not 0


def test_on_a_points_due_time_the_next_point_is_not_used():
    """At a due time the model returns that point without weighing the next one at 0: a
    non-finite next point (a horizon's tail) does not make it NaN (0 * nan)."""
    chunk = TimedChunk(T0 + np.array([0, DT]), np.array([[1.0], [np.nan]]))
    assert chunk.interpolate(T0).tolist() == [1.0]


# --- defects --------------------------------------------------------------------------------------

ROS2_CONTROL_URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/><link name="l1"/>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="l1"/>
    <limit lower="-1.0" upper="1.0" velocity="2.0" effort="10"/></joint>
  <ros2_control name="arm" type="system">
    <hardware><plugin>mock_components/GenericSystem</plugin></hardware>
    <joint name="shoulder">
      <command_interface name="position"/><state_interface name="position"/>
    </joint>
  </ros2_control>
  <transmission name="t1"><type>transmission_interface/SimpleTransmission</type>
    <joint name="shoulder"><hardwareInterface>PositionJointInterface</hardwareInterface>
    </joint>
  </transmission>
</robot>
"""


def test_a_urdf_with_a_ros2_control_block_gives_the_joints_limits(tmp_path):
    """A ros2_control robot's URDF names each joint again inside <ros2_control> (its command
    and state interfaces, no type, no <limit>), an older one in <transmission>: the limits
    are the kinematic <joint>'s, the robot's own. The review's defect: every <joint> in the
    file was read, the block's replaced the robot's, and the node refused to start ('joint
    'shoulder' () ... has no <limit> element') on the standard layout (ros2_control_demos'
    rrbot puts the block after the joints)."""
    path = tmp_path / 'arm.urdf'
    path.write_text(ROS2_CONTROL_URDF)
    lower, upper, velocity, continuous = urdf_limits(path, ['shoulder'])
    assert (lower.tolist(), upper.tolist(), velocity.tolist(), continuous.tolist()) == \
        ([-1.0], [1.0], [2.0], [False])


def test_a_file_whose_root_is_not_robot_is_refused_as_no_urdf(tmp_path):
    """Only a <robot>'s own joints are read: an SDF model (its joints under <model>, its
    limits in <axis>) is refused as no URDF, not as lacking the joint."""
    path = tmp_path / 'arm.sdf'
    path.write_text('<sdf version="1.9"><model name="arm"><joint name="shoulder" '
                    'type="revolute"><axis><limit><lower>-1</lower><upper>1</upper></limit>'
                    '</axis></joint></model></sdf>')
    with pytest.raises(ValueError, match=r"arm.sdf' is no URDF: its root element is <sdf>, "
                                         r'not <robot>'):
        urdf_limits(path, ['shoulder'])


def test_an_unexpanded_xacro_file_is_named_as_one(tmp_path):
    """A robot's description package ships robot.urdf.xacro, whose joints are inside macros
    until xacro expands them: the refusal says so and how, not only that the joint is
    missing."""
    path = tmp_path / 'arm.urdf.xacro'
    path.write_text('<robot name="arm" xmlns:xacro="http://www.ros.org/wiki/xacro">'
                    '<xacro:macro name="arm" params="prefix"><joint name="${prefix}shoulder" '
                    'type="revolute"><limit lower="-1" upper="1" velocity="2"/></joint>'
                    '</xacro:macro><xacro:arm prefix=""/></robot>')
    with pytest.raises(ValueError, match=r"joint 'shoulder' is not in .*\(it has \[\]\); it is "
                                         r'a xacro file, whose macros are not expanded here'):
        urdf_limits(path, ['shoulder'])
    plain = tmp_path / 'arm.urdf'
    plain.write_text(ROS2_CONTROL_URDF)
    with pytest.raises(ValueError) as info:
        urdf_limits(plain, ['elbow'])
    assert 'macros' not in str(info.value)
