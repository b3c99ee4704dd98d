"""Edges of the pusht_sim node's parameters and their checks (sim_bridge/sim_node_config.py).

What test_episode_stepper.py's configuration tests leave open: initial_state's shape, finiteness
and inclusive bounds for both the agent and the block (and the table, not the joint limits,
for the arm), joint_names and workspace bounds per robot, the video suffix's case, the seed
range (the seeds end at the last one numpy takes), and the deprecated control_rate_hz (below
10 Hz, or against a control_period_s given beside it).
"""
from __future__ import annotations

import math

import pytest
from test_episode_stepper import make

from sim_bridge.sim_node_config import MAX_SEED, config_from_values


def config(**values):
    return config_from_values(values, warn=lambda _: None)


@pytest.mark.parametrize('values, message', [
    (dict(initial_state=[100.0, 100.0, 300.0, 300.0, 0.5, 1.0]), 'must be 5 finite numbers'),
    (dict(initial_state=[100.0, 100.0, math.nan, 300.0, 0.5]), 'must be 5 finite numbers'),
    (dict(initial_state=[100.0, 100.0, 300.0, 300.0, math.inf]), 'must be 5 finite numbers'),
    (dict(initial_state=[100.0, 100.0, 600.0, 300.0, 0.5]), r'puts the block at \[600.0, 300.0\]'),
    (dict(initial_state=[100.0, 100.0, 300.0, -1.0, 0.5]), 'puts the block'),
    (dict(joint_names=['agent_x', 'agent_x']), 'joint_names must be 2 distinct names'),
    (dict(joint_names=['', 'agent_y']), 'joint_names must be 2 distinct names'),
    (dict(workspace_high=[512.0, 512.0, 512.0]), 'workspace_low/high must have 2 values'),
    (dict(workspace_low=[0.0, 0.0, 0.0], workspace_high=[512.0, 512.0, 512.0]),
     'workspace_low/high must have 2 values for the point robot'),
    (dict(robot='arm', workspace_low=[0.5, 1.0, 0.0], workspace_high=[0.1, 2.0, 1.0]),
     'low < high'),
    # beyond the joint limits or the table: such targets were clamped, not rejected
    (dict(robot='arm', workspace_low=[-5.0, -5.0, -5.0], workspace_high=[5.0, 5.0, 5.0]),
     r"reach beyond the arm robot's range .* for \['shoulder', 'elbow', 'wrist'\]"),
    (dict(workspace_low=[0.0, 0.0], workspace_high=[600.0, 512.0]),
     r"reach beyond the point robot's range \[0.0, 0.0\] / \[512.0, 512.0\] for "
     r"\['agent_x'\]"),
    (dict(seeds=[MAX_SEED + 1]), 'seeds must be in'),
    (dict(seed_start=MAX_SEED + 1), 'seed_start must be in'),
    (dict(control_rate_hz=5.0), r'control_rate_hz \(deprecated: use control_period_s\) must '
                                r'be 10.0'),
    # NaN was taken (it compares false) and refused under the new name, control_period_s
    (dict(control_rate_hz=math.nan), r'control_rate_hz \(deprecated: use control_period_s\) '
                                     r'must be 10.0 .*got nan'),
    # not an OverflowError from round(inf) (arm) or a silent pass (nan compares false)
    (dict(robot='arm', camera_rate_hz=math.inf), r'camera_rate_hz must be in \[0.0, 1000.0\]'),
    (dict(camera_rate_hz=math.nan), r'camera_rate_hz must be in \[0.0, 1000.0\]'),
    (dict(control_period_s=math.nan), 'control_period_s must be 0.1'),
])
def test_a_bad_value_is_refused_naming_the_parameter(values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)


def test_the_workspace_edges_are_valid_initial_positions():
    """The bounds are inclusive, as for targets: the agent on a corner, the block's centre
    on the top edge (its T reaching into the table; on a corner it would be in the wall)."""
    state = [0.0, 512.0, 256.0, 0.0, 0.0]
    assert config(initial_state=state).initial_state == state


def test_the_arms_initial_state_is_in_table_pixels_not_joint_radians():
    """The arm's workspace is its joint limits (rad); initial_state places the end effector
    and the block on the 512 px table, as for the point."""
    cfg = config(robot='arm', initial_state=[100.0, 100.0, 300.0, 300.0, 0.5])
    assert cfg.workspace.high != cfg.table.high == (512.0, 512.0)
    with pytest.raises(ValueError, match='puts the agent'):
        config(robot='arm', initial_state=[600.0, 100.0, 300.0, 300.0, 0.5])


def test_a_video_suffix_in_capitals_is_accepted():
    """The video writer picks the format case-insensitively (sim_bridge/video.py)."""
    assert config(video_path='run/Episode_{seed}.GIF').video_path == 'run/Episode_{seed}.GIF'
    assert config(video_path='run/episode.MP4').video_path == 'run/episode.MP4'


def test_the_largest_seed_numpy_takes_is_accepted():
    assert config(seeds=[MAX_SEED]).seed_for_episode(0) == MAX_SEED == 2**32 - 1
    assert config(seed_start=MAX_SEED, seed_count=1).seed_for_episode(0) == MAX_SEED


def test_the_seeds_after_the_largest_one_are_refused_or_end_the_run():
    try:
        stepper, _ = make(seed_start=MAX_SEED, max_steps=1)
    except ValueError as exc:
        assert 'seed' in str(exc)
        return
    stepper.start_episode()
    stepper.lockstep_step(timed_out=True)  # ends episode 0; the auto reset starts the next
    assert not stepper.running


def test_a_control_period_that_contradicts_the_deprecated_rate_is_refused():
    with pytest.raises(ValueError, match='control_period_s'):
        config(control_rate_hz=10.0, control_period_s=0.05)
