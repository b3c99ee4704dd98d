"""The pose wiring of dp_ros/app/sim_launcher.py (`dp-ros sim`, and the launch files through
launch_parameters) on both robots, without ROS processes. The point's parameter file draws
its joints (debug_path_joints [agent_x, agent_y]); a pose policy has no such joints, so the
wiring must replace every parameter that names action joints, or the policy node refuses
the run over a debug-only parameter (it did: `dp-ros sim --robot point` of any Cartesian
policy exited 2). README: the point robot takes the same topics, and pusht_sim.launch.py
wires such a policy the same way."""
from __future__ import annotations

from pathlib import Path

import pytest
from support import make_tiny_pose_checkpoint

from dp_ros.app.sim_launcher import build_parser, launch_parameters, session_from_args
from dp_ros.params import config_from_dict
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

TABLE = {'x': (236.0, 276.0), 'y': (236.0, 276.0)}  # px: the sim's pose fields


@pytest.fixture(scope='module')
def pose_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_pose_checkpoint(tmp_path_factory.mktemp('pose') / 'policy', seed=4,
                                     state='pose', bounds=TABLE)


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_the_launch_wiring_draws_the_targets_x_y_and_names_no_other_joints(pose_checkpoint,
                                                                          robot):
    """launch_parameters: the debug path is the action's x, y in table px (drawn in m, as
    the point's joints are), and the policy node takes the merged parameters."""
    _, policy = launch_parameters(pose_checkpoint, robot)
    assert policy['debug_path_joints'] == ['x', 'y']
    assert policy['debug_path_scale'] == 0.001
    assert set(policy['debug_path_joints']) <= set(policy['action_joint_names'])
    params = {k: v for k, v in policy.items() if k != 'use_sim_time'}
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, {
        **params, 'checkpoint': str(pose_checkpoint), 'device': 'cpu'}),
        read_policy_metadata(pose_checkpoint))
    names = policy['action_joint_names']
    assert [names[i] for i in setup.path_joints] == ['x', 'y']
    assert setup.path_pose is not None  # the path's poses carry the target's orientation


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_dp_ros_sim_checks_a_pose_policy_on_either_robot_without_refusing_it(pose_checkpoint,
                                                                             robot, tmp_path):
    """session_from_args runs the policy node's own check before anything starts: a pose
    policy passes it on the point robot (the default) as on the arm."""
    args = build_parser().parse_args([
        '--robot', robot, '--checkpoint', str(pose_checkpoint), '--seeds', '100000',
        '--no-video', '--device', 'cpu', '--logs', str(tmp_path / 'logs')])
    cfg = session_from_args(args)
    assert cfg.policy_overrides['debug_path_joints'] == ['x', 'y']
    assert cfg.sim_overrides == {'ee_pose_topic': 'ee_pose', 'pose_target_topic': 'target_pose'}
