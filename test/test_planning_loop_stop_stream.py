"""A decelerating stop (stop_deceleration) on a streamed topic (action_stream_topics, a
ros2_control forward_command_controller; action_pose_topics): such a controller goes to each
point at once, so it was sent the hold point, the measured position: an arm at speed stopped
there as hard as its position loop could, while trajectory controllers beside it decelerated.
It now gets the stop path's points one by one as they fall due (PlanningLoop.stop_point_due),
as it gets a plan's; after a stop that ends all streaming (shutdown, deactivation, a stopped
clock) it still gets the hold point at once (Hold.streamed False)."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, feed, finish, plan_now
from test_safety_stop_deceleration import moving_loop

WIDE = dict(action_lower=[-1000.0, -1000.0], action_upper=[1000.0, 1000.0])
STREAMED = dict(action_topic='/fwd', action_stream_topics=['/fwd'])
NOW = T0 + 3 * DT + 50 * MS  # the plan [2, 3], [4, 5], ... due from T0 + DT: at 20/s


def stopped(reason: str = 'disabled', **values):
    loop = moving_loop(stop_deceleration=[50.0], **WIDE, **STREAMED, **values)
    return loop, loop.stop(reason, NOW)


def test_the_stop_path_streams_point_by_point_as_it_falls_due():
    loop, hold = stopped()
    assert hold.streamed and loop.stopping is hold and not loop.moving
    assert hold.step_ns == DT and len(hold.path) == 4  # 20/s at 50/s^2: 0.4 s
    assert loop.stop_point_due(NOW) is None  # point 0 is due a period after the stop
    assert loop.stop_point_due(NOW + DT - 1) is None
    np.testing.assert_array_equal(loop.stop_point_due(NOW + DT), hold.path[0])
    assert loop.stop_point_due(NOW + DT + 5 * MS) is None  # sent already
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 3 * DT), hold.path[2])  # newest
    # the rest position ends the stream, however late the poll
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 50 * DT), hold.path[-1])
    assert loop.stopping is None and loop.stop_point_due(NOW + 51 * DT) is None
    values = loop.diagnostics(NOW, 0)
    assert values['stop_points_streamed'] == 3 and values['points_streamed'] == 0
    # the points sent go on in the direction the plan moved
    sent = np.vstack([hold.position, hold.path[[0, 2, 3]]])
    assert np.all(np.diff(sent[:, 0]) > 0)


def test_trajectory_topics_alone_stream_nothing():
    loop = moving_loop(stop_deceleration=[50.0], **WIDE)
    hold = loop.stop('disabled', NOW)
    assert hold.path is not None and not hold.streamed and loop.stopping is None
    assert loop.stop_point_due(NOW + 10 * DT) is None


@pytest.mark.parametrize('reason', ['shutdown', 'deactivated', 'no_clock'])
def test_after_a_stop_that_ends_streaming_the_hold_point_goes_at_once(reason):
    """Trajectory controllers still get the path; a streamed one the hold point (the node
    goes quiet, or its clock stands still)."""
    loop, hold = stopped(reason)
    assert hold.path is not None and not hold.streamed and loop.stopping is None
    np.testing.assert_allclose(hold.position, [7.0, 8.0])


@pytest.mark.parametrize('reason', ['shutdown', 'deactivated', 'no_clock', 'clock_back'])
def test_a_running_stream_ends_with_the_node_or_its_clock(reason):
    """Shutdown or deactivation during the stream: the node streams no more; the clock stood
    still or went back: the stream's due times mean nothing any more."""
    loop, _ = stopped()
    assert loop.stop_point_due(NOW + DT) is not None
    assert loop.stop(reason, NOW + DT + MS) is None  # nothing moves: no new hold
    assert loop.stopping is None and loop.stop_point_due(NOW + 10 * DT) is None


def test_a_reset_or_another_disable_lets_the_stream_run_on():
    """The arm still decelerates: cutting the stream would stop it at the last point sent."""
    loop, hold = stopped()
    assert loop.reset(NOW + 5 * MS) is None
    assert loop.stop('disabled', NOW + 6 * MS) is None
    assert loop.stopping is hold
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 4 * DT), hold.path[-1])


def test_a_new_plan_takes_over_from_the_stream():
    loop, hold = stopped()
    assert loop.stop_point_due(NOW + DT) is not None
    loop.enable(False)
    loop.enable(True)
    t = NOW + DT + 10 * MS
    feed(loop, t - DT)
    feed(loop, t)
    plan = finish(loop, plan_now(loop, t), t)
    assert loop.stopping is None and loop.stop_point_due(t + 3 * DT) is None
    np.testing.assert_array_equal(loop.point_due(int(plan.due_ns[0])), plan.actions[0])
