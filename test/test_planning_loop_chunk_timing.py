"""Executing chunks in time in realtime, against an interpolating trajectory controller.

A ros2_control joint_trajectory_controller interpolates between the points of the running
trajectory, and the planning loop models it so for the step limit (where it is when the
chunk lands: commanded.interpolate at now + action_lead_s).
These tests pin the same model for blend and the stop, the action lead in the first point's
share of the step limit, and that a chunk never published does not shape later ones.
"""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, MS, T0, feed, make_loop, plan_now


def line_pred(t_obs_ns: int) -> np.ndarray:
    """A (16, 2) action_pred predicting a steady motion of one unit per period (value
    (t - T0) / DT at time t); pred[1], the first executed point, is due at t_obs."""
    v = (t_obs_ns - T0) / DT + np.arange(-1, 15, dtype=np.float64)
    return np.stack([v, v], axis=1)


def test_realtime_blend_does_not_step_back_behind_the_controller():
    """Defect: a chunk sampled half a period off the running plan's grid landed 30 ms into a
    period, the controller at 5.3; blend's first point was 5.125 (the held 5 mixed in): the
    arm stepped back 0.175, then caught up faster than the motion."""
    loop = make_loop(execution_mode='blend', replan_threshold=4)
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    first = loop.finish(request.context, line_pred(request.context.t_obs_ns), None, T0 + DT)
    np.testing.assert_allclose(first.actions[:, 0], np.arange(1.0, 9.0))
    for k in range(4):  # the camera's stamps drift half a period off the first chunk's grid
        feed(loop, T0 + DT + DT // 2 + k * DT)
    request = plan_now(loop, T0 + 4 * DT + DT // 2)
    assert request.context.t_obs_ns == T0 + 4 * DT + DT // 2
    arrive = T0 + 5 * DT + 30 * MS
    at_arrival = loop.commanded.interpolate(arrive)[0]  # 5.3: where the controller is
    second = loop.finish(request.context, line_pred(request.context.t_obs_ns), None, arrive)
    assert second.due_ns[0] == T0 + 5 * DT + DT // 2
    assert second.actions[0, 0] >= at_arrival
    np.testing.assert_allclose(second.actions[:3, 0], [5.5, 6.5, 7.5])


def test_realtime_stop_without_a_measurement_holds_where_the_controller_is():
    """Defect: a stale stop 90 ms into a period (the controller at 3.9 on its way from 3 to 4)
    held the point in force, 3.0: back 0.9 units in one period."""
    loop = make_loop()
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    loop.finish(request.context, line_pred(request.context.t_obs_ns), None, T0 + DT)
    hold = loop.stop('stale', T0 + 3 * DT + 90 * MS)
    assert hold is not None and hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, [3.9, 3.9])


def test_lockstep_stop_without_a_measurement_still_holds_the_point_in_force():
    """A lockstep sim's follower holds each point: its stop is unchanged."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    request = plan_now(loop, T0)
    loop.finish(request.context, line_pred(T0), None, T0)
    hold = loop.stop('disabled', T0 + 2 * DT + 90 * MS)
    assert hold is not None and hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, [2.0, 2.0])


def test_first_point_share_of_the_step_limit_counts_the_action_lead():
    """Defect: with action_lead_s 0.05 a chunk finished 40 ms into a period, point 0 due 60 ms
    later, got 0.6 of max_step though it lands (now + lead) 10 ms before point 0: six times
    max_velocity. The share is (due0 - now - lead) / dt."""
    loop = make_loop(max_step_delta=[1.0, 1.0], action_lead_s=0.05)
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    now = T0 + DT + 40 * MS
    plan = loop.finish(request.context, np.full((16, 2), 500.0), None, now)
    assert plan.due_ns[0] == T0 + 2 * DT
    np.testing.assert_allclose(plan.actions[0], [0.1, 0.1])


def test_a_chunk_dropped_for_want_of_a_measurement_stays_out_of_the_ensemble():
    """Defect: temporal_ensemble remembered a chunk before finish dropped it as no_reference;
    the next (first published) chunk came out half that never-executed chunk."""
    loop = make_loop(execution_mode='temporal_ensemble', ensemble_decay=0.0,
                     max_step_delta=[1000.0, 1000.0])
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    dropped = loop.finish(request.context, np.full((16, 2), 100.0), None, T0 + DT)
    assert not dropped and dropped.reason == 'no_reference'
    assert not loop.execution.memory
    loop.measure(T0 + 2 * DT, np.zeros(2))
    feed(loop, T0 + 2 * DT)
    request = plan_now(loop, T0 + 2 * DT)
    plan = loop.finish(request.context, np.zeros((16, 2)), None, T0 + 2 * DT)
    np.testing.assert_array_equal(plan.actions, np.zeros((8, 2)))
