"""The sim's joint_trajectory_controller: which target applies at a given time.

Pure logic (no rclpy) so that the timing rules are tested without a ROS graph. Times are
integer nanoseconds. The rules follow ros2_control's joint_trajectory_controller, sampled
once per control step (the Push-T env takes one target per 0.1 s step):

- a new trajectory replaces the active one entirely;
- the target at time t is the last point whose due time (header.stamp + time_from_start)
  is <= t, or with `interpolate` the point on the line between it and the next one, as a
  joint_trajectory_controller's setpoint at t (on a point's due time that point exactly, so
  points on the step grid are taken unchanged; off it, a chunk planned on a mid-step camera
  frame, the step takes where the controller is, not the point due up to a period before);
  before the first point the previous target is held (a controller would move from it to
  the first point); after the last point the last point is held;
- a header.stamp of zero means "now" (the receive time);
- a trajectory that ends in the past is rejected, as the controller does.

Lockstep adds one question the controller never asks: is there an action for step time t
yet? The active trajectory covers t when its last point is due at or after t.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

# Kinds of rejected input, counted per episode.
REJECT_KINDS = ('empty', 'joint_names', 'dimension', 'non_finite', 'out_of_order',
                'out_of_workspace', 'ends_in_past', 'previous_episode',
                'frame_id', 'unreachable')  # the last two: Cartesian targets (cartesian.py)


class TrajectoryRejected(ValueError):
    """A trajectory the sim refuses; `kind` is one of REJECT_KINDS."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned bounds a target must lie in (inclusive)."""

    low: tuple[float, ...] = (0.0, 0.0)
    high: tuple[float, ...] = (512.0, 512.0)

    def __post_init__(self):
        if len(self.low) != len(self.high):
            raise ValueError(f'workspace bounds differ in length: low={self.low} '
                             f'high={self.high}')
        for lo, hi in zip(self.low, self.high, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f'workspace bounds must be finite with low < high: '
                                 f'low={self.low} high={self.high}')


@dataclass(frozen=True)
class Trajectory:
    """Absolute due times (ns, strictly increasing) and one target row per point."""

    due_ns: np.ndarray  # (N,) int64
    positions: np.ndarray  # (N, D) float64

    @property
    def last_due_ns(self) -> int:
        return int(self.due_ns[-1])


def check_trajectory(joint_names: Sequence[str], expected_names: Sequence[str], stamp_ns: int,
                     times_from_start_ns: np.ndarray, positions: np.ndarray, now_ns: int,
                     workspace: Workspace | None = None,
                     episode_start_ns: int | None = None) -> Trajectory:
    """Validate an incoming trajectory and turn it into absolute due times.

    Joints may come in any order (they are reordered to `expected_names`); stamp 0 means
    `now_ns`. Raises TrajectoryRejected naming the problem.
    """
    names = list(joint_names)
    expected = list(expected_names)
    times = np.asarray(times_from_start_ns, dtype=np.int64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64)
    if times.size == 0:
        raise TrajectoryRejected('empty', 'trajectory has no points')
    if len(set(names)) != len(names) or sorted(names) != sorted(expected):
        raise TrajectoryRejected('joint_names', f'trajectory joints {names} do not match the '
                                 f'controlled joints {expected}')
    if positions.ndim != 2 or positions.shape != (times.size, len(expected)):
        raise TrajectoryRejected('dimension', f'positions of shape {positions.shape} do not '
                                 f'match {times.size} points x {len(expected)} joints')
    order = [names.index(n) for n in expected]
    positions = positions[:, order]
    if not np.all(np.isfinite(positions)):
        bad = int(np.argwhere(~np.isfinite(positions))[0, 0])
        raise TrajectoryRejected('non_finite', f'point {bad} has a non-finite position '
                                 f'{positions[bad].tolist()}')
    # the first point before 0 or not after its predecessor; named alone, not every time
    # (100,000 points: a 1.4 MB log line)
    out_of_order = np.flatnonzero((times < 0) | np.r_[False, np.diff(times) <= 0])
    if out_of_order.size:
        bad = int(out_of_order[0])
        around = times[max(0, bad - 1):bad + 1].tolist()
        raise TrajectoryRejected('out_of_order', 'time_from_start must be >= 0 and strictly '
                                 f'increasing: point {bad} of {times.size} is not '
                                 f'({around} ns)')
    if workspace is not None:
        low = np.asarray(workspace.low, dtype=np.float64)
        high = np.asarray(workspace.high, dtype=np.float64)
        outside = np.any((positions < low) | (positions > high), axis=1)
        if np.any(outside):
            bad = int(np.argmax(outside))
            raise TrajectoryRejected('out_of_workspace', f'point {bad} target '
                                     f'{positions[bad].tolist()} is outside the workspace '
                                     f'low={list(workspace.low)} high={list(workspace.high)}')
    start_ns = int(now_ns) if int(stamp_ns) == 0 else int(stamp_ns)
    if episode_start_ns is not None and start_ns < episode_start_ns:
        raise TrajectoryRejected('previous_episode', f'trajectory stamped {start_ns} ns is '
                                 f'older than the episode start {episode_start_ns} ns')
    due = start_ns + times
    if int(due[-1]) < int(now_ns):
        raise TrajectoryRejected('ends_in_past', f'trajectory ends at {int(due[-1])} ns, '
                                 f'before now ({int(now_ns)} ns)')
    return Trajectory(due_ns=due, positions=positions)


