"""Ctrl-C and SIGTERM in `dp-ros arm-record`'s start-up, its demonstrations' load and its
cleanup (a fault review sent them 0.8-1.0 s in): it exits 130 or 143 with its one line, leaves
no `.<output>.partial` folder, and a rerun resumes.

Before, the staging folder was made before the sim and the nodes, outside the try whose
finally removes it; a stop while the nodes were made left the first node's rclpy context
unclosed (the process then aborted as it exited: 'terminate called without an active
exception', SIGABRT); a stop during zarr's read of the states printed zarr's pending chunk
reads as ~150 'Exception ignored ... Event loop is closed' lines. Each test stops the process
at an exact call (SIGSTOP), then signals it: no timing.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from support import (
    REPO_ROOT,
    checkout_env,
    default_sigint,
    module_cmd,
    sim_pids,
    wait_until_stopped,
)

pytestmark = pytest.mark.ros

INTERRUPTED = 'dp-ros arm-record: interrupted'

# `python -c STOP_AT_CALL WHERE N SUFFIX UNDER MODULE ARGS...`: runs MODULE with WHERE
# (module:attr) wrapped so that the process stops itself (SIGSTOP) at the start of the nth of
# its calls whose first argument ends with SUFFIX and that run under a function named UNDER
# (either '' for any)
STOP_AT_CALL = """
import functools, importlib, os, runpy, signal, sys
where, nth, suffix, under, module = sys.argv[1:6]
owner_name, _, path = where.partition(':')
owner = importlib.import_module(owner_name)
*parents, name = path.split('.')
for parent in parents:
    owner = getattr(owner, parent)
original, calls = getattr(owner, name), []
def counted(args):
    if suffix and not (args and str(args[0]).endswith(suffix)):
        return False
    frame, names = sys._getframe(2), set()
    while frame is not None:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    return not under or under in names
@functools.wraps(original)
def stopping(*args, **kwargs):
    if counted(args):
        calls.append(None)
        if len(calls) == int(nth):
            os.kill(os.getpid(), signal.SIGSTOP)
    return original(*args, **kwargs)
setattr(owner, name, stopping)
sys.argv = [module, *sys.argv[6:]]
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""


def demo_dataset(path: Path, episodes: int = 2) -> Path:
    """`episodes` copies of a short pusher move far from the block (8 steps; its replay ends
    as recorded: kept)."""
    from training.replay_buffer import ReplayBuffer

    states = np.array([[372.0 - 4 * k, 342.0, 120.0, 120.0, 0.0] for k in range(8)])
    buffer = ReplayBuffer.create(path)
    for _ in range(episodes):
        buffer.add_episode({'state': states.astype(np.float32),
                            'action': states[:, :2].astype(np.float32)})
    return path


@pytest.fixture
def namespaces():
    """The namespaces a test runs its sims in; a sim one left is stopped after it."""
    used: list[str] = []
    yield used
    for namespace in used:
        for pid in sim_pids(namespace):
            os.kill(pid, signal.SIGKILL)


def stopped_run(args: list[str], where: str, nth: int, sig: int, suffix: str = '',
                under: str = '') -> subprocess.CompletedProcess:
    """`dp-ros arm-record ARGS` stopped at the nth call of `where` (STOP_AT_CALL), sent
    `sig` there and let go on; its exit code and output (through files opened for appending,
    so the sim's lines never overwrite the command's; a sim left cannot hold a pipe open)."""
    with tempfile.TemporaryDirectory() as logs:
        out_path, err_path = Path(logs, 'out'), Path(logs, 'err')
        with open(out_path, 'a') as out, open(err_path, 'a') as err:
            proc = subprocess.Popen(
                [sys.executable, '-c', STOP_AT_CALL, where, str(nth), suffix, under,
                 'dp_ros.cli', 'arm-record', '--no-progress', *args], cwd=REPO_ROOT,
                env=checkout_env(), stdout=out, stderr=err, preexec_fn=default_sigint)
        try:
            wait_until_stopped(proc, 240, lambda rc: (
                f'it ended (rc {rc}) before the call {nth} of {where}: '
                f'{err_path.read_text()[-3000:]}'), f'no call {nth} of {where} within 240 s')
            proc.send_signal(sig)
            proc.send_signal(signal.SIGCONT)
            proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out_path.read_text(),
                                           err_path.read_text())


