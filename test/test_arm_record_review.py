"""Review of dp_ros/app/arm_record.py's ROS-free rules (`dp-ros arm-record`): the command line's
defaults, --retries 0 allowed, the replay's success bound ('at least the recorded final coverage
minus the tolerance') and the run tolerance inclusive, and the missing-message count for any
namespace and for a sim result without `sent`. The recording itself (ROS) is reviewed in
test/ros/test_arm_record_run_review.py."""
from __future__ import annotations

import os

import numpy as np
import pytest

from dp_ros.app.arm_record import build_parser, main, missing_messages, unrun_steps, verdict
from sim_bridge.arm_demos import TOLERANCE


def test_the_command_lines_defaults_are_the_documented_ones(tmp_path):
    """Realtime streaming, all episodes, 2 retries, the replay tolerance 0.05, 30 s waits."""
    args = build_parser().parse_args(['--output', str(tmp_path)])
    assert (args.mode, args.episodes, args.retries, args.tolerance, args.timeout) == \
        ('realtime', ':', 2, TOLERANCE, 30.0)
    assert TOLERANCE == 0.05
    assert (args.namespace, args.keep_failed, args.no_progress) == ('/pusht', False, False)


def test_zero_retries_is_accepted(tmp_path):
    """--retries 0 (record each episode once) is valid: the run goes on to the dataset, whose
    absence is then the error."""
    env = dict(os.environ)
    try:
        with pytest.raises(FileNotFoundError, match='dataset not found'):
            main(['--output', str(tmp_path / 'bags'), '--retries', '0',
                  '--dataset', str(tmp_path / 'absent.zarr')])
    finally:
        os.environ.clear()
        os.environ.update(env)


def test_a_replay_ending_exactly_tolerance_below_the_recording_is_kept():
    """'at least the recorded final coverage minus 0.05': the bound itself is a success
    (values exact in binary)."""
    row = {'result': {'final_coverage': 0.5, 'rejected': {}},
           'recorded_final_coverage': 0.75, 'unrun_steps': []}
    assert verdict(row, tolerance=0.25) == 'kept'
    row['result']['final_coverage'] = 0.5 - 2**-20
    assert verdict(row, tolerance=0.25) == 'failed'


def test_a_joint_exactly_run_atol_from_its_target_counts_as_run():
    """RUN_ATOL (1e-6 rad) is inclusive: a joint that far from its target ran the command."""
    commands = np.zeros((2, 3))
    joints = np.zeros((4, 3))
    joints[2, 0] = 1e-6  # the end of step 1: command 0
    assert unrun_steps(joints, commands) == []
    joints[2, 0] = 2e-6
    assert unrun_steps(joints, commands) == [0]


def test_missing_messages_are_counted_on_the_runs_namespace():
    """--namespace /arm: the bag's /arm topics are compared with what the sim sent."""
    sent = {'joint_states': 10, 'images': 4}
    counts = {'/arm/joint_states': 10, '/arm/image_raw': 3, '/pusht/image_raw': 4}
    assert missing_messages(counts, sent, '/arm') == {'/arm/image_raw': 1}


def test_a_result_without_sent_counts_has_nothing_missing():
    """A sim whose result has no `sent` (record_episode passes {}): no count, no KeyError."""
    assert missing_messages({'/pusht/image_raw': 3}, {}, '/pusht') == {}
    assert missing_messages({}, {'images': 2}, '/pusht') == {'/pusht/image_raw': 2}
