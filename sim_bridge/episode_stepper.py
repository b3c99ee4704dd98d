"""The Push-T episodes of the sim node, without ROS: what runs when, with which target.

Time comes in as integer nanoseconds and everything that leaves goes to a `StepperOutput`, so
every rule (lockstep waits, realtime slots, episode ends, rejections) is unit-tested on a plain
PushTEnv. The node only adds a lock, wall-clock waits and the messages.

Lockstep: the observation of step k is stamped t_k = k * dt (sim time from 0, never going back
across episodes); step k runs once the active trajectory covers t_k, or after a wait timeout
(counted), and applies the point due at t_k. Realtime: the target of [t_k, t_k+1) is fixed at
t_k (a reply to observation k is too late for it, as on a robot) and the step is stamped with
its slot on the dt grid, skipping the slots it overran.

The arm robot (config.robot 'arm', sim_bridge/arm_env.py) observes every 10 ms physics
substep: one Observation per substep, stamped t_k + i * 10 ms (its JointState at 100 Hz), with
a camera frame when the camera schedule is due (realtime: 30 Hz, a frame on every step
boundary; lockstep: the step boundaries only, so every plan is made on a step's observation). In
realtime the substeps are paced on the wall clock by the node's `pace` callback, so the
messages leave when their stamps say, as a robot's drivers send them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

import numpy as np

from dp_ros.stamps import seconds_to_ns
from sim_bridge.arm_sensors import SUBSTEP_NS, CameraSchedule
from sim_bridge.cartesian import PlanarCartesian
from sim_bridge.sim_node_config import SimNodeConfig, parse_initial_state
from sim_bridge.trajectory_follower import (
    RejectionLog,
    TrajectoryFollower,
    TrajectoryRejected,
    check_trajectory,
)

if TYPE_CHECKING:
    from sim_bridge.pusht_env import PushTEnv


def make_env(config: SimNodeConfig) -> PushTEnv:
    """The env the node steps; imported here so that pymunk/pygame load only once it runs."""
    if config.robot == 'arm':
        from sim_bridge.arm_env import ArmPushTEnv

        return ArmPushTEnv(max_episode_steps=None, render_obs=False,
                           video_size=config.video_size)
    from sim_bridge.pusht_env import PushTEnv

    return PushTEnv(render_size=config.image_size, max_episode_steps=None, render_obs=True,
                    video_size=config.video_size)


@dataclass
class Episode:
    """Bookkeeping of the running episode."""

    index: int
    seed: int
    start_ns: int
    steps: int = 0
    max_reward: float = 0.0
    coverage: float = 0.0
    terminated: bool = False
    ended: bool = False
    action_timeouts: int = 0
    slots_skipped: int = 0  # realtime: control periods a late step overran (not simulated)
    first_command_step: int | None = None  # steps run before the first accepted trajectory
    states_sent: int = 0  # observations published (a JointState each)
    images_sent: int = 0  # of them with a camera frame
    initial_state: list[float] | None = None
    frames: list[np.ndarray] = field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    """What the node publishes for one step (the arm: one substep); image None: the camera
    skips this one."""

    t_ns: int
    joint_pos: np.ndarray  # the controlled joints (point: the agent's x, y in px)
    joint_vel: np.ndarray
    block_pose: np.ndarray  # x, y, angle in [0, 2 pi)
    image: np.ndarray | None


class StepperOutput(Protocol):
    """Where the stepper's events go, in the order they happen."""

    def episode_started(self, episode: Episode) -> None: ...

    def observation(self, obs: Observation) -> None: ...

    def reward(self, t_ns: int, reward: float) -> None: ...

    def episode_ended(self, result: dict[str, Any], frames: list[np.ndarray]) -> None: ...

    def log(self, level: str, message: str) -> None: ...


@dataclass(frozen=True)
class RealtimeTick:
    """A realtime step decided at its start: the target known at t_k, due at t_k + dt."""

    generation: int
    t_ns: int
    target: np.ndarray
    due_ns: int


