"""A log line that may come every frame, said the first time and then at most once a period.

A sampler that keeps failing (a sticky CUDA error, out of memory at every try) fails again at
each new observation: one error line per camera frame is 288,000 lines in 8 hours at 10 Hz.
Each later report says how many it stands for. Steady time: a stalled sim clock must not
silence it or let it flood.
"""
from __future__ import annotations


class RepeatedMessage:
    """First occurrence said at once; later ones at most once per period_ns, with the count."""

    def __init__(self, period_ns: int = 10_000_000_000) -> None:
        """period_ns: the least time between two lines (10 s)."""
        self.period_ns = int(period_ns)
        self.total = 0  # occurrences in all
        self._unsaid = 0  # occurrences since the last line
        self._said_ns: int | None = None

    def add(self, text: str, now_ns: int) -> str | None:
        """One occurrence at steady time now_ns: the line to log now, or None (counted)."""
        self.total += 1
        if self._said_ns is not None and now_ns - self._said_ns < self.period_ns:
            self._unsaid += 1
            return None
        if self._said_ns is not None and self._unsaid:
            text = (f'{text} (and {self._unsaid} more since the last report '
                    f'{(now_ns - self._said_ns) / 1e9:.0f} s ago; {self.total} in all)')
        self._said_ns, self._unsaid = now_ns, 0
        return text
