"""Progress bars when stderr is a file or a CI log (not a terminal): dp_ros/cli.py sets
TQDM_MININTERVAL, so a bar writes its start and end lines, not one per 0.1 s refresh (a
50-episode eval or an hours-long train filled CI logs and nohup files)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_eval_progress_is_not_a_line_per_refresh_when_stderr_is_a_file(tmp_path):
    """`dp-ros eval` (2 x 150 steps) with stderr to a file: at most a start and an end line
    of the 'closed-loop eval' bar (it wrote one per refresh, 9 in a second)."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'ck')
    log = tmp_path / 'stderr.log'
    env = {k: v for k, v in os.environ.items() if k != 'TQDM_MININTERVAL'}
    with log.open('wb') as err:
        result = subprocess.run(
            [sys.executable, '-m', 'dp_ros.cli', 'eval', '--checkpoint', str(checkpoint),
             '--seeds', '100000,100001', '--max-steps', '150', '--video-episodes', '',
             '--threads', '1', '--output', str(tmp_path / 'eval.json')],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=240)
    assert result.returncode == 0
    text = log.read_bytes().decode('utf-8', 'replace')
    updates = [s for s in re.split(r'[\r\n]', text) if 'closed-loop eval' in s]
    assert len(updates) <= 2, f'{len(updates)} progress updates in the file: {updates[:4]}'


def test_a_terminal_or_a_value_the_user_set_is_left_alone(monkeypatch):
    """A terminal keeps tqdm's own refresh; TQDM_MININTERVAL set by the user wins."""
    from dp_ros import cli

    class Stream:
        def __init__(self, tty: bool):
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delenv('TQDM_MININTERVAL', raising=False)
    monkeypatch.setattr(sys, 'stderr', Stream(True))
    cli.quiet_progress_off_terminal()
    assert 'TQDM_MININTERVAL' not in os.environ
    monkeypatch.setattr(sys, 'stderr', Stream(False))
    cli.quiet_progress_off_terminal()
    assert os.environ['TQDM_MININTERVAL'] == '60'
    monkeypatch.setenv('TQDM_MININTERVAL', '5')
    cli.quiet_progress_off_terminal()
    assert os.environ['TQDM_MININTERVAL'] == '5'
