"""Timing rules of the sim's trajectory follower (joint_trajectory_controller semantics)."""
from __future__ import annotations

import numpy as np
import pytest

from sim_bridge.trajectory_follower import (
    RejectionLog,
    Trajectory,
    TrajectoryFollower,
    TrajectoryRejected,
    Workspace,
    check_trajectory,
)

DT = 100_000_000  # 0.1 s in ns
NAMES = ['agent_x', 'agent_y']


def traj(start_ns: int, rows: list[list[float]], dt: int = DT) -> Trajectory:
    return Trajectory(due_ns=start_ns + dt * np.arange(len(rows), dtype=np.int64),
                      positions=np.asarray(rows, dtype=np.float64))


def test_samples_the_last_point_due_at_or_before_t():
    f = TrajectoryFollower(hold=[1.0, 1.0])
    f.replace(traj(10 * DT, [[10, 0], [11, 0], [12, 0]]))
    assert f.target_at(10 * DT).tolist() == [10, 0]
    assert f.target_at(11 * DT - 1).tolist() == [10, 0]
    assert f.target_at(11 * DT).tolist() == [11, 0]
    assert f.target_at(12 * DT).tolist() == [12, 0]


def test_before_first_point_holds_previous_target():
    f = TrajectoryFollower(hold=[5.0, 6.0])
    f.replace(traj(3 * DT, [[30, 30]]))
    assert f.target_at(2 * DT).tolist() == [5, 6]
    assert f.target_at(3 * DT).tolist() == [30, 30]
    # a replacement starting later: the old target is held until its first point is due
    f.replace(traj(6 * DT, [[60, 60], [70, 70]]))
    assert f.target_at(4 * DT).tolist() == [30, 30]
    assert f.target_at(6 * DT).tolist() == [60, 60]


def test_after_last_point_and_without_trajectory_holds():
    f = TrajectoryFollower(hold=[2.0, 3.0])
    assert f.target_at(0).tolist() == [2, 3]
    f.replace(traj(0, [[7, 8], [9, 10]]))
    f.target_at(DT)
    assert f.target_at(50 * DT).tolist() == [9, 10]
    assert f.target.tolist() == [9, 10]


def test_new_trajectory_replaces_old_one_entirely():
    f = TrajectoryFollower(hold=[0.0, 0.0])
    f.replace(traj(0, [[1, 1], [2, 2], [3, 3], [4, 4]]))
    assert f.target_at(DT).tolist() == [2, 2]
    f.replace(traj(2 * DT, [[20, 20]]))
    # old points 3 and 4 are gone: the replacement's only point holds from 2*DT on
    assert f.target_at(3 * DT).tolist() == [20, 20]
    assert f.target_at(9 * DT).tolist() == [20, 20]


def test_nothing_held_and_nothing_due_gives_none():
    f = TrajectoryFollower()
    assert f.target_at(0) is None
    f.replace(traj(DT, [[1, 2]]))
    assert f.target_at(0) is None
    assert f.target_at(DT).tolist() == [1, 2]


def test_lockstep_readiness_is_coverage_of_step_time():
    f = TrajectoryFollower(hold=[0.0, 0.0])
    assert not f.covers(0)
    f.replace(traj(0, [[1, 1], [2, 2], [3, 3]]))  # due at steps 0, 1, 2
    assert f.covers(0) and f.covers(DT) and f.covers(2 * DT)
    assert not f.covers(2 * DT + 1) and not f.covers(3 * DT)
    assert f.target_at(2 * DT).tolist() == [3, 3]
    # a chunk whose first point is in the future still makes the step ready: it holds
    f.replace(traj(5 * DT, [[9, 9]]))
    assert f.covers(3 * DT)
    assert f.target_at(3 * DT).tolist() == [3, 3]
    f.reset(hold=[4.0, 4.0])
    assert not f.covers(0) and f.target.tolist() == [4, 4]


def test_lockstep_policy_cycle_applies_point_zero_at_observation_time():
    """Obs at t_k, policy answers with a chunk due from t_k: step k applies point 0."""
    f = TrajectoryFollower(hold=[0.0, 0.0])
    applied = []
    for k in range(6):
        t_k = k * DT
        if not f.covers(t_k):  # the sim waits here until the policy answers obs k
            f.replace(traj(t_k, [[100 * k + i, 0] for i in range(3)]))
        applied.append(f.target_at(t_k)[0])
    assert applied == [0, 1, 2, 300, 301, 302]


def check(times, positions, names=NAMES, stamp=10 * DT, now=10 * DT, **kw):
    return check_trajectory(names, NAMES, stamp, np.asarray(times, dtype=np.int64),
                            np.asarray(positions, dtype=np.float64), now, **kw)


def test_check_builds_absolute_due_times_and_reorders_joints():
    t = check([0, DT], [[1, 2], [3, 4]], names=['agent_y', 'agent_x'])
    assert t.due_ns.tolist() == [10 * DT, 11 * DT]
    assert t.positions.tolist() == [[2, 1], [4, 3]]


def test_check_stamp_zero_means_now():
    t = check([0, DT], [[1, 2], [3, 4]], stamp=0, now=7 * DT)
    assert t.due_ns.tolist() == [7 * DT, 8 * DT]


@pytest.mark.parametrize('kind, kwargs', [
    ('empty', dict(times=[], positions=np.zeros((0, 2)))),
    ('joint_names', dict(times=[0], positions=[[1, 2]], names=['agent_x', 'elbow'])),
    ('joint_names', dict(times=[0], positions=[[1, 2]], names=['agent_x', 'agent_x'])),
    ('dimension', dict(times=[0], positions=[[1, 2, 3]])),
    ('non_finite', dict(times=[0, DT], positions=[[1, 2], [np.nan, 2]])),
    ('non_finite', dict(times=[0], positions=[[np.inf, 2]])),
    ('out_of_order', dict(times=[DT, 0], positions=[[1, 2], [1, 2]])),
    ('out_of_order', dict(times=[0, 0], positions=[[1, 2], [1, 2]])),
    ('out_of_workspace', dict(times=[0], positions=[[600, 2]], workspace=Workspace())),
    ('ends_in_past', dict(times=[0, DT], positions=[[1, 2], [1, 2]], stamp=DT, now=5 * DT)),
    ('previous_episode', dict(times=[0], positions=[[1, 2]], stamp=DT, now=DT,
                              episode_start_ns=2 * DT)),
])
def test_check_rejects_bad_input_with_its_kind(kind, kwargs):
    with pytest.raises(TrajectoryRejected) as info:
        check(**kwargs)
    assert info.value.kind == kind
    assert str(info.value)


def test_workspace_validates_its_bounds():
    with pytest.raises(ValueError, match='low < high'):
        Workspace(low=(0.0, 10.0), high=(512.0, 5.0))


def test_rejection_log_says_first_time_per_kind():
    log = RejectionLog()
    assert log.record('empty') is True
    assert log.record('empty') is False
    assert log.record('non_finite') is True
    assert log.total() == 3 and log.as_dict() == {'empty': 2, 'non_finite': 1}
    log.clear()
    assert log.total() == 0
