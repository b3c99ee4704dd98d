"""The ROS-free sim (sim_bridge/arm_kinematics.py, cartesian.py, pusht_env.py): behaviour a
mutation review found no test of. Each test names what it guards; a change that breaks it was
left passing by the rest of the suite (the reach's near end made exclusive, the wrap of the
IK's angles dropped, the end effector's yaw not wrapped, the in-process Cartesian env observing
the float32 joints or stopping the arm on a refused target, the documented joint limits and the
configs drifting apart, the reset's settle substep dropped, the agent's velocity misreported,
unseeded resets not drawn from the env's generator; the contacts of the reset's settle
substep, which reset() zeroed where the paper's info reports them). Real objects, checked
against independent computations: exact geometry, joint_points, the paper's PD law, the
paper's demonstrations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
import zarr
from support import REPO_ROOT, episode_bounds

from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.arm_kinematics import (
    ACCELERATION_LIMIT,
    DEFAULT_ARM,
    POSITION_LOWER,
    POSITION_UPPER,
    SHOULDER,
    VELOCITY_LIMIT,
    ArmGeometry,
)
from sim_bridge.cartesian import CartesianArmEnv, PlanarCartesian, planar_pose_values
from sim_bridge.pusht_env import PushTEnv

ARM = DEFAULT_ARM


# --- arm_kinematics: the reach and the IK's angle cuts ------------------------------------------

def test_the_near_end_of_the_reach_is_inside_it():
    """Reach is inclusive at its near end too: the target exactly at the wrist's minimum
    distance plus the end link (the elbow at 170 deg) is reached. The shoulder sits at the
    origin so that the target's distance is exactly that sum (no rounding past the boundary)."""
    arm = ArmGeometry(shoulder=(0.0, 0.0))
    d_min, l3 = arm.wrist_reach[0], arm.links[2]
    p = np.array([0.0, -(d_min + l3)])
    assert math.hypot(*p) - l3 == d_min  # exactly on the boundary
    q = arm.inverse(p)
    assert np.degrees(q[1]) == pytest.approx(170.0, abs=1e-9)
    assert np.abs(arm.forward(q) - p).max() < 1e-9


def test_the_ik_is_continuous_around_the_shoulder_its_cut_behind_it():
    """The IK's angles are wrapped with the cut behind the shoulder (module docstring): along an
    arc from behind-left of the shoulder, across the front, to behind-right, the joints move
    continuously and stay in (-pi, pi]; a target level with the shoulder on its left (off the
    table, within the joint limits) is reached."""
    a = np.linspace(np.pi - 0.3, 2 * np.pi + 0.3, 2001)  # screen angles: pi left, 3 pi/2 ahead
    p = np.asarray(SHOULDER) + 400.0 * np.stack([np.cos(a), np.sin(a)], axis=-1)
    q = ARM.inverse(p, check_limits=False)
    assert np.abs(ARM.forward(q) - p).max() < 1e-9
    assert np.abs(np.diff(q, axis=0)).max() < 0.01  # arc steps of 0.0019 rad
    assert (q > -np.pi).all() and (q <= np.pi).all()
    left = np.array([SHOULDER[0] - 400.0, SHOULDER[1]])
    q = ARM.inverse(left)  # raises Unreachable if a joint wrapped the wrong way
    assert ARM.within_limits(q) and np.abs(ARM.forward(q) - left).max() < 1e-9


def test_the_documented_joint_limits_are_the_ones_the_configs_give_the_sim_and_the_policy():
    """The arm's limits are README's ([-2.6, 0.4], [0, 175 deg], [-1.8, 0.3] rad; 3.15 rad/s
    and 40 rad/s^2 per joint), and the shipped sim and policy configs carry the same position
    limits (the sim rejects targets outside them; the policy's envelope keeps inside them) and
    a step bound under the velocity limit."""
    assert POSITION_LOWER == (-2.6, 0.0, -1.8)
    assert POSITION_UPPER == (0.4, math.radians(175.0), 0.3)
    assert VELOCITY_LIMIT == (3.15, 3.15, 3.15)
    assert ACCELERATION_LIMIT == (40.0, 40.0, 40.0)
    sim = yaml.safe_load((REPO_ROOT / 'config' / 'pusht_arm_sim.yaml').read_text())
    sim = sim['/**/pusht_sim']['ros__parameters']
    assert sim['workspace_low'] == list(POSITION_LOWER)
    assert sim['workspace_high'] == [float(v) for v in POSITION_UPPER]
    policy = yaml.safe_load((REPO_ROOT / 'config' / 'policy_pusht_arm.yaml').read_text())
    policy = policy['/**/dp_policy']['ros__parameters']
    assert policy['action_lower'] == list(POSITION_LOWER)
    assert policy['action_upper'] == [float(v) for v in POSITION_UPPER]
    assert (np.asarray(policy['max_step_delta']) / 0.1 <= np.asarray(VELOCITY_LIMIT)).all()


