"""The policy node's planning loop (runtime/planning_loop.py): behaviour a mutation review
(94 hand mutants) found no ROS-free test of. Each test names what it guards; a change that
breaks it was left passing by the rest of the suite: a clock creeping back unnoticed, an owed
stop sent at exactly max_input_age_s, at the last episode's measurement or not carried over
a second episode start, a plan of the new episode halted by an obligation it settled, a
lockstep plan on an observation older than the sim clock, a lockstep stale stop on
undecodable frames, retries counted across steps and resets, a ramp-in or step limit started
from the wrong time or place (the stop path before or after it lands, a void stop's line,
an old episode's stop), a replan's step limit boxed by a replaced point, the controller
model replaced at the first point instead of the landing, a forward-only stop delayed by
action_lead_s, frames released or kept wrongly, and misleading states; and two defects it
found (a forward controller never sent a replan's first point; a start behind the clock
called "ahead" of it). Real PlanningLoop objects driven by the clock_ns arguments the
other planning-loop tests use; exact values and orders.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, chunk, feed, finish, make_loop, plan_now
from test_planning_loop_undecodable_frames import bad, good, moving, run

from dp_ros.runtime.camera_frames import CameraFrame
from dp_ros.runtime.planning_loop import (
    BAD_FRAME,
    BEFORE_EPISODE,
    WAITING_FOR_STEP,
    Drop,
    PlanRequest,
    Wait,
)
from dp_ros.runtime.safety import Hold

AGE = 400 * MS  # make_loop's max_input_age_s


def test_a_clock_stepping_back_by_small_steps_is_a_jump_from_the_newest_time_seen():
    """Two polls each less than max_input_age_s behind the one before, 600 ms behind the
    newest seen in all: the clock went back (a sim restarted), measured from the newest
    time, not the last poll's, else a clock creeping back was never caught."""
    loop = make_loop()
    feed(loop, T0)
    assert isinstance(loop.poll(T0 + 1000 * MS, False), Wait)
    assert isinstance(loop.poll(T0 + 700 * MS, False), Wait)
    assert loop.clock_jumps == 0
    loop.poll(T0 + 400 * MS, False)  # within 400 ms of the last poll, 600 ms of the newest
    assert loop.clock_jumps == 1 and loop.history.t_last() is None


def episode_started_over_a_plan():
    """(loop, plan): episode 6 started while episode 5's plan ran, nothing measured since
    that plan was published: the start forgot it, holds nowhere yet and owes its stop."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(5, T0, T0)
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.measure(T0 + DT, np.array([250.0, 260.0]))
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    taken = loop.start_episode(6, T0 + 2 * DT, T0 + 2 * DT)
    assert plan and taken and taken.hold is None and loop.stop_owed
    return loop, plan


def test_an_owed_stop_comes_only_after_max_input_age_without_a_measurement():
    """An episode start that forgot a running plan with nothing measured since owes the
    stop: at exactly max_input_age_s after the takeover it still waits for a measurement of
    the new episode (none of the old one's), one nanosecond later it holds where the
    forgotten plan commands the controller."""
    loop, _ = episode_started_over_a_plan()
    assert not isinstance(loop.poll(T0 + 2 * DT + AGE, False), Hold)
    assert loop.stop_owed and sum(loop.holds.values()) == 0
    hold = loop.poll(T0 + 2 * DT + AGE + 1, False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.source == 'commanded' and not loop.stop_owed


def test_lockstep_does_not_plan_on_an_observation_older_than_the_sim_clock():
    """Lockstep with the sim's clock a step ahead of the newest observation (its frame not
    in yet): the node waits for the observation of the current sim time instead of
    planning on the last step's, which the sim would take as this step's action."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    assert loop.poll(T0 + DT, False) == Wait(WAITING_FOR_STEP)
    feed(loop, T0 + DT)
    request = loop.poll(T0 + DT, False)
    assert isinstance(request, PlanRequest) and request.observation.t_ns == T0 + DT


