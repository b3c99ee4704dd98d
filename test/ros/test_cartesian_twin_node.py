"""A Cartesian policy closed-loop against the arm twin over real topics: the sim publishes its
end effector's pose (ee_pose_topic) and takes PoseStamped targets (pose_target_topic), the
policy node reads that pose (state_pose_topics) and sends its targets (action_pose_topics),
each in its own process, in lockstep, as `dp-ros sim --robot arm` starts them for such a
checkpoint (the sim launcher's commands with its Cartesian overrides), or as launch_ros starts
pusht_arm_sim.launch.py's nodes (launch_parameter_files: the parameter files with the wiring
applied, then each launch dict a parameter file of its own). A tiny random policy
whose actions are end-effector poses over the table: this is the wiring, checked by stamps,
counts and the kinematics; the rules (the IK, the refusals, one step per target) are
unit-tested in test/test_cartesian_twin.py."""
from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros.test_policy_node import latest_diagnostics
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from support import make_tiny_pose_checkpoint, module_cmd

from dp_ros.app.sim_launcher import (
    SIM_NAMESPACE,
    SessionConfig,
    cartesian_overrides,
    launch_parameter_files,
    node_environment,
    policy_command,
    sim_command,
)
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.ros.conversions import time_to_ns
from dp_ros.ros.qos import LATCHED
from sim_bridge.cartesian import PlanarCartesian

pytestmark = pytest.mark.ros

NS = SIM_NAMESPACE
FRAME = 'pusht_workspace'
STEPS = 12
DT = 100_000_000
RELIABLE = QoSProfile(depth=500, reliability=ReliabilityPolicy.RELIABLE)
NEAR = {'x': (236.0, 276.0), 'y': (236.0, 276.0)}  # px: targets within 40 px of each other


def launch_commands(checkpoint, sim_extra: dict, policy_extra: dict, tmp_path
                    ) -> tuple[list[str], list[str]]:
    """The sim's and the policy node's command lines as launch_ros builds them from
    pusht_arm_sim.launch.py in lockstep: the Node's parameter file, then each parameter dict
    written to a file of its own as launch_ros writes it (yaml.dump; the node's section: its
    full name where the Node names a namespace, else /**), in the order of the Node's list,
    then the test's own."""
    sim_file, policy_file = launch_parameter_files(checkpoint, 'arm', tmp_path)

    def files(node: str, section: str, first: Path, *dicts: dict) -> list[str]:
        out = ['--params-file', str(first)]
        for i, params in enumerate(dicts):
            path = tmp_path / f'launch_params_{node}_{i}.yaml'
            path.write_text(yaml.dump({section: {'ros__parameters': params}},
                                      default_flow_style=False))
            out += ['--params-file', str(path)]
        return out

    sim = module_cmd('sim_bridge.pusht_sim_node', '--ros-args', '-r', '__node:=pusht_sim',
                     '-r', f'__ns:={NS}', *files('sim', f'{NS}/pusht_sim', sim_file,
                                                 {'mode': 'lockstep'}, sim_extra))
    policy = module_cmd('dp_ros.ros.policy_node', '--ros-args', '-r', '__node:=dp_policy',
                        *files('policy', '/**', policy_file,
                               {'checkpoint': str(checkpoint), 'device': 'cpu',
                                'lockstep': True, 'use_sim_time': True}, policy_extra))
    return sim, policy


