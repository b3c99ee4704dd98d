"""One-point commands far denser than the control grid (a leader arm's driver, a servo at
125 Hz: one JointTrajectory every 8 ms, its point due on receipt or one command period
after it), sampled on a 10 Hz grid with the default 50 ms tolerance. The slack that lets a
jittered grid time find its point was the whole tolerance for a one-point trajectory, so a
grid time took the command sent up to 50 ms after it: due on receipt, every action came from
46 ms in the future (silently); due 8 ms after, none was valid and bag2zarr wrote nothing.
The slack is now kept under half the time since the command before (stamp_slacks): the
action is the command falling due within a few ms of t_k."""
from __future__ import annotations

import numpy as np
import pytest

from training.resample import make_grid, stamp_slacks, trajectory_targets

MS = 1_000_000
DT, TOL, LATE = 100 * MS, 50 * MS, 10 * MS


def dense_commands(lead_ns: int, seconds: float = 3.0, seed: int = 0):
    """Commands every 8 ms (receive jitter 0.4 ms), each one point worth its due time in
    ms, due lead_ns after its receive time (its stamp: header stamp 0)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 125)
    stamps = (np.arange(n) * 8 * MS + 2 * MS + rng.normal(0, 0.4 * MS, n)).astype(np.int64)
    stamps.sort()
    due = [np.array([s + lead_ns]) for s in stamps]
    return stamps, due, [np.array([[d[0] / MS]]) for d in due]


@pytest.mark.parametrize('lead_ms', [0, 8])
def test_the_action_is_the_command_falling_due_at_the_grid_time(lead_ms):
    stamps, due, positions = dense_commands(lead_ms * MS)
    grid = make_grid(100 * MS, 2900 * MS, DT)
    values, valid = trajectory_targets(stamps, due, positions, grid, TOL, 1,
                                       min(TOL, DT // 2 - 1), LATE)
    assert valid.all()
    offset_ms = values[:, 0] - grid / MS  # the chosen command's due time - t
    assert np.abs(offset_ms).max() <= 8.0, offset_ms  # within one command period
    assert abs(np.median(offset_ms)) <= 4.0


def test_stamp_slacks_are_under_half_the_time_since_the_previous_stamp():
    stamps = np.array([0, 8, 8, 16, 116], dtype=np.int64) * MS
    assert stamp_slacks(stamps, 50 * MS).tolist() == [
        50 * MS, 4 * MS - 1, 4 * MS - 1, 4 * MS - 1, 50 * MS - 1]
    assert stamp_slacks(np.array([5 * MS]), 50 * MS).tolist() == [50 * MS]
