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

Pure Python + numpy, integer nanoseconds, no ROS.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

SAME_INSTANT_NS = 1_000  # stamps this close after t count as at t


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
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(index, valid) per time: the sample index_at_or_before picks, and whether there is
    one no more than max_age_ns older than the time (the node's 'gap' limit, bag2zarr's
    tolerance). Invalid entries have index 0 (never use them)."""
    times = np.asarray(times_ns, dtype=np.int64)
    index = index_at_or_before(stamps_ns, times)
    valid = index >= 0
    if len(stamps_ns) == 0:
        return np.zeros(times.shape, dtype=np.int64), valid
    index = np.maximum(index, 0)
    stamps = np.asarray(stamps_ns, dtype=np.int64) if not isinstance(stamps_ns, np.ndarray) \
        else stamps_ns
    valid &= (times - stamps[index]) <= max_age_ns
    return np.where(valid, index, 0), valid
