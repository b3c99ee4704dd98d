"""The policy node's planning state machine, without ROS, so that every rule is unit-tested.

Samples (stream, stamp, value) go into the ObservationHistory; on each message and clock tick
`poll` says whether to sample a chunk now (a PlanRequest: the observation, the episode's
generator, an opaque context) or why not (a Wait); the sampled chunk goes to `finish`, which
gives the Plan to publish or why not (a Drop): the points already due are dropped (the
measured latency is skipped: the plan is stamped for when its first point runs), the rest
combined with the running plan by the execution mode (runtime/execution.py) and passed
through the safety envelope (runtime/safety.py). A stop (disable, stale inputs or an
episode start in realtime, shutdown) gives a Hold: what makes the trajectory controller stand
still.

In realtime a node clock at 0 (use_sim_time before the first /clock) leaves nothing to judge
an input's freshness by: nothing is filed (before_clock) or planned until it runs; in lockstep
stamp 0 is the sim's first step. Inputs that never come, and joint states that never give the
state joints (unheard_inputs, unread_inputs), are reported after INPUT_WAIT_NS. A clock
going back (a sim or looped bag restarted) is looked for on every poll in realtime, enabled or
not, and taken from an episode announced before the last one's start in both modes: the old
clock's history is forgotten (clock_jumps_back).

Camera frames are filed undecoded (runtime/camera_frames.py): the observation a plan is
made on decodes the frames it uses, once each; one that cannot be used refuses that
observation (BAD_FRAME). Inputs are checked before they are filed: a stamp further than
stamp_tolerance from the node's clock is a bad message (else one sample stamped an hour
ahead would make every later one "not newer" and stall the node); an older stamp than the
stream's newest is counted and reported apart from an equal one (a re-send). Rates count
filed samples only, in realtime on their stamps (the node clock: a sim at half the wall's
pace is not 'slow').

Rules kept from the in-process evaluation, so that `dp-ros eval --via ros` matches it bit for
bit: one generator per episode, seeded sample_seed * 1_000_003 + env seed, used by the chunks
in order; in lockstep "now" is max(clock, newest observation), a plan is made only on the
observation of the current sim time, once every stream's newest sample is of that one time
(a step's: not between the arm's mid-step joint states and the boundary's frame), and a
lockstep sim that announces no episodes starts one at its first observation. A chunk sampled
before a reset or a disable is discarded (the generation counter) and its observation may be
planned again (a lockstep sim waits at that step).

No threads and no lock of its own: the caller serialises every call.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dp_ros.runtime.action_schedule import ActionSchedule, Plan
from dp_ros.runtime.camera_frames import CameraFrame, FrameBook
from dp_ros.runtime.execution import (
    ChunkExecution,
    TimedChunk,
    commanded_at,
    commanded_velocity,
)
from dp_ros.runtime.input_checks import BadInput, shorten
from dp_ros.runtime.observation_history import Observation, ObservationHistory
from dp_ros.runtime.policy_node_config import (
    MAX_SEED,
    CommandGroup,
    PolicyNodeConfig,
    ResolvedSetup,
)
from dp_ros.runtime.safety import (
    Hold,
    SafetyEnvelope,
    far_outside_bounds,
    hold_point,
    stop_path,
)
from dp_ros.runtime.state_range import far_state_warning
from dp_ros.runtime.twist_servo import twist_toward_plan
from dp_ros.stamps import seconds_to_ns

REFUSALS_TO_LOG = ('stale', 'gap')  # input refusals worth a warning; 'empty'/'not_full' pass
# an input filed at under this share of the rate its training data was recorded at (over a
# full rate window) is slow: its samples at the observation times are older than in training
SLOW_INPUT_FRACTION = 0.7
# the foreign joint names kept per stream (inputs_unread's warning names them), each cut to
# NAME_CHARS: every distinct one was kept, and a driver's thousands of generated names grew
# the node without bound and made a 631 KB log line
MAX_OTHER_NAMES, NAME_CHARS = 64, 100
RATE_WINDOW_NS = 2_000_000_000
# an input that gave nothing this long after the first check (a topic nobody publishes, joint
# names the topic does not have) is reported; shorter would warn about drivers still starting
INPUT_WAIT_NS = 5_000_000_000
WAITING_FOR_CLOCK = 'waiting for /clock'  # the state while a realtime node's clock reads 0
WAITING_FOR_STEP = 'waiting for the observation of the current sim time'  # lockstep
# an observation refused because a camera frame it uses cannot be decoded or fitted (counted
# as a bad message of its kind once): newer frames move the observation on
BAD_FRAME = 'inputs: bad frame'
# the state while every input is stamped before the announced episode's start, for longer
# than max_input_age_s (a start ahead of the node clock): nothing is filed, and without a
# word the node looked idle ('inputs: empty')
BEFORE_EPISODE = 'inputs: before the episode start'
NO_CLOCK = ('waiting for /clock: use_sim_time is true and the node clock has not started (it '
            'reads 0), so no input can be judged fresh or stale; nothing is filed or planned '
            'until it runs (logged once; inputs_before_clock on /diagnostics)')


# lockstep: a step whose chunk failed is planned again at most this many times
LOCKSTEP_RETRIES = 3

# a stamp this far from the node clock (a year) is on another kind of clock: a sim's
SIM_CLOCK_GAP_NS = 365 * 24 * 3600 * 10**9


@dataclass(frozen=True)
class PlanContext:
    """Travels with a sampling job: which episode/plan state and observation it belongs to."""

    generation: int
    t_obs_ns: int


@dataclass(frozen=True)
class PlanRequest:
    """Sample a chunk on `observation` with `generator`; hand `context` back to finish()."""

    observation: Observation
    generator: Any  # torch.Generator of the episode
    context: PlanContext
    # a hint to log: the state far outside the training range (once per enable)
    warning: str = ''


@dataclass(frozen=True)
class Wait:
    """No plan now; `reason` is the diagnostics state, `detail` a refusal worth logging."""

    reason: str
    detail: str = ''

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Drop:
    """A sampled chunk not published: 'error', 'discarded', 'non_finite', 'all_late' or
    'no_reference' (a step limit or ramp-in needs the measured position, none is known);
    detail: what the line says of this one (the joints unmeasured, how late it came)."""

    reason: str
    detail: str = field(default='', compare=False)  # Drop('all_late') == any all_late drop

    def __bool__(self) -> bool:
        return False


DROP_WARNINGS = {  # what to log (rate-limited) when a chunk is dropped for these reasons
    'non_finite': 'the policy produced non-finite actions; chunk not published',
    'all_late': 'a chunk came after every one of its points was due; none published',
    'no_reference': 'a step limit or ramp-in needs the measured position of the action '
                    'joints, and the joint-state topics have none (fresh): chunk not published',
}


# stops for which the node no longer sees the arm (its inputs, or its clock): a decelerating
# stop (stop_deceleration) lasts at most what the running plan still commanded
BLIND_STOPS = ('stale', 'no_clock', 'clock_back')
# stops after which the node streams nothing more, as it goes quiet: a forward controller gets
# the hold point at once (a stopped clock has no path at all: VOID_PLAN_STOPS)
UNSTREAMED_STOPS = ('shutdown', 'deactivated')
# stops after which the commanded motion no longer says where the arm is: the clock went back
# or reads 0 (the plan's times are on the old clock: "now" is before all of them) or a new
# episode began (a sim's reset moves the robot): no decelerating path, the one-point hold at
# the measured position
VOID_PLAN_STOPS = ('clock_back', 'no_clock', 'episode_start')

HOLD_WARNINGS = {  # what to log (once per reason) when poll() stops a running plan
    'stale': 'inputs went stale while a plan ran (or no camera frame could be decoded for '
             'max_input_age_s): holding (logged once; holds_stale on /diagnostics)',
    'clock_back': 'the node clock went back by more than max_input_age_s while a plan ran (a '
                  'sim restarted under use_sim_time, a wall clock stepped back): holding, '
                  'history cleared (logged once; holds_clock_back and clock_jumps_back on '
                  '/diagnostics)',
    'no_clock': 'the node clock reads 0 while a plan ran (use_sim_time turned on, no /clock): '
                'holding (logged once; holds_no_clock on /diagnostics)',
}


@dataclass(frozen=True)
class EpisodeStart:
    episode: Any  # the announcement's name for it, for the log (at most EPISODE_NAME_CHARS)
    seed: int
    start_ns: int


# the longest announcement read (the sim's are ~80 characters), and the longest episode name
# logged: a megabyte-long or 100,000-deep one was logged whole or crashed the node
# (RecursionError from json, on a latched topic: again on every restart)
MAX_ANNOUNCEMENT_CHARS = 4096
EPISODE_NAME_CHARS = 200


def parse_episode_start(text: str) -> EpisodeStart:
    """The sim's announcement JSON {"episode", "seed", "start_ns"}; ValueError when malformed."""
    shown = shorten(repr(text))
    if len(text) > MAX_ANNOUNCEMENT_CHARS:
        raise ValueError(f'{shown}: {len(text)} characters, an episode start has at most '
                         f'{MAX_ANNOUNCEMENT_CHARS}')
    try:
        info = json.loads(text)
        seed, start_ns = int(info['seed']), int(info['start_ns'])
    except (ValueError, KeyError, TypeError, OverflowError,  # 1e999 -> inf
            RecursionError) as exc:  # nested past the parser's depth
        raise ValueError(f'{shown}: {shorten(repr(exc))}') from None
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f'{shown}: seed {seed} outside [0, {MAX_SEED}]')
    if not 0 <= start_ns < 2**63:  # no clock reads it (a ROS time is an int64 of ns)
        raise ValueError(f'{shown}: start_ns {start_ns} outside [0, 2^63)')
    episode = info.get('episode')
    if not isinstance(episode, (int, str, type(None))) or len(str(episode)) > EPISODE_NAME_CHARS:
        episode = shorten(str(episode), EPISODE_NAME_CHARS)
    return EpisodeStart(episode, seed, start_ns)