def test_inputs_before_the_episode_start_warn_only_after_max_input_age():
    """Every input stamped before the announced start: the BEFORE_EPISODE warning comes
    once that lasted longer than max_input_age_s (a start slightly ahead is normal for a
    step), not at exactly that age."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(3, T0 + 300 * MS, T0)
    assert loop.add('image', T0, 'x').kind == 'before_episode'
    result = loop.poll(T0 + AGE, False)
    assert isinstance(result, Wait) and result.reason != BEFORE_EPISODE
    result = loop.poll(T0 + AGE + 1, False)
    assert isinstance(result, Wait) and result.reason == BEFORE_EPISODE


def test_lockstep_never_stops_on_undecodable_frames_however_long():
    """Lockstep: the sim waits for the node, so frames failing to decode for well over
    max_input_age_s after the plan ran out refuse observations (BAD_FRAME) but never give
    a stale Hold, which the sim would take as the step's action."""
    loop = moving(lockstep=True)
    results = run(loop, [bad] * 20)
    assert not any(isinstance(r, Hold) for r in results) and loop.holds['stale'] == 0
    assert sum(getattr(r, 'reason', '') == BAD_FRAME for r in results) >= 6
    assert loop.moving


def test_the_ramp_in_starts_at_the_first_published_point_not_when_the_chunk_came():
    """ramp_in_s 0.3 (dt 0.1): a chunk finished 30 ms after its observation publishes from
    the point due 70 ms later; that point is the ramp's first step (weight 1/4 of the way
    from the measured 100 to the policy's 4), not a step already 70 ms into the ramp."""
    loop = make_loop(ramp_in_s=0.3)
    loop.measure(T0 + DT, np.array([100.0, 100.0]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 30 * MS)
    assert plan.first_index == 1 and plan.due_ns[0] == T0 + 2 * DT
    np.testing.assert_allclose(plan.actions[:2], [[76.0, 76.25], [53.0, 53.5]])


def start_moving_along_x(loop, limit: float) -> None:
    """From the measured [0, 0], a plan published at dt that moves joint 0 `limit` a period
    (the step limit's pace), joint 1 still."""
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    ahead = np.zeros((16, 2))
    ahead[1:, 0] = limit * np.arange(15)
    assert loop.finish(plan_now(loop, T0 + DT).context, ahead, None, T0 + DT)


def test_a_re_enable_before_the_stop_lands_starts_from_the_stop_path_at_the_landing():
    """action_lead_s 0.05: a disable at 4 dt lands at 4 dt + 50 ms and takes the controller
    from 0.15 (where the plan had it) to the measured 0.05 over a period. A re-enable's chunk
    finished 10 ms after the disable lands at 60 ms, where the stop path is at 0.14: the
    step limit starts there, not at the lagging measured 0.05 (a pull back of 0.09 in 50 ms,
    3.6x the 0.05-per-period limit)."""
    limit = 0.05
    loop = make_loop(max_step_delta=[limit, limit], action_lead_s=0.05)
    start_moving_along_x(loop, limit)
    t_stop = T0 + 4 * DT
    loop.measure(t_stop, np.array([0.05, 0.0]))
    hold = loop.stop('disabled', t_stop)
    loop.enable(False)
    assert hold.source == 'measured'
    np.testing.assert_allclose(loop.stop_trajectory.actions, [[0.15, 0.0], [0.05, 0.0]])
    loop.enable(True)
    t_on = t_stop + 10 * MS
    feed(loop, t_on - DT)
    feed(loop, t_on)
    loop.measure(t_on, np.array([0.05, 0.0]))
    new = loop.finish(plan_now(loop, t_on).context, np.tile([5.0, 0.0], (16, 1)), None, t_on)
    np.testing.assert_allclose(loop.motion_start, [0.14, 0.0])
    np.testing.assert_allclose(new.actions[0], [0.165, 0.0])  # half a step on: 50 of 100 ms


def test_a_plan_of_the_new_episode_settles_the_stop_an_episode_start_owed():
    """An episode start forgot a running plan with nothing measured since (a stop owed);
    a plan of the new episode published before the owed stop came replaces the forgotten
    one at the controller: the first measurement of the new episode then must not stop
    the new plan (a stale obligation halted every episode's first chunk)."""
    loop, _ = episode_started_over_a_plan()
    feed(loop, T0 + 2 * DT)
    feed(loop, T0 + 3 * DT)
    assert finish(loop, plan_now(loop, T0 + 3 * DT), T0 + 3 * DT)
    assert loop.moving and not loop.stop_owed
    loop.measure(T0 + 3 * DT + 10 * MS, np.array([110.0, 167.0]))
    assert loop.poll(T0 + 3 * DT + 10 * MS, False) == Wait('executing')
    assert sum(loop.holds.values()) == 0 and loop.moving


def failed_steps(loop, t_ns: int, failures: int) -> list[bool]:
    """Sampling errors for the lockstep step at t_ns, `failures` times: after each, whether
    the step is planned again (a PlanRequest for it) rather than waited past."""
    replanned = []
    request = plan_now(loop, t_ns)
    for _ in range(failures):
        assert loop.finish(request.context, None, RuntimeError('CUDA error'), t_ns) == \
            Drop('error')
        again = loop.poll(t_ns, runner_busy=False)
        replanned.append(isinstance(again, PlanRequest))
        if isinstance(again, PlanRequest):
            assert again.context.t_obs_ns == t_ns
            if len(replanned) < failures:
                loop.submitted(again)
                request = again
    return replanned


def test_lockstep_retries_are_counted_per_step():
    """A step that failed twice uses two of its LOCKSTEP_RETRIES (3) and then publishes; a
    later step, failing four times, has its own three (a count carried over from the other
    step stalled it on its second failure until the sim's timeout)."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    assert failed_steps(loop, T0, 2) == [True, True]
    assert loop.finish(plan_now(loop, T0).context, chunk(), None, T0)
    for k in range(1, 9):  # the sim steps through the plan (n_action_steps 8)
        feed(loop, T0 + k * DT)
    assert failed_steps(loop, T0 + 8 * DT, 4) == [True, True, True, False]


def test_an_error_of_a_chunk_sampled_before_a_reset_leaves_the_new_episode_its_retries():
    """Lockstep: a chunk sampled before ~/reset that fails after it is not the new
    episode's failure: the new episode's first step (same stamp: a restarted sim's step 0)
    still gets all three retries."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    old = plan_now(loop, T0)
    assert loop.reset(T0) is None
    assert loop.finish(old.context, None, RuntimeError('CUDA error'), T0) == Drop('error')
    feed(loop, T0)
    assert failed_steps(loop, T0, 4) == [True, True, True, False]


def test_a_stop_after_an_early_landing_chunk_holds_on_its_line_from_the_landing():
    """A chunk on an off-grid camera stamp (2 dt + 20 ms), sent at 2 dt + 50 ms, replaces
    the running plan at its landing then, not at its first point (3 dt + 20 ms): the
    controller runs straight from [5, 6] to [100, 0], and a stop at 2 dt + 70 ms without a
    measurement holds where it is on that line (2/7 of the way), not on the old plan's
    ([5.4, 6.4]: a hold 27 units behind the arm's command)."""
    loop = make_loop(replan_threshold=7)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)  # [2k, 2k + 1] due at k dt
    feed(loop, T0 + 2 * DT)
    feed(loop, T0 + 2 * DT + 20 * MS)
    request = plan_now(loop, T0 + 2 * DT + 20 * MS)
    new = finish(loop, request, T0 + 2 * DT + 50 * MS, np.tile([100.0, 0.0], (16, 1)))
    assert new.due_ns[0] == T0 + 3 * DT + 20 * MS
    hold = loop.stop('disabled', T0 + 2 * DT + 70 * MS)
    assert hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, [5 + 95 * 2 / 7, 6 - 6 * 2 / 7])


