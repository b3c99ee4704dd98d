"""Review tests of sim_bridge/pusht_env.py: argument checks, episode flags and reset options."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.pusht_env import GOAL_POSE, PushTEnv


@pytest.mark.parametrize('bad', [[np.nan, 100.0], [100.0, np.inf], [np.nan, np.nan]])
def test_step_refuses_a_target_that_is_not_finite(bad):
    """A NaN/inf target is a ValueError, not a NaN fed into the physics."""
    env = PushTEnv(render_obs=False)
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(ValueError, match='action must be 2 finite numbers'):
        env.step(bad)
    np.testing.assert_array_equal(env.get_state(), before)


def test_success_on_the_last_step_is_terminated_not_truncated():
    """Gymnasium: an episode that reaches the goal on its last allowed step terminated."""
    env = PushTEnv(render_obs=False, max_episode_steps=1)
    env.reset(options={'state': [60.0, 60.0, *GOAL_POSE]})
    _, reward, terminated, truncated, _ = env.step([60.0, 60.0])
    assert (reward, terminated, truncated) == (1.0, True, False)


def test_no_step_limit_never_truncates():
    """max_episode_steps=None: no truncation, however long the episode."""
    env = PushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(seed=3)
    for _ in range(5):
        _, _, terminated, truncated, _ = env.step([100.0, 100.0])
        assert not terminated and truncated is False


@pytest.mark.parametrize('kwargs', [dict(render_size=0), dict(video_size=0),
                                    dict(max_episode_steps=0), dict(render_size=-4)])
def test_sizes_and_step_limit_must_be_positive(kwargs):
    """0 (or less) for a size or the step limit is refused when the env is made."""
    with pytest.raises(ValueError, match='must be > 0'):
        PushTEnv(**kwargs)


def test_reset_takes_the_state_option_as_a_numpy_array():
    """options={'state': ndarray} places that state (an array has no truth value to test)."""
    env = PushTEnv(render_obs=False)
    state = np.array([100.0, 120.0, 300.0, 310.0, 1.0])
    obs, info = env.reset(options={'state': state})
    np.testing.assert_allclose(env.get_state(), state, atol=1e-9)
    np.testing.assert_array_equal(obs['agent_pos'], np.float32([100.0, 120.0]))
    np.testing.assert_allclose(info['block_pose'], state[2:], atol=1e-9)


def test_render_without_an_action_has_no_marker_and_reset_clears_it():
    """The red cross marks the latest action; none after reset (a new episode), none before."""
    env = PushTEnv(render_obs=False, video_size=96)
    env.reset(seed=100001)

    def red(frame):
        return int(((frame[..., 0] == 255) & (frame[..., 1] == 0) & (frame[..., 2] == 0)).sum())

    assert red(env.render()) == 0
    env.step([200.0, 200.0])
    assert red(env.render()) > 0
    env.reset(seed=100001)
    assert red(env.render()) == 0
