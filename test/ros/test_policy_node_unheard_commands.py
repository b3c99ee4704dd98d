"""A policy node whose command topic nobody subscribes to (a controller not loaded, not
active, or listening under another name) says so, in its log and on /diagnostics (WARN,
outputs_unheard), and stops saying it once a subscriber appears: before, it published its
chunks to no one and nothing anywhere said why the arm stood still. The topic is named as
published, in the node's namespace (a review found the parameter's relative name said)."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros.test_policy_node import RELIABLE, Feeder, latest_diagnostics, node_cmd
from ros.tiny_checkpoint import make_tiny_checkpoint
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros

TOPIC = '/left/nobody/joint_trajectory'  # 'nobody/joint_trajectory' in namespace /left


def test_a_command_topic_without_a_subscriber_is_said_until_one_subscribes(
        ros_processes, ros_probe, tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny')
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', [*node_cmd(
        checkpoint, action_topic='nobody/joint_trajectory', torchscript=False),
        '-r', '__ns:=/left'])
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for(lambda: diags and latest_diagnostics(diags).get(
            'outputs_unheard') == TOPIC, 60.0, 'the unheard command topic on /diagnostics')
        status = diags[-1].status[0]
        assert status.level == DiagnosticStatus.WARN
        assert f'no subscriber on command topic(s): {TOPIC}' in status.message
        assert int(latest_diagnostics(diags)['chunks_published']) > 0
        said = f'{TOPIC}: the node publishes its commands there and no subscriber'
        ros_probe.wait_for(lambda: said in node.log(), 10.0, 'the warning')
        trajs = ros_probe.collect(JointTrajectory, TOPIC, RELIABLE)  # a controller appears
        ros_probe.wait_for_messages(trajs, 2, 30.0, 'chunks now heard')
        ros_probe.wait_for(lambda: latest_diagnostics(diags).get('outputs_unheard') == '',
                           20.0, 'the topic heard on /diagnostics')
        # said each time it goes unheard (a starved feeder may pause the plans for 2 s)
        assert node.log().count(said) >= 1
        assert node.alive(), node.log()
    finally:
        feeder.close()
