"""The policy node's stop log line names only the controllers the node publishes to.

Defect pinned (real-arm run, trajectory controllers only): the decelerating stop's line ended
'...; streamed ones hold at the measured position [...]' with no action_stream_topics; with
degrees fed as radians it read '[30.7466, -5.8104, ...]', as if the node had commanded those
values. The streamed (forward, pose) and twist parts are said only where such publishers exist.
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


def test_trajectory_controllers_only_say_nothing_of_streamed_ones():
    line = stop_line(hold(), trajectories=True, streamed=False, twists=False)
    assert line == ('stop (stale): trajectory controllers decelerate (stop_deceleration) over '
                    '2 points to rest at [0.6, 1.0]')


def test_streamed_and_twist_topics_are_named_where_the_node_has_them():
    line = stop_line(hold(), trajectories=True, streamed=True, twists=True)
    assert line.endswith('to rest at [0.6, 1.0]; streamed ones hold at the measured position '
                         '[30.7466, -5.8104]; twist servos get a zero twist')


def test_the_one_point_hold_and_a_node_without_trajectory_topics_hold_at_the_point():
    expected = 'stop (stale): holding at the measured position [30.7466, -5.8104]'
    assert stop_line(hold(None), trajectories=True, streamed=True, twists=False) == expected
    assert stop_line(hold(), trajectories=False, streamed=True, twists=False) == expected


def test_a_streamed_decelerating_stop_says_streamed_controllers_decelerate_too():
    """Hold.streamed: forward and pose controllers get the path point by point, not the
    measured position: the line names them among those that decelerate, with or without
    trajectory topics, and no hold point."""
    both = stop_line(hold(streamed=True), trajectories=True, streamed=True, twists=True)
    assert both == ('stop (stale): trajectory and streamed controllers decelerate '
                    '(stop_deceleration) over 2 points to rest at [0.6, 1.0] (streamed: each '
                    'point as it falls due); twist servos get a zero twist')
    alone = stop_line(hold(streamed=True), trajectories=False, streamed=True, twists=False)
    assert alone == ('stop (stale): streamed controllers decelerate (stop_deceleration) over '
                     '2 points to rest at [0.6, 1.0] (streamed: each point as it falls due)')
    # no streamed topics: a streamed hold reads as a plain trajectory stop
    assert stop_line(hold(streamed=True), trajectories=True, streamed=False, twists=False) == \
        stop_line(hold(), trajectories=True, streamed=False, twists=False)
