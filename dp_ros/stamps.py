"""Time as integer nanoseconds, the unit of every stamp in dp_ros.

Float seconds drift after a few hours of stamps; nanoseconds do not. One definition for the
ROS adapters, the runtime and the sim, so that 0.1 s is the same 100_000_000 ns everywhere.
"""
from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_to_ns(t: Any) -> int:
    """A builtin_interfaces Time or Duration in ns: duck-typed (.sec, .nanosec), so that an
    rclpy message and a bag's decoded one (rosbags, no ROS install) read alike."""
    return int(t.sec) * NS_PER_S + int(t.nanosec)


def seconds_to_ns(seconds: float) -> int:
    """Rounds to the nearest nanosecond, so 0.1 s is exactly 100_000_000 ns."""
    return int(round(float(seconds) * NS_PER_S))


def ns_to_seconds(ns: int) -> float:
    return ns / NS_PER_S
