"""The sim's follower between points: held (lockstep, the default) or interpolated (realtime,
as a joint_trajectory_controller samples its setpoint), and the same model as the policy
node's (runtime/execution.commanded_at), so that realtime runs on the sim exercise the
off-grid hand-over the node plans for."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.execution import TimedChunk, commanded_at
from sim_bridge.trajectory_follower import Trajectory, TrajectoryFollower

DT = 100_000_000  # 0.1 s in ns
MS = 1_000_000


def off_grid() -> Trajectory:
    """A chunk planned on a mid-step frame: points due 30 ms after the steps at 1 and 2 DT."""
    return Trajectory(due_ns=np.array([DT + 30 * MS, 2 * DT + 30 * MS, 3 * DT + 30 * MS]),
                      positions=np.array([[10.0, 0.0], [20.0, 4.0], [30.0, 8.0]]))


def test_interpolated_between_points_exact_on_them_and_held_outside():
    f = TrajectoryFollower(hold=[1.0, 1.0], interpolate=True)
    f.replace(off_grid())
    assert f.target_at(DT).tolist() == [1.0, 1.0]  # before the first point: the held target
    assert f.target_at(DT + 30 * MS).tolist() == [10.0, 0.0]  # on a point: that point
    np.testing.assert_allclose(f.target_at(2 * DT), [17.0, 2.8])  # 70 ms of 100 to the next
    np.testing.assert_allclose(f.peek(3 * DT), [27.0, 6.8])
    assert f.target_at(5 * DT).tolist() == [30.0, 8.0]  # after the last: the last
    assert f.target.tolist() == [30.0, 8.0]


def test_held_by_default_as_lockstep_takes_each_point_for_its_step():
    f = TrajectoryFollower(hold=[1.0, 1.0])
    f.replace(off_grid())
    assert f.target_at(2 * DT).tolist() == [10.0, 0.0]


@pytest.mark.parametrize('t_ms', [130, 150, 200, 229, 230, 300, 330, 500])
def test_the_sim_interpolates_as_the_policy_node_models_the_controller(t_ms):
    traj = off_grid()
    f = TrajectoryFollower(interpolate=True)
    f.replace(traj)
    node = commanded_at(TimedChunk(traj.due_ns, traj.positions), t_ms * MS, interpolated=True)
    np.testing.assert_allclose(f.peek(t_ms * MS), node, rtol=0, atol=1e-12)


def test_on_grid_points_are_taken_unchanged():
    """Chunks planned on step boundaries (the point pusher's camera): interpolating changes
    nothing at the step times, bit for bit."""
    traj = Trajectory(due_ns=DT * np.arange(1, 9, dtype=np.int64),
                      positions=np.random.default_rng(0).uniform(0, 512, (8, 2)))
    held, lerp = TrajectoryFollower(), TrajectoryFollower(interpolate=True)
    held.replace(traj)
    lerp.replace(traj)
    for k in range(12):
        np.testing.assert_array_equal(lerp.target_at(k * DT), held.target_at(k * DT))
