"""dp-ros arm-record's judgement of a recorded episode, without ROS: which steps the arm did not
run (the data would not say what it did) and when an episode is recorded again."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.app.arm_record import build_parser, main, unrun_steps, verdict
from dp_ros.errors import UserError

COMMANDS = np.array([[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.3, 0.4, 0.5]])
START = np.array([[0.0, 0.1, 0.2]])


def test_every_command_run_in_its_step():
    # rows: the reset's observation, the end of step 0 (held: command 0 is due at step 1), then
    # the end of step k + 1 = command k
    assert unrun_steps(np.vstack([START, START, COMMANDS]), COMMANDS) == []


def test_a_late_first_command_leaves_step_one_holding():
    # the first message came after step 1 began: the arm held its start for another step, then
    # the second message's first point (command 1) ran on time
    joints = np.vstack([START, START, START, COMMANDS[1:]])
    assert unrun_steps(joints, COMMANDS) == [0]


def test_a_target_missed_by_a_tenth_of_a_milliradian_was_not_run():
    joints = np.vstack([START, START, COMMANDS])
    joints[3, 1] += 1e-4
    assert unrun_steps(joints, COMMANDS) == [1]
    joints[3, 1] -= 1e-4 - 1e-7  # float noise of the sim's integration is allowed
    assert unrun_steps(joints, COMMANDS) == []


def test_steps_never_observed_count_as_not_run():
    assert unrun_steps(np.vstack([START, START, COMMANDS[:1]]), COMMANDS) == [1, 2]
    assert unrun_steps(START, COMMANDS) == [0, 1, 2]
    assert unrun_steps(np.zeros((0, 3)), COMMANDS) == [0, 1, 2]


def row(final=0.9, recorded=0.92, rejected=None, unrun=(), skipped=0):
    return {'result': {'final_coverage': final, 'rejected': rejected or {},
                       'slots_skipped': skipped},
            'recorded_final_coverage': recorded, 'unrun_steps': list(unrun)}


def test_verdict_keeps_an_exact_successful_replay():
    assert verdict(row(), tolerance=0.05) == 'kept'


def test_verdict_fails_an_exact_replay_that_ends_worse():
    assert verdict(row(final=0.8), tolerance=0.05) == 'failed'


# skipped control periods: every command may have run, but the bag's timeline has a hole
@pytest.mark.parametrize('bad', [dict(unrun=[0]), dict(rejected={'ends_in_past': 1}),
                                 dict(skipped=2)])
def test_timing_failures_are_recorded_again_even_when_the_block_ended_well(bad):
    assert verdict(row(**bad), tolerance=0.05) == 'retry'
    assert verdict(row(final=0.1, **bad), tolerance=0.05) == 'retry'


def test_retries_default_and_a_negative_count_is_refused(tmp_path):
    assert build_parser().parse_args(['--output', str(tmp_path)]).retries == 2
    with pytest.raises(UserError, match='--retries must be >= 0'):
        main(['--output', str(tmp_path / 'bags'), '--retries', '-1'])
    assert not (tmp_path / 'bags').exists()


@pytest.mark.parametrize('option, value, says', [
    ('--timeout', '0', r'--timeout must be > 0 s, got 0.0'),
    ('--timeout', 'nan', r'--timeout must be > 0 s, got nan'),
    ('--tolerance', 'nan', r'--tolerance must be a coverage fraction in 0..1, got nan'),
    ('--tolerance', '-0.1', r'--tolerance must be a coverage fraction in 0..1, got -0.1')])
def test_a_timeout_or_tolerance_of_no_use_is_refused_before_the_sim_starts(tmp_path, option,
                                                                          value, says):
    """--timeout nan waited without end (no deadline passes NaN), --tolerance nan failed
    every replay: refused in one line, nothing made."""
    with pytest.raises(UserError, match=says):
        main(['--output', str(tmp_path / 'bags'), option, value])
    assert not (tmp_path / 'bags').exists()


def test_in_lockstep_step_k_runs_command_k():
    # --mode lockstep: command k is due at step k's own time (no held step 0): the end of
    # step k is command k
    assert unrun_steps(np.vstack([START, COMMANDS]), COMMANDS, lead=0) == []
    # read with realtime's offset, the same joints say every step ran late
    assert unrun_steps(np.vstack([START, COMMANDS]), COMMANDS) == [0, 1, 2]
    held = np.vstack([START, START, COMMANDS[1:]])  # step 0 held: its command not run
    assert unrun_steps(held, COMMANDS, lead=0) == [0]


def test_messages_the_sim_sent_but_the_bag_lacks_are_counted_per_topic():
    """A best-effort camera that dropped frames while recording: the episode's report says
    how many the bag lacks (the sim's result counts what it sent)."""
    from dp_ros.app.arm_record import missing_messages

    sent = {'joint_states': 481, 'images': 49}
    counts = {'/pusht/joint_states': 481, '/pusht/image_raw': 46, '/pusht/reward': 48}
    assert missing_messages(counts, sent, '/pusht') == {'/pusht/image_raw': 3}
    assert missing_messages({**counts, '/pusht/image_raw': 50}, sent, '/pusht') == {}
    assert missing_messages({}, sent, '/pusht') == {'/pusht/joint_states': 481,
                                                   '/pusht/image_raw': 49}
