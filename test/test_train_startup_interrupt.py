"""Ctrl-C in `dp-ros train`'s start-up, after config.yaml is written and before the first
step: a review's rerun then set the folder aside as an 'earlier run' (earlier_runs/1, with
its config.yaml alone) and told the user to continue it there, which cannot be done. A folder
holding config.yaml alone is no run: the rerun trains in it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from support import checkout_env, default_sigint
from test_cli_sigterm_cleanup import _STOP_AT_NTH_CALL
from tiny_runs import saved_state, small_config, write_small_store


def _stopped(pid: int) -> bool:
    return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'T'


def test_a_run_stopped_in_its_start_up_is_not_set_aside(tmp_path):
    store = write_small_store(tmp_path / 'small.zarr')
    config = tmp_path / 'train.yaml'
    small_config(store, train={'max_steps': 2, 'checkpoint_every': 2, 'final_eval': False,
                               'num_threads': 1, 'progress': False, 'cpu': True}).save(config)
    run = tmp_path / 'run'
    args = ['dp_ros.cli', 'train', '--config', str(config), '--output', str(run)]
    # stopped where the run log is made: config.yaml written, no step run
    proc = subprocess.Popen([sys.executable, '-c', _STOP_AT_NTH_CALL,
                             'training.trainer:RunLog', '1', *args], env=checkout_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not _stopped(proc.pid):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, 'the run log was never made'
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == 130, proc.stderr.read()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert sorted(p.name for p in run.iterdir()) == ['config.yaml']
    again = subprocess.run([sys.executable, '-m', *args], env=checkout_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert 'earlier_runs' not in again.stderr and not (run / 'earlier_runs').exists()
    assert saved_state(run)['position']['step'] == 2
