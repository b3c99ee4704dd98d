"""`dp-ros dry-run-report`'s hold baseline is, as its docstring says, the open-loop report's
(training.open_loop.held_steps): the reference of the step before each chunk held over the
chunk's steps (a policy that learned no motion), not a one-step-ahead predictor that sees the
operator's value of the step before every compared step (which any policy planning several
steps ahead loses to). Checked by independent arithmetic on real bags."""
from __future__ import annotations

import json

import numpy as np
import pytest
from support import MS

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, trajectory_message
from training.open_loop import held_steps

OPERATOR = '/arm_controller/joint_trajectory'
DRY = '/dp_policy/dry_run/joint_trajectory'
TRAJ = 'trajectory_msgs/msg/JointTrajectory'
T0 = 1_700_000_000 * 10**9
DT = 100 * MS
TA = 4  # points per dry-run chunk, one chunk every TA periods


def operator_at(k) -> np.ndarray:
    return np.sin(0.3 * np.asarray(k, dtype=np.float64))[..., None]


def write_bag(path, policy, operator=operator_at, operator_steps=range(60),
              chunk_starts=range(0, 56, TA), chunk_len: int = TA, jitter_ns: int = 0) -> None:
    """The operator's one-point commands at 10 Hz at `operator_steps`; the dry run's
    chunk_len-point chunks at `chunk_starts` (stamped jitter_ns off the grid) holding
    policy(start, steps)."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in operator_steps:
            t = T0 + k * DT
            rec.write(OPERATOR, TRAJ, t + MS, trajectory_message(ts, ['j'], operator(k)[None],
                                                                 t, DT))
        for s in chunk_starts:
            stamp = T0 + s * DT + jitter_ns
            rec.write(DRY, TRAJ, stamp + 2 * MS,
                      trajectory_message(ts, ['j'], policy(s, np.arange(s, s + chunk_len)),
                                         stamp, DT))


def before_chunk(k: np.ndarray, last_start: int = 52) -> np.ndarray:
    """The step before the chunk executing at step k (chunks every TA steps up to last_start:
    the last one's 8 points run on to step 59)."""
    return np.minimum(k // TA * TA, last_start) - 1


def metrics(tmp_path, capsys, bag) -> dict:
    out = tmp_path / 'r.json'
    code = cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-plot',
                     '--no-progress'])
    text = capsys.readouterr()
    assert code == 0, text.out + text.err
    return json.loads(out.read_text())['metrics']


@pytest.mark.parametrize('jitter_ns', [0, -3 * MS, 3 * MS])
def test_a_policy_that_holds_the_command_before_each_chunk_equals_the_hold_baseline(
        tmp_path, capsys, jitter_ns):
    """A dry run whose chunks repeat the operator's command of the step before each chunk
    is the hold baseline: over the chunks that have that step (all but the first), its error
    is the hold error, also with chunk stamps a few ms off the grid."""
    bag = tmp_path / 'dry_run'
    write_bag(bag, lambda s, steps: np.repeat(operator_at(max(s - 1, 0))[None], len(steps), 0),
              jitter_ns=jitter_ns)
    m = metrics(tmp_path, capsys, bag)
    assert m['n_steps'] == 56
    k = np.arange(TA, 56)  # the first chunk has no step before it on the grid
    span = np.ptp(operator_at(np.arange(60)))
    want = np.sqrt(np.mean(((operator_at(before_chunk(k)) - operator_at(k)) * 2 / span) ** 2))
    assert m['hold_rmse_norm'] == pytest.approx(want, rel=1e-6)
    assert m['hold_rmse_norm'] == pytest.approx(m['rmse_norm'], rel=0.02)


def test_a_policy_two_steps_late_beats_holding_over_four_step_chunks(tmp_path, capsys):
    """Holding a command over a 4-step chunk is 1..4 steps late; a policy 2 steps late
    (8-point chunks every 4 steps) beats it, as it does in `dp-ros open-loop`."""
    bag = tmp_path / 'late'
    write_bag(bag, lambda s, steps: operator_at(steps - 2), chunk_len=8)
    m = metrics(tmp_path, capsys, bag)
    k = np.arange(TA, 60)  # chunk 52's points reach step 59
    span = np.ptp(operator_at(np.arange(60)))
    hold = (operator_at(before_chunk(k)) - operator_at(k)) * 2 / span
    assert m['hold_rmse_norm'] == pytest.approx(np.sqrt(np.mean(hold ** 2)), rel=1e-6)
    assert 0 < m['rmse_norm'] < m['hold_rmse_norm']
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_the_hold_is_taken_over_the_compared_steps_of_chunks_with_a_reference_before(
        tmp_path, capsys):
    """The operator's commands stop for steps 10..19: a chunk whose step before is not
    recorded (starts 12, 16, 20) has no hold, steps not recorded are not compared."""
    recorded = [k for k in range(60) if not 10 <= k < 20]
    bag = tmp_path / 'gaps'
    write_bag(bag, lambda s, steps: operator_at(steps - 2), operator_steps=recorded,
              chunk_len=8)
    m = metrics(tmp_path, capsys, bag)
    assert m['n_steps'] == 50
    k = np.array([k for k in recorded if k >= TA and before_chunk(k) in recorded])
    span = np.ptp(operator_at(np.array(recorded)))
    hold = (operator_at(before_chunk(k)) - operator_at(k)) * 2 / span
    assert m['hold_rmse_norm'] == pytest.approx(np.sqrt(np.mean(hold ** 2)), rel=1e-6)
    assert m['per_joint']['hold_rmse_norm'] == [pytest.approx(np.sqrt(np.mean(hold ** 2)),
                                                              rel=1e-6)]


def test_chunks_that_are_not_planned_leave_no_hold(tmp_path, capsys):
    """The operator stands still while the policy plans (steps 0..15, 44..59), moves while it
    does not (16..43): holding is exact but over chunk 44 (held from step 43, 27/28 of the
    way); the policy, 0.02 off throughout, does not beat it."""
    def still_ramp_still(k):
        return np.clip((np.asarray(k, dtype=np.float64) - 16) / 28.0, 0.0, 1.0)[..., None]

    bag = tmp_path / 'still'
    write_bag(bag, lambda s, steps: still_ramp_still(steps) + 0.02, operator=still_ramp_still,
              chunk_starts=[0, 4, 8, 12, 44, 48, 52, 56])
    m = metrics(tmp_path, capsys, bag)
    assert m['n_steps'] == 32
    assert m['rmse_norm'] == pytest.approx(0.04, rel=1e-6)  # 0.02 of a range of 1, times 2
    want = np.sqrt(4 * (2 / 28) ** 2 / 28)  # 28 held steps (not chunk 0's), 4 off by 1/28
    assert m['hold_rmse_norm'] == pytest.approx(want, rel=1e-6)
    assert m['rmse_norm'] > m['hold_rmse_norm']


def test_held_steps_is_the_step_before_each_steps_chunk():
    """The one rule of both reports: the step before the latest start at or before a step;
    -1 before the first chunk and in a chunk starting at step 0."""
    starts = np.array([0, 4, 9])
    steps = np.arange(12)
    assert held_steps(starts, steps).tolist() == [-1] * 4 + [3] * 5 + [8] * 3
    assert held_steps(np.array([3]), np.array([1, 3, 7])).tolist() == [-1, 2, 2]
