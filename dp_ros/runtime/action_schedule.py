"""Chunk timing: the current plan as absolute due times, what is left of it, when to re-plan.

A chunk sampled on the observation at t_obs has point i due at t_obs + i*dt (point 0 is the
action for the observation's own time, as the paper's env runner executes it). By the time
the chunk exists some points may be due already: those are dropped, never executed late
(the paper's real-robot loop does the same with its action timestamps). "Now" is whatever
clock the caller runs on: wall/ROS time on a robot, sim time in lockstep, where nothing is
ever in the past.

Times are integer nanoseconds. Not thread-safe: the caller holds a lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Plan:
    """The points of one chunk still to be executed: point k of the chunk is due at due_ns."""

    t_obs_ns: int
    first_index: int  # index in the sampled chunk of the first kept point
    due_ns: np.ndarray  # (N,) int64, strictly increasing
    actions: np.ndarray  # (N, Da) float64
    sampled: Any = None  # the raw sampled chunk (execution.TimedChunk), for debug output
    note: str = ''  # what the safety envelope changed worth a line (the bounds clamped)

    def __len__(self) -> int:
        return int(self.due_ns.size)

    @property
    def stamp_ns(self) -> int:
        """When the plan starts to run: the due time of its first point (the header stamp)."""
        return int(self.due_ns[0])


class ActionSchedule:
    """Holds the current plan; says how many actions are left and when a new chunk is needed.

    replan_threshold: re-plan once at most this many future actions are left (0: only when
    the plan has run out, as the in-process evaluation does). lead_ns: a point due sooner
    than now + lead_ns counts as past (the time a command takes to reach the actuator).
    """

    def __init__(self, dt_ns: int, replan_threshold: int = 0, lead_ns: int = 0):
        if dt_ns <= 0:
            raise ValueError(f'dt_ns must be > 0, got {dt_ns}')
        if replan_threshold < 0:
            raise ValueError(f'replan_threshold must be >= 0, got {replan_threshold}')
        if lead_ns < 0:
            raise ValueError(f'lead_ns must be >= 0, got {lead_ns}')
        self.dt_ns = int(dt_ns)
        self.replan_threshold = int(replan_threshold)
        self.lead_ns = int(lead_ns)
        self.plan: Plan | None = None
        self.chunks = 0  # chunks accepted with at least one future point
        self.dropped = 0  # points dropped because they were already due

    def due_times(self, n: int, t_obs_ns: int) -> np.ndarray:
        """Point i of a chunk sampled on the observation at t_obs is due at t_obs + i*dt."""
        return int(t_obs_ns) + np.arange(n, dtype=np.int64) * self.dt_ns

    def first_future(self, due_ns: np.ndarray, now_ns: int) -> int:
        """Index of the first point not due yet (len: all due); the others count as dropped."""
        keep = due_ns >= int(now_ns) + self.lead_ns
        first = int(np.argmax(keep)) if keep.any() else int(due_ns.size)
        self.dropped += first
        return first

    def install(self, plan: Plan) -> Plan:
        """The plan now executed, replacing the old one."""
        self.plan = plan
        self.chunks += 1
        return plan

    def set_plan(self, actions: np.ndarray, t_obs_ns: int, now_ns: int) -> Plan | None:
        """Replace the plan with a new chunk, dropping the points already due.

        Returns the kept plan, or None when every point was due already (the old plan stays).
        """
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 2 or actions.shape[0] == 0:
            raise ValueError(f'actions must be (N>0, Da), got shape {actions.shape}')
        due = self.due_times(actions.shape[0], t_obs_ns)
        first = self.first_future(due, now_ns)
        if first == actions.shape[0]:
            return None
        return self.install(Plan(t_obs_ns=int(t_obs_ns), first_index=first, due_ns=due[first:],
                                 actions=actions[first:].copy()))

    def remaining(self, now_ns: int) -> int:
        """Future actions left: points due at or after now + lead."""
        if self.plan is None:
            return 0
        start = int(np.searchsorted(self.plan.due_ns, int(now_ns) + self.lead_ns, side='left'))
        return len(self.plan) - start

    def needs_plan(self, now_ns: int) -> bool:
        return self.remaining(now_ns) <= self.replan_threshold

    def action_at(self, now_ns: int) -> np.ndarray | None:
        """The point in force at now (the last one due at or before it), as a controller holds."""
        if self.plan is None:
            return None
        i = int(np.searchsorted(self.plan.due_ns, int(now_ns), side='right')) - 1
        return None if i < 0 else self.plan.actions[i].copy()

    def clear(self) -> None:
        self.plan = None
