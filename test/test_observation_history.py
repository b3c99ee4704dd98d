"""Observation assembly: the paper's alignment rule, padding at episode start, refusals."""
from __future__ import annotations

import pytest

from dp_ros.runtime.observation_history import ObservationHistory, Refusal

MS = 1_000_000
DT = 100 * MS


def history(n_obs=2, max_age=300 * MS, streams=('image', 'agent_pos'), **kw):
    return ObservationHistory(list(streams), n_obs, DT, max_age, **kw)


def test_newest_sample_at_or_before_each_time():
    h = history(n_obs=3)
    # a 30 Hz camera and a 100 Hz joint stream, stamps in ms
    for t in range(0, 400, 33):
        h.add('image', t * MS, f'img{t}')
    for t in range(0, 400, 10):
        h.add('agent_pos', t * MS, f'pos{t}')
    obs = h.assemble(now_ns=400 * MS)
    # t_last = the newest time every stream has: min(396 (camera), 390 (joints)) = 390 ms
    assert obs.t_ns == 390 * MS
    assert obs.times_ns == [190 * MS, 290 * MS, 390 * MS]
    assert obs.values['image'] == ['img165', 'img264', 'img363']
    assert obs.values['agent_pos'] == ['pos190', 'pos290', 'pos390']
    assert obs.stamps_ns['image'] == [165 * MS, 264 * MS, 363 * MS]


def test_exact_stamp_counts_as_at_or_before():
    h = history()
    for t in (0, 100, 200):
        h.add('image', t * MS, t)
        h.add('agent_pos', t * MS, t)
    obs = h.assemble(now_ns=200 * MS)
    assert obs.values == {'image': [100, 200], 'agent_pos': [100, 200]}


def test_not_full_without_episode_start_then_padding_with_it():
    h = history()
    h.add('image', 1000 * MS, 'a')
    h.add('agent_pos', 1000 * MS, 'p')
    refusal = h.assemble(now_ns=1000 * MS)
    assert isinstance(refusal, Refusal) and not refusal and refusal.kind == 'not_full'
    h.start_episode(1000 * MS)
    obs = h.assemble(now_ns=1000 * MS)
    # times before the episode take its first sample, as the in-process evaluation pads
    assert obs.values == {'image': ['a', 'a'], 'agent_pos': ['p', 'p']}


def test_episode_start_drops_older_samples_and_refuses_late_ones():
    h = history()
    for t in (0, 100, 200):
        h.add('image', t * MS, f'old{t}')
        h.add('agent_pos', t * MS, f'old{t}')
    h.add('image', 300 * MS, 'new300')  # the new episode's image came before the announcement
    h.start_episode(300 * MS)
    assert h.size('image') == 1 and h.size('agent_pos') == 0
    assert not h.add('agent_pos', 250 * MS, 'late old')  # before the episode start
    assert h.add('agent_pos', 300 * MS, 'new300')
    assert h.assemble(300 * MS).values == {'image': ['new300', 'new300'],
                                           'agent_pos': ['new300', 'new300']}


def test_stale_inputs_are_refused():
    h = history(max_age=150 * MS)
    for t in (0, 100):
        h.add('image', t * MS, t)
        h.add('agent_pos', t * MS, t)
    assert h.assemble(now_ns=250 * MS)
    refusal = h.assemble(now_ns=251 * MS)
    assert refusal.kind == 'stale' and '151.0 ms old' in refusal.message


def test_one_stale_stream_holds_t_last_back():
    h = history(max_age=150 * MS)
    for t in range(0, 1000, 100):
        h.add('image', t * MS, t)
    h.add('agent_pos', 0, 0)
    h.add('agent_pos', 100 * MS, 100)
    # the joints stopped at 100 ms: never combine the 900 ms image with them
    refusal = h.assemble(now_ns=900 * MS)
    assert refusal.kind == 'stale'


def test_gap_in_a_stream_is_refused():
    h = history(n_obs=2, max_age=150 * MS)
    for t in (0, 400):
        h.add('image', t * MS, t)
    for t in range(0, 500, 100):
        h.add('agent_pos', t * MS, t)
    # for 300 ms the newest image at or before is from 0 ms: 300 ms older than the time
    refusal = h.assemble(now_ns=400 * MS)
    assert refusal.kind == 'gap' and refusal.message.startswith('image')


def test_empty_and_out_of_order():
    h = history()
    assert h.assemble(0).kind == 'empty'
    assert h.add('image', 100 * MS, 1)
    assert not h.add('image', 100 * MS, 2)  # duplicate stamp (the sim re-sends)
    assert not h.add('image', 50 * MS, 3)  # older than the newest
    assert h.size('image') == 1


def test_old_samples_are_pruned():
    h = history(keep_ns=1000 * MS)
    for t in range(0, 5000, 10):
        h.add('image', t * MS, t)
    assert h.size('image') == 102  # 3980 (at or before 3990) .. 4990 ms
    h.clear()
    assert h.size('image') == 0 and h.episode_start_ns is None


def test_invalid_construction():
    with pytest.raises(ValueError, match='distinct'):
        ObservationHistory(['a', 'a'], 2, DT, DT)
    with pytest.raises(ValueError, match='n_obs_steps'):
        ObservationHistory(['a'], 0, DT, DT)
    with pytest.raises(ValueError, match='keep_ns'):
        ObservationHistory(['a'], 2, DT, DT, keep_ns=DT)


def test_a_stream_gap_limit_is_the_tolerance_its_training_data_was_sampled_with():
    """Defect: the node took a camera frame up to max_input_age_s (0.5 s) old where bag2zarr,
    at its 40 ms tolerance, had called it a gap and kept it out of the training data."""
    h = history(n_obs=2, max_age=500 * MS, gap_ns={'image': 40 * MS})
    for t in (0, 30, 60, 95, 350, 380):  # the camera drops frames for 250 ms
        h.add('image', t * MS, t)
    for t in range(0, 400, 10):
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=380 * MS)  # at 280 ms the newest frame is from 95 ms
    assert refusal.kind == 'gap' and refusal.message.startswith('image')
    assert 'limit 40.0 ms: the tolerance its training data was sampled with' in refusal.message
    assert history(n_obs=2, max_age=500 * MS, gap_ns={'image': 900 * MS}).gap_ns == {
        'image': 500 * MS, 'agent_pos': 500 * MS}  # never above max_input_age_s
