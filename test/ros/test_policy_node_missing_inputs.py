"""Inputs that never give the policy node anything, and a remapped camera, over real topics:
the node's wiring of the reports (the rules: test_planning_loop_clock_inputs.py).

`dp-ros inspect --draft-params` drafts state_joint_names, action_joint_names and the camera
topics as FILL INs; one filled in and another forgotten left the node waiting in silence,
status OK, 0 bad messages.
"""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import qos_profile_sensor_data
from ros.test_policy_node import RELIABLE, Feeder, latest_diagnostics, node_cmd, wait_diag
from sensor_msgs.msg import Image

pytestmark = pytest.mark.ros


def warnings_naming(log: str, *words: str) -> list[str]:
    return [line for line in log.splitlines()
            if '[WARN]' in line and all(w in line for w in words)]


def test_state_joints_no_message_gives_and_a_camera_topic_nobody_publishes_on_are_reported(
        ros_processes, ros_probe, checkpoint):
    """Two inputs left as drafted, in one node (each is reported after the same wait,
    INPUT_WAIT_NS: one run observes both):

    Every JointState on the only state topic lacks all the state joints (it has jx, jy;
    the parameters say joint_0, joint_1), yet gives the action joints' positions, as another
    driver's would: a warning naming both (once) and WARN on /diagnostics.

    A camera topic left as drafted: joint states come, no frame ever does; a warning naming
    the topic (once) and WARN on /diagnostics, where it used to say only 'inputs: empty'.
    Each report names only its own input (the joint states are heard, the camera unread
    is not a joint-state stream), and the status message carries both."""
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, state_joint_names='[joint_0,joint_1]',
        image_topics='[/FILL_IN/camera_0/image_raw]', torchscript=False, warmup=False))
    feeder = Feeder(ros_probe, position=(200.0, 250.0))
    try:  # the diagnostics once both are set, two more waited for (the log written)
        values = wait_diag(ros_probe, diags, lambda d: d.get('inputs_unread')
                           and d.get('inputs_unheard'), 90, 'inputs_unread and '
                           'inputs_unheard reported')
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 10.0)
    finally:
        feeder.close()
    # the state joints no message gives
    assert values['input_agent_pos_filed'] == '0' and values['inputs_unread'] == 'agent_pos'
    status = diags[-1].status[0]
    assert status.level == DiagnosticStatus.WARN, status
    assert 'no message gives the joints of input(s): agent_pos' in status.message
    warned = warnings_naming(node.log(), "['joint_0', 'joint_1']", "['jx', 'jy']",
                             '/arm/joint_states')
    assert len(warned) == 1, node.log()
    # the camera topic nobody publishes on
    assert values['inputs_unheard'] == 'image', values
    assert 'no message on input(s): image' in status.message, status
    assert len(warnings_naming(node.log(), "input 'image'",
                               '/FILL_IN/camera_0/image_raw')) == 1, node.log()
    assert latest_diagnostics(diags)['input_agent_pos_received'] != '0'


def test_a_remapped_camera_topic_is_type_checked_where_it_is_subscribed(ros_processes,
                                                                        ros_probe,
                                                                        checkpoint):
    """image_topics /cam/image_raw remapped (-r) to /cam/remapped: the node subscribes to
    /cam/remapped and its type warning must name it. Defect: the warning named the topic as
    written, /cam/image_raw, on which nothing is published (rclpy did remap the lookup)."""
    node = ros_processes.start('policy', node_cmd(
        checkpoint, compressed_images=True, torchscript=False, warmup=False)
        + ['-r', '/cam/image_raw:=/cam/remapped'])
    camera = ros_probe.publisher(Image, '/cam/remapped', qos_profile_sensor_data)
    node.wait_for_log("camera 'image': /cam/remapped is published as ['sensor_msgs/msg/Image'], "
                      'the node subscribes to sensor_msgs/msg/CompressedImage', 120)
    assert camera.get_subscription_count() == 0  # the type mismatch: DDS never matches them
    assert "camera 'image': /cam/image_raw is published" not in node.log()
