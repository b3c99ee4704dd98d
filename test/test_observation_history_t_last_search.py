"""t_last with a reference stream searches only the reference's stamps newer than the last
one found covered (it stays covered while its samples are kept), up to where every stream's
newest sample reaches: before, each call rebuilt arrays over the whole history whenever the
newest reference stamp was uncovered (~300 us a call at 2000 samples, on every poll and
filed message). Pinned: the answer equals the full search's, through evictions, episode
starts and clears; and a stream gone silent does not make each call search the history."""
from __future__ import annotations

import random

import numpy as np

import dp_ros.runtime.observation_history as oh
from dp_ros.runtime.alignment import sample_at_or_before
from dp_ros.runtime.observation_history import ObservationHistory

MS = 1_000_000


def full_search(h: ObservationHistory) -> int | None:
    """t_last as the whole history gives it: the newest covered reference stamp."""
    if any(h.newest_stamp(n) is None for n in h.streams):
        return None
    times = np.asarray(h._data[h.reference].stamps, dtype=np.int64)
    covered = np.ones(len(times), dtype=bool)
    for name in h.streams:
        if name != h.reference:
            covered &= sample_at_or_before(np.asarray(h._data[name].stamps, dtype=np.int64),
                                           times, h.gap_ns[name], h.late_ns)[1]
    found = np.flatnonzero(covered)
    return int(times[found[-1]]) if found.size else None


def history(**kw) -> ObservationHistory:
    return ObservationHistory(['cam', 'js', 'js2'], 2, 100 * MS, 500 * MS,
                              reference='cam', gap_ns={'js': 20 * MS, 'js2': 20 * MS}, **kw)


def test_the_answer_is_the_full_searchs_through_gaps_evictions_and_restarts():
    rng = random.Random(3)
    h = history(keep_ns=600 * MS, max_samples=300)
    t = {'cam': 0, 'js': 0, 'js2': 0}
    for step in range(3000):
        name = rng.choice(['cam', 'js', 'js', 'js2'])
        # mostly regular, now and then a hole longer than the tolerance
        t[name] += rng.choice([5, 10, 33, 33, 60]) * MS
        h.add(name, t[name], step)
        if step == 1500:
            h.start_episode(max(t.values()) - 50 * MS)
        if step == 2200:
            h.clear()
            t = {k: v + 1000 * MS for k, v in t.items()}
        assert h.t_last() == full_search(h), step


def count_searches(monkeypatch) -> list[int]:
    """From now on, the number of times each of the history's searches looks up (appended
    per call of sample_at_or_before)."""
    searched: list[int] = []

    def counting(stamps, times, *args):
        searched.append(len(times))
        return sample_at_or_before(stamps, times, *args)

    monkeypatch.setattr(oh, 'sample_at_or_before', counting)
    return searched


def test_a_silent_stream_does_not_make_every_call_search_the_history(monkeypatch):
    h = history(keep_ns=3000 * MS)
    for i in range(3000):  # cam 30 Hz; js 1 kHz; js2 silent for the last second
        h.add('js', i * MS, 0)
        if i < 2000:
            h.add('js2', i * MS, 0)
        if i % 33 == 0:
            h.add('cam', i * MS, 0)
    assert h.t_last() == full_search(h) == 2013 * MS
    searched = count_searches(monkeypatch)
    for _ in range(20):
        assert h.t_last() == 2013 * MS
    assert sum(searched) == 0, searched
    h.add('cam', 3003 * MS, 0)  # a new reference stamp beyond js2's reach: none searched
    assert h.t_last() == 2013 * MS and sum(searched) == 0
