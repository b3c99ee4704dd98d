"""A list parameter's default is visible through ROS's parameter services: they were declared
unset, so `ros2 param get /dp_policy image_topics` said "Parameter not set" while the node used
['/pusht/image_raw'] (a review's finding). Overrides, -p and a YAML file's, still replace it;
an empty list default stays unset (rclpy would type [] as a byte array)."""
from __future__ import annotations

import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from ros.test_policy_node import node_cmd

pytestmark = pytest.mark.ros


def test_list_defaults_and_overrides_are_what_get_parameters_says(ros_processes, ros_probe,
                                                                  checkpoint, tmp_path):
    params = tmp_path / 'params.yaml'
    params.write_text('/**/dp_policy:\n  ros__parameters:\n    max_step_delta: [5.0, 6.0]\n')
    node = ros_processes.start('policy', [*node_cmd(checkpoint), '--params-file', str(params)])
    node.wait_for_log('policy', 60.0)
    names = ['stop_deceleration', 'image_topics', 'max_step_delta', 'action_joint_topics']
    reply = ros_probe.call(GetParameters, '/dp_policy/get_parameters',
                           GetParameters.Request(names=names), timeout=30.0)
    got = dict(zip(names, reply.values, strict=True))
    assert got['stop_deceleration'].type == ParameterType.PARAMETER_DOUBLE_ARRAY  # the default
    assert list(got['stop_deceleration'].double_array_value) == [0.0]
    assert got['image_topics'].type == ParameterType.PARAMETER_STRING_ARRAY  # -p
    assert list(got['image_topics'].string_array_value) == ['/cam/image_raw']
    assert list(got['max_step_delta'].double_array_value) == [5.0, 6.0]  # the YAML file
    assert got['action_joint_topics'].type == ParameterType.PARAMETER_NOT_SET  # [] default