LIMIT = 0.05  # max_step_delta per 0.1 s period


def forward_loop(**values):
    """A loop whose first chunk moves x +LIMIT a period from the measured 0 (0 due at dt,
    0.05 at 2 dt, ...), step-limited."""
    loop = make_loop(max_step_delta=[LIMIT, LIMIT], **values)
    start_moving_along_x(loop, LIMIT)
    return loop


def test_a_replan_turning_back_is_limited_by_the_points_before_its_first_not_at_it():
    """A chunk back to 0, sent at 4 dt + 30 ms with its first point due at 5 dt, where the
    running plan had 0.2: that first point must be within reach of where the controller may
    be before it (0.165 at the landing, with 70 of 100 ms: 0.13; the points held since,
    0.1 and 0.15), not of the replaced point 0.2 (it would then be held at 0.15: the
    reversal slowed for a point never reached)."""
    loop = forward_loop(replan_threshold=6)
    for k in range(2, 5):
        feed(loop, T0 + k * DT)
    request = plan_now(loop, T0 + 4 * DT)
    new = loop.finish(request.context, np.zeros((16, 2)), None, T0 + 4 * DT + 30 * MS)
    assert new.due_ns[0] == T0 + 5 * DT
    np.testing.assert_allclose(new.actions[:4, 0], [0.13, 0.08, 0.03, 0.0], atol=1e-12)


