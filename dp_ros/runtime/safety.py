"""The safety envelope of published actions: bounds, per-step limits, ramp-in, and the hold.

Every point the node publishes passes `SafetyEnvelope.apply`, in order:

1. bounds: the target clamped to [lower, upper] (the parameters action_lower/upper, or the
   URDF's position limits, the tighter of the two where both are given);
2. ramp-in: for `ramp_in_ns` after the node starts moving (enabled, or again after a
   stop), the point is pulled towards the measured joint position the motion started from:
   p = m + a(t) * (target - m), a(t) rising linearly from one step's worth to 1, so the
   arm does not leap to where the first chunk wants it. It ramps to the clamped target:
   clamping after it would throw its first small steps away where the arm stands outside
   the bounds (a home pose outside the training actions' range) and leap to the bound;
3. per-step limit: the change from the previous commanded point is at most `max_step`
   per control period (the parameters max_step_delta and max_velocity * dt, or the URDF's
   velocity * dt, the smallest given). The previous point of a chunk's first point is where
   the controller is when the chunk arrives, so the limit holds across chunk boundaries.
   A trajectory controller goes from there to the first point in the time between the chunk
   landing (action_lead_s after it is sent: the actuation delay) and the point falling due,
   which may be a millisecond: the first point gets that share of `max_step`, so the speed
   stays within max_velocity on the way to it too (of a controller that interpolates from
   that position at that time: Jazzy's JTC with interpolate_from_desired_state stamps it one
   cycle early, up to 2x the speed for that cycle: README). A controller whose tick comes a
   little late may still hold the point before, and one the chunk reaches late executes the
   points due until the chunk's first: the first point keeps within the limit of all of them;
4. unwrapping, on the continuous joints taken the short way round (below): each point moved
   by whole turns to within pi of the one before it, point 0 of where the controller is
   (`unwrapped`, as MoveIt unwinds them): a joint_trajectory_controller's angle_wraparound
   takes the short way from its state to point 0 only and runs straight between points, so
   a chunk crossing +-pi (3.1, -3.1), or the end of a ramp-in there, would be a turn in a
   period. The published values may leave [-pi, pi); the node's model of the controller
   (execution.TimedChunk.interpolate, the short way) runs along the same lines.

Bounds are applied before the ramp-in and the step limit, so a start outside the bounds is
walked back in (over ramp_in_s, at the step limit) instead of jumping to the bound: the points
of that walk lie outside the bounds until it reaches them. On a URDF's continuous joints the
ramp and the step limit go the short way round (as a joint_trajectory_controller with
angle_wraparound does): a driver that reports them wrapped into [-pi, pi) puts 3.1 and -3.1
0.08 rad apart, not a turn. A continuous joint given finite bounds (action_lower/upper) is
not: the bounded interval is the way it may go, so changes there are taken directly, through
the bounds.

The defined stop (`hold_point`): a one-point trajectory at the measured position (when no
fresh measurement exists, where the controller commands the arm at the stop: in realtime on
the line between the commanded points, as a joint_trajectory_controller executes them, not
the point before, behind the arm; in lockstep the point in force), due one control period after it
arrives (stamped 0: a stop delivered late is still a stop, not a trajectory that ends in the
past, which a controller rejects). A ros2_control joint_trajectory_controller replaces the
running trajectory with it and comes to rest there; an empty trajectory would not do: newer
controllers reject it ("Empty trajectory received") and the half-executed chunk would run on.
An arm at speed stops within that period (1 rad/s at 10 Hz: 10 rad/s^2), and a controller's
spline from the moving state to a point at rest a period ahead overshoots it: with
stop_deceleration the stop is instead `stop_path`, from where the controller is commanded now
on with its commanded velocity, decelerating uniformly to rest (realtime, with a commanded
plan; lockstep and a stop without one keep the one point).
Pure numpy, no ROS.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class JointLimits:
    """Per action dimension; None where no limit of that kind is configured."""

    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    max_step: np.ndarray | None = None  # largest change per control period (inf: none)
    wrap: np.ndarray | None = None  # bool: continuous joints, changes taken the short way round

    @property
    def any(self) -> bool:
        return self.lower is not None or self.max_step is not None

    def max_speed(self, dt_ns: int) -> np.ndarray | None:
        """The top speed of each dimension (units/s) the step limit allows, a step every
        dt_ns (inf: none, or one too large for a float); None without a step limit: what a
        stop decelerates from."""
        if self.max_step is None:
            return None
        with np.errstate(over='ignore'):  # a step of 1e308 a period: no bound, not a warning
            return self.max_step * 1e9 / dt_ns

    @property
    def short_way(self) -> np.ndarray | None:
        """The continuous joints whose changes go the short way round (None: none): those
        without finite bounds; between bounds the short way may cross the excluded part."""
        if self.wrap is None:
            return None
        free = self.wrap if self.lower is None else \
            self.wrap & np.isinf(self.lower) & np.isinf(self.upper)
        return free if free.any() else None


XACRO_NS = '{http://www.ros.org/wiki/xacro}'
XACRO_HINT = ('; it is a xacro file, whose macros are not expanded here: give the URDF '
              "xacro writes ('xacro robot.urdf.xacro > robot.urdf', or the robot_state_publisher's "
              'robot_description)')


def _is_xacro(root: ET.Element) -> bool:
    """A robot description with xacro elements (macros, includes, properties) unexpanded."""
    return any(el.tag.startswith(XACRO_NS) for el in root.iter())


def urdf_limits(path: str | Path, joint_names: Sequence[str],
                driver_names: Sequence[str] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, velocity, continuous) of each named joint from a URDF's <limit>
    elements and joint types; a joint the URDF lacks is looked up by its name in
    `driver_names` (the name a prefixed topic's controller knows it by: one arm's URDF
    bounding both arms' 'left_waist' and 'right_waist' as 'waist').

    Continuous joints give -inf/inf, a left-out velocity inf. A revolute or prismatic joint's
    left-out lower or upper is 0, as urdfdom reads it (robot_state_publisher, MoveIt and
    ros2_control: every other tool bounds the joint there); a <limit> with neither is refused
    (urdfdom's [0, 0] would have the node drive the joint to 0 and pin it), as are a joint
    missing from the URDF, one without <limit> that is not continuous, and velocity 0, each
    naming the joint. A negative velocity counts by its size, as MoveIt reads it.
    """
    try:
        root = ET.parse(str(path)).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"parameter urdf_path: cannot read '{path}': {exc}") from None
    if root.tag != 'robot':
        raise ValueError(f"parameter urdf_path: '{path}' is no URDF: its root element is "
                         f"<{root.tag}>, not <robot>")
    # the robot's own joints only: a <ros2_control> or <transmission> block names its joints
    # too (no type, no <limit>), and one after the kinematic joint had replaced it
    joints = {j.get('name'): j for j in root.findall('joint')}
    lower, upper, velocity, wrap = [], [], [], []
    for i, name in enumerate(joint_names):
        joint = joints.get(name)
        if joint is None and driver_names is not None:
            joint = joints.get(driver_names[i])
        if joint is None:
            also = '' if driver_names is None or driver_names[i] == name else \
                f" nor '{driver_names[i]}'"
            raise ValueError(f"parameter urdf_path: joint '{name}'{also} is not in {path} "
                             f'(it has {sorted(k for k in joints if k)})' + (
                                 XACRO_HINT if _is_xacro(root) else ''))
        limit = joint.find('limit')
        kind = joint.get('type', '')
        if limit is None and kind not in ('continuous', 'fixed'):
            raise ValueError(f"parameter urdf_path: joint '{name}' ({kind}) in {path} has no "
                             '<limit> element')

        def read(attr: str, default: float, limit=limit, name=name) -> float:
            text = None if limit is None else limit.get(attr)
            if text is None:
                return default
            try:
                value = float(text)
            except ValueError:
                value = np.nan
            if np.isnan(value):
                raise ValueError(f"parameter urdf_path: joint '{name}' has a non-numeric "
                                 f"limit {attr}='{text}'")
            # an empty range (inf <= inf passed the checks); -inf / inf given: no bound
            if (attr, value) in (('lower', np.inf), ('upper', -np.inf)):
                raise ValueError(f"parameter urdf_path: joint '{name}' has an infinite limit "
                                 f"{attr}='{text}': no position is within it")
            return value

        continuous = kind == 'continuous'
        ranged = kind in ('revolute', 'prismatic')  # urdfdom reads their range, 0 left out
        if ranged and limit.get('lower') is None and limit.get('upper') is None:
            raise ValueError(f"parameter urdf_path: joint '{name}' ({kind}) in {path} has a "
                             '<limit> without lower and upper: URDF readers (urdfdom: '
                             'robot_state_publisher, MoveIt, ros2_control) take both as 0, '
                             "which pins the joint at 0; give the joint's range, or make it "
                             'continuous')
        if continuous:  # its <limit>'s range is ignored (URDF)
            lower.append(-np.inf)
            upper.append(np.inf)
        else:
            left_out = (0.0, 0.0) if ranged else (-np.inf, np.inf)
            lower.append(read('lower', left_out[0]))
            upper.append(read('upper', left_out[1]))
        velocity.append(urdf_velocity(read('velocity', np.inf), name, path))
        wrap.append(continuous)
    return np.array(lower), np.array(upper), np.array(velocity), np.array(wrap, dtype=bool)


