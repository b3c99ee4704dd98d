"""Review of dp_ros/ros/policy_node.py's wiring (hand mutation testing): what the existing
node tests (test_policy_node.py, test_policy_safety.py, ...) left unpinned.

The policy node in its own process, the probe playing camera, drivers and controllers, a tiny
random checkpoint. Asserted: QoS a late joiner depends on, measurements taken from a refused
message, a skipped pose target counted, false warnings, the diagnostics period (per-topic
frames: in test_policy_node.py's split-controllers run). Order, counts and lower bounds on
stamps, never upper wall-clock margins.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import (
    EPISODE_TOPIC,
    LATCHED,
    RELIABLE,
    Feeder,
    announce,
    holds_of_a_disable,
    latest_diagnostics,
    node_cmd,
    wait_diag,
)
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

ARM = (250.0, 260.0)  # where the feeder's jx, jy stand
GRIPPER = 300.0  # jg: only in the partial driver's messages


def test_an_episode_announced_before_the_node_started_is_planned(ros_processes, ros_probe,
                                                                 checkpoint):
    """The episode_start subscription is latched: a node started after the sim announced its
    episode (a restarted node, a slow start) still plans it, with the announced seed."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    episodes = ros_probe.publisher(String, EPISODE_TOPIC, LATCHED)
    announce(episodes, ros_probe, 3, 9)  # before the node exists
    node = ros_processes.start('policy', node_cmd(checkpoint, episode_start_topic=EPISODE_TOPIC))
    feeder = Feeder(ros_probe)
    try:
        wait_diag(ros_probe, diags, lambda d: int(d['input_image_filed']) > 2, 60.0,
                  'filed inputs')
        ros_probe.wait_for_messages(trajs, 2, 30.0, 'chunks of the announced episode')
        wait_diag(ros_probe, diags, lambda d: d['env_seed'] == '9', 10.0, 'seed 9')
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_a_partial_joint_state_still_measures_its_action_joints(ros_processes, ros_probe,
                                                                checkpoint):
    """A JointState giving jx (a state joint) but not jy is refused (joint_unknown) yet its
    action joints are a measurement: jg, measured only there, is what the stop holds."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, action_joint_names='[jx,jg]', max_step_delta='[5.0,5.0]'))
    stop = threading.Event()
    feeder = Feeder(ros_probe, position=ARM)

    def partial_driver():  # the driver's own publisher: a second one of jx is refused
        while not stop.is_set():
            stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            feeder.joint_pub.publish(cv.numpy_to_joint_state(np.array([ARM[0], GRIPPER]),
                                                             ['jx', 'jg'], stamp=stamp))
            time.sleep(0.1)

    thread = threading.Thread(target=partial_driver, daemon=True)
    thread.start()
    try:
        wait_diag(ros_probe, diags, lambda d: int(d.get('bad_joint_unknown', 0)) > 2, 60.0,
                  'the partial messages refused')
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks under the step limit')
        [hold] = holds_of_a_disable(ros_probe, diags, node.log, trajs)
        assert list(hold.joint_names) == ['jx', 'jg']
        assert list(hold.points[0].positions) == [ARM[0], GRIPPER]  # jg: the partial's
        assert node.alive(), node.log()
    finally:
        stop.set()
        thread.join(2.0)
        feeder.close()


def test_a_pose_target_of_no_orientation_is_skipped_and_counted(ros_processes, ros_probe,
                                                                tmp_path):
    """A quaternion policy whose orientation bounds clamp every target to (0, 0, 0, 0): no
    target can be sent; each is skipped, logged once and counted as pose_targets_skipped
    (the node keeps running)."""
    from support import make_tiny_pose_checkpoint

    fields = ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')
    names = '[' + ','.join(["'y'" if f == 'y' else f for f in fields]) + ']'
    policy = make_tiny_pose_checkpoint(tmp_path / 'quat_policy', state='pose', action=fields)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        policy, joint_state_topic='/arm/ee_pose', state_joint_names=names,
        state_pose_topics='[/arm/ee_pose]', action_topic='/arm/target_pose',
        action_joint_names=names, action_pose_topics='[/arm/target_pose]',
        frame_id='base_link', action_lower='[0.3,-0.1,0.1,0.0,0.0,0.0,0.0]',
        action_upper='[0.5,0.1,0.3,0.0,0.0,0.0,0.0]'))
    feeder = Feeder(ros_probe, position=(0.4, 0.05, 0.2), pose_topic='/arm/ee_pose',
                    quaternion=(0.0, 0.0, 0.0, 1.0))
    try:
        wait_diag(ros_probe, diags, lambda d: int(d['pose_targets_skipped']) > 2
                  and int(d['chunks_published']) > 0, 60.0, 'skipped pose targets')
        assert node.log().count('pose target not sent') == 1, node.log()
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_diagnostics_come_at_the_configured_period_and_no_camera_type_warning_without_a_camera(
        ros_processes, ros_probe, checkpoint):
    """diagnostics_period_s is the timer's period: messages 0 and 3 span at least two
    periods of 3 s, less the time message 0's callback took to stamp it (a second allowed;
    the default 1 s would give 3 s). A lower bound however busy the machine, however late
    message 0 came: a timer never fires early, and the one after a late firing is due on the
    first period boundary after it (rcl's timer skips the boundaries it missed), so message 1
    comes at the earliest when message 0 did, each later one a period after the last.

    The same run, where no camera is published: the type-mismatch warning is for a camera
    published as another type; a camera not (yet) published at all is not one (a false 'it
    receives nothing from it'). The node checks the camera's type at each diagnostics: four
    checks here."""
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, diagnostics_period_s=3.0))
    msgs = ros_probe.wait_for_messages(diags, 4, 90.0, 'four diagnostics')
    stamps = [cv.time_to_ns(m.header.stamp) for m in msgs[:4]]
    assert stamps == sorted(stamps)
    assert stamps[3] - stamps[0] >= 5.0 * cv.NS_PER_S, stamps  # 9 s nominal
    assert latest_diagnostics(msgs[:4])['input_image_received'] == '0'
    assert 'is published as' not in node.log(), node.log()
    assert node.alive(), node.log()


def test_lockstep_without_sim_time_exits_2_with_one_line(ros_processes, checkpoint):
    """lockstep on wall time would never plan ("now" is never the sim's observation time):
    the node refuses to start, one line naming the remedy, exit 2."""
    proc = ros_processes.start('lockstep_wall', node_cmd(checkpoint, lockstep=True))
    assert proc.popen.wait(60) == 2, proc.log()
    lines = [line for line in proc.log().splitlines() if 'invalid configuration' in line]
    assert len(lines) == 1 and 'lockstep needs use_sim_time:=true' in lines[0], proc.log()
    assert 'Traceback' not in proc.log()