@pytest.mark.parametrize(('after', 'start'), [(300 * MS, 0.05), (AGE, 0.05), (AGE + 1, 0.08)])
def test_a_motion_soon_after_a_stop_ended_starts_at_its_hold_point(after, start):
    """Up to max_input_age_s after a stop's last point (that limit included) the arm is
    still settling there: a re-enable's first chunk is limited from the hold point (0.05),
    not from the measured position that still lags (0.08); later, from the measured one."""
    loop = forward_loop()
    t_stop = T0 + 4 * DT
    loop.measure(t_stop, np.array([0.05, 0.0]))
    assert loop.stop('disabled', t_stop).source == 'measured'
    loop.enable(False)
    assert int(loop.stop_trajectory.due_ns[-1]) == t_stop + DT
    loop.enable(True)
    t_on = t_stop + DT + after
    feed(loop, t_on - DT)
    feed(loop, t_on)
    loop.measure(t_on, np.array([0.08, 0.0]))
    new = loop.finish(plan_now(loop, t_on).context, np.tile([5.0, 0.0], (16, 1)), None, t_on)
    np.testing.assert_allclose(loop.motion_start, [start, 0.0])
    np.testing.assert_allclose(new.actions[:2, 0], [start, start + LIMIT])  # point 0 now


def test_an_owed_stop_never_holds_at_the_last_episodes_measurement():
    """A disable 10 ms after an episode start that owes its stop (nothing measured since the
    start): the last episode's measurement is still fresh (210 ms old) but of the robot
    before the sim's reset; holding there would drive it back. The hold is where the
    forgotten plan commands the controller."""
    loop, plan = episode_started_over_a_plan()
    assert loop.measured_at(T0 + 2 * DT + 10 * MS) is not None
    hold = loop.stop('disabled', T0 + 2 * DT + 10 * MS)
    assert hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, plan.actions[1] + 0.1 * (plan.actions[2]
                                                                      - plan.actions[1]))


def test_a_forward_controller_only_stop_starts_its_path_now_even_with_a_lead():
    """Without trajectory topics the one decelerating path is the forward controllers',
    streamed from now: action_lead_s (a trajectory message's transit) does not delay it,
    and the Hold's path is the streamed one."""
    wide = dict(action_lower=[-1000.0, -1000.0], action_upper=[1000.0, 1000.0])
    loop = make_loop(stop_deceleration=[50.0], action_topic='/fwd',
                     action_stream_topics=['/fwd'], action_lead_s=0.05, **wide)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT - 60 * MS)
    assert loop.schedule.lead_ns == 50 * MS and not loop.trajectory_topics
    now = T0 + 3 * DT + 50 * MS
    hold = loop.stop('disabled', now)
    assert hold.streamed and hold.path is not None
    np.testing.assert_allclose(loop.stopping.actions[1:], hold.path)
    np.testing.assert_allclose(loop.stopping.actions[0], [7.0, 8.0])  # commanded now
    assert loop.stopping.due_ns[0] == now


