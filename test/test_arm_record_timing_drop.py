"""`dp-ros arm-record`: an episode dropped for timing says so, apart from a failed replay.

When every attempt had a command rejected or not run in its step (a busy machine), the
episode is dropped for timing: its line names that cause and the remedy (--mode lockstep),
not 'failed', which the README keeps for a replay that no longer succeeds (the coverage
shown may even pass the replay's rule). The ROS parts of record_all are faked.
"""
from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
import pytest

from dp_ros.app import arm_record


class Fake:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def ready(self):
        return True


@pytest.mark.parametrize('unrun, coverage, says', [
    ([0, 110], 0.857, 'dropped: a command was rejected or not run in its step, or the sim '
                      'skipped control periods, in all 3 attempt(s) (timing, not the replay; '
                      'try --mode lockstep)'),
    ([], 0.5, '-> failed ('),
    ([], 0.857, '-> kept ('),
])
def test_the_episode_line_names_why_it_was_dropped(monkeypatch, tmp_path, capsys, unrun,
                                                    coverage, says):
    monkeypatch.setattr(arm_record, 'start_sim', lambda *a, **k: SimpleNamespace())
    monkeypatch.setattr(arm_record, 'stop', lambda proc: None)
    monkeypatch.setattr(arm_record, 'ReplayClient', Fake)
    monkeypatch.setattr(arm_record, 'EpisodeRecorder', Fake)

    def fake_record(client, recorder, states, bag, timeout, mode='realtime'):
        bag.mkdir(parents=True, exist_ok=True)
        return {'result': {'steps': 118, 'final_coverage': coverage,
                           'rejected': {'ends_in_past': 1} if unrun else {}},
                'mode': mode, 'wall_s': 12.4, 'missing': {},
                'recorded_final_coverage': 0.855, 'unrun_steps': unrun}

    monkeypatch.setattr(arm_record, 'record_episode', fake_record)
    demos = SimpleNamespace(episode=lambda i: np.zeros((117, 5)))
    args = argparse.Namespace(namespace='/pusht', mode='realtime', timeout=1.0, retries=2,
                              tolerance=0.05, keep_failed=False, no_progress=True)
    output = tmp_path / 'bags'
    output.mkdir()
    assert arm_record.record_all(args, demos, [1], output, tmp_path / 'bags_report.json',
                                 {'episodes': {}}) == 0
    out = capsys.readouterr().out
    final = [line for line in out.splitlines() if line.startswith('episode 1:') and '->' in line]
    assert len(final) == 1 and says in final[0], out
