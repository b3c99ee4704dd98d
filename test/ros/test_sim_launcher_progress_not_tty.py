"""`dp-ros sim` with stderr redirected to a file (a CI log, nohup): the progress bar does not
write a line per control step.

dp_ros/cli.py sets TQDM_MININTERVAL (60 s) when stderr is not a terminal, but run_session's
bar.refresh() after each step draws regardless of it; bar.update() keeps it. Pinned here
until dp_ros/app/sim_launcher.py's run_session uses update().
"""
from __future__ import annotations

import re
import subprocess

from support import checkout_env, make_tiny_checkpoint, module_cmd

SEEDS = ('100000', '100001')


def test_sim_progress_to_a_file_is_not_a_line_per_step(tmp_path):
    """2 x 25 control steps with stderr to a file: the 'Push-T over ROS' bar's start and end
    lines and one after each episode's score line (tqdm.write redraws it), not one per step
    (it wrote 41-49: a 50 x 300-step run is ~15,000 log lines)."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'ck')
    log = tmp_path / 'stderr.log'
    env = checkout_env(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    env.pop('TQDM_MININTERVAL', None)  # the command's own default is what is pinned
    with log.open('wb') as err:
        proc = subprocess.run(
            module_cmd('dp_ros.cli', 'sim', '--checkpoint', str(checkpoint), '--seeds',
                       *SEEDS, '--max-steps', '25', '--device', 'cpu',
                       '--threads', '1', '--no-video', '--logs', str(tmp_path / 'logs')),
            env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=180, cwd=tmp_path)
    text = log.read_bytes().decode('utf-8', 'replace')
    assert proc.returncode == 0, text[-800:]
    updates = [s for s in re.split(r'[\r\n]', text) if 'Push-T over ROS' in s]
    assert len(updates) <= 2 + len(SEEDS), \
        f'{len(updates)} progress updates in the file: {updates[:3]}'
