"""The twin's Cartesian interface without ROS (sim_bridge/cartesian.py): the end effector's
pose of both robots, the joints of a target, and a target's refusals as the stepper counts
them. The interface over real topics: test/ros/test_cartesian_twin_node.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_episode_stepper import DT, make_arm
from test_episode_stepper import make as make_point

from sim_bridge.arm_kinematics import DEFAULT_ARM
from sim_bridge.cartesian import PlanarCartesian
from sim_bridge.trajectory_follower import TrajectoryRejected

FRAME = 'pusht_workspace'


def test_the_points_pose_is_its_position_and_a_target_its_joints():
    point = PlanarCartesian.of_robot('point', FRAME)
    assert point.pose(np.array([120.0, 300.5])) == (120.0, 300.5, 0.0)
    assert point.joints(FRAME, 10.0, 20.0).tolist() == [10.0, 20.0]
    assert point.joints('', 10.0, 20.0).tolist() == [10.0, 20.0]  # '' is the sim's frame


def test_the_arms_target_joints_put_its_end_effector_there_over_the_table():
    arm = PlanarCartesian.of_robot('arm', FRAME)
    assert arm.arm is DEFAULT_ARM
    grid = np.linspace(5.0, 507.0, 9)
    for x in grid:
        for y in grid:
            q = arm.joints(FRAME, float(x), float(y))
            px, py, yaw = arm.pose(q)
            assert (px, py) == pytest.approx((x, y), abs=1e-9)
            # the yaw is the end link's direction: from the wrist to the end effector
            wrist, tip = DEFAULT_ARM.joint_points(q)[2:]
            assert yaw == pytest.approx(math.atan2(*(tip - wrist)[::-1]), abs=1e-12)
            assert -math.pi < yaw <= math.pi


@pytest.mark.parametrize('robot, frame, x, y, kind', [
    ('point', 'base_link', 100.0, 100.0, 'frame_id'),
    ('arm', 'base_link', 100.0, 100.0, 'frame_id'),
    ('point', FRAME, math.nan, 100.0, 'non_finite'),
    ('arm', FRAME, 100.0, math.inf, 'non_finite'),
    ('arm', FRAME, 256.0, 600.0, 'unreachable'),  # next to the shoulder
    ('arm', FRAME, 256.0, -200.0, 'unreachable'),  # beyond the arm's reach
])
def test_a_target_it_cannot_take_is_refused_by_kind(robot, frame, x, y, kind):
    with pytest.raises(TrajectoryRejected) as raised:
        PlanarCartesian.of_robot(robot, FRAME).joints(frame, x, y)
    assert raised.value.kind == kind
    assert (FRAME in str(raised.value)) == (kind == 'frame_id')


def started_episode(robot: str, max_steps: int):
    """A lockstep stepper of `robot` with its first episode started, and its recorder."""
    make = make_arm if robot == 'arm' else make_point
    stepper, rec = make(seeds=[5], auto_reset=False, max_steps=max_steps)
    stepper.start_episode()
    return stepper, rec


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_lockstep_steps_on_each_cartesian_target_and_counts_the_refused(robot):
    stepper, rec = started_episode(robot, max_steps=3)
    target = (200.0, 250.0)
    start = stepper.follower.target
    assert not stepper.receive_pose('base_link', 0, *target, 0)
    assert not stepper.receive_pose(FRAME, 0, 256.0, 600.0, 0)  # off the table
    # a refused target holds the robot for its step (no lockstep wait on another target)
    assert stepper.action_ready() and stepper.follower.peek(0).tolist() == start.tolist()
    for k in range(3):
        # a target stamped for the step (a Cartesian controller's target: due at once, held)
        assert stepper.receive_pose(FRAME, k * DT, *target, 0)
        assert stepper.action_ready()
        stepper.lockstep_step()
        assert not stepper.action_ready()  # the next step waits for its own target
    result = rec.results[0]
    # the point's workspace is the table; the arm's IK refuses what it cannot reach
    expected = {'frame_id': 1, 'unreachable' if robot == 'arm' else 'out_of_workspace': 1}
    assert result['rejected'] == expected and result['action_timeouts'] == 0
    applied = (stepper.env.latest_joint_target if robot == 'arm'
               else stepper.env.latest_action)
    assert applied.tolist() == stepper.cartesian.joints(FRAME, *target).tolist()


def shape_meta(action: list[str], state: list[str]) -> dict:
    return {'config': {'shape_meta': {
        'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                'joint_pos': {'shape': [len(state)], 'type': 'low_dim', 'names': state}},
        'action': {'shape': [len(action)], 'names': action}}}}


def test_dp_ros_sim_cartesian_wires_the_checkpoints_pose_fields_to_the_sims_topics():
    from dp_ros.app.sim_launcher import cartesian_overrides

    sim, policy = cartesian_overrides(shape_meta(['x', 'y', 'z', 'yaw'], ['x', 'y', 'yaw']))
    assert sim == {'ee_pose_topic': 'ee_pose', 'pose_target_topic': 'target_pose'}
    assert policy['state_pose_topics'] == [policy['joint_state_topic']] == ['/pusht/ee_pose']
    assert policy['action_pose_topics'] == [policy['action_topic']] == ['/pusht/target_pose']
    assert policy['state_joint_names'] == ['x', 'y', 'yaw']
    assert policy['action_joint_names'] == ['x', 'y', 'z', 'yaw']
    # the parameter files' per-joint bounds would not fit pose fields
    assert policy['action_lower'] == policy['action_upper'] == policy['max_step_delta'] == []


@pytest.mark.parametrize('action, state, match', [
    (['shoulder', 'elbow', 'wrist'], ['shoulder', 'elbow', 'wrist'], 'is not a whole pose'),
    (['x', 'y'], ['x', 'y'], 'is not a whole pose'),
    (['x', 'y', 'z', 'yaw'], ['shoulder', 'elbow', 'wrist'], "state is the end effector's pose"),
])
def test_dp_ros_sim_cartesian_refuses_a_policy_that_does_not_act_on_a_pose(action, state, match):
    from dp_ros.app.sim_launcher import cartesian_overrides

    with pytest.raises(ValueError, match=match):
        cartesian_overrides(shape_meta(action, state))


@pytest.mark.parametrize('action, state, cartesian', [
    (['x', 'y', 'z', 'yaw'], ['x', 'y'], True),
    (['shoulder', 'elbow', 'wrist'], ['shoulder', 'elbow', 'wrist'], False),
    (['x', 'y'], ['x', 'y'], False),  # the point pusher's table coordinates: no pose
])
def test_dp_ros_sim_and_eval_wire_what_the_checkpoint_acts_on(action, state, cartesian):
    from dp_ros.app.sim_launcher import cartesian_overrides, policy_io_overrides

    meta = shape_meta(action, state)
    assert policy_io_overrides(meta) == (cartesian_overrides(meta) if cartesian else ({}, {}))


def test_dp_ros_sim_cartesian_with_a_joint_policy_says_why_before_starting_anything(capsys):
    from support import REPO_ROOT

    from dp_ros.app.sim_launcher import main

    shipped = REPO_ROOT / 'checkpoints' / 'pusht_default'  # trained before names were kept
    assert main(['--cartesian', '--checkpoint', str(shipped), '--no-video']) == 2
    assert capsys.readouterr().err == ("dp-ros sim: --cartesian: a Cartesian policy's action "
                                       "names pose fields; this checkpoint's action has no "
                                       'names\n')


# --- in-process: the arm env as a Cartesian policy drives it (CartesianArmEnv) -------------------

def cartesian_env(state=('x', 'y'), action=('x', 'y', 'z', 'yaw')):
    from sim_bridge.arm_env import ArmPushTEnv
    from sim_bridge.cartesian import CartesianArmEnv

    arm = ArmPushTEnv(max_episode_steps=10, render_obs=True, policy_image_size=96)
    return CartesianArmEnv(arm, 'ee_pose', list(state), list(action))


def test_the_cartesian_env_observes_the_pose_the_sim_node_publishes():
    from geometry_msgs.msg import PoseStamped  # the message the node decodes

    from dp_ros.pose_fields import decode_pose
    from sim_bridge.cartesian import planar_pose_values, yaw_to_quaternion

    env = cartesian_env(state=('x', 'y', 'qz', 'qw', 'yaw'))
    obs, _ = env.reset(seed=100001)
    assert 'joint_pos' not in obs and obs['image'].shape == (96, 96, 3)
    x, y, yaw = env.cartesian.pose(env.env.q)
    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.y = x, y
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = yaw_to_quaternion(yaw)
    expected = decode_pose(msg, ['x', 'y', 'qz', 'qw', 'yaw']).astype(np.float32)
    assert obs['ee_pose'].dtype == np.float32 and obs['ee_pose'].tolist() == expected.tolist()
    assert planar_pose_values(x, y, yaw, ['x', 'y']).tolist() == [x, y]
    assert env.observation_space['ee_pose'].shape == (5,) and env.action_space.shape == (4,)


def test_the_cartesian_env_reaches_each_target_and_holds_on_one_out_of_reach():
    env = cartesian_env()
    obs, _ = env.reset(seed=100001)
    # 6 px from where it is: within a step's reach (a far one takes steps: rate limits);
    # z and yaw are not controlled (planar)
    x, y = (obs['ee_pose'] + np.float32([6.0, -4.0])).tolist()
    obs, *_ = env.step(np.array([x, y, 0.3, -1.0]))
    assert obs['ee_pose'].tolist() == pytest.approx([x, y], abs=1e-3)
    assert env.refused == {}
    q = env.env.q.copy()
    obs, *_ = env.step(np.array([256.0, 600.0, 0.0, 0.0]))  # next to the shoulder
    assert env.refused == {'unreachable': 1}
    assert env.env.q.tolist() == q.tolist()  # held, as the sim holds after a refusal
    env.reset(seed=100002)
    assert env.refused == {}  # counted per episode


def test_a_cartesian_action_must_be_a_whole_pose():
    with pytest.raises(ValueError, match='is not a whole pose'):
        cartesian_env(action=('x', 'y'))


def test_the_in_process_evaluation_drives_a_cartesian_policy_through_the_ik(tmp_path):
    """eval.robot 'arm' with a policy whose action is a whole pose: checked and run through
    CartesianArmEnv (a joint policy gets the joint env), refusals counted in the result."""
    from support import make_tiny_pose_checkpoint

    from dp_ros.policy.checkpoint import load_policy
    from training.closed_loop import run_closed_loop
    from training.eval_env import cartesian_keys, check_eval_fits

    far = {'x': (-400.0, 900.0), 'y': (-400.0, 900.0)}  # px: many targets out of reach
    policy = load_policy(make_tiny_pose_checkpoint(tmp_path / 'pose', seed=2, state='pose',
                                                   bounds=far), device='cpu')
    assert cartesian_keys(policy.config) == ('joint_pos', ['x', 'y', 'z', 'yaw'],
                                             ['x', 'y', 'z', 'yaw'], -math.pi)
    check_eval_fits('arm', policy.config)
    with pytest.raises(ValueError, match='takes 2 actions'):
        check_eval_fits('point', policy.config)  # the point pusher has no Cartesian env
    result = run_closed_loop(policy, [100000, 100001], robot='arm', max_steps=16,
                             progress=False)
    assert result.steps == [16, 16]
    assert sum(result.refused.values()) > 0 and set(result.refused) == {'unreachable'}
    assert result.metrics()['test/refused_targets'] == sum(result.refused.values())


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_a_refused_target_holds_the_robot_for_its_step_without_a_wait(robot):
    stepper, rec = started_episode(robot, max_steps=2)
    target = (200.0, 250.0)
    assert stepper.receive_pose(FRAME, 0, *target, 0)
    stepper.lockstep_step()
    ran = stepper.follower.target
    assert ran.tolist() == stepper.cartesian.joints(FRAME, *target).tolist()
    far = (256.0, 600.0) if robot == 'arm' else (600.0, 100.0)  # out of reach / off the table
    assert not stepper.receive_pose(FRAME, DT, *far, 0)
    assert stepper.action_ready()  # held: the step runs at once, not after a timeout
    stepper.lockstep_step()
    assert stepper.follower.target.tolist() == ran.tolist()
    result = rec.results[0]
    assert result['action_timeouts'] == 0 and sum(result['rejected'].values()) == 1
