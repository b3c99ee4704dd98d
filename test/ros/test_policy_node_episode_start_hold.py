"""An episode announced while a realtime chunk runs: the node forgets the old episode's plan,
and the controller would run the rest of that chunk into the new episode; a later ~/enable
false, finding nothing moving, sent no hold. Now the hold comes at the start where a
position measured since it is known (holds_episode_start), else with the next stop. The
loop's rule: test/test_planning_loop_episode_start_hold.py."""
from __future__ import annotations

import pytest
from ros.test_policy_node import (
    EPISODE_TOPIC,
    LATCHED,
    RELIABLE,
    Feeder,
    announce,
    is_hold,
    node_cmd,
)
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros

STANDING = (250.0, 260.0)


def test_an_episode_start_mid_plan_publishes_the_hold_and_a_disable_ends_in_one(
        ros_processes, ros_probe, checkpoint):
    """Episode 2 announced while episode 1's chunk runs, then ~/enable false during episode
    2's first sampling: a hold is the last trajectory."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    episodes = ros_probe.publisher(String, EPISODE_TOPIC, LATCHED)
    node = ros_processes.start('policy', node_cmd(checkpoint, episode_start_topic=EPISODE_TOPIC,
                                                  debug_extra_latency_s=0.5))
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_subscribers(episodes, 1, 60.0)
        announce(episodes, ros_probe, 1, 5)
        ros_probe.wait_for_messages(trajs, 1, 60.0, 'a chunk of episode 1')
        assert not is_hold(trajs[0])
        announce(episodes, ros_probe, 2, 6)  # the arm is executing episode 1's chunk
        node.wait_for_log('episode 2', 10.0)
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        ros_probe.wait_for(lambda: is_hold(trajs[-1]), 5.0,
                           'a hold as the last trajectory after the disable')
    finally:
        feeder.close()