def test_a_motion_after_the_clock_read_zero_starts_from_the_measured_position():
    """A realtime node on sim time whose clock read 0 under a running plan (a sim pausing
    /clock) holds without a path; once the clock runs again (300 ms) the next motion is
    limited from where the arm is measured then (0.3), not from the hold sent at clock 0
    (0.1): that stop has no times on the running clock."""
    loop = make_loop(max_step_delta=[LIMIT, LIMIT])
    feed(loop, 100 * MS)
    feed(loop, 200 * MS)
    loop.measure(200 * MS, np.array([0.1, 0.0]))
    assert loop.finish(plan_now(loop, 200 * MS).context, np.zeros((16, 2)), None, 200 * MS)
    hold = loop.poll(0, False)
    assert isinstance(hold, Hold) and hold.reason == 'no_clock'
    np.testing.assert_allclose(hold.position, [0.1, 0.0])
    feed(loop, 300 * MS)
    loop.measure(300 * MS, np.array([0.3, 0.0]))
    new = loop.finish(plan_now(loop, 300 * MS).context, np.tile([5.0, 0.0], (16, 1)), None,
                      300 * MS)
    np.testing.assert_allclose(loop.motion_start, [0.3, 0.0])
    np.testing.assert_allclose(new.actions[:2, 0], [0.3, 0.35])


def assert_first_chunk_from_the_reset_robot(loop, start: int) -> None:
    """The new episode's first chunk, 50 ms after its start, toward [5, 0]: it starts at the
    reset robot's measured [1, 0] and moves LIMIT a step from there."""
    feed(loop, start)
    feed(loop, start + 50 * MS)
    request = plan_now(loop, start + 50 * MS)
    new = loop.finish(request.context, np.tile([5.0, 0.0], (16, 1)), None, start + 50 * MS)
    np.testing.assert_allclose(loop.motion_start, [1.0, 0.0])
    np.testing.assert_allclose(new.actions[:2, 0], [1.0, 1.05])


def test_a_motion_right_after_an_episode_start_hold_starts_at_the_reset_robot():
    """A sim's reset teleported the robot to [1, 0]; the episode start holds there (a void
    plan: no path from where the old plan had the controller). The new episode's first
    chunk, 50 ms later, is limited from the measured [1, 0], not from a line out of the old
    episode's position (halfway back to it)."""
    loop = make_loop(episode_start_topic='/sim/episode_start', max_step_delta=[LIMIT, LIMIT])
    assert loop.start_episode(5, T0, T0)
    start_moving_along_x(loop, LIMIT)
    start = T0 + 2 * DT
    loop.measure(start, np.array([1.0, 0.0]))
    taken = loop.start_episode(6, start, start)
    assert taken.hold.reason == 'episode_start' and taken.hold.position.tolist() == [1.0, 0.0]
    assert_first_chunk_from_the_reset_robot(loop, start)


