"""How a newly sampled chunk takes over from the one being executed: the execution modes.

A diffusion policy re-plans before its chunk has run out, and two chunks sampled on
different observations rarely agree where they overlap: replacing one by the other makes the
arm jump or roll back at the boundary (the most common complaint about Diffusion Policy on
real arms). Three modes, chosen by the `execution_mode` parameter:

- replace: the new chunk replaces the old one from its first point on, unchanged. The
  paper's evaluation does this; Push-T's lockstep parity with the in-process evaluation
  depends on it being bit-exact, so this mode returns the array it is given.
- temporal_ensemble: ACT's temporal ensembling (Zhao et al., 2023). Every chunk's whole
  predicted horizon is remembered on absolute due times; the action for a time t is the
  weighted mean of what each remembered chunk predicts for t, weight exp(-decay * k) for the
  k-th oldest chunk covering t (k = 0 for the oldest, as ACT weighs them). Chunks of a
  realtime node are sampled on camera stamps, not on a common grid, so a chunk's prediction
  for t is interpolated linearly between its two points around t.
- blend: the first `blend_steps` points of the new chunk are blended with what the old plan
  commands at the same times (`commanded_at`: between its points on the line between them, as
  ros2_control's joint_trajectory_controller executes it, or the point in force for a
  controller that holds each point, the lockstep sim's follower; a robot's chunks are sampled
  on sensor stamps off the old plan's grid, where the held point lies behind the arm):
  weight (j + 1) / (blend_steps + 1) on the new chunk's j-th point.

On continuous joints (`wrap`, those the safety envelope takes the short way round) means and
interpolations are taken over the short-way changes from the new chunk's point: 3.1 and -3.1
(one posture, reported wrapped) average to pi, not 0, which would drive the arm half a turn.

Pure numpy, no ROS; times are integer nanoseconds; the caller serialises the calls.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dp_ros.runtime.safety import joint_delta

EXECUTION_MODES = ('replace', 'temporal_ensemble', 'blend')


@dataclass(frozen=True)
class TimedChunk:
    """Actions on absolute due times (strictly increasing)."""

    due_ns: np.ndarray  # (N,) int64
    actions: np.ndarray  # (N, Da) float64

    def __post_init__(self):
        if self.actions.ndim != 2 or self.actions.shape[0] != self.due_ns.shape[0] or \
                self.actions.shape[0] == 0:
            raise ValueError(f'a chunk needs (N>0, Da) actions for N due times, got '
                             f'{self.actions.shape} for {self.due_ns.shape}')

    def covers(self, t_ns: int) -> bool:
        return int(self.due_ns[0]) <= t_ns <= int(self.due_ns[-1])

    def interpolate(self, t_ns: int, wrap: np.ndarray | None = None) -> np.ndarray:
        """The chunk's prediction for a time it covers (linear between its points, the short
        way round where `wrap`)."""
        i = int(np.searchsorted(self.due_ns, t_ns, side='right')) - 1
        if i >= len(self.due_ns) - 1 or self.due_ns[i] == t_ns:
            return self.actions[i]
        t0, t1 = int(self.due_ns[i]), int(self.due_ns[i + 1])
        w = (t_ns - t0) / (t1 - t0)
        start, end = self.actions[i], self.actions[i + 1]
        plain = (1.0 - w) * start + w * end
        return plain if wrap is None else \
            np.where(wrap, start + w * joint_delta(start, end, wrap), plain)


def weighted_mean(values: np.ndarray, weights: np.ndarray, wrap: np.ndarray | None,
                  ref: np.ndarray) -> np.ndarray:
    """weights @ values / sum; where `wrap`, ref plus the mean short-way change from ref (an
    arithmetic mean across the +-pi wrap lands half a turn away)."""
    mean = weights @ values / weights.sum()
    if wrap is None:
        return mean
    return np.where(wrap, ref + weights @ joint_delta(ref, values, wrap) / weights.sum(), mean)


def held_at(due_ns: np.ndarray, actions: np.ndarray, t_ns: int) -> np.ndarray | None:
    """The point in force at t as a trajectory controller holds it: the last one due at or
    before t (the last point after the end); None before the first point."""
    i = int(np.searchsorted(due_ns, int(t_ns), side='right')) - 1
    return None if i < 0 else actions[i]


def commanded_at(plan: TimedChunk, t_ns: int, interpolated: bool,
                 wrap: np.ndarray | None = None) -> np.ndarray | None:
    """Where a trajectory controller executing `plan` commands the arm at t: on the line
    between the points around t (`interpolated`, as a joint_trajectory_controller does) or the
    point in force (held_at); the last point after the end; None before the first point.
    On a point's due time both give that point exactly."""
    if int(t_ns) < int(plan.due_ns[0]):
        return None
    if interpolated:
        return plan.interpolate(int(t_ns), wrap)
    return held_at(plan.due_ns, plan.actions, t_ns)


