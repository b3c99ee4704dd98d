"""Edges of observation assembly the main tests leave open: the gap limit at equality, a time
exactly at the episode start, the sample cap, and bad settings."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.alignment import sample_at_or_before
from dp_ros.runtime.observation_history import ObservationHistory

MS = 1_000_000
DT = 100 * MS


def history(n_obs=2, max_age=300 * MS, streams=('image', 'agent_pos'), **kw):
    return ObservationHistory(list(streams), n_obs, DT, max_age, **kw)


def test_a_sample_exactly_the_gap_limit_old_is_used_as_bag2zarr_uses_it():
    """A sample exactly the gap limit old is used, as bag2zarr's <= uses it for training data."""
    h = history(n_obs=2, max_age=500 * MS, gap_ns={'image': 40 * MS})
    for t in (60, 200):
        h.add('image', t * MS, t)
    for t in range(0, 210, 10):
        h.add('agent_pos', t * MS, t)
    obs = h.assemble(now_ns=200 * MS)  # at 100 ms the newest image is 40 ms old: the limit
    assert obs and obs.values['image'] == [60, 200]
    _, valid = sample_at_or_before(np.array([60 * MS]), np.array([100 * MS]), 40 * MS)
    assert valid.tolist() == [True]


def test_a_time_at_the_episode_start_without_a_sample_there_is_not_full():
    """Only times before the episode start are padded; a later sample never stands for it."""
    h = history(n_obs=2)
    h.start_episode(950 * MS)
    h.add('image', 1050 * MS, 'img')
    h.add('agent_pos', 1050 * MS, 'pos')
    refusal = h.assemble(now_ns=1050 * MS)  # times 950 and 1050 ms
    assert refusal.kind == 'not_full'
    h = history(n_obs=2)
    h.start_episode(1000 * MS)
    h.add('image', 1050 * MS, 'img')
    h.add('agent_pos', 1050 * MS, 'pos')
    assert h.assemble(now_ns=1050 * MS).values['image'] == ['img', 'img']  # 950: padded


def test_a_stream_keeps_at_most_max_samples():
    """max_samples bounds a fast stream's memory whatever keep_ns allows; the newest stay,
    back to the one at or before the oldest time an observation may need."""
    h = history(keep_ns=10_000 * MS, max_samples=5)
    for t in range(20):
        h.add('image', t * 100 * MS, t)
    assert h.size('image') == 6  # 1500..1900 ms (the 400 ms an observation spans) and 1400
    assert h.newest_stamp('image') == 1900 * MS


def test_the_cap_never_drops_samples_an_observation_needs():
    """A 1 kHz joint-state stream under an observation spanning 2.4 s (3 steps at 1 Hz, 0.4 s
    age limit) kept its newest 2000 samples, 2 s: the observation was never full."""
    h = ObservationHistory(['image', 'agent_pos'], 3, 1000 * MS, 400 * MS)
    assert h.max_samples == 2000
    for t in range(0, 4001):  # 4 s of joint states at 1 kHz
        h.add('agent_pos', t * MS, t)
    for t in range(0, 4001, 100):
        h.add('image', t * MS, t)
    obs = h.assemble(now_ns=4000 * MS)
    assert obs and obs.values['agent_pos'] == [2000, 3000, 4000]
    assert 2400 <= h.size('agent_pos') <= 2401 + 1  # the needed span, no more


def test_keep_equal_to_the_needed_span_is_enough_and_bad_periods_are_refused():
    """keep_ns may equal the needed span; a zero period or age limit is refused."""
    assert history(n_obs=2, max_age=300 * MS, keep_ns=400 * MS).keep_ns == 400 * MS
    with pytest.raises(ValueError, match='dt_ns'):
        ObservationHistory(['a'], 2, 0, DT)
    with pytest.raises(ValueError, match='max_age_ns'):
        ObservationHistory(['a'], 2, DT, 0)


def test_a_time_before_the_episode_pads_with_the_first_times_sample_as_training_does():
    """Training pads the times before an episode with its step 0; the node took each stream's
    first sample instead: for a 500 Hz state, the one 2 ms after the start where step 0 (the
    first camera frame, 60 ms on) had the one at 60 ms (a randomized review of the two)."""
    h = ObservationHistory(['img', 'state'], 2, DT, 500 * MS, reference='img',
                           gap_ns={'img': 50 * MS, 'state': 50 * MS})
    h.start_episode(1000 * MS)
    for t in range(1002, 1062, 2):
        h.add('state', t * MS, t)
    h.add('img', 1060 * MS, 'frame')
    obs = h.assemble(now_ns=1065 * MS)
    assert obs.times_ns == [960 * MS, 1060 * MS]
    assert obs.values['state'] == [1060, 1060] and obs.values['img'] == ['frame', 'frame']
