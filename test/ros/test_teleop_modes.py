"""The teleop's commands against a sim in either mode (sim_bridge/teleop.py, real processes).

TeleopNode.send stamped every command with the frame it answered, the point due then: in
realtime that time has passed when the sim receives it, so every command was refused
(ends_in_past) and the pusher never moved. It now stamps by the sim's mode, asked from the
node, by replay's rule (sim_node_config.answer_stamp_ns): the frame's stamp in lockstep, 0
("now") in realtime. And it answered each stamp once only: in lockstep a lost command left
the step waiting for action_wait_timeout_s (60 s by default) although the sim republishes its
frame; a republished frame is now answered again.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from ros.test_pusht_sim_node import JOINTS, NS, RELIABLE, Streams, start_sim_when_heard
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros.conversions import joint_state_to_numpy, time_to_ns
from sim_bridge.sim_node_config import answer_stamp_ns

pytestmark = pytest.mark.ros

TARGET = (300.0, 300.0)


def teleop_episode(ros_probe, ros_processes, name: str, *params: str, drop_first: bool = False,
                   timeout: float = 60.0):
    """Run a teleop against a sim until its episode result; (result, commands seen, the
    joint states, seconds taken)."""
    from sim_bridge.teleop import TeleopNode

    streams = Streams(ros_probe)
    commands = ros_probe.collect(JointTrajectory, f'{NS}/joint_trajectory', RELIABLE)
    teleop = TeleopNode(NS)
    if drop_first:  # the first command is lost on the way
        publish, dropped = teleop.pub.publish, []
        teleop.pub.publish = lambda msg: dropped.append(msg) if not dropped else publish(msg)
    try:
        ros_probe.wait_for(lambda: ros_probe.node.count_subscribers(f'{NS}/image_raw') >= 2,
                           30.0, 'the teleop camera subscription')
        def ask_the_mode() -> None:  # before the episode: its first command not delayed
            teleop.mode = teleop.sim_mode()

        start_sim_when_heard(ros_processes, streams, name, *params, 'seeds:=[1]',
                             'auto_reset:=false', before_reset=ask_the_mode)
        started = time.monotonic()
        while not streams.results and time.monotonic() < started + timeout:
            teleop.send(TARGET)  # at most one command per frame received
            time.sleep(0.01)
        taken = time.monotonic() - started
    finally:
        teleop.close()
    assert streams.results, f'no episode result after {timeout} s'
    return json.loads(streams.results[-1].data), list(commands), list(streams.joints), taken


def moved_toward_target(joints) -> bool:
    start = joint_state_to_numpy(joints[0], JOINTS)
    last = joint_state_to_numpy(joints[-1], JOINTS)
    return np.linalg.norm(last - TARGET) < np.linalg.norm(start - TARGET) - 10.0


def test_teleop_commands_move_the_pusher_of_a_realtime_sim(ros_processes, ros_probe):
    """Realtime: commands stamped 0, taken (none ends_in_past), the agent moves. Taken at
    any step of the episode but the last: one step toward the target moves the pusher 60 px
    of its 210 (the teleop asks the sim's mode before the episode: a busy machine delayed its
    first command by up to 3 s when it asked at that command)."""
    result, commands, joints, _ = teleop_episode(ros_probe, ros_processes, 'sim_teleop_rt',
                                                 'mode:=realtime', 'max_steps:=30')
    assert result['rejected'] == {}, result['rejected']
    assert result['first_command_step'] is not None, result
    assert result['first_command_step'] < 30 - 1, result  # taken before the last step
    assert commands and all(time_to_ns(c.header.stamp) == 0 for c in commands)
    assert moved_toward_target(joints), result


def test_a_lost_teleop_command_is_sent_again_for_the_republished_frame(ros_processes,
                                                                        ros_probe):
    """Lockstep: the commands carry their frames' stamps; the first one lost, the frame the
    sim republishes (every 0.3 s here) is answered again and no step waits for its timeout."""
    result, commands, joints, taken = teleop_episode(
        ros_probe, ros_processes, 'sim_teleop_ls', 'mode:=lockstep', 'max_steps:=10',
        'action_wait_timeout_s:=30.0', drop_first=True, timeout=25.0)
    assert result['action_timeouts'] == 0 and result['rejected'] == {}, result
    assert taken < 25.0  # a step left waiting would hold for its 30 s timeout
    observed = {time_to_ns(j.header.stamp) for j in joints}
    stamps = [time_to_ns(c.header.stamp) for c in commands]
    assert stamps[0] == result['start_stamp_ns']  # step 0's frame, answered on its republish
    assert set(stamps) <= observed, (stamps, sorted(observed))
    assert moved_toward_target(joints)


def test_a_sim_node_not_found_is_named(ros_probe):
    """No node of that name: the teleop says which it asked and how to name it."""
    from sim_bridge.teleop import TeleopNode

    teleop = TeleopNode('/nowhere', node_name='no_sim')
    try:
        with pytest.raises(RuntimeError, match=r'/nowhere/no_sim/get_parameters .*--node-name'):
            teleop.sim_mode(timeout=1.0)
    finally:
        teleop.close()


def test_the_stamp_rule_is_replays():
    assert answer_stamp_ns('lockstep', 1_200_000_000) == 1_200_000_000
    assert answer_stamp_ns('realtime', 1_700_000_000_000_000_000) == 0
    assert answer_stamp_ns('running node', 5) == 0  # replay against a node it did not start
