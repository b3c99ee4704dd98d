"""Review tests of sim_bridge/trajectory_follower.py: joint reordering of three joints, the
time and workspace bounds, messages that name the bad point, and copies that keep the held
target and the active trajectory safe from callers."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.trajectory_follower import (
    Trajectory,
    TrajectoryFollower,
    TrajectoryRejected,
    Workspace,
    check_trajectory,
)

DT = 100_000_000
XY = ['agent_x', 'agent_y']
ARM = ['shoulder', 'elbow', 'wrist']


def check(times, positions, names=XY, expected=XY, stamp=10 * DT, now=10 * DT, **kw):
    return check_trajectory(names, expected, stamp, np.asarray(times, dtype=np.int64),
                            np.asarray(positions, dtype=np.float64), now, **kw)


def test_three_joints_in_a_rotated_order_are_put_in_the_controlled_order():
    """Reordering by name for 3 joints (a permutation that is not its own inverse)."""
    t = check([0], [[2.0, 3.0, 1.0]], names=['elbow', 'wrist', 'shoulder'], expected=ARM)
    assert t.positions.tolist() == [[1.0, 2.0, 3.0]]


def test_a_negative_time_from_start_is_out_of_order():
    """time_from_start must be >= 0: a point before the stamp is refused."""
    with pytest.raises(TrajectoryRejected) as info:
        check([-DT, 0], [[1, 2], [1, 2]])
    assert info.value.kind == 'out_of_order'


def test_a_trajectory_that_started_in_the_past_but_ends_later_is_taken():
    """Only a trajectory that *ends* before now is rejected; one still running is taken."""
    t = check([0, DT, 2 * DT], [[1, 1], [2, 2], [3, 3]], stamp=9 * DT, now=10 * DT)
    assert t.due_ns.tolist() == [9 * DT, 10 * DT, 11 * DT]
    t = check([0], [[1, 1]], stamp=10 * DT, now=10 * DT)  # ends exactly now: taken
    assert t.last_due_ns == 10 * DT


def test_a_trajectory_stamped_at_the_episode_start_is_of_this_episode():
    """previous_episode is strictly older than the episode start."""
    t = check([0], [[1, 1]], stamp=5 * DT, now=5 * DT, episode_start_ns=5 * DT)
    assert t.due_ns.tolist() == [5 * DT]


def test_targets_on_the_workspace_bounds_are_inside():
    """Workspace bounds are inclusive: targets exactly on low and high are accepted."""
    t = check([0, DT], [[0.0, 0.0], [512.0, 512.0]], workspace=Workspace())
    assert t.positions.tolist() == [[0.0, 0.0], [512.0, 512.0]]


def test_rejections_name_the_offending_point():
    """non_finite and out_of_workspace messages name the row (point) that is bad."""
    with pytest.raises(TrajectoryRejected, match='point 2 has a non-finite'):
        check([0, DT, 2 * DT], [[1, 1], [1, 1], [1, np.nan]])
    with pytest.raises(TrajectoryRejected, match='point 2 target'):
        check([0, DT, 2 * DT], [[1, 1], [1, 1], [600, 1]], workspace=Workspace())


@pytest.mark.parametrize('low, high, match', [
    ((0.0, 0.0), (0.0, 512.0), 'low < high'),
    ((0.0, -np.inf), (512.0, 512.0), 'finite'),
    ((0.0, 0.0), (512.0, np.inf), 'finite'),
    ((0.0, 0.0, 0.0), (512.0, 512.0), 'differ in length'),
])
def test_workspace_refuses_empty_infinite_or_mismatched_bounds(low, high, match):
    """A workspace needs finite bounds, low < high per joint and as many lows as highs."""
    with pytest.raises(ValueError, match=match):
        Workspace(low=low, high=high)


def test_the_held_target_is_the_followers_own_copy():
    """Neither the caller's hold array nor a returned target can change the held target."""
    hold = np.array([1.0, 2.0])
    f = TrajectoryFollower(hold=hold)
    hold[:] = 99.0
    assert f.target.tolist() == [1.0, 2.0]
    got = f.target
    got[:] = 77.0
    assert f.target.tolist() == [1.0, 2.0]
    assert f.target_at(0).tolist() == [1.0, 2.0]


def test_a_peeked_or_applied_target_cannot_edit_the_trajectory():
    """peek/target_at hand out copies: editing them leaves the trajectory's points intact."""
    f = TrajectoryFollower(hold=[0.0, 0.0])
    f.replace(Trajectory(due_ns=np.array([0, DT]), positions=np.array([[1.0, 1.0], [2.0, 2.0]])))
    f.peek(0)[:] = 50.0
    assert f.peek(0).tolist() == [1.0, 1.0]
    f.target_at(0)[:] = 60.0
    assert f.peek(0).tolist() == [1.0, 1.0] and f.target.tolist() == [1.0, 1.0]
