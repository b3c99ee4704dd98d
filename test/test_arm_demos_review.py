"""Review tests of sim_bridge/arm_demos.py on small synthetic demonstrations (real arm env, a
real zarr in tmp_path): episode bounds, the per-episode result's fields and the report's
counts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim_bridge import arm_demos
from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.pusht_geometry import GOAL_POSE, coverage

GOAL = GOAL_POSE.tolist()


@pytest.fixture(scope='module')
def env():
    return ArmPushTEnv(render_obs=False, max_episode_steps=None)


def push_off_goal() -> np.ndarray:
    """The block starts on the goal (reward 1 from step 1); the pusher sweeps it off by step
    4, so the replay's reward falls to ~0.15 (the recorded rows keep the block on the goal)."""
    return np.array([[x, 256.0, *GOAL] for x in np.linspace(150.0, 330.0, 13)])


def still(block: list[float], rows: int = 3) -> np.ndarray:
    """The pusher rests far from the block for `rows` rows; the block rows as given."""
    return np.array([[100.0, 450.0, *block]] * rows)


def test_episode_indices_outside_the_dataset_are_refused():
    """episode(i) needs 0 <= i < number of episodes: -1 and len are ValueErrors."""
    demos = arm_demos.Demonstrations(states=np.zeros((10, 5)), ends=np.array([4, 10]))
    assert len(demos.episode(1)) == 6
    for bad in (-1, 2):
        with pytest.raises(ValueError, match='out of range'):
            demos.episode(bad)


def test_replay_result_of_an_episode_that_succeeds_then_loses_the_block(env):
    """paper_success_step is the 1-based first terminating step; max_reward is the maximum
    over the steps (not the last); recorded_final_coverage is the recorded rows' own; the
    max joint speed is the largest |qd| of any substep, every joint."""
    states = push_off_goal()
    commands = arm_demos.joint_commands(states)
    result = arm_demos.replay_episode(env, states, commands)
    assert result['paper_success'] and result['paper_success_step'] == 1
    assert result['max_reward'] == 1.0
    assert result['final_coverage'] < 0.5
    assert result['recorded_final_coverage'] == round(coverage(states[-1, 2:5]), 6) > 0.95
    assert result['success'] is False
    # the same commands driven by hand: the largest |joint velocity| of any substep
    env.reset(options={'state': states[0]})
    speed = np.zeros(3)
    for target in commands:
        env.step(target)
        for _i, _q, qd in env.substep_states:
            speed = np.maximum(speed, np.abs(qd))
    assert result['max_joint_speed'] == [round(float(v), 4) for v in speed]
    assert min(result['max_joint_speed']) > 0


def test_a_block_left_where_the_demonstrator_left_it_succeeds_at_zero_tolerance(env):
    """success is final >= recorded - tolerance, inclusive: a one-row episode (no step) has
    its recorded coverage as its final and succeeds with tolerance 0."""
    states = still([300.0, 200.0, 0.5], rows=1)
    result = arm_demos.replay_episode(env, states, arm_demos.joint_commands(states), 0.0)
    assert result['steps'] == 0
    assert result['final_coverage'] == result['recorded_final_coverage']
    assert result['success'] is True


def test_the_block_angle_error_is_wrapped(env):
    """A recorded final angle one full turn from the replay's is no angle error."""
    states = still([300.0, 200.0, 0.3])
    states[-1, 4] = 0.3 + 2 * math.pi
    result = arm_demos.replay_episode(env, states, arm_demos.joint_commands(states))
    assert result['final_block_angle_error_rad'] < 1e-3


def write_demos(path, episodes: list[np.ndarray]):
    import zarr

    root = zarr.open_group(str(path), mode='w', zarr_format=3)
    root.create_array('data/state', data=np.concatenate(episodes).astype(np.float32))
    root.create_array('meta/episode_ends',
                      data=np.cumsum([len(e) for e in episodes]).astype(np.int64))
    return path


def test_the_report_counts_failures_and_recorded_successes(tmp_path):
    """failed_episodes lists the replays that fail; paper_success_recorded counts recorded
    episodes that reach reward 1 (from the recorded rows, not the replay)."""
    on_goal = still(GOAL)  # replay: stays on the goal, succeeds
    brought = still([350.0, 150.0, 0.0])  # recorded: brought to the goal; replay: not moved
    brought[-1, 2:5] = GOAL
    dataset = write_demos(tmp_path / 'demos.zarr', [on_goal, brought])
    report = arm_demos.run(dataset, with_commands=False)
    assert report['episodes'] == 2 and report['succeeded'] == 1
    assert report['failed_episodes'] == [1]
    assert report['paper_success_recorded'] == 2
    assert report['paper_success_replayed'] == 1


def test_the_command_reports_an_episode_out_of_range_as_an_error(tmp_path, capsys):
    """--episodes past the dataset: exit status 2 and a one-line error, not a traceback."""
    dataset = write_demos(tmp_path / 'demos.zarr', [still(GOAL)])
    assert arm_demos.main(['--dataset', str(dataset), '--episodes', '3']) == 2
    assert "error: episodes '3': the dataset has episodes 0..0" in capsys.readouterr().err


def test_a_nan_tolerance_is_refused(tmp_path, capsys):
    """--tolerance must be a finite number: nan would silently fail every episode."""
    dataset = write_demos(tmp_path / 'demos.zarr', [still(GOAL)])
    assert arm_demos.main(['--dataset', str(dataset), '--tolerance', 'nan']) == 2
