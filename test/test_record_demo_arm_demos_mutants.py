"""Behaviour of sim_bridge/arm_demos.py, dp_ros/selection.py, dp_ros/stamps.py and the ROS-free
parts of sim_bridge/record_demo.py and sim_bridge/teleop.py that their other tests left
unpinned (a mutation review; the ROS half is test/ros/test_record_demo_mutants_ros.py).

arm_demos: step k commands the IK of the recorded pusher at step k + 1, for the arm given (the
report's commands too), rounded to 6 decimals; a replay starts from the episode's first row
(the block left where it was when the pusher stays away, its final position error measured
against the recorded last row), and with no command the block is where the episode started;
the angle error is an absolute value, the recorded maximum reward is the maximum over every
recorded row, the end-effector error is measured against the row each step goes to (the
paper's episodes replayed on the real dataset: under a pixel); the report's aggregates are the
mean, mean, median, maximum and per-joint maximum of its rows, its counts keep replay success
apart from the paper's threshold, --tolerance reaches every episode, an infinite tolerance
and a missing dataset are one-line errors, the JSON has one line per episode, and
--no-commands leaves the commands out. load_demonstrations reads float64 states and names the
dataset in its errors. selection: a dataset of no episode selects nothing, and the error is a
UserError. stamps: numpy fields (int32 seconds) do not overflow, a float32 period is read at
its own value, and every result is an int. record_demo's parser defaults (mcap, no
compression, /pusht), a compression its storage does not take and a folder it cannot make
(its reason alone); teleop's --fps must be a finite rate > 0, --node-name defaults to
pusht_sim, a desktop OS always has a display.

Defects it found, mended: `python -m sim_bridge.arm_demos --episodes 2:2` (a range that
selects nothing) failed with "max() arg is an empty sequence" (the selection is now checked
against the dataset's count), and on a store that is no Push-T buffer its error said what
arm-record plays; record_demo's message_class imported '<package>.msg' for a service-event
type (std_srvs/srv/Trigger_Event), a traceback in the discovery timer.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support import PUSHT_DATASET

from dp_ros.errors import UserError
from dp_ros.selection import EpisodeSpecError, parse_episodes
from dp_ros.stamps import seconds_to_ns, stamp_to_ns
from sim_bridge import arm_demos, record_demo, teleop
from sim_bridge.arm_env import ArmPushTEnv
from sim_bridge.arm_kinematics import DEFAULT_ARM
from sim_bridge.pusht_geometry import GOAL_POSE, coverage

GOAL = GOAL_POSE.tolist()


@pytest.fixture(scope='module')
def env() -> ArmPushTEnv:
    return ArmPushTEnv(render_obs=False, max_episode_steps=None)


def still(block: list[float], rows: int = 3) -> np.ndarray:
    """The pusher rests far from the block for `rows` rows; the block rows as given."""
    return np.array([[100.0, 450.0, *block]] * rows)


def write_demos(path: Path, episodes: list[np.ndarray]) -> Path:
    import zarr

    root = zarr.open_group(str(path), mode='w', zarr_format=3)
    root.create_array('data/state', data=np.concatenate(episodes).astype(np.float32))
    root.create_array('meta/episode_ends',
                      data=np.cumsum([len(e) for e in episodes]).astype(np.int64))
    return path


# --- dp_ros/stamps.py --------------------------------------------------------------------------

def test_stamp_to_ns_reads_numpy_fields_as_python_ints_without_overflow():
    """A decoded stamp whose fields are numpy int32/uint32 (a structured array's): the sum in
    Python ints, no int32 overflow of sec * 1e9."""
    stamp = SimpleNamespace(sec=np.int32(1_700_000_000), nanosec=np.uint32(5))
    ns = stamp_to_ns(stamp)
    assert ns == 1_700_000_000_000_000_005 and type(ns) is int


def test_seconds_to_ns_reads_a_float32_at_its_own_value_and_gives_an_int():
    """np.float32(1.1) is 1.10000002384 s: 1_100_000_024 ns, not float32 arithmetic's
    1_100_000_000; the result is an int."""
    assert seconds_to_ns(np.float32(1.1)) == 1_100_000_024
    assert type(seconds_to_ns(0.1)) is int and seconds_to_ns(0.1) == 100_000_000


# --- dp_ros/selection.py -----------------------------------------------------------------------

@pytest.mark.parametrize('spec', ['0', ':'])
def test_a_dataset_of_no_episode_selects_nothing(spec: str):
    """n = 0 is a count like any other: every index is out of range (an empty store)."""
    with pytest.raises(EpisodeSpecError, match='the dataset has episodes'):
        parse_episodes(spec, 0)


def test_a_bad_spec_is_a_user_error():
    """The commands print a UserError as one line, without a traceback."""
    with pytest.raises(UserError):
        parse_episodes('x', None)


# --- sim_bridge/arm_demos.py -------------------------------------------------------------------

@pytest.fixture(scope='module')
def demos() -> arm_demos.Demonstrations:
    if not PUSHT_DATASET.exists():
        pytest.fail(f'shared dataset missing: {PUSHT_DATASET}')
    return arm_demos.load_demonstrations(PUSHT_DATASET)


def test_the_paper_states_load_as_float64(demos: arm_demos.Demonstrations):
    assert demos.states.dtype == np.float64 and demos.states.shape[1] == 5
    assert demos.ends[-1] == len(demos.states)


def test_step_k_commands_the_ik_of_the_recorded_pusher_at_step_k_plus_1(
        demos: arm_demos.Demonstrations):
    """The arm's forward kinematics of command k is the recorded pusher of row k + 1."""
    states = demos.episode(205)
    commands = arm_demos.joint_commands(states)
    assert commands.shape == (len(states) - 1, 3)
    np.testing.assert_allclose(DEFAULT_ARM.forward(commands), states[1:, :2], atol=1e-6)


def test_a_paper_episode_replays_with_the_end_effector_on_the_recorded_path(
        env: ArmPushTEnv, demos: arm_demos.Demonstrations):
    """The end-effector error of step k is measured against row k + 1, where it was sent:
    under a pixel (the recorded pusher moves several pixels a step)."""
    states = demos.episode(205)
    assert np.max(np.hypot(*np.diff(states[:, :2], axis=0).T)) > 3.0
    result = arm_demos.replay_episode(env, states, arm_demos.joint_commands(states))
    assert result['steps'] == len(states) - 1
    assert result['max_end_effector_error_px'] < 1.0


def test_the_joint_commands_are_those_of_the_arm_given(tmp_path: Path):
    """Another shoulder: other joint angles, reaching the same recorded points; run() reports
    them for its arm, rounded to 6 decimals."""
    arm = dataclasses.replace(DEFAULT_ARM, shoulder=(DEFAULT_ARM.shoulder[0] + 20.0,
                                                     DEFAULT_ARM.shoulder[1]))
    states = np.array([[250.0 + 5 * i, 300.0, *GOAL] for i in range(4)])
    commands = arm_demos.joint_commands(states, arm)
    assert not np.allclose(commands, arm_demos.joint_commands(states))
    np.testing.assert_allclose(arm.forward(commands), states[1:, :2], atol=1e-6)
    report = arm_demos.run(write_demos(tmp_path / 'demos.zarr', [states]), arm=arm)
    (row,) = report['per_episode']
    assert row['joint_commands'] == np.round(commands, 6).tolist()
    assert report['arm']['shoulder'] == list(arm.shoulder)


def test_a_replay_starts_from_the_first_row_and_measures_against_the_last(env: ArmPushTEnv):
    """The pusher stays away: the block stays where row 0 has it; the recorded last row has
    it 30 px and 0.5 rad away (recorded angle above the replay's: the error is positive)."""
    states = still([300.0, 200.0, 0.3], rows=4)
    states[-1, 2:5] = [330.0, 200.0, 0.8]
    result = arm_demos.replay_episode(env, states, arm_demos.joint_commands(states))
    assert result['final_block_position_error_px'] == pytest.approx(30.0, abs=0.5)
    assert result['final_block_angle_error_rad'] == pytest.approx(0.5, abs=0.01)
    assert result['final_coverage'] == pytest.approx(coverage(states[0, 2:5]), abs=1e-3)


def test_with_no_command_the_block_is_where_the_episode_started(env: ArmPushTEnv):
    """No step replayed: the final coverage is the start row's, not the recorded end's."""
    states = still([300.0, 200.0, 0.3], rows=3)
    states[-1, 2:5] = GOAL
    result = arm_demos.replay_episode(env, states, np.zeros((0, 3)))
    assert result['steps'] == 0
    assert result['final_coverage'] == round(coverage(states[0, 2:5]), 6)
    assert result['recorded_final_coverage'] == round(coverage(GOAL_POSE), 6)
    assert result['final_block_position_error_px'] > 50


def test_the_recorded_max_reward_is_over_every_recorded_row(env: ArmPushTEnv):
    """Recorded on the goal in the middle row, off it at the end: recorded_max_reward 1."""
    states = still([300.0, 200.0, 0.3], rows=3)
    states[1, 2:5] = GOAL
    result = arm_demos.replay_episode(env, states, arm_demos.joint_commands(states))
    assert result['recorded_max_reward'] == 1.0
    assert result['recorded_final_coverage'] < 0.5


@pytest.fixture
def three_episodes(tmp_path: Path) -> Path:
    """0: on the goal (succeeds, paper success), the pusher jumping 120 px in its last step
    (the arm lags: end-effector error, joint speeds); 1: brought to the goal in the recording,
    not moved in the replay (fails); 2: off the goal, left there (succeeds, no paper
    success)."""
    jump = still(GOAL)
    jump[-1, :2] = [100.0, 330.0]
    brought = still([350.0, 150.0, 0.0])
    brought[-1, 2:5] = GOAL
    return write_demos(tmp_path / 'demos.zarr',
                       [jump, brought, still([300.0, 300.0, 1.0])])


def test_the_report_aggregates_its_rows(three_episodes: Path):
    report = arm_demos.run(three_episodes, with_commands=False)
    rows = report['per_episode']
    assert [r['episode'] for r in rows] == [0, 1, 2]
    assert report['succeeded'] == 2 and report['failed_episodes'] == [1]
    assert report['paper_success_replayed'] == 1
    assert report['dataset'] == str(three_episodes)
    final = [r['final_coverage'] for r in rows]
    recorded = [r['recorded_final_coverage'] for r in rows]
    assert report['mean_final_coverage'] == round(float(np.mean(final)), 6)
    assert report['mean_final_coverage'] != round(float(np.median(final)), 6)
    assert report['mean_recorded_final_coverage'] == round(float(np.mean(recorded)), 6)
    assert report['mean_recorded_final_coverage'] != report['mean_final_coverage']
    errors = [r['final_block_position_error_px'] for r in rows]
    assert report['median_final_block_position_error_px'] == round(float(np.median(errors)), 4)
    assert report['median_final_block_position_error_px'] != round(float(np.mean(errors)), 4)
    ee_errors = [r['max_end_effector_error_px'] for r in rows]
    assert report['max_end_effector_error_px'] == max(ee_errors) > ee_errors[-1]
    speeds = np.array([r['max_joint_speed'] for r in rows])
    assert report['max_joint_speed'] == speeds.max(axis=0).tolist()
    assert report['max_joint_speed'] != speeds.max(axis=1).tolist()


def test_the_tolerance_reaches_every_episode(three_episodes: Path):
    """A tolerance of 1 forgives the failed replay too."""
    report = arm_demos.run(three_episodes, tolerance=1.0, with_commands=False)
    assert report['succeeded'] == 3 and report['failed_episodes'] == []
    assert report['success_rule'].endswith('- 1.0')


def test_the_report_is_json_with_one_line_per_episode(three_episodes: Path):
    report = arm_demos.run(three_episodes)
    text = arm_demos.report_json(report)
    assert json.loads(text) == report
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith('    {')]
    assert [json.loads(line.rstrip(',')) for line in rows] == report['per_episode']
    assert lines[-len(rows) - 3:-len(rows) - 2] == ['  "per_episode": [']
    assert lines[-2:] == ['  ]', '}'] and lines[-len(rows) - 4].endswith(',')
    assert all(line.strip() not in (',', '') for line in lines)