def urdf_velocity(value: float, name: str, path: str | Path) -> float:
    """A <limit velocity> as a speed bound: its size (MoveIt's reading of a negative one);
    0, an exporter's placeholder that MoveIt reads as no bound, is refused rather than
    dropping the bound silently or freezing the joint."""
    if value == 0:
        raise ValueError(f"parameter urdf_path: joint '{name}' in {path} has <limit "
                         "velocity='0'> (a placeholder: MoveIt reads it as no bound); give the "
                         "joint's speed, or leave the attribute out for none")
    return abs(value)


def combine_limits(dim: int, dt_s: float, lower: Sequence[float] = (),
                   upper: Sequence[float] = (), max_step_delta: Sequence[float] = (),
                   max_velocity: Sequence[float] = (),
                   urdf: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> JointLimits:
    """The tightest of the parameters and the URDF; ValueError names the parameter at fault."""
    def vector(name: str, values: Sequence[float]) -> np.ndarray | None:
        if not len(values):
            return None
        if len(values) != dim:
            raise ValueError(f'parameter {name} has {len(values)} values, the action has {dim}')
        out = np.asarray(values, dtype=np.float64)
        if np.any(np.isnan(out)):
            raise ValueError(f'parameter {name} has a NaN: {list(values)}')
        return out

    lo, hi = vector('action_lower', lower), vector('action_upper', upper)
    if (lo is None) != (hi is None):
        raise ValueError('parameters action_lower and action_upper must be given together')
    step = vector('max_step_delta', max_step_delta)
    velocity = vector('max_velocity', max_velocity)
    for name, v in (('max_step_delta', step), ('max_velocity', velocity)):
        if v is not None and not np.all(v > 0):
            raise ValueError(f'parameter {name} must be > 0 for every dimension, got '
                             f'{v.tolist()}')
    wrap = None
    if urdf is not None:
        u_lo, u_hi, u_vel, u_wrap = urdf
        wrap = u_wrap if u_wrap.any() else None
        lo = u_lo if lo is None else np.maximum(lo, u_lo)
        hi = u_hi if hi is None else np.minimum(hi, u_hi)
        velocity = u_vel if velocity is None else np.minimum(velocity, u_vel)
    if lo is not None and not np.all(lo <= hi):
        raise ValueError(f'position limits must have lower <= upper, got {lo.tolist()} / '
                         f'{hi.tolist()} (action_lower/upper and the URDF together)')
    if velocity is not None:
        per_step = velocity * dt_s
        step = per_step if step is None else np.minimum(step, per_step)
    if step is not None and not np.all(step > 0):  # 0 would freeze a joint, < 0 drive it
        raise ValueError(f'the per-step limit must be > 0 for every dimension, got '
                         f'{step.tolist()} (max_step_delta, max_velocity and the URDF over a '
                         f'period of {dt_s} s)')
    if step is not None and np.all(np.isinf(step)):
        step = None
    if lo is not None and np.all(np.isinf(lo)) and np.all(np.isinf(hi)):
        lo = hi = None
    return JointLimits(lower=lo, upper=hi, max_step=step, wrap=wrap)


def shared_step(max_step: np.ndarray, share: float) -> np.ndarray:
    """`share` of the per-step limit; a dimension without one (inf) has none whatever the
    share (0 * inf is NaN: a chunk landing exactly at its first point, a paused sim clock,
    published NaN targets for a gripper the URDF gives no velocity; a parameter review)."""
    with np.errstate(invalid='ignore'):  # 0 * inf, replaced
        return np.where(np.isinf(max_step), np.inf, max_step * share)


def joint_delta(start: np.ndarray, end: np.ndarray, wrap: np.ndarray | None) -> np.ndarray:
    """end - start, where `wrap` the short way round (into [-pi, pi))."""
    delta = np.asarray(end, dtype=np.float64) - start
    if wrap is None:
        return delta
    return np.where(wrap, (delta + np.pi) % (2 * np.pi) - np.pi, delta)


def unwrapped(points: np.ndarray, reference: np.ndarray | None,
              wrap: np.ndarray) -> np.ndarray:
    """`points` with each `wrap` value moved by whole turns to within pi of the one before it
    (point 0: of `reference`, where the controller is; None: point 0 as it is), as MoveIt
    unwinds continuous joints: a joint_trajectory_controller takes the short way from its
    state to point 0 only and runs straight between points, so 3.1 then -3.1 is a turn in one
    period. Values already within pi are kept bit for bit."""
    out = points.copy()
    prev = None if reference is None else np.asarray(reference, dtype=np.float64)
    for j in range(len(out)):
        if prev is not None:
            far = wrap & (np.abs(out[j] - prev) > np.pi)
            if far.any():
                out[j] = np.where(far, prev + joint_delta(prev, out[j], wrap), out[j])
        prev = out[j]
    return out


class SafetyEnvelope:
    """Applies the limits and the ramp-in to each chunk's points; counts what it changed."""

    def __init__(self, limits: JointLimits, dt_ns: int, ramp_in_ns: int = 0):
        if dt_ns <= 0:
            raise ValueError(f'dt_ns must be > 0, got {dt_ns}')
        if ramp_in_ns < 0:
            raise ValueError(f'ramp_in_ns must be >= 0, got {ramp_in_ns}')
        self.limits = limits
        self.wrap = limits.short_way  # where changes go the short way round
        self.dt_ns = int(dt_ns)
        self.ramp_in_ns = int(ramp_in_ns)
        self.clamped = 0  # values moved into the bounds
        self.rate_limited = 0  # values held back by the per-step limit
        self.ramp_from: np.ndarray | None = None
        self.ramp_start_ns: int | None = None

    @property
    def needs_reference(self) -> bool:
        """Whether the first point of a motion needs the measured position to start from."""
        return self.limits.max_step is not None or self.ramp_in_ns > 0

    def start_motion(self, measured: np.ndarray | None, first_due_ns: int) -> None:
        """A motion begins at first_due_ns from `measured`: the ramp-in starts there."""
        if self.ramp_in_ns > 0 and measured is not None:
            self.ramp_from = np.asarray(measured, dtype=np.float64).copy()
            self.ramp_start_ns = int(first_due_ns)
        else:
            self.ramp_from = self.ramp_start_ns = None

    def ramp_weight(self, t_ns: int) -> float:
        """Share of the policy's target at t during the ramp-in (1: ramp over)."""
        if self.ramp_start_ns is None:
            return 1.0
        steps = (t_ns - self.ramp_start_ns) / self.dt_ns + 1.0
        return float(min(1.0, max(0.0, steps * self.dt_ns / (self.ramp_in_ns + self.dt_ns))))

    def unramped(self, due_ns: np.ndarray, points: np.ndarray) -> np.ndarray:
        """A plan's `points` (due at due_ns) as they were before the ramp-in pulled them
        toward its start: the targets the ramp was applied to. Blend mixes a new chunk with
        the running plan and the ramp is applied to the mix, so it must start from these,
        not the ramped points: the ramp applied twice stepped the arm back toward its start
        at each replan of the ramp-in. (Point p = m + w (x - m), so x = m + (p - m) / w.)"""
        points = np.array(points, dtype=np.float64, copy=True)
        if self.ramp_start_ns is None:
            return points
        for j, t in enumerate(np.asarray(due_ns).tolist()):
            w = self.ramp_weight(t)
            if 0.0 < w < 1.0:
                points[j] = self.ramp_from + joint_delta(self.ramp_from, points[j],
                                                         self.wrap) / w
        return points

    def first_share(self, first_segment_ns: int | None) -> float:
        """The share of max_step point 0 may move: the controller reaches it in
        first_segment_ns (from when the chunk lands, after action_lead_s), not in a period
        (None: a full period, as a lockstep sim steps)."""
        if first_segment_ns is None:
            return 1.0
        return min(1.0, max(0.0, first_segment_ns / self.dt_ns))

    def apply(self, due_ns: np.ndarray, actions: np.ndarray, reference: np.ndarray | None,
              also: Sequence[np.ndarray] = (), first_segment_ns: int | None = None
              ) -> np.ndarray:
        """The points to publish; `reference` is where the controller is when the chunk
        arrives, `also` where it may be instead (a late tick, a late chunk), and
        first_segment_ns the time it has from there to point 0."""
        lim, wrap = self.limits, self.wrap
        if lim.lower is None and lim.max_step is None and self.ramp_start_ns is None and \
                wrap is None:
            return actions
        out = np.array(actions, dtype=np.float64, copy=True)
        if lim.lower is not None:  # before the ramp: it walks in from outside the bounds
            clipped = np.clip(out, lim.lower, lim.upper)
            self.clamped += int(np.count_nonzero(clipped != out))
            out = clipped
        if self.ramp_start_ns is not None:
            for j, t in enumerate(due_ns.tolist()):
                w = self.ramp_weight(t)
                if w < 1.0:
                    out[j] = self.ramp_from + w * joint_delta(self.ramp_from, out[j], wrap)
            # kept past the end of this chunk: a later chunk (replanned early) may start
            # before this one's last point and must ramp too; clear() ends it with the motion
        if lim.max_step is not None and reference is not None:
            prev = np.asarray(reference, dtype=np.float64)
            for j in range(len(out)):
                limit = lim.max_step if j else shared_step(lim.max_step,
                                                           self.first_share(first_segment_ns))
                wanted = joint_delta(prev, out[j], wrap)
                step = np.clip(wanted, -limit, limit)
                if j == 0 and len(also):
                    step = self._within_reach_of_all(step, prev, also, limit)
                self.rate_limited += int(np.count_nonzero(step != wanted))
                out[j] = prev + step
                prev = out[j]
        if wrap is not None:
            out = unwrapped(out, reference, wrap)
        return out

    def beyond_bounds_line(self, targets: np.ndarray, names: Sequence[str]) -> str:
        """The policy's own `targets` (a chunk's points, before the execution mode mixes in
        the running plan, which may lie outside the bounds on the ramp-in's walk back) beyond
        the bounds, naming the joints and how far ('' when none is): a policy asking for
        positions outside them again and again is worth a look (bounds too tight, a joint
        mapped wrongly, data unlike training), not only the actions_clamped counter."""
        lim = self.limits
        if lim.lower is None:
            return ''
        targets = np.asarray(targets, dtype=np.float64)
        beyond = np.maximum(lim.lower - targets, targets - lim.upper).max(axis=0)
        if not (beyond > 0).any():
            return ''
        said = [f'{names[j]} by up to {beyond[j]:.4g} (bounds [{lim.lower[j]:.4g}, '
                f'{lim.upper[j]:.4g}])' for j in np.flatnonzero(beyond > 0).tolist()]
        return ('the policy asked for targets beyond the action bounds, clamped to them: '
                + '; '.join(said) + ' (actions_clamped on /diagnostics)')

    def _within_reach_of_all(self, step: np.ndarray, prev: np.ndarray,
                             also: Sequence[np.ndarray], limit: np.ndarray) -> np.ndarray:
        """Point 0's step from prev (within `limit`, its share of max_step) kept within
        `limit` of every point in `also` too where possible, else within max_step of them
        (the per-period limit from a point a controller may hold), else within max_step of
        the last of them (the point due just before point 0, which a forward controller holds
        when point 0 comes), else from prev alone."""
        deltas = [joint_delta(prev, a, self.wrap) for a in also]
        zero = np.zeros_like(prev)
        done = np.zeros(step.shape, dtype=bool)
        for points, reach in ((deltas, limit), (deltas, self.limits.max_step),
                              (deltas[-1:], self.limits.max_step)):
            held = np.vstack([zero, *points])
            low = np.maximum(held.max(axis=0) - reach, -limit)
            high = np.minimum(held.min(axis=0) + reach, limit)
            # held points exactly 2 * reach apart (a plan at the step limit) leave one value,
            # which rounding put a hair below low: it was taken as none, and point 0 limited
            # from prev alone (up to 1.9 max_step from the point a forward controller holds)
            use = ~done & (low <= high + 1e-9 * np.maximum(1.0, np.abs(reach)))
            step = np.where(use, np.clip(step, low, np.maximum(low, high)), step)
            done |= use
        return step

    def clear(self) -> None:
        self.ramp_from = self.ramp_start_ns = None


@dataclass(frozen=True)
class Hold:
    """The stop command: hold `position` (measured, else commanded, now), due at stamp_ns +
    dt (one-point trajectory). With `path` (stop_deceleration), a trajectory controller gets
    the points that decelerate the commanded motion to rest instead (point i due
    (i+1)*step_ns after the stop arrives; the last, the rest position, may lie v^2/(2a)
    beyond the plan's points). A streamed controller goes to a point at once, never to a
    target that far ahead: with `streamed`, the node sends a forward controller the stop's
    points one by one as they fall due (PlanningLoop.stop_point_due), as it streams a plan's;
    else (a stop after which the node streams no more: shutdown, deactivation), and always a
    pose target, `position` at once. A twist servo gets a zero twist."""

    # 'disabled' | 'deactivated' | 'stale' | 'shutdown' | 'reset' | 'clock_back' | 'no_clock'
    # | 'episode_start'
    reason: str
    position: np.ndarray
    stamp_ns: int
    source: str  # 'measured' | 'commanded'
    path: np.ndarray | None = None  # (N, D) positions; None: the one point `position`
    step_ns: int = 0  # between the path's points (0: no path)
    streamed: bool = False  # forward controllers get the stop point by point, not `position`

    @property
    def points(self) -> np.ndarray:
        """The trajectory's positions, (N, D): the path, or the one point."""
        return self.position.reshape(1, -1) if self.path is None else self.path


def far_outside_bounds(values: np.ndarray, limits: JointLimits) -> list[int]:
    """The dimensions whose measured value lies outside the action bounds by more than
    far_outside_margin (none where a bound is infinite): no arm stands there, a driver's
    garbage (1e30) does, and taken as the measured position it became a stop's hold point and
    a ramp-in's start. A value a little outside is believed: an arm's home pose outside the
    training actions' range, which the ramp-in walks back in, or a joint locked by equal
    bounds read with its sensor's noise."""
    if limits.lower is None or limits.upper is None:
        return []
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid='ignore'):  # inf - inf: no margin, nothing refused
        margin = far_outside_margin(limits.lower, limits.upper)
        far = (values < limits.lower - margin) | (values > limits.upper + margin)
    return np.flatnonzero(far & np.isfinite(margin)).tolist()


