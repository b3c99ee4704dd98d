"""Exceptions raised inside pymunk's collision callbacks, raised again after the step.

pymunk calls Python callbacks from C through cffi, and cffi hands an exception raised there
to sys.unraisablehook (a printed 'Exception ignored from cffi callback' traceback) and goes
on. A Ctrl-C whose KeyboardInterrupt lands inside a post_solve callback was therefore lost:
`dp-ros eval` went on with its next episode (seen once in CI, a 120 s hang). Around
`space.step` this catches what the callbacks raise and raises the first of it once the step
has returned, where the caller's own handling sees it.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ['callback_errors_raised']


def _from_callback(unraisable: Any) -> bool:
    """An interrupt or exit from anywhere in the step (a finalizer run by the collector
    included), or any exception from a cffi callback (pymunk's, so ours: a bug shows)."""
    if not issubclass(unraisable.exc_type, Exception):
        return True
    return 'cffi callback' in (unraisable.err_msg or '')


@contextmanager
def callback_errors_raised() -> Iterator[None]:
    """Run the body with the exceptions its C callbacks raise kept, then raise the first."""
    caught: list[BaseException] = []
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if _from_callback(unraisable) and unraisable.exc_value is not None:
            caught.append(unraisable.exc_value)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
    if caught:
        raise caught[0]
