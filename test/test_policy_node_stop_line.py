"""The policy node's stop log line names only the controllers the node publishes to.

Defect pinned (real-arm run, trajectory controllers only): the decelerating stop's line ended
'...; streamed ones hold at the measured position [...]' with no action_stream_topics; with
degrees fed as radians it read '[30.7466, -5.8104, ...]', as if the node had commanded those
values. The forward, pose and twist parts are said only where such publishers exist.
"""
from __future__ import annotations

import numpy as np

from dp_ros.ros.policy_node import stop_line
from dp_ros.runtime.safety import Hold

PATH = np.array([[0.5, 1.0], [0.6, 1.0]])


def hold(path=PATH, streamed: bool = False) -> Hold:
    """streamed False: a stop after which the node streams no more (a shutdown's)."""
    return Hold(reason='stale', position=np.array([30.74661, -5.8104]), stamp_ns=0,
                source='measured', path=path, step_ns=0 if path is None else 100_000_000,
                streamed=streamed)


def line(h: Hold, trajectories=False, forward=False, poses=False, twists=False) -> str:
    return stop_line(h, trajectories=trajectories, forward=forward, poses=poses, twists=twists)


def test_trajectory_controllers_only_say_nothing_of_streamed_ones():
    assert line(hold(), trajectories=True) == (
        'stop (stale): trajectory controllers decelerate (stop_deceleration) over 2 points to '
        'rest at [0.6, 1.0]')


def test_streamed_and_twist_topics_are_named_where_the_node_has_them():
    """A stop after which the node streams no more: forward controllers hold too."""
    assert line(hold(), trajectories=True, forward=True, poses=True, twists=True).endswith(
        'to rest at [0.6, 1.0]; forward controllers and pose targets hold at the measured '
        'position [30.7466, -5.8104]; twist servos get a zero twist')


def test_the_one_point_hold_and_a_node_without_decelerating_topics_hold_at_the_point():
    expected = 'stop (stale): holding at the measured position [30.7466, -5.8104]'
    assert line(hold(None), trajectories=True, forward=True) == expected
    assert line(hold(), forward=True, poses=True) == expected
    assert line(hold(streamed=True), poses=True) == expected


def test_a_streamed_decelerating_stop_says_forward_controllers_decelerate_too():
    """Hold.streamed: forward controllers get the stop point by point, not the measured
    position, with or without trajectory topics; pose targets still hold."""
    assert line(hold(streamed=True), trajectories=True, forward=True, poses=True,
                twists=True) == (
        'stop (stale): trajectory and forward controllers decelerate (stop_deceleration) over '
        '2 points to rest at [0.6, 1.0] (forward: each point as it falls due); pose targets '
        'hold at the measured position [30.7466, -5.8104]; twist servos get a zero twist')
    assert line(hold(streamed=True), forward=True) == (
        'stop (stale): forward controllers decelerate (stop_deceleration) over 2 points to '
        'rest at [0.6, 1.0] (forward: each point as it falls due)')
    # no forward controllers: a streamed hold reads as a plain trajectory stop
    assert line(hold(streamed=True), trajectories=True) == line(hold(), trajectories=True)
