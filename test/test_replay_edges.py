"""`dp-ros replay` without a ROS graph (sim_bridge/replay.py): where --dataset is looked for,
which rows an episode is, the refusals before anything starts, the parser's documented
defaults, the reset reply's stamp and how an observation is compared with the recording.

Stores are small random-walk replay buffers (support.write_random_walk_store). The replay
over ROS itself: test/ros/test_pusht_sim_node.py and test/ros/test_bag_roundtrip.py.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import zarr
from support import (
    PUSHT_JOINTS,
    REPO_ROOT,
    episode_bounds,
    nonempty_lines,
    write_random_walk_store,
)
from test_episode_stepper import DT, make

from sim_bridge import replay

LENGTHS = [3, 5, 4]


@pytest.fixture
def store(tmp_path):
    path = tmp_path / 'walks.zarr'
    write_random_walk_store(path, LENGTHS, seed=3)
    return path


# --- the dataset and the episode --------------------------------------------------------------

def test_a_relative_dataset_is_looked_for_in_the_working_directory_first(tmp_path, monkeypatch):
    (tmp_path / 'README.md').write_text('not the repository readme')  # in both places
    monkeypatch.chdir(tmp_path)
    assert replay.resolve_dataset(replay.Path('README.md')) == tmp_path / 'README.md'
    assert replay.resolve_dataset(replay.Path('sim_bridge')) == REPO_ROOT / 'sim_bridge'
    # found nowhere: absolute, against the working directory, so the error names it so
    assert replay.resolve_dataset(replay.Path('absent.zarr')) == tmp_path / 'absent.zarr'


def test_each_episode_is_exactly_its_rows_of_the_store(store):
    root = zarr.open(str(store), mode='r')
    starts, ends = episode_bounds(store)
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        episode = replay.load_episode(store, index)
        assert episode.index == index and len(episode.actions) == LENGTHS[index]
        np.testing.assert_array_equal(episode.states, root['data/state'][start:end])
        np.testing.assert_array_equal(episode.actions, root['data/action'][start:end])


@pytest.mark.parametrize('episode', [-1, len(LENGTHS)])
def test_an_episode_outside_the_store_is_refused_naming_the_range(store, episode):
    with pytest.raises(ValueError, match=rf'episode {episode} is out of range: .* has 3 '
                                         r'episodes \(0\.\.2\)'):
        replay.load_episode(store, episode)


def test_a_missing_dataset_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'dataset not found: {tmp_path}/absent.zarr'):
        replay.load_episode(tmp_path / 'absent.zarr', 0)


def test_a_store_whose_states_are_not_push_t_states_is_refused(tmp_path):
    from training.replay_buffer import ReplayBuffer

    ReplayBuffer.create(tmp_path / 'arm.zarr').add_episode({
        'img': np.zeros((3, 96, 96, 3), np.uint8), 'state': np.zeros((3, 3), np.float32),
        'action': np.zeros((3, 3), np.float32)})
    with pytest.raises(ValueError, match='state'):
        replay.load_episode(tmp_path / 'arm.zarr', 0)


# --- main: refusals before anything starts ----------------------------------------------------

def only_error_line(capsys) -> str:
    lines = nonempty_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    return lines[0]


def test_an_episode_out_of_range_ends_replay_with_one_line_and_code_2(store, capsys):
    assert replay.main(['--dataset', str(store), '--episode', '7']) == 2
    assert only_error_line(capsys) == (f'dp-ros replay: episode 7 is out of range: {store} has '
                                       '3 episodes (0..2)')


def test_a_missing_relative_dataset_is_named_by_its_absolute_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert replay.main(['--dataset', 'absent.zarr']) == 2
    assert only_error_line(capsys) == f'dp-ros replay: dataset not found: {tmp_path}/absent.zarr'


def test_a_store_without_states_ends_replay_with_one_line_and_code_2(tmp_path, capsys):
    from training.replay_buffer import ReplayBuffer

    ReplayBuffer.create(tmp_path / 'other.zarr').add_episode({
        'img': np.zeros((3, 96, 96, 3), np.uint8), 'agent_pos': np.zeros((3, 2), np.float32),
        'action': np.zeros((3, 2), np.float32)})
    assert replay.main(['--dataset', str(tmp_path / 'other.zarr')]) == 2
    assert only_error_line(capsys) == (
        f"dp-ros replay: {tmp_path / 'other.zarr'} has no data/state: replay plays a Push-T "
        "store (the paper's or one recorded from the sim with config/bag2zarr_pusht.yaml)")


@pytest.mark.parametrize('args, said', [
    (['--video', 'out.gif'], '--video writes the video of the node replay starts: give '
                             '--start-sim too'),
    (['--timeout', '0'], '--timeout must be > 0 s, got 0.0'),
    (['--timeout', 'nan'], '--timeout must be > 0 s, got nan')])
def test_arguments_that_cannot_work_together_are_refused_before_ros_starts(store, capsys, args,
                                                                           said):
    """--video without --start-sim (before: silently no video) and a timeout of 0 (before: a
    wait that timed out at once, blaming the node) end with one line and code 2, before any
    node or dataset is touched."""
    assert replay.main(['--dataset', str(store), *args]) == 2
    assert only_error_line(capsys).startswith(f'dp-ros replay: {said}')


def test_the_documented_defaults_are_the_parsers():
    parser = replay.build_parser()
    defaults = vars(parser.parse_args([]))
    for action in parser._actions:
        said = re.search(r'\(default (\S+?)[;)]', action.help or '')
        if said:
            assert str(defaults[action.dest]) == said.group(1), action.dest
    assert defaults['print_every'] == 10 and defaults['mode'] == 'lockstep'


def test_an_unknown_mode_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exited:
        replay.build_parser().parse_args(['--mode', 'turbo'])
    assert exited.value.code == 2 and "invalid choice: 'turbo'" in capsys.readouterr().err


# --- the reset reply and the observation ------------------------------------------------------

def test_the_start_stamp_is_read_from_the_sim_nodes_own_reset_reply():
    stepper, _ = make(mode='realtime', seeds=[1, 2, 3])
    stepper.start_episode(now_ns=10**18)
    for now in (1_700_000_000_123_456_789, 1_700_000_000_123_456_789 + 7 * DT):
        ok, message = stepper.reset(now_ns=now)
        assert ok and replay.parse_reset_message(message) == now
    with pytest.raises(ValueError, match="no 'stamp_ns='"):
        replay.parse_reset_message('all 3 seeds are used up')


def test_an_angle_difference_is_the_short_way_round_and_never_negative():
    assert replay.angle_difference(0.1, 2 * math.pi - 0.1) == pytest.approx(0.2)
    assert replay.angle_difference(2 * math.pi - 0.1, 0.1) == pytest.approx(0.2)
    assert replay.angle_difference(0.5, 3.0) == pytest.approx(2.5)
    assert replay.angle_difference(3.0, 0.5) == pytest.approx(2.5)


@pytest.mark.parametrize('angle', [0.0, 1.0, 3.5, 2 * math.pi - 1e-3])
def test_the_observed_state_is_the_published_state_whichever_sign_the_quaternion_has(angle):
    """The block pose as the sim node publishes it (planar_pose), and the same orientation
    with the quaternion negated: both give the recorded-state layout, angle in [0, 2 pi)."""
    from dp_ros.ros.conversions import ns_to_time, numpy_to_joint_state
    from sim_bridge.pusht_sim_node import planar_pose

    joints = numpy_to_joint_state(np.array([101.5, 202.5]), PUSHT_JOINTS)
    pose = planar_pose([300.25, 310.75, angle], 'pusht_workspace', ns_to_time(0))
    expected = [101.5, 202.5, 300.25, 310.75, angle]
    np.testing.assert_allclose(replay.observed_state(joints, pose), expected, atol=1e-9)
    o = pose.pose.orientation
    o.z, o.w = -o.z, -o.w
    state = replay.observed_state(joints, pose)
    assert 0.0 <= state[4] < 2 * math.pi
    assert replay.angle_difference(state[4], angle) == pytest.approx(0.0, abs=1e-9)
