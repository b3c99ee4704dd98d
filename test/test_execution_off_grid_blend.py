"""Blend against an interpolating controller: a ros2_control joint_trajectory_controller
executes the running plan on the line between its points, so off the plan's grid (a robot's
chunks are sampled on sensor stamps, not on the plan's due times) blend must mix in the
running plan's value then, not the point held before it; on the grid nothing changes."""
from __future__ import annotations

import numpy as np

from dp_ros.runtime.execution import ChunkExecution, TimedChunk, commanded_at

DT = 100_000_000
T0 = 10_000_000_000


def line(t0_ns: int, n: int) -> TimedChunk:
    """A steady motion of one unit per period (value (t - T0) / DT) on due times from t0."""
    due = t0_ns + np.arange(n, dtype=np.int64) * DT
    return TimedChunk(due, ((due - T0) / DT).reshape(-1, 1).astype(np.float64))


def test_blend_of_two_chunks_that_agree_off_the_grid_changes_nothing():
    """Defect: the old plan's point in force (2, 3, 4) was mixed in where the controller is at
    2.5, 3.5, 4.5: two chunks predicting one motion gave [2.125 3.25 4.375 ...]."""
    old = line(T0, 8)
    new = line(T0 + 2 * DT + DT // 2, 6)  # sampled half a period off the old grid
    out = ChunkExecution('blend', blend_steps=3).combine(new.due_ns, new.actions, new, old)
    np.testing.assert_allclose(out[:, 0], new.actions[:, 0])


def test_a_holding_controller_still_blends_with_the_point_in_force():
    """interpolated=False (a lockstep sim's follower holds each point): the held point."""
    old = line(T0, 8)
    new = line(T0 + 2 * DT + DT // 2, 6)
    out = ChunkExecution('blend', blend_steps=3, interpolated=False).combine(
        new.due_ns, new.actions, new, old)
    np.testing.assert_allclose(out[:3, 0], [2.125, 3.25, 4.375])


def test_commanded_at_interpolates_holds_after_the_end_and_knows_nothing_before():
    """The running plan's command: on its points exactly, between them on the line (or the
    point in force when held), the last point after the end, None before the first."""
    old = line(T0, 3)
    assert commanded_at(old, T0 - 1, True) is None
    assert commanded_at(old, T0 + DT, True)[0] == 1.0
    assert commanded_at(old, T0 + DT + DT // 4, True)[0] == 1.25
    assert commanded_at(old, T0 + DT + DT // 4, False)[0] == 1.0
    assert commanded_at(old, T0 + 50 * DT, True)[0] == 2.0


def test_blend_before_the_running_plans_first_point_uses_the_given_start():
    """A point due before the running plan starts blends with where the controller is then
    (`before`: the planning loop's model), not skipped; without it, skipped as before."""
    old = line(T0 + 2 * DT, 4)
    new = TimedChunk(T0 + np.arange(4, dtype=np.int64) * DT, np.full((4, 1), 8.0))
    execution = ChunkExecution('blend', blend_steps=3)
    out = execution.combine(new.due_ns, new.actions, new, old, before=np.zeros(1))
    np.testing.assert_allclose(out[:, 0], [2.0, 4.0, 6.5, 8.0])  # 3rd: 2 + 3/4 * (8 - 2)
    out = execution.combine(new.due_ns, new.actions, new, old)
    np.testing.assert_allclose(out[:, 0], [8.0, 8.0, 6.5, 8.0])
