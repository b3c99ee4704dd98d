"""--sample-seed is checked up front against the range every path takes: 0..2**40.

The policy node declares sample_seed in 0..2**40, and the episode generator's seed
(sample_seed * 1000003 + env seed) must fit torch's int64. `dp-ros eval` (either path) and
`dp-ros sim` refuse a value outside it before anything loads, in one line naming
--sample-seed: not a traceback after the policy loaded (in-process), not a node's refusal
after both nodes started (ROS), and not a run in-process of what ROS refuses (-1).
"""
from __future__ import annotations

import pytest
from support import SHIPPED_CHECKPOINT

from dp_ros.app import sim_launcher
from dp_ros.app.eval_report import build_eval_parser, check_eval_args
from dp_ros.errors import UserError


@pytest.mark.parametrize('via', ['inprocess', 'ros'])
@pytest.mark.parametrize('seed', ['100000000000000', '-1', str(2**40 + 1)])
def test_eval_refuses_a_sample_seed_out_of_range(tmp_path, via, seed):
    args = build_eval_parser().parse_args([
        '--checkpoint', str(SHIPPED_CHECKPOINT), '--via', via, '--seeds', '100000',
        '--max-steps', '3', f'--sample-seed={seed}', '--output', str(tmp_path / 'r.json')])
    with pytest.raises(UserError, match='--sample-seed must be in 0..1099511627776'):
        check_eval_args(args)


def test_the_largest_sample_seed_is_taken(tmp_path):
    args = build_eval_parser().parse_args([
        '--checkpoint', str(SHIPPED_CHECKPOINT), '--seeds', '100000', '--max-steps', '3',
        f'--sample-seed={2**40}', '--output', str(tmp_path / 'r.json')])
    check_eval_args(args)


def test_sim_refuses_a_sample_seed_out_of_range(monkeypatch, tmp_path, capsys):
    def no_session(*args, **kwargs):
        raise AssertionError('the nodes were started for an argument error')

    monkeypatch.setattr(sim_launcher, 'run_session', no_session)
    assert sim_launcher.main(['--checkpoint', str(SHIPPED_CHECKPOINT), '--no-video',
                              '--sample-seed', '100000000000000', '--logs',
                              str(tmp_path / 'logs')]) == 2
    assert '--sample-seed must be in' in capsys.readouterr().err
