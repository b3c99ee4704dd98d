"""The recent rise of the policy node's problem counters, for its /diagnostics status.

The status is WARN while a problem count (a bad or late message, a failed sample, a skipped
target) rose lately, as diagnostic_updater's statuses describe the recent past, not for the
rest of the node's life after one glitch; the key-values keep the cumulative counts.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

# The /diagnostics counters whose rise is a problem (planning_loop.problems): a bad or late
# message, a failed sample, a skipped target. The status is WARN while one rose within the
# last RECENT_PROBLEMS_S (or diagnostics period, if longer), then OK again; the key-values keep
# the cumulative counts.
PROBLEM_COUNTERS = ('bad_messages', 'inputs_older', 'sampling_errors', 'pose_targets_skipped',
                    'chunks_no_reference', 'chunks_all_late', 'twists_unmeasured',
                    'state_far_outside_training')
RECENT_PROBLEMS_S = 5.0


class RecentCounts:
    """The rise of cumulative counters within a sliding window, for a status of the recent
    past as diagnostic_updater's are: derived from the cumulative counts, one dropped or bad
    message would leave /diagnostics WARN for ever and hide the next problem. A count that
    went down (a counter started anew) counts from 0."""

    def __init__(self, names: Sequence[str], window_ns: int):
        self.names = tuple(names)
        self.window_ns = int(window_ns)
        self._last = dict.fromkeys(self.names, 0)
        self._rises: deque[tuple[int, dict[str, int]]] = deque()  # (wall ns, rise since prev)

    def recent(self, values: Mapping[str, Any], wall_ns: int) -> dict[str, Any]:
        """`values` with each counter replaced by its rise over the window ending at `wall_ns`
        (a monotonic clock). The rise since the previous call is dated `wall_ns`, so every
        rise shows in at least one result however long the calls are apart."""
        rise = {}
        for name in self.names:
            count = int(values.get(name) or 0)
            last = self._last[name]
            rise[name] = count - last if count >= last else count
            self._last[name] = count
        self._rises.append((wall_ns, rise))
        while len(self._rises) > 1 and self._rises[0][0] <= wall_ns - self.window_ns:
            self._rises.popleft()
        recent = dict(values)
        for name in self.names:
            if name in values:
                recent[name] = sum(r[name] for _, r in self._rises)
        return recent
