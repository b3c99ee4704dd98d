"""`dp-ros dry-run-report` on a reference with NaN values (an operator's command, a joint
state): the steps where a joint is not finite are left out of that joint's figures and said
(topic, joint, how many), the other joints and that joint's other steps are compared as
usual. A NaN made the joint's range NaN, so every figure of that joint was n/a, the pooled
normalized error and the lag fit the other joints' alone, and reference_range null: exit 0,
nothing said. Found by review."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_dry_run_report_edges import DT, JOINTS, MS, OPERATOR, STATES, T0, operator_at, write_bag

from dp_ros import cli
from dp_ros.bags.recorder import joint_state_message

NAN_STEPS = (10, 20, 30)
K = np.arange(60)
FINITE = np.array([k for k in K if k not in NAN_STEPS])


def with_nan(k) -> np.ndarray:
    """The operator's command, NaN for the shoulder at NAN_STEPS."""
    values = operator_at(k)
    if np.ndim(k) == 0 and int(k) in NAN_STEPS:
        values[0] = np.nan
    return values


def run(capsys, bag, out, *args) -> tuple[int, str, str]:
    code = cli.main(['dry-run-report', str(bag), '--output', str(out), '--no-progress',
                     '--no-plot', *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_shoulder(report: dict, err: np.ndarray, ref: np.ndarray) -> None:
    """The shoulder's figures over its finite steps: RMSE, range, normalized RMSE and the
    pooled one over both joints' finite errors; the lag fit finds the two periods."""
    m, pj = report['metrics'], report['metrics']['per_joint']
    shoulder = err[np.isin(K, FINITE), 0]
    span = np.ptp(ref[FINITE], axis=0)
    assert pj['rmse'][0] == pytest.approx(np.sqrt(np.mean(shoulder ** 2)), rel=1e-6)
    np.testing.assert_allclose(pj['reference_range'], span, rtol=1e-6)
    assert pj['rmse_norm'][0] == pytest.approx(pj['rmse'][0] * 2 / span[0], rel=1e-6)
    assert pj['n_steps'] == [len(FINITE), len(K)]
    both = np.concatenate([shoulder * 2 / span[0], err[:, 1] * 2 / span[1]])
    assert m['rmse_norm'] == pytest.approx(np.sqrt(np.mean(both ** 2)), rel=1e-6)
    assert m['best_lag_steps'] == 2 and m['best_lag_rmse_norm'] == pytest.approx(0, abs=1e-9)
    assert m['n_steps'] == len(K) and m['coverage'] == 1.0


def test_nan_commands_leave_their_steps_out_of_that_joint_and_say_so(tmp_path, capsys):
    bag = tmp_path / 'bag'
    write_bag(bag, operator=with_nan, policy=lambda s: operator_at(s - 2))
    out = tmp_path / 'r.json'
    code, text, err = run(capsys, bag, out)
    assert code == 0, text + err
    report = json.loads(out.read_text())  # strict JSON: no NaN token
    json.dumps(report, allow_nan=False)
    check_shoulder(report, operator_at(K - 2) - operator_at(K), operator_at(K))
    [warning] = report['warnings']
    assert f'{OPERATOR}: shoulder not finite (NaN or inf) at 3 of 60 step(s)' in warning
    assert 'left out of its figures' in warning and str(bag) in warning
    assert f'warning: {warning}' in text


def test_nan_joint_states_leave_their_steps_out_of_that_joint(tmp_path, capsys):
    """Joint states (compared one period later): a NaN shoulder state at steps 11, 21, 31
    (the grid's 10, 20, 30 one period on) is left out the same way."""
    def states(rec, ts) -> None:
        for k in range(61):
            t = T0 + k * DT
            value = operator_at(k - 1)  # the joints reach command k at step k + 1
            if k - 1 in NAN_STEPS:
                value[0] = np.nan
            rec.write('/joint_states', STATES, t + MS, joint_state_message(ts, JOINTS, value, t))

    bag = tmp_path / 'bag'
    write_bag(bag, lag=0, extra=states)
    out = tmp_path / 'r.json'
    code, text, err = run(capsys, bag, out, '--reference', '/joint_states', '--max-lag', '3')
    assert code == 0, text + err
    report = json.loads(out.read_text())
    m, pj = report['metrics'], report['metrics']['per_joint']
    assert pj['n_steps'][0] == pj['n_steps'][1] - 3 and pj['rmse'][0] == pytest.approx(0, abs=1e-9)
    assert pj['reference_range'][0] == pytest.approx(np.ptp(operator_at(FINITE)[:, 0]), rel=1e-6)
    assert pj['rmse_norm'][0] == pytest.approx(0, abs=1e-9) and m['best_lag_steps'] == 0
    [warning] = report['warnings']
    assert '/joint_states: shoulder not finite (NaN or inf) at 3 of' in warning
