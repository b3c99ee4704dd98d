"""`dp-ros dry-run-report` (training/dry_run_report.py): behaviour a mutation review found no
test of. Each test names what it guards; a change that breaks it was left passing by the rest
of the suite (the outlier rule's seconds, a recorder clock behind the node's, a forward
controller commanded on change, the default dry run beside a namespaced one, several bags
that differ, the table's columns). Real bags written with the project's recorder."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_dry_run_report_edges import DRY, DT, JOINTS, MS, NS, OPERATOR, T0, TRAJ, operator_at

from dp_ros import cli
from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    joint_state_message,
    trajectory_message,
)
from training.dry_run_report import Comparison, comparison_metrics

STARTS = list(range(0, 56, 4))  # a chunk of 8 points every 4 periods


def write(path, operator=operator_at, topic: str | None = OPERATOR, stamped: bool = True,
          lag: int = 2, delays: dict[int, int] | None = None, spacing: int = DT,
          states: bool = False, operator_joints: list[str] = JOINTS,
          operator_steps=range(60), starts=STARTS, points: int = 8,
          dry: tuple[str, ...] = (DRY,),
          stamps: dict[int, int] | None = None) -> None:
    """The operator's one-point commands of `operator_joints` on `topic` (None: none) at
    `operator_steps` (0.1 s apart; stamped at each step, or 0: placed at their receipt 1 ms
    later); the dry run's `points`-point chunks on each `dry` topic at `starts` holding the
    operator's
    values `lag` steps late, points `spacing` apart, stamped stamps[start] off the step
    (default 0) and received delays[start] after their stamp (default 2 ms); states: joint
    states of every joint at 50 Hz too, reaching command k at step k + 1."""
    cols = [JOINTS.index(j) for j in operator_joints]
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for k in operator_steps if topic else ():
            t = T0 + k * DT
            rec.write(topic, TRAJ, t + MS, trajectory_message(
                ts, operator_joints, operator(k)[None, cols], t if stamped else 0, DT))
        if states:
            for i in range(61 * 5):
                t = T0 + i * 20 * MS
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, JOINTS, operator(i // 5 - 1), t))
        for k in starts:
            stamp = T0 + k * DT + (stamps or {}).get(k, 0)
            for topic_ in dry:
                rec.write(topic_, TRAJ, stamp + (delays or {}).get(k, 2 * MS),
                          trajectory_message(ts, JOINTS,
                                             operator(np.arange(k, k + points) - lag), stamp,
                                             spacing))


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(['dry-run-report', *map(str, args), '--no-progress'])
    out = capsys.readouterr()
    return code, out.out, out.err


def report_of(capsys, tmp_path, *args, name: str = 'r') -> dict:
    out = tmp_path / f'{name}.json'
    code, text, err = run(capsys, *args, '--output', out, '--no-plot')
    assert code == 0, text + err
    return json.loads(out.read_text())


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    """A dry run two periods behind the operator, and its report (JSON and text)."""
    root = tmp_path_factory.mktemp('plain')
    write(root / 'bag')
    out = root / 'r.json'
    code = cli.main(['dry-run-report', str(root / 'bag'), '--output', str(out), '--no-plot',
                     '--no-progress'])
    assert code == 0
    return root / 'bag', json.loads(out.read_text())


# --------------------------------------------------------------------------- the chunks

def test_chunks_received_with_a_jittered_delay_are_all_kept(plain, tmp_path, capsys):
    """A recorder receives each chunk 1..4 ms after its stamp: all within STAMP_OUTLIER_S
    (seconds) of the usual delay, none is left out; the report is the one of a steady 2 ms
    delay."""
    bag = tmp_path / 'jitter'
    write(bag, delays={k: (1 + i % 4) * MS for i, k in enumerate(STARTS)})
    report = report_of(capsys, tmp_path, bag)
    assert report['warnings'] == []
    assert report['metrics'] == plain[1]['metrics']


def test_the_last_chunk_received_late_is_kept(plain, tmp_path, capsys):
    """A recorder that stalls at the end receives the last chunk 10 s after its stamp: its
    stamp lies within the others' times (before the last point they plan), so a controller
    would have run it: kept, nothing said, the report of a bag received on time."""
    bag = tmp_path / 'late_end'
    write(bag, delays={STARTS[-1]: 10 * NS})
    report = report_of(capsys, tmp_path, bag)
    assert report['warnings'] == []
    assert report['metrics'] == plain[1]['metrics']


def test_chunks_stamped_a_little_after_their_step_take_over_at_it(plain, tmp_path, capsys):
    """Chunk stamps 3 ms after or before their grid step (a node's timer jitter): each chunk
    takes over at the grid step its points are sampled at (half a period of slack, as the
    sampling allows), so the hold baseline holds the step before it: the report is the one
    of chunks stamped on the grid."""
    bag = tmp_path / 'jittered_stamps'
    write(bag, stamps={k: (3 if i % 2 else -3) * MS for i, k in enumerate(STARTS) if k})
    assert report_of(capsys, tmp_path, bag)['metrics'] == plain[1]['metrics']


def test_a_stop_after_the_run_is_not_a_chunk_left_out(plain, tmp_path, capsys):
    """The node's stop (one point stamped 0, "now") ends a run; it plans nothing, and is
    not reported as a chunk stamped far from its receipt."""
    from test_dry_run_report_edges import write_bag

    def stop(rec, ts):
        rec.write(DRY, TRAJ, T0 + 61 * DT, trajectory_message(
            ts, JOINTS, operator_at(np.array([57])), 0, DT, first_index=1))

    bag = tmp_path / 'stopped'
    write_bag(bag, extra=stop)
    report = report_of(capsys, tmp_path, bag)
    assert report['warnings'] == []
    assert report['metrics'] == plain[1]['metrics']


def test_a_slow_policys_late_chunks_leave_commands_stamped_0_at_their_receipt(tmp_path,
                                                                            capsys):
    """A policy whose chunks (16 points, 1.5 s) reach the bag 1.2 s after their stamps (its
    inference time) on the node's clock: that is within a chunk's span, so commands
    stamped 0 are compared, placed at their receive times (not at the stamp of the chunk
    received before them, which a stream 1.2 s off its receipts would give): the dry run two
    steps late is exact there."""
    bag = tmp_path / 'slow_policy'
    write(bag, stamped=False, points=16, delays={k: 1200 * MS for k in STARTS})
    report = report_of(capsys, tmp_path, bag)
    assert report['stamp_zero_topics'] == [OPERATOR]
    m = report['metrics']
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_commands_stamped_0_on_a_clock_behind_the_nodes_are_refused(tmp_path, capsys):
    """The bag received the dry run 2 s before its stamps (a recorder on a clock behind the
    node's): the operator's commands stamped 0, placed at their receive times, would sit 20
    steps off; refused in one line, as a clock 2 s ahead is."""
    from test_dry_run_report_stamp_zero import write_bag

    bag = tmp_path / 'behind'
    write_bag(bag, operator_stamp_zero=True, recv_shift=-2 * NS)
    code, out, err = run(capsys, bag, '--output', tmp_path / 'r.json', '--no-plot')
    assert code == 2 and 'commands stamped 0' in err and '-1.998 s from its stamps' in err, \
        out + err
    assert not (tmp_path / 'r.json').exists()


# --------------------------------------------------------------------------- the references

def test_a_forward_controller_commanded_on_change_is_in_force_between_commands(tmp_path,
                                                                              capsys):
    """A Float64MultiArray published only when the command changes (every 5 steps) is in
    force until the next: every step of the dry run is compared, and a dry run that holds
    the same commands is exact."""
    array = '/forward_position_controller/commands'

    def steps_of_5(k):
        return operator_at(np.asarray(k) // 5 * 5)

    bag = tmp_path / 'on_change'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(0, 60, 5):
            rec.write(array, 'std_msgs/msg/Float64MultiArray', T0 + k * DT - MS,
                      float_array_message(ts, steps_of_5(k)))
        for k in STARTS:
            rec.write(DRY, TRAJ, T0 + k * DT + 2 * MS,
                      trajectory_message(ts, JOINTS, steps_of_5(np.arange(k, k + 8)),
                                         T0 + k * DT, DT))
    report = report_of(capsys, tmp_path, bag, '--reference', f'{array}=shoulder,gripper')
    m = report['metrics']
    assert m['n_steps'] == m['n_grid_steps'] == 60
    assert m['rmse_norm'] == 0.0 and m['best_lag_steps'] == 0


def test_commands_of_some_joints_leave_the_joint_states_as_the_reference(tmp_path, capsys):
    """The operator's commands give the shoulder alone (the gripper commanded elsewhere,
    not recorded): no command topics give every joint, so the default reference is the
    measured joints, which do (one period later), not the commands short of a joint."""
    bag = tmp_path / 'shoulder_only'
    write(bag, lag=0, operator_joints=['shoulder'], states=True)
    report = report_of(capsys, tmp_path, bag)
    assert report['reference_topics'] == ['/joint_states']
    assert report['reference_kind'] == 'joint_state' and report['joints'] == JOINTS
    assert report['metrics']['rmse_norm'] == pytest.approx(0, abs=1e-9)


def test_the_default_dry_run_is_taken_beside_a_namespaced_one(tmp_path, capsys):
    """/dp_policy's dry run and /left/dp_policy's in one bag: the default node's is compared
    without --policy-topic (the namespaced one is another node's, no reference either)."""
    from test_dry_run_report import write_dry_run_bag

    left = '/left' + DRY
    bag = tmp_path / 'two_nodes'
    write_dry_run_bag(bag, dry=(DRY, left))
    report = report_of(capsys, tmp_path, bag)
    assert report['policy_topic'] == DRY and report['reference_topics'] == [OPERATOR]
    assert report['metrics']['best_lag_steps'] == 2


def test_a_dry_run_under_another_name_is_not_its_own_reference(tmp_path, capsys):
    """--policy-topic names a dry run recorded under a name of its own, busier than the
    operator (a chunk every step): the default reference is still the operator's commands,
    never the dry run compared with itself (exact, at lag 0)."""
    preview = '/preview/joint_trajectory'
    bag = tmp_path / 'renamed'
    write(bag, dry=(preview,), starts=range(0, 53), operator_steps=range(5, 55))
    report = report_of(capsys, tmp_path, bag, '--policy-topic', preview)
    assert report['policy_topic'] == preview and report['reference_topics'] == [OPERATOR]
    assert report['metrics']['best_lag_steps'] == 2


def test_another_nodes_dry_run_is_no_reference_where_no_commands_were_recorded(tmp_path,
                                                                              capsys):
    """Two nodes in dry run, no operator commands recorded: the default node's dry run is
    compared with the measured joints, not with the other node's dry run."""
    bag = tmp_path / 'two_nodes_no_commands'
    write(bag, topic=None, states=True, lag=0, dry=(DRY, '/left' + DRY))
    report = report_of(capsys, tmp_path, bag)
    assert report['policy_topic'] == DRY and report['reference_topics'] == ['/joint_states']
    assert report['metrics']['rmse_norm'] == pytest.approx(0, abs=1e-9)


def operator_nan_at_30(k):
    """The operator's commands (operator_at), the shoulder's NaN at step 30."""
    values = operator_at(k)
    if np.ndim(k) == 0 and int(k) == 30:
        values[0] = np.nan
    return values


def test_a_nan_note_counts_the_sampled_steps_and_times_the_first_from_the_start(tmp_path,
                                                                              capsys):
    """The operator's commands stop for steps 40..49 and the shoulder's is NaN at step 30:
    the note counts that one step of the 50 sampled (not the steps without a command), the
    first at 3 s from the grid's start."""
    bag = tmp_path / 'nan_and_gap'
    write(bag, operator=operator_nan_at_30,
          operator_steps=[k for k in range(60) if not 40 <= k < 50])
    [warning] = report_of(capsys, tmp_path, bag)['warnings']
    assert (f'{OPERATOR}: shoulder not finite (NaN or inf) at 1 of 50 step(s) (the first at '
            '3.000 s)') in warning


def test_a_joint_never_measured_finite_has_no_figures_rather_than_zero():
    """A joint whose reference is NaN at every step (a driver that publishes NaN for a
    joint it does not measure): its per-joint figures are null and its step count 0, not
    0.0 errors that read as exact; the other joint is compared as usual."""
    t = np.arange(12)
    reference = np.stack([t * 0.1, np.full(12, np.nan)], 1)
    policy = np.stack([t * 0.1 + 0.05, np.full(12, 0.3)], 1)
    ok = np.ones(12, bool)
    c = Comparison('bag', ['/joint_states'], 'joint_state', 0.1, ['a', 'b'], DT,
                   T0 + t * DT, policy, reference, ok, ok.copy(), np.array([0, 4, 8]))
    pj = comparison_metrics([c], max_lag=2)['per_joint']
    assert pj['n_steps'] == [12, 0]
    assert pj['rmse'] == [pytest.approx(0.05), None] and pj['mae'] == [pytest.approx(0.05), None]
    assert pj['max_abs'] == [pytest.approx(0.05), None]


def test_a_shift_that_keeps_exactly_half_the_pairs_is_scored():
    """A dry run 10 steps behind over 20 steps: the shift of 10 keeps 10 pairs, half the
    unshifted ones, and is scored (at least half): the best lag, exact."""
    t = np.arange(20)
    reference = np.stack([np.sin(0.7 * t), np.cos(0.4 * t)], 1)
    policy = np.concatenate([reference[:10] + 1.0, reference[:10]])
    ok = np.ones(20, bool)
    c = Comparison('bag', [OPERATOR], 'joint_trajectory', 0.0, JOINTS, DT, T0 + t * DT,
                   policy, reference, ok, ok.copy(), np.array([0, 10]))
    m = comparison_metrics([c], max_lag=10)
    assert m['rmse_norm_by_lag']['10'] == 0.0
    assert m['best_lag_steps'] == 10 and m['best_lag_rmse_norm'] == 0.0


def test_the_plot_draws_bags_one_after_the_other_with_their_gaps(tmp_path, monkeypatch):
    """Two bags: the second's times start one period after the first's last, the policy's
    steps without a point are gaps (NaN), not the values the sampling left there."""
    import training.plots as plots
    from training.dry_run_report import plot_comparisons

    t = np.arange(10)
    ok = np.ones(10, bool)
    gap = ok.copy()
    gap[3:5] = False
    bags = [Comparison(name, [OPERATOR], 'joint_trajectory', 0.0, JOINTS, DT,
                       T0 + 1000 * i * DT + t * DT, operator_at(t), operator_at(t - 1),
                       gap if i == 0 else ok, ok.copy(), np.array([0, 4, 8]))
            for i, name in enumerate(('a', 'b'))]
    figures = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, out: figures.append(fig) or out)
    plot_comparisons(bags, comparison_metrics(bags, max_lag=1), tmp_path / 'p.png')
    for j, ax in enumerate(figures[0].axes[:2]):
        ref_a, policy_a, ref_b, policy_b = (line for line in ax.get_lines()
                                            if len(line.get_xdata()) == 10)
        np.testing.assert_allclose(policy_a.get_xdata(), t * 0.1)
        np.testing.assert_allclose(policy_b.get_xdata(), 1.0 + t * 0.1)
        want = np.where(gap, operator_at(t)[:, j], np.nan)
        np.testing.assert_array_equal(policy_a.get_ydata(), want)


# --------------------------------------------------------------------------- several bags

@pytest.mark.parametrize('other', ['period', 'reference'])
def test_bags_of_another_period_or_reference_topic_are_refused(plain, tmp_path, capsys, other):
    """A second bag whose dry run plans points 50 ms apart, or whose operator commands on
    another controller's topic, is not pooled with the first: one line naming both."""
    bag = tmp_path / other
    if other == 'period':
        write(bag, spacing=DT // 2)
    else:
        write(bag, topic='/other_controller/joint_trajectory')
    code, _, err = run(capsys, plain[0], bag, '--output', tmp_path / 'x.json', '--no-plot')
    assert code == 2 and f'bag {bag} differs from {plain[0]}' in err, err
    assert not (tmp_path / 'x.json').exists()


def test_a_bag_without_the_operator_adds_its_grid_to_the_others(plain, tmp_path, capsys):
    """Of two bags, one recorded the operator outside the dry run: the other is compared
    (coverage over both grids), not the pair refused."""
    bag = tmp_path / 'no_operator'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in STARTS:
            rec.write(DRY, TRAJ, T0 + k * DT + 2 * MS,
                      trajectory_message(ts, JOINTS, operator_at(np.arange(k, k + 8)),
                                         T0 + k * DT, DT))
        for k in range(-80, -20):
            rec.write(OPERATOR, TRAJ, T0 + k * DT + MS,
                      trajectory_message(ts, JOINTS, operator_at(k)[None], T0 + k * DT, DT))
    m = report_of(capsys, tmp_path, plain[0], bag)['metrics']
    assert m['n_grid_steps'] == 120 and m['n_steps'] == plain[1]['metrics']['n_steps']
    assert m['rmse_norm'] == pytest.approx(plain[1]['metrics']['rmse_norm'])


def test_the_hold_baseline_of_several_bags_is_pooled_over_all(plain, tmp_path, capsys):
    """A second bag where the operator stands still (inside the first bag's range): holding
    is exact over its chunks, so the pooled hold error over both bags' as many held steps
    is the first bag's divided by sqrt 2, not the first bag's alone."""
    still = tmp_path / 'still'
    write(still, operator=lambda k: np.broadcast_to(operator_at(5), np.shape(k) + (2,)).copy())
    m = report_of(capsys, tmp_path, plain[0], still)['metrics']
    assert m['hold_rmse_norm'] == pytest.approx(plain[1]['metrics']['hold_rmse_norm']
                                                / np.sqrt(2), rel=1e-9)


def test_each_bags_stamp_zero_topic_and_warnings_are_reported(plain, tmp_path, capsys):
    """The second of two bags has its operator's commands stamped 0 and a NaN command: the
    report says both, not the first bag's (none) alone."""
    bag = tmp_path / 'unstamped'
    write(bag, operator=operator_nan_at_30, stamped=False)
    report = report_of(capsys, tmp_path, plain[0], bag)
    assert report['stamp_zero_topics'] == [OPERATOR]
    [warning] = report['warnings']
    assert warning.startswith(f'{bag}: {OPERATOR}: shoulder not finite')


# --------------------------------------------------------------------------- the command

def test_the_table_rows_hold_each_joints_numbers_in_the_headers_order(plain, tmp_path,
                                                                      capsys):
    """The printed table: per joint rmse, mae, max, rmse_norm, then the hold's rmse_norm,
    as the report's per_joint has them."""
    code, out, _ = run(capsys, plain[0], '--output', tmp_path / 'r.json', '--no-plot')
    assert code == 0
    pj = json.loads((tmp_path / 'r.json').read_text())['metrics']['per_joint']
    header = next(line for line in out.splitlines() if line.lstrip().startswith('joint'))
    assert header.split() == ['joint', 'rmse', 'mae', 'max', 'rmse_norm', 'hold']
    for j, name in enumerate(JOINTS):
        row = next(line for line in out.splitlines() if line.lstrip().startswith(name + ' '))
        assert row.split()[1:] == [f'{pj[k][j]:.4f}' for k in ('rmse', 'mae', 'max_abs',
                                                               'rmse_norm', 'hold_rmse_norm')]


def test_a_max_lag_of_0_compares_the_unshifted_steps_alone(plain, tmp_path, capsys):
    """--max-lag 0 is valid (no shift tried): the best lag is 0 and its error the unshifted
    one."""
    m = report_of(capsys, tmp_path, plain[0], '--max-lag', '0')['metrics']
    assert list(m['rmse_norm_by_lag']) == ['0'] and m['best_lag_steps'] == 0
    assert m['best_lag_rmse_norm'] == m['rmse_norm'] == plain[1]['metrics']['rmse_norm']


def test_no_plot_checks_no_plot_path(plain, tmp_path, capsys):
    """--no-plot draws nothing: a --plot it leaves undrawn (a directory here) is not refused."""
    (tmp_path / 'a_directory').mkdir()
    code, out, err = run(capsys, plain[0], '--output', tmp_path / 'r.json', '--no-plot',
                         '--plot', tmp_path / 'a_directory')
    assert code == 0, out + err
    assert (tmp_path / 'r.json').is_file()


@pytest.mark.parametrize(('args', 'message'), [
    ([], 'the plot would replace the report (its default path is --output as .png)'),
    (['--plot', '{out}'], '--plot {out} is --output {out}: the plot would replace the report'),
    (['--reference', '/forward_position_controller/commands=shoulder, gripper'],
     'must be distinct and non-empty, comma-separated without spaces'),
], ids=['default_plot', 'plot_is_output', 'spaced_names'])
def test_bad_arguments_are_one_line_naming_what_to_change(tmp_path, capsys, args, message):
    """Refused before any bag is read: the default plot path and a --plot naming the report
    are told apart; joint names with a space after the comma are not joint names."""
    out = tmp_path / 'r.png'
    code, _, err = run(capsys, tmp_path / 'no_bag', '--output', out,
                       *(a.format(out=out) for a in args))
    assert code == 2 and message.format(out=out) in err, err
    assert 'no_bag' not in err


def test_every_reference_topic_stamped_0_is_named(tmp_path, capsys):
    """Defect (this review): an arm and its gripper commanded on two topics, both stamped 0
    (a teleop tool's "start now"): both were placed at their receive times (the numbers were
    right), but the report named only the first as stamped 0."""
    from test_dry_run_report import GRIPPER

    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            rec.write(OPERATOR, TRAJ, t + MS,
                      trajectory_message(ts, ['shoulder'], operator_at(k)[None, [0]], 0, DT))
            rec.write(GRIPPER, TRAJ, t + MS,
                      trajectory_message(ts, ['gripper'], operator_at(k)[None, [1]], 0, DT))
        for k in range(0, 56, 4):
            rec.write(DRY, TRAJ, T0 + k * DT + 2 * MS,
                      trajectory_message(ts, JOINTS, operator_at(np.arange(k, k + 8) - 2),
                                         T0 + k * DT, DT))
    out = tmp_path / 'r.json'
    assert cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-plot',
                     '--no-progress']) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report['reference_topics'] == [OPERATOR, GRIPPER]
    assert report['metrics']['best_lag_steps'] == 2  # both placed at their receipt: exact
    assert report['stamp_zero_topics'] == [OPERATOR, GRIPPER], report['stamp_zero_topics']
    assert f'{OPERATOR} + {GRIPPER}: messages stamped 0' in text
