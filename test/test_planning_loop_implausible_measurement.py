"""A stop holds at a measured position the arm can be at. A joint state refused because it
lacked some state joints (PartialJointState) still measured its action joints, only cleaned
of NaN/inf: position 1e300 became the hold point, and a one-point JointTrajectory at
joint1=1e300 was published (a review's fuzzing). Now a measured value is checked as the state
is (finite, within float32), and a message measuring an action joint far outside the action
bounds (by more than they are wide: 1e30) is a bad message, not a measurement: the hold is at
the last plausible measurement, else where the controller is commanded. Over ROS:
test/ros/test_policy_node_implausible_measurement.py."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from test_planning_loop import DT, T0, feed, finish, make_loop, plan_now

from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import measured_vector
from dp_ros.runtime.safety import JointLimits, far_outside_bounds

BOUNDS = dict(action_lower=[0.0, 0.0], action_upper=[100.0, 100.0])


def moving_loop():
    loop = make_loop(**BOUNDS)
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.measure(T0 + DT, np.array([10.0, 20.0]))
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert loop.moving
    return loop


@pytest.mark.parametrize('value', [1e300, np.inf, np.nan])
def test_a_partial_joint_states_measured_values_are_checked_as_the_state_is(value):
    msg = JointState(name=['a'], position=[value])  # lacks state joint 'b'
    with pytest.raises(cv.PartialJointState) as info:
        cv.joint_state_inputs(msg, ['a', 'b'], 'position', ['a', 'b'])
    assert info.value.measured is None  # nothing measured: no value passed
    msg = JointState(name=['a', 'g'], position=[value, 0.5])
    with pytest.raises(cv.PartialJointState) as info:
        cv.joint_state_inputs(msg, ['a', 'b'], 'position', ['a', 'g'])
    assert np.isnan(info.value.measured[0]) and info.value.measured[1] == 0.5


def test_another_drivers_beyond_float32_value_is_not_measured():
    values, measured = cv.joint_state_inputs(JointState(name=['g'], position=[-1e300]),
                                             ['a'], 'position', ['g'])
    assert values is None and measured is None


def test_measured_vector_keeps_the_float32_range():
    top = float(np.finfo(np.float32).max)
    assert measured_vector([top, -top, 1.0]).tolist() == [top, -top, 1.0]
    assert np.isnan(measured_vector([1e39, -np.inf, np.nan])).all()


def test_far_outside_is_beyond_the_bounds_by_more_than_their_width():
    limits = JointLimits(lower=np.array([0.0, -np.inf]), upper=np.array([100.0, np.inf]))
    assert far_outside_bounds(np.array([-100.0, 1e30]), limits) == []  # a home pose; unbounded
    assert far_outside_bounds(np.array([200.5, 0.0]), limits) == [0]
    assert far_outside_bounds(np.array([1e30, 0.0]), JointLimits()) == []  # no bounds


def test_a_joint_locked_by_equal_bounds_is_read_with_its_noise():
    """action_lower == action_upper locks a joint (a gripper kept shut): its width 0 made
    every reading off the exact value 'far outside', and every message measuring it a bad
    message (a review: the node never planned). The margin is at least the bounds'
    magnitude and 1."""
    limits = JointLimits(lower=np.array([0.0, 50.0, 0.0]), upper=np.array([100.0, 50.0, 0.0]))
    assert far_outside_bounds(np.array([10.0, 50.0001, 0.001]), limits) == []
    assert far_outside_bounds(np.array([10.0, 99.0, -0.9]), limits) == []
    assert far_outside_bounds(np.array([10.0, 101.0, 1.5]), limits) == [1, 2]
    assert far_outside_bounds(np.array([10.0, 1e30, 0.0]), limits) == [1]


@pytest.mark.parametrize('garbage', [1e30, -3e3])
def test_a_measurement_far_outside_the_bounds_is_refused_and_not_held_at(garbage):
    loop = moving_loop()
    now = T0 + DT + DT // 2
    bad = loop.add_measurement(now, np.array([garbage, 21.0]), now)
    assert bad is not None and bad.kind == 'measured_out_of_bounds'
    assert 'agent_x' in bad.detail or 'bounds' in bad.detail
    assert loop.bad['measured_out_of_bounds'] == 1
    hold = loop.stop('disabled', now)
    assert hold.source == 'measured'  # the last plausible one, still fresh
    np.testing.assert_array_equal(hold.position, [10.0, 20.0])


def test_without_a_fresh_plausible_measurement_the_hold_is_where_the_controller_is():
    loop = moving_loop()
    late = T0 + 6 * DT  # the plausible measurement is stale (max_input_age_s 0.4)
    assert loop.add_measurement(late, np.array([1e30, 1e30]), late).kind == \
        'measured_out_of_bounds'
    hold = loop.stop('disabled', late)
    assert hold.source == 'commanded'
    assert np.all(hold.position >= 0.0) and np.all(hold.position <= 100.0)


def test_a_sample_measuring_far_outside_the_bounds_is_not_filed():
    loop = make_loop(**BOUNDS)
    filing = loop.add('agent_pos', T0, ('agent_pos', T0), T0, measured=np.array([1e30, 1.0]))
    assert filing.kind == 'measured_out_of_bounds' and not filing
    assert loop.history.newest_stamp('agent_pos') is None
    assert loop.diagnostics(T0, 0)['bad_measured_out_of_bounds'] == 1