class ActionWait:
    """Deadlines of one lockstep wait for an action, on a monotonic clock in ns."""

    def __init__(self, start_ns: int, timeout_s: float, republish_period_s: float):
        self.deadline_ns = start_ns + seconds_to_ns(timeout_s) if timeout_s > 0 else None
        self.period_ns = seconds_to_ns(republish_period_s)
        self.republish_ns = start_ns + self.period_ns if self.period_ns > 0 else None

    def timed_out(self, now_ns: int) -> bool:
        return self.deadline_ns is not None and now_ns >= self.deadline_ns

    def republish_due(self, now_ns: int) -> bool:
        """True once per republish period (late subscribers get the waiting observation)."""
        if self.republish_ns is None or now_ns < self.republish_ns:
            return False
        self.republish_ns = now_ns + self.period_ns
        return True

    def sleep_s(self, now_ns: int) -> float | None:
        """How long to wait for news before the next deadline; None: no deadline."""
        wakeups = [w for w in (self.deadline_ns, self.republish_ns) if w is not None]
        return (min(wakeups) - now_ns) / 1e9 if wakeups else None


class EpisodeStepper:
    """Env, episodes, trajectory follower and rejections; the caller serialises the calls."""

    def __init__(self, config: SimNodeConfig, env: PushTEnv, out: StepperOutput):
        self.config = config
        self.env = env
        self.out = out
        self.workspace = config.workspace
        self.initial_state = parse_initial_state(config.initial_state, config.table)
        # realtime samples the controller's setpoint between points (a chunk planned on a
        # mid-step camera frame); lockstep steps fall on the points' due times
        self.follower = TrajectoryFollower(interpolate=config.mode == 'realtime')
        self.rejections = RejectionLog()
        self.episode: Episode | None = None
        self.episodes_started = 0
        self.generation = 0  # bumped by every episode start, so a waiting step notices it
        # realtime: the tick of the step that runs next, decided when its observation was
        # published (episode start, end of the step before), never later (see realtime_step)
        self.next_tick: RealtimeTick | None = None
        self.t_ns = 0  # stamp of the current observation
        self._tick = 0  # lockstep: observations since the start (t = tick * dt)
        self._next_image_ns = 0
        self._dt_ns = config.dt_ns
        self._camera_period_ns = seconds_to_ns(1.0 / config.camera_rate_hz)
        self.arm = config.robot == 'arm'
        self.cartesian = PlanarCartesian.of_robot(config.robot, config.frame_id)
        # lockstep: one frame per step, at its boundary, so the policy node can only ever
        # plan on a step's observation (a mid-step frame would let it plan early, by a race)
        self.camera = CameraSchedule(config.camera_rate_hz if config.mode == 'realtime'
                                     else 1e9 / config.dt_ns)
        # realtime arm: waits until the wall clock reaches a substep's stamp (set by the node;
        # None: substeps run at once, as in lockstep and the unit tests)
        self.pace: Callable[[int], None] | None = None
        self.stepping = False  # inside an env step (the arm's paced steps release the lock)

    @property
    def running(self) -> bool:
        return self.episode is not None and not self.episode.ended

    # --- episodes ---------------------------------------------------------------------------

    def start_episode(self, now_ns: int = 0) -> bool:
        """Start the next seed's episode (realtime: stamped now_ns); False once none is left."""
        cfg = self.config
        index = self.episodes_started
        seed = cfg.seed_for_episode(index)
        if seed is None:
            return False
        if self.episode is not None:
            self._tick += 1  # a fresh time for the new episode's first observation
        if cfg.mode == 'lockstep':
            self.t_ns = self._tick * self._dt_ns
        else:  # now, after the last observation (an auto reset at the very nanosecond the
            # last step was due would repeat its stamp)
            self.t_ns = int(now_ns) if self.episode is None else max(int(now_ns), self.t_ns + 1)
        self.episodes_started += 1
        self.generation += 1
        state = self.initial_state
        options = None if state is None else {'state': state}
        obs, info = self.env.reset(seed=int(seed), options=options)
        # coverage: the start's, until a step covers more or less (an episode reset before
        # its first step reports where the block stood, not 0)
        self.episode = Episode(index=index, seed=int(seed), start_ns=self.t_ns,
                               coverage=float(info['coverage']),
                               initial_state=None if state is None else state.tolist())
        hold = info['joint_pos'] if self.arm else info['pos_agent']
        self.follower.reset(hold=np.asarray(hold, dtype=np.float64))
        self.camera.reset(self.t_ns)
        self.rejections.clear()
        self._next_image_ns = self.t_ns
        if cfg.video_path:
            self.episode.frames.append(self.env.render())
        self.out.episode_started(self.episode)
        self._observe(obs, info, self.t_ns)
        self.next_tick = self.realtime_tick() if cfg.mode == 'realtime' else None
        self.out.log('info', f'episode {index} started: seed {seed}')
        return True

    def reset(self, now_ns: int = 0) -> tuple[bool, str]:
        """The reset service: end the running episode, start the next seed's; (ok, message)."""
        if self.config.seed_for_episode(self.episodes_started) is None:
            return False, f'all {self.episodes_started} seeds are used up'
        if self.running:
            self._end_episode('reset')
        self.start_episode(now_ns)
        ep = self.episode
        return True, (f'episode {ep.index} started: seed={ep.seed} stamp_ns={ep.start_ns}'
                      + (' initial_state=given' if ep.initial_state else ''))

    def _end_episode(self, reason: str) -> None:
        ep = self.episode
        ep.ended = True
        result = dict(seed=ep.seed, episode=ep.index, steps=ep.steps,
                      max_reward=float(ep.max_reward), final_coverage=round(ep.coverage, 6),
                      terminated=ep.terminated, reason=reason, mode=self.config.mode,
                      action_timeouts=ep.action_timeouts, slots_skipped=ep.slots_skipped,
                      rejected=self.rejections.as_dict(),
                      start_stamp_ns=ep.start_ns,
                      sent={'joint_states': ep.states_sent, 'images': ep.images_sent},
                      first_command_step=ep.first_command_step)
        if ep.initial_state is not None:
            result['initial_state'] = ep.initial_state
        frames, ep.frames = ep.frames, []
        self.out.episode_ended(result, frames)
        self.out.log('info', f'episode {ep.index} (seed {ep.seed}) ended: {reason} after '
                     f'{ep.steps} steps, max_reward={ep.max_reward:.3f}, coverage='
                     f'{ep.coverage:.3f}, action_timeouts={ep.action_timeouts}, rejected='
                     f'{self.rejections.total()} {self.rejections.as_dict()}')

    # --- input ------------------------------------------------------------------------------

    def input_time(self, now_ns: int) -> int:
        """'Now' for an incoming trajectory: the current step's time in lockstep."""
        return self.t_ns if self.config.mode == 'lockstep' else int(now_ns)

    def receive(self, joint_names: Sequence[str], stamp_ns: int, times_from_start_ns: Any,
                positions: Any, now_ns: int) -> bool:
        """File a trajectory (it replaces the active one) or count its rejection."""
        episode_start = self.episode.start_ns if self.episode is not None else None
        try:
            trajectory = check_trajectory(joint_names, self.config.joint_names, stamp_ns,
                                          times_from_start_ns, positions,
                                          self.input_time(now_ns), self.workspace,
                                          episode_start)
        except TrajectoryRejected as exc:
            self.reject(exc.kind, str(exc))
            return False
        self.follower.replace(trajectory)
        if self.episode is not None and self.episode.first_command_step is None:
            self.episode.first_command_step = self.episode.steps
        return True

    def receive_pose(self, frame_id: str, stamp_ns: int, x: float, y: float,
                     now_ns: int) -> bool:
        """File a Cartesian target (the end effector at x, y of frame_id; cartesian.py) as
        the joints that reach it, due at its stamp and held (pose_delay_ns: in realtime one
        stamped in the past is due on receipt). A target it cannot take is counted and the
        robot holds, from when the target is due, the target it would have run then (a
        Cartesian controller's answer to a target out of reach), so that a lockstep step does
        not wait for another one: as the in-process CartesianArmEnv holds."""
        try:
            joints = self.cartesian.joints(frame_id, x, y)
        except TrajectoryRejected as exc:
            self.reject(exc.kind, str(exc))
            joints = None
        names = self.config.joint_names
        delay = [self.pose_delay_ns(stamp_ns, now_ns)]
        if joints is not None and self.receive(names, stamp_ns, delay, joints[None], now_ns):
            return True
        now = self.input_time(now_ns)
        hold = self.follower.peek((now if int(stamp_ns) == 0 else int(stamp_ns)) + delay[0])
        if hold is not None:
            episode_start = self.episode.start_ns if self.episode is not None else None
            try:
                self.follower.replace(check_trajectory(names, names, stamp_ns, delay,
                                                       hold[None], now, None, episode_start))
            except TrajectoryRejected:
                pass  # the target was late or stale itself: counted once, nothing to hold
        return False

    def pose_delay_ns(self, stamp_ns: int, now_ns: int) -> int:
        """How long after its stamp a pose target's one point is due (its time_from_start):
        0, at the stamp; in realtime, for a target stamped before now (sent at its stamp,
        late by the transport), now - stamp: a Cartesian controller takes the latest target
        when it arrives, so it is held from then on instead of refused as ending in the past.
        Still refused: one stamped before the episode start (previous_episode). Lockstep
        keeps the stamp: a target stamped for an earlier step than the one waiting is not
        this step's (ends_in_past), and the step waits for its own."""
        if self.config.mode == 'lockstep' or int(stamp_ns) == 0:
            return 0
        return max(0, int(now_ns) - int(stamp_ns))

    def reject(self, kind: str, message: str) -> None:
        if self.rejections.record(kind):
            self.out.log('warning', f'rejected trajectory ({kind}): {message} (logged once per '
                         'kind and episode; counts in the episode result)')

    # --- lockstep ---------------------------------------------------------------------------

    def action_ready(self) -> bool:
        """Lockstep: the action for the current step's time exists."""
        return self.follower.covers(self.t_ns)

    def lockstep_step(self, timed_out: bool = False) -> None:
        """Run the current step at t_k with the point due then; timed out: hold, counted."""
        t_k = self.t_ns
        if timed_out:
            ep = self.episode
            ep.action_timeouts += 1
            if ep.action_timeouts == 1:
                self.out.log('warning', f'no action for step {ep.steps} (t={t_k / 1e9:.1f} s) '
                             f'after {self.config.action_wait_timeout_s} s: holding the last '
                             'target (logged once per episode; the count is in the episode '
                             'result)')
        self._tick += 1
        target = self.follower.target_at(t_k)
        result = self._arm_substeps(t_k, target)[1] if self.arm else None
        self._step(self._tick * self._dt_ns, target, 0, result)

    # --- realtime ---------------------------------------------------------------------------

    def realtime_tick(self) -> RealtimeTick:
        """Decide the current step now, at t_k: its target and when it is due."""
        t_k = self.t_ns
        return RealtimeTick(self.generation, t_k, self.follower.target_at(t_k),
                            t_k + self._dt_ns)

    def realtime_step(self, tick: RealtimeTick, now_ns: int,
                      clock: Callable[[], int] | None = None) -> RealtimeTick | None:
        """Run the step of `tick` (point: now_ns >= its due time), stamped with the current
        slot. The arm runs its substeps from tick.t_ns (paced by `pace`) and reads the time
        after them from `clock` to find the slot.

        Returns `next_tick` (None once no episode runs): the next step's, decided together
        with the observation that starts it (this step's last, or a next episode's first), so
        that no reply to that observation can be filed before the next target is fixed. A
        reply that replaced the trajectory first would take the point due now from the step,
        which would then hold; a controller samples its setpoint at the cycle."""
        result = None
        if self.arm:
            stamp, result = self._arm_substeps(tick.t_ns, tick.target)
            now_ns = clock() if clock is not None else now_ns
        else:
            stamp = tick.due_ns
        if now_ns - stamp >= self._dt_ns:  # overran: stamp the current slot, not a past one
            self._overran((now_ns - stamp) // self._dt_ns)
            stamp += (now_ns - stamp) // self._dt_ns * self._dt_ns
        generation = self.generation
        self._step(stamp, tick.target, now_ns, result)
        if not self.running:
            self.next_tick = None
        elif self.generation == generation:  # (a next episode's start has set it)
            self.next_tick = self.realtime_tick()
        return self.next_tick

    def _overran(self, slots: int) -> None:
        """A realtime step ran `slots` control periods late: those periods are not simulated
        (the physics advances one period, the stamps several) and the plan's points for them
        never run. Counted in the episode result and said once per episode: a score from a
        machine that did not keep up is not a clean one."""
        ep = self.episode
        if ep is None:
            return
        ep.slots_skipped += int(slots)
        if ep.slots_skipped == slots:
            self.out.log('warning', f'step {ep.steps} ran {slots * self._dt_ns / 1e9:.1f} s '
                         f'late: {slots} control period(s) skipped, not simulated (the machine '
                         'does not keep up in realtime; logged once per episode, the count is '
                         'slots_skipped in the episode result)')

    # --- one step ---------------------------------------------------------------------------

    def _arm_substeps(self, t_start: int, target: np.ndarray) -> tuple[int, tuple]:
        """The arm's env step from t_start: an Observation per substep (paced in realtime).
        Returns the stamp of its last substep and the env step's result, for _step."""
        substeps = self._dt_ns // SUBSTEP_NS  # the env's 100 Hz physics

        def on_substep(i: int) -> None:
            t_i = t_start + i * SUBSTEP_NS
            if self.pace is not None:
                self.pace(t_i)
            if i < substeps:  # the last one is the step's observation (_step)
                self._observe_arm(t_i)

        self.stepping = True
        try:
            result = self.env.step(np.asarray(target, dtype=np.float64), on_substep=on_substep)
        finally:
            self.stepping = False
        return t_start + substeps * SUBSTEP_NS, result

    def _step(self, t_next: int, target: np.ndarray, now_ns: int,
              result: tuple | None = None) -> None:
        """One env step toward target, observed at t_next; a next episode starts at now_ns
        in realtime. `result`: the env step already run (the arm's, by _arm_substeps)."""
        cfg = self.config
        ep = self.episode
        if result is None:
            result = self.env.step(np.asarray(target, dtype=np.float64))
        obs, reward, terminated, _truncated, info = result
        ep.steps += 1
        ep.max_reward = max(ep.max_reward, float(reward))
        ep.coverage = float(info['coverage'])
        ep.terminated = bool(terminated)
        self.t_ns = t_next
        if cfg.video_path:
            ep.frames.append(self.env.render())
        self._observe(obs, info, t_next)
        self.out.reward(t_next, float(reward))
        if terminated or ep.steps >= cfg.max_steps:
            self._end_episode('success' if terminated else 'max_steps')
            if cfg.auto_reset and not self.start_episode(now_ns):
                self.out.log('info', f'all {self.episodes_started} episodes done')

    def _observe(self, obs: dict, info: dict, t_ns: int) -> None:
        if self.arm:
            self._observe_arm(t_ns)
            return
        image = None
        if self.config.mode == 'lockstep' or t_ns >= self._next_image_ns:
            image = obs.get('image')
            period = self._camera_period_ns
            self._next_image_ns = max(self._next_image_ns + period, t_ns + period // 2)
        state = np.asarray(self.env.get_state(), dtype=np.float64)
        self._publish(Observation(
            t_ns=t_ns, joint_pos=np.asarray(info['pos_agent'], dtype=np.float64),
            joint_vel=np.asarray(info['vel_agent'], dtype=np.float64), block_pose=state[2:5],
            image=image))

    def _observe_arm(self, t_ns: int) -> None:
        """The arm now: joints, block, and a camera frame if one is due at t_ns."""
        env = self.env
        image = env.render_camera() if self.camera.due(t_ns) else None
        state = np.asarray(env.get_state(), dtype=np.float64)
        self._publish(Observation(t_ns=t_ns, joint_pos=env.q.copy(), joint_vel=env.qd.copy(),
                                  block_pose=state[2:5], image=image))

    def _publish(self, obs: Observation) -> None:
        ep = self.episode
        ep.states_sent += 1
        ep.images_sent += obs.image is not None
        self.out.observation(obs)
