"""Node processes started and stopped the way `ros2 launch` does it.

Each process gets its own session (process group), so stopping it also ends whatever it
started; stopping sends SIGINT first (rclpy shuts down cleanly and nodes flush videos and
bags), then SIGTERM, then SIGKILL. On Linux each also gets SIGTERM when the command that
started it dies (start_child: PR_SET_PDEATHSIG), so a SIGKILLed command leaves no node behind
to answer a rerun's requests.

A node a command starts (start_child of a node_command) begins with SIGINT blocked and enters
through run_node_executable, which unblocks it where a KeyboardInterrupt is caught: a
stop that comes while the node is still starting (seconds of torch and rclpy imports) is a
quiet exit 0, as a stop once it runs, not a KeyboardInterrupt traceback on the terminal the
command shares with it (a CI run caught `dp-ros arm-record` printing one when it stopped the
sim it had just started).

check_ros_environment is the one check of the ROS variables a process needs before rcl
loads (no rclpy import here: an RMW_IMPLEMENTATION rcl cannot load ends the process, exit
102, as rclpy is imported). The node executables (setup.py console_scripts:
dp_ros/app/node_executables.py) enter through run_node_executable, which checks before it
imports the node's module (every node module imports rclpy at its top).
"""
from __future__ import annotations

import ctypes
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from dp_ros.errors import UserError

MAX_DOMAIN_ID = 232  # Fast DDS: a higher id's ports are over 65535 ("port number too high")
# where an RMW implementation registers in the ament index (as rclpy's
# get_available_rmw_implementations reads it); the dispatching shim registers there too
RMW_INDEX = Path('share', 'ament_index', 'resource_index', 'rmw_typesupport')
RMW_SHIM = 'rmw_implementation'
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
NODE_ENTRY = 'dp_ros.ros.node_entry'  # python -m NODE_ENTRY MODULE NAME [ARGS]


def check_ros_environment(environment: Mapping[str, str]) -> None:
    """UserError (one line) for a ROS_DOMAIN_ID or RMW_IMPLEMENTATION rcl cannot use: call it
    before rclpy is imported or initialised, for this process and the nodes it starts."""
    check_ros_domain_id(environment)
    check_rmw_implementation(environment)


def check_ros_domain_id(environment: Mapping[str, str]) -> None:
    """UserError for a ROS_DOMAIN_ID that is no whole number in 0..232: rcl refuses it with a
    traceback, Fast DDS with a log line only."""
    value = environment.get('ROS_DOMAIN_ID', '').strip()
    if not value:  # unset or empty: rcl's default, 0
        return
    if not value.isdigit() or int(value) > MAX_DOMAIN_ID:
        raise UserError(f'ROS_DOMAIN_ID={value!r} is not a domain id: set it to a whole '
                        f'number from 0 to {MAX_DOMAIN_ID}, or unset it (0)')


def installed_rmw_implementations(environment: Mapping[str, str]) -> list[str]:
    """The RMW implementations the ament index under AMENT_PREFIX_PATH lists, sorted."""
    found: set[str] = set()
    for prefix in filter(None, environment.get('AMENT_PREFIX_PATH', '').split(os.pathsep)):
        index = Path(prefix) / RMW_INDEX
        if index.is_dir():
            found.update(p.name for p in index.iterdir() if not p.name.startswith('.'))
    return sorted(found - {RMW_SHIM})


def check_rmw_implementation(environment: Mapping[str, str]) -> None:
    """UserError for an RMW_IMPLEMENTATION that is not installed (rcl would print its own
    error and exit 102 as rclpy loads). Nothing to judge when it is unset or empty (rcl's
    default) or when the index lists no implementation (AMENT_PREFIX_PATH unset)."""
    value = environment.get('RMW_IMPLEMENTATION', '').strip()
    installed = installed_rmw_implementations(environment)
    if value and installed and value not in installed:
        raise UserError(f'RMW_IMPLEMENTATION={value!r} is not installed here (installed: '
                        f'{", ".join(installed)}; found through AMENT_PREFIX_PATH): set it to '
                        'one of those, or unset it')


def run_node_executable(module: str, name: str) -> int:
    """The main() of a node's `module`, once the ROS variables passed check_ros_environment:
    a bad one is one line on stderr, `name: <problem>`, exit 2 (as run_node says it), before
    the import that would let rcl end the process with its own lines and exit 102. A Ctrl-C
    before the node's main() runs (held by start_child's block until here) ends the process
    quietly, exit 0, as one while the node runs does."""
    try:
        check_ros_environment(os.environ)
    except UserError as exc:
        print(f'{name}: {exc}', file=sys.stderr)
        return 2
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a held Ctrl-C lands here
        return int(importlib.import_module(module).main() or 0)
    except KeyboardInterrupt:  # before run_node's own handling (rclpy.init), or a second
        return 0               # Ctrl-C while it shut down


def node_command(module: str, name: str, *args: str) -> list[str]:
    """The command line that runs node `module` (its main()) as executable `name` through
    run_node_executable, with `args` (--ros-args ...): how a dp_ros command starts a node
    (start_child blocks SIGINT; run_node_executable unblocks it)."""
    return [sys.executable, '-m', NODE_ENTRY, module, name, *args]


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send the child SIGTERM when this process dies (a
    SIGKILL runs no cleanup of ours, and a child in its own session gets no terminal signal);
    None where there is no prctl (not Linux). The signal comes when the *thread* that started
    the child exits, so it is only set from the main thread, which lives as long as the
    process; a child started from another thread goes without it."""
    if (not sys.platform.startswith('linux')
            or threading.current_thread() is not threading.main_thread()):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: not in the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0),
              ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os.kill(os.getpid(), signal.SIGTERM)
    return preexec


def start_child(argv: list[str], **popen: object) -> subprocess.Popen:
    """Popen(argv) in a new session that ends with this process (die_with_parent): every node
    process a command starts goes through here. A node_command starts with SIGINT held
    (blocked) until its run_node_executable can catch it; any other program (a test's
    publisher, `python -m` of a node module) as usual: nothing of it would unblock SIGINT."""
    death = die_with_parent()
    hold = list(argv[1:3]) == ['-m', NODE_ENTRY]

    def preexec() -> None:
        if hold:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        if death is not None:
            death()
    return subprocess.Popen(argv, start_new_session=True,  # type: ignore[call-overload]
                            preexec_fn=preexec if hold or death else None, **popen)


def start_logged(argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.Popen:
    """start_child(argv) with stdout and stderr in log_path (env None: ours)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'wb') as log:  # the child keeps its own descriptor
        return start_child(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                           cwd=None if cwd is None else str(cwd))


def interrupt(proc: subprocess.Popen) -> None:
    """SIGINT to the process group, as Ctrl-C in a launch terminal."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def stop(proc: subprocess.Popen, timeout: float = 10.0, interrupted: bool = False) -> int | None:
    """SIGINT (unless already `interrupted`: a second Ctrl-C would cut a clean shutdown short),
    wait up to timeout; then SIGTERM and SIGKILL (3 s each). Returns the exit code."""
    first = None if interrupted else signal.SIGINT
    for sig, wait in ((first, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            break
        try:
            if sig is not None:
                os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()
