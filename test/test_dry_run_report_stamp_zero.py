"""`dp-ros dry-run-report` with the operator's JointTrajectory commands stamped 0 ("start now",
what most teleop tools publish): each command is placed at its receive time, so a dry run that
matches the operator exactly is exact (full coverage, lag 0, error 0) whether the commands
are stamped or not. bag2zarr's lockstep rule (a message stamped 0 takes the stamp of the
grid topic's message received last before it) would put several commands on one sparse
dry-run chunk's stamp. Receive times stand for stamps only on the node's clock: a bag that
received the dry run's chunks far from their stamps is refused in one line, not reported."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, joint_state_message, trajectory_message

MS = 10**6
NS = 10**9
T0 = 1_700_000_000 * NS
DT = 100 * MS
JOINTS = ['shoulder', 'gripper']
OPERATOR = '/arm_controller/joint_trajectory'
DRY = '/dp_policy/dry_run/joint_trajectory'


def op(k):
    k = np.asarray(k, dtype=np.float64)
    return np.stack([np.sin(0.3 * k), 0.04 * (np.cos(0.2 * k) > 0)], axis=-1)


def write_bag(path, operator_stamp_zero: bool, recv_shift: int = 0) -> None:
    """The operator's one-point commands at 10 Hz (sent 1 ms after each step), the dry run's
    8-point chunks every 4 steps holding exactly the operator's values (lag 0); every
    receive time `recv_shift` ns off the stamps' clock."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            rec.write(OPERATOR, 'trajectory_msgs/msg/JointTrajectory', t + MS + recv_shift,
                      trajectory_message(ts, JOINTS, op(k)[None], 0 if operator_stamp_zero
                                         else t, DT))
        for i in range(0, 61 * 5):
            t = T0 + i * 20 * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + MS + recv_shift,
                      joint_state_message(ts, JOINTS, op(i // 5 - 1), t))
        for k in range(0, 56, 4):
            t = T0 + k * DT
            rec.write(DRY, 'trajectory_msgs/msg/JointTrajectory', t + 2 * MS + recv_shift,
                      trajectory_message(ts, JOINTS, op(np.arange(k, k + 8)), t, DT))


def run(capsys, bag, out) -> tuple[int, str]:
    code = cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-plot',
                     '--no-progress'])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize('stamp_zero', [False, True], ids=['stamped', 'stamp_zero'])
def test_an_exact_dry_run_is_exact_whatever_the_operators_stamps(tmp_path, capsys, stamp_zero):
    bag = tmp_path / 'dry_run'
    write_bag(bag, stamp_zero)
    out = tmp_path / 'r.json'
    code, text = run(capsys, bag, out)
    assert code == 0, text
    report = json.loads(out.read_text())
    m = report['metrics']
    assert m['best_lag_steps'] == 0
    assert m['coverage'] >= 0.9
    assert m['rmse_norm'] == pytest.approx(0, abs=0.05)
    assert report['stamp_zero_topics'] == ([OPERATOR] if stamp_zero else [])
    assert ('placed at their receive times' in text) == stamp_zero


def test_commands_stamped_0_in_a_bag_on_another_clock_are_refused(tmp_path, capsys):
    """Received 2 s after their stamps (a recorder on another clock than the node's): the
    commands would be compared 20 steps off, so the report is refused, naming the topic."""
    bag = tmp_path / 'dry_run'
    write_bag(bag, operator_stamp_zero=True, recv_shift=2 * NS)
    code, text = run(capsys, bag, tmp_path / 'r.json')
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, text
    assert 'commands stamped 0' in text and OPERATOR in text
    assert not (tmp_path / 'r.json').exists()
