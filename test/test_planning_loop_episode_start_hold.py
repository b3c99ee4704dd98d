"""An announced episode arriving while a realtime plan runs: the plan is forgotten, so the
stop must come (start_episode gives the Hold, as reset() does), else the controller ran the
rest of the old episode's chunk and a later ~/enable false found nothing moving to stop. The
hold is at a position measured since the announced start: a sim's reset teleports the robot,
and holding where the last episode ended drove it back there (found by a regression run with
auto_reset). Without such a measurement the next stop owes the hold (stop_owed). Lockstep gives
none: the sim resets its follower at an episode start, and a hold would be taken as the new
episode's step-0 action (parity with the in-process evaluation). Over ROS:
test/ros/test_policy_node_episode_start_hold.py."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, T0, feed, finish, make_loop, plan_now

from dp_ros.runtime.action_schedule import Plan
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.safety import Hold

STANDING = np.array([250.0, 260.0])


def moving_loop(lockstep: bool = False) -> PlanningLoop:
    loop = make_loop(episode_start_topic='/sim/episode_start', lockstep=lockstep)
    assert loop.start_episode(5, T0, T0)
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.measure(T0 + DT, STANDING)
    assert isinstance(finish(loop, plan_now(loop, T0 + DT), T0 + DT), Plan)
    assert loop.moving
    return loop


def announce(loop: PlanningLoop, announced: str):
    if announced == 'next_episode':
        return loop.start_episode(6, T0 + 2 * DT, T0 + 2 * DT)
    # the sim restarted: its clock and the new episode's start before the last start
    taken = loop.start_episode(6, T0 - 50 * DT, T0 - 49 * DT)
    assert loop.clock_jumps == 1
    return taken


def test_an_episode_start_measured_since_holds_there():
    """A measurement stamped at or after the announced start (the robot where the new episode
    put it): the Hold at it, counted under episode_start; stopped once, not twice."""
    loop = moving_loop()
    reset_pose = np.array([110.0, 167.0])
    loop.measure(T0 + 2 * DT, reset_pose)
    taken = loop.start_episode(6, T0 + 2 * DT, T0 + 2 * DT)
    assert taken and isinstance(taken.hold, Hold)
    assert taken.hold.reason == 'episode_start' and taken.hold.source == 'measured'
    np.testing.assert_array_equal(taken.hold.position, reset_pose)
    assert loop.holds['episode_start'] == 1 and not loop.moving and not loop.stop_owed
    assert loop.stop('disabled', T0 + 2 * DT) is None


@pytest.mark.parametrize('announced', ['next_episode', 'clock_restart'])
def test_an_episode_start_measured_only_before_owes_the_hold_to_the_next_stop(announced):
    """Only the last episode's measurement: no hold at it (it would drive a reset robot back
    to where the last episode ended); the next stop (a disable) holds at the position measured
    by then."""
    loop = moving_loop()
    taken = announce(loop, announced)
    assert taken and taken.hold is None and loop.stop_owed and not loop.moving
    assert sum(loop.holds.values()) == 0
    now = T0 + 3 * DT if announced == 'next_episode' else T0 - 48 * DT
    loop.measure(now, np.array([110.0, 167.0]))
    hold = loop.stop('disabled', now)
    assert isinstance(hold, Hold) and hold.reason == 'disabled'
    np.testing.assert_array_equal(hold.position, [110.0, 167.0])
    assert not loop.stop_owed and loop.stop('disabled', now) is None


@pytest.mark.parametrize('announced', ['next_episode', 'clock_restart'])
def test_an_episode_start_in_lockstep_gives_no_hold(announced):
    """Lockstep: the plan is forgotten without a hold (the sim's follower starts afresh)."""
    loop = moving_loop(lockstep=True)
    taken = announce(loop, announced)
    assert taken and taken.hold is None
    assert sum(loop.holds.values()) == 0 and not loop.moving


def test_an_episode_start_while_nothing_moves_gives_no_hold():
    loop = make_loop(episode_start_topic='/sim/episode_start')
    taken = loop.start_episode(5, T0, T0)
    assert taken and taken.hold is None


def test_an_ignored_episode_start_is_falsy_and_keeps_the_plan():
    """A re-delivery is ignored (None): the running plan and its stop obligation stay."""
    loop = moving_loop()
    assert loop.start_episode(5, T0, T0 + 2 * DT) is None
    assert loop.moving
