"""When the arm sim's sensors fire inside a 0.1 s control step, without ROS.

The arm env integrates ten 100 Hz substeps per control step; the future arm sim node publishes
a JointState after every substep (100 Hz) and a camera frame at 30 Hz. A 30 Hz period (33.3 ms)
is not a multiple of the 10 ms substep, so a frame is taken at the first substep at or after
its due time (at most 10 ms late, never early) and the due times advance by the exact period
from the episode start: 30 frames per second, no drift, intervals of 30 or 40 ms.
Times are integer nanoseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SUBSTEP_NS = 10_000_000  # 100 Hz physics


@dataclass
class CameraSchedule:
    """Due times start + n * period; `due(t)` says whether the substep at t takes a frame."""

    rate_hz: float = 30.0
    start_ns: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):  # inf: every due time t0
            raise ValueError(f'camera rate must be a finite number > 0 Hz, got {self.rate_hz}')
        self._n = 0

    def reset(self, start_ns: int) -> None:
        self.start_ns = int(start_ns)
        self._n = 0

    def next_due_ns(self) -> int:
        return self.start_ns + int(round(self._n * 1e9 / self.rate_hz))

    def due(self, t_ns: int) -> bool:
        """True (once) when a frame falls due at or before t_ns; skips frames missed entirely."""
        if int(t_ns) < self.next_due_ns():
            return False
        # straight to a frame a period before t (an epoch stamp against start 0 was 5e10
        # steps of one frame), then on one at a time as before
        self._n = max(self._n, int((int(t_ns) - self.start_ns) * self.rate_hz / 1e9) - 1)
        while self.next_due_ns() <= int(t_ns):
            self._n += 1
        return True


def substep_stamps(step_start_ns: int, substeps: int = 10) -> np.ndarray:
    """Stamps of the states after substeps 1..substeps of a step starting at step_start_ns."""
    return int(step_start_ns) + SUBSTEP_NS * np.arange(1, substeps + 1, dtype=np.int64)
