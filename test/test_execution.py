"""Execution modes without ROS: how a new chunk takes over from the running plan."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.execution import ChunkExecution, TimedChunk, held_at

DT = 100_000_000
T0 = 10_000_000_000


def chunk(t0: int, values, n: int | None = None) -> TimedChunk:
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    n = len(values) if n is None else n
    return TimedChunk(t0 + np.arange(n, dtype=np.int64) * DT, values[:n])


def test_replace_returns_the_new_points_unchanged():
    execution = ChunkExecution('replace')
    new = chunk(T0, [1.0, 2.0, 3.0])
    out = execution.combine(new.due_ns, new.actions, new, chunk(T0 - DT, [9.0, 9.0, 9.0]))
    assert out is new.actions  # bit-exact: not even a copy
    assert not execution.memory


def test_held_at_is_what_a_trajectory_controller_holds():
    old = chunk(T0, [1.0, 2.0, 3.0])
    assert held_at(old.due_ns, old.actions, T0 - 1) is None
    assert held_at(old.due_ns, old.actions, T0)[0] == 1.0
    assert held_at(old.due_ns, old.actions, T0 + DT + DT // 2)[0] == 2.0
    assert held_at(old.due_ns, old.actions, T0 + 50 * DT)[0] == 3.0  # the last, after the end


def test_blend_moves_from_the_old_plan_to_the_new_chunk_over_k_steps():
    execution = ChunkExecution('blend', blend_steps=3)
    old = chunk(T0, [0.0] * 6)
    new = chunk(T0 + 2 * DT, [8.0] * 6)
    out = execution.combine(new.due_ns, new.actions, new, old)
    np.testing.assert_allclose(out[:, 0], [2.0, 4.0, 6.0, 8.0, 8.0, 8.0])  # (j+1)/(k+1)
    # the old plan has run out: the controller holds its last point, the blend starts there
    ran_out = chunk(T0 - 10 * DT, [0.0, 1.0])
    out = execution.combine(new.due_ns, new.actions, new, ran_out)
    np.testing.assert_allclose(out[:3, 0], [0.75 * 1 + 0.25 * 8, 0.5 * 1 + 0.5 * 8,
                                            0.25 * 1 + 0.75 * 8])
    # nothing running: the new chunk as it is
    np.testing.assert_array_equal(execution.combine(new.due_ns, new.actions, new, None),
                                  new.actions)


def test_temporal_ensemble_weights_older_chunks_as_act_does():
    execution = ChunkExecution('temporal_ensemble', ensemble_decay=0.5)
    first = chunk(T0, np.arange(10.0))  # predicts t -> k at T0 + k*dt
    out = execution.combine(first.due_ns[:4], first.actions[:4], first, None)
    np.testing.assert_array_equal(out, first.actions[:4])  # alone: itself
    second = chunk(T0 + 3 * DT, [100.0] * 10)
    out = execution.combine(second.due_ns[:4], second.actions[:4], second, first)
    w = np.exp(-0.5 * np.arange(2))  # oldest first: weight 1, then exp(-0.5)
    expected = [(w[0] * k + w[1] * 100.0) / w.sum() for k in (3, 4, 5, 6)]
    np.testing.assert_allclose(out[:, 0], expected)
    # a chunk whose horizon has ended is forgotten
    third = chunk(T0 + 20 * DT, [50.0] * 10)
    out = execution.combine(third.due_ns[:2], third.actions[:2], third, second)
    np.testing.assert_array_equal(out[:, 0], [50.0, 50.0])
    assert len(execution.memory) == 1
    execution.clear()
    assert not execution.memory


def test_temporal_ensemble_interpolates_chunks_off_the_grid():
    """Realtime chunks are sampled on camera stamps: not a multiple of dt apart."""
    execution = ChunkExecution('temporal_ensemble', ensemble_decay=0.0)
    first = chunk(T0, np.arange(10.0))
    execution.combine(first.due_ns, first.actions, first, None)
    second = chunk(T0 + 2 * DT + DT // 4, [0.0] * 10)
    out = execution.combine(second.due_ns[:2], second.actions[:2], second, first)
    # first predicts 2.25 and 3.25 there (linear between its points), second 0: plain mean
    np.testing.assert_allclose(out[:, 0], [2.25 / 2, 3.25 / 2])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='execution_mode'):
        ChunkExecution('smooth')
    with pytest.raises(ValueError, match='blend_steps'):
        ChunkExecution('blend', blend_steps=0)
    with pytest.raises(ValueError, match='ensemble_decay'):
        ChunkExecution('temporal_ensemble', ensemble_decay=-1.0)


def test_blend_and_ensemble_take_a_continuous_joint_the_short_way_round():
    """Defect: the old plan at 3.10, the new chunk at -3.10 (the same posture, reported
    wrapped: 0.08 rad apart) averaged to about 0, half a turn the long way round. Where `wrap`,
    the mean is taken over the short-way changes from the new chunk's point."""
    short = 2 * np.pi - 6.20
    wrap = np.array([True, False])
    old = TimedChunk(T0 + np.arange(6, dtype=np.int64) * DT, np.tile([3.10, 1.0], (6, 1)))
    new = TimedChunk(old.due_ns + 2 * DT, np.tile([-3.10, 3.0], (6, 1)))
    out = ChunkExecution('blend', blend_steps=3).combine(new.due_ns, new.actions, new, old,
                                                         wrap)
    alpha = np.array([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(out[:, 0], -3.10 - (1 - alpha) * short)  # from 3.10 = -3.18
    np.testing.assert_allclose(out[:, 1], (1 - alpha) * 1.0 + alpha * 3.0)  # as before
    execution = ChunkExecution('temporal_ensemble', ensemble_decay=0.0)
    execution.combine(old.due_ns, old.actions, old, None, wrap)
    out = execution.combine(new.due_ns[:4], new.actions[:4], new, old, wrap)
    np.testing.assert_allclose(out[:, 0], -3.10 - short / 2)  # -pi, the middle
    np.testing.assert_allclose(out[:, 1], 2.0)
    # a chunk's prediction between its points goes the short way too
    turn = TimedChunk(np.array([T0, T0 + DT]), np.array([[3.10, 0.0], [-3.10, 2.0]]))
    np.testing.assert_allclose(turn.interpolate(T0 + DT // 2, wrap), [3.10 + short / 2, 1.0])
    np.testing.assert_allclose(turn.interpolate(T0 + DT // 2), [0.0, 1.0])  # none: plain