def test_an_older_announcement_while_the_clock_reads_the_last_start_is_ignored():
    """An announcement of a start before the last one, heard while the node clock reads
    exactly the last start (not before it): no sign the clock went back, so it is a stale
    re-delivery, ignored; taken, it forgot the clock and disarmed the node."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(5, T0, T0)
    assert loop.start_episode(6, T0 - 50 * DT, T0) is None
    assert loop.clock_jumps == 0 and loop.episode_start_ns == T0 and loop.env_seed == 5


def test_a_second_owed_episode_start_counts_measurements_from_the_clock_when_ahead():
    """Two episode starts in a row with nothing measured since the first: the stop the
    first owes is carried over the second (forgotten, the controller ran the old plan on
    with no stop ever sent), and the second, announced 100 ms ahead of the clock, takes a
    measurement from the clock on as the new episode's (min(start, clock)), so the owed
    stop comes at the measurement 10 ms later, not after max_input_age_s."""
    loop, _ = episode_started_over_a_plan()
    taken = loop.start_episode(7, T0 + 3 * DT + 100 * MS, T0 + 3 * DT)
    assert taken and taken.hold is None and loop.stop_owed
    loop.measure(T0 + 3 * DT + 10 * MS, np.array([110.0, 167.0]))
    hold = loop.poll(T0 + 3 * DT + 20 * MS, False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.position.tolist() == [110.0, 167.0]


def test_an_episode_start_after_a_stop_forgets_that_stops_path():
    """A disable held the arm at the measured 0.05; an episode starts 150 ms later with
    nothing moving (no hold) and the sim's reset puts the robot at [1, 0]. The new
    episode's first chunk is limited from there, not from the old episode's stop (which
    would pull the reset robot back toward 0.05)."""
    loop = make_loop(episode_start_topic='/sim/episode_start', max_step_delta=[LIMIT, LIMIT])
    assert loop.start_episode(5, T0, T0)
    loop.measure(T0 + DT, np.zeros(2))
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert loop.finish(plan_now(loop, T0 + DT).context, np.zeros((16, 2)), None, T0 + DT)
    t_stop = T0 + 2 * DT
    loop.measure(t_stop, np.array([0.05, 0.0]))
    assert loop.stop('disabled', t_stop).position.tolist() == [0.05, 0.0]
    loop.enable(False)
    loop.enable(True)
    start = t_stop + 150 * MS
    loop.measure(start, np.array([1.0, 0.0]))
    assert loop.start_episode(6, start, start).hold is None
    assert_first_chunk_from_the_reset_robot(loop, start)


def test_a_filed_input_ends_the_before_episode_state():
    """An input before the announced start, then inputs at it (filed): when those go stale
    the state says so ('inputs: stale'), not BEFORE_EPISODE, which names the announcer's
    clock as the cause of an ordinary outage."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    start = T0 + 300 * MS
    assert loop.start_episode(3, start, T0)
    assert loop.add('image', T0, 'x').kind == 'before_episode'
    feed(loop, start)
    result = loop.poll(start + 500 * MS, False)
    assert isinstance(result, Wait) and result.reason == 'inputs: stale' != BEFORE_EPISODE


def test_lockstep_with_a_stream_that_never_sent_says_which_is_empty():
    """Lockstep before every stream's first sample: the refusal is assemble's ('inputs:
    empty', naming the stream), not 'waiting for the observation of the current sim
    time', which hides a topic that never publishes."""
    loop = make_loop(lockstep=True)
    loop.add('image', T0, 'x')
    result = loop.poll(T0, False)
    assert isinstance(result, Wait) and result.reason == 'inputs: empty'


def test_frames_a_clock_back_within_max_input_age_still_needs_are_kept():
    """Realtime, the state stream stopped at T0 while frames ran on to T0 + 600 ms; the
    clock then reads 300 ms earlier (back less than max_input_age_s: no jump) and the
    observation of T0 is fresh again: its frames (T0 - dt, T0) were kept (released, the
    node refused the observation as its own bug)."""
    loop = make_loop()
    for t in (T0 - DT, T0):
        loop.add('image', t, CameraFrame(good), t)
        loop.add('agent_pos', t, np.zeros(2), t)
    for t in range(T0 + DT, T0 + 7 * DT, DT):
        loop.add('image', t, CameraFrame(good), t)
        if t >= T0 + 5 * DT:  # stale: nothing decoded
            assert loop.poll(t, False).reason == 'inputs: stale'
    request = loop.poll(T0 + 300 * MS, False)
    assert isinstance(request, PlanRequest), request
    assert request.observation.t_ns == T0 and loop.clock_jumps == 0


