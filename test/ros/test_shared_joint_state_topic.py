"""Two drivers on one joint-state topic, the policy node in its own process.

The arm's driver publishes the state joints on /arm/joint_states, its gripper's driver the
gripper (an action joint, not a state joint) on the same topic, as separate gripper
controllers do. Under a step limit, which needs every action joint's measured position,
the node plans, counts no bad message, and its stop holds both drivers' positions. The
conversion rules are unit-tested in test/test_conversions.py.
"""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import (
    RELIABLE,
    Feeder,
    holds_of_a_disable,
    is_hold,
    latest_diagnostics,
    node_cmd,
    wait_diag,
)
from ros.tiny_checkpoint import make_tiny_checkpoint
from sensor_msgs.msg import JointState
from support import edit_saved_policy
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

ARM = (250.0, 260.0)  # jx, jy: the state joints, from the arm's driver
GRIPPER = 300.0  # jg: from the gripper's driver, on the same topic


ARM_STREAM = 'agent_pos:/arm/joint_states [jx]'  # the two streams of the split topic
GRIPPER_STREAM = 'agent_pos:/arm/joint_states [jy]'


@contextlib.contextmanager
def split_topic(ros_processes, ros_probe, checkpoint, **params):
    """The node (`params`) fed jx and jy by two drivers on /arm/joint_states, read apart:
    (node, feeder, diagnostics, their values once chunks came and both streams filed)."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, **params))
    feeder = Feeder(ros_probe, position=ARM, gripper_topic='/arm/joint_states')
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks from the two streams')
        values = wait_diag(ros_probe, diags,
                           lambda d: int(d.get(f'input_{GRIPPER_STREAM}_filed', 0)) > 5, 20.0,
                           'both drivers filed')
        yield node, feeder, diags, values
    finally:
        feeder.close()


def test_a_gripper_driver_on_the_arms_topic_is_measured_not_bad(ros_processes, ros_probe,
                                                                 checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, action_joint_names='[jx,jg]', max_step_delta='[5.0,5.0]'))
    gripper_pub = ros_probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
    stop = threading.Event()

    def gripper_driver():
        while not stop.is_set():
            stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            gripper_pub.publish(cv.numpy_to_joint_state(np.array([GRIPPER]), ['jg'],
                                                        stamp=stamp))
            time.sleep(0.1)

    thread = threading.Thread(target=gripper_driver, daemon=True)
    thread.start()
    feeder = Feeder(ros_probe, position=ARM)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks under the step limit')
        values = wait_diag(ros_probe, diags, lambda d: int(d['input_agent_pos_received']) > 20,
                           20.0, 'both drivers heard')
        assert values['bad_messages'] == '0' and values['chunks_no_reference'] == '0', values
        [hold] = holds_of_a_disable(ros_probe, diags, node.log, trajs)
        assert list(hold.joint_names) == ['jx', 'jg']
        assert list(hold.points[0].positions) == [ARM[0], GRIPPER]  # each driver's
        assert latest_diagnostics(diags)['bad_messages'] == '0'
        assert node.alive(), node.log()
    finally:
        stop.set()
        thread.join(2.0)
        feeder.close()


def test_two_drivers_state_joints_on_one_topic_are_read_as_the_data_read_them(
        ros_processes, ros_probe, tmp_path):
    """The gripper is a state joint too, its driver and the arm's on one topic, each message
    with its own joint; the training data read them as two bag2zarr sources of the topic
    (test_bag2zarr_shared_topic.py). The node splits the topic alike: two streams, both
    filed, chunks planned, no bad message (before: every message refused as partial)."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'split')

    def recorded(policy):
        state = policy['config']['shape_meta']['obs']['agent_pos']
        state['sources'] = [{'kind': 'joint_state', 'topic': '/arm/joint_states', 'width': 1,
                             'field': 'position'} for _ in ('jx', 'jy')]
        state['names'] = ['jx', 'jy']
    edit_saved_policy(checkpoint, recorded)
    with split_topic(ros_processes, ros_probe, checkpoint) as (node, _, _, values):
        assert int(values[f'input_{ARM_STREAM}_filed']) > 5, values
        assert values['bad_messages'] == '0', values
        assert node.alive(), node.log()
        assert "/arm/joint_states ['jx'] + /arm/joint_states ['jy']" in node.log()


def test_drivers_named_by_hand_split_a_topic_the_data_did_not_record(ros_processes,
                                                                     ros_probe, checkpoint):
    """Data without recorded sources (the paper's zarr, a LeRobot set), the arm's and the
    gripper's driver on one topic: state_joint_drivers reads them as two streams, each
    counting only its own driver's messages as received, and a broken message (a joint
    named twice) is one bad message, not one per stream."""
    with split_topic(ros_processes, ros_probe, checkpoint,
                     state_joint_drivers='[arm,gripper]') as (node, feeder, diags, values):
        for stream in (ARM_STREAM, GRIPPER_STREAM):  # its driver's only: all filed
            received = int(values[f'input_{stream}_received'])
            assert received <= int(values[f'input_{stream}_filed']) + 2, (stream, values)
        assert values['bad_messages'] == '0', values
        broken = JointState(name=['jx', 'jx'], position=[1.0, 2.0])
        broken.header.stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
        # by the arm's driver (jx is its joint: from the gripper's publisher it would be a
        # second publisher of jx, refused with the driver's for a second)
        feeder.joint_pub.publish(broken)  # matched long since: not lost to discovery
        values = wait_diag(ros_probe, diags, lambda d: d['bad_messages'] != '0', 20.0,
                           'the broken message counted')
        # a second count would have come with the first: by the next diagnostics at the latest
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 20.0)
        assert latest_diagnostics(diags)['bad_messages'] == '1', latest_diagnostics(diags)
        assert node.alive(), node.log()
        assert "/arm/joint_states ['jx'] + /arm/joint_states ['jy']" in node.log()


def test_a_second_publisher_of_the_arms_joints_is_refused_with_the_driver_until_gone(
        ros_processes, ros_probe, checkpoint):
    """A joint_state_publisher left running beside the driver: its zeros between the arm's
    [250, 260] would be planned on and held at in turn. Both are refused while both publish
    (bad_joint_publishers, the publishers named), so the node stops on stale inputs, never
    holding at [0, 0]; once the stray is gone, chunks resume."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    stray = ros_probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
    stop = threading.Event()

    def stray_publisher():
        while not stop.is_set():
            stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds)
            stray.publish(cv.numpy_to_joint_state(np.zeros(2), ['jx', 'jy'], stamp=stamp))
            time.sleep(0.1)

    feeder = Feeder(ros_probe, position=ARM)
    thread = threading.Thread(target=stray_publisher, daemon=True)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks before the stray publisher')
        thread.start()
        wait_diag(ros_probe, diags, lambda d: int(d.get('bad_joint_publishers', 0)) > 5, 30.0,
                  'both publishers refused')
        ros_probe.wait_for(lambda: any(map(is_hold, trajs)), 20.0, 'the stale stop')
        assert "['jx', 'jy'] given by 2 publishers" in node.log()
        assert '/dp_ros_test_probe' in node.log()  # the publishers named by node
        stop.set()
        thread.join(2.0)
        n = len(trajs)
        ros_probe.wait_for_messages(trajs, n + 2, 60.0, 'chunks once the stray is gone')
        holds = [list(m.points[0].positions) for m in trajs if is_hold(m)]
        assert [0.0, 0.0] not in holds, holds
        assert node.alive(), node.log()
    finally:
        stop.set()
        feeder.close()
