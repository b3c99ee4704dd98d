"""A failure that repeats every frame is logged the first time, then once per period with
how many lines it stands for."""
from __future__ import annotations

from dp_ros.runtime.repeated_message import RepeatedMessage

S = 1_000_000_000


def test_the_first_is_said_then_one_line_per_period_with_the_count():
    msg = RepeatedMessage(period_ns=10 * S)
    said = [(t, line) for t in range(0, 35 * S, S // 10)  # a failure per 10 Hz frame, 35 s
            if (line := msg.add('sampling failed: boom', t)) is not None]
    assert [t for t, _ in said] == [0, 10 * S, 20 * S, 30 * S]
    assert said[0][1] == 'sampling failed: boom'
    assert said[1][1] == ('sampling failed: boom (and 99 more since the last report 10 s ago; '
                          '101 in all)')
    assert said[3][1].endswith('(and 99 more since the last report 10 s ago; 301 in all)')
    assert msg.total == 350


def test_a_failure_after_a_quiet_period_is_said_at_once_without_a_count():
    msg = RepeatedMessage(period_ns=10 * S)
    assert msg.add('a', 0) == 'a'
    assert msg.add('a', 60 * S) == 'a'  # nothing held back in between
    assert msg.add('a', 61 * S) is None
    assert msg.add('a', 75 * S) == 'a (and 1 more since the last report 15 s ago; 4 in all)'
