"""A realtime score whose episode skipped control periods says so on the terminal.

The README: such a score is not a clean one. The sim's result carries slots_skipped and the
eval report episode_slots_skipped, but a user reads the terminal: the per-episode line of
`dp-ros sim` and `eval --via ros` (run_session) and eval's summary lines name the count.
"""
from __future__ import annotations

import json
from pathlib import Path

from dp_ros.app import evaluate, sim_launcher
from dp_ros.app.sim_launcher import SessionConfig

RESULT = {'episode': 0, 'seed': 100000, 'steps': 60, 'max_reward': 0.021,
          'terminated': False, 'reason': 'max_steps', 'mode': 'realtime',
          'slots_skipped': 5, 'action_timeouts': 0, 'rejected': {}}


class FakeSession:
    def __init__(self, cfg):
        self.cfg = cfg

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, on_progress=None, on_episode=None):
        on_episode(RESULT)
        return [RESULT]


def test_the_episode_line_names_the_skipped_periods(monkeypatch, capsys):
    monkeypatch.setattr(sim_launcher, 'SimSession', FakeSession)
    cfg = SessionConfig(checkpoint=Path('checkpoints/pusht_default'), seeds=[100000],
                        mode='realtime', max_steps=60)
    sim_launcher.run_session(cfg, progress=False)
    out = capsys.readouterr()
    assert '5 control period(s) skipped (not a clean realtime score)' in out.out + out.err


def test_the_eval_summary_names_the_skipped_periods(monkeypatch, tmp_path, capsys):
    def fake_check(args):
        args.device = 'cpu'

    def fake_ros_eval(args):
        return {'episodes': [{'seed': 100000, 'score': 0.5}, {'seed': 100001, 'score': 0.25}],
                'mean_score': 0.375, 'n_episodes': 2, 'episode_slots_skipped': [0, 3]}

    monkeypatch.setattr(evaluate, 'check_eval_args', fake_check)
    import dp_ros.app.ros_eval as ros_eval
    monkeypatch.setattr(ros_eval, 'run_ros_eval', fake_ros_eval)
    out = tmp_path / 'r.json'
    assert evaluate.main(['--checkpoint', 'x', '--via', 'ros', '--mode', 'realtime',
                          '--seeds', '100000,100001', '--output', str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'skipped' not in lines[0] and '3 control period(s) skipped' in lines[1], lines
    assert '1 of them skipped control periods' in lines[2], lines
    assert json.loads(out.read_text())['episode_slots_skipped'] == [0, 3]
