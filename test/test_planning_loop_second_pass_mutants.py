"""The policy node's planning loop (runtime/planning_loop.py), a second mutation review:
behaviour that the first pass (test_planning_loop_mutants.py) and the other ROS-free tests
left unpinned. Each test names the mutant it kills:

- the BEFORE_EPISODE warning timed from the node clock when an input came, not its stamp
  (`_before_episode_from = stamp_ns`), and started afresh by a new episode (the line that
  clears it in `_restart` removed);
- the slow-input check at its boundaries: a rate of exactly 0.7 of the recorded one is not
  slow (`<` -> `<=`), a stream that stopped (rate 0) is not slow (`0 < rate` -> `0 <=`), a
  window of exactly two seconds of stamps is full (`>=` -> `>`), a sample exactly a window
  old counts in the rate (`<=` -> `<`);
- parse_episode_start's limits: a seed of exactly MAX_SEED is taken (`<=` -> `<`); an
  episode name of exactly EPISODE_NAME_CHARS is kept whole (pinned only: `>` -> `>=` is
  equivalent, shorten() keeps a name at its limit whole);
- the diagnostics: the state after a clock jump back ('clock went back' left unset),
  holds_published as the count of holds (not of reasons), an input's age to the microsecond,
  a lockstep plan's remaining points counted from the sim's "now" (not the node clock);
- problems(): a gap in the inputs warns as stale, the older inputs' count is in the line;
- the first stop an episode start owes counts a measurement from the clock when the start
  was announced ahead of it (min(start, clock) -> start);
- a stream full of 400 samples in under two seconds is judged (window_full's deque-full
  test removed); a refused start ahead of the clock names its start_ns (the text cut);
- a sim restarted over a plan whose joints were never measured owes the stop to a
  measurement of the new episode (_measured_since's NaN test removed: never-measured joints,
  stamped 0, read as measured since a start at 0);
- an owed stop takes a measurement stamped after the announced start but before the
  takeover, delivered late (`_measured_since(_owed_since_ns)` -> `_owed_at_ns`);
- inputs_older on /diagnostics counts the older inputs, not the re-sends;
- a twist servo's plan pose with no direction (a zero quaternion) sends a zero twist and is
  counted as a skipped pose target (the count removed);
- a forward controller gets a decelerating stop's points after a clock jump back (the reset
  of the stop stream's last sent time removed: every point of a stop on the new clock was
  'sent' already).

And one defect, mended in planning_loop._owed_commanded: a stop owed by an episode start
that came before the forgotten plan's first point fell due, with no measured position (an
arm whose state topic does not give the action joints, no ramp-in or step limit), published
nothing: the controller ran the old episode's whole chunk, where the same stop without the
episode start holds at that chunk's first point. Now it holds that point too.

Real PlanningLoop objects as test_planning_loop.py builds them; times are passed in.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_planning_loop import (
    DT,
    MS,
    T0,
    feed,
    feed_until,
    finish,
    make_loop,
    plan_now,
    start_moving,
)
from test_planning_loop_stop_stream import NOW, stopped, streamed

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.planning_loop import (
    BEFORE_EPISODE,
    EPISODE_NAME_CHARS,
    PlanningLoop,
    Wait,
    parse_episode_start,
    problems,
)
from dp_ros.runtime.policy_node_config import MAX_SEED, PolicyNodeConfig, resolve_setup
from dp_ros.runtime.safety import Hold

AGE = 400 * MS  # make_loop's max_input_age_s
TOPIC = '/sim/episode_start'


def test_inputs_before_the_episode_are_timed_from_the_clock_they_came_at_not_their_stamp():
    """An input stamped 300 ms before the clock, and before the announced start, came at the
    clock's T0: the BEFORE_EPISODE warning waits max_input_age_s from T0, not from its
    stamp (which would warn 300 ms early). Kills `_before_episode_from = stamp_ns`."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(3, T0 + 300 * MS, T0)
    assert loop.add('image', T0 - 300 * MS, 'x', clock_ns=T0).kind == 'before_episode'
    assert loop.poll(T0 + AGE, False) == Wait('inputs: empty')
    result = loop.poll(T0 + AGE + 1, False)
    assert result.reason == BEFORE_EPISODE
    assert result.detail.startswith('every input for 0.400 s is stamped before the announced '
                                    'episode start 10.300 s, which the node clock passed '
                                    '0.100 s ago')


