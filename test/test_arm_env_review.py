"""Review tests of sim_bridge/arm_env.py: holding the last target, stops at the joint limits,
per-episode and per-substep state, the camera's freshness and the episode's end."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.arm_kinematics import DEFAULT_ARM
from sim_bridge.pusht_geometry import GOAL_POSE

LO = np.asarray(DEFAULT_ARM.lower)
HI = np.asarray(DEFAULT_ARM.upper)


@pytest.fixture(scope='module')
def env():
    return ArmPushTEnv(render_obs=False, max_episode_steps=None)


def test_none_keeps_driving_toward_the_last_target_not_the_current_joints(env):
    """step(None) holds the last commanded target (joint_trajectory_controller), so a target
    not reached within its step is still approached."""
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    goal = DEFAULT_ARM.inverse(np.array([480.0, 480.0]))
    env.step(goal)
    gap = np.abs(env.q - goal).max()
    assert gap > 0.1  # rate-limited: not there after one step
    env.step(None)
    assert env.latest_joint_target.tolist() == goal.tolist()
    assert np.abs(env.q - goal).max() < gap - 0.1
    for _ in range(20):
        env.step(None)
    assert np.abs(env.q - goal).max() < 1e-3


@pytest.mark.parametrize('push', [10.0, -10.0])
def test_a_joint_stopped_at_its_limit_reports_zero_velocity_and_stays_within(env, push):
    """Driven into a position limit, a joint stays inside [lower, upper] and, held there, its
    reported velocity is 0 (upper and lower limits alike)."""
    stopped = 0
    for seed in range(4):
        env.reset(seed=seed)
        prev = env.q.copy()
        for _ in range(8):
            env.step([push] * 3)
            for _i, q, qd in env.substep_states:
                assert (q >= LO).all() and (q <= HI).all()
                limit = HI if push > 0 else LO
                held = (q == limit) & (prev == limit)
                assert (qd[held] == 0.0).all()
                stopped += int(held.sum())
                prev = q
    assert stopped > 0


def test_reset_forgets_the_last_steps_substep_states(env):
    """The 100 Hz joint states are per step: a new episode starts with none."""
    env.reset(seed=1)
    env.step(env.q + 0.05)
    assert len(env.substep_states) == 10
    env.reset(seed=2)
    assert env.substep_states == []


def test_substep_states_are_numbered_one_to_ten(env):
    """substep_states holds (substep index 1..10, q, qd), the index on_substep gets."""
    env.reset(seed=1)
    seen = []
    env.step(env.q + 0.05, on_substep=seen.append)
    assert [i for i, _q, _qd in env.substep_states] == seen == list(range(1, 11))


def test_the_red_cross_is_the_commanded_targets_end_effector(env):
    """latest_action (the videos' cross) is FK of the commanded target, not where the arm is."""
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    goal = DEFAULT_ARM.inverse(np.array([480.0, 480.0]))
    env.step(goal)
    assert np.abs(env.latest_action - [480.0, 480.0]).max() < 1e-9
    assert np.abs(env.end_effector - [480.0, 480.0]).max() > 10.0


def test_the_camera_image_after_reset_shows_the_new_episode():
    """render_camera's cache is dropped on reset: after a reset it equals a fresh env's."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(seed=1)
    first = env.render_camera()
    env.reset(seed=2)
    fresh = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    fresh.reset(seed=2)
    again = env.render_camera()
    assert not np.array_equal(again, first)
    np.testing.assert_array_equal(again, fresh.render_camera())


def test_the_camera_sees_each_substeps_state():
    """A frame rendered inside on_substep shows that substep's arm, not a cached earlier one."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(seed=1)
    before = env.render_camera()
    frames = {}
    env.step(env.q + np.array([0.2, -0.2, 0.2]),
             on_substep=lambda i: frames.__setitem__(i, env.render_camera()))
    assert not np.array_equal(frames[1], before)
    assert not np.array_equal(frames[10], frames[1])
    np.testing.assert_array_equal(frames[10], env.render_camera())


def test_the_episode_is_truncated_exactly_at_max_episode_steps():
    """max_episode_steps=3: steps 1 and 2 run on, step 3 truncates."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=3)
    env.reset(seed=4)
    truncs = [env.step(None)[3] for _ in range(3)]
    assert truncs == [False, False, True]
    assert env.elapsed_steps == 3
    env.reset(seed=4)
    assert env.step(None)[3] is False  # counted per episode


def test_a_step_that_succeeds_terminates_and_is_not_truncated():
    """Success on the last allowed step: terminated, not truncated (gymnasium's rule)."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=1)
    env.reset(options={'state': [100.0, 450.0, *GOAL_POSE.tolist()]})
    _obs, reward, terminated, truncated, _info = env.step(None)
    assert reward == 1.0 and terminated is True and truncated is False


def test_each_substeps_motion_is_its_reported_velocity(env):
    """q advances by qd * dt each substep (away from the limits): the joints move at the rate-
    and acceleration-limited velocity they report, not straight to where they want to be."""
    env.reset(options={'state': [30.0, 480.0, 256.0, 150.0, 0.0]})
    goal = DEFAULT_ARM.inverse(np.array([480.0, 480.0]))
    prev = env.q.copy()
    for _ in range(3):
        env.step(goal)
        for _i, q, qd in env.substep_states:
            np.testing.assert_allclose(q - prev, qd * 0.01, atol=1e-12)
            assert (np.abs(q - prev) <= np.asarray(DEFAULT_ARM.max_velocity) * 0.01 + 1e-12).all()
            prev = q


def test_a_target_inside_the_action_space_gives_an_observation_inside_its_space():
    """Gymnasium's contract: an action from action_space yields obs in observation_space."""
    env = ArmPushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(seed=0)
    q = DEFAULT_ARM.inverse(np.array([-60.0, 300.0]))
    assert env.action_space.contains(q)
    for _ in range(15):
        obs, *_ = env.step(q)
    assert env.observation_space.contains(obs)
