"""`dp-ros dry-run-report` (training/dry_run_report.py) on real bags: a dry run that trails the
operator by two periods is found two steps late and exact there; the policy's gaps are left
out; joint states are compared one period later; bad input is a one-line error."""
from __future__ import annotations

import json

import numpy as np
import pytest
from support import MS, nonempty_lines

from dp_ros import cli
from dp_ros.bags.recorder import BagRecorder, joint_state_message, trajectory_message

JOINTS = ['shoulder', 'gripper']
OPERATOR = '/arm_controller/joint_trajectory'
GRIPPER = '/gripper_controller/joint_trajectory'
GRIPPER_STATES = '/gripper/joint_states'
DRY = '/dp_policy/dry_run/joint_trajectory'
T0 = 1_700_000_000 * 10**9
DT = 100 * MS


def operator_at(k: np.ndarray | int) -> np.ndarray:
    """The operator's command at step k (0.1 s), per joint."""
    k = np.asarray(k, dtype=np.float64)
    return np.stack([np.sin(0.3 * k), 0.04 * (np.cos(0.2 * k) > 0)], axis=-1)


LEFT, RIGHT = '/left/arm_controller/joint_trajectory', '/right/arm_controller/joint_trajectory'


def write_dry_run_bag(path, lag_steps: int = 2, gap: range = range(30, 42),
                      split: bool = False, two_arms: bool = False,
                      gripper_states: str = GRIPPER_STATES, dry: tuple[str, ...] = (DRY,)
                      ) -> None:
    """60 steps: the operator's one-point commands at 10 Hz, joint states at 50 Hz that
    reach each command one period later, and the dry run's 8-point chunks every 4 steps that
    hold the operator's values lag_steps late (none planned during `gap`). split: the
    gripper commanded on GRIPPER and measured on GRIPPER_STATES, the shoulder alone on the
    arm's topics. two_arms: each joint an arm of its own, commanded on LEFT or RIGHT and
    measured on /left or /right/joint_states, both drivers naming it 'waist'; the dry run's
    names are the training data's, left_waist and right_waist. gripper_states: where a
    split gripper's joint states go ('/joint_states': its driver beside the arm's). dry: the
    topics the dry run is recorded on (a node in a namespace; two nodes)."""
    parts = ([(OPERATOR, '/joint_states', [0]), (GRIPPER, gripper_states, [1])] if split
             else [(LEFT, '/left/joint_states', [0]), (RIGHT, '/right/joint_states', [1])]
             if two_arms else [(OPERATOR, '/joint_states', [0, 1])])
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for command, states, cols in parts:
            names = ['waist'] if two_arms else [JOINTS[c] for c in cols]
            for k in range(60):
                t = T0 + k * DT
                rec.write(command, 'trajectory_msgs/msg/JointTrajectory', t + MS,
                          trajectory_message(ts, names, operator_at(k)[None, cols], t, DT))
            for i in range(0, 61 * 5):  # 20 ms: the joints reach command k at step k + 1
                t = T0 + i * 20 * MS
                rec.write(states, 'sensor_msgs/msg/JointState', t + MS,
                          joint_state_message(ts, names, operator_at(i // 5 - 1)[cols], t))
        for k in range(0, 56, 4):
            if k in gap:
                continue
            steps = np.arange(k, k + 8)
            for topic in dry:
                rec.write(topic, 'trajectory_msgs/msg/JointTrajectory', T0 + k * DT + 2 * MS,
                          trajectory_message(ts, ['left_waist', 'right_waist'] if two_arms
                                             else JOINTS, operator_at(steps - lag_steps),
                                             T0 + k * DT, DT))


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(['dry-run-report', *map(str, args), '--no-progress'])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_dry_run_two_periods_late_is_found_late_and_exact_there(tmp_path, capsys):
    bag = tmp_path / 'dry_run'
    write_dry_run_bag(bag)
    report_path = tmp_path / 'report.json'
    code, out, _ = run(capsys, bag, '--output', report_path)
    assert code == 0, out
    report = json.loads(report_path.read_text())
    assert report['format'] == 'dp_ros.dry_run_report' and report['joints'] == JOINTS
    assert (report['reference_topics'], report['reference_kind']) == ([OPERATOR],
                                                                      'joint_trajectory')
    assert report['period_s'] == pytest.approx(0.1) and report['offset_s'] == 0.0
    m = report['metrics']
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    # at lag 0 the error is the operator's own motion over two steps: independent arithmetic
    # points due at steps 0..59; chunks 32, 36 and 40 were not planned: chunk 28's last point
    # (step 35) is held until chunk 44, too long ago for steps 36..43 (a gap)
    k = np.array([s for s in range(60) if not 36 <= s < 44])
    err = operator_at(k - 2) - operator_at(k)
    span = np.ptp(operator_at(np.arange(60)), axis=0)
    want = np.sqrt(np.mean((err * 2 / span) ** 2))
    assert m['n_steps'] == len(k) and m['coverage'] == pytest.approx(len(k) / m['n_grid_steps'])
    assert m['rmse_norm'] == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(m['per_joint']['rmse'], np.sqrt(np.mean(err ** 2, axis=0)),
                               rtol=1e-6)
    assert 0 < m['rmse_norm'] < m['hold_rmse_norm']  # 2 steps late beats holding (1-4 late)
    assert 'best lag +2 step(s) (+0.20 s; +: the policy behind the reference)' in out
    assert 'shoulder' in out
    assert report_path.with_suffix('.png').stat().st_size > 10_000


def test_joint_states_are_compared_one_period_later(tmp_path, capsys):
    bag = tmp_path / 'dry_run'
    write_dry_run_bag(bag, lag_steps=0)
    code, out, _ = run(capsys, bag, '--output', tmp_path / 'r.json', '--reference',
                       '/joint_states', '--no-plot')
    assert code == 0, out
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['reference_kind'] == 'joint_state' and report['offset_s'] == pytest.approx(0.1)
    m = report['metrics']
    # the joints reach each command one period later: the policy's commands meet them there
    assert m['best_lag_steps'] == 0 and m['rmse_norm'] == pytest.approx(0, abs=1e-9)
    assert not (tmp_path / 'r.png').exists()


def test_an_arm_and_its_gripper_on_their_own_topics_are_one_reference(tmp_path, capsys):
    """The operator commands the gripper on its own controller: both trajectory topics are
    picked, each for its joint, and give the single-topic result; the joint states of two
    topics, asked for, the same; a split asked for only in part is named."""
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    write_dry_run_bag(whole)
    write_dry_run_bag(split, split=True)
    reports = []
    for bag, extra in ((whole, []), (split, [])):
        code, out, _ = run(capsys, bag, '--output', tmp_path / 'r.json', '--no-plot', *extra)
        assert code == 0, out
        reports.append(json.loads((tmp_path / 'r.json').read_text()))
    assert reports[1]['reference_topics'] == [OPERATOR, GRIPPER]  # busiest first, then the rest
    assert reports[1]['joints'] == JOINTS
    assert reports[1]['metrics'] == reports[0]['metrics']
    assert f'vs {OPERATOR} + {GRIPPER} (joint_trajectory' in out
    code, out, _ = run(capsys, split, '--output', tmp_path / 's.json', '--no-plot',
                       '--reference', GRIPPER_STATES, '--reference', '/joint_states')
    assert code == 0, out
    report = json.loads((tmp_path / 's.json').read_text())
    assert report['reference_topics'] == [GRIPPER_STATES, '/joint_states']
    assert report['reference_kind'] == 'joint_state' and report['joints'] == JOINTS
    m = report['metrics']  # the values back in the dry run's joint order: exact at lag +2
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    code, _, err = run(capsys, split, '--output', tmp_path / 'x.json', '--reference', OPERATOR)
    assert code == 2 and f"--reference ['{OPERATOR}'] gives none of the dry run's joints " \
        "['gripper']" in err
    code, _, err = run(capsys, split, '--output', tmp_path / 'x.json', '--reference', OPERATOR,
                       '--reference', GRIPPER_STATES)
    assert code == 2 and 'not both' in err
    assert not (tmp_path / 'x.json').exists()


def test_an_arm_and_its_gripper_driver_on_one_joint_state_topic_are_both_measured(
        tmp_path, capsys):
    """The gripper's driver publishes its joint on the arm's /joint_states, each message
    with its own joint: the topic's two drivers are each a reference, and the result is the
    single-driver one (before: the first message's joints only, the gripper not found)."""
    whole, shared = tmp_path / 'whole', tmp_path / 'shared'
    write_dry_run_bag(whole, lag_steps=0)
    write_dry_run_bag(shared, lag_steps=0, split=True, gripper_states='/joint_states')
    reports = []
    for bag in (whole, shared):
        code, out, _ = run(capsys, bag, '--output', tmp_path / 'r.json', '--no-plot',
                           '--reference', '/joint_states')
        assert code == 0, out
        reports.append(json.loads((tmp_path / 'r.json').read_text()))
    assert reports[1]['reference_topics'] == ['/joint_states', '/joint_states']
    assert reports[1]['joints'] == JOINTS and reports[1]['reference_kind'] == 'joint_state'
    assert reports[1]['metrics'] == reports[0]['metrics']
    assert reports[1]['metrics']['rmse_norm'] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize('prefix', ['', 'left_'], ids=['one_arm', 'prefixed'])
def test_a_cartesian_dry_run_is_compared_with_the_pose_targets(tmp_path, capsys, prefix):
    """A policy commanding an end effector (x, yaw) and a gripper: the operator's PoseStamped
    targets and gripper commands are one reference; yaw decoded with the training data's wrap
    ([0, 2 pi) here) matches exactly at the dry run's lag; another wrap would not. prefixed:
    the dry run names them left_x, left_yaw, left_gripper (one of two arms), the topics'
    messages without the prefix (--prefix)."""
    from dp_ros.bags.recorder import pose_message

    names = [prefix + n for n in ('x', 'yaw', 'gripper')]

    def target(k):
        k = np.asarray(k, dtype=np.float64)
        return np.stack([0.4 + 0.1 * np.sin(0.3 * k), (0.5 + 0.4 * k) % (2 * np.pi),
                         0.04 * (np.cos(0.2 * k) > 0)], axis=-1)

    bag = tmp_path / 'cartesian'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            x, yaw, grip = target(k)
            rec.write('/target_frame', 'geometry_msgs/msg/PoseStamped', t + MS,
                      pose_message(ts, x, 0.0, yaw, t))
            rec.write(GRIPPER, 'trajectory_msgs/msg/JointTrajectory', t + MS,
                      trajectory_message(ts, ['gripper'], np.array([[grip]]), t, DT))
        for k in range(0, 56, 4):
            rec.write(DRY, 'trajectory_msgs/msg/JointTrajectory', T0 + k * DT + 2 * MS,
                      trajectory_message(ts, names, target(np.arange(k, k + 8) - 2),
                                         T0 + k * DT, DT))
    args = ['--output', tmp_path / 'r.json', '--no-plot', '--reference', '/target_frame',
            '--reference', GRIPPER]
    if prefix:
        args += ['--prefix', f'/target_frame={prefix}', '--prefix', f'{GRIPPER}={prefix}']
    code, out, _ = run(capsys, bag, *args, '--yaw-min', '0')
    assert code == 0, out
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['reference_topics'] == ['/target_frame', GRIPPER]
    assert report['reference_kind'] == 'pose+joint_trajectory' and report['offset_s'] == 0.0
    m = report['metrics']
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-6)
    code, out, _ = run(capsys, bag, *args)  # yaw in [-pi, pi): 2 pi off past pi
    assert code == 0, out
    m = json.loads((tmp_path / 'r.json').read_text())['metrics']
    assert m['best_lag_rmse_norm'] > 0.1


def test_bad_input_is_one_line_naming_the_problem(tmp_path, capsys):
    bag = tmp_path / 'no_dry_run'
    with BagRecorder(bag, storage='mcap') as rec:
        rec.write(OPERATOR, 'trajectory_msgs/msg/JointTrajectory', T0,
                  trajectory_message(rec.typestore, JOINTS, operator_at(0)[None], T0, DT))
    code, _, err = run(capsys, bag, '--output', tmp_path / 'r.json')
    lines = nonempty_lines(err)
    assert code == 2 and len(lines) == 1
    assert f'topic {DRY} (needed by the dry run (--policy-topic)) is not in the bag' in lines[0]
    assert not (tmp_path / 'r.json').exists()
    dry = tmp_path / 'dry_run'
    write_dry_run_bag(dry)
    code, _, err = run(capsys, dry, '--output', tmp_path / 'r.json', '--reference', '/nope')
    assert code == 2 and 'topic /nope (needed by --reference) is not in the bag' in err


def test_a_dry_run_of_a_node_in_a_namespace_is_found_without_policy_topic(tmp_path, capsys):
    """The node's ~/dry_run/joint_trajectory under /left/dp_policy: the bag's one dry run is
    taken; two are one line naming both, and --policy-topic picks one."""
    left, right = '/left/dp_policy' + DRY[len('/dp_policy'):], '/right/dp_policy' + DRY[10:]
    bag = tmp_path / 'left'
    write_dry_run_bag(bag, dry=(left,))
    code, out, err = run(capsys, bag, '--output', tmp_path / 'r.json', '--no-plot')
    assert code == 0, err
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['policy_topic'] == left and report['metrics']['best_lag_steps'] == 2
    both = tmp_path / 'both'
    write_dry_run_bag(both, dry=(left, right))
    code, _, err = run(capsys, both, '--output', tmp_path / 'r2.json')
    lines = nonempty_lines(err)
    assert code == 2 and len(lines) == 1 and f'2 dry runs ({left}, {right})' in lines[0]
    assert '--policy-topic' in lines[0] and not (tmp_path / 'r2.json').exists()
    code, _, err = run(capsys, both, '--output', tmp_path / 'r2.json', '--policy-topic', right,
                       '--no-plot')
    assert code == 0, err
    report = json.loads((tmp_path / 'r2.json').read_text())
    # the other node's dry run is no operator: the reference is the operator's commands
    assert report['policy_topic'] == right and report['reference_topics'] == [OPERATOR]


def test_two_arms_whose_drivers_name_their_joints_alike_are_compared_through_prefixes(
        tmp_path, capsys):
    """Both operators' controllers take 'waist'; with --prefix (the node's
    topic_name_prefixes) each dry-run joint finds its arm's commands and gives the one-arm
    result; without it no topic gives left_waist, and the error says what to give."""
    whole, arms = tmp_path / 'whole', tmp_path / 'arms'
    write_dry_run_bag(whole)
    write_dry_run_bag(arms, two_arms=True)
    code, out, _ = run(capsys, whole, '--output', tmp_path / 'w.json', '--no-plot')
    assert code == 0, out
    code, out, _ = run(capsys, arms, '--output', tmp_path / 'a.json', '--no-plot',
                       '--prefix', f'{LEFT}=left_', '--prefix', f'{RIGHT}=right_')
    assert code == 0, out
    report = json.loads((tmp_path / 'a.json').read_text())
    assert report['reference_topics'] == [LEFT, RIGHT]
    assert report['joints'] == ['left_waist', 'right_waist']
    assert report['metrics'] == json.loads((tmp_path / 'w.json').read_text())['metrics']
    code, _, err = run(capsys, arms, '--output', tmp_path / 'x.json')
    assert code == 2 and "--prefix TOPIC=PREFIX as the node's topic_name_prefixes" in err
    code, _, err = run(capsys, arms, '--output', tmp_path / 'x.json', '--prefix', 'left_')
    assert code == 2 and "--prefix: 'left_' is not 'topic=prefix'" in err
    assert not (tmp_path / 'x.json').exists()


def test_the_hold_baseline_is_measured_on_the_steps_the_policy_is_compared_on(tmp_path,
                                                                                capsys):
    """The operator stands still while the policy plans (steps 0..15, 44..59) and moves
    while it does not (16..43); the policy sits 0.02 rad off the operator's still pose. Over
    the compared steps holding the operator's value from the step before each chunk is exact
    but over chunk 44 (held from step 43, the motion's last): the policy, off by 0.02
    throughout, does not beat it (the baseline was taken over every step the operator has a
    value, his motion included: the policy seemed better than holding)."""
    def still_ramp_still(k):
        return np.clip((np.asarray(k, dtype=np.float64) - 16) / 28.0, 0.0, 1.0)[..., None]

    bag = tmp_path / 'dry_run'
    with BagRecorder(bag, storage='mcap') as rec:
        ts = rec.typestore
        for k in range(60):
            t = T0 + k * DT
            rec.write(OPERATOR, 'trajectory_msgs/msg/JointTrajectory', t + MS,
                      trajectory_message(ts, ['shoulder'], still_ramp_still(k)[None], t, DT))
        for k in [0, 4, 8, 12, 44, 48, 52, 56]:
            rec.write(DRY, 'trajectory_msgs/msg/JointTrajectory', T0 + k * DT + 2 * MS,
                      trajectory_message(ts, ['shoulder'],
                                         still_ramp_still(np.arange(k, k + 4)) + 0.02,
                                         T0 + k * DT, DT))
    code, out, _ = run(capsys, bag, '--output', tmp_path / 'r.json', '--no-plot')
    assert code == 0, out
    m = json.loads((tmp_path / 'r.json').read_text())['metrics']
    assert m['n_steps'] == 32
    assert m['rmse_norm'] == pytest.approx(0.04, rel=1e-6)  # 0.02 of a range of 1, times 2
    # each chunk holds the step before it (chunk 0 has none): exact but over chunk 44, held
    # from step 43 and off by 2/28 at each of its 4 steps
    want = np.sqrt(4 * (2 / 28) ** 2 / 28)
    assert m['hold_rmse_norm'] == pytest.approx(want, rel=1e-6)
    assert m['per_joint']['hold_rmse_norm'] == [pytest.approx(want, rel=1e-6)]
    assert m['rmse_norm'] > m['hold_rmse_norm']