# --- cartesian: the published yaw, and the in-process Cartesian env -----------------------------

def test_the_end_effector_yaw_is_in_minus_pi_pi_for_any_joints_within_the_limits():
    """pose() wraps the end link's direction into (-pi, pi] for every joint vector the arm can
    hold (a joint policy's targets too, not only the IK's): at the limits' corners the raw sum
    of the angles is far outside it (-5.97 rad at the lower limits)."""
    cart = PlanarCartesian('', ARM)
    lo, hi = np.asarray(POSITION_LOWER), np.asarray(POSITION_UPPER)
    grid = np.stack(np.meshgrid(*np.linspace(lo, hi, 5).T, indexing='ij'), axis=-1)
    for q in grid.reshape(-1, 3):
        x, y, yaw = cart.pose(q)
        wrist, tip = ARM.joint_points(q)[2:]
        assert (x, y) == pytest.approx(tuple(tip), abs=1e-9)
        assert -math.pi < yaw <= math.pi
        assert yaw == pytest.approx(math.atan2(tip[1] - wrist[1], tip[0] - wrist[0]), abs=1e-9)


def test_the_observed_pose_is_planar_z_0_turned_about_z():
    """The twin's pose has z 0 and an orientation about z only (module docstring), in every
    field a Cartesian policy may observe."""
    fields = ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw', 'yaw']
    values = planar_pose_values(120.0, 340.0, -1.0, fields).tolist()
    assert values == pytest.approx([120.0, 340.0, 0.0, 0.0, 0.0, math.sin(-0.5), math.cos(-0.5),
                                    -1.0], abs=1e-12)


def cartesian_env(seed: int) -> tuple[CartesianArmEnv, ArmPushTEnv]:
    arm = ArmPushTEnv(max_episode_steps=None, render_obs=False)
    env = CartesianArmEnv(arm, 'ee_pose', ['x', 'y', 'yaw'], ['x', 'y', 'z', 'yaw'])
    env.reset(seed=seed)
    return env, arm


def test_the_cartesian_env_observes_the_pose_of_the_float64_joints():
    """The observed pose is computed from the arm's float64 joints, as the sim node publishes it,
    not from the observation's float32 joint_pos (they differ in the last float32 bits); the
    observations are those of the env's observation_space (no joint_pos)."""
    env, arm = cartesian_env(100003)
    assert 'joint_pos' not in env.observation_space.spaces
    obs, _ = env.reset(seed=100003)
    assert env.observation_space.contains(obs)
    for k in range(12):
        obs, *_ = env.step(np.array([150.0 + 20 * k, 300.0 - 10 * k, 0.0, 0.0]))
        x, y, yaw = env.cartesian.pose(arm.q)
        expected = planar_pose_values(x, y, yaw, ['x', 'y', 'yaw']).astype(np.float32)
        assert obs['ee_pose'].tolist() == expected.tolist(), k
        assert env.observation_space.contains(obs)
    assert env.refused == {}


def test_a_refused_cartesian_target_keeps_the_arm_on_its_previous_target():
    """A target out of reach holds the previous target, as the sim's follower does: an arm still
    on its way (rate limited) goes on to it, exactly as if that target had been sent again;
    it is not stopped where it stands."""
    env, arm = cartesian_env(100001)
    twin = ArmPushTEnv(max_episode_steps=None, render_obs=False)
    twin.reset(seed=100001)
    far = np.array([420.0, 120.0])  # several steps away under the velocity limit
    env.step(np.array([*far, 0.0, 0.0]))
    twin.step(ARM.inverse(far))
    assert np.abs(ARM.forward(arm.q) - far).max() > 20.0  # still on its way
    moving = arm.q.copy()
    env.step(np.array([256.0, 600.0, 0.0, 0.0]))  # next to the shoulder: refused
    twin.step(ARM.inverse(far))
    assert env.refused == {'unreachable': 1}
    assert np.abs(arm.q - moving).max() > 0.05  # it kept moving
    assert arm.q.tolist() == twin.q.tolist()


