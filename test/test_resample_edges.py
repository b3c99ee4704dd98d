"""Edges of resampling the tests of test_resample.py leave open: boundaries that are exactly
at a limit, a marker with late or slightly early messages around it, drop counts."""
from __future__ import annotations

import numpy as np
import pytest
from support import DT_NS as DT
from support import MS

from training.resample import cut_episodes, rate_stats, recv_to_stamp_boundaries, sample_indices

HALF = DT // 2  # the margin bag2zarr gives recv_to_stamp_boundaries: half a period
# a lockstep recording as in test_resample: sim stamps 0..4 (episode 1) then 6..8, the sim
# clock standing still between the episodes; the marker received long after step 4
STAMPS = np.array([0, 1, 2, 3, 4, 6, 7, 8]) * DT
RECV = 10**18 + np.array([0, 1, 2, 3, 4, 60, 61, 62]) * DT
MARKER = np.array([RECV[4] + 30 * DT])


def test_a_piece_of_exactly_min_steps_is_kept():
    """min_steps is the shortest piece kept: one of exactly that length is data, not dropped."""
    valid = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1], dtype=bool)
    cut = cut_episodes(valid, 'split', min_steps=3)
    assert cut.ranges == [(0, 3), (7, 11)]
    assert cut.dropped_steps == 2 and cut.reason == '1 piece(s) shorter than 3 steps'
    assert cut_episodes(valid, 'split').ranges == [(0, 3), (4, 6), (7, 11)]  # default: 1


def test_a_late_frame_stays_when_another_stream_stamps_a_little_earlier():
    """The boundary needs a stamp newer than all seen by the margin: a late last frame stays."""
    late = RECV.copy()
    late[4] = RECV[5] + 1 * MS  # step 4's frame arrives after the marker
    # the joint states come in time, stamped 2 ms before the frames: the newest stamp seen
    # before the marker is 2 ms older than the late frame's
    joints_recv, joints_stamps = RECV[:5] + 2 * MS, STAMPS[:5] - 2 * MS
    boundary = recv_to_stamp_boundaries(MARKER, late, STAMPS,
                                        np.concatenate([late, joints_recv]),
                                        np.concatenate([STAMPS, joints_stamps]), HALF)
    assert boundary.tolist() == [6 * DT]  # not 4 * DT: step 4 stays in episode 1


def test_one_late_frame_after_the_marker_is_no_clock_restart():
    """A restart needs the median of the next stamps to go back, not one late frame's stamp."""
    late = RECV.copy()
    late[3] = MARKER[0] + 1 * MS  # step 3's frame comes after step 4's, and after the marker
    boundary = recv_to_stamp_boundaries(MARKER, late, STAMPS, late, STAMPS, HALF)
    assert boundary is not None and boundary.tolist() == [6 * DT]


def test_nearest_accepts_a_message_exactly_at_the_tolerance():
    """The tolerance is inclusive for 'nearest' as for the node's rule: no gap at the limit."""
    times = np.array([0, 130]) * MS
    grid = np.array([0, 100]) * MS
    index, valid = sample_indices(times, grid, 30 * MS, 'nearest')
    assert valid.tolist() == [True, True] and index.tolist() == [0, 1]
    index, valid = sample_indices(np.array([0, 70]) * MS, grid, 30 * MS)
    assert valid.tolist() == [True, True] and index.tolist() == [0, 1]


def test_drops_round_a_jittered_gap_to_the_nearest_count():
    """A gap of 2.7 periods lost two messages (at 300 and 400 ms), not one."""
    stats = rate_stats(np.array([0, 100, 200, 470, 570]) * MS)
    assert stats.drops == 2 and stats.rate_hz == pytest.approx(10.0)


def test_rate_of_a_stream_with_each_stamp_twice():
    """Repeated stamps (a driver publishing each state twice) are no period of 0."""
    times = np.repeat(np.array([0, 1, 2, 3, 5]) * DT, 2)
    stats = rate_stats(times)
    assert stats.count == 10 and stats.rate_hz == pytest.approx(10.0)
    assert stats.drops == 1 and stats.max_gap_s == pytest.approx(0.2)