def commanded_velocity(plan: TimedChunk, t_ns: int, wrap: np.ndarray | None = None,
                       max_speed: np.ndarray | None = None) -> np.ndarray:
    """The velocity (units/s) an interpolating controller executing `plan`, ONE sampled plan
    (not the joined commanded timeline), commands at t: the slope of the plan's segment
    around t (from a point's due time on, the segment it starts; before its first point, its
    first segment), the short way round where `wrap`; 0 from its last point on (nothing
    after t to move to) and for a one-point plan. A segment of one plan spans at least a
    control period: the seam to the plan it replaced can be a millisecond long (due times
    start at camera stamps), so a difference across it is a chunk-to-chunk jump divided by
    milliseconds. `max_speed` (units/s, per dimension; inf: none) clips |v|: the envelope's
    speed limit bounds what a stop may continue."""
    n = len(plan.due_ns)
    i = max(0, int(np.searchsorted(plan.due_ns, int(t_ns), side='right')) - 1)
    if i >= n - 1:
        return np.zeros(plan.actions.shape[1])
    span_s = (int(plan.due_ns[i + 1]) - int(plan.due_ns[i])) / 1e9
    velocity = joint_delta(plan.actions[i], plan.actions[i + 1], wrap) / span_s
    if max_speed is not None:
        velocity = np.clip(velocity, -max_speed, max_speed)
    return velocity


class ChunkExecution:
    """Combines each new chunk with the previous ones according to the execution mode."""

    def __init__(self, mode: str = 'replace', ensemble_decay: float = 0.01,
                 blend_steps: int = 3, max_chunks: int = 32, interpolated: bool = True):
        if mode not in EXECUTION_MODES:
            raise ValueError(f"execution_mode must be one of {list(EXECUTION_MODES)}, got "
                             f"'{mode}'")
        if ensemble_decay < 0 or not np.isfinite(ensemble_decay):
            raise ValueError(f'ensemble_decay must be finite and >= 0, got {ensemble_decay}')
        if blend_steps < 1:
            raise ValueError(f'blend_steps must be >= 1, got {blend_steps}')
        self.mode = mode
        self.ensemble_decay = float(ensemble_decay)
        self.blend_steps = int(blend_steps)
        self.max_chunks = int(max_chunks)
        # how the controller executes the old plan blend starts from (commanded_at)
        self.interpolated = bool(interpolated)
        self.memory: list[TimedChunk] = []  # temporal_ensemble: oldest first

    def clear(self) -> None:
        """Forget the remembered chunks (a stop, a reset, a new episode)."""
        self.memory.clear()

    def combine(self, due_ns: np.ndarray, actions: np.ndarray, horizon: TimedChunk,
                current: TimedChunk | None, wrap: np.ndarray | None = None,
                before: np.ndarray | None = None) -> np.ndarray:
        """The points to publish for `due_ns`.

        actions: the new chunk's points at due_ns (those not due yet); horizon: its whole
        predicted horizon (what the ensemble remembers); current: the plan being executed
        (what blend starts from), None when nothing runs; wrap: the dimensions averaged the
        short way round (JointLimits.short_way); before: where the controller is before
        current's first point (None: blend leaves the points due then unchanged).
        """
        if self.mode == 'replace':
            return actions
        if self.mode == 'blend':
            return self._blend(due_ns, actions, current, wrap, before)
        return self._ensemble(due_ns, actions, horizon, wrap)

    def _blend(self, due_ns: np.ndarray, actions: np.ndarray, current: TimedChunk | None,
               wrap: np.ndarray | None, before: np.ndarray | None) -> np.ndarray:
        if current is None:
            return actions
        out = actions.copy()
        for j in range(min(self.blend_steps, len(due_ns))):
            old = commanded_at(current, int(due_ns[j]), self.interpolated, wrap)
            if old is None:
                old = before
            if old is None:
                continue
            alpha = (j + 1) / (self.blend_steps + 1)
            mixed = (1.0 - alpha) * old + alpha * actions[j]
            out[j] = mixed if wrap is None else \
                np.where(wrap, actions[j] + (1.0 - alpha) * joint_delta(actions[j], old, wrap),
                         mixed)
        return out

    def _ensemble(self, due_ns: np.ndarray, actions: np.ndarray, horizon: TimedChunk,
                  wrap: np.ndarray | None) -> np.ndarray:
        first = int(due_ns[0])
        self.memory = [c for c in self.memory if int(c.due_ns[-1]) >= first]
        self.memory.append(horizon)
        del self.memory[:-self.max_chunks]
        out = np.empty_like(actions)
        for j, t in enumerate(due_ns.tolist()):
            covering = [c for c in self.memory if c.covers(t)]
            if not covering:  # the new chunk's own point (its horizon covers its points)
                out[j] = actions[j]
                continue
            weights = np.exp(-self.ensemble_decay * np.arange(len(covering)))
            values = np.stack([c.interpolate(t, wrap) for c in covering])
            out[j] = weighted_mean(values, weights, wrap, actions[j])
        return out
