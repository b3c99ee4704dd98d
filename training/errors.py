"""Expected errors of the training commands, and the error rule for their own main().

Each is a UserError (dp_ros/errors.py), also a ValueError (or KeyError) for the callers
that catch those: `dp-ros train` and `dp-ros bag2zarr` report one as one line on stderr
naming the problem, and exit code 2 (dp_ros/cli.py). Their main() applies the same rule
itself (error_exit), so that `python -m training.train` and torchrun, which do not go through
the cli, report a bad config or dataset the same way, once per process.
"""
from __future__ import annotations

import sys

from dp_ros.errors import UserError

# what the rule turns into one line and exit code 2 (as dp_ros/cli.py's EXPECTED_ERRORS)
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
EXIT_USER_ERROR = 2


class TrainConfigError(UserError, ValueError):
    """A training config (file, override, policy section, train.init_from) that cannot run."""


class TrainStateError(UserError, ValueError):
    """A train_state directory (--resume) that is not one, or does not fit the config."""


class DatasetError(UserError, ValueError):
    """A training dataset whose arrays, or whose keys in the config, do not make a training
    set."""


class DatasetKeyError(DatasetError, KeyError):
    """The dataset has no array the config names (a KeyError too, for dict-like callers)."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0]) if self.args else ''


def one_line(message: object) -> str:
    """The message with its line breaks and runs of blanks folded into single spaces."""
    return ' '.join(str(message).split())


def error_exit(prog: str, exc: BaseException, *notes: str) -> int:
    """Print `<prog>: <message>[; note...]` as one line on stderr; the exit code (2)."""
    message = one_line(exc) or type(exc).__name__
    print('; '.join([f'{prog}: {message}', *notes]), file=sys.stderr)
    return EXIT_USER_ERROR
