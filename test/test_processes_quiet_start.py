"""A node a dp_ros command started (processes.start_child with a processes.node_command) and
stopped while its module was still importing exits quietly, code 0, not with a
KeyboardInterrupt traceback on the terminal it shares with the command (a CI run caught
`dp-ros arm-record --timeout` printing the sim's when it stopped the sim it had just started).
start_child holds SIGINT from the child's first instruction; run_node_executable takes it
where it is caught. Once the node runs, SIGINT reaches its main() as usual.

The node here is a module of this test's own whose import announces itself in a file and then
waits: the stop comes inside the import every time, whatever the machine's load.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import checkout_env

from dp_ros.ros import processes

SLOW_IMPORT = '''
import pathlib, sys, time
pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else 'x').write_text('importing')
time.sleep(120)


def main():
    return 5
'''
FAST_IMPORT = '''
import pathlib, sys, time


def main():
    pathlib.Path(sys.argv[1]).write_text('running')
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        return 7
    return 5
'''


def node(tmp_path: Path, name: str, source: str) -> tuple[list[str], dict[str, str], Path]:
    """node_command of module `name` (written into tmp_path), its environment and the file
    it writes once it is importing (slow) or running (fast)."""
    (tmp_path / f'{name}.py').write_text(source)
    marker = tmp_path / f'{name}.marker'
    env = checkout_env()
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env['PYTHONPATH']])
    return processes.node_command(name, name, str(marker)), env, marker


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f'exited {proc.returncode} before writing {path.name}'
        assert time.monotonic() < deadline, f'{path.name} not written in {timeout} s'
        time.sleep(0.05)


def started(argv: list[str], env: dict[str, str], tmp_path: Path, child: bool
            ) -> tuple[subprocess.Popen, Path]:
    err = tmp_path / 'stderr.txt'
    with open(err, 'w') as log:
        if child:
            proc = processes.start_child(argv, env=env, stderr=log)
        else:  # as a terminal runs it: nothing blocked
            proc = subprocess.Popen(argv, env=env, stderr=log, start_new_session=True)
    return proc, err


def test_a_stop_during_the_import_is_a_quiet_exit_0(tmp_path):
    argv, env, marker = node(tmp_path, 'slow_node', SLOW_IMPORT)
    proc, err = started(argv, env, tmp_path, child=True)
    try:
        wait_for(marker, proc)
        # SIGINT first: 0 is its answer (SIGTERM's would be -15, the import lasts 120 s)
        assert processes.stop(proc, timeout=60.0) == 0
    finally:
        processes.stop(proc, timeout=1.0)
    assert err.read_text() == ''


@pytest.mark.parametrize('held', [True, False], ids=['node_command', 'other_program'])
def test_a_node_command_begins_with_sigint_held_and_nothing_else_does(tmp_path, held):
    """Held from the interpreter's start-up (a sitecustomize reads the mask before any main
    module runs; the .pth restart included) in a node_command. Another program (a module run
    with -m, as tests start nodes) keeps SIGINT: nothing of it would unblock it."""
    (tmp_path / 'sitecustomize.py').write_text(
        'import os, pathlib, signal\n'
        'blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])\n'
        "pathlib.Path(os.environ['MASK_FILE']).write_text(str(blocked))\n")
    (tmp_path / 'stub.py').write_text('def main():\n    return 0\n')
    mask = tmp_path / 'mask.txt'
    env = checkout_env(MASK_FILE=str(mask))
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env['PYTHONPATH']])
    argv = processes.node_command('stub', 'stub') if held else [sys.executable, '-m', 'stub']
    proc = processes.start_child(argv, env=env)
    assert proc.wait(120) == 0
    assert mask.read_text() == str(held)


def test_a_ctrl_c_during_the_import_of_a_node_run_from_a_terminal_is_quiet_too(tmp_path):
    argv, env, marker = node(tmp_path, 'slow_node', SLOW_IMPORT)
    proc, err = started(argv, env, tmp_path, child=False)
    try:
        wait_for(marker, proc)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60.0) == 0
    finally:
        processes.stop(proc, timeout=1.0)
    assert err.read_text() == ''


@pytest.mark.parametrize('child', [True, False], ids=['start_child', 'terminal'])
def test_once_imported_sigint_reaches_the_nodes_main(tmp_path, child):
    argv, env, marker = node(tmp_path, 'fast_node', FAST_IMPORT)
    proc, err = started(argv, env, tmp_path, child=child)
    try:
        wait_for(marker, proc)
        assert processes.stop(proc, timeout=60.0) == 7  # main's KeyboardInterrupt answer
    finally:
        processes.stop(proc, timeout=1.0)
    assert err.read_text() == ''


def test_a_ctrl_c_that_escapes_main_is_quiet_too(tmp_path):
    """One that lands before run_node's own handling (between the import and rclpy.init), or
    a second Ctrl-C while the node shuts down: exit 0, nothing on stderr."""
    argv, env, _ = node(tmp_path, 'raising_node', 'def main():\n    raise KeyboardInterrupt\n')
    proc, err = started(argv, env, tmp_path, child=True)
    assert proc.wait(120) == 0
    assert err.read_text() == ''
