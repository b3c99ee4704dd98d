"""How far a stream's stamp clock sits from the receive clock is measured once
(training.resample.stamp_offset_ns, the signed median of stamp - receive time) and used alike
by bag2zarr's placement of unstamped streams (on_receive_clock), its clock notes and `dp-ros
inspect`: the three once took a median of |offset| in one place and |median| in the others,
and could disagree on one stream."""
from __future__ import annotations

import numpy as np

from training.resample import OTHER_CLOCK_S, on_receive_clock, stamp_offset_ns

NS = 10**9


def test_the_offset_is_the_signed_median():
    recv = np.arange(5, dtype=np.int64) * NS // 10 + 1_700_000_000 * NS
    assert stamp_offset_ns(recv, recv - 3 * NS) == -3 * NS
    late = recv - np.array([5, 5, 5, 900, 900]) * 10**6  # two messages held up 0.9 s
    assert stamp_offset_ns(recv, late) == -5 * 10**6
    assert stamp_offset_ns(recv[:0], recv[:0]) == 0


def test_on_receive_clock_agrees_with_the_offset():
    """Offsets either side of 0 by more than OTHER_CLOCK_S (a median of |offset| says 'another
    clock'), centred on 0.1 s: the stamps sit on the receive clock by the one measure."""
    recv = np.arange(5, dtype=np.int64) * NS + 1_700_000_000 * NS
    stamps = recv + np.array([-2 * NS, -2 * NS, NS // 10, 2 * NS, 2 * NS])
    offset = stamp_offset_ns(recv, stamps)
    assert offset == NS // 10
    assert on_receive_clock(recv, stamps) == (abs(offset) <= OTHER_CLOCK_S * NS) is True
    assert on_receive_clock(recv[:0], stamps[:0])
