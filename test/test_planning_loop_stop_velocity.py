"""The velocity a decelerating stop (stop_deceleration) continues: the plan in force's at now.

Defect pinned (real-arm run, a stop on stale inputs just after a replan): the stop took the
velocity as (commanded now - commanded one period ago) / dt. Across the switch from the
replaced chunk to the new one that difference has the other sign and size (joint3 +3.8 rad/s
while the running chunk moved it at -6.6 rad/s), so the stop drove the arm the wrong way, to
the action bounds. The velocity is now the slope of the running plan's segment around now
(execution.commanded_velocity), 0 from its last point on (the one-point hold).
"""
from __future__ import annotations

import numpy as np
from test_safety_stop_deceleration import DT, MS, T0, moving_loop

from dp_ros.runtime.execution import TimedChunk, commanded_velocity
from dp_ros.runtime.planning_loop import PlanRequest


def replanned_loop():
    """The first plan climbs 2 a period ([2, 3] .. [16, 17] due T0 + DT .. T0 + 8 DT); the one
    sampled at T0 + 7 DT replaces it from there, starting far above ([98, 97]) and falling 2 a
    period: a period before its first point the old plan commanded [12, 13]."""
    loop = moving_loop(stop_deceleration=[50.0], action_lower=[-1000.0, -1000.0],
                       action_upper=[1000.0, 1000.0])
    for k in range(2, 8):
        t = T0 + k * DT
        for name in ('image', 'agent_pos'):
            loop.add(name, t, (name, t))
        request = loop.poll(t, runner_busy=False)
    assert isinstance(request, PlanRequest) and request.context.t_obs_ns == T0 + 7 * DT
    loop.submitted(request)
    pred = (100 - np.arange(32, dtype=np.float32)).reshape(16, 2)
    assert loop.finish(request.context, pred, None, T0 + 7 * DT)
    np.testing.assert_array_equal(loop.commanded.actions[5:7], [[12, 13], [98, 97]])
    return loop


def test_a_stop_just_after_a_replan_heads_the_way_the_running_plan_moves():
    """10 ms after the new plan's first point: the difference back over one period (from the
    old plan's [20.6, 21.6]) gave +772/s; the new plan moves at -20/s."""
    loop = replanned_loop()
    hold = loop.stop('stale', T0 + 7 * DT + 10 * MS)
    np.testing.assert_allclose(hold.position, [97.8, 96.8])
    assert hold.path is not None, 'the plan in force moves: a decelerating stop'
    assert np.all(np.diff(np.vstack([hold.position, hold.path]), axis=0) <= 0), (
        'the stop heads against the running plan (velocity differenced across the replan)')
    # -20/s at 50/s^2: 0.4 s, 20 * 0.4 / 2 = 4 further down
    np.testing.assert_allclose(hold.path[-1], [93.8, 92.8])
    assert hold.step_ns == DT and len(hold.path) == 4


def test_from_the_plans_last_point_on_the_stop_is_the_one_point_hold():
    loop = replanned_loop()
    hold = loop.stop('disabled', T0 + 14 * DT + 30 * MS)
    assert hold.path is None and hold.step_ns == 0
    np.testing.assert_allclose(hold.position, [84.0, 83.0])


def test_commanded_velocity_is_one_segments_slope():
    plan = TimedChunk(np.array([0, 100, 300]) * MS, np.array([[0.0, 3.1], [1.0, -3.1],
                                                             [0.0, -3.1]]))
    wrap = np.array([False, True])
    np.testing.assert_allclose(commanded_velocity(plan, 50 * MS, wrap),
                               [10.0, (2 * np.pi - 6.2) / 0.1])  # the short way round
    # on a point's due time: the segment it starts
    np.testing.assert_allclose(commanded_velocity(plan, 100 * MS, wrap), [-5.0, 0.0])
    # before the first point: its first segment (one plan, a control period long)
    np.testing.assert_allclose(commanded_velocity(plan, -1, wrap),
                               [10.0, (2 * np.pi - 6.2) / 0.1])
    assert not commanded_velocity(plan, 300 * MS, wrap).any()  # from the last one on
