"""`dp-ros dry-run-report` (training/dry_run_report.py) edges on real bags: the per-joint
numbers (MAE, worst error, the reference's range, a joint the operator never moved), the
coverage against the whole grid, the lag fit (its half-the-pairs rule, its tie-break, a
reference with gaps), which reference is picked, the period and offset a user gives or
leaves out, and one-line errors for bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from support import MS

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, joint_state_message, trajectory_message

JOINTS = ['shoulder', 'gripper']
OPERATOR = '/arm_controller/joint_trajectory'
DRY = '/dp_policy/dry_run/joint_trajectory'
TRAJ = 'trajectory_msgs/msg/JointTrajectory'
STATES = 'sensor_msgs/msg/JointState'
NS = 1_000_000_000
T0 = 1_700_000_000 * NS
DT = 100 * MS


def operator_at(k) -> np.ndarray:
    """The operator's command at step k (0.1 s), per joint."""
    k = np.asarray(k, dtype=np.float64)
    return np.stack([np.sin(0.3 * k), 0.04 * (np.cos(0.2 * k) > 0)], axis=-1)


def write_bag(path, lag: int = 2, operator=operator_at, operator_steps=range(60),
              chunk_starts=range(0, 56, 4), chunk_len: int = 8, policy=None,
              names=JOINTS, t0: int = T0, extra=None) -> None:
    """The operator's one-point commands at 10 Hz on OPERATOR at `operator_steps`, and the
    dry run's chunk_len-point chunks at `chunk_starts` holding policy(steps) (default: the
    operator's values `lag` steps late); extra(rec, typestore) writes more."""
    policy = policy or (lambda steps: operator(steps - lag))
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        if extra:
            extra(rec, ts)
        for k in operator_steps:
            t = t0 + k * DT
            rec.write(OPERATOR, TRAJ, t + MS,
                      trajectory_message(ts, JOINTS, operator(k)[None], t, DT))
        for k in chunk_starts:
            steps = np.arange(k, k + chunk_len)
            rec.write(DRY, TRAJ, t0 + k * DT + 2 * MS,
                      trajectory_message(ts, names, policy(steps), t0 + k * DT, DT))


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(['dry-run-report', *map(str, args), '--no-progress', '--no-plot'])
    out = capsys.readouterr()
    return code, out.out, out.err


def report_of(capsys, tmp_path, *args) -> dict:
    out = tmp_path / 'r.json'
    code, text, err = run(capsys, *args, '--output', out)
    assert code == 0, text + err
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- the numbers

def test_per_joint_mae_worst_error_range_and_coverage_of_the_whole_grid(tmp_path, capsys):
    """Two periods late with chunks 32..40 not planned: MAE and max |err| per joint are those
    of the compared steps, the reference's range is the operator's, coverage is the compared
    steps over all 60 grid steps."""
    bag = tmp_path / 'bag'
    write_bag(bag, chunk_starts=[k for k in range(0, 56, 4) if k not in (32, 36, 40)])
    m = report_of(capsys, tmp_path, bag)['metrics']
    k = np.array([s for s in range(60) if not 36 <= s < 44])  # no point due: a gap
    err = operator_at(k - 2) - operator_at(k)
    assert m['n_grid_steps'] == 60 and m['n_steps'] == len(k)
    assert m['coverage'] == pytest.approx(len(k) / 60)
    pj = m['per_joint']
    np.testing.assert_allclose(pj['mae'], np.mean(np.abs(err), axis=0), rtol=1e-6)
    np.testing.assert_allclose(pj['max_abs'], np.max(np.abs(err), axis=0), rtol=1e-6)
    np.testing.assert_allclose(pj['reference_range'], np.ptp(operator_at(np.arange(60)), axis=0),
                               rtol=1e-6)
    assert m['best_lag_steps'] == 2


