"""The step limit of a chunk's first point in realtime, measured from where the controller is
when the chunk lands (action_lead_s after it is sent), not from where it was when it was sent.

A joint_trajectory_controller runs the current plan on until the new chunk reaches it; the
first point's share of max_step is the time from the landing to that point, so the point must
be within that share of the controller's position at the landing.
"""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, MS, T0, chunk, feed, feed_until, make_loop, plan_now
from test_planning_loop_chunk_timing import line_pred


def moving_at_max_speed(lead_ms: int = 0):
    """A loop whose running plan moves one max_step (1.0) per period: 0.5, 1.5, ... due from
    T0 + 2 DT on (the first chunk, landing 50 ms before its point 0, walked up from the
    measured 0 at the step limit)."""
    loop = make_loop(max_step_delta=[1.0, 1.0], replan_threshold=8,
                     action_lead_s=lead_ms / 1000)
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    sent = T0 + DT + (50 - lead_ms) * MS
    first = loop.finish(request.context, line_pred(request.context.t_obs_ns), None, sent)
    assert first.due_ns[0] == T0 + 2 * DT
    np.testing.assert_allclose(first.actions[:, 0], np.arange(7) + 0.5)
    feed(loop, T0 + 2 * DT)
    feed(loop, T0 + 3 * DT)
    return loop, plan_now(loop, T0 + 3 * DT)


def test_first_point_is_within_its_share_of_the_controller_at_the_landing():
    """Defect: sent 40 ms into a period with action_lead_s 0.05, the chunk lands at 90 ms with
    the controller at 2.4; point 0 (due at 100 ms, share 0.1) was limited from where the
    controller was when sent (1.9) to 2.0: back 0.4 in 10 ms, 40 times max_velocity."""
    loop, request = moving_at_max_speed(lead_ms=50)
    now = T0 + 3 * DT + 40 * MS
    landing = now + 50 * MS
    at_landing = loop.commanded.interpolate(landing)
    np.testing.assert_allclose(at_landing, [2.4, 2.4])
    plan = loop.finish(request.context, line_pred(request.context.t_obs_ns), None, now)
    assert plan.due_ns[0] == T0 + 4 * DT
    share = (plan.due_ns[0] - landing) / DT
    assert np.all(np.abs(plan.actions[0] - at_landing) <= share * 1.0 + 1e-9)
    np.testing.assert_allclose(plan.actions[:3, 0], [2.5, 3.5, 4.5])


def test_a_policy_that_stops_is_slowed_from_the_landing_position_too():
    """The other way: a chunk that wants the arm back at 0 starts from 2.4 - 0.1, not 1.8."""
    loop, request = moving_at_max_speed(lead_ms=50)
    now = T0 + 3 * DT + 40 * MS
    plan = loop.finish(request.context, np.zeros((16, 2)), None, now)
    np.testing.assert_allclose(plan.actions[:3, 0], [2.3, 1.3, 0.3])


def test_without_a_lead_the_reference_is_the_controller_now_as_before():
    """action_lead_s 0: the chunk lands when sent; point 0 due 60 ms later gets 0.6 from 1.9,
    kept within max_step of the point a late tick may still hold (0.5): 1.5."""
    loop, request = moving_at_max_speed()
    now = T0 + 3 * DT + 40 * MS
    plan = loop.finish(request.context, line_pred(request.context.t_obs_ns), None, now)
    np.testing.assert_allclose(plan.actions[:3, 0], [1.5, 2.5, 3.5])


def test_a_late_tick_is_counted_from_the_landing_too():
    """The plan 1..8 has ended at 8 when a chunk sent 30 ms before its end lands (lead 0.05);
    point 0 is due 80 ms later (share 0.8). The controller may hold 8 (at the landing, and
    the chunk late), 7.7 (now: the chunk early) or 7 (the point in force now, and a period
    before the landing: its tick late): 7.8 is within 0.8 of all. Before, the reference was
    7.7 and the late tick's point 6 (a period before now): point 0 was 7.0, 1.0 from the
    controller at the landing in 0.8 of a period."""
    loop = make_loop(max_step_delta=[1.0, 1.0], action_lead_s=0.05, replan_threshold=8)
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    first = loop.finish(request.context, chunk(), None, T0 - 50 * MS)  # lands at T0: 1..8
    np.testing.assert_allclose(first.actions[:, 0], np.arange(1.0, 9.0))
    feed_until(loop, T0 + 2 * DT, T0 + 7 * DT)
    request = plan_now(loop, T0 + 7 * DT)
    second = loop.finish(request.context, chunk(500.0), None, T0 + 8 * DT - 30 * MS)
    assert second.due_ns[0] == T0 + 9 * DT
    np.testing.assert_allclose(second.actions[0], [7.8, 7.8])
