"""Checks of converted input values before they reach the observation history.

The policy computes in float32: a float64 that is finite but beyond float32's range (1e300)
becomes inf in the model, which then plans non-finite actions that are dropped much later
and blamed on the model. Such values are bad input, caught here with the NaNs and infs.
"""
from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)


class BadInput(ValueError):
    """A message that cannot be used; `kind` is the counter it goes to on /diagnostics."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def state_vector(values: np.ndarray, what: str) -> np.ndarray:
    """float64 values -> the float32 observation; BadInput('non_finite' | 'float32_overflow')."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise BadInput('non_finite', f'{what} {values.tolist()}')
    if np.any(np.abs(values) > FLOAT32_MAX):
        raise BadInput('float32_overflow', f'{what} {values.tolist()}: beyond the float32 range '
                       f'(+-{FLOAT32_MAX:.3g}) the policy computes in')
    return values.astype(np.float32)


def measured_vector(values: np.ndarray) -> np.ndarray:
    """float64 measured positions with NaN (not measured) where a value fails state_vector's
    check (non-finite, beyond float32): a message refused as a state, or giving action joints
    only, still measures them, and 1e300 taken as the arm's position became a stop's hold
    point."""
    values = np.array(values, dtype=np.float64)
    values[~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)] = np.nan
    return values


# the most of a message's text a log line or /diagnostics value repeats (an image encoding of
# a megabyte, a joint name list of thousands: a review's 631 KB log line)
MAX_TEXT = 1000


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters with an ellipsis saying how many went."""
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... ({len(text) - limit} more characters)'
