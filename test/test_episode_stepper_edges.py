"""Edges of the sim node's stepping rules (sim_bridge/episode_stepper.py) without ROS.

What test_episode_stepper.py leaves open: the republish schedule after a late wake-up, resets
of an ended or realtime episode, first_command_step, a refused pose target's hold, realtime
overruns (the one-period boundary, several in one episode), max_reward, the realtime camera
schedules of both robots, and that an arm control step runs the physics once.
"""
from __future__ import annotations

import numpy as np
from support import MS
from test_episode_stepper import ARM, DT, make, make_arm, send

from sim_bridge.episode_stepper import ActionWait, make_env
from sim_bridge.pusht_env import GOAL_POSE, PushTEnv

T0 = 10**12  # a realtime start: a wall-clock time in ns, on the dt grid


def overrun_warnings(rec) -> list[str]:
    return [w for w in rec.warnings() if 'control period(s) skipped' in w]


# --- lockstep waits ---------------------------------------------------------------------------

def test_a_late_republish_schedules_the_next_one_a_period_after_it():
    """The period counts from the republish that happened, so a wait that woke late does not
    republish twice in a row to catch up."""
    wait = ActionWait(start_ns=0, timeout_s=0.0, republish_period_s=0.3)
    assert wait.republish_due(500 * MS)  # due at 300 ms, noticed at 500 ms
    assert not wait.republish_due(799 * MS)
    assert wait.republish_due(800 * MS)


# --- resets -----------------------------------------------------------------------------------

def test_a_reset_after_the_episode_ended_reports_that_episode_only_once():
    stepper, rec = make(seeds=[1, 2], max_steps=1, auto_reset=False)
    stepper.start_episode()
    stepper.lockstep_step(timed_out=True)
    assert not stepper.running and len(rec.results) == 1
    ok, _ = stepper.reset()
    assert ok and stepper.running
    assert [e for e in rec.events if e[0] == 'end'] == [('end', 0, 'max_steps')]


def test_a_realtime_reset_starts_the_next_episode_at_now():
    stepper, rec = make(mode='realtime', seeds=[1, 2])
    stepper.start_episode(now_ns=T0)
    now = T0 + 5 * DT + 3
    ok, message = stepper.reset(now_ns=now)
    assert ok and message == f'episode 1 started: seed=2 stamp_ns={now}'
    assert rec.results[0]['reason'] == 'reset'
    assert rec.observations[-1].t_ns == now and stepper.next_tick.t_ns == now


def test_the_reset_reply_says_when_the_episode_starts_from_a_given_initial_state():
    stepper, _ = make(seeds=[1, 2], initial_state=[100.0, 100.0, 300.0, 300.0, 0.5])
    stepper.start_episode()
    ok, message = stepper.reset()
    assert ok and message == 'episode 1 started: seed=2 stamp_ns=100000000 initial_state=given'


# --- results ----------------------------------------------------------------------------------

def test_first_command_step_counts_the_steps_before_the_first_accepted_trajectory_only():
    stepper, rec = make(seeds=[1], max_steps=5, auto_reset=False)
    stepper.start_episode()
    stepper.lockstep_step(timed_out=True)
    stepper.lockstep_step(timed_out=True)
    assert not send(stepper, [[100, 900]], stamp_ns=0)  # refused: not a command
    assert stepper.episode.first_command_step is None
    assert send(stepper, [[100, 100], [110, 110]], stamp_ns=2 * DT)
    stepper.lockstep_step()
    assert send(stepper, [[120, 120], [130, 130]], stamp_ns=3 * DT)  # a later one: no change
    stepper.lockstep_step()
    stepper.lockstep_step()
    assert rec.results[0]['first_command_step'] == 2


def test_max_reward_is_the_best_step_of_the_episode_and_final_coverage_the_last():
    """max_reward is the best step (the paper's score), final_coverage where the episode
    ended: a block pushed off the goal reports the coverage it was left with."""
    gx, gy, angle = GOAL_POSE
    state = [gx - 40, gy, gx + 20, gy, angle]  # the block just beside the goal
    actions = np.array([[gx - 40 + 30 * (k + 1), gy] for k in range(8)])  # push it away
    stepper, rec = make(seeds=[1], initial_state=state, max_steps=len(actions),
                        auto_reset=False)
    stepper.start_episode()
    assert send(stepper, actions, stamp_ns=0)
    for _ in actions:
        stepper.lockstep_step()
    env = PushTEnv(render_obs=False, max_episode_steps=None)
    env.reset(options={'state': np.array(state)})
    steps = [env.step(a) for a in actions]
    rewards = [float(step[1]) for step in steps]
    coverages = [float(step[4]['coverage']) for step in steps]
    assert rewards[-1] < max(rewards) and coverages[-1] < max(coverages) - 0.01  # the scene
    assert rec.results[0]['max_reward'] == max(rewards)
    assert rec.results[0]['final_coverage'] == round(coverages[-1], 6)


# --- Cartesian targets ------------------------------------------------------------------------

def test_a_refused_pose_target_holds_the_point_due_at_its_own_stamp():
    """A target in another frame, stamped for t2: from t2 the robot holds what the active
    trajectory had due at t2, not what it had due when the target came in."""
    stepper, _ = make(seeds=[1], auto_reset=False)
    stepper.start_episode()
    assert send(stepper, [[100, 100], [120, 120], [140, 140]], stamp_ns=0)
    assert not stepper.receive_pose('base_link', 2 * DT, 300.0, 300.0, 0)
    assert stepper.rejections.as_dict() == {'frame_id': 1}
    for _ in range(3):
        stepper.lockstep_step()
    assert stepper.env.latest_action.tolist() == [140, 140]


