"""Edges of the execution modes the main tests leave open: chunks that just touch, the cap on
remembered chunks, blends longer than the chunk, and bad chunks and settings."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.execution import ChunkExecution, TimedChunk

DT = 100_000_000
T0 = 10_000_000_000


def chunk(t0: int, values) -> TimedChunk:
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return TimedChunk(t0 + np.arange(len(values), dtype=np.int64) * DT, values)


def test_ensemble_keeps_a_chunk_whose_last_point_is_the_new_first():
    """A chunk ending where the new one starts still counts in the ensemble for that point."""
    execution = ChunkExecution('temporal_ensemble', ensemble_decay=0.0)
    old = chunk(T0, [0.0, 1.0, 2.0, 3.0])
    execution.combine(old.due_ns, old.actions, old, None)
    new = chunk(T0 + 3 * DT, [100.0] * 4)
    out = execution.combine(new.due_ns, new.actions, new, old)
    np.testing.assert_allclose(out[:, 0], [51.5, 100.0, 100.0, 100.0])


def test_ensemble_forgets_the_oldest_chunks_beyond_max_chunks():
    """Over max_chunks the oldest chunks go, never the newest prediction."""
    execution = ChunkExecution('temporal_ensemble', ensemble_decay=0.0, max_chunks=2)
    for value in (0.0, 10.0):
        c = chunk(T0, [value] * 8)
        execution.combine(c.due_ns[:1], c.actions[:1], c, None)
    newest = chunk(T0, [40.0] * 8)
    out = execution.combine(newest.due_ns[:2], newest.actions[:2], newest, None)
    np.testing.assert_allclose(out[:, 0], [25.0, 25.0])  # the mean of 10 and 40
    assert execution.memory[-1] is newest and len(execution.memory) == 2


def test_blend_longer_than_the_kept_chunk_and_before_the_old_plans_start():
    """Blend copes with fewer points than blend_steps and with points before the old plan."""
    execution = ChunkExecution('blend', blend_steps=5)
    new = chunk(T0, [6.0, 6.0])
    out = execution.combine(new.due_ns, new.actions, new, chunk(T0 - DT, [0.0] * 4))
    np.testing.assert_allclose(out[:, 0], [1.0, 2.0])  # 6 * 1/6, 6 * 2/6
    execution = ChunkExecution('blend', blend_steps=3)
    new = chunk(T0, [8.0] * 4)
    out = execution.combine(new.due_ns, new.actions, new, chunk(T0 + 2 * DT, [0.0] * 4))
    np.testing.assert_allclose(out[:, 0], [8.0, 8.0, 6.0, 8.0])  # 3rd point: 0 + 3/4 * 8


def test_an_empty_chunk_and_an_infinite_decay_are_refused():
    """An empty chunk and decay inf (NaN weights, NaN actions) are refused."""
    with pytest.raises(ValueError, match='a chunk needs'):
        TimedChunk(np.zeros(0, dtype=np.int64), np.zeros((0, 2)))
    with pytest.raises(ValueError, match='ensemble_decay'):
        ChunkExecution('temporal_ensemble', ensemble_decay=np.inf)