@pytest.mark.parametrize('no_commands', [False, True])
def test_the_command_writes_its_report_with_or_without_the_commands(
        three_episodes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        no_commands: bool):
    out = tmp_path / 'report.json'
    argv = ['--dataset', str(three_episodes), '--report', str(out)]
    assert arm_demos.main(argv + ['--no-commands'] * no_commands) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('2 of 3 demonstrations succeed in the arm env')
    assert 'failed: [1]' in printed and f'wrote {out}' in printed
    rows = json.loads(out.read_text())['per_episode']
    assert [('joint_commands' in r) for r in rows] == [not no_commands] * 3


@pytest.mark.parametrize('tolerance', ['inf', '-inf'])
def test_an_infinite_tolerance_is_refused(three_episodes: Path,
                                          capsys: pytest.CaptureFixture[str], tolerance: str):
    """inf: every episode succeeds whatever happens; -inf: none can."""
    assert arm_demos.main(['--dataset', str(three_episodes), f'--tolerance={tolerance}']) == 2
    assert '--tolerance must be a finite number' in capsys.readouterr().err


def test_a_missing_dataset_is_a_one_line_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]):
    missing = tmp_path / 'nowhere.zarr'
    assert arm_demos.main(['--dataset', str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and str(missing) in err and 'Traceback' not in err


def test_an_episode_out_of_range_names_the_dataset(three_episodes: Path):
    demos = arm_demos.load_demonstrations(three_episodes)
    with pytest.raises(ValueError, match=f'out of range: {three_episodes} has 3 episodes'):
        demos.episode(3)


def test_an_episode_range_that_selects_nothing_is_named(three_episodes: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    assert arm_demos.main(['--dataset', str(three_episodes), '--episodes', '2:2']) == 2
    err = capsys.readouterr().err
    assert "error: episodes '2:2': the dataset has episodes 0..2" in err and 'max()' not in err


def test_a_store_that_is_no_push_t_buffer_is_refused_in_arm_demos_own_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    import zarr

    store = tmp_path / 'other.zarr'
    zarr.open_group(str(store), mode='w', zarr_format=3).create_array('x', data=np.zeros(3))
    assert arm_demos.main(['--dataset', str(store)]) == 2
    err = capsys.readouterr().err
    assert 'not a zarr replay buffer' in err and 'arm-record' not in err
    assert 'python -m sim_bridge.arm_demos plays a Push-T store' in err


# --- sim_bridge/record_demo.py (no node) -------------------------------------------------------

def test_record_demo_defaults_are_an_uncompressed_mcap_bag_of_the_pusht_topics():
    args = record_demo.build_parser().parse_args(['-o', 'bag'])
    assert (args.storage, args.compression, args.namespace) == ('mcap', 'none', '/pusht')
    assert (args.topics, args.stop_after_results, args.duration) == (None, 0, 0.0)


def test_message_class_resolves_a_service_event_type():
    from std_srvs.srv import Trigger_Event

    assert record_demo.message_class('std_srvs/srv/Trigger_Event') is Trigger_Event


def test_message_class_of_a_type_this_machine_lacks_raises_what_the_recorder_skips():
    """A robot's own message package not installed here, or a type it does not have: the
    ImportError or AttributeError the Recorder catches (the topic is said and skipped)."""
    with pytest.raises(ImportError):
        record_demo.message_class('acme_robot_msgs/msg/GripperState')
    with pytest.raises(AttributeError):
        record_demo.message_class('std_msgs/msg/NoSuchType')


def test_a_compression_its_storage_does_not_take_is_refused_before_any_bag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """sqlite3 compresses per message, not in chunks: exit 2 with the recorder's reason, no
    bag directory, no node started."""
    out = tmp_path / 'bag'
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = record_demo.main(['-o', str(out), '--storage', 'sqlite3',
                                 '--compression', 'chunks', '--duration', '0.1'])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('record_demo: ') and 'Traceback' not in err
    assert not out.exists()


def test_an_output_under_a_file_is_one_line_with_the_reason(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    """The folder cannot be made: its OSError's reason alone ('Not a directory'), exit 2."""
    (tmp_path / 'file').write_text('not a folder')
    out = tmp_path / 'file' / 'bag'
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = record_demo.main(['-o', str(out), '--duration', '0.1'])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 2
    assert capsys.readouterr().err == f'record_demo: cannot write {out}: Not a directory\n'


# --- sim_bridge/teleop.py (no display, no node) ------------------------------------------------

@pytest.mark.parametrize('fps', ['0', '-5', 'inf', 'nan'])
def test_an_fps_that_is_no_rate_is_refused(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], fps: str):
    """Checked before the display: the message names --fps, also on a headless machine."""
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    assert teleop.main(['--fps', fps]) == 2
    assert capsys.readouterr().err.startswith('teleop: --fps must be a rate > 0')


def test_the_sim_node_name_defaults_to_pusht_sim():
    assert teleop.build_parser().parse_args([]).node_name == 'pusht_sim'


@pytest.mark.parametrize('platform', ['darwin', 'win32'])
def test_a_desktop_os_always_has_a_display(monkeypatch: pytest.MonkeyPatch, platform: str):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    monkeypatch.setattr(sys, 'platform', platform)
    assert teleop.has_display() is True
    assert math.isfinite(teleop.build_parser().parse_args([]).fps)
