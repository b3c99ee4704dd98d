"""Review tests of sim_bridge/arm_sensors.py: due times rounded to the nearest ns (never a frame
before its due time) and the rates a camera schedule accepts."""
from __future__ import annotations

import math

import pytest

from sim_bridge.arm_sensors import SUBSTEP_NS, CameraSchedule


def test_a_due_time_a_fraction_of_a_ns_past_a_substep_waits_for_the_next_substep():
    """Period 10 ms + 0.6 ns: frame 1 is due at 10_000_001 ns (rounded), so the substep at
    10_000_000 ns is early and the frame is taken at 20 ms."""
    cam = CameraSchedule(rate_hz=1e9 / (SUBSTEP_NS + 0.6))
    cam.reset(0)
    assert cam.due(0)
    assert cam.next_due_ns() == SUBSTEP_NS + 1
    assert not cam.due(SUBSTEP_NS)
    assert cam.due(2 * SUBSTEP_NS)


def test_an_infinite_camera_rate_is_refused():
    """A rate must be a finite number > 0: inf would make every due time the start time."""
    with pytest.raises(ValueError, match='camera rate'):
        CameraSchedule(rate_hz=math.inf)
