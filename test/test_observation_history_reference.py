"""The observation anchored on the recorded reference stream (ObservationHistory(reference=)).

Pinned: `dp-ros bag2zarr` puts its control grid on the reference topic's stamps and samples
every other stream at or before each grid time; a policy whose data recorded that reference
(sources `reference: true`) assembles alike: at the reference's newest stamp, the others'
samples at or before it within their tolerance, falling back to an older reference stamp
where one is missing, rather than at the newest stamp every stream has (a slow stream's
fresh sample with the reference's older one: pairs training never saw). Without a reference
the rule stays min over the streams' newest stamps (every existing checkpoint, Push-T).
"""
from __future__ import annotations

import pytest

from dp_ros.runtime.observation_history import ObservationHistory, Refusal

MS = 1_000_000
DT = 100 * MS


def slow_state(reference: str | None, gap_ms: int = 150) -> ObservationHistory:
    """A 30 Hz camera 'image' and 10 Hz joints 'state' (stamped 50 ms into each 100 ms)."""
    h = ObservationHistory(['image', 'state'], 2, DT, 500 * MS, reference=reference,
                           gap_ns={'state': gap_ms * MS})
    for i in range(13):  # 0, 33, ..., 396 ms
        h.add('image', round(i * 100 / 3) * MS, f'img{i}')
    for t in (50, 150, 250, 350):
        h.add('state', t * MS, f'pos{t}')
    return h


def test_without_a_reference_t_last_is_the_newest_stamp_every_stream_has():
    """Unchanged rule: min over the newest stamps, the slow stream's 350 ms."""
    obs = slow_state(None).assemble(now_ns=400 * MS)
    assert obs.t_ns == 350 * MS
    assert obs.values == {'image': ['img7', 'img10'], 'state': ['pos250', 'pos350']}


def test_with_a_reference_t_last_is_its_newest_stamp_others_at_or_before():
    """The camera as reference: its fresh 400 ms frame with the joints' 350 ms sample (50 ms
    old, within 150 ms), as bag2zarr paired them on a grid on the camera's stamps."""
    h = slow_state('image')
    assert h.t_last() == 400 * MS
    obs = h.assemble(now_ns=400 * MS)
    assert obs.t_ns == 400 * MS and obs.times_ns == [300 * MS, 400 * MS]
    assert obs.values == {'image': ['img9', 'img12'], 'state': ['pos250', 'pos350']}


def test_the_slowest_stream_as_reference_gives_the_same_as_min():
    """The reference being the slowest input, both rules pick its newest stamp."""
    assert slow_state('state').t_last() == slow_state(None).t_last() == 350 * MS


def test_falls_back_to_the_newest_reference_stamp_the_others_cover():
    """The joints' newest sample is older than their tolerance (30 ms) at the camera's newest
    frames: t_last is the newest camera stamp it covers (367 ms: 17 ms after 350)."""
    h = slow_state('image', gap_ms=30)
    assert h.t_last() == 367 * MS
    obs = h.assemble(now_ns=400 * MS)
    assert obs.t_ns == 367 * MS and obs.stamps_ns['state'][-1] == 350 * MS


def test_no_reference_stamp_covered_is_refused_with_the_stream_at_fault():
    """No camera stamp has a joint sample within 5 ms at or before it: no observation (and
    t_last None: the planning loop counts the inputs stale), the refusal names the joints."""
    h = ObservationHistory(['image', 'state'], 1, DT, 500 * MS, reference='image',
                           gap_ns={'state': 5 * MS})
    h.add('state', 10 * MS, 'pos')
    h.add('image', 50 * MS, 'img')
    h.add('image', 80 * MS, 'img')
    assert h.t_last() is None
    refusal = h.assemble(now_ns=90 * MS)
    assert isinstance(refusal, Refusal) and refusal.kind == 'gap'
    assert 'state' in refusal.message and 'image' in refusal.message


def test_an_empty_stream_is_still_empty():
    h = ObservationHistory(['image', 'state'], 1, DT, 500 * MS, reference='image')
    h.add('image', 10 * MS, 'img')
    assert h.t_last() is None and h.assemble(now_ns=20 * MS).kind == 'empty'


def test_a_reference_among_no_stream_is_refused():
    with pytest.raises(ValueError, match="reference 'cam' is not one of the streams"):
        ObservationHistory(['image', 'state'], 1, DT, 500 * MS, reference='cam')
