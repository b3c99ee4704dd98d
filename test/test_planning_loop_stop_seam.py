"""The decelerating stop's velocity across a replan seam (stop_deceleration).

Defect pinned (review AR3): the stop took the slope of the segment of the JOINED commanded
timeline around now. Plan due times start at camera stamps, so the segment from the replaced
plan's last kept point to the new plan's first one can be 1-2 ms long, and its slope is a
chunk-to-chunk difference divided by milliseconds (a 0.5 rad/s motion read as 2.5 rad/s, the
stop travelling metres of joint angle). The velocity is now one segment of the newest plan's
own points (at least a control period long; its first segment before its first point), |v|
clipped to the envelope's speed limit (execution.commanded_velocity).
"""
from __future__ import annotations

import numpy as np
from test_safety_stop_deceleration import DT, MS, T0, moving_loop

from dp_ros.runtime.execution import TimedChunk, commanded_velocity
from dp_ros.runtime.planning_loop import PlanRequest

SEAM = 2 * MS  # the new plan's camera stamp, 2 ms after the old plan's point


def seam_loop():
    """The first plan climbs 2 a period (20/s; [14, 15] due T0 + 7 DT); the one sampled on
    the camera stamp T0 + 7 DT + 2 ms continues the same motion 0.1 above it ([14.14, 15.14]
    first): the 2 ms seam segment climbs at 70/s."""
    loop = moving_loop(stop_deceleration=[50.0], action_lower=[-1000.0, -1000.0],
                       action_upper=[1000.0, 1000.0])
    for k in range(2, 8):
        t = T0 + k * DT + SEAM
        for name in ('image', 'agent_pos'):
            loop.add(name, t, (name, t))
        request = loop.poll(t, runner_busy=False)
    assert isinstance(request, PlanRequest) and request.context.t_obs_ns == T0 + 7 * DT + SEAM
    loop.submitted(request)
    pred = (np.array([12.14, 13.14]) + 2 * np.arange(16)[:, None]).astype(np.float32)
    assert loop.finish(request.context, pred, None, T0 + 7 * DT + SEAM)
    due = loop.commanded.due_ns  # (the chunk's point 1 is the first due after t_obs)
    assert due[6] == T0 + 7 * DT and due[7] == T0 + 7 * DT + SEAM  # the seam: 2 ms
    np.testing.assert_allclose(loop.commanded.actions[6:8], [[14, 15], [14.14, 15.14]],
                               rtol=1e-6)
    return loop


def test_a_stop_inside_a_millisecond_seam_continues_the_plans_own_speed():
    """1 ms into the seam: the joined timeline's segment gives 70/s (a 49-unit stop); the
    newest plan moves at 20/s: 0.4 s at 50/s^2, 20 * 0.4 / 2 = 4 further on."""
    loop = seam_loop()
    hold = loop.stop('disabled', T0 + 7 * DT + MS)
    start = hold.position
    np.testing.assert_allclose(start, [14.07, 15.07], atol=1e-5)
    assert hold.path is not None and hold.step_ns == DT and len(hold.path) == 4
    np.testing.assert_allclose(hold.path[-1] - start, [4.0, 4.0], atol=1e-5)


def test_after_the_seam_the_plans_segment_around_now():
    loop = seam_loop()
    hold = loop.stop('disabled', T0 + 8 * DT)
    np.testing.assert_allclose(hold.path[-1] - hold.position, [4.0, 4.0], atol=1e-5)


def test_before_a_plans_first_point_its_first_segment_and_the_speed_is_clipped():
    plan = TimedChunk(np.array([100, 200, 300]) * MS, np.array([[0.0, 0.0], [1.0, -3.0],
                                                                [1.0, 0.0]]))
    np.testing.assert_allclose(commanded_velocity(plan, 99 * MS), [10.0, -30.0])
    np.testing.assert_allclose(commanded_velocity(plan, 99 * MS, None, np.array([5.0, 20.0])),
                               [5.0, -20.0])
    np.testing.assert_allclose(commanded_velocity(plan, 250 * MS, None,
                                                  np.array([np.inf, 20.0])), [0.0, 20.0])
    single = TimedChunk(np.array([100 * MS]), np.array([[1.0, 2.0]]))
    assert not commanded_velocity(single, 50 * MS).any()  # one point: nothing to move to