@dataclass(frozen=True)
class EpisodeTaken:
    """An announced episode start_episode took; `hold`: the stop to publish (realtime, a plan
    was running: the controller would run its rest into the new episode, and with the plan
    forgotten no later stop would send one). Lockstep: none, the sim's follower starts
    afresh, and a hold would be taken as the new episode's step-0 action."""

    hold: Hold | None = None


# the Filing kinds that are bad messages (counted by the loop; the node logs them)
BAD_FILINGS = ('stamp_future', 'stamp_past', 'measured_out_of_bounds')


@dataclass(frozen=True)
class Filing:
    """What add() did with a sample: 'filed', 'duplicate' (the newest stamp again), 'older'
    (behind the newest), 'before_episode', 'stamp_future', 'stamp_past' or
    'measured_out_of_bounds' (bad messages: BAD_FILINGS)."""

    kind: str
    detail: str = ''

    def __bool__(self) -> bool:
        return self.kind == 'filed'


@dataclass
class StreamStats:
    """Per input stream: messages received, filed, refused as not newer; filed rate."""

    received: int = 0
    filed: int = 0
    duplicates: int = 0  # the newest stamp again (e.g. the sim's lockstep re-sends)
    older: int = 0  # stamped before the newest sample: out of order, or a clock jump back
    before_clock: int = 0  # skipped: the node clock did not run yet (realtime, use_sim_time)
    before_episode: int = 0  # stamped before the episode's start: not filed
    # messages on its topic that gave none of its joints, only action joints' positions
    # (another driver's), and the joint names they gave
    other_joints: int = 0
    other_names: dict[str, None] = field(default_factory=dict)  # the first MAX_OTHER_NAMES
    other_names_left_out: int = 0  # names given beyond them (each time given)
    arrivals: deque = field(default_factory=lambda: deque(maxlen=400))  # wall ns of filed
    stamps: deque = field(default_factory=lambda: deque(maxlen=400))  # their stamps

    def rate_hz(self, now_wall_ns: int, window_ns: int = RATE_WINDOW_NS,
                on_stamps: bool = False, outage_ns: int | None = None) -> float:
        """Filed samples a second over the last window: of wall time, or (on_stamps) of the
        stamps' clock, the node's: a sim running slower or faster than the wall changes the
        one, not the other. 0 once none was filed for a window of wall time. `outage_ns`
        (on_stamps): gaps between stamps longer than this are left out, time and sample
        (an outage, which the stale stop reports, is not a slow driver), unless every gap
        is that long (then that is the rate)."""
        if not self.arrivals or now_wall_ns - self.arrivals[-1] > window_ns or \
                (on_stamps and not self.stamps):  # (stamps: cleared with the history)
            return 0.0
        times, now = (self.stamps, self.stamps[-1]) if on_stamps else (self.arrivals,
                                                                       now_wall_ns)
        recent = [t for t in times if now - t <= window_ns]
        if len(recent) < 2:
            return 0.0
        samples, span = len(recent) - 1, max(now - recent[0], 1)
        if on_stamps and outage_ns is not None:
            gaps = [gap for gap in np.diff(recent).tolist() if gap > outage_ns]
            if len(gaps) < samples:
                samples, span = samples - len(gaps), max(span - sum(gaps), 1)
        return samples * 1e9 / span

    def window_full(self, now_wall_ns: int, window_ns: int = RATE_WINDOW_NS,
                    on_stamps: bool = False) -> bool:
        """Whether filing began a whole window ago, of wall time or (on_stamps) of the
        stamps' (or the deque is full): a rate over less says little."""
        times, now = (self.stamps, self.stamps[-1] if self.stamps else 0) if on_stamps \
            else (self.arrivals, now_wall_ns)
        return bool(times) and (len(times) == times.maxlen or now - times[0] >= window_ns)


