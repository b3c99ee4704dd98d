"""The one error rule of the `dp-ros` commands: an expected error is a UserError.

A UserError (a bad checkpoint, config, bag or dataset, a missing file) is something the user
can fix from its message alone: the command prints that message in one line and exits 2
(dp_ros/cli.py). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """An expected failure whose message names the problem and what to give instead."""
