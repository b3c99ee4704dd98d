"""Edges of the seconds/nanoseconds conversions every period and stamp goes through."""
from __future__ import annotations

from dp_ros.stamps import ns_to_seconds, seconds_to_ns


def test_seconds_round_to_the_nearest_nanosecond_and_back_keep_the_fraction():
    """seconds_to_ns rounds (2.07 ms is 2069999.99 ns as a float); ns_to_seconds keeps fractions."""
    assert seconds_to_ns(0.00207) == 2_070_000
    assert seconds_to_ns(0.00013) == 130_000
    assert ns_to_seconds(100_000_000) == 0.1 and ns_to_seconds(1_500_000_000) == 1.5
