"""The one alignment rule (dp_ros/runtime/alignment.py), as the node and bag2zarr use it.

Streams at 30/15/60 Hz on a 10 Hz grid, stamps rounded 1 ns either way, jittered stamps:
bag2zarr's sampling (training/resample.py) picks exactly the sample the policy node's
ObservationHistory picks for the same time.
"""
from __future__ import annotations

import numpy as np
import pytest
from support import DT_NS as DT
from support import MS, node_observation_indices

from dp_ros.runtime.alignment import SAME_INSTANT_NS, index_at_or_before, sample_at_or_before
from dp_ros.runtime.observation_history import ObservationHistory
from training.resample import grid_start, make_grid, sample_indices

T0 = 1_700_000_000 * 10**9  # an epoch time: what real stamps look like


def instants(rate_hz: int, seconds: float, rounding: int) -> np.ndarray:
    """Integer-ns stamps of t0 + i/rate: the fraction floored (rounding -1, then 1 ns less),
    exact-or-ceiled (+1, then 1 ns more) or floored (0)."""
    i = np.arange(int(round(seconds * rate_hz)), dtype=np.int64)
    whole, frac = divmod(i * 10**9, rate_hz)
    base = T0 + whole + ((frac > 0) & (rounding > 0))
    return base + rounding


def test_lists_and_arrays_follow_the_same_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        stamps = np.sort(rng.choice(10**6, size=int(rng.integers(0, 40)), replace=False))
        times = rng.integers(-5 * SAME_INSTANT_NS, 10**6 + 5 * SAME_INSTANT_NS, 30)
        via_array = index_at_or_before(stamps.astype(np.int64), times)
        via_list = index_at_or_before(stamps.tolist(), times.tolist())
        assert via_array.tolist() == via_list.tolist()
        brute = [max([i for i, s in enumerate(stamps) if s <= t + SAME_INSTANT_NS],
                     default=-1) for t in times]
        assert via_list.tolist() == brute


def test_a_stamp_within_one_microsecond_after_is_at_the_time():
    stamps = [0, 100 * MS + SAME_INSTANT_NS, 200 * MS + SAME_INSTANT_NS + 1]
    assert index_at_or_before(stamps, [100 * MS, 200 * MS]).tolist() == [1, 1]
    times = np.array([-2 * SAME_INSTANT_NS, 100 * MS, 300 * MS])
    index, valid = sample_at_or_before(np.array(stamps), times, 50 * MS)
    assert valid.tolist() == [False, True, False] and index[1] == 1
    # the node's history: the same
    h = ObservationHistory(['a', 'b'], 2, DT, 300 * MS)
    for t, v in ((0, 'a0'), (100 * MS + SAME_INSTANT_NS, 'a1'),
                 (200 * MS + SAME_INSTANT_NS + 1, 'a2')):
        h.add('a', t, v)
    h.add('b', 100 * MS, 'b')
    h.add('b', 200 * MS, 'b')
    obs = h.assemble(200 * MS)
    assert obs.times_ns == [100 * MS, 200 * MS] and obs.values['a'] == ['a1', 'a1']


@pytest.mark.parametrize('rounding', [-1, 0, 1])
@pytest.mark.parametrize('rate_hz', [30, 15, 60])
def test_reference_rates_on_a_10_hz_grid(rate_hz, rounding):
    ref = instants(rate_hz, 3.0, rounding)
    joints = instants(100, 3.0, -rounding)  # rounded the other way
    start = grid_start(ref, DT)
    assert start == ref[0] == T0 + rounding  # the first frame, exactly
    grid = make_grid(start, int(ref[-1]), DT)
    assert len(grid) == 30
    # the true instants: frame i at i/rate s, grid time k at k/10 s; the frame standing for
    # k is the newest whose instant is at or before it (rate 15: every other grid time
    # takes a frame 33 ms old, as the node would)
    k = np.arange(len(grid))
    want = (k * rate_hz) // 10
    index, valid = sample_indices(ref, grid, 70 * MS)
    assert valid.all() and index.tolist() == want.tolist()
    index, valid = sample_indices(joints, grid, 20 * MS)
    assert valid.all() and index.tolist() == (10 * k).tolist()


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_bag2zarr_picks_what_the_node_picks_under_jitter(seed):
    rng = np.random.default_rng(seed)
    camera = instants(30, 3.0, 0) + rng.integers(-5 * MS, 5 * MS + 1, 90)
    joints = instants(100, 3.0, 0) + rng.integers(-3 * MS, 3 * MS + 1, 300)
    late = instants(15, 3.0, 1)[10:]  # a second camera that starts 0.67 s late
    streams = {'camera': np.sort(camera), 'joints': np.sort(joints), 'late': late}
    grid = make_grid(grid_start(streams['camera'], DT), int(camera.max()), DT)
    picks = {name: sample_indices(s, grid, 100 * MS) for name, s in streams.items()}
    both = np.logical_and.reduce([v for _, v in picks.values()])
    assert not both[:7].any() and both[8:].all()  # the late camera trims the start
    for k in range(8, len(grid)):
        node = node_observation_indices(streams, int(grid[k]))
        for name, (index, _) in picks.items():
            assert node[name] == [int(index[k - 1]), int(index[k])], (name, k)