def test_a_new_episode_times_its_inputs_before_the_start_afresh():
    """Inputs before episode 3's start from T0 on; episode 4 is announced at T0 + 1 s and an
    input before its start comes then: the warning waits max_input_age_s from that one, not
    from episode 3's first (it would say 1.4 s at once). Kills the line clearing
    `_before_episode_from` in `_restart`."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(3, T0 + 300 * MS, T0)
    assert loop.add('image', T0, 'x', clock_ns=T0).kind == 'before_episode'
    second = T0 + 1000 * MS
    assert loop.start_episode(4, second + 300 * MS, second)
    assert loop.add('image', second, 'x', clock_ns=second).kind == 'before_episode'
    assert loop.poll(second + AGE, False) == Wait('inputs: empty')
    result = loop.poll(second + AGE + 1, False)
    assert result.reason == BEFORE_EPISODE and result.detail.startswith(
        'every input for 0.400 s is stamped')


def rated_loop(recorded: float = 10.0) -> PlanningLoop:
    loop = make_loop()
    loop.setup = dataclasses.replace(loop.setup,
                                     recorded_rates_hz={'image': recorded, 'agent_pos': None})
    return loop


def file_images(loop: PlanningLoop, stamps: list[int]) -> int:
    """Image samples at T0 + each stamp, arriving on the wall at that stamp; the last."""
    for t in stamps:
        assert loop.add('image', T0 + t, 'x', wall_ns=t)
    return stamps[-1]


def test_a_rate_of_exactly_the_slow_fraction_is_not_slow():
    """15 samples over exactly the 2 s window: 7.0 Hz, exactly 0.7 of the recorded 10 Hz:
    not slow (under 0.7 is). Kills `rate < 0.7 * recorded` -> `<=`."""
    loop = rated_loop()
    wall = file_images(loop, [k * 140 * MS for k in range(14)] + [2000 * MS])
    assert loop.diagnostics(T0, wall)['input_image_rate_hz'] == 7.0
    assert loop.slow_inputs(wall) == {}
    loop = rated_loop()  # one sample fewer: 6.5 Hz, slow
    wall = file_images(loop, [k * 140 * MS for k in range(13)] + [2000 * MS])
    assert loop.slow_inputs(wall) == {'image': (6.5, 10.0)}


def test_a_window_of_exactly_two_seconds_of_stamps_is_full_and_judged():
    """5 Hz stamps from 0 to exactly 2 s: the window is full (a rate over it says enough)
    and 5 Hz is slow for 10 Hz. Kills window_full's `>=` -> `>`."""
    loop = rated_loop()
    wall = file_images(loop, [k * 200 * MS for k in range(11)])
    assert loop.slow_inputs(wall) == {'image': (5.0, 10.0)}
    assert loop.diagnostics(T0, wall)['inputs_slow'] == 'image'


def test_a_stream_that_stopped_is_not_reported_slow():
    """10 Hz filed for 3 s, then nothing for over a window of wall time: the rate reads 0
    (the stale stop's business), which is not a slow driver. Kills `0 < rate` -> `0 <=`."""
    loop = rated_loop(recorded=30.0)
    wall = file_images(loop, [k * DT for k in range(31)])
    assert loop.slow_inputs(wall) == {'image': (pytest.approx(10.0), 30.0)}
    later = wall + 2000 * MS + 1
    assert loop.diagnostics(T0, later)['input_image_rate_hz'] == 0.0
    assert loop.slow_inputs(later) == {}


def test_a_sample_exactly_a_window_old_counts_in_the_rate():
    """Stamps 0, 0.1 s, then every 0.3 s to 1.9 s and 2.0 s: the first, exactly the 2 s
    window before the newest, is in it: 8 intervals over 2 s, 4.0 Hz (without it 7 over
    1.9 s, 3.68). Kills the rate window's `<=` -> `<`."""
    loop = rated_loop()
    stamps = [0, 100 * MS] + [k * 300 * MS + 100 * MS for k in range(1, 7)] + [2000 * MS]
    wall = file_images(loop, stamps)
    assert loop.diagnostics(T0, wall)['input_image_rate_hz'] == 4.0


