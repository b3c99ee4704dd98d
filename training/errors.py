"""Expected errors of the training commands, and the error rule for their own main().

Each is a UserError (dp_ros/errors.py), also a ValueError (or KeyError) for the callers
that catch those: `dp-ros train` and `dp-ros bag2zarr` report one as one line on stderr
naming the problem, and exit code 2 (dp_ros/cli.py). Their main() applies the same rule
itself (error_exit), so that `python -m training.train` and torchrun, which do not go through
the cli, report a bad config or dataset the same way, once per process.
"""
from __future__ import annotations

from dp_ros.errors import (
    EXIT_USER_ERROR,
    EXPECTED_ERRORS,
    UserError,
    error_exit,
    one_line,
    output_error_line,
)

__all__ = ['EXPECTED_ERRORS', 'EXIT_USER_ERROR', 'error_exit', 'one_line']  # the rule, re-exported


class TrainConfigError(UserError, ValueError):
    """A training config (file, override, policy section, train.init_from) that cannot run."""


class TrainStateError(UserError, ValueError):
    """A train_state directory (--resume) that is not one, or does not fit the config."""


class DatasetError(UserError, ValueError):
    """A training dataset whose arrays, or whose keys in the config, do not make a training
    set."""


class NonFiniteLossError(UserError, ArithmeticError):
    """Training produced a NaN or infinite loss (or weights): the run stops before it saves
    them, so its last train state stays a good point to start again from."""


class RunWriteError(UserError, OSError):
    """A checkpoint or train state the machine refused to write (a full disk, a file over the
    size limit): its message names where, and what stays the point to resume from."""


def run_write_error(path: object, reason: str, kept: str, then: str) -> RunWriteError:
    """The one wording of a refused run write (checkpoint, train state, log): what was not
    written and why, what stays to resume from (`kept`) and how to go on (`then`)."""
    return RunWriteError(f'cannot write {path}: {reason}; {kept}. Free space there (or give '
                         f'another --output), then {then}')


def refused_write(exc: BaseException) -> str | None:
    """Why the machine refused a write (output_error_line's cases: OSError's words, or
    safetensors' message, which names no file); None for any other error."""
    if output_error_line(exc) is None:
        return None
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)


class DatasetKeyError(DatasetError, KeyError):
    """The dataset has no array the config names (a KeyError too, for dict-like callers)."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0]) if self.args else ''
