"""The policy node's planning state machine, without ROS, so that every rule is unit-tested.

Samples (stream, stamp, value) go into the ObservationHistory; on each message and clock tick
`poll` says whether to sample a chunk now (a PlanRequest: the observation, the episode's
generator, an opaque context) or why not (a Wait); the sampled chunk goes to `finish`, which
gives the Plan to publish (clamped, points already due dropped) or why not (a Drop).

Rules kept from the in-process evaluation, so that `dp-ros eval --via ros` matches it bit for
bit: one generator per episode, seeded sample_seed * 1_000_003 + env seed, used by the chunks
in order; in lockstep "now" is max(clock, newest observation), a plan is made only on the
observation of the current sim time, and a lockstep sim that announces no episodes starts
one at its first observation. A chunk sampled before a reset or a disable is discarded
(the generation counter).

No threads and no lock of its own: the caller serialises every call.
"""
from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dp_ros.runtime.action_schedule import ActionSchedule, Plan
from dp_ros.runtime.observation_history import Observation, ObservationHistory
from dp_ros.runtime.policy_node_config import MAX_SEED, PolicyNodeConfig, ResolvedSetup
from dp_ros.stamps import seconds_to_ns

REFUSALS_TO_LOG = ('stale', 'gap')  # input refusals worth a warning; 'empty'/'not_full' pass


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


@dataclass(frozen=True)
class Wait:
    """No plan now; `reason` is the diagnostics state, `detail` a refusal worth logging."""

    reason: str
    detail: str = ''

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Drop:
    """A sampled chunk not published: 'error', 'discarded', 'non_finite' or 'all_late'."""

    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class EpisodeStart:
    episode: Any
    seed: int
    start_ns: int


def parse_episode_start(text: str) -> EpisodeStart:
    """The sim's announcement JSON {"episode", "seed", "start_ns"}; ValueError when malformed."""
    try:
        info = json.loads(text)
        seed, start_ns = int(info['seed']), int(info['start_ns'])
    except (ValueError, KeyError, TypeError, OverflowError) as exc:  # 1e999 -> inf
        raise ValueError(f'{text!r}: {exc!r}') from None
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f'{text!r}: seed {seed} outside [0, {MAX_SEED}]')
    return EpisodeStart(info.get('episode'), seed, start_ns)


@dataclass
class StreamStats:
    """Per input stream: messages received, filed, refused as not newer; arrival rate."""

    received: int = 0
    filed: int = 0
    duplicates: int = 0  # not newer than the newest sample (e.g. the sim's lockstep re-sends)
    arrivals: deque = field(default_factory=lambda: deque(maxlen=400))  # wall ns

    def rate_hz(self, now_wall_ns: int, window_ns: int = 2_000_000_000) -> float:
        recent = [t for t in self.arrivals if now_wall_ns - t <= window_ns]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) * 1e9 / max(now_wall_ns - recent[0], 1)


