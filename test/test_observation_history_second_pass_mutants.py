"""dp_ros/runtime/observation_history.py and dp_ros/runtime/alignment.py where a second
mutation review found changes no other test noticed: a gap tolerance of 0 (only samples at
the time) accepted, the age limit a stale refusal names, the oldest sample a not_full refusal
names, a reference stamp no other stream can cover never searched, and the 1 us same-instant
allowance exact at epoch-scale stamps (integer arithmetic, not float64).

Two defects it found are tested at the end, mended: eviction kept each stream's samples
back to its newest minus the span an observation needs, but the sample at or before the
observation's oldest time can be older than that (up to the tolerance), so near the age
limit it was gone (the max_samples cap paired a later sample; keep_ns at its minimum
refused the observation as not full). Each cut keeps the one sample before its edge now.

Real ObservationHistory and alignment functions throughout; no ROS process is started.
"""
from __future__ import annotations

import numpy as np
import pytest
from support import MS
from test_observation_history_t_last_search import count_searches, full_search
from test_observation_history_t_last_search import history as reference_history

from dp_ros.runtime.alignment import SAME_INSTANT_NS, index_at_or_before, sample_at_or_before
from dp_ros.runtime.observation_history import ObservationHistory, Refusal

DT = 100 * MS


def two_streams(n_obs: int = 2, max_age: int = 300 * MS, **kw) -> ObservationHistory:
    return ObservationHistory(['image', 'agent_pos'], n_obs, DT, max_age, **kw)


def test_a_zero_gap_tolerance_is_accepted_and_takes_only_samples_at_the_time():
    """gap_ns 0 is legal ('>= 0'): a lockstep stream whose training data was sampled at the
    exact grid times; its sample at the time is used, one 1 ms older is a gap."""
    h = two_streams(gap_ns={'image': 0})
    assert h.gap_ns['image'] == 0
    for t in (0, 100, 200):
        h.add('image', t * MS, f'img{t}')
        h.add('agent_pos', t * MS, f'pos{t}')
    obs = h.assemble(now_ns=200 * MS)
    assert obs and obs.values['image'] == ['img100', 'img200']
    h = two_streams(gap_ns={'image': 0})
    for t in (0, 99, 200):
        h.add('image', t * MS, t)
    for t in (0, 100, 200):
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=200 * MS)  # at 100 ms the newest image is 1 ms old
    assert isinstance(refusal, Refusal) and refusal.kind == 'gap'
    assert refusal.message.startswith('image: newest sample at or before 100000000 ns')


def test_a_stale_refusal_names_the_age_limit_not_a_streams_gap_tolerance():
    """'stale' compares t_last's age with max_age_ns, and says that limit (150 ms), not the
    40 ms tolerance of the first stream."""
    h = two_streams(max_age=150 * MS, gap_ns={'image': 40 * MS})
    for t in (0, 100):
        h.add('image', t * MS, t)
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=300 * MS)
    assert refusal.kind == 'stale'
    assert refusal.message == ('newest complete observation is 200.0 ms old '
                               '(limit 150.0 ms)')


def test_an_observation_one_ns_past_the_age_limit_is_stale():
    """The age limit is inclusive to the nanosecond: t_last exactly max_age_ns old
    assembles, 1 ns older is 'stale' (no slack added to the age)."""
    h = two_streams(max_age=150 * MS)
    for t in (0, 100):
        h.add('image', t * MS, t)
        h.add('agent_pos', t * MS, t)
    assert h.assemble(now_ns=250 * MS)
    assert h.assemble(now_ns=250 * MS + 1).kind == 'stale'


@pytest.mark.parametrize('as_list', [False, True])
def test_a_sample_one_ns_older_than_the_tolerance_is_a_gap(as_list: bool):
    """The tolerance gets no same-instant allowance of its own: exactly max_age_ns old is
    valid, 1 ns older is not (bag2zarr and the node alike); in the history too."""
    for stamp, want in ((60 * MS, True), (60 * MS - 1, False)):
        stamps = [stamp, 300 * MS]
        stamps = stamps if as_list else np.array(stamps, dtype=np.int64)
        assert sample_at_or_before(stamps, [100 * MS], 40 * MS)[1].tolist() == [want]
    h = two_streams(max_age=500 * MS, gap_ns={'image': 40 * MS})
    for t in (60 * MS - 1, 200 * MS):
        h.add('image', t, t)
    for t in range(0, 210, 10):
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=200 * MS)
    assert isinstance(refusal, Refusal) and refusal.kind == 'gap'


def test_by_default_a_stream_keeps_twice_the_span_an_observation_needs():
    """Without keep_ns, samples are kept 2 * ((n_obs_steps-1)*dt + max_age) behind the
    stream's newest (800 ms here) and the one sample before: a slow stream's memory stays
    bounded."""
    h = two_streams()
    assert h.keep_ns == 2 * h.needed_ns == 800 * MS
    for t in range(0, 5000, 10):
        h.add('image', t * MS, t)
    assert h.size('image') == 82 and h.oldest_stamp('image') == 4180 * MS


