"""A /clock message rclpy cannot take is skipped and counted, not the end of a node.

Under use_sim_time, rclpy's TimeSource subscribes to /clock with its own clock_callback,
which converts each message with Time.from_msg: a message of negative seconds raises
ValueError there ('seconds value must not be negative'), out of the executor's spin_once,
and ended the policy node with a traceback (a fuzz review; rclcpp refuses such a time too).
install() wraps that callback before any node subscribes (TimeSource binds it when it
subscribes): such a message is skipped, the node's clock keeps its previous time (a stopped
clock: the node's stale-input stop then applies), and it is logged once and counted
(skipped_clock_messages, per process: run_node runs one node in each;
`clock_messages_skipped` on the policy node's /diagnostics).
"""
from __future__ import annotations

import threading
from typing import Any

from rclpy.time_source import TimeSource

_lock = threading.Lock()
_skipped = 0
_GUARD = '_dp_ros_clock_guard'


def skipped_clock_messages() -> int:
    """/clock messages skipped in this process since it started."""
    with _lock:
        return _skipped


def install() -> None:
    """Guard TimeSource.clock_callback (once per process; a second call does nothing)."""
    original = TimeSource.clock_callback
    if getattr(original, _GUARD, False):
        return

    def clock_callback(self: TimeSource, msg: Any) -> None:
        global _skipped
        try:
            original(self, msg)
        except ValueError as exc:
            with _lock:
                _skipped += 1
                first = _skipped == 1
            node = self._get_node()
            if first and node is not None:
                node.get_logger().error(
                    f'/clock message skipped: {exc} (sec {msg.clock.sec}, nanosec '
                    f'{msg.clock.nanosec}); the node clock keeps its time (logged once; '
                    'clock_messages_skipped on /diagnostics)')

    setattr(clock_callback, _GUARD, True)
    TimeSource.clock_callback = clock_callback
