"""Edges of RepeatedMessage (dp_ros/runtime/repeated_message.py): its default period is
10 s."""
from __future__ import annotations

from dp_ros.runtime.repeated_message import RepeatedMessage

S = 1_000_000_000


def test_the_default_period_is_ten_seconds():
    msg = RepeatedMessage()
    assert msg.period_ns == 10 * S
    assert msg.add('x', 0) == 'x'
    assert msg.add('x', 9 * S) is None
    assert msg.add('x', 10 * S) == 'x (and 1 more since the last report 10 s ago; 3 in all)'