class PlanningLoop:
    """History, schedule, episode generator and enable/arm state of one policy node."""

    def __init__(self, cfg: PolicyNodeConfig, setup: ResolvedSetup, device: Any = 'cpu'):
        self.cfg, self.setup, self.device = cfg, setup, device
        self.lockstep = cfg.lockstep
        self.announced = bool(cfg.episode_start_topic)  # episodes come with (seed, start)
        self.history = ObservationHistory(setup.streams, setup.n_obs_steps, setup.dt_ns,
                                          setup.max_age_ns, keep_ns=setup.keep_ns,
                                          gap_ns=setup.gap_ns,
                                          reference=setup.reference_stream)
        # lockstep runs a plan out and keeps point 0 (the sim waits for it): no threshold, no lead
        self.schedule = ActionSchedule(
            setup.dt_ns, replan_threshold=0 if cfg.lockstep else cfg.replan_threshold,
            lead_ns=0 if cfg.lockstep else seconds_to_ns(cfg.action_lead_s))
        # blend starts from the running plan as the controller executes it: a lockstep sim's
        # follower holds each point, a joint_trajectory_controller interpolates (_controller_at)
        self.execution = ChunkExecution(cfg.execution_mode, cfg.ensemble_decay,
                                        cfg.blend_steps, interpolated=not cfg.lockstep)
        self.safety = SafetyEnvelope(setup.limits, setup.dt_ns, setup.ramp_in_ns)
        self.stats = {name: StreamStats() for name in setup.streams}
        self.frames = FrameBook()  # the camera frames filed undecoded, until none can be used
        self.bad: Counter = Counter()
        self.holds: Counter = Counter()  # stop commands published, per reason
        self.enabled = cfg.start_enabled
        self.armed = not self.announced  # an announced episode (or no episodes at all)
        self.episodes_started = 0  # announced episodes taken (start_episode)
        self.moving = False  # a plan was published since the last stop: a stop must hold
        # an episode start forgot a running plan without holding (no measurement since the
        # start to hold at): owed, sent once one comes or max_input_age_s on (_owed_stop),
        # or by the next stop before that
        self.stop_owed = False
        # with a stop owed: the forgotten plan (where the controller still runs it), when the
        # episode took over and from when a measurement is of the new episode
        self._owed_plan: tuple[TimedChunk | None, np.ndarray | None] | None = None
        self._owed_at_ns = self._owed_since_ns = 0
        # the node clock at the first input stamped before the episode start since one was
        # filed (None: none): such inputs for longer than max_input_age_s are BEFORE_EPISODE
        self._before_episode_from: int | None = None
        self.generation = 0
        self._retried: tuple[int | None, int] = (None, 0)  # lockstep: (step, retries of it)
        self.env_seed = cfg.env_seed
        self.episode_start_ns: int | None = None  # of the newest announced episode
        self.generator = self._new_generator()
        self.last_t_obs_ns: int | None = None
        # per action joint: its newest measured position and that message's stamp
        n_action = len(cfg.action_joint_names)
        self._measured = np.full(n_action, np.nan)
        self._measured_ns = np.zeros(n_action, dtype=np.int64)
        self._ever_measured = np.zeros(n_action, dtype=bool)  # kept across resets
        self.commanded: TimedChunk | None = None  # the published points, as they replace
        # realtime: where a joint_trajectory_controller takes the arm (_controller_at): the
        # published points, and from each chunk's landing (action_lead_s after it is sent) a
        # straight line to its first point, which replaces the running plan there, not at its
        # first point's due time; lockstep: the commanded points (the sim's follower)
        self.controlled: TimedChunk | None = None
        # realtime, after a stop (hold or decelerating path): where the controller takes the
        # arm meanwhile, from where it was commanded at the stop, for a motion beginning
        # while it runs (a re-enable): None where the stop voids the plan's times
        self.stop_trajectory: TimedChunk | None = None
        self.motion_start: np.ndarray | None = None  # the measured position a motion began at
        self.streamed_due_ns: int | None = None  # due time of the newest point streamed
        # a decelerating stop forward controllers still get point by point (stop_point_due):
        # where the controller was commanded at the stop, then the path; None once its last
        # point is sent, or a plan takes over
        self.stopping: TimedChunk | None = None
        self._stop_streamed_ns: int | None = None  # due time of its newest point sent
        # forward controllers (streamed, not pose targets: a pose's orientation fields are not
        # decelerated the short way round) get a decelerating stop point by point
        self.forward_streams = any(group.stream and not group.pose
                                   for group in setup.commands)
        # JointTrajectory topics, whose stop lands action_lead_s after it is sent
        self.trajectory_topics = any(not (group.stream or group.twist)
                                     for group in setup.commands)
        self.state = 'starting'
        self.published = self.discarded = self.errors = self.all_late = 0
        self.points_streamed = 0
        self.stop_points_streamed = 0  # of decelerating stops (stop_point_due)
        self.pose_skipped = 0  # streamed pose targets not sent: a quaternion of no direction
        self.twists_sent = 0
        self.twists_unmeasured = 0  # zero twists sent for want of a fresh measured pose
        self.no_reference = 0
        self.clock_jumps = 0  # times the node clock went back by more than max_input_age_s
        # observations planned on whose state is far outside the training range, and whether
        # that was said since the last enable (state_range.py)
        self.far_states = 0
        self._far_said = False
        self._latest_now: int | None = None  # the newest realtime "now" a poll saw
        self._first_check_ns: int | None = None  # wall time of the first input check
        # the time of the first observation refused for a bad frame since one decoded (None:
        # the last one tried decoded): undecodable that long, inputs count as stale
        self._frames_failing_from: int | None = None

    @property
    def clamped(self) -> int:
        return self.safety.clamped

    # ------------------------------------------------------------------ inputs
    def now_ns(self, clock_ns: int) -> int:
        """In lockstep the newest observation is the sim's "now", whatever its clock says."""
        if self.lockstep:
            t_last = self.history.t_last()
            if t_last is not None:
                return max(clock_ns, t_last)
        return clock_ns

    def received(self, stream: str, wall_ns: int | None = None) -> None:
        """A message arrived (valid or not); rates count filed samples only (add())."""
        self.stats[stream].received += 1

    def bad_message(self, kind: str) -> None:
        self.bad[kind] += 1

    def waiting_for_clock(self, clock_ns: int) -> bool:
        """In realtime, whether the node clock has not started (use_sim_time before the first
        /clock): nothing to judge an input's freshness by. Lockstep: never (stamp 0 is the
        sim's first step)."""
        return not self.lockstep and clock_ns <= 0

    def before_clock(self, stream: str, clock_ns: int) -> bool:
        """Whether a sample (or measurement) of `stream` must be skipped, uncounted as filed,
        because the node clock has not started (waiting_for_clock): filed then, a sample
        stamped on another clock (the wall's) would be fresh for ever at "now" 0 and make
        every later one on the sim's clock "older". Counted."""
        if not self.waiting_for_clock(clock_ns):
            return False
        self.stats[stream].before_clock += 1
        return True

    def other_joints(self, stream: str, names: Sequence[str]) -> None:
        """A message on the stream's topic that gave none of its joints (another driver's on
        a shared topic: action joints' positions at most): counted with the names it gave,
        for unread_inputs (a topic that only ever gives such messages)."""
        stats = self.stats[stream]
        stats.other_joints += 1
        for name in names:
            name = shorten(name, NAME_CHARS)
            if name in stats.other_names:
                continue
            if len(stats.other_names) < MAX_OTHER_NAMES:
                stats.other_names[name] = None
            else:
                stats.other_names_left_out += 1

    def check_stamp(self, stamp_ns: int, clock_ns: int | None) -> Filing | None:
        """A bad-message Filing when the stamp is too far from the clock (None: fine),
        counted (stamp_problem)."""
        bad = self.stamp_problem(stamp_ns, clock_ns)
        if bad is not None:
            self.bad[bad.kind] += 1
        return bad

    def stamp_problem(self, stamp_ns: int, clock_ns: int | None) -> Filing | None:
        """A bad-message Filing when the stamp is too far from the clock (None: fine), not
        counted.

        Not checked while the clock reads 0 (sim time before the first /clock message). In
        realtime a stamp ahead by more than max_input_age_s is refused too, also with
        stamp_tolerance_s 0 (no limit of its own): the input would count as fresh that much
        longer, delaying the stale stop.
        """
        tolerance = self.setup.stamp_tolerance_ns  # 0: no limit of its own
        if clock_ns is None or clock_ns <= 0:
            return None
        offset = int(stamp_ns) - int(clock_ns)
        if offset > 0 and not self.lockstep and (not tolerance
                                                 or self.setup.max_age_ns < tolerance):
            limit, name = self.setup.max_age_ns, 'max_input_age_s'
        elif not tolerance:
            return None
        else:
            limit, name = tolerance, 'stamp_tolerance_s'
        if abs(offset) <= limit:
            return None
        kind = 'stamp_future' if offset > 0 else 'stamp_past'
        # a stamp decades from its clock's: one of the two clocks is a sim's
        sim = (' (a sim\'s stamps on a node without use_sim_time, or the other way round: set '
               'the parameter use_sim_time as the sender runs)' if abs(offset) > SIM_CLOCK_GAP_NS
               else '')
        return Filing(kind, f'stamped {abs(offset) / 1e9:.3f} s '
                            f"{'ahead of' if offset > 0 else 'behind'} the node clock (limit "
                            f'{limit / 1e9:g} s: parameter {name}); is the '
                            f"sender's clock synchronised with this node's?{sim}")

    def add(self, stream: str, stamp_ns: int, value: Any, clock_ns: int | None = None,
            wall_ns: int | None = None, measured: np.ndarray | None = None) -> Filing:
        """File a converted sample if its stamp is plausible and newer than the stream's newest.

        clock_ns: the node clock, to check the stamp against (None: no check); wall_ns: the
        arrival time on the wall clock, for the filed rate (None: none counted); measured: the
        action joints' positions the message gives (measure()), taken only if its stamp passes
        the check and none lies far outside the action bounds (else the message is refused
        whole: 'measured_out_of_bounds').
        """
        bad = (self.check_stamp(stamp_ns, clock_ns) if measured is None
               else self.add_measurement(stamp_ns, measured, clock_ns))
        if bad is not None:
            return bad
        if self.history.episode_start_ns is None and self.lockstep and not self.announced:
            # a lockstep sim without episode announcements: its first observation starts the
            # episode (padded, as the in-process evaluation pads), else it waits forever
            self.history.start_episode(stamp_ns)
        stats = self.stats[stream]
        newest = self.history.newest_stamp(stream)
        if self.history.add(stream, stamp_ns, value):
            if isinstance(value, CameraFrame):
                self.frames.filed(stream, stamp_ns, value)
                self._release_frames(clock_ns)
            stats.filed += 1
            self._before_episode_from = None
            stats.stamps.append(int(stamp_ns))
            if wall_ns is not None:
                stats.arrivals.append(wall_ns)
            return Filing('filed')
        if newest is not None and stamp_ns == newest:
            stats.duplicates += 1
            return Filing('duplicate')
        if newest is not None and stamp_ns < newest:
            stats.older += 1
            why = ('; in lockstep: a sim restarted alone? ~/reset the node' if self.lockstep
                   else '')
            return Filing('older', f'{stream}: stamped {(newest - stamp_ns) / 1e6:.1f} ms '
                                   'before the newest sample of its stream (out of order, or '
                                   f'the clock went back{why}); skipped')
        stats.before_episode += 1
        if self._before_episode_from is None:
            self._before_episode_from = stamp_ns if clock_ns is None else clock_ns
        return Filing('before_episode')

    def _release_frames(self, clock_ns: int | None) -> None:
        """Free the camera frames no later observation can use. The history's t_last never
        goes back (while it keeps its samples), so no observation asks for a time before
        t_last - (n_obs_steps-1)*dt; in realtime none either before max_input_age_s before
        the clock (an older t_last is stale), less another max_input_age_s (a clock going back
        less than that keeps the history). Frames the history no longer keeps go too."""
        s = self.setup
        span = (s.n_obs_steps - 1) * s.dt_ns
        bounds = []
        t_last = self.history.t_last()
        if t_last is not None:
            bounds.append(t_last - span)
        if not self.lockstep and clock_ns is not None and clock_ns > 0:
            bounds.append(clock_ns - 2 * s.max_age_ns - span)
        if bounds:
            self.frames.release_before(max(bounds), self.history.oldest_stamp)

    def add_measurement(self, stamp_ns: int, measured: np.ndarray, clock_ns: int | None = None
                        ) -> Filing | None:
        """Action joints' positions a message gives, taken (measure()) if its stamp passes
        check_stamp and none is far outside the action bounds, as add() takes them; the
        bad-message Filing otherwise. Alone: a message
        that files no sample (another driver's joints on a shared topic)."""
        bad = self.check_stamp(stamp_ns, clock_ns)
        if bad is None:
            bad = self._implausible(measured)
        if bad is None:
            self.measure(stamp_ns, measured)
        return bad

    def _implausible(self, measured: np.ndarray) -> Filing | None:
        """A bad-message Filing ('measured_out_of_bounds', counted) for a measurement far
        outside the action bounds (safety.far_outside_bounds): held at, it drove the arm
        there; the last plausible one (if fresh), else the commanded position, is held."""
        far = far_outside_bounds(measured, self.setup.limits)
        if not far:
            return None
        self.bad['measured_out_of_bounds'] += 1
        names = self.cfg.action_joint_names
        lower, upper = self.setup.limits.lower, self.setup.limits.upper
        return Filing('measured_out_of_bounds', 'measures ' + ', '.join(
            f'{names[i]} {float(measured[i]):.6g} (bounds [{lower[i]:g}, {upper[i]:g}])'
            for i in far) + ': far outside the action bounds, no arm stands there; not taken '
            'as the measured position (a stop holds at the last plausible one, else where the '
            'controller is commanded)')

    def measure(self, stamp_ns: int, positions: np.ndarray) -> None:
        """Measured positions of the action joints, NaN for those a message does not give (an
        arm's joint states lack its gripper's): where a ramp-in starts, what a stop holds.
        A reading older than a joint's newest (out of order) does not replace it."""
        positions = np.asarray(positions, dtype=np.float64)
        known = np.isfinite(positions) & (int(stamp_ns) >= self._measured_ns)
        self._measured[known] = positions[known]
        self._ever_measured |= known
        self._measured_ns[known] = int(stamp_ns)

    def measured_at(self, now_ns: int, columns: Sequence[int] | None = None
                    ) -> np.ndarray | None:
        """The measured position of every action joint (or of those in `columns`: a twist
        servo's pose, not the gripper beside it), if each is fresh (no older than
        max_input_age_s); None otherwise. All action joints are returned either way."""
        which = slice(None) if columns is None else list(columns)
        if np.isnan(self._measured[which]).any() or \
                np.any(int(now_ns) - self._measured_ns[which] > self.setup.max_age_ns):
            return None
        return self._measured.copy()

    def unmeasured(self, now_ns: int) -> str:
        """Which action joints measured_at lacks at now_ns, and why: never measured (no
        state topic gives it: a joint must be among state_joint_names, on a subscribed
        joint-state topic, to be measured), not since a reset or clock jump forgot the
        measurements, or measured longer ago than max_input_age_s."""
        names = self.cfg.action_joint_names
        missing = np.isnan(self._measured)
        never = [names[i] for i in np.flatnonzero(missing & ~self._ever_measured)]
        forgotten = [names[i] for i in np.flatnonzero(missing & self._ever_measured)]
        old = [names[i] for i in np.flatnonzero(~missing & (
            int(now_ns) - self._measured_ns > self.setup.max_age_ns))]
        parts = []
        if never:
            parts.append(f"never measured: {', '.join(never)} (no subscribed joint-state "
                         'topic has given it: an action joint is measured from the state '
                         'topics only)')
        if forgotten:
            parts.append(f"not measured since the reset or clock jump: {', '.join(forgotten)}")
        if old:
            parts.append(f"measured over {self.setup.max_age_ns / 1e9:g} s ago "
                         f"(max_input_age_s): {', '.join(old)}")
        return '; '.join(parts)

    # ------------------------------------------------------------------ planning
    def poll(self, clock_ns: int, runner_busy: bool) -> PlanRequest | Wait | Hold:
        """Whether to sample a chunk now (confirm a submitted request with submitted()), or
        to stop: in realtime, inputs gone stale while a plan runs give a Hold to publish."""
        result = self._why_not(clock_ns, runner_busy)
        if isinstance(result, Wait):
            self.state = result.reason
        return result

    def _stale(self, now: int) -> bool:
        t_last = self.history.t_last()
        return t_last is None or now - t_last > self.setup.max_age_ns

    def _clock_jumped_back(self, now: int) -> bool:
        """Whether the node clock went back by more than max_input_age_s since the last poll
        (a sim restarted under use_sim_time, a wall clock stepped back): every input would
        then be older than the history's newest and never filed, and the running plan's
        points far in the future, so the node neither replanned nor stopped."""
        latest = self._latest_now
        self._latest_now = now if latest is None else max(latest, now)
        return latest is not None and now < latest - self.setup.max_age_ns

    def _follow_clock(self, clock_ns: int) -> Hold | None:
        """In realtime, whatever the enable and episode state: when the clock went back by
        more than max_input_age_s, or the history holds a sample stamped further ahead of it
        (check_stamp refused such when filed: the clock went back since), stop (the Hold to
        publish, if moving) and forget the old clock. Looked for only once enabled and
        armed, a jump while disabled or waiting for an episode went unseen: the node planned
        on the old clock's samples, far ahead, and filed no new one."""
        if self.lockstep or self.waiting_for_clock(clock_ns):
            return None
        newest = [t for name in self.history.streams
                  if (t := self.history.newest_stamp(name)) is not None]
        ahead = bool(newest) and max(newest) - clock_ns > self.setup.max_age_ns
        if not (self._clock_jumped_back(clock_ns) or ahead):
            return None
        hold = self.stop('clock_back', clock_ns)
        self._forget_clock()
        self.state = 'clock went back'
        return hold

    def _forget_clock(self) -> None:
        """After the clock went back: a new history, measurements and generator, as a reset;
        with announced episodes, wait for the next one (its start may be earlier than the
        last one's, on the new clock)."""
        self.clock_jumps += 1
        self._latest_now = None
        self._restart()
        self.episode_start_ns = None
        if self.announced:
            self.armed = False

    def _step_observed(self) -> bool:
        """Lockstep: whether the newest samples of all streams are of one time, a step's (the
        sim sends every stream at each step boundary). Between two, a stream observed within
        the step (the arm's 100 Hz joint states) runs ahead of the camera, which has a frame
        on the boundaries only: an observation assembled then would be of no step (a frame
        standing in for a mid-step time), or refused for want of a frame the sim never sends
        (a false 'not planning' warning)."""
        newest = {self.history.newest_stamp(name) for name in self.history.streams}
        return len(newest) == 1 or None in newest  # (no sample yet: assemble says so)

    def _why_not(self, clock_ns: int, runner_busy: bool) -> PlanRequest | Wait | Hold:
        hold = self._follow_clock(clock_ns)
        if hold is not None:
            return hold
        if not self.enabled:
            return Wait('disabled')
        if self.waiting_for_clock(clock_ns):
            hold = self.stop('no_clock', clock_ns)  # the clock stopped under a running plan
            self.state = WAITING_FOR_CLOCK
            return hold if hold is not None else Wait(WAITING_FOR_CLOCK, NO_CLOCK)
        if self.stop_owed:
            hold = self._owed_stop(clock_ns)
            if hold is not None:
                return hold
        if not self.armed:
            return Wait('waiting for an episode start')
        now = self.now_ns(clock_ns)
        if self.moving and not self.lockstep and self._stale(now):
            hold = self.stop('stale', clock_ns)
            self.state = 'inputs: stale'
            if hold is not None:
                return hold
        if runner_busy:
            return Wait('sampling')
        if not self.schedule.needs_plan(now):
            return Wait('executing')
        if self.lockstep and not self._step_observed():
            return Wait(WAITING_FOR_STEP)
        obs = self.history.assemble(now)
        if not obs:
            if (since := self._before_episode_from) is not None and \
                    now - since > self.setup.max_age_ns:
                start = self.history.episode_start_ns or 0
                why = (f"{(start - now) / 1e9:.3f} s ahead of the node clock: nothing is filed "
                       "(is the announcer's clock this node's?") if start > now else (
                    f'which the node clock passed {(now - start) / 1e9:.3f} s ago: nothing is '
                    "filed (the inputs lag the clock: is each source's clock this node's, or "
                    'its pipeline that slow?')
                return Wait(BEFORE_EPISODE, (
                    f'every input for {(now - since) / 1e9:.3f} s is stamped before the '
                    f'announced episode start {start / 1e9:.3f} s, {why} '
                    'inputs_before_episode on /diagnostics)'))
            return Wait(f'inputs: {obs.kind}', obs.message if obs.kind in REFUSALS_TO_LOG else '')
        if self.lockstep and obs.t_ns < now:
            # the sim waits at `now`: plan on its observation of now, not on an older one
            return Wait(WAITING_FOR_STEP)
        if self.last_t_obs_ns is not None and obs.t_ns <= self.last_t_obs_ns:
            return Wait('waiting for a newer observation')
        decoded = self._decode_frames(obs)
        if isinstance(decoded, Wait):
            if self.moving and not self.lockstep and self._frames_failing(now):
                hold = self.stop('stale', clock_ns)
                self.state = 'inputs: stale'
                if hold is not None:
                    return hold
            return decoded
        return PlanRequest(decoded, self.generator, PlanContext(self.generation, obs.t_ns),
                           self._far_state(obs))

    def _owed_stop(self, clock_ns: int) -> Hold | None:
        """The stop an episode start owes (realtime, a plan ran and nothing was measured
        since the start to hold at): once a measurement of the new episode is in, at it; once
        none came for max_input_age_s after the takeover, at where the controller runs the
        forgotten plan (it would run it on: waiting for a message that never comes, the owed
        stop was never sent)."""
        now = self.now_ns(clock_ns)
        if self._measured_since(self._owed_since_ns, now) or \
                now - self._owed_at_ns > self.setup.max_age_ns:
            return self.stop('episode_start', clock_ns)
        return None

    def _frames_failing(self, now: int) -> bool:
        """Whether no observation could be decoded for longer than max_input_age_s (since the
        first one refused for a bad frame): a camera whose every frame fails keeps its stream
        fresh, but the node sees no more than if it had gone silent, so a moving plan stops
        as on stale inputs. One bad frame only delays a plan to the next observation."""
        since = self._frames_failing_from
        return since is not None and now - since > self.setup.max_age_ns

    def _far_state(self, obs: Observation) -> str:
        """The warning for an observation whose newest state is far outside the training
        range (counted each time; said once per enable), else ''. A hint, not a refusal: an
        arm may leave the demonstrations' range a little."""
        if self.setup.state_range is None:
            return ''
        far = self.setup.state_range.far_newest(self.setup.model_values(obs.values))
        if not far:
            return ''
        self.far_states += 1
        if self._far_said:
            return ''
        self._far_said = True
        return far_state_warning(far)

    def _decode_frames(self, obs: Observation) -> Observation | Wait:
        """The observation with its camera frames decoded (each once: a frame decoded for an
        earlier plan costs nothing); a frame that cannot be used is a bad message of its
        kind (counted once) and refuses the observation (BAD_FRAME)."""
        values = dict(obs.values)
        for name, samples in obs.values.items():
            if not any(isinstance(v, CameraFrame) for v in samples):
                continue
            images = []
            for sample in samples:
                if isinstance(sample, CameraFrame):
                    fresh = not sample.decoded
                    try:
                        image = sample.image()
                    except BadInput as exc:
                        if fresh:
                            self.bad[exc.kind] += 1
                        if self._frames_failing_from is None:
                            self._frames_failing_from = obs.t_ns
                        # a released frame asked for is this code's bug: said (once)
                        return Wait(BAD_FRAME, f"camera '{name}': {exc}" if sample.released
                                    else '')
                    self.frames.decoded += fresh
                    sample = image
                images.append(sample)
            values[name] = images
        self._frames_failing_from = None
        return dataclasses.replace(obs, values=values)

    def submitted(self, request: PlanRequest) -> None:
        """The runner took the request: the next plan needs a newer observation."""
        self.last_t_obs_ns = request.context.t_obs_ns
        self.state = 'sampling'

    def finish(self, context: PlanContext, action_pred: np.ndarray | None,
               error: BaseException | None, clock_ns: int) -> Plan | Drop:
        """A sampled chunk (or its error) -> the plan to publish, or why not.

        The points due already are dropped (the measured latency skipped), the rest combined
        with the running plan (execution mode) and passed through the safety envelope.
        """
        if error is not None:
            self.errors += 1
            self._lockstep_retry(context)
            return Drop('error')
        if context.generation != self.generation:  # reset or disabled meanwhile
            self.discarded += 1
            if self.last_t_obs_ns == context.t_obs_ns:
                # its observation is planned again: a lockstep sim waits at that step and
                # sends no newer one (realtime: planned again only while it is fresh)
                self.last_t_obs_ns = None
            return Drop('discarded')
        s = self.setup
        first_obs = s.n_obs_steps - 1
        horizon = np.asarray(action_pred[first_obs:], dtype=np.float64)
        actions = horizon[:s.n_action_steps]
        if not np.all(np.isfinite(actions)):
            self.errors += 1
            self._lockstep_retry(context)
            return Drop('non_finite')
        now = self.now_ns(clock_ns)
        due = self.schedule.due_times(len(actions), context.t_obs_ns)
        first = self.schedule.first_future(due, now)
        if first == len(actions):
            self.all_late += 1
            t_obs = int(context.t_obs_ns)
            return Drop('all_late', f'it was ready {(now - t_obs) / 1e6:.0f} ms after its '
                        f'observation, its last point due {(int(due[-1]) - t_obs) / 1e6:.0f} ms '
                        'after it: sample faster (fewer denoising steps, a GPU) or execute '
                        'more of each chunk (n_action_steps)')
        finite = np.all(np.isfinite(horizon), axis=1)
        n_finite = int(np.argmin(finite)) if not finite.all() else len(horizon)
        sampled = TimedChunk(self.schedule.due_times(n_finite, context.t_obs_ns),
                             horizon[:n_finite])
        kept_due = due[first:]
        wrap = self.safety.wrap  # continuous joints: averaged and limited the short way round
        # the running plan as the controller executes it (the points it replaced before the
        # newest plan's first one included), before anything of the new chunk is remembered
        running = self.commanded if self.lockstep else self.controlled
        before = self.motion_start
        # a trajectory controller runs the plan on until the chunk lands, action_lead_s
        # after now (lockstep: no lead): point 0's share of the step limit is from there
        landing = now + self.schedule.lead_ns
        if self.moving:  # where the controller is when the chunk lands, or may be instead
            reference = self._controller_at(landing)
            also = self._may_hold(now, landing, int(kept_due[0]))
        else:  # a new motion: it starts from the measured position (ramp-in, step limit),
            # or where a stop still running takes the controller (a re-enable during it:
            # the measured arm lags its command, and a limit from there pulled it back)
            reference, also = self._stopping_at(landing), []
            if reference is None:
                reference = self.measured_at(now)
            if reference is None and self.safety.needs_reference:
                self.no_reference += 1
                self._lockstep_retry(context)
                return Drop('no_reference', self.unmeasured(now))
            self.safety.start_motion(reference, int(kept_due[0]))
            self.motion_start = reference
        # after the drops above: a chunk not published stays out of the ensemble's memory;
        # blend mixes the running plan's targets (before the ramp-in, which the mix gets)
        if self.execution.mode == 'blend' and running is not None and \
                self.safety.ramp_start_ns is not None:
            running = TimedChunk(running.due_ns,
                                 self.safety.unramped(running.due_ns, running.actions))
        combined = self.execution.combine(kept_due, actions[first:], sampled, running, wrap,
                                          before)
        # point 0 is reached from there in the time between the chunk landing (action_lead_s
        # after now) and point 0 falling due (lockstep: a full sim step)
        first_segment = None if self.lockstep else \
            int(kept_due[0]) - now - self.schedule.lead_ns
        final = self.safety.apply(kept_due, combined, reference, also, first_segment)
        plan = self.schedule.install(Plan(
            t_obs_ns=int(context.t_obs_ns), first_index=first, due_ns=kept_due, actions=final,
            sampled=sampled,
            note=self.safety.beyond_bounds_line(actions[first:], self.cfg.action_joint_names)))
        self._command(plan, landing, reference)
        if self.streamed_due_ns is not None and self.streamed_due_ns >= int(kept_due[0]):
            # a forward controller got the replaced plan's point due at (or after) this
            # plan's first: newest_unsent compares due times, so the new one would be skipped
            self.streamed_due_ns = int(kept_due[0]) - 1
        self.moving, self.stop_owed = True, False
        self.stop_trajectory = None
        self.stopping = None  # the new plan's points stream from here on (point_due)
        self.published += 1
        return plan

    def _lockstep_retry(self, context: PlanContext) -> None:
        """A lockstep sim waits at the step of a chunk dropped unpublished (a sampling error,
        a non-finite chunk, no measured position) and sends no newer observation: its
        observation is planned again (the node waited 'for a newer observation' until the
        sim's action_wait_timeout_s, for ever at 0), up to LOCKSTEP_RETRIES times a step (a
        failure that repeats, a sticky CUDA error, is not sampled back to back for ever: the
        sim's timeout then holds and steps on). Realtime plans the next one."""
        if not self.lockstep or self.last_t_obs_ns != context.t_obs_ns:
            return
        step, tries = self._retried
        tries = tries + 1 if step == context.t_obs_ns else 1
        self._retried = (int(context.t_obs_ns), tries)
        if tries <= LOCKSTEP_RETRIES:
            self.last_t_obs_ns = None

    def _command(self, plan: Plan, landing_ns: int, at_landing: np.ndarray | None) -> None:
        """The commanded timeline: each plan replaces the points from its first one on; and
        in realtime the controlled one: from the plan's landing, where the controller was
        then (`at_landing`), straight to its first point."""
        self.commanded = _replaced(self.commanded, plan.due_ns, plan.actions, plan.due_ns[0])
        if self.lockstep:
            self.controlled = self.commanded
            return
        due, points = plan.due_ns, plan.actions
        if at_landing is not None and landing_ns < int(due[0]):
            due = np.concatenate([[landing_ns], due])
            points = np.vstack([at_landing, points])
        self.controlled = _replaced(self.controlled, due, points, landing_ns)

    def _stopping_at(self, t_ns: int) -> np.ndarray | None:
        """Where the last stop takes the controller at t (stop_trajectory: its desired state,
        which the next chunk starts from, interpolate_from_desired_state), while it runs and
        for max_input_age_s after its end, as the arm settles there; None: no stop (lockstep,
        none since the last motion) or longer ago, when the measured position is the arm's
        (something else may have commanded it meanwhile: teleoperation while disabled)."""
        stop = self.stop_trajectory
        if stop is None or t_ns > int(stop.due_ns[-1]) + self.setup.max_age_ns:
            return None
        return commanded_at(stop, t_ns, True, self.safety.wrap)

    def _may_hold(self, now: int, landing: int, first_due: int) -> list[np.ndarray]:
        """Where a controller may be instead when a new chunk's first point takes over, the
        chunk sent at now and assumed to land at `landing`: the point in force a period
        before the landing (its tick late); where it is now and the point then in force
        (the chunk early: action_lead_s is the margin the node assumes); and the points due
        until that first point (the chunk late). An interpolating controller runs straight
        between these, so a first point within reach (a box) of each, and of the landing
        position, is within reach of every position it passes from now to that point."""
        held = [self._commanded_at(landing - self.setup.dt_ns),
                self._controller_at(now), self._commanded_at(now)]
        if self.commanded is not None:
            due = self.commanded.due_ns
            held += list(self.commanded.actions[(due > now) & (due < first_due)])
        return [h for h in held if h is not None]

    def _controller_at(self, t_ns: int) -> np.ndarray | None:
        """Where the controller commands the arm at t as the node models it: in realtime on
        the line between the controlled points (a joint_trajectory_controller interpolates,
        as finish's step limit assumes, from each chunk's landing straight to its first
        point), in lockstep the point in force (the sim's follower holds it); before the
        motion's first point, where it started from."""
        if self.lockstep:
            return self._commanded_at(t_ns)
        return self._on(self.controlled, t_ns, interpolated=True)

    def _commanded_at(self, t_ns: int, interpolated: bool = False) -> np.ndarray | None:
        """The commanded point in force at t, or on the line between the points around t
        (`interpolated`), chained over the plans that replaced each other; before the motion's
        first point, where it started from."""
        return self._on(self.commanded, t_ns, interpolated)

    def _on(self, timeline: TimedChunk | None, t_ns: int, interpolated: bool
            ) -> np.ndarray | None:
        """Where `timeline` (commanded or controlled) is at t; before its first point (or
        without one), where the motion started from."""
        point = None if timeline is None else \
            commanded_at(timeline, t_ns, interpolated, self.safety.wrap)
        return self.motion_start if point is None else point

    def point_due(self, clock_ns: int) -> np.ndarray | None:
        """For a streamed command (a forward_command_controller takes one position per
        message, at once): the commanded point that fell due since the last call, the newest
        if several did; None when none did, or nothing moves."""
        if not self.moving or self.commanded is None:
            return None
        i = newest_unsent(self.commanded.due_ns, self.now_ns(clock_ns), self.streamed_due_ns)
        if i is None:
            return None
        self.streamed_due_ns = int(self.commanded.due_ns[i])
        self.points_streamed += 1
        return self.commanded.actions[i]

    def stop_point_due(self, clock_ns: int) -> np.ndarray | None:
        """For a forward controller after a decelerating stop (Hold.streamed): the newest
        point of the stop that fell due since the last call, so it slows as a trajectory
        controller does instead of being sent the measured position at once; None when none
        did. The stop's points: where the controller was commanded at the stop, due then (it
        still holds the last plan point sent, up to a period old: a step of at most one
        period's), then the path (point i due (i+1) * step_ns after the stop), ending with
        the rest position. A clock that stopped (use_sim_time, /clock gone) ends it."""
        stream = self.stopping
        if stream is None:
            return None
        if self.waiting_for_clock(clock_ns):
            self.stopping = None
            return None
        i = newest_unsent(stream.due_ns, self.now_ns(clock_ns), self._stop_streamed_ns)
        if i is None:
            return None
        self._stop_streamed_ns = int(stream.due_ns[i])
        if i == len(stream.due_ns) - 1:
            self.stopping = None
        self.stop_points_streamed += 1
        return stream.actions[i]

    def twist_due(self, clock_ns: int, group: CommandGroup
                  ) -> tuple[np.ndarray, np.ndarray] | None:
        """For a twist-driven servo (action_twist_topics): the twist (linear, angular) from
        the measured pose toward the plan's pose now (runtime/twist_servo.py); a zero twist
        before the plan's first point, without a fresh measured pose, or where a pose has no
        direction (counted); None when nothing moves."""
        if not self.moving or self.commanded is None:
            return None
        now = self.now_ns(clock_ns)
        zero = (np.zeros(3), np.zeros(3))
        columns = list(group.columns)
        measured = self.measured_at(now, columns)
        if measured is None:
            self.twists_unmeasured += 1
            return zero
        try:
            twist = twist_toward_plan(self.commanded.due_ns, self.commanded.actions[:, columns],
                                      group.message_names, now, measured[columns],
                                      self.setup.twist_limits, self.setup.dt_ns)
        except ValueError:
            self.pose_skipped += 1
            return zero
        self.twists_sent += 1
        return zero if twist is None else twist

    # ------------------------------------------------------------------ control
    def enable(self, on: bool) -> bool:
        """Start or stop publishing; returns the previous state. Call stop() first to get the
        hold a disable publishes."""
        was, self.enabled = self.enabled, bool(on)
        if not self.enabled:
            self._clear_plan()
        elif not was:  # a new enable: a far state is said again
            self._far_said = False
        return was

    def stop(self, reason: str, clock_ns: int) -> Hold | None:
        """End the motion: the Hold to publish (None when nothing was moving), plan cleared,
        a chunk being sampled discarded; the next plan ramps in from the measured position."""
        hold = landed = None
        if reason in UNSTREAMED_STOPS or reason in VOID_PLAN_STOPS:
            self.stopping = None  # the node goes quiet, or the stream no longer fits the arm
        if self.moving or self.stop_owed:
            now = self.now_ns(clock_ns)
            commanded = self._controller_at(now)  # without a measurement: where it is now
            # where it is when the stop lands, which a motion after it starts from
            landed = self._controller_at(now + self.schedule.lead_ns)
            if commanded is None and self.commanded is not None:
                # before the first point of a motion that began unmeasured: that point, the
                # policy's target nearest the arm (sending nothing lets the chunk run on)
                commanded = self.commanded.actions[0]
            measured = self.measured_at(now)
            if self.stop_owed and self._owed_plan is not None:
                # a stop an episode start owes: a measurement of the new episode only (a
                # sim's reset moves the robot), else where the forgotten plan commands it
                if not self._measured_since(self._owed_since_ns, now):
                    measured = None
                if commanded is None:
                    commanded = self._owed_commanded(now)
            hold = hold_point(reason, now, measured, commanded)
            # a trajectory controller gets the path when it lands, after any chunk still on
            # its way: from where that chunk takes it then; a forward controller from now
            # (without trajectory topics the one path is the forward controllers')
            lead = self.schedule.lead_ns if self.trajectory_topics else 0
            blind = reason in BLIND_STOPS
            stop = None if reason in VOID_PLAN_STOPS else self._stop_path(now + lead, blind)
            if hold is not None and stop is not None:
                # the path ends up to v^2/(2a) further on: a forward controller, which goes
                # to a point at once, gets its points as they fall due (stop_point_due), or
                # the hold point when the node streams no more after this stop
                _, path, step = stop
                streamed = self.forward_streams and reason not in UNSTREAMED_STOPS
                hold = dataclasses.replace(hold, path=path, step_ns=step, streamed=streamed)
                from_now = None  # a forward controller's path: from now, point by point
                if streamed:
                    from_now = self._stop_path(now, blind) if lead else stop
                if from_now is not None:
                    start, path, step = from_now
                    self.stopping = _stop_timeline(
                        dataclasses.replace(hold, path=path, step_ns=step), start, now,
                        self.setup.dt_ns)
                    self._stop_streamed_ns = None
            if hold is not None:
                self.holds[reason] += 1
        self._clear_plan()
        # where the controller goes: from where it is on landing (a stop voiding the plan's
        # times: unknown, the hold point only), none without a clock. A stop while nothing
        # moves (a disable sent again, a reset while disabled) leaves the running one's
        if hold is not None or reason in VOID_PLAN_STOPS:
            self.stop_trajectory = None if hold is None or self.lockstep or \
                reason == 'no_clock' else _stop_timeline(
                    hold, None if reason in VOID_PLAN_STOPS else landed,
                    now + self.schedule.lead_ns, self.setup.dt_ns)
        return hold

    def _owed_commanded(self, now: int) -> np.ndarray | None:
        """Where the controller commands the arm now running the plan an episode start
        forgot (its first point's start before it, its last point after it)."""
        plan, start = self._owed_plan
        if plan is None:
            return start
        point = commanded_at(plan, now, not self.lockstep, self.safety.wrap)
        if point is not None:
            return point
        # before its first point: where the motion began, or, begun unmeasured, that first
        # point (as stop() holds a running plan's: nothing sent would let the chunk run on)
        return plan.actions[0] if start is None else start

    def _stop_path(self, now: int, blind: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """With stop_deceleration, in realtime, while a commanded plan runs: the decelerating
        stop from where the controller is commanded at `now` (the stop's landing for a
        trajectory controller), at the velocity the newest plan commands then
        (execution.commanded_velocity on that plan's own points: its first segment before its
        first point, 0 after its last; |v| within the envelope's speed limit): its start,
        then safety.stop_path's positions and step; None for the one-point hold (no
        deceleration given, lockstep: the sim waits for each action, nothing commanded, or
        at rest).
        `blind` (a stop on stale inputs, BLIND_STOPS): the node no longer sees the arm, so
        the stop lasts at most the running plan's remaining commanded horizon (a harder
        deceleration then), no longer than the plan would have moved blind; once that ran
        out, the one-point hold."""
        decel = self.setup.stop_deceleration
        if decel is None or self.lockstep or self.commanded is None:
            return None
        start = self._controller_at(now)
        if start is None:
            return None
        # the newest plan's own velocity (one segment of it, at least a control period long):
        # the joined timeline's segment at now may be the millisecond seam to the plan it
        # replaced, or a difference back over a period may cross it the other way
        plan = self.schedule.plan
        if plan is None:
            return None
        velocity = commanded_velocity(TimedChunk(plan.due_ns, plan.actions), now,
                                      self.safety.wrap,
                                      self.setup.limits.max_speed(self.setup.dt_ns))
        cap = int(self.commanded.due_ns[-1]) - now if blind else None
        path = stop_path(start, velocity, decel, self.setup.dt_ns, self.setup.limits, cap)
        return None if path is None else (start, *path)

    def _clear_plan(self) -> None:
        self.moving = self.stop_owed = False
        self._owed_plan = None
        self.commanded = self.controlled = self.motion_start = self.streamed_due_ns = None
        self.schedule.clear()
        self.execution.clear()
        self.safety.clear()
        self.discard_pending()

    def discard_pending(self) -> None:
        """A chunk being sampled now is not published (disable, reset, shutdown)."""
        self.generation += 1

    def reset(self, clock_ns: int) -> Hold | None:
        """New history, plan and generator; with announced episodes, wait for the next one.
        The Hold to publish when moving: the controller would run the rest of the chunk, and
        with the plan forgotten no later stop would send one."""
        hold = self.stop('reset', clock_ns)
        self._restart()
        if self.announced:
            self.armed = False
        return hold

    def start_episode(self, seed: int, start_ns: int, clock_ns: int | None = None
                      ) -> EpisodeTaken | None:
        """An announced episode, taken (with the Hold to publish if a plan ran: EpisodeTaken);
        None (ignored) for a re-delivery or an older one; BadInput 'episode_start' (not
        counted: the caller counts it as it counts a malformed one) for a start further ahead
        of the node clock than an input's stamp may be (check_stamp), which stalled the node.
        An older one while the node clock (clock_ns) reads before the last one's start is on
        a clock that went back (a sim restarted; in lockstep too, or after ~/reset, where
        nothing else sees the jump): the
        clock is forgotten (clock_jumps_back) and it is taken."""
        last = self.episode_start_ns
        clock_back = last is not None and start_ns <= last
        if clock_back and (clock_ns is None or start_ns == last or clock_ns >= last
                           or self.waiting_for_clock(clock_ns)):
            return None
        ahead = self.stamp_problem(start_ns, clock_ns)
        if ahead is not None and ahead.kind == 'stamp_future':
            # every input would be filed before it: the node idled as if no input came, and
            # a stop owed was never sent. A start behind the clock is taken (a latched
            # announcement heard by a node started later)
            raise BadInput('episode_start', f'start_ns {start_ns} is {ahead.detail}')
        hold, owed = None, None
        if not self.lockstep and (self.moving or self.stop_owed):
            # before the plan is forgotten (_restart): it must stop, at a position measured
            # since the start (a sim's reset teleports the robot: holding where the last
            # episode ended would drive it back there); without one, the next stop owes it
            now = start_ns if clock_ns is None else clock_ns
            if self._measured_since(start_ns, now):
                hold = self.stop('clock_back' if clock_back else 'episode_start', now)
            elif self.stop_owed:  # owed already: the plan the controller still runs
                owed, self._owed_since_ns = self._owed_plan, min(int(start_ns), now)
            else:
                owed = (self.controlled, self.motion_start)
                self._owed_at_ns, self._owed_since_ns = now, min(int(start_ns), now)
        self.stopping = None  # a sim's reset moves the robot: the old stop's points are void
        if hold is None:  # and an earlier stop's path; this one's hold point holds
            self.stop_trajectory = None
        if clock_back:
            self._forget_clock()
        self.episode_start_ns = start_ns
        self.env_seed = seed
        self._restart(keep_from_ns=start_ns)
        if owed is not None:
            self.stop_owed, self._owed_plan = True, owed
        self.armed = True
        self.episodes_started += 1
        return EpisodeTaken(hold)

    def _measured_since(self, start_ns: int, now_ns: int) -> bool:
        """Whether every action joint was measured at or after start_ns (and not ahead of
        the clock: a restarted clock's old measurements read as after its new start)."""
        stamps = self._measured_ns
        return bool(np.all((stamps >= int(start_ns)) & (stamps <= int(now_ns)))
                    and not np.isnan(self._measured).any())

    def _restart(self, keep_from_ns: int | None = None) -> None:
        if keep_from_ns is None:  # a new history takes any stamps: so do the measurements
            self.history.clear()
            self.frames.clear()
            self._measured[:] = np.nan
            self._measured_ns[:] = 0
            for stats in self.stats.values():  # and the rates on them (older ones may come)
                stats.stamps.clear()
        else:
            self.history.start_episode(keep_from_ns)
            self.frames.clear(keep_from_ns)
        self._clear_plan()
        self.generator = self._new_generator()
        self.last_t_obs_ns = None
        self._retried = (None, 0)  # a new episode's steps may repeat the old one's stamps
        self._frames_failing_from = None
        self._before_episode_from = None

    def _new_generator(self) -> Any:
        from dp_ros.policy.inputs import episode_generator  # torch: only once a loop runs

        return episode_generator(self.cfg.sample_seed, self.env_seed, self.device)

    # ------------------------------------------------------------------ diagnostics
    def _waited(self, wall_ns: int) -> bool:
        """Whether INPUT_WAIT_NS have passed since the first check of the inputs (the node's
        first diagnostics: when it listens)."""
        if self._first_check_ns is None:
            self._first_check_ns = wall_ns
        return wall_ns - self._first_check_ns >= INPUT_WAIT_NS

    def unheard_inputs(self, wall_ns: int) -> list[str]:
        """Streams that received no message INPUT_WAIT_NS after the first check (a topic
        nobody publishes on: a name not filled in, a driver down, another message type)."""
        if not self._waited(wall_ns):
            return []
        return [name for name, st in self.stats.items() if not st.received]

    def unannounced(self, wall_ns: int) -> bool:
        """Whether no episode start came INPUT_WAIT_NS after the first check, with
        episode_start_topic set: the node waits for one before it plans, said otherwise only
        in its state."""
        return self.announced and not self.episodes_started and self._waited(wall_ns)

    def unread_inputs(self, wall_ns: int) -> dict[str, list[str]]:
        """Joint-state streams every message of which, INPUT_WAIT_NS after the first check,
        gave none of their joints, only action joints' positions (state_joint_names naming
        joints the topic does not have: taken for another driver's messages, no bad
        message): name -> the joint names the messages gave (the first MAX_OTHER_NAMES, then
        how many more were given)."""
        if not self._waited(wall_ns):
            return {}
        return {name: sorted(st.other_names) + ([f'... {st.other_names_left_out} more'] if
                                                st.other_names_left_out else [])
                for name, st in self.stats.items()
                if st.received and st.other_joints == st.received}

    def _input_rate(self, st: StreamStats, wall_ns: int) -> float:
        """A stream's rate as slow_inputs and /diagnostics give it: on the stamps, the gaps
        over max_input_age_s left out (outages, reported as stale inputs); in lockstep the
        sim's pace, on the wall."""
        if self.lockstep:
            return st.rate_hz(wall_ns)
        return st.rate_hz(wall_ns, on_stamps=True, outage_ns=self.setup.max_age_ns)

    def slow_inputs(self, wall_ns: int) -> dict[str, tuple[float, float]]:
        """Streams filed at under SLOW_INPUT_FRACTION of the rate their training data was
        recorded at, over a full window: name -> (rate now, recorded rate). The rate is on
        the stamps, the node clock the observation times are on (on the wall's, a sim at
        half speed gave half the rate), without the gaps over max_input_age_s (an outage
        the stale stop reported already; counted, 0.7 s of a 2 s window read 30 Hz as 19).
        Not in lockstep, where the sim's pace sets every rate."""
        if self.lockstep:
            return {}
        slow = {}
        for name, recorded in self.setup.recorded_rates_hz.items():
            st = self.stats.get(name)
            if recorded is None or st is None or not st.window_full(wall_ns, on_stamps=True):
                continue
            rate = self._input_rate(st, wall_ns)
            if 0 < rate < SLOW_INPUT_FRACTION * recorded:
                slow[name] = (rate, recorded)
        return slow

    def diagnostics(self, clock_ns: int, wall_ns: int) -> dict[str, Any]:
        """State, counters and per-stream input statistics, for /diagnostics."""
        now = self.now_ns(clock_ns)
        values: dict[str, Any] = {
            'enabled': self.enabled, 'state': self.state,
            'mode': 'lockstep' if self.lockstep else 'realtime', 'env_seed': self.env_seed,
            'execution_mode': self.execution.mode,
            'chunks_published': self.published, 'actions_dropped': self.schedule.dropped,
            'chunks_all_late': self.all_late, 'chunks_discarded': self.discarded,
            'chunks_no_reference': self.no_reference,
            'actions_clamped': self.safety.clamped,
            'actions_rate_limited': self.safety.rate_limited, 'sampling_errors': self.errors,
            'points_streamed': self.points_streamed,
            'stop_points_streamed': self.stop_points_streamed,
            'pose_targets_skipped': self.pose_skipped,
            'twists_sent': self.twists_sent, 'twists_unmeasured': self.twists_unmeasured,
            'plan_remaining': self.schedule.remaining(now),
            'holds_published': sum(self.holds.values()),
            'bad_messages': sum(self.bad.values()),
            'inputs_older': sum(st.older for st in self.stats.values()),
            'clock_jumps_back': self.clock_jumps,
            'state_far_outside_training': self.far_states,
            'inputs_before_clock': sum(st.before_clock for st in self.stats.values()),
            'inputs_before_episode': sum(st.before_episode for st in self.stats.values()),
            'inputs_unheard': ', '.join(self.unheard_inputs(wall_ns) + (
                [f'{self.cfg.episode_start_topic} (episode start)']
                if self.unannounced(wall_ns) else [])),
            'inputs_unread': ', '.join(self.unread_inputs(wall_ns)),
        }
        if self.setup.rgb_keys:  # decoded for an observation; released unread, superseded
            values['camera_frames_decoded'] = self.frames.decoded
            values['camera_frames_superseded'] = self.frames.superseded
        for reason, count in sorted(self.holds.items()):
            values[f'holds_{reason}'] = count
        for kind, count in sorted(self.bad.items()):
            values[f'bad_{kind}'] = count
        for name, age in self.history.ages_ns(now).items():
            st = self.stats[name]
            values[f'input_{name}_age_ms'] = None if age is None else round(age / 1e6, 3)
            values[f'input_{name}_rate_hz'] = round(self._input_rate(st, wall_ns), 2)
            values[f'input_{name}_received'] = st.received
            values[f'input_{name}_filed'] = st.filed
            values[f'input_{name}_duplicates'] = st.duplicates
            values[f'input_{name}_older'] = st.older
            recorded = self.setup.recorded_rates_hz.get(name)
            if recorded is not None:
                values[f'input_{name}_recorded_rate_hz'] = recorded
        values['inputs_slow'] = ', '.join(sorted(self.slow_inputs(wall_ns)))
        return values


def _replaced(old: TimedChunk | None, due_ns: np.ndarray, points: np.ndarray,
              from_ns: int) -> TimedChunk:
    """A timeline whose points from `from_ns` on are replaced by (due_ns, points), the last 8
    before it kept (the segment into the new points, and a stop's look back)."""
    if old is None:
        return TimedChunk(np.asarray(due_ns), np.asarray(points))
    keep = old.due_ns < from_ns
    return TimedChunk(np.concatenate([old.due_ns[keep][-8:], due_ns]),
                      np.concatenate([old.actions[keep][-8:], points]))


def _stop_timeline(hold: Hold, commanded: np.ndarray | None, landing_ns: int, dt_ns: int
                   ) -> TimedChunk:
    """Where a trajectory controller takes the arm after a stop that lands at landing_ns (it
    is stamped 0: run on arrival): from where it was commanded then (`commanded`), along the
    decelerating path (point i due (i+1) * step), or to the hold point a period on."""
    now = int(landing_ns)
    if hold.path is not None:
        points, step = hold.path, int(hold.step_ns)
    else:
        points, step = hold.position[None, :], int(dt_ns)
    due = now + step * np.arange(1, len(points) + 1, dtype=np.int64)
    if commanded is not None:
        due, points = np.concatenate([[now], due]), np.vstack([commanded, points])
    return TimedChunk(due, np.asarray(points, dtype=np.float64))


def newest_unsent(due_ns: np.ndarray, now_ns: int, sent_ns: int | None) -> int | None:
    """The index of the newest point due at or before now and after the one sent last (due
    at `sent_ns`; None: none sent yet), or None: a streamed controller gets each point once,
    the newest when several fell due between two polls."""
    i = int(np.searchsorted(due_ns, now_ns, side='right')) - 1
    if i < 0 or (sent_ns is not None and due_ns[i] <= sent_ns):
        return None
    return i


def problems(values: dict[str, Any]) -> list[str]:
    """What makes the node's /diagnostics status WARN, from its diagnostics() values."""
    found = []
    if values['bad_messages']:
        found.append(f"{values['bad_messages']} bad message(s)")
    if values.get('inputs_older'):
        found.append(f"{values['inputs_older']} input(s) stamped before their stream's newest")
    if str(values['state']) in ('inputs: stale', 'inputs: gap'):
        found.append('inputs stale')
    if str(values['state']) == BEFORE_EPISODE:
        found.append('inputs stamped before the episode start')
    if str(values['state']) == WAITING_FOR_CLOCK:
        found.append('waiting for /clock (use_sim_time)')
    if values.get('inputs_unheard'):
        found.append(f"no message on input(s): {values['inputs_unheard']}")
    if values.get('inputs_unread'):
        found.append(f"no message gives the joints of input(s): {values['inputs_unread']}")
    if values.get('outputs_unheard'):
        found.append(f"no subscriber on command topic(s): {values['outputs_unheard']}")
    if values.get('outputs_contended'):
        found.append(f"other publishers on command topic(s): {values['outputs_contended']}")
    if values['sampling_errors']:
        found.append('sampling errors')
    if values.get('pose_targets_skipped'):
        found.append('pose targets skipped')
    if values.get('chunks_no_reference'):
        found.append('no measured position of the action joints')
    if values.get('chunks_all_late'):
        found.append(f"{values['chunks_all_late']} chunk(s) late: sampled after all their "
                     'points were due, none published (sampling slower than a chunk runs)')
    if values.get('twists_unmeasured'):
        found.append('zero twists sent for want of a fresh measured pose')
    if values.get('state_far_outside_training'):
        found.append('measured state far outside the training range')
    if values.get('inputs_slow'):
        found.append(f"inputs slower than their training data: {values['inputs_slow']}")
    return found
