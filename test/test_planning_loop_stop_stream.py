"""A decelerating stop (stop_deceleration) on a forward controller (action_stream_topics, a
ros2_control forward_command_controller): such a controller goes to each point at once, so it
was sent the hold point, the measured position: an arm at speed stopped there as hard as its
position loop could, while trajectory controllers beside it decelerated. It now gets the
stop's points one by one as they fall due (PlanningLoop.stop_point_due), as it gets a plan's:
where the controller was commanded at the stop, at once, then the path. After a stop that
ends all streaming (shutdown, deactivation, a stopped clock) it still gets the hold point at
once (Hold.streamed False); pose targets always do (their orientation fields are not
decelerated the short way round). A stop on a clock gone back or at an episode start has no
path at all: the commanded motion no longer says where the arm is (a review of the first
version streamed the motion's start after a clock jump, and the old episode's path after a
sim's reset)."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, METADATA, MS, T0, feed, finish, plan_now, pose_metadata
from test_safety_stop_deceleration import moving_loop

from dp_ros.params import config_from_dict
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

WIDE = dict(action_lower=[-1000.0, -1000.0], action_upper=[1000.0, 1000.0])
STREAMED = dict(action_topic='/fwd', action_stream_topics=['/fwd'])
NOW = T0 + 3 * DT + 50 * MS  # the plan [2, 3], [4, 5], ... due from T0 + DT: at 20/s


def stopped(reason: str = 'disabled', **values):
    loop = moving_loop(stop_deceleration=[50.0], **WIDE, **STREAMED, **values)
    return loop, loop.stop(reason, NOW)


def streamed(loop: PlanningLoop, start: int, stop: int) -> list[list[float]]:
    """What a forward controller gets, polled every 5 ms as the node does."""
    return [p.tolist() for t in range(start, stop, 5 * MS)
            if (p := loop.stop_point_due(t)) is not None]


def test_the_stop_streams_point_by_point_as_it_falls_due():
    loop, hold = stopped()
    assert hold.streamed and loop.stopping is not None and not loop.moving
    assert hold.step_ns == DT and len(hold.path) == 4  # 20/s at 50/s^2: 0.4 s
    # at once, where the controller is commanded now ([7, 8]: the last plan point sent was
    # [6, 7], due at T0 + 3 DT): a step of at most one period's, not one of up to two
    np.testing.assert_allclose(loop.stop_point_due(NOW), [7.0, 8.0])
    assert loop.stop_point_due(NOW + DT - 1) is None
    np.testing.assert_array_equal(loop.stop_point_due(NOW + DT), hold.path[0])
    assert loop.stop_point_due(NOW + DT + 5 * MS) is None  # sent already
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 3 * DT), hold.path[2])  # newest
    # the rest position ends the stream, however late the poll
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 50 * DT), hold.path[-1])
    assert loop.stopping is None and loop.stop_point_due(NOW + 51 * DT) is None
    values = loop.diagnostics(NOW, 0)
    assert values['stop_points_streamed'] == 4 and values['points_streamed'] == 0


def test_each_streamed_step_is_at_most_a_plan_step():
    """The plan steps 2 a period; polled every 5 ms, no step of the stop is larger, and they
    shrink to rest."""
    loop, _ = stopped()
    points = np.array([[6.0, 7.0]] + streamed(loop, NOW, NOW + 10 * DT))
    steps = np.abs(np.diff(points[:, 0]))
    assert len(points) == 6 and steps.max() <= 2.0 + 1e-9
    assert np.all(np.diff(steps[1:]) < 0)  # the path's steps slow down


def test_trajectory_topics_and_pose_targets_stream_nothing():
    loop = moving_loop(stop_deceleration=[50.0], **WIDE)
    hold = loop.stop('disabled', NOW)
    assert hold.path is not None and not hold.streamed and loop.stopping is None
    assert loop.stop_point_due(NOW + 10 * DT) is None
    metadata = pose_metadata(4)
    pose = ['x', 'y', 'z', 'yaw']
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'joint_state_topic': '/ee',
        'state_joint_names': pose, 'state_pose_topics': ['/ee'], 'action_topic': '/pose',
        'action_pose_topics': ['/pose'], 'action_joint_names': pose, 'frame_id': 'base'})
    loop = PlanningLoop(cfg, resolve_setup(cfg, metadata), device='cpu')
    assert loop.setup.commands[0].stream and not loop.forward_streams


@pytest.mark.parametrize('reason', ['shutdown', 'deactivated'])
def test_after_a_stop_that_ends_streaming_the_hold_point_goes_at_once(reason):
    """Trajectory controllers still get the path; a forward one the hold point (the node
    goes quiet)."""
    loop, hold = stopped(reason)
    assert hold.path is not None and not hold.streamed and loop.stopping is None
    np.testing.assert_allclose(hold.position, [7.0, 8.0])


@pytest.mark.parametrize('reason', ['shutdown', 'deactivated', 'no_clock', 'clock_back',
                                    'episode_start'])
def test_a_running_stream_ends_with_the_node_its_clock_or_the_episode(reason):
    loop, _ = stopped()
    assert loop.stop_point_due(NOW + DT) is not None
    assert loop.stop(reason, NOW + DT + MS) is None  # nothing moves: no new hold
    assert loop.stopping is None and loop.stop_point_due(NOW + 10 * DT) is None


def test_a_clock_that_stops_ends_the_stream():
    """use_sim_time with /clock gone reads 0 (the node polls on while disabled): the stream
    ends there instead of polling every 5 ms for ever and sending the rest in one jump."""
    loop, _ = stopped()
    assert loop.stop_point_due(NOW) is not None
    assert loop.stop_point_due(0) is None and loop.stopping is None
    assert loop.stop_point_due(NOW + 10 * DT) is None


def test_a_stopped_clock_holds_at_the_measured_position_without_a_path():
    """use_sim_time turned on without /clock: the clock reads 0, before every commanded
    point, so 'where the controller is commanded' was where the motion began (a last read
    found the trajectory topics' path 4 units back from the measured arm)."""
    loop = moving_loop(stop_deceleration=[50.0], **WIDE, **STREAMED)
    loop.measure(NOW, np.array([7.0, 8.0]))
    hold = loop.poll(0, runner_busy=False)
    assert hold.reason == 'no_clock' and hold.path is None and not hold.streamed
    np.testing.assert_array_equal(hold.position, [7.0, 8.0])
    assert loop.stopping is None


def test_a_clock_gone_back_holds_at_the_measured_position_without_a_path():
    """The clock went back (a sim restarted): every commanded point is ahead of the new now,
    so 'where the controller is commanded' was where the motion began, seconds ago; the
    first version streamed a path from there."""
    loop = moving_loop(stop_deceleration=[50.0], **WIDE, **STREAMED)
    loop.measure(NOW, np.array([7.0, 8.0]))
    hold = loop.poll(NOW, runner_busy=False)  # the newest "now" the loop saw
    hold = loop.poll(500 * MS, runner_busy=False)  # the sim restarted: 0.5 s
    assert hold.reason == 'clock_back' and hold.path is None and not hold.streamed
    assert loop.stopping is None


def test_an_episode_start_holds_where_the_reset_put_the_robot_and_ends_a_stream():
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'max_input_age_s': 0.4,
        'episode_start_topic': '/episode', 'stop_deceleration': [50.0], **WIDE, **STREAMED})
    loop = PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')
    assert loop.start_episode(0, T0 - DT, T0 - DT) is not None
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    teleported = np.array([-50.0, -50.0])
    loop.measure(NOW - MS, teleported)
    hold = loop.start_episode(1, NOW - 10 * MS, NOW).hold
    assert hold.path is None and not hold.streamed and loop.stopping is None
    np.testing.assert_array_equal(hold.position, teleported)
    # a disable's stream still running when the next episode starts ends there
    later = NOW + DT
    feed(loop, later - DT)
    feed(loop, later)
    assert finish(loop, plan_now(loop, later), later)
    loop.stop('disabled', later + DT + 50 * MS)
    assert loop.stopping is not None
    loop.start_episode(2, later + 2 * DT, later + 2 * DT + 5 * MS)
    assert loop.stopping is None


def test_a_reset_or_another_disable_lets_the_stream_run_on():
    """The arm still decelerates: cutting the stream would stop it at the last point sent."""
    loop, hold = stopped()
    assert loop.reset(NOW + 5 * MS) is None
    assert loop.stop('disabled', NOW + 6 * MS) is None
    assert loop.stopping is not None
    np.testing.assert_array_equal(loop.stop_point_due(NOW + 4 * DT), hold.path[-1])


def test_a_new_plan_takes_over_from_the_stream():
    loop, _ = stopped()
    assert loop.stop_point_due(NOW + DT) is not None
    loop.enable(False)
    loop.enable(True)
    t = NOW + DT + 10 * MS
    feed(loop, t - DT)
    feed(loop, t)
    plan = finish(loop, plan_now(loop, t), t)
    assert loop.stopping is None and loop.stop_point_due(t + 3 * DT) is None
    np.testing.assert_array_equal(loop.point_due(int(plan.due_ns[0])), plan.actions[0])
