"""The lifecycle node's configure with a policy whose weights cannot be read (a truncated
model.safetensors: a CheckpointError; any other load failure too) fails as a FAILURE, said in one
line, and the node stays unconfigured, so that configure after the file is mended loads it.
An in-process node, never spun: the transitions are called directly."""
from __future__ import annotations

import shutil
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from dp_ros.ros.policy_lifecycle_node import PolicyLifecycleNode

SHIPPED = Path(__file__).resolve().parents[1] / 'checkpoints' / 'pusht_default'
WEIGHTS = 'model.safetensors'


def test_unreadable_weights_fail_configure_and_a_mended_file_configures(tmp_path):
    policy = tmp_path / 'policy'
    shutil.copytree(SHIPPED, policy)
    whole = (policy / WEIGHTS).read_bytes()
    (policy / WEIGHTS).write_bytes(whole[:len(whole) // 2])
    context = Context()
    rclpy.init(context=context)
    node = PolicyLifecycleNode(context=context, parameter_overrides=[
        Parameter('checkpoint', value=str(policy)), Parameter('cpu_threads', value=1)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node._state_machine.current_state[1] == 'unconfigured'
        assert node.core is None
        (policy / WEIGHTS).write_bytes(whole)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node._state_machine.current_state[1] == 'inactive'
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
