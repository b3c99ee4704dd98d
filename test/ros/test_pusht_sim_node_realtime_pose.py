"""The sim node's Cartesian targets in realtime (the mode of config/pusht_arm_sim.yaml and of
`ros2 launch dp_ros pusht_arm_sim.launch.py checkpoint:=DIR`). A PoseStamped target is stamped
when it is sent (the policy node stamps each streamed target with its clock as the point
falls due), so each reaches the sim a little after its stamp. README: the sim takes pose
targets "as a Cartesian controller does: the IK's joints, due at the stamp and held": a late
one is taken on arrival. Before, every one was refused as a one-point trajectory ending in
the past ('ends_in_past'), and a realtime Cartesian policy never moved the robot."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger
from support import CONFIG_DIR, make_tiny_pose_checkpoint, module_cmd

from dp_ros.app.sim_launcher import node_environment
from dp_ros.ros.qos import LATCHED
from sim_bridge.arm_kinematics import DEFAULT_ARM

pytestmark = pytest.mark.ros

NS = '/pusht'
FRAME = 'pusht_workspace'
# the point closes half its distance to a target a step (within 1 px of one 22 px away
# after 5 steps; the arm's IK reaches it in one): 15 steps needed the first target taken by
# step 10, which the sender or the sim starved on a busy machine missed; 30, until step 25
STEPS = 30
RELIABLE = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE)


@pytest.mark.parametrize('robot, params', [('arm', 'pusht_arm_sim.yaml'),
                                           ('point', 'pusht_sim.yaml')])
def test_a_realtime_sim_takes_pose_targets_stamped_when_sent(ros_processes, ros_probe, robot,
                                                             params):
    """Targets stamped at send time are run (none refused) and the end effector reaches
    them, on the arm (its IK) and on the point (its x, y), however late in the episode the
    first one was taken (STEPS)."""
    poses = ros_probe.collect(PoseStamped, f'{NS}/ee_pose', RELIABLE)
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    env = {k: v for k, v in node_environment({}).items() if k != 'PYTHONUNBUFFERED'}
    sim = ros_processes.start(f'{robot}_sim', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', f'__ns:={NS}', '--params-file',
        str(CONFIG_DIR / params), '-p', 'mode:=realtime', '-p', 'autostart:=false',
        '-p', 'auto_reset:=false', '-p', f'max_steps:={STEPS}', '-p', 'seeds:=[100000]',
        '-p', 'ee_pose_topic:=ee_pose', '-p', 'pose_target_topic:=target_pose'), env=env)
    pub = ros_probe.publisher(PoseStamped, f'{NS}/target_pose', RELIABLE)
    ros_probe.wait_for_subscribers(pub, 1, 60.0)
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request(), timeout=60.0)
    assert reply.success, reply.message
    ros_probe.wait_for(lambda: poses, 30.0, 'the first end-effector pose')
    start = poses[-1].pose.position
    target = (start.x + 20.0, start.y + 10.0)
    if robot == 'arm':
        DEFAULT_ARM.inverse(np.array(target))  # reachable
    deadline = time.monotonic() + 60.0
    while not results and time.monotonic() < deadline:
        msg = PoseStamped()
        msg.header.frame_id = FRAME
        msg.header.stamp = ros_probe.node.get_clock().now().to_msg()  # when sent
        msg.pose.position.x, msg.pose.position.y = target
        msg.pose.orientation.w = 1.0
        pub.publish(msg)
        time.sleep(0.02)
    ros_probe.wait_for(lambda: results, 10.0, 'the episode result')
    result = json.loads(results[-1].data)
    assert sim.alive(), sim.log()
    assert result['rejected'] == {} and result['first_command_step'] is not None, result
    end = poses[-1].pose.position
    assert np.hypot(end.x - target[0], end.y - target[1]) < 1.0, (start, end, target, result)


def test_realtime_eval_of_a_cartesian_policy_has_its_targets_taken(tmp_path):
    """`dp-ros eval --via ros --robot arm --mode realtime` of a pose policy: the sim refuses
    none of the node's targets (ros.problems empty), as for a joint policy."""
    from ros.test_eval_ros import run_eval

    checkpoint = make_tiny_pose_checkpoint(
        tmp_path / 'pose', seed=4, state='pose', bounds={'x': (236.0, 276.0),
                                                         'y': (236.0, 276.0)})
    report = run_eval(checkpoint, 'ros', tmp_path / 'rt.json', '--robot', 'arm', '--mode',
                      'realtime', seeds='100001', max_steps=20)
    assert report['ros']['cartesian'] is True
    assert report['ros']['problems'] == {}, report['ros']
