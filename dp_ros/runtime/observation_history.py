"""Timestamped history per input stream, and the n_obs_steps observation assembled from it.

The observation for a plan is taken at the times t_last - j*dt (j = n_obs_steps-1 .. 0),
t_last being the newest time at which every stream has a sample, from the newest sample at
or before each time, as the paper's real-robot code aligns camera and robot streams
(real_env.py get_obs); the rule is runtime/alignment.py's, which `dp-ros bag2zarr` samples
training data with (a stamp up to 1 us after a time counts as at it; where the sample at or
before a time is too old, one stamped at most the jitter allowance, a tenth of dt, after it
stands in: a control-rate camera with jittered stamps). Nothing is ever extrapolated and no
sample older than `max_age_ns` (or a stream's own `gap_ns`: the tolerance its training data
was sampled with) stands in for a time: the assembly is refused instead, with a reason.

A reference stream (the one bag2zarr's grid sat on, where the policy's data recorded it:
sources `reference: true`) anchors t_last as the grid did: t_last is then the newest of its
stamps at which every other stream has a sample at or before within its tolerance (the
pairs training saw: the reference fresh, the others up to their tolerance old), not the
newest time every stream has (a slow stream's fresh sample with the reference's older one).

Episodes: after start_episode(t0), samples before t0 are gone and a time before t0 takes the
episode's first sample, which is how the simulator's evaluation pads the first observation
(the paper's MultiStepWrapper repeats the first observation). Without an episode start a
time before the oldest sample means the history is not full yet.

Times are integer nanoseconds. Not thread-safe: the caller holds a lock.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from dp_ros.runtime.alignment import (
    index_at_or_before,
    jitter_allowance_ns,
    sample_at_or_before,
)


@dataclass
class Observation:
    """One assembled observation: per stream, one sample for each of `times_ns` (oldest first)."""

    t_ns: int  # the newest time, t_last: point 0 of the plan made on it is due then
    times_ns: list[int]
    values: dict[str, list[Any]]
    stamps_ns: dict[str, list[int]]  # the stamp of each sample used


@dataclass
class Refusal:
    """Why no observation can be assembled now; `kind` is stable, `message` is for people."""

    kind: str  # 'empty' | 'not_full' | 'stale' | 'gap'
    message: str

    def __bool__(self) -> bool:  # so that `if result:` reads as "got an observation"
        return False


@dataclass
class _Stream:
    stamps: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


class ObservationHistory:
    """A ring buffer per stream, ordered by header stamp, kept for `keep_ns` behind the newest
    (and the one sample just older: the one at or before the edge's time)."""

    def __init__(self, streams: Sequence[str], n_obs_steps: int, dt_ns: int, max_age_ns: int,
                 keep_ns: int | None = None, max_samples: int = 2000,
                 gap_ns: dict[str, int] | None = None, reference: str | None = None):
        if not streams or len(set(streams)) != len(streams):
            raise ValueError(f'streams must be distinct names, got {list(streams)}')
        if reference is not None and reference not in streams:
            raise ValueError(f'reference {reference!r} is not one of the streams '
                             f'{list(streams)}')
        if n_obs_steps < 1:
            raise ValueError(f'n_obs_steps must be >= 1, got {n_obs_steps}')
        if dt_ns <= 0:
            raise ValueError(f'dt_ns must be > 0, got {dt_ns}')
        if max_age_ns <= 0:
            raise ValueError(f'max_age_ns must be > 0, got {max_age_ns}')
        needed = (n_obs_steps - 1) * dt_ns + max_age_ns
        self.keep_ns = int(keep_ns) if keep_ns is not None else 2 * needed
        if self.keep_ns < needed:
            raise ValueError(f'keep_ns {keep_ns} is shorter than the span an observation needs '
                             f'((n_obs_steps-1)*dt + max_age = {needed} ns)')
        self.streams = list(streams)
        self.n_obs_steps = int(n_obs_steps)
        self.dt_ns = int(dt_ns)
        self.max_age_ns = int(max_age_ns)
        # at most this many samples per stream beyond the newest `needed_ns` (a flooding
        # stream's memory): never the samples an observation needs, so a 1 kHz joint-state
        # stream of an observation spanning 2.4 s (3 steps at 1 Hz) fills it
        self.max_samples = int(max_samples)
        self.needed_ns = needed
        self.reference = reference  # the stream t_last sits on (None: the newest common time)
        # per stream: how much older than a time its sample may be (never above max_age_ns);
        # a key of no stream (a typo) left that stream at max_age_ns, a negative one made
        # every observation a gap
        unknown = sorted(set(gap_ns or {}) - set(self.streams))
        if unknown:
            raise ValueError(f'gap_ns names no stream: {unknown} (the streams: {self.streams})')
        if any(v < 0 for v in (gap_ns or {}).values()):
            raise ValueError(f'gap_ns must be >= 0 for every stream, got {gap_ns}')
        self.gap_ns = {name: min(int((gap_ns or {}).get(name, max_age_ns)), self.max_age_ns)
                       for name in self.streams}
        # a sample stamped this little after a time stands in where none before it may
        self.late_ns = jitter_allowance_ns(self.dt_ns)
        self.episode_start_ns: int | None = None
        self._data = {name: _Stream() for name in self.streams}
        # with a reference: the newest of its stamps found covered (t_last), None: unknown.
        # It stays covered while the samples covering it are kept (a newer sample never
        # uncovers a time), so t_last searches only the reference's newer stamps.
        self._covered: int | None = None

    # ------------------------------------------------------------------ input
    def add(self, stream: str, stamp_ns: int, value: Any) -> bool:
        """File a sample; False (and nothing filed) when it is not newer than the stream's newest.

        Samples from before the current episode start are refused too.
        """
        s = self._data[stream]
        stamp_ns = int(stamp_ns)
        if s.stamps and stamp_ns <= s.stamps[-1]:
            return False
        if self.episode_start_ns is not None and stamp_ns < self.episode_start_ns:
            return False
        s.stamps.append(stamp_ns)
        s.values.append(value)
        # each cut keeps the newest sample older than its bound: the one at or before an
        # observation's oldest time may be older than newest - needed_ns, by up to the
        # stream's tolerance (dropped, a capped stream paired a later sample, and keep_ns at
        # its minimum refused an observation within max_age as not full)
        cut = max(bisect.bisect_left(s.stamps, stamp_ns - self.keep_ns) - 1, 0)
        if len(s.stamps) > self.max_samples:
            cut = max(cut, min(len(s.stamps) - self.max_samples,
                               bisect.bisect_left(s.stamps, stamp_ns - self.needed_ns) - 1))
        if cut > 0:
            if self._covered is not None and s.stamps[cut - 1] >= \
                    self._covered - self.gap_ns[stream]:
                self._covered = None  # the covered time, or a sample covering it, dropped
            del s.stamps[:cut]
            del s.values[:cut]
        return True

    def clear(self) -> None:
        """Forget every sample and the episode start."""
        self.episode_start_ns = None
        self._covered = None
        for s in self._data.values():
            s.stamps.clear()
            s.values.clear()

    def start_episode(self, start_ns: int) -> None:
        """Drop samples from before start_ns; times before it take the episode's first sample."""
        self.episode_start_ns = int(start_ns)
        self._covered = None
        for s in self._data.values():
            cut = bisect.bisect_left(s.stamps, self.episode_start_ns)
            del s.stamps[:cut]
            del s.values[:cut]

    # ------------------------------------------------------------------ queries
    def newest_stamp(self, stream: str) -> int | None:
        s = self._data[stream]
        return s.stamps[-1] if s.stamps else None

    def oldest_stamp(self, stream: str) -> int | None:
        """The stamp of the oldest sample kept of `stream` (None: none is)."""
        s = self._data[stream]
        return s.stamps[0] if s.stamps else None

    def size(self, stream: str) -> int:
        return len(self._data[stream].stamps)

    def t_last(self) -> int | None:
        """The newest time at which every stream has a sample (None while one has none); with
        a reference stream, the newest of its stamps the others cover (None: none is)."""
        newest = [self.newest_stamp(name) for name in self.streams]
        if any(t is None for t in newest):
            return None
        if self.reference is None:
            return min(newest)
        ref = self._data[self.reference].stamps
        # the newest covered of the stamps newer than the last found (it stays covered), and
        # no newer than every stream's newest sample reaches within its tolerance (none
        # after is covered): mostly the newest alone. The lists are bisected, not copied
        # (copied whole on every call: ~300 us at 2000 samples, run on every poll).
        newer = bisect.bisect_right(ref, self._covered) if self._covered is not None else 0
        reach = min(t + self.gap_ns[name] for name, t in zip(self.streams, newest, strict=True)
                    if name != self.reference)
        times = ref[newer:bisect.bisect_right(ref, reach)]
        if not times:
            return self._covered
        covered = np.ones(len(times), dtype=bool)
        for name in self.streams:
            if name != self.reference:
                covered &= sample_at_or_before(self._data[name].stamps, times,
                                               self.gap_ns[name], self.late_ns)[1]
        found = np.flatnonzero(covered)
        if found.size:
            self._covered = int(times[found[-1]])
        return self._covered

    def _uncovered(self, t: int) -> str | None:
        """The first stream other than the reference without a sample for time t (at or
        before within its tolerance, or within the jitter allowance after); None: all have."""
        return next((name for name in self.streams if name != self.reference
                     and not sample_at_or_before(self._data[name].stamps, [t],
                                                 self.gap_ns[name], self.late_ns)[1][0]), None)

    def ages_ns(self, now_ns: int) -> dict[str, int | None]:
        return {name: (None if (t := self.newest_stamp(name)) is None else int(now_ns) - t)
                for name in self.streams}

    def assemble(self, now_ns: int) -> Observation | Refusal:
        """The observation at t_last - j*dt, j = n_obs_steps-1 .. 0, or why there is none."""
        t_last = self.t_last()
        if t_last is None:
            empty = [n for n in self.streams if not self._data[n].stamps]
            if empty:
                return Refusal('empty', f'no sample yet from {empty}')
            newest = self._data[self.reference].stamps[-1]
            name = self._uncovered(newest)
            refusal = self._refusal(name, newest) if name is not None else None
            return Refusal('gap', f'no {self.reference} sample (the reference stream) has one '
                                  f'of every other stream within its tolerance'
                                  + (f'; at the newest, {refusal.message}'
                                     if refusal is not None else ''))
        age = int(now_ns) - t_last
        if age > self.max_age_ns:
            return Refusal('stale', f'newest complete observation is {age / 1e6:.1f} ms old '
                                    f'(limit {self.max_age_ns / 1e6:.1f} ms)')
        times = [t_last - j * self.dt_ns for j in range(self.n_obs_steps - 1, -1, -1)]
        values: dict[str, list[Any]] = {name: [] for name in self.streams}
        stamps: dict[str, list[int]] = {name: [] for name in self.streams}
        for name in self.streams:
            s = self._data[name]
            # the rule bag2zarr samples training data with (runtime/alignment.py)
            index, valid = sample_at_or_before(s.stamps, times, self.gap_ns[name], self.late_ns)
            # before the episode began: the sample of its first time here, as training pads
            # with step 0 (a stream's first sample, where it runs faster than the grid, was
            # another one: a state up to a period off in the first plan of an episode)
            first = next((i for i, ok in zip(index.tolist(), valid.tolist(), strict=True)
                          if ok), 0)
            for t, i, ok in zip(times, index.tolist(), valid.tolist(), strict=True):
                if not ok:
                    refusal = self._refusal(name, t)
                    if refusal is not None:
                        return refusal
                    i = first
                values[name].append(s.values[i])
                stamps[name].append(s.stamps[i])
        return Observation(t_ns=t_last, times_ns=times, values=values, stamps_ns=stamps)

    def _refusal(self, name: str, t: int) -> Refusal | None:
        """Why stream `name` has no sample for time t; None: t is before the episode began
        and nothing is at or before it (the episode's first time's sample stands in)."""
        s = self._data[name]
        i = int(index_at_or_before(s.stamps, [t])[0])
        if i < 0:
            if self.episode_start_ns is not None and t < self.episode_start_ns:
                return None
            return Refusal('not_full', f'{name}: no sample at or before '
                                       f'{t} ns (oldest {s.stamps[0]} ns)')
        limit = self.gap_ns[name]
        why = ('' if limit == self.max_age_ns else
               ': the tolerance its training data was sampled with')
        return Refusal('gap', f'{name}: newest sample at or before {t} ns is '
                              f'{(t - s.stamps[i]) / 1e6:.1f} ms older than that (limit '
                              f'{limit / 1e6:.1f} ms{why}; none stamped within the '
                              f'{self.late_ns / 1e6:.1f} ms jitter allowance after it)')