# --- realtime overruns ------------------------------------------------------------------------

def test_a_realtime_step_exactly_one_period_late_takes_the_next_slot():
    stepper, rec = make(mode='realtime', seeds=[1], max_steps=5)
    stepper.start_episode(now_ns=T0)
    tick = stepper.next_tick
    stepper.realtime_step(tick, now_ns=tick.due_ns + DT)
    assert rec.observations[-1].t_ns == T0 + 2 * DT
    assert stepper.episode.slots_skipped == 1 and len(overrun_warnings(rec)) == 1


def test_every_late_step_adds_its_skipped_slots_and_only_the_first_warns():
    stepper, rec = make(mode='realtime', seeds=[1], max_steps=4)
    stepper.start_episode(now_ns=T0)
    tick = stepper.next_tick
    for late in (DT + DT // 2, 0, 2 * DT + DT // 5, 0):  # 1 slot, then 2
        tick = stepper.realtime_step(tick, now_ns=tick.due_ns + late)
    assert [(o.t_ns - T0) // DT for o in rec.observations] == [0, 2, 3, 6, 7]
    assert rec.results[0]['slots_skipped'] == 3
    assert len(overrun_warnings(rec)) == 1


def test_an_auto_reset_at_the_nanosecond_the_last_step_was_due_stamps_later():
    """Stamps never repeat across episodes: the next episode's first observation comes after
    the last one of the episode before (a recorder or replay keying by stamp keeps both)."""
    stepper, rec = make(mode='realtime', seeds=[1, 2], max_steps=2)
    stepper.start_episode(now_ns=T0)
    tick = stepper.next_tick
    while stepper.episode.index == 0:
        tick = stepper.realtime_step(tick, now_ns=tick.due_ns)
    stamps = [o.t_ns for o in rec.observations]
    assert stamps == sorted(set(stamps)) and stamps[-1] == T0 + 2 * DT + 1


# --- realtime cameras -------------------------------------------------------------------------

def framed_slots(rec) -> list[int]:
    return [(o.t_ns - T0) // DT for o in rec.observations if o.image is not None]


def test_a_realtime_camera_slower_than_the_steps_keeps_its_rate_on_average():
    """4 Hz on the 10 Hz grid: frames 0.3 and 0.2 s apart by turns, 5 in the first second,
    not one every 0.3 s (3.3 Hz)."""
    stepper, rec = make(render=True, mode='realtime', seeds=[2], camera_rate_hz=4.0,
                        max_steps=20)
    stepper.start_episode(now_ns=T0)
    tick = stepper.next_tick
    for _ in range(10):
        tick = stepper.realtime_step(tick, now_ns=tick.due_ns)
    assert framed_slots(rec) == [0, 3, 5, 8, 10]


def test_after_an_overrun_the_camera_does_not_burst_to_catch_up():
    """The frames missed during a 1 s overrun are not made up: after it the 5 Hz camera takes
    frames at least half its period apart (0.1 s) and then every 0.2 s, not one per step."""
    stepper, rec = make(render=True, mode='realtime', seeds=[2], camera_rate_hz=5.0,
                        max_steps=20)
    stepper.start_episode(now_ns=T0)
    tick = stepper.next_tick
    for late in (0, 10 * DT, 0, 0, 0, 0, 0):
        tick = stepper.realtime_step(tick, now_ns=tick.due_ns + late)
    assert framed_slots(rec) == [0, 12, 13, 15, 17]


def test_each_realtime_arm_episode_starts_its_camera_schedule_with_a_frame():
    """Episode 1 starts at now (off the 10 ms grid of episode 0): its first observation has a
    frame and the 30 Hz schedule counts from its start, as episode 0's did."""
    stepper, rec = make_arm(mode='realtime', seeds=[5, 6], max_steps=1)
    stepper.start_episode(now_ns=T0)
    stepper.realtime_step(stepper.next_tick, T0, clock=lambda: T0 + DT + 5 * MS)
    second = stepper.episode.start_ns
    assert second == T0 + DT + 5 * MS
    stepper.realtime_step(stepper.next_tick, second, clock=lambda: second + DT + 2 * MS)
    for start in (T0, second):
        framed = [(o.t_ns - start) // MS for o in rec.observations
                  if o.image is not None and start <= o.t_ns < start + DT + MS]
        assert framed == [0, 40, 70, 100]


# --- the arm ----------------------------------------------------------------------------------

def test_an_arm_control_step_runs_the_physics_once():
    """A target the arm cannot reach in one step: after one lockstep step the joints are where
    one env step puts them."""
    stepper, rec = make_arm(seeds=[5], auto_reset=False)
    stepper.start_episode()
    target = rec.observations[0].joint_pos + np.array([0.8, 0.6, 0.6])
    assert send(stepper, [target], stamp_ns=0, names=ARM)
    stepper.lockstep_step()
    env = make_env(stepper.config)
    env.reset(seed=5)
    env.step(target)
    np.testing.assert_array_equal(rec.observations[-1].joint_pos, env.q)
    assert np.abs(env.q - target).max() > 0.1  # the target is not reached in one step
