"""An episode start announced an hour ahead of the node clock stalled the node without a
word (every input 'before the episode', /diagnostics OK); now it is a bad message
(bad_episode_start, a line naming the episode) and the running episode goes on. An episode
taken over with nothing measured since its start owes the hold: it now comes before the new
episode's first chunk (once a measurement of the new episode is in), where the node used to
wait for a later stop. The rules: test/test_planning_loop_episode_start_checks.py."""
from __future__ import annotations

import json

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import (
    DT_NS,
    EPISODE_TOPIC,
    LATCHED,
    RELIABLE,
    Feeder,
    announce,
    is_hold,
    node_cmd,
    wait_diag,
    wait_for_a_new_chunk,
)
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

HOUR_NS = 3600 * 10**9


def t_obs_ns(msg) -> int:
    """The observation a chunk was planned on: 8 points less the late ones dropped, dt
    apart (test_policy_node.check_chunks)."""
    return cv.time_to_ns(msg.header.stamp) - (8 - len(msg.points)) * DT_NS


def test_a_start_an_hour_ahead_is_refused_and_an_owed_hold_is_sent(ros_processes, ros_probe,
                                                                   checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    episodes = ros_probe.publisher(String, EPISODE_TOPIC, LATCHED)
    node = ros_processes.start('policy', node_cmd(checkpoint, episode_start_topic=EPISODE_TOPIC))
    feeder = Feeder(ros_probe, position=(250.0, 260.0))
    try:
        ros_probe.wait_for_subscribers(episodes, 1, 60.0)
        announce(episodes, ros_probe, 1, 5)
        ros_probe.wait_for_messages(trajs, 1, 60.0, 'a chunk of episode 1')
        ahead = ros_probe.node.get_clock().now().nanoseconds + HOUR_NS
        episodes.publish(String(data=json.dumps({'episode': 2, 'seed': 6, 'start_ns': ahead})))
        node.wait_for_log('episode 2 ignored', 10.0)
        wait_diag(ros_probe, diags, lambda d: int(d.get('bad_episode_start', 0)) >= 1, 10.0,
                  'bad_episode_start counted')
        # episode 1 runs on, moving (a stall of the test process's feeder longer than
        # max_input_age_s stops it on stale inputs: then episode 3 would owe no hold)
        wait_for_a_new_chunk(ros_probe, trajs, 'episode 1 runs on')
        sent = len(trajs)
        start = announce(episodes, ros_probe, 3, 7)
        node.wait_for_log('episode 3', 10.0)

        def of_episode_3(msg) -> bool:  # planned on an observation since its start
            return not is_hold(msg) and t_obs_ns(msg) >= start

        ros_probe.wait_for(lambda: any(of_episode_3(m) for m in trajs[sent:]), 30.0,
                           "episode 3's first chunk")
        after = trajs[sent:]
        first = next(i for i, m in enumerate(after) if of_episode_3(m))
        assert any(is_hold(m) for m in after[:first]), \
            'the hold episode 3 owed comes before its first chunk'
    finally:
        feeder.close()