class PlanningLoop:
    """History, schedule, episode generator and enable/arm state of one policy node."""

    def __init__(self, cfg: PolicyNodeConfig, setup: ResolvedSetup, device: Any = 'cpu'):
        self.cfg, self.setup, self.device = cfg, setup, device
        self.lockstep = cfg.lockstep
        self.announced = bool(cfg.episode_start_topic)  # episodes come with (seed, start)
        self.history = ObservationHistory(setup.streams, setup.n_obs_steps, setup.dt_ns,
                                          setup.max_age_ns, keep_ns=setup.keep_ns)
        # lockstep runs a plan out and keeps point 0 (the sim waits for it): no threshold, no lead
        self.schedule = ActionSchedule(
            setup.dt_ns, replan_threshold=0 if cfg.lockstep else cfg.replan_threshold,
            lead_ns=0 if cfg.lockstep else seconds_to_ns(cfg.action_lead_s))
        self.stats = {name: StreamStats() for name in setup.streams}
        self.bad: Counter = Counter()
        self.enabled = cfg.start_enabled
        self.armed = not self.announced  # an announced episode (or no episodes at all)
        self.generation = 0
        self.env_seed = cfg.env_seed
        self.episode_start_ns: int | None = None  # of the newest announced episode
        self.generator = self._new_generator()
        self.last_t_obs_ns: int | None = None
        self.state = 'starting'
        self.published = self.clamped = self.discarded = self.errors = self.all_late = 0

    # ------------------------------------------------------------------ inputs
    def now_ns(self, clock_ns: int) -> int:
        """In lockstep the newest observation is the sim's "now", whatever its clock says."""
        if self.lockstep:
            t_last = self.history.t_last()
            if t_last is not None:
                return max(clock_ns, t_last)
        return clock_ns

    def received(self, stream: str, wall_ns: int) -> None:
        stats = self.stats[stream]
        stats.received += 1
        stats.arrivals.append(wall_ns)

    def bad_message(self, kind: str) -> None:
        self.bad[kind] += 1

    def add(self, stream: str, stamp_ns: int, value: Any) -> bool:
        """File a converted sample; False when it is not newer than the stream's newest."""
        if self.history.episode_start_ns is None and self.lockstep and not self.announced:
            # a lockstep sim without episode announcements: its first observation starts the
            # episode (padded, as the in-process evaluation pads), else it waits forever
            self.history.start_episode(stamp_ns)
        filed = self.history.add(stream, stamp_ns, value)
        if filed:
            self.stats[stream].filed += 1
        else:
            self.stats[stream].duplicates += 1
        return filed

    # ------------------------------------------------------------------ planning
    def poll(self, clock_ns: int, runner_busy: bool) -> PlanRequest | Wait:
        """Whether to sample a chunk now; confirm a submitted request with submitted()."""
        result = self._why_not(clock_ns, runner_busy)
        if isinstance(result, Wait):
            self.state = result.reason
        return result

    def _why_not(self, clock_ns: int, runner_busy: bool) -> PlanRequest | Wait:
        if not self.enabled:
            return Wait('disabled')
        if not self.armed:
            return Wait('waiting for an episode start')
        if runner_busy:
            return Wait('sampling')
        now = self.now_ns(clock_ns)
        if not self.schedule.needs_plan(now):
            return Wait('executing')
        obs = self.history.assemble(now)
        if not obs:
            return Wait(f'inputs: {obs.kind}', obs.message if obs.kind in REFUSALS_TO_LOG else '')
        if self.lockstep and obs.t_ns < now:
            # the sim waits at `now`: plan on its observation of now, not on an older one
            return Wait('waiting for the observation of the current sim time')
        if self.last_t_obs_ns is not None and obs.t_ns <= self.last_t_obs_ns:
            return Wait('waiting for a newer observation')
        return PlanRequest(obs, self.generator, PlanContext(self.generation, obs.t_ns))

    def submitted(self, request: PlanRequest) -> None:
        """The runner took the request: the next plan needs a newer observation."""
        self.last_t_obs_ns = request.context.t_obs_ns
        self.state = 'sampling'

    def finish(self, context: PlanContext, action_pred: np.ndarray | None,
               error: BaseException | None, clock_ns: int) -> Plan | Drop:
        """A sampled chunk (or its error) -> the plan to publish, clamped, or why not."""
        if error is not None:
            self.errors += 1
            return Drop('error')
        if context.generation != self.generation:  # reset or disabled meanwhile
            self.discarded += 1
            return Drop('discarded')
        s = self.setup
        first = s.n_obs_steps - 1
        actions = np.asarray(action_pred[first:first + s.n_action_steps], dtype=np.float64)
        if not np.all(np.isfinite(actions)):
            self.errors += 1
            return Drop('non_finite')
        if s.lower is not None:
            clipped = np.clip(actions, s.lower, s.upper)
            self.clamped += int(np.count_nonzero(clipped != actions))
            actions = clipped
        plan = self.schedule.set_plan(actions, context.t_obs_ns, self.now_ns(clock_ns))
        if plan is None:
            self.all_late += 1
            return Drop('all_late')
        self.published += 1
        return plan

    # ------------------------------------------------------------------ control
    def enable(self, on: bool) -> bool:
        """Start or stop publishing; returns the previous state."""
        was, self.enabled = self.enabled, bool(on)
        if not self.enabled:
            self.schedule.clear()
            self.discard_pending()
        return was

    def discard_pending(self) -> None:
        """A chunk being sampled now is not published (disable, reset, shutdown)."""
        self.generation += 1

    def reset(self) -> None:
        """New history, plan and generator; with announced episodes, wait for the next one."""
        self._restart()
        if self.announced:
            self.armed = False

    def start_episode(self, seed: int, start_ns: int) -> bool:
        """An announced episode; False (ignored) for a re-delivery or an older one."""
        if self.episode_start_ns is not None and start_ns <= self.episode_start_ns:
            return False
        self.episode_start_ns = start_ns
        self.env_seed = seed
        self._restart(keep_from_ns=start_ns)
        self.armed = True
        return True

    def _restart(self, keep_from_ns: int | None = None) -> None:
        if keep_from_ns is None:
            self.history.clear()
        else:
            self.history.start_episode(keep_from_ns)
        self.schedule.clear()
        self.discard_pending()
        self.generator = self._new_generator()
        self.last_t_obs_ns = None

    def _new_generator(self) -> Any:
        from dp_ros.policy.inputs import episode_generator  # torch: only once a loop runs

        return episode_generator(self.cfg.sample_seed, self.env_seed, self.device)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self, clock_ns: int, wall_ns: int) -> dict[str, Any]:
        """State, counters and per-stream input statistics, for /diagnostics."""
        now = self.now_ns(clock_ns)
        values: dict[str, Any] = {
            'enabled': self.enabled, 'state': self.state,
            'mode': 'lockstep' if self.lockstep else 'realtime', 'env_seed': self.env_seed,
            'chunks_published': self.published, 'actions_dropped': self.schedule.dropped,
            'chunks_all_late': self.all_late, 'chunks_discarded': self.discarded,
            'actions_clamped': self.clamped, 'sampling_errors': self.errors,
            'plan_remaining': self.schedule.remaining(now),
            'bad_messages': sum(self.bad.values()),
        }
        for kind, count in sorted(self.bad.items()):
            values[f'bad_{kind}'] = count
        for name, age in self.history.ages_ns(now).items():
            st = self.stats[name]
            values[f'input_{name}_age_ms'] = None if age is None else round(age / 1e6, 3)
            values[f'input_{name}_rate_hz'] = round(st.rate_hz(wall_ns), 2)
            values[f'input_{name}_received'] = st.received
            values[f'input_{name}_filed'] = st.filed
            values[f'input_{name}_duplicates'] = st.duplicates
        return values