def test_episode_names_and_seeds_at_their_limits_are_taken_whole():
    """An episode name of exactly EPISODE_NAME_CHARS is logged whole, one longer is cut; a
    seed of exactly MAX_SEED is taken, one more refused. Kills `seed <= MAX_SEED` -> `<`."""
    name = 'e' * EPISODE_NAME_CHARS
    start = parse_episode_start(f'{{"episode": "{name}", "seed": 1, "start_ns": 5}}')
    assert start.episode == name
    longer = parse_episode_start(f'{{"episode": "{name}e", "seed": 1, "start_ns": 5}}')
    assert longer.episode.endswith('... (1 more characters)')
    top = parse_episode_start(f'{{"episode": 1, "seed": {MAX_SEED}, "start_ns": 5}}')
    assert top.seed == MAX_SEED
    with pytest.raises(ValueError, match='outside'):
        parse_episode_start(f'{{"episode": 1, "seed": {MAX_SEED + 1}, "start_ns": 5}}')


def test_the_state_after_a_clock_jump_back_says_so():
    """A clock jump back under a running plan gives the Hold and leaves the state (on
    /diagnostics) 'clock went back', not the last one. Kills the removal of that state."""
    loop = make_loop()
    start_moving(loop)
    hold = loop.poll(500 * MS, False)
    assert isinstance(hold, Hold) and hold.reason == 'clock_back'
    assert loop.state == 'clock went back'
    assert loop.diagnostics(500 * MS, 0)['state'] == 'clock went back'


def test_holds_published_counts_every_hold_not_every_reason():
    """Two disables, each stopping a plan: holds_published 2 and holds_disabled 2. Kills
    `sum(holds.values())` -> `len(holds)`."""
    loop = make_loop()
    start_moving(loop)
    assert loop.stop('disabled', T0 + DT + 10 * MS) is not None
    loop.measure(T0 + 2 * DT, np.array([150.0, 150.0]))
    feed(loop, T0 + 2 * DT)
    assert finish(loop, plan_now(loop, T0 + 2 * DT), T0 + 2 * DT)
    assert loop.stop('disabled', T0 + 2 * DT + 10 * MS) is not None
    values = loop.diagnostics(T0 + 2 * DT + 10 * MS, 0)
    assert values['holds_published'] == 2 and values['holds_disabled'] == 2


def test_an_inputs_age_is_given_to_the_microsecond():
    """Input ages on /diagnostics in ms with three decimals (12.346 ms), not one."""
    loop = make_loop()
    feed(loop, T0)
    values = loop.diagnostics(T0 + 12_345_678, 0)
    assert values['input_image_age_ms'] == 12.346 and values['input_agent_pos_age_ms'] == 12.346


def test_a_lockstep_plans_remaining_points_count_from_the_sims_now():
    """Lockstep, a plan of 8 points from T0, observations up to T0 + 3 dt while the node
    clock reads T0: 5 points remain from the sim's "now" (the newest observation), not 8
    from the node clock. Kills plan_remaining on clock_ns."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    plan = finish(loop, plan_now(loop, T0), T0)
    assert len(plan) == 8 and plan.due_ns[0] == T0
    feed(loop, T0 + 3 * DT)
    assert loop.diagnostics(T0, 0)['plan_remaining'] == 5


def test_problems_call_a_gap_stale_and_count_the_older_inputs():
    """The WARN lines: a gap in the inputs is stale inputs; older inputs say how many."""
    values = make_loop().diagnostics(T0, 0)
    assert problems({**values, 'state': 'inputs: gap'}) == ['inputs stale']
    assert problems({**values, 'inputs_older': 3}) == [
        "3 input(s) stamped before their stream's newest"]


def measured_plan_of_episode_5() -> PlanningLoop:
    """Episode 5 announced at T0, a plan running from a measurement at T0 + dt."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(5, T0, T0)
    feed(loop, T0)
    feed(loop, T0 + DT)
    loop.measure(T0 + DT, np.array([250.0, 260.0]))
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    return loop


