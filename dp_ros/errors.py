"""The one error rule of the `dp-ros` commands: an expected error is a UserError.

A UserError (a bad checkpoint, config, bag or dataset, a missing file) is something the user
can fix from its message alone: the command prints that message in one line and exits 2
(dp_ros/cli.py). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class UserError(Exception):
    """An expected failure whose message names the problem and what to give instead."""


# what the rule turns into one line and exit code 2; a missing checkpoint, config, bag or
# dataset found by open() or Path.iterdir() is the user's to fix as much as a UserError
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# an output the machine cannot take (disk or quota full, read-only, not permitted, a file over
# the size limit): the user's to fix (free space, another --output), not a bug
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EFBIG,
                           errno.EDQUOT})


def one_line(message: object) -> str:
    """The message with its line breaks and runs of blanks folded into single spaces."""
    return ' '.join(str(message).split())


# the project's own top-level packages: a module of theirs missing is a bug, not the setup
OWN_PACKAGES = frozenset({'dp_ros', 'training', 'sim_bridge'})
# import names whose pip package is named otherwise (requirements.txt)
PIP_NAMES = {'yaml': 'pyyaml', 'cv2': 'opencv-python', 'mcap_ros2': 'mcap-ros2-support',
             'rclpy': 'ros-rclpy[fastrtps]'}


def missing_package(exc: BaseException) -> str | None:
    """The package to install for a ModuleNotFoundError of a third-party module (pip's name);
    None for anything else, the project's own modules included (those are bugs)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split('.')[0]
    if top in OWN_PACKAGES:
        return None
    return PIP_NAMES.get(top, top)


def missing_package_line(prog: str, package: str, exc: BaseException) -> str:
    """What a command missing a dependency says, in one line."""
    return (f"{prog}: needs the Python package '{package}' ({one_line(exc)}): "
            'pip install -r requirements.txt installs every one; on a ROS 2 machine see the '
            "README's 'Building with colcon'")


def error_exit(prog: str, exc: BaseException, *notes: str) -> int:
    """Print `<prog>: <message>[; note...]` as one line on stderr; the exit code (2).

    For a main() that also runs outside the cli (`python -m ...`, torchrun)."""
    message = one_line(exc) or type(exc).__name__
    print('; '.join([f'{prog}: {message}', *notes]), file=sys.stderr)
    return EXIT_USER_ERROR


def refused_copy(exc: BaseException) -> OSError | None:
    """shutil.copytree's error (an OSError without errno, listing (source, destination,
    reason) for every file it could not copy: each chunk of a store on a full disk) as the
    OSError of the first destination the machine refused (OUTPUT_ERRNOS); None when it is
    no such error."""
    if not isinstance(exc, shutil.Error) or not exc.args or not isinstance(exc.args[0], list):
        return None
    for entry in exc.args[0]:
        if not (isinstance(entry, tuple) and len(entry) == 3):
            continue
        code = re.match(r'\[Errno (\d+)\]', str(entry[2]))
        if code and int(code[1]) in OUTPUT_ERRNOS:
            return OSError(int(code[1]), os.strerror(int(code[1])), str(entry[1]))
    return None


def output_error_line(exc: BaseException) -> str | None:
    """The one-line message for a write the machine refused (OUTPUT_ERRNOS, the path named
    when the error has one; a copytree's first refused file, refused_copy; safetensors' own
    error for a full disk at a checkpoint save); None for anything else."""
    exc = refused_copy(exc) or exc
    if isinstance(exc, OSError) and exc.errno in OUTPUT_ERRNOS:
        where = f': {exc.filename}' if exc.filename else ''
        return f'cannot write{where}: {exc.strerror or one_line(exc)}'
    code = re.search(r'\(os error (\d+)\)', str(exc))  # safetensors' I/O error
    if type(exc).__name__ == 'SafetensorError' and code and int(code[1]) in OUTPUT_ERRNOS:
        return f'cannot write a checkpoint: {one_line(exc)}'
    return None


# pathlib's error for a link loop before Python 3.13 (Path.resolve(): a RuntimeError; 3.13
# raises the OSError ELOOP that open() and stat() raise)
_PATHLIB_LOOP = re.compile(r"Symlink loop from '(.*)'", re.DOTALL)


def link_loop_line(exc: BaseException) -> str | None:
    """The one-line message for a path that is a symbolic link loop (a link that points back
    to itself through links: `ln -s out out`), whether pathlib said it (RuntimeError) or the
    system (OSError ELOOP); None for anything else."""
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        where = exc.filename
    elif type(exc) is RuntimeError and (match := _PATHLIB_LOOP.fullmatch(str(exc))):
        where = match[1]
    else:
        return None
    where = f'{where}: ' if where else ''
    return (f'{where}a symbolic link loop (it leads back to itself through links): remove or '
            'repoint the link, or give another path')


# the SIGTERMs this process received under sigterm_as_interrupt (the innermost handler
# records them: a sim session inside a cli command has its own)
_TERMINATED: list[int] = []


def _raise_interrupt(signum: int, frame: Any) -> None:
    _TERMINATED.append(signum)
    raise KeyboardInterrupt(f'signal {signum}')


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list[int]]:
    """Within: SIGTERM (kill, a CI timeout, a supervisor) unwinds like Ctrl-C, so `finally`
    blocks run (node processes stopped, staging copies removed) instead of the process dying
    where it stands. Yields the SIGTERMs received so far (interrupted_exit_code). Main thread
    only; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield _TERMINATED
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield _TERMINATED
    finally:
        signal.signal(signal.SIGTERM, old)


def interrupted_exit_code(received: list[int]) -> int:
    """The exit code of a run stopped by a signal: 128 + the signal's number (SIGTERM 143),
    Ctrl-C's 130 when no other signal came."""
    return 128 + received[-1] if received else EXIT_INTERRUPTED