class TrajectoryFollower:
    """Holds the active trajectory and the last applied target.

    interpolate: sample between points on the line between them (realtime, as a
    joint_trajectory_controller); False: hold each point until the next is due (lockstep,
    whose steps fall on the points' due times: the in-process evaluation's parity).
    """

    def __init__(self, hold: Sequence[float] | None = None, interpolate: bool = False):
        self._trajectory: Trajectory | None = None
        self._target: np.ndarray | None = None
        self.interpolate = bool(interpolate)
        self.reset(hold)

    def reset(self, hold: Sequence[float] | None = None) -> None:
        """Forget the trajectory (a new episode); hold `hold` until one arrives."""
        self._trajectory = None
        self._target = None if hold is None else np.asarray(hold, dtype=np.float64).copy()

    def replace(self, trajectory: Trajectory) -> None:
        self._trajectory = trajectory

    @property
    def target(self) -> np.ndarray | None:
        """The target applied last (what is held when no point is due)."""
        return None if self._target is None else self._target.copy()

    def covers(self, t_ns: int) -> bool:
        """Lockstep readiness: the active trajectory says something about time t."""
        return self._trajectory is not None and self._trajectory.last_due_ns >= int(t_ns)

    def target_at(self, t_ns: int) -> np.ndarray | None:
        """The target for a step at time t, which then becomes the held target.

        None only when nothing was ever held and no point is due yet.
        """
        self._target = self.peek(t_ns)
        return self.target

    def peek(self, t_ns: int) -> np.ndarray | None:
        """The target a step at time t would take (target_at), without taking it."""
        traj = self._trajectory
        if traj is not None:
            index = int(np.searchsorted(traj.due_ns, int(t_ns), side='right')) - 1
            if index >= 0:
                if not self.interpolate or index + 1 == len(traj.due_ns) or \
                        int(traj.due_ns[index]) == int(t_ns):
                    return traj.positions[index].copy()
                t0, t1 = int(traj.due_ns[index]), int(traj.due_ns[index + 1])
                w = (int(t_ns) - t0) / (t1 - t0)
                return (1.0 - w) * traj.positions[index] + w * traj.positions[index + 1]
        return self.target


@dataclass
class RejectionLog:
    """Counts rejected input per kind; says when a kind is new so it is logged once."""

    counts: Counter = field(default_factory=Counter)

    def record(self, kind: str) -> bool:
        """Count one rejection; True the first time this kind is seen (log it then)."""
        self.counts[kind] += 1
        return self.counts[kind] == 1

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def clear(self) -> None:
        self.counts.clear()
