"""The shipped realtime sim (auto_reset: true, as `ros2 launch dp_ros pusht_sim.launch.py
mode:=realtime` and pusht_arm_sim.launch.py run it) teleports the robot to the next episode's
initial state and then announces the episode. The policy node's episode-start hold (realtime,
a plan running) must not command the previous episode's last measured position into the new
episode: when the announcement is handled before the new episode's first joint state, the
hold's "measured position" is the old episode's, the sim accepts it (stamp 0: now) and, while
the first chunk is still being sampled, drives the robot back toward where the last episode
ended (found by a regression run of this session's episode-start hold). The hold is now at a
position measured since the announced start, or owed to the next stop."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from support import make_tiny_checkpoint, module_cmd

from dp_ros.app.sim_launcher import SIM_NAMESPACE, launch_parameter_files
from dp_ros.ros.conversions import time_to_ns
from dp_ros.ros.qos import LATCHED

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE)
EPISODES = 12  # the race (announcement before the first state) came in 1 to 4 of 8
LATENCY_S = 0.5  # every chunk takes this long: none can move the robot before it
QUIET_NS = 400_000_000  # so the first 0.4 s of an episode belong to the reset pose


def test_a_new_episode_is_not_driven_toward_the_previous_episodes_end(
        ros_processes, ros_probe, tmp_path):
    """Realtime point sim with auto_reset, slow sampling: in the first 0.4 s of every
    episode (before any chunk can be due) the pusher stays at its reset pose."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny')
    sim_file, policy_file = launch_parameter_files(checkpoint, 'point', tmp_path)
    states = ros_probe.collect(JointState, f'{SIM_NAMESPACE}/joint_states', RELIABLE)
    episodes = ros_probe.collect(String, f'{SIM_NAMESPACE}/episode_start', LATCHED)
    ros_processes.start('policy', module_cmd(
        'dp_ros.ros.policy_node', '--ros-args', '-r', '__node:=dp_policy', '--params-file',
        str(policy_file), '-p', f'checkpoint:={checkpoint}', '-p', 'device:=cpu',
        '-p', 'cpu_threads:=1', '-p', 'lockstep:=false', '-p', 'use_sim_time:=false',
        '-p', f'debug_extra_latency_s:={LATENCY_S}'))
    ros_processes.start('sim', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', '__node:=pusht_sim', '-r',
        f'__ns:={SIM_NAMESPACE}', '--params-file', str(sim_file), '-p', 'mode:=realtime',
        '-p', 'max_steps:=8'))

    def last_window_heard() -> bool:
        """The last checked episode announced and a joint state past its first 0.4 s in:
        not only its announcement, whose early states may still be on their way (a loaded
        machine: `make test` runs this beside the other tests)."""
        if len(episodes) < EPISODES + 1:
            return False
        start = int(json.loads(list(episodes)[EPISODES].data)['start_ns'])
        return any(time_to_ns(m.header.stamp) > start + QUIET_NS for m in list(states))

    ros_probe.wait_for(last_window_heard, 90.0, f'{EPISODES} episodes and their first 0.4 s')

    stamped = [(time_to_ns(m.header.stamp), np.array(m.position)) for m in list(states)]
    moved = []
    for message in list(episodes)[1:EPISODES + 1]:  # the first has no previous plan
        episode = json.loads(message.data)
        start = int(episode['start_ns'])
        early = [p for t, p in stamped if start <= t <= start + QUIET_NS]
        assert early, f'no joint state early in episode {episode["episode"]}'
        drift = max(float(np.abs(p - early[0]).max()) for p in early)
        if drift > 1e-6:
            moved.append((episode['episode'], round(drift, 1)))
    assert not moved, ('episodes whose pusher moved before any chunk was due (episode, px): '
                       f'{moved}')