def arm_record(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(module_cmd('dp_ros.cli', 'arm-record', '--no-progress', *args),
                          cwd=REPO_ROOT, env=checkout_env(), capture_output=True, text=True,
                          timeout=300)


def own_lines(stderr: str) -> list[str]:
    """The lines of the command and of anything but its sim's ROS log ('[INFO] [...] ...')."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith('[')]


def staging(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.endswith('.partial'))


def test_a_stop_as_the_sim_starts_leaves_no_staging_folder(tmp_path, namespaces):
    """SIGINT where the sim is started (the staging folder made, nothing else yet)."""
    namespaces.append('/arm_int_sim')
    proc = stopped_run(['--mode', 'lockstep', '--output', str(tmp_path / 'bags'),
                        '--namespace', '/arm_int_sim',
                        '--dataset', str(demo_dataset(tmp_path / 'demo.zarr'))],
                       'dp_ros.app.arm_record:start_sim', 1, signal.SIGINT)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert own_lines(proc.stderr) == [INTERRUPTED], proc.stderr[-3000:]
    assert staging(tmp_path) == []
    assert sim_pids('/arm_int_sim') == []  # stopped before the command exited


def test_a_stop_while_the_nodes_are_made_is_one_line_and_a_rerun_resumes(tmp_path, namespaces):
    """SIGTERM where the recorder node is made (the replay client's node already spinning):
    143 and the one line, not an abort; the rerun records both episodes."""
    namespaces.extend(['/arm_int_node', '/arm_int_rerun'])
    dataset = demo_dataset(tmp_path / 'demo.zarr')
    output = tmp_path / 'bags'
    proc = stopped_run(['--mode', 'lockstep', '--output', str(output), '--namespace',
                        '/arm_int_node', '--dataset', str(dataset)],
                       'dp_ros.app.arm_record:EpisodeRecorder', 1, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-3000:]
    assert own_lines(proc.stderr) == [INTERRUPTED], proc.stderr[-3000:]
    assert staging(tmp_path) == []
    assert sim_pids('/arm_int_node') == []
    again = arm_record('--mode', 'lockstep', '--output', str(output), '--namespace',
                       '/arm_int_rerun', '--dataset', str(dataset))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    report = json.loads((tmp_path / 'bags_report.json').read_text())['episodes']
    assert {k: r['success'] for k, r in report.items()} == {'0': True, '1': True}
    assert sorted(p.name for p in output.iterdir()) == ['episode_000', 'episode_001']
    assert staging(tmp_path) == []


def test_a_stop_in_the_cleanup_still_removes_the_staging_folder(tmp_path, namespaces):
    """SIGINT where the cleanup of a failed run (a wait past --timeout) stops the sim: the
    rest of the cleanup runs, then the interrupt's line."""
    namespaces.append('/arm_int_clean')
    proc = stopped_run(['--mode', 'lockstep', '--output', str(tmp_path / 'bags'),
                        '--timeout', '0.001', '--namespace', '/arm_int_clean',
                        '--dataset', str(demo_dataset(tmp_path / 'demo.zarr'))],
                       'dp_ros.app.arm_record:stop', 1, signal.SIGINT)
    assert proc.returncode == 130, proc.stderr[-3000:]
    lines = own_lines(proc.stderr)
    assert lines[-1] == INTERRUPTED and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert staging(tmp_path) == []
    assert sim_pids('/arm_int_clean') == []


def test_a_stop_while_the_demonstrations_load_is_one_line(tmp_path, namespaces):
    """SIGINT while zarr reads the states (a store of 2000 one-step chunks, so its reads are
    still pending when a process cut short there exits): the read ends, then the line."""
    import zarr

    namespaces.append('/arm_int_load')
    states = np.tile(np.array([372.0, 342.0, 120.0, 120.0, 0.0], np.float32), (2000, 1))
    root = zarr.open_group(str(tmp_path / 'chunked.zarr'), mode='w')
    root.create_array('data/state', data=states, chunks=(1, 5))
    root.create_array('meta/episode_ends', data=np.array([len(states)]))
    proc = stopped_run(['--mode', 'lockstep', '--output', str(tmp_path / 'bags'),
                        '--namespace', '/arm_int_load', '--dataset',
                        str(tmp_path / 'chunked.zarr')],
                       # the second read of the load (episode_ends, then the states)
                       'zarr.core.sync:wait', 2, signal.SIGINT, under='get_orthogonal_selection')
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert own_lines(proc.stderr) == [INTERRUPTED], proc.stderr[-3000:]
    assert staging(tmp_path) == []