# --- pusht_env: reset, the agent's PD law, unseeded starts --------------------------------------

def test_the_first_steps_of_demonstrations_starting_in_contact_reproduce_them(pusht_zarr):
    """reset() settles the placed bodies with one substep, as the paper's: where the pusher
    starts touching the T (the demonstrations whose first frame records a contact), that
    substep gives the block the velocity the paper's first steps continue from. Without it
    the first steps miss the recorded block by up to 0.9 px; with it they agree to 1e-3 px."""
    root = zarr.open(str(pusht_zarr), mode='r')
    state = np.asarray(root['data/state'][:], dtype=np.float64)
    action = np.asarray(root['data/action'][:], dtype=np.float64)
    n_contacts = np.asarray(root['data/n_contacts'][:, 0])
    starts, _ = episode_bounds(pusht_zarr)
    touching = [e for e, s in enumerate(starts) if n_contacts[s] > 0]
    assert len(touching) >= 20
    env = PushTEnv(render_obs=False)
    for episode in touching:
        start = starts[episode]
        env.reset(seed=episode)  # the demonstrations were recorded from reset(seed=episode)
        for i in range(start, start + 5):
            *_, info = env.step(action[i])
            err = np.abs(info['block_pose'][:2] - state[i + 1, 2:4]).max()
            assert err < 1e-3, (episode, i - start, err)


def test_reset_info_counts_the_settle_substeps_contacts_as_the_papers(pusht_zarr):
    """The paper's info right after reset counts the contacts of its settle substep (its
    demonstrations' first frames record them: 22 of 206); reset() reported 0 for all."""
    root = zarr.open(str(pusht_zarr), mode='r')
    n_contacts = np.asarray(root['data/n_contacts'][:, 0])
    starts, _ = episode_bounds(pusht_zarr)
    env = PushTEnv(render_obs=False)
    for episode, start in enumerate(starts):
        _, info = env.reset(seed=episode)
        assert (info['n_contacts'] > 0) == (n_contacts[start] > 0), episode


def test_the_agent_follows_the_papers_pd_law():
    """Each step runs 10 substeps of the paper's PD law (kp 100, kv 20, dt 0.01) on the
    kinematic agent; info's pos_agent and vel_agent are the agent's, computed independently."""
    env = PushTEnv(render_obs=False)
    env.reset(options={'state': [100.0, 420.0, 350.0, 150.0, 0.3]})  # the T far away
    p, v = np.array([100.0, 420.0]), np.zeros(2)
    for target in ([160.0, 380.0], [200.0, 330.0], [200.0, 330.0]):
        for _ in range(10):
            v = v + (100.0 * (np.asarray(target) - p) + 20.0 * (0.0 - v)) * 0.01
            p = p + v * 0.01
        obs, *_, info = env.step(target)
        np.testing.assert_allclose(info['pos_agent'], p, rtol=0, atol=1e-9)
        np.testing.assert_allclose(info['vel_agent'], v, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(obs['agent_pos'], p.astype(np.float32))
        assert np.abs(v).max() > 100.0  # moving: a velocity that is really checked


def test_unseeded_resets_draw_new_starts_from_the_envs_generator():
    """reset() without a seed draws a new start from the env's own generator: after the same
    reset(seed=...), two envs draw the same sequence (gymnasium's contract), and the starts of
    one sequence differ from each other."""
    def unseeded_starts(env: PushTEnv) -> list[list[float]]:
        env.reset(seed=7)
        starts = []
        for _ in range(3):
            env.reset()
            starts.append(env.get_state().tolist())
        return starts

    a = unseeded_starts(PushTEnv(render_obs=False))
    b = unseeded_starts(PushTEnv(render_obs=False))
    assert a == b
    assert len({tuple(s) for s in a}) == 3
