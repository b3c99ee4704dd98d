"""Review tests of dp_ros/ros/processes.py with real child processes (no ROS needed): the log
file is fresh each start and takes stderr too, stopping signals the whole process group in
the order SIGINT, SIGTERM, SIGKILL, honours its timeout and `interrupted`, and returns the
exit code."""
from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

from dp_ros.ros.processes import interrupt, start_logged, stop

# a child that records each signal it gets in the log; `on_int`: what it does on SIGINT
# ('late': shuts down over argv[2] seconds, 3.5 unless given)
CHILD = textwrap.dedent('''
    import os, signal, sys, time
    mode = sys.argv[1]
    late_s = float(sys.argv[2]) if len(sys.argv) > 2 else 3.5
    def note(name):
        os.write(1, (name + '\\n').encode())
    def on_int(*_):
        note('INT')
        if mode == 'exit':
            os._exit(0)
        if mode == 'late':
            time.sleep(late_s)
            os._exit(0)
    def on_term(*_):
        note('TERM')
        if mode != 'stubborn':
            os._exit(15)
    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_term)
    note('ready')
    while True:
        time.sleep(0.01)
''')


def child(tmp_path, mode: str, name: str = 'child', *args: str):
    log = tmp_path / f'{name}.log'
    proc = start_logged([sys.executable, '-c', CHILD, mode, *args], log)
    deadline = time.monotonic() + 30
    while 'ready' not in (log.read_text() if log.exists() else ''):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    return proc, log


def signals(log) -> list[str]:
    return [line for line in log.read_text().split() if line != 'ready']


def test_stop_sends_sigint_first_and_returns_the_exit_code(tmp_path):
    """A child that exits 0 on SIGINT: only SIGINT is sent, stop() returns 0."""
    proc, log = child(tmp_path, 'exit')
    assert stop(proc, timeout=10) == 0
    assert signals(log) == ['INT']


def test_stop_waits_the_whole_timeout_before_sigterm(tmp_path):
    """A child that takes 3.5 s to shut down after SIGINT, timeout 10 s: no SIGTERM."""
    proc, log = child(tmp_path, 'late')
    assert stop(proc, timeout=10) == 0
    assert signals(log) == ['INT']


def test_then_sigterm_then_sigkill(tmp_path):
    """A child ignoring SIGINT and surviving SIGTERM: INT, then TERM, then killed (-9)."""
    proc, log = child(tmp_path, 'stubborn')
    assert stop(proc, timeout=0.3) == -signal.SIGKILL
    assert signals(log) == ['INT', 'TERM']


def test_an_interrupted_process_gets_no_second_sigint(tmp_path):
    """interrupt() then stop(interrupted=True): one SIGINT in all (a second Ctrl-C would cut a
    clean shutdown short). Its shutdown takes 1.5 s, not 3.5: stop() follows the first SIGINT
    by milliseconds, and what a second one would do is seen at once (INT twice in the log)."""
    proc, log = child(tmp_path, 'late', 'child', '1.5')
    interrupt(proc)
    deadline = time.monotonic() + 10
    while signals(log) != ['INT']:  # it is shutting down (a second one would not coalesce)
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    assert stop(proc, timeout=10, interrupted=True) == 0
    assert signals(log) == ['INT']


GRANDPARENT = textwrap.dedent('''
    import subprocess, sys, time
    kid = subprocess.Popen([sys.executable, '-c',
                            'import signal, time\\n'
                            'signal.signal(signal.SIGINT, signal.SIG_DFL)\\n'
                            'time.sleep(60)'])
    print('kid', kid.pid, flush=True)
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    kid.wait()
''')


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (its parent gone, not yet reaped by init) counts as ended
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def start_grandparent(tmp_path, name: str):
    log = tmp_path / f'{name}.log'
    proc = start_logged([sys.executable, '-c', GRANDPARENT], log)
    deadline = time.monotonic() + 30
    while 'kid' not in (log.read_text() if log.exists() else ''):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    return proc, int(log.read_text().split()[1])


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_stop_ends_what_the_process_started(tmp_path):
    """stop() signals the process group: the child's own child ends too."""
    proc, kid = start_grandparent(tmp_path, 'stop')
    try:
        assert proc.pid == os.getpgid(proc.pid) != os.getpgid(0)  # its own session
        assert stop(proc, timeout=5) is not None
        assert wait_gone(kid)
    finally:
        if alive(kid):
            os.kill(kid, signal.SIGKILL)


def test_interrupt_reaches_the_whole_group(tmp_path):
    """interrupt() is Ctrl-C to the group: the grandchild gets SIGINT and ends too."""
    proc, kid = start_grandparent(tmp_path, 'interrupt')
    try:
        interrupt(proc)
        proc.wait(10)
        assert wait_gone(kid)
    finally:
        if alive(kid):
            os.kill(kid, signal.SIGKILL)
        stop(proc)


def test_the_log_is_fresh_each_start_and_holds_stderr(tmp_path):
    """The log is truncated by the next start with the same path; stderr goes into it."""
    log = tmp_path / 'logs' / 'n.log'
    code = 'import sys; print("out", flush=True); print("err-{}", file=sys.stderr)'
    start_logged([sys.executable, '-c', code.format(1)], log).wait(30)
    first = log.read_text()
    assert 'out' in first and 'err-1' in first
    start_logged([sys.executable, '-c', code.format(2)], log).wait(30)
    second = log.read_text()
    assert 'err-2' in second and 'err-1' not in second


# a command that starts a node the way dp-ros does (start_logged, or start_child alone) and
# says the node's pid and where its dp_ros came from; then waits to be killed
PARENT = textwrap.dedent('''
    import sys, time
    import dp_ros
    from pathlib import Path
    from dp_ros.ros.processes import start_child, start_logged
    argv = [sys.executable, '-c', 'import time; time.sleep(120)']
    proc = (start_logged(argv, Path(sys.argv[2])) if sys.argv[1] == 'logged'
            else start_child(argv))
    print(proc.pid, dp_ros.__file__, flush=True)
    time.sleep(120)
''')


def test_a_sigkilled_command_takes_its_nodes_with_it(tmp_path):
    """A review SIGKILLed `dp-ros arm-record`: its sim (own session) ran on, and the rerun's
    episodes failed on two sims answering. The kernel now sends the node SIGTERM when the
    command dies (PR_SET_PDEATHSIG), through start_logged and start_child alike."""
    import subprocess

    import dp_ros
    if not sys.platform.startswith('linux'):
        return
    for how in ('logged', 'child'):
        parent = subprocess.Popen([sys.executable, '-c', PARENT, how, str(tmp_path / 'n.log')],
                                  stdout=subprocess.PIPE, text=True)
        pid_text, source = parent.stdout.readline().split()
        node = int(pid_text)
        assert source == dp_ros.__file__  # this checkout's code ran in the parent
        try:
            assert alive(node)
            parent.kill()
            parent.wait()
            deadline = time.monotonic() + 30
            while alive(node) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not alive(node), f'{how}: the node outlived the SIGKILLed command'
        finally:
            if alive(node):
                os.kill(node, signal.SIGKILL)