@pytest.mark.parametrize('wiring', ['dp-ros sim', 'launch'])
def test_a_cartesian_policy_drives_the_arm_twin_in_lockstep(ros_processes, ros_probe,
                                                           tmp_path, wiring):
    checkpoint = make_tiny_pose_checkpoint(tmp_path / 'pose', seed=4, state='pose',
                                           bounds=NEAR)
    sim_params, policy_params = cartesian_overrides(read_policy_metadata(checkpoint))
    test_policy_params = {'n_action_steps': 0, 'diagnostics_period_s': 0.25}
    cfg = SessionConfig(
        checkpoint=checkpoint, seeds=[100001], robot='arm', max_steps=STEPS, device='cpu',
        cpu_threads=1, sim_overrides=sim_params,
        policy_overrides={**policy_params, **test_policy_params})
    sim_cmd, policy_cmd = sim_command(cfg), policy_command(cfg)
    if wiring == 'launch':
        sim_cmd, policy_cmd = launch_commands(
            checkpoint, {'seeds': cfg.seeds, 'max_steps': STEPS, 'auto_reset': False,
                         'autostart': False},
            {'env_seed': cfg.seeds[0], 'cpu_threads': 1, **test_policy_params}, tmp_path)
    joints = ros_probe.collect(JointState, f'{NS}/joint_states', RELIABLE)
    poses = ros_probe.collect(PoseStamped, f'{NS}/ee_pose', RELIABLE)
    targets = ros_probe.collect(PoseStamped, f'{NS}/target_pose', RELIABLE)
    results = ros_probe.collect(String, f'{NS}/episode_result', LATCHED)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    # the shipped Fast DDS profile, as dp-ros sim gives its nodes
    env = {k: v for k, v in node_environment({}).items() if k != 'PYTHONUNBUFFERED'}
    policy = ros_processes.start('policy', policy_cmd, env=env)
    sim = ros_processes.start('arm_sim', sim_cmd, env=env)
    ros_probe.call(Trigger, '/dp_policy/reset', Trigger.Request(), timeout=120.0)
    reply = ros_probe.call(Trigger, f'{NS}/reset', Trigger.Request(), timeout=60.0)
    assert reply.success, reply.message

    ros_probe.wait_for(lambda: results, 120.0, 'the episode result')
    result = json.loads(results[-1].data)
    assert result['steps'] == STEPS and result['action_timeouts'] == 0, result
    assert result['rejected'] == {}, result
    # the node's counts settle: two more diagnostics after the episode
    ros_probe.wait_for_more(diags, '/diagnostics', 2, 20.0)
    values = latest_diagnostics(diags)
    assert values['bad_messages'] == '0' and values.get('pose_targets_skipped', '0') == '0'
    assert policy.alive() and sim.alive(), policy.log() + sim.log()

    # one target per step, each stamped for its step (sim time from the episode's start)
    start = result['start_stamp_ns']
    stamps = [time_to_ns(m.header.stamp) - start for m in targets]
    assert stamps[:STEPS] == [k * DT for k in range(STEPS)], stamps
    assert {m.header.frame_id for m in targets} == {FRAME}
    # the end effector's pose is the forward kinematics of the joints stamped with it
    arm = PlanarCartesian.of_robot('arm', FRAME)
    by_stamp = {time_to_ns(m.header.stamp): np.array(m.position) for m in joints}
    checked = 0
    for m in poses:
        q = by_stamp.get(time_to_ns(m.header.stamp))
        if q is None:
            continue
        x, y, yaw = arm.pose(q)
        o = m.pose.orientation
        assert (m.pose.position.x, m.pose.position.y, m.pose.position.z) == (x, y, 0.0)
        assert 2 * math.atan2(o.z, o.w) == pytest.approx(yaw, abs=1e-9)
        checked += 1
    assert checked >= 10 * STEPS  # the arm's 100 Hz states, each with its pose
    # the arm went where it was sent: a step that the joints' speed and acceleration limits
    # allow (targets near each other: NEAR) ends exactly on the joints of its target's IK,
    # which no other rule would give (lockstep: the same steps on every run)
    ends = np.array([by_stamp[start + (k + 1) * DT] for k in range(STEPS)])
    sent = np.array([arm.joints(FRAME, m.pose.position.x, m.pose.position.y)
                     for m in targets[:STEPS]])
    reached = np.abs(ends - sent).max(axis=1) < 1e-9
    assert reached.sum() >= STEPS // 3, np.abs(ends - sent).max(axis=1)
    assert np.ptp(ends, axis=0).max() > 0.05  # the arm moved


def test_ros_eval_of_a_cartesian_policy_equals_the_in_process_cartesian_arm(tmp_path):
    """`dp-ros eval --via ros` runs a policy whose action is a whole pose through the sim's
    pose topics (as `dp-ros sim`), and in lockstep scores it exactly as the
    in-process CartesianArmEnv does: same observations (the pose's fields decoded alike),
    same IK, and a target out of reach held and counted on both sides, not waited on."""
    from ros.test_eval_ros import run_eval

    # targets over the table and up to the pedestal, where the arm cannot reach
    checkpoint = make_tiny_pose_checkpoint(tmp_path / 'pose', seed=4, state='pose',
                                           bounds={'x': (0.0, 512.0), 'y': (0.0, 700.0)})

    def run(via: str) -> dict:
        return run_eval(checkpoint, via, tmp_path / f'{via}.json', '--robot', 'arm',
                        '--batch-size', '1', seeds='100000,100001', max_steps=24,
                        sample_seed=0)

    # the two evaluations are independent processes (the in-process one never touches ROS):
    # run side by side, each waited for whole
    with ThreadPoolExecutor(2) as pool:
        inprocess, ros = pool.map(run, ('inprocess', 'ros'))
    assert ros['ros']['cartesian'] is True and ros['ros']['mode'] == 'lockstep'
    assert ros['episode_steps'] == inprocess['episode_steps'] == [24, 24]
    assert [e['score'] for e in ros['episodes']] == [e['score'] for e in inprocess['episodes']]
    refused_ros = sum(p['rejected'].get('unreachable', 0) for p in ros['ros']['problems'].values())
    assert refused_ros == inprocess['refused_targets']['unreachable'] > 0
    assert all(set(p['rejected']) == {'unreachable'} and p['action_timeouts'] == 0
               for p in ros['ros']['problems'].values())