def test_several_bags_are_pooled_and_bags_of_other_joints_refused(tmp_path, capsys):
    """The same dry run in two bags: twice the grid and the steps, the same errors; a bag
    whose dry run commands other joints is one line naming both bags."""
    one, two = tmp_path / 'one', tmp_path / 'two'
    write_bag(one)
    write_bag(two)
    single = report_of(capsys, tmp_path, one)['metrics']
    both = report_of(capsys, tmp_path, one, two)['metrics']
    assert (both['n_grid_steps'], both['n_steps']) == (120, 2 * single['n_steps'])
    assert both['rmse_norm'] == pytest.approx(single['rmse_norm'])
    assert both['best_lag_steps'] == single['best_lag_steps'] == 2
    other = tmp_path / 'other'
    write_bag(other, names=['gripper', 'shoulder'],
              policy=lambda steps: np.ascontiguousarray(operator_at(steps - 2)[:, ::-1]))
    code, _, err = run(capsys, one, other, '--output', tmp_path / 'x.json')
    assert code == 2 and 'differs from' in err
    assert 'in joints, dry-run or reference topic, or period' in err
    assert not (tmp_path / 'x.json').exists()


def test_a_reference_with_gaps_is_compared_only_where_it_was_recorded(tmp_path, capsys):
    """The operator's commands stop for steps 10..19 (and sit at 1 +- 0.5, far from 0): the
    lag fit pairs the policy only with recorded reference steps, so two steps late is exact;
    the range is the recorded commands'; the hold baseline skips the step after the gap."""
    def operator(k):
        k = np.asarray(k, dtype=np.float64)
        return np.stack([1 + 0.5 * np.sin(0.3 * k), 1 + 0.3 * np.cos(0.2 * k)], axis=-1)

    bag = tmp_path / 'bag'
    recorded = [k for k in range(60) if not 10 <= k < 20]
    write_bag(bag, operator=operator, operator_steps=recorded)
    m = report_of(capsys, tmp_path, bag)['metrics']
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(m['per_joint']['reference_range'],
                               np.ptp(operator(np.array(recorded)), axis=0), rtol=1e-6)
    assert m['n_steps'] == 50
    # each chunk of 4 holds the step before it, where that step was recorded too (not 9 to 20)

    def before(k):
        return np.minimum(np.asarray(k) // 4 * 4, 52) - 1

    t = np.array([k for k in recorded if k >= 4 and before(k) in recorded])
    span = np.ptp(operator(np.array(recorded)), axis=0)
    hold = (operator(before(t)) - operator(t)) * 2 / span
    assert m['hold_rmse_norm'] == pytest.approx(np.sqrt(np.mean(hold ** 2)), rel=1e-5)
    np.testing.assert_allclose(m['per_joint']['hold_rmse_norm'],
                               np.sqrt(np.mean(hold ** 2, axis=0)), rtol=1e-5)


def test_a_joint_the_operator_never_moved_has_no_normalized_error(tmp_path, capsys):
    """The gripper held at 0.04 all along, the policy's 0.01 off: its raw error is there, its
    normalized ones are null (no range), and the pooled normalized error is the shoulder's
    alone (exact at two steps late)."""
    def operator(k):
        k = np.asarray(k, dtype=np.float64)
        return np.stack([np.sin(0.3 * k), np.full(k.shape, 0.04)], axis=-1)

    bag = tmp_path / 'bag'
    write_bag(bag, operator=operator, policy=lambda s: operator(s - 2) + [0.0, 0.01])
    m = report_of(capsys, tmp_path, bag)['metrics']
    pj = m['per_joint']
    assert pj['reference_range'][1] == 0.0
    assert pj['rmse_norm'][1] is None and pj['hold_rmse_norm'][1] is None
    assert pj['rmse'][1] == pytest.approx(0.01) and pj['max_abs'][1] == pytest.approx(0.01)
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    assert m['rmse_norm'] == pytest.approx(pj['rmse_norm'][0])


def test_a_shift_that_leaves_under_half_the_pairs_is_not_scored(tmp_path, capsys):
    """A dry run 40 steps behind a 60-step run, shifts up to 45 tried: at 40 it would be exact
    on 20 pairs, under half of the unshifted ones: not scored, not the best lag."""
    bag = tmp_path / 'bag'
    write_bag(bag, lag=40)
    m = report_of(capsys, tmp_path, bag, '--max-lag', '45')['metrics']
    by_lag = m['rmse_norm_by_lag']
    assert len(by_lag) == 91 and by_lag['40'] is None and by_lag['0'] is not None
    assert m['best_lag_steps'] is not None and abs(m['best_lag_steps']) < 40
    assert m['best_lag_rmse_norm'] > 0.1


def test_equally_good_lags_resolve_to_the_smallest_shift(tmp_path, capsys):
    """An operator alternating every step and a policy exact on it: every even shift fits
    exactly, and the report says 0 (not the most negative of them)."""
    def alternating(k):
        k = np.asarray(k)
        return np.stack([np.where(k % 2, 0.5, -0.5), np.where(k % 2, 0.0, 0.04)], axis=-1)

    bag = tmp_path / 'bag'
    write_bag(bag, operator=alternating, lag=0)
    m = report_of(capsys, tmp_path, bag, '--max-lag', '4')['metrics']
    assert [m['rmse_norm_by_lag'][str(k)] for k in (-4, -2, 0, 2, 4)] == [0.0] * 5
    assert m['best_lag_steps'] == 0 and m['rmse_norm'] == 0.0


# --------------------------------------------------------------------------- the grid

def test_one_point_chunks_need_the_period_and_are_compared_with_it(tmp_path, capsys):
    """A dry run of one-point chunks has no point spacing: one line asks for --period; with
    it every step is compared (two steps late: exact at lag 2)."""
    bag = tmp_path / 'bag'
    write_bag(bag, chunk_starts=range(60), chunk_len=1)
    code, _, err = run(capsys, bag, '--output', tmp_path / 'x.json')
    assert code == 2 and 'one point each: give the control period (--period)' in err
    assert not (tmp_path / 'x.json').exists()
    report = report_of(capsys, tmp_path, bag, '--period', '0.1')
    m = report['metrics']
    assert report['period_s'] == pytest.approx(0.1) and m['n_grid_steps'] == 60
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_a_given_period_sets_the_grid(tmp_path, capsys):
    """--period 0.2 on a 0.1 s dry run: 30 grid steps of 0.2 s, the lag in those periods."""
    bag = tmp_path / 'bag'
    write_bag(bag)
    report = report_of(capsys, tmp_path, bag, '--period', '0.2')
    assert report['period_s'] == pytest.approx(0.2)
    assert report['metrics']['n_grid_steps'] == 30
    assert report['metrics']['best_lag_steps'] == 1  # two 0.1 s steps late


def test_the_period_is_the_usual_point_spacing(tmp_path, capsys):
    """One chunk among fourteen with its points 50 ms apart: the period stays 0.1 s."""
    bag = tmp_path / 'bag'

    def odd_chunk(rec, ts):
        rec.write(DRY, TRAJ, T0 + 20 * DT + 3 * MS,
                  trajectory_message(ts, JOINTS, operator_at(np.arange(20, 24) - 2),
                                     T0 + 20 * DT, DT // 2))

    write_bag(bag, chunk_starts=[k for k in range(0, 56, 4) if k != 20], extra=odd_chunk)
    report = report_of(capsys, tmp_path, bag)
    assert report['period_s'] == pytest.approx(0.1)
    assert report['metrics']['n_grid_steps'] == 60


def test_a_stop_does_not_move_the_grid(tmp_path, capsys):
    """The node's stop (one point, header stamp 0) after the run: not a planned chunk, the
    grid still runs over the chunks' 60 steps (it would start at stamp 0)."""
    t0 = 100 * NS  # small stamps: a grid from 0 stays small even if the stop counted

    def stop(rec, ts):
        rec.write(DRY, TRAJ, t0 + 61 * DT,
                  trajectory_message(ts, JOINTS, operator_at(np.array([57])), 0, DT,
                                     first_index=1))

    bag = tmp_path / 'bag'
    write_bag(bag, t0=t0, extra=stop)
    m = report_of(capsys, tmp_path, bag)['metrics']
    assert m['n_grid_steps'] == 60 and m['coverage'] == 1.0
    assert m['best_lag_steps'] == 2


def test_a_dry_run_that_changes_its_joints_is_refused(tmp_path, capsys):
    bag = tmp_path / 'bag'

    def renamed(rec, ts):
        rec.write(DRY, TRAJ, T0 + 58 * DT,
                  trajectory_message(ts, ['elbow', 'gripper'], operator_at(np.arange(58, 60)),
                                     T0 + 58 * DT, DT))

    write_bag(bag, chunk_starts=range(0, 52, 4), lag=0, extra=renamed)
    code, _, err = run(capsys, bag, '--output', tmp_path / 'x.json')
    assert code == 2 and f'{DRY} changes its joints from' in err and "'elbow'" in err
    assert not (tmp_path / 'x.json').exists()


# --------------------------------------------------------------------------- the reference

def test_the_busiest_command_topic_is_the_reference(tmp_path, capsys):
    """A second controller's topic with the same joints, five stray commands: the operator's
    10 Hz topic is the reference alone (the dry run exact on it two steps late)."""
    def stray(rec, ts):
        for k in range(0, 50, 10):
            rec.write('/aaa_stray/joint_trajectory', TRAJ, T0 + k * DT + MS,
                      trajectory_message(ts, JOINTS, np.array([[3.0, 3.0]]), T0 + k * DT, DT))

    bag = tmp_path / 'bag'
    write_bag(bag, extra=stray)
    report = report_of(capsys, tmp_path, bag)
    assert report['reference_topics'] == [OPERATOR]
    assert report['metrics']['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_without_commands_the_joint_states_are_the_reference_not_the_dry_run(tmp_path,
                                                                             capsys):
    """No operator commands recorded: the default reference is the measured joints (one
    period later), never the dry-run topic itself."""
    def states(rec, ts):
        for i in range(0, 61 * 5):  # 50 Hz, reaching command k at step k + 1
            t = T0 + i * 20 * MS
            rec.write('/joint_states', STATES, t + MS,
                      joint_state_message(ts, JOINTS, operator_at(i // 5 - 1), t))

    bag = tmp_path / 'bag'
    write_bag(bag, lag=0, operator_steps=(), extra=states)
    report = report_of(capsys, tmp_path, bag)
    assert report['reference_topics'] == ['/joint_states']
    assert report['reference_kind'] == 'joint_state'
    assert report['offset_s'] == pytest.approx(0.1)
    assert report['metrics']['rmse_norm'] == pytest.approx(0, abs=1e-9)
    # an offset of 0 given is taken as given (not the one-period default): one step off
    zero = report_of(capsys, tmp_path, bag, '--reference-offset', '0')
    assert zero['offset_s'] == 0.0
    assert zero['metrics']['best_lag_steps'] == -1
    assert zero['metrics']['rmse_norm'] > 0.1


def test_a_slow_joint_state_driver_out_of_phase_is_no_gap(tmp_path, capsys):
    """Joint states at 10 Hz stamped 70 ms before each sampled time: within a period, the
    newest is used (half a period's tolerance, as for commands, would find none)."""
    def states(rec, ts):
        for k in range(-1, 62):
            t = T0 + k * DT + 30 * MS
            rec.write('/joint_states', STATES, t + MS,
                      joint_state_message(ts, JOINTS, operator_at(k), t))

    bag = tmp_path / 'bag'
    write_bag(bag, lag=0, operator_steps=(), extra=states)
    m = report_of(capsys, tmp_path, bag)['metrics']
    assert m['n_steps'] == 60 and m['coverage'] == 1.0
    assert m['rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_an_operator_not_recorded_during_the_dry_run_is_one_line(tmp_path, capsys):
    bag = tmp_path / 'bag'
    write_bag(bag, operator_steps=range(-80, -20))
    code, _, err = run(capsys, bag, '--output', tmp_path / 'x.json')
    assert code == 2 and 'no time where both the dry run and' in err
    assert 'was the operator recorded during the dry run?' in err
    assert not (tmp_path / 'x.json').exists()


@pytest.mark.parametrize('args, said', [
    (['--max-lag', '-1'], '--max-lag must be >= 0 and --period > 0'),
    (['--period', '0'], '--max-lag must be >= 0 and --period > 0'),
    (['--period', '-0.1'], '--max-lag must be >= 0 and --period > 0'),
    (['--period', 'nan'], '--max-lag must be >= 0 and --period > 0'),
    (['--period', 'inf'], '--max-lag must be >= 0 and --period > 0'),
    (['--yaw-min', 'nan'], '--yaw-min must be a finite number, got nan'),
    (['--reference-offset', 'inf'], '--reference-offset must be a finite number, got inf')])
def test_bad_numbers_are_one_line(tmp_path, capsys, args, said):
    """A NaN period passed the `<= 0` check; a NaN yaw_min or an infinite offset was taken."""
    bag = tmp_path / 'bag'
    write_bag(bag)
    code, _, err = run(capsys, bag, '--output', tmp_path / 'x.json', *args)
    assert code == 2 and said in err
    assert not (tmp_path / 'x.json').exists()
