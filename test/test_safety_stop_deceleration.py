"""The decelerating stop (parameter stop_deceleration): a one-point stop due one period ahead
stops an arm at speed within that period (1 rad/s at 10 Hz: 10 rad/s^2) and a controller's
spline to it overshoots; with stop_deceleration > 0 the stop continues the commanded motion
and slows it uniformly to rest (safety.stop_path), a point every period, within the action
bounds. Default 0, lockstep, and a stop without a commanded plan keep today's one point."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, METADATA, MS, T0, feed, finish, plan_now

from dp_ros.params import config_from_dict
from dp_ros.ros import conversions as cv
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import (
    PolicyNodeConfig,
    check_stop_deceleration,
    resolve_setup,
)
from dp_ros.runtime.safety import (
    MAX_STOP_POINTS,
    MAX_STOP_S,
    Hold,
    JointLimits,
    hold_point,
    stop_path,
)


def increments(start: np.ndarray, path: np.ndarray) -> np.ndarray:
    return np.diff(np.vstack([start, path]), axis=0)


def test_the_path_slows_uniformly_to_rest_at_most_at_the_deceleration():
    start, v, a = np.array([0.0, 1.0, 2.0]), np.array([1.0, -0.5, 0.0]), np.array([10.0, 2.0, 1.0])
    path, step = stop_path(start, v, a, DT)
    # joint 1 needs 0.25 s at 2/s^2, joint 0 0.1 s at 10: all stop together at 0.25 s
    assert step == DT and len(path) == 3
    np.testing.assert_allclose(path[-1], start + v * 0.25 / 2)  # the rest position
    moved = increments(start, path)
    assert np.all(moved[:, 0] >= 0) and np.all(moved[:, 1] <= 0) and np.all(moved[:, 2] == 0)
    # speed per period falls by at most a*dt (a*dt^2 per step), never below rest
    speeds = np.abs(moved) / 0.1
    assert np.all(np.diff(speeds, axis=0) <= a * 0.1 + 1e-9)
    assert np.all(np.abs(np.diff(np.vstack([v, speeds * np.sign(v)]), axis=0)) <= a * 0.1 + 1e-9)


def test_the_last_point_is_reached_at_rest():
    path, _ = stop_path(np.zeros(1), np.array([2.0]), np.array([5.0]), DT)  # 0.4 s: 4 points
    assert len(path) == 4
    # uniform deceleration from 2/s: the last period moves a*dt^2/2 (ends at speed 0)
    np.testing.assert_allclose(increments(np.zeros(1), path)[:, 0],
                               [0.175, 0.125, 0.075, 0.025])
    np.testing.assert_allclose(path[-1], [0.4])


def test_points_are_clipped_to_the_action_bounds():
    limits = JointLimits(lower=np.array([-1.0, -1.0]), upper=np.array([0.1, 1.0]))
    path, _ = stop_path(np.zeros(2), np.array([1.0, 1.0]), np.array([2.0, 2.0]), DT, limits)
    assert path[:, 0].max() == 0.1 and path[-1, 1] == pytest.approx(0.25)


def test_at_rest_there_is_no_path_and_a_slow_stop_has_at_most_max_points():
    assert stop_path(np.zeros(2), np.zeros(2), np.ones(2), DT) is None
    dt = DT // 10  # 100 Hz: a minute's stop is 6,000 periods
    path, step = stop_path(np.zeros(1), np.array([100.0]), np.array([2.0]), dt)
    assert len(path) == MAX_STOP_POINTS and step * MAX_STOP_POINTS >= 50 * 1e9
    np.testing.assert_allclose(path[-1], [100.0 * 50 / 2])


def test_a_stop_lasts_at_most_a_minute_whatever_the_deceleration():
    """A tiny stop_deceleration (1e-12: int64 overflow of the path's times, the node crashed
    without sending its hold; 1e-9: points 1e8 s apart, a stop that never stops; a parameter
    review) stops harder instead: at rest after MAX_STOP_S."""
    for decel in (0.01, 1e-9, 1e-12, 1e-300):
        path, step = stop_path(np.zeros(1), np.array([100.0]), np.array([decel]), DT)
        assert np.all(np.isfinite(path)) and len(path) * step == MAX_STOP_S * 1e9, decel
        np.testing.assert_allclose(path[-1], [100.0 * MAX_STOP_S / 2])


def test_the_parameter_is_one_value_for_all_or_one_per_dimension():
    assert check_stop_deceleration([0.0], 3) is None and check_stop_deceleration([], 3) is None
    np.testing.assert_array_equal(check_stop_deceleration([2.0], 3), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(check_stop_deceleration([1, 2, 3], 3), [1.0, 2.0, 3.0])
    for bad, match in (([1.0, 2.0], 'has 2 values'), ([1.0, 0.0, 1.0], '> 0'),
                       ([-1.0], '> 0'), ([float('nan')], '> 0')):
        with pytest.raises(ValueError, match=match):
            check_stop_deceleration(bad, 3)


def moving_loop(lockstep: bool = False, **values) -> PlanningLoop:
    """A loop that published a plan moving both dimensions +2 per period (20 units/s)."""
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4, 'lockstep': lockstep,
                                              **values})
    loop = PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    return loop


def test_a_stop_while_moving_decelerates_from_the_commanded_motion():
    loop = moving_loop(stop_deceleration=[50.0], action_lower=[-1000.0, -1000.0],
                       action_upper=[1000.0, 9.0])
    now = T0 + 3 * DT + 50 * MS  # the plan [2, 3], [4, 5], ... due from T0 + DT
    hold = loop.stop('disabled', now)
    # commanded now: [7, 8], on the line between [6, 7] and [8, 9] (8 and 9 in dimension 1:
    # the plan clipped to 9), at 20/s (from [5, 6] a period before)
    assert hold.source == 'commanded' and hold.step_ns == DT and len(hold.path) == 4
    # the hold point (a pose target's) stays where the controller is commanded now
    np.testing.assert_allclose(hold.position, [7.0, 8.0])
    # 20/s at 50/s^2: 0.4 s, to [7, 8] + 20 * 0.4 / 2 (clipped at 9 in dimension 1)
    np.testing.assert_allclose(hold.path[-1], [11.0, 9.0])
    np.testing.assert_allclose(hold.path[:, 0], [8.75, 10.0, 10.75, 11.0])
    assert np.all(hold.path[:, 1] <= 9.0)
    assert loop.holds['disabled'] == 1 and not loop.moving
    msg = cv.hold_to_joint_trajectory(hold.points, ['x', 'y'], hold.step_ns)
    chunk = cv.joint_trajectory_to_chunk(msg)
    assert chunk.stamp_ns == 0 and chunk.times_from_start_ns.tolist() == [DT * i for i in
                                                                          range(1, 5)]
    np.testing.assert_array_equal(chunk.positions, hold.path)


@pytest.mark.parametrize('values', [{}, {'stop_deceleration': [0.0]}])
def test_by_default_the_stop_is_the_one_point_hold_as_before(values):
    loop = moving_loop(**values)
    now = T0 + 3 * DT + 50 * MS
    hold = loop.stop('disabled', now)
    expected = hold_point('disabled', now, None, np.array([7.0, 8.0]))
    assert isinstance(hold, Hold) and hold.path is None and hold.step_ns == 0
    assert hold.source == expected.source and hold.stamp_ns == expected.stamp_ns
    np.testing.assert_array_equal(hold.points, [[7.0, 8.0]])


def test_lockstep_and_a_stop_without_a_commanded_velocity_keep_the_one_point():
    loop = moving_loop(lockstep=True, stop_deceleration=[50.0])
    assert loop.stop('disabled', T0 + 3 * DT).path is None
    # before the plan's first point nothing commanded gives a velocity (the motion began
    # unmeasured): the one point, the plan's first
    loop = moving_loop(stop_deceleration=[50.0])
    hold = loop.stop('disabled', T0 + DT - 50 * MS)
    assert hold.path is None and hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, [2.0, 3.0])
    assert loop.stop('disabled', T0 + 3 * DT) is None  # nothing moves any more
