"""A policy node whose command topic nobody subscribes to (a controller not loaded, not
configured, or listening under another name) or only a subscriber of an incompatible QoS
says so, in its log and on /diagnostics (WARN, outputs_unheard), and stops saying it once a
subscriber matches: before, it published its chunks to no one and nothing anywhere said why
the arm stood still. Topics are named as published, in the node's namespace (a review found
the parameter's relative name said). Another node publishing on a command topic too is said
(outputs_contended, WARN) until it is gone."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros.test_policy_node import RELIABLE, Feeder, latest_diagnostics, node_cmd
from ros.tiny_checkpoint import make_tiny_checkpoint
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros

NOBODY = '/left/nobody/joint_trajectory'  # jx: 'nobody/joint_trajectory' in namespace /left
LATCHING = '/left/latching/joint_trajectory'  # jy: read only by a transient-local subscriber


def test_command_topics_without_a_matched_subscriber_are_said_until_one_matches(
        ros_processes, ros_probe, tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny')
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    ros_probe.collect(JointTrajectory, LATCHING, QoSProfile(  # asks what the node never offers
        depth=1, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    node = ros_processes.start('policy', [*node_cmd(
        checkpoint, action_joint_topics='[nobody/joint_trajectory,latching/joint_trajectory]',
        torchscript=False), '-r', '__ns:=/left'])
    feeder = Feeder(ros_probe)
    both = f'{LATCHING}, {NOBODY}'
    try:
        ros_probe.wait_for(lambda: diags and latest_diagnostics(diags).get(
            'outputs_unheard') == both, 60.0, 'the unheard command topics on /diagnostics')
        status = diags[-1].status[0]
        assert status.level == DiagnosticStatus.WARN
        assert f'no subscriber on command topic(s): {both}' in status.message
        assert int(latest_diagnostics(diags)['chunks_published']) > 0
        nobody = f'{NOBODY}: the node publishes its commands there and no subscriber'
        latching = (f'{LATCHING}: the node publishes its commands there and its 1 '
                    "subscriber(s) do not match the node's publisher (an incompatible QoS")
        ros_probe.wait_for(lambda: nobody in node.log() and latching in node.log(), 10.0,
                           'the two warnings')
        heard = [ros_probe.collect(JointTrajectory, t, RELIABLE) for t in (NOBODY, LATCHING)]
        ros_probe.wait_for(lambda: all(len(h) >= 2 for h in heard), 30.0, 'chunks now heard')
        ros_probe.wait_for(lambda: latest_diagnostics(diags).get('outputs_unheard') == '',
                           20.0, 'the topics heard on /diagnostics')
        # another node publishing on a command topic too (a teleop): said, WARN, until gone
        rival = ros_probe.publisher(JointTrajectory, NOBODY, RELIABLE)
        probe = ros_probe.node.get_fully_qualified_name()
        ros_probe.wait_for(lambda: latest_diagnostics(diags).get(
            'outputs_contended') == f'{NOBODY} ({probe})', 30.0, 'the other publisher said')
        assert diags[-1].status[0].level == DiagnosticStatus.WARN
        assert f'{NOBODY}: {probe} publish(es) there too' in node.log()
        ros_probe.node.destroy_publisher(rival)
        ros_probe.wait_for(lambda: latest_diagnostics(diags).get('outputs_contended') == '',
                           30.0, 'the other publisher gone from /diagnostics')
        assert node.alive(), node.log()
    finally:
        feeder.close()
