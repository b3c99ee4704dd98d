"""The arm variant of Push-T: the paper's seeds and physics, joint control within limits, the
640x480 camera, and the demonstrations replayed through the IK."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sim_bridge import arm_demos
from sim_bridge.arm_env import (
    CAMERA_SIZE,
    LINK_COLOR,
    TABLE_CROP,
    ArmPushTEnv,
    camera_pixel,
    policy_view,
)
from sim_bridge.arm_kinematics import DEFAULT_ARM
from sim_bridge.pusht_env import PushTEnv

SEEDS = (0, 1, 100000, 100049)
VMAX = np.asarray(DEFAULT_ARM.max_velocity)
AMAX = np.asarray(DEFAULT_ARM.max_acceleration)


@pytest.fixture(scope='module')
def env():
    return ArmPushTEnv(render_obs=False, max_episode_steps=None)


@pytest.mark.parametrize('seed', SEEDS)
def test_reset_seed_places_block_and_end_effector_as_the_point_env(env, seed):
    point = PushTEnv(render_obs=False)
    _, info_p = point.reset(seed=seed)
    obs, info = env.reset(seed=seed)
    assert np.array_equal(info['block_pose'], info_p['block_pose'])
    assert np.array_equal(env.get_state(), point.get_state())
    assert np.abs(env.end_effector - info_p['pos_agent']).max() < 1e-9
    assert np.array_equal(info['joint_vel'], np.zeros(3))
    assert np.allclose(obs['joint_pos'], DEFAULT_ARM.inverse(info_p['pos_agent']), atol=1e-6)
    assert info['goal_pose'].tolist() == info_p['goal_pose'].tolist()


def _substep_motion(env, steps):
    """Joint positions and velocities of every 100 Hz substep of `steps`, after reset."""
    qs, vs = [env.q.copy()], [env.qd.copy()]
    ees = []
    for target in steps:
        env.step(target)
        for _i, q, qd in env.substep_states:
            qs.append(q)
            vs.append(qd)
            ees.append(DEFAULT_ARM.forward(q))
    return np.array(qs), np.array(vs), np.array(ees)


def test_passes_the_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    with pytest.warns(UserWarning):  # gymnasium's advice on Box ranges and specs
        check_env(ArmPushTEnv(), skip_render_check=True)


def test_target_sequence_moves_the_end_effector_along_the_commanded_path(env):
    env.reset(options={'state': [100.0, 150.0, 400.0, 400.0, 0.0]})
    path = np.stack([np.linspace(100, 300, 21), np.linspace(150, 250, 21)], axis=1)[1:]
    reached = []
    vs, ees = [], []
    for p in path:
        env.step(DEFAULT_ARM.inverse(p))
        reached.append(env.end_effector.copy())
        for _i, q, qd in env.substep_states:
            vs.append(qd)
            ees.append(DEFAULT_ARM.forward(q))
    # within the limits a commanded point is reached at the end of its step
    assert np.abs(np.array(reached) - path).max() < 1e-6
    # between the points the end effector stays on the straight segment (joint-linear)
    ees = np.array(ees)
    rel = ees - [100.0, 150.0]
    d = np.abs(200.0 * rel[:, 1] - 100.0 * rel[:, 0]) / np.hypot(200.0, 100.0)
    assert d.max() < 1.0
    vs = np.array(vs)
    assert (np.abs(vs) <= VMAX + 1e-9).all()
    assert (np.abs(np.diff(vs, axis=0)) / 0.01 <= AMAX + 1e-6).all()
    # the pusher body is the end effector
    assert np.abs(env.get_state()[:2] - env.end_effector).max() < 1e-6


def test_a_jump_is_executed_within_the_velocity_and_acceleration_limits(env):
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    goal = DEFAULT_ARM.inverse(np.array([480.0, 480.0]))
    qs, vs, _ = _substep_motion(env, [goal] * 20)
    assert (np.abs(vs) <= VMAX + 1e-9).all()
    assert np.isclose(np.abs(vs).max(), VMAX.max())  # the limit binds
    assert (np.abs(np.diff(vs, axis=0)) / 0.01 <= AMAX + 1e-6).all()
    assert np.abs(qs[-1] - goal).max() < 1e-3  # reached, later than commanded
    assert np.abs(env.end_effector - [480.0, 480.0]).max() < 0.5


def test_targets_are_clamped_to_the_position_limits_and_none_holds(env):
    env.reset(seed=3)
    env.step([10.0, 10.0, 10.0])
    assert np.array_equal(env.latest_joint_target, DEFAULT_ARM.upper)
    env.reset(seed=3)
    q0 = env.q.copy()
    env.step(None)
    assert np.array_equal(env.q, q0)
    with pytest.raises(ValueError, match='3 finite joint targets'):
        env.step([0.0, 1.0])


def test_camera_is_640x480_rgb8_with_the_arm_and_a_96px_policy_view():
    env = ArmPushTEnv(render_obs=True, max_episode_steps=None)
    obs, _ = env.reset(seed=100000)
    img = obs['image']
    assert img.shape == (CAMERA_SIZE[1], CAMERA_SIZE[0], 3) and img.dtype == np.uint8
    # the middle of link 1 is drawn in the link colour
    pts = DEFAULT_ARM.joint_points(env.q)
    u, v = np.round(camera_pixel((pts[0] + pts[1]) / 2)).astype(int)
    assert np.abs(img[v, u].astype(int) - LINK_COLOR).max() < 10
    view = policy_view(img, 96)
    assert view.shape == (96, 96, 3) and view.dtype == np.uint8
    calls = []
    env.step(env.q, on_substep=calls.append)
    assert calls == list(range(1, 11)) and len(env.substep_states) == 10
    small = ArmPushTEnv(render_obs=True, policy_image_size=96)
    assert small.reset(seed=1)[0]['image'].shape == (96, 96, 3)
    # the table crop: the table's corners land on the box's corners, the floor is cut away
    corners = np.round(camera_pixel([[0, 0], [512, 512]])).astype(int)
    x0, y0, w, h = TABLE_CROP
    np.testing.assert_array_equal(corners, [[x0, y0], [x0 + w, y0 + h]])
    table = ArmPushTEnv(render_obs=True, policy_image_size=96, policy_crop=TABLE_CROP)
    tview = table.reset(seed=1)[0]['image']
    full = table.render_camera()
    np.testing.assert_array_equal(tview, policy_view(full, 96, TABLE_CROP))
    assert not np.array_equal(tview, policy_view(full, 96))


def test_demonstration_replay_reproduces_the_recorded_block_motion(pusht_zarr, env):
    demos = arm_demos.load_demonstrations(pusht_zarr)
    states = demos.episode(0)
    commands = arm_demos.joint_commands(states)
    assert commands.shape == (len(states) - 1, 3)
    result = arm_demos.replay_episode(env, states, commands)
    assert result['success']
    assert result['final_block_position_error_px'] < 1.0
    assert result['max_end_effector_error_px'] < 1e-6


def test_arm_demos_command_writes_the_report(pusht_zarr, tmp_path, capsys):
    out = tmp_path / 'arm_demos.json'
    assert arm_demos.main(['--dataset', str(pusht_zarr), '--episodes', '0:2',
                           '--report', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['episodes'] == 2 and report['succeeded'] == 2
    assert len(report['per_episode'][1]['joint_commands']) == report['per_episode'][1]['steps']
    assert 'succeed in the arm env' in capsys.readouterr().out
    assert arm_demos.main(['--dataset', str(tmp_path / 'none.zarr')]) == 2
