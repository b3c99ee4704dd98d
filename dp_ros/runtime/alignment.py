"""The one alignment rule: which sample of a stream stands for a time.

For each time t, the newest sample stamped at or before t. The policy node's
ObservationHistory.assemble picks its observation with it, and `dp-ros bag2zarr` picks every
observation of a training step with it (training/resample.py), so a policy is trained on
exactly the samples the live node would have assembled at the same times.

"At or before" allows SAME_INSTANT_NS: a sample stamped up to 1 us after t counts as at t.
Stamps made from float seconds (a driver's `time.time()`, a bag writer's `t * 1e9`) land a
few hundred ns either side of the instant they mean (a float64 of an epoch time resolves
0.24 us); without the allowance a stamp rounded 1 ns up would make the previous sample (a
whole period older) stand for its own instant. 1 us is far below any sensor period.

Where that sample is older than the tolerance, the first sample after t stands in when it is
stamped no more than the jitter allowance after t (jitter_allowance_ns: a tenth of the
control period). A camera published at the control rate whose driver jitters its stamps by
a few ms would otherwise lose every step where its frame is stamped a little after the time
that frame was meant for (the one before is a period old: a gap), about half of them. It
only ever turns a gap into a sample (a valid pick is never changed: exact or lockstep stamps
give what they always gave) and never takes one further in the future than the allowance,
as LeRobot's tolerance_s takes a frame either side of its time.

Pure Python + numpy, integer nanoseconds, no ROS.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

SAME_INSTANT_NS = 1_000  # stamps this close after t count as at t
JITTER_FRACTION = 10  # the jitter allowance: this fraction of the control period


def jitter_allowance_ns(period_ns: int) -> int:
    """How far after t a sample may be stamped and still stand in for t where none at or
    before it is within the tolerance: a tenth of the control period (10 ms at 10 Hz), the
    one value bag2zarr and the node both use."""
    return int(period_ns) // JITTER_FRACTION


def index_at_or_before(stamps_ns: Sequence[int] | np.ndarray,
                       times_ns: Sequence[int] | np.ndarray) -> np.ndarray:
    """For each time, the index of the newest stamp <= time + SAME_INSTANT_NS; -1: none.

    stamps_ns must be sorted ascending (the node's history and a bag's sorted stream are).
    A numpy array is searched vectorised (bag conversion: a whole episode at once); a list
    (the node's ring buffer, a few times per plan) by bisection, without copying it. Both
    are the same rule: np.searchsorted(side='right') is bisect.bisect_right.
    """
    times = np.asarray(times_ns, dtype=np.int64) + SAME_INSTANT_NS
    if isinstance(stamps_ns, np.ndarray):
        return np.searchsorted(stamps_ns, times, side='right').astype(np.int64) - 1
    return np.fromiter((bisect.bisect_right(stamps_ns, int(t)) - 1 for t in times.ravel()),
                       dtype=np.int64, count=times.size).reshape(times.shape)


def sample_at_or_before(stamps_ns: Sequence[int] | np.ndarray,
                        times_ns: Sequence[int] | np.ndarray, max_age_ns: int,
                        late_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(index, valid) per time: the sample index_at_or_before picks, and whether there is
    one no more than max_age_ns older than the time (the node's 'gap' limit, bag2zarr's
    tolerance). Where there is none, the first sample after the time if it is stamped at
    most late_ns after it (jitter_allowance_ns; 0: never). Invalid entries have index 0
    (never use them)."""
    times = np.asarray(times_ns, dtype=np.int64)
    index = index_at_or_before(stamps_ns, times)
    n = len(stamps_ns)
    if n == 0:
        return np.zeros(times.shape, dtype=np.int64), index >= 0
    valid = (index >= 0) & ((times - _stamps_at(stamps_ns, np.maximum(index, 0)))
                            <= max_age_ns)
    if late_ns > 0:
        after = np.minimum(index + 1, n - 1)  # the first sample stamped after the time
        late = ~valid & (index + 1 < n) & ((_stamps_at(stamps_ns, after) - times) <= late_ns)
        index = np.where(late, after, index)
        valid |= late
    return np.where(valid, index, 0), valid


def _stamps_at(stamps_ns: Sequence[int] | np.ndarray, index: np.ndarray) -> np.ndarray:
    """stamps_ns[index] as int64, without copying a list (the node's ring buffer)."""
    if isinstance(stamps_ns, np.ndarray):
        return stamps_ns[index].astype(np.int64, copy=False)
    return np.fromiter((stamps_ns[i] for i in index.ravel().tolist()), dtype=np.int64,
                       count=index.size).reshape(index.shape)