def far_outside_margin(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """How far outside its bounds a measured value is still believed: their width, but at
    least their magnitude and 1 (a joint locked by equal bounds has no width: its noise
    would be refused, and with it every message measuring it)."""
    return np.maximum.reduce([upper - lower, np.abs(lower), np.abs(upper),
                              np.ones_like(np.asarray(lower, dtype=np.float64))])


def hold_point(reason: str, stamp_ns: int, measured: np.ndarray | None,
               commanded: np.ndarray | None) -> Hold | None:
    """Hold at the measured position, else at `commanded` (where the controller commands the
    arm now); None: nothing moved.

    Not clamped to the action bounds: an arm measured a little outside them (a home pose)
    holds where it stands, where a clamp would jump it to the bound within a period. A
    measurement far outside them is no arm's (far_outside_bounds): the loop refuses it on
    receipt, so without a fresh one the hold falls back to the commanded position, which
    the envelope kept within the bounds (or on the ramp-in's walk back into them)."""
    if measured is not None:
        return Hold(reason, np.asarray(measured, dtype=np.float64).copy(), int(stamp_ns),
                    'measured')
    if commanded is not None:
        return Hold(reason, np.asarray(commanded, dtype=np.float64).copy(), int(stamp_ns),
                    'commanded')
    return None


# a slow deceleration from a high speed gives at most this many points (spaced wider than a
# control period then): a trajectory message of a few tens of kB
MAX_STOP_POINTS = 1000
# the longest a decelerating stop lasts (a minute: no arm's stop is longer): a deceleration
# that would take longer stops harder, to be at rest by then (a tiny stop_deceleration,
# 1e-12, overflowed the path's times: the node crashed without a hold; a parameter review)
MAX_STOP_S = 60.0


def stop_path(start: np.ndarray, velocity: np.ndarray, deceleration: np.ndarray, dt_ns: int,
              limits: JointLimits | None = None, max_duration_ns: int | None = None
              ) -> tuple[np.ndarray, int] | None:
    """The decelerating stop (stop_deceleration): from the commanded position `start` moving
    at `velocity` (units/s), every dimension slowed uniformly to rest at one time T, the
    first to need it at its `deceleration` (the others at less: the motion keeps its
    direction, no joint above its limit), so T = max |v| / deceleration; points every control
    period (wider past MAX_STOP_POINTS) until T, the last at the rest position, each within
    the action bounds, or between them and a start outside them (the ramp-in walking the arm
    back in: hold_point does not clamp either). (positions (N, D), step ns); None when
    nothing moves (the one-point hold). Positions only, as the chunks are published: the
    controller's interpolation between them follows the deceleration. `max_duration_ns`
    caps T (a harder stop, the motion shorter): a stop on stale inputs moves blind no longer
    than the running plan would have; None (at most 0) there: the one-point hold. T is at
    most MAX_STOP_S whatever the deceleration."""
    start = np.asarray(start, dtype=np.float64)
    v = np.asarray(velocity, dtype=np.float64)
    with np.errstate(over='ignore'):  # a speed over a tiny deceleration: inf, capped below
        t_stop_s = float(np.max(np.abs(v) / np.asarray(deceleration, dtype=np.float64)))
    if np.isinf(t_stop_s) or t_stop_s > MAX_STOP_S:
        t_stop_s = MAX_STOP_S
    if max_duration_ns is not None:
        t_stop_s = min(t_stop_s, max_duration_ns / 1e9)
    if not np.isfinite(t_stop_s) or t_stop_s <= 0:
        return None
    t_stop_ns = t_stop_s * 1e9
    n = max(1, int(np.ceil(t_stop_ns / dt_ns - 1e-9)))
    step_ns = int(dt_ns)
    if n > MAX_STOP_POINTS:
        n, step_ns = MAX_STOP_POINTS, int(np.ceil(t_stop_ns / MAX_STOP_POINTS))
    t = np.minimum(np.arange(1, n + 1) * step_ns / 1e9, t_stop_s)[:, None]
    path = start + v * t - v / (2 * t_stop_s) * t ** 2  # at T: start + v * T / 2, at rest
    if limits is not None and limits.lower is not None:
        # the bounds widened to take in the start: a stop during the ramp-in's walk back
        # into them (a start outside) goes on from where the arm is, never leaps to a bound
        path = np.clip(path, np.minimum(limits.lower, start), np.maximum(limits.upper, start))
    return path, step_ns