def test_a_not_full_refusal_names_the_streams_oldest_sample():
    """Three steps over two samples and no episode start: the oldest time (900 ms) has no
    image at or before it; the refusal names that time and the oldest image kept (1000 ms),
    not the newest."""
    h = two_streams(n_obs=3)
    for t in (1000, 1100):
        h.add('image', t * MS, t)
        h.add('agent_pos', t * MS, t)
    refusal = h.assemble(now_ns=1100 * MS)
    assert refusal.kind == 'not_full'
    assert refusal.message == 'image: no sample at or before 900000000 ns (oldest 1000000000 ns)'


def test_a_reference_stamp_beyond_the_others_tolerance_is_not_searched(monkeypatch):
    """t_last searches reference stamps only up to every other stream's newest sample plus
    its tolerance (a stamp after that has nothing within the tolerance at or before it);
    the jitter allowance does not widen that reach: only a sample after a time stands in,
    and there is none after a stream's newest."""
    h = reference_history(keep_ns=3000 * MS)  # cam reference; js, js2 within 20 ms
    for i in range(1000):
        h.add('js', i * MS, i)
        h.add('js2', i * MS, i)
        if i % 33 == 0:
            h.add('cam', i * MS, i)
    assert h.t_last() == full_search(h) == 990 * MS
    searched = count_searches(monkeypatch)
    # 999 + 20 = 1019 ms is the reach; 1025 ms is within it plus the 10 ms jitter allowance
    h.add('cam', 1025 * MS, 'late')
    assert h.t_last() == 990 * MS
    assert searched == []
    h.add('cam', 1026 * MS, 'later')  # within the reach once js moves on: searched, covered
    h.add('js', 1010 * MS, 1010)
    h.add('js2', 1010 * MS, 1010)
    assert h.t_last() == 1026 * MS and sum(searched) == 2 * 2


@pytest.mark.parametrize('as_list', [False, True])
@pytest.mark.parametrize('t', [1_700_000_000_123_456_700, 1_700_000_000_123_456_900])
def test_the_same_instant_allowance_is_exact_at_epoch_stamps(t: int, as_list: bool):
    """Epoch nanoseconds (1.7e18) are past float64's 2^53: t + 1000 ns is computed in int64,
    so a stamp exactly 1 us after counts as at t and one 1 ns later does not (in float64 the
    first t rounds 92 ns up, the second 108 ns down)."""
    for late_by, want in ((SAME_INSTANT_NS, 1), (SAME_INSTANT_NS + 1, 0)):
        stamps = [t - 50 * MS, t + late_by]
        stamps = stamps if as_list else np.array(stamps, dtype=np.int64)
        assert index_at_or_before(stamps, [t]).tolist() == [want], late_by


def cap_at_the_age_limit(max_samples: int) -> object:
    """A 1.43 kHz joint stream (0.7 ms period, over max_samples in keep_ns) and a camera
    lagging it by exactly max_age: the observation's oldest time is the joints' newest stamp
    minus the needed span, and no joint sample is stamped exactly there."""
    h = ObservationHistory(['image', 'js'], 3, 1000 * MS, 400 * MS, max_samples=max_samples)
    js = [k * 700_000 for k in range(6001)]
    for k, stamp in enumerate(js):
        h.add('js', stamp, k)
    now = js[-1]
    for i in range(39, -1, -1):
        h.add('image', now - 400 * MS - i * DT, i)
    return h.assemble(now_ns=now)


def test_the_cap_keeps_the_sample_at_or_before_the_oldest_time_at_the_age_limit():
    """The capped history pairs the same joint samples as an uncapped one (the at-or-before
    rule training data was sampled with), also when the observation is exactly max_age old."""
    uncapped = cap_at_the_age_limit(10**7)
    assert uncapped and uncapped.values['js'] == [2571, 4000, 5428]  # at or before each
    capped = cap_at_the_age_limit(2000)
    assert capped and capped.values['js'] == uncapped.values['js']


def test_keep_equal_to_the_needed_span_keeps_what_an_observation_at_the_age_limit_needs():
    """An observation exactly max_age old (joints lagging the camera by 300 ms) assembles
    with keep_ns at the minimum the constructor accepts, as with the default keep_ns."""
    def lagging_joints(**kw) -> object:
        h = two_streams(**kw)
        cam = [i * 37 * MS for i in range(40)]
        for i, stamp in enumerate(cam):
            h.add('image', stamp, i)
        for stamp in (cam[-1] - 400 * MS, cam[-1] - 300 * MS):
            h.add('agent_pos', stamp, stamp)
        return h.assemble(now_ns=cam[-1])

    default = lagging_joints()
    assert default and default.stamps_ns['image'] == [1036 * MS, 1110 * MS]
    at_minimum = lagging_joints(keep_ns=400 * MS)
    assert at_minimum and at_minimum.stamps_ns['image'] == default.stamps_ns['image']
