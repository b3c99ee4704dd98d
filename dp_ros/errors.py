"""The one error rule of the `dp-ros` commands: an expected error is a UserError.

A UserError (a bad checkpoint, config, bag or dataset, a missing file) is something the user
can fix from its message alone: the command prints that message in one line and exits 2
(dp_ros/cli.py). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys


class UserError(Exception):
    """An expected failure whose message names the problem and what to give instead."""


# what the rule turns into one line and exit code 2; a missing checkpoint, config, bag or
# dataset found by open() or Path.iterdir() is the user's to fix as much as a UserError
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


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
