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
from types import TracebackType
from typing import Any

__all__ = ['callback_errors_raised']


def _from_callback(unraisable: Any) -> bool:
    """An interrupt or exit from anywhere in the step (a finalizer run by the collector
    included), or any exception from a cffi callback (pymunk's, so ours: a bug shows)."""
    if not issubclass(unraisable.exc_type, Exception):
        return True
    return 'cffi callback' in (unraisable.err_msg or '')


class callback_errors_raised:  # noqa: N801 - used as a function: `with callback_errors_raised():`
    """Run the body with the exceptions its C callbacks raise kept, then raise the first.

    A class, not a generator context manager: it wraps each env step (the arm twin's each
    substep, 10 a step), where contextlib's machinery cost 24 us a step."""

    __slots__ = ('_caught', '_previous')

    def __enter__(self) -> None:
        self._caught: list[BaseException] = []
        self._previous = sys.unraisablehook
        sys.unraisablehook = self._hook

    def _hook(self, unraisable: Any) -> None:
        if _from_callback(unraisable) and unraisable.exc_value is not None:
            self._caught.append(unraisable.exc_value)
        else:
            self._previous(unraisable)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        sys.unraisablehook = self._previous
        if exc is None and self._caught:
            raise self._caught[0]