def test_the_first_owed_stop_counts_a_measurement_from_the_clock_when_the_start_is_ahead():
    """An episode announced 100 ms ahead of the node clock over a running plan, nothing
    measured since: the owed stop takes a measurement stamped 10 ms after the clock (before
    the announced start) as the new episode's, and holds there at once, not after
    max_input_age_s. Kills the first owed stop's `min(start_ns, now)` -> `start_ns`."""
    loop = measured_plan_of_episode_5()
    taken = loop.start_episode(6, T0 + 2 * DT + 100 * MS, T0 + 2 * DT)
    assert taken and taken.hold is None and loop.stop_owed
    loop.measure(T0 + 2 * DT + 10 * MS, np.array([110.0, 167.0]))
    hold = loop.poll(T0 + 2 * DT + 20 * MS, False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.position.tolist() == [110.0, 167.0] and not loop.stop_owed


def test_a_full_deque_of_a_fast_stream_is_judged_within_two_seconds():
    """A camera recorded at 1000 Hz filed at 300 Hz: its 400 kept stamps span 1.33 s, less
    than the window, but the deque is full: judged, and slow. Kills the removal of
    window_full's `len(times) == times.maxlen`."""
    loop = rated_loop(recorded=1000.0)
    wall = file_images(loop, [k * 3_333_333 for k in range(400)])
    rate, recorded = loop.slow_inputs(wall)['image']
    assert rate == pytest.approx(300.0, rel=1e-3) and recorded == 1000.0


def test_a_start_refused_ahead_of_the_clock_names_its_start_ns():
    """The refusal of an announcement ahead of the node clock says which start_ns it was
    and by how much, against which limit. Kills the message cut to the stamp detail."""
    loop = make_loop(episode_start_topic=TOPIC)
    with pytest.raises(BadInput) as info:
        loop.start_episode(3, T0 + 500 * MS, T0)
    assert str(info.value).startswith(f'start_ns {T0 + 500 * MS} is stamped 0.500 s ahead of '
                                      'the node clock (limit 0.4 s: parameter max_input_age_s)')


def test_a_sim_restarted_over_a_never_measured_plan_owes_its_stop_to_a_new_measurement():
    """Nothing ever measured (NaN positions stamped 0); a plan runs when the sim restarts
    and announces an episode starting at 0: no joint was measured since that start, so no
    hold at the old clock's commanded point; the stop is owed (to a measurement of the new
    episode, or max_input_age_s). Kills `_measured_since` without its NaN test."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(5, T0, T0)
    feed(loop, T0)
    feed(loop, T0 + DT)
    assert finish(loop, plan_now(loop, T0 + DT), T0 + DT)
    taken = loop.start_episode(6, 0, 50 * MS)
    assert taken and taken.hold is None and loop.clock_jumps == 1
    assert loop.stop_owed and sum(loop.holds.values()) == 0


def test_a_forward_controller_gets_a_stops_points_after_the_clock_went_back():
    """A decelerating stop streamed to a forward controller, then the sim restarts (clock
    back to 0.5 s), the node plans on the new clock and is disabled: the new stop's points,
    due on the new clock, are sent one by one (5: where it was commanded, then the 4-point
    path), not skipped as older than the last stop's. Kills the removal of the reset of
    `_stop_streamed_ns` in stop()."""
    loop, first = stopped()
    assert len(streamed(loop, NOW, NOW + 10 * DT)) == len(first.path) + 1
    back = 500 * MS
    assert isinstance(loop.poll(back, False), Wait) and loop.clock_jumps == 1
    feed(loop, back)
    feed(loop, back + DT)
    assert finish(loop, plan_now(loop, back + DT), back + DT)
    now = back + 3 * DT + 50 * MS
    hold = loop.stop('disabled', now)
    assert hold.streamed and len(hold.path) == 4
    sent = streamed(loop, now, now + 10 * DT)
    assert len(sent) == 5 and sent[-1] == hold.path[-1].tolist()
    assert loop.stop_points_streamed == 10


def test_an_owed_stop_takes_a_late_measurement_stamped_after_the_start_before_the_takeover():
    """Episode 6 started 50 ms before the node heard of it, over a running plan, nothing
    measured since: a joint state stamped 20 ms before the announcement arrives after it
    (late in transit): it is of the new episode (after its start), so the owed stop holds
    there at once, not max_input_age_s later. Kills `_measured_since(_owed_at_ns)`."""
    loop = measured_plan_of_episode_5()
    taken = loop.start_episode(6, T0 + 2 * DT - 50 * MS, T0 + 2 * DT)
    assert taken and taken.hold is None and loop.stop_owed
    loop.measure(T0 + 2 * DT - 20 * MS, np.array([110.0, 167.0]))
    hold = loop.poll(T0 + 2 * DT + 10 * MS, False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.position.tolist() == [110.0, 167.0] and hold.source == 'measured'


def test_inputs_older_counts_the_older_inputs_not_the_re_sends():
    """Two re-sends of the newest stamp and one older stamp: inputs_older 1 (a WARN with
    its count), the re-sends only per stream. Kills inputs_older summing duplicates."""
    loop = make_loop()
    feed(loop, T0)
    assert loop.add('image', T0, 'x').kind == 'duplicate'
    assert loop.add('agent_pos', T0, 'x').kind == 'duplicate'
    assert loop.add('image', T0 - DT, 'x').kind == 'older'
    values = loop.diagnostics(T0, 0)
    assert values['inputs_older'] == 1 and values['input_image_duplicates'] == 1
    assert "1 input(s) stamped before their stream's newest" in problems(values)


def test_a_plan_pose_without_a_direction_sends_a_zero_twist_and_is_counted():
    """A twist servo on a quaternion pose whose plan has a zero quaternion (no orientation):
    the twist is zero, counted as a skipped pose target (a WARN), not as a twist sent.
    Kills the removal of the pose_skipped count."""
    pose = ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']
    metadata = {'config': pusht_image_config(shape_meta={
        'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                'agent_pos': {'shape': [7], 'type': 'low_dim'}},
        'action': {'shape': [7]}}).to_dict(), 'control_period_s': 0.1}
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': '/policy', 'device': 'cpu', 'max_input_age_s': 0.4,
        'joint_state_topic': '/ee', 'state_joint_names': pose, 'state_pose_topics': ['/ee'],
        'action_topic': '/servo', 'action_joint_names': pose,
        'action_twist_topics': ['/servo'], 'frame_id': 'base_link'})
    loop = PlanningLoop(cfg, resolve_setup(cfg, metadata), device='cpu')
    (group,) = loop.setup.commands
    feed_until(loop, T0, T0 + DT)
    loop.measure(T0 + DT, np.array([0.4, 0.0, 0.2, 0.0, 0.0, 0.0, 1.0]))
    pred = np.tile(np.float32([0.4, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0]), (16, 1))
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT, pred)
    linear, angular = loop.twist_due(int(plan.due_ns[0]), group)
    assert linear.tolist() == [0.0] * 3 and angular.tolist() == [0.0] * 3
    values = loop.diagnostics(int(plan.due_ns[0]), 0)
    assert values['pose_targets_skipped'] == 1 and values['twists_sent'] == 0
    assert 'pose targets skipped' in problems(values)


def unmeasured_plan_then_episode_start() -> tuple[PlanningLoop, np.ndarray]:
    """No measured position (and no ramp-in or step limit): a chunk finished 30 ms after
    its observation publishes from the point due 70 ms later; episode 6 is announced 10 ms
    after that, before the point fell due: the plan is forgotten, its stop owed."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(5, T0 - DT, T0 - DT)
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 30 * MS)
    assert plan.first_index == 1 and plan.due_ns[0] == T0 + 2 * DT
    taken = loop.start_episode(6, T0 + DT + 40 * MS, T0 + DT + 40 * MS)
    assert taken and taken.hold is None and loop.stop_owed
    return loop, plan.actions[0]


def test_without_an_episode_start_a_stop_before_the_first_point_holds_it():
    """The reference for the defect below: the same plan, disabled 50 ms after it was
    published, holds at its first point (the policy's target nearest the arm)."""
    loop = make_loop(episode_start_topic=TOPIC)
    assert loop.start_episode(5, T0 - DT, T0 - DT)
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 30 * MS)
    hold = loop.stop('disabled', T0 + DT + 50 * MS)
    assert isinstance(hold, Hold) and hold.source == 'commanded'
    np.testing.assert_array_equal(hold.position, plan.actions[0])


@pytest.mark.parametrize('reason', ['disabled', 'shutdown', 'reset'])
def test_a_stop_owed_before_the_forgotten_plans_first_point_holds_that_point(reason):
    loop, first_point = unmeasured_plan_then_episode_start()
    clock = T0 + DT + 50 * MS  # before the forgotten plan's first point (T0 + 2 dt)
    hold = loop.reset(clock) if reason == 'reset' else loop.stop(reason, clock)
    assert isinstance(hold, Hold) and hold.reason == reason
    np.testing.assert_array_equal(hold.position, first_point)
    assert loop.holds[reason] == 1 and not loop.stop_owed