def test_a_reset_gives_the_new_episode_its_own_lockstep_retries():
    """Lockstep: step T0 failed twice, then ~/reset; the new episode's step T0 (a restarted
    sim's step 0, the same stamp) gets all three retries, not the one left of the old."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    assert failed_steps(loop, T0, 2) == [True, True]
    assert loop.reset(T0) is None
    feed(loop, T0)
    assert failed_steps(loop, T0, 4) == [True, True, True, False]


def test_an_episode_announced_on_a_restarted_clock_holds_as_clock_back():
    """An announcement of a start before the last one while the clock reads before that
    start (the sim restarted), with a measurement on the new clock since the new start:
    the hold is counted and logged as clock_back (holds_clock_back), the clock forgotten."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(5, T0, T0)
    loop.measure(T0 - DT, np.array([3.0, 4.0]))
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    taken = loop.start_episode(6, T0 - 50 * DT, T0 - DT // 2)
    assert taken.hold.reason == 'clock_back' and taken.hold.position.tolist() == [3.0, 4.0]
    assert loop.holds == {'clock_back': 1} and loop.clock_jumps == 1


def test_an_owed_stop_times_out_from_when_the_episode_took_over_not_its_start():
    """A latched announcement heard 250 ms after its start, forgetting a running plan with
    nothing measured since: the owed stop waits max_input_age_s from the takeover (the
    node's clock then) for a measurement of the new episode, not from the start (which
    sent it 250 ms sooner, at the commanded position, with a measurement on its way)."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(5, T0, T0)
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.measure(T0 + DT, np.array([250.0, 260.0]))
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    taken = loop.start_episode(6, T0 + DT + 50 * MS, T0 + 4 * DT)
    assert taken.hold is None and loop.stop_owed
    assert not isinstance(loop.poll(T0 + 4 * DT + 200 * MS, False), Hold)
    assert not isinstance(loop.poll(T0 + 4 * DT + AGE, False), Hold)
    hold = loop.poll(T0 + 4 * DT + AGE + 1, False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'


def test_a_reset_lets_go_of_the_old_historys_frames_uncounted():
    """~/reset forgets the history and its undecoded camera frames with it: none is kept
    (memory) and none is counted later as superseded (camera_frames_superseded counts
    frames newer ones replaced unread: the old history's two were, without a reset)."""
    loop = make_loop()
    for t in (T0 - DT, T0):
        loop.add('image', t, CameraFrame(good), t)
    assert loop.reset(T0) is None
    for t in (T0 + DT, T0 + 2 * DT, T0 + 3 * DT):
        loop.add('image', t, CameraFrame(good), t)
        loop.add('agent_pos', t, np.zeros(2), t)
    values = loop.diagnostics(T0 + 3 * DT, 0)
    assert values['camera_frames_superseded'] == 0
    assert values['camera_frames_decoded'] == 0


def test_a_forward_controller_gets_a_replans_first_point_due_at_the_last_streamed_time():
    """A forward controller got the running plan's point due at 3 dt ([6, 7]) when the
    clock read 3 dt; a chunk on the observation of 3 dt finishes on the same tick (a sim's
    /clock at the control rate): its point 0 ([102, 103]) is now the command due at 3 dt
    and is sent on the next poll. A defect the review found: it was never sent (due times
    compared only), the controller held the replaced [6, 7] a whole period, then jumped."""
    loop = make_loop(action_topic='/fwd', action_stream_topics=['/fwd'], replan_threshold=6)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    assert [loop.point_due(T0 + k * DT).tolist() for k in (1, 2, 3)] == \
        [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    feed(loop, T0 + 2 * DT)
    feed(loop, T0 + 3 * DT)
    new = finish(loop, plan_now(loop, T0 + 3 * DT), T0 + 3 * DT, chunk(100.0))
    assert new.due_ns[0] == T0 + 3 * DT and new.actions[0].tolist() == [102.0, 103.0]
    point = loop.point_due(T0 + 3 * DT + 5 * MS)
    assert point is not None and point.tolist() == [102.0, 103.0]


def test_inputs_lagging_behind_a_start_the_clock_passed_are_not_blamed_on_the_announcer():
    """A latched announcement of a start 100 ms behind the node clock, inputs stamped
    700 ms behind it (a lagging camera pipeline): all are before the start for 0.5 s. The
    state detail said the start is "-0.600 s ahead of the node clock" and asked whether the
    announcer's clock is this node's (a defect the review found); the start is behind the
    clock, the inputs lag, and the detail says so."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(3, T0 - 100 * MS, T0)
    for k in range(6):
        t = T0 + k * DT
        for name in ('image', 'agent_pos'):
            assert loop.add(name, t - 700 * MS, 'x', clock_ns=t).kind == 'before_episode'
    result = loop.poll(T0 + 5 * DT, False)
    assert isinstance(result, Wait) and result.reason == BEFORE_EPISODE
    assert 's ahead of the node clock' not in result.detail
    assert 'which the node clock passed 0.600 s ago' in result.detail and \
        'the inputs lag the clock' in result.detail, result.detail
