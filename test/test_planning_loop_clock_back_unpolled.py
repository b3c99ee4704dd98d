"""The node clock going back (a `ros2 bag play --loop --clock` restart, a sim restarted under
use_sim_time) while the planning loop is not planning: disabled (start_enabled false, a
configured but inactive lifecycle node, ~/enable false) or waiting for an announced episode
(after ~/reset), and an episode announced on the new clock before a poll saw the jump.

Defects pinned: the jump was looked for only once enabled and armed, so these paths kept the
old clock's history (the first chunk after enabling was sampled on samples a loop of the bag
ahead of the clock, then every new input was 'older' and the node said 'executing' for ever)
or its episode start (the new clock's episodes were ignored as older until the new clock
passed the old one's start). README: "the node clock going back by more than
max_input_age_s in realtime (...): the history starts anew, clock_jumps_back on
/diagnostics".
"""
from __future__ import annotations

from test_planning_loop import DT, MS, T0, feed, feed_until, finish, make_loop

from dp_ros.runtime.planning_loop import PlanRequest, Wait

BAG_S = 60_000 * MS  # the looped bag's length


def run_on(loop, now: int, steps: int) -> None:
    """`steps` more periods of inputs on the clock from `now`, planning when asked; every
    plan is on an observation no later than the clock."""
    for k in range(1, steps + 1):
        feed(loop, now + k * DT)
        result = loop.poll(now + k * DT, False)
        if isinstance(result, PlanRequest):
            assert result.observation.t_ns <= now + k * DT
            loop.submitted(result)
            finish(loop, result, now + k * DT)


def test_a_clock_jump_back_while_disabled_does_not_plan_on_the_old_clocks_inputs():
    """Inputs filed while disabled at the end of a looped bag, then the clock and stamps go
    back to its start, then enable: no plan on the old loop's samples (59.5 s in the future),
    the jump is counted, and the new clock's inputs are filed and planned on."""
    loop = make_loop(start_enabled=False)
    end = T0 + BAG_S
    for t in range(end - 10 * DT, end + 1, DT):  # filed while inactive (subscribed)
        feed(loop, t)
        assert loop.poll(t, False) == Wait('disabled')
    feed_until(loop, T0, T0 + 5 * DT)  # the bag restarts: /clock and stamps back 60 s
    now = T0 + 5 * DT
    assert loop.poll(now, False) == Wait('disabled')  # seen while disabled
    assert loop.clock_jumps == 1 and loop.history.t_last() is None
    loop.enable(True)  # lifecycle activate / ~/enable true
    first = loop.poll(now, False)
    assert not isinstance(first, PlanRequest), first
    run_on(loop, now, 19)
    assert loop.history.newest_stamp('image') == now + 19 * DT, (
        'the new clock\'s inputs are not filed (all "older" than the old loop\'s): '
        f"inputs_older={loop.diagnostics(now, 0)['inputs_older']}")
    assert loop.published > 0 and loop.diagnostics(now, 0)['clock_jumps_back'] == 1


def test_samples_far_ahead_of_a_clock_never_seen_before_are_not_planned_on():
    """No poll saw the old clock (inputs filed without one, then the first poll on the new
    clock): samples stamped further ahead of the clock than max_input_age_s (check_stamp
    refuses such when filed) mean the clock went back; forgotten, not planned on."""
    loop = make_loop()
    feed_until(loop, T0 + BAG_S - DT, T0 + BAG_S)
    result = loop.poll(T0, False)
    assert not isinstance(result, PlanRequest), result
    assert loop.clock_jumps == 1 and loop.history.t_last() is None
    run_on(loop, T0, 5)
    assert loop.published > 0


def test_a_clock_jump_back_while_waiting_for_an_episode_takes_the_new_clocks_episode():
    """~/reset (waiting for the next episode start), then the sim restarts under use_sim_time
    (its clock back to T0) and announces an episode at T0: the node takes it and plans, not
    ignoring it as 'older' than the old clock's episode for as long as the old clock's lead."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    old_start = T0 + 1_000_000 * MS
    assert loop.start_episode(5, old_start)
    feed_until(loop, old_start, old_start + 2 * DT)
    request = loop.poll(old_start + 2 * DT, False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    finish(loop, request, old_start + 2 * DT)
    loop.reset(old_start + 3 * DT)
    loop.poll(T0, False)  # the restarted sim's clock
    assert loop.start_episode(6, T0)  # its first episode, announced on the new clock
    feed_until(loop, T0, T0 + 5 * DT)
    result = loop.poll(T0 + 5 * DT, False)
    assert isinstance(result, PlanRequest), (
        f'{result}: the new episode was ignored (armed={loop.armed}, '
        f'clock_jumps_back={loop.clock_jumps})')
    assert result.observation.t_ns == T0 + 5 * DT and loop.env_seed == 6


def test_an_episode_announced_on_the_new_clock_before_a_poll_saw_the_jump_is_taken():
    """The restarted sim's announcement comes before the next poll: a start earlier than the
    last one's while the clock reads before that start is a clock reset (counted once), not a
    re-delivery. With the clock after the last start (or at 0: use_sim_time, no /clock), an
    older start is still ignored, and the current episode re-delivered too."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    old_start = T0 + 1_000_000 * MS
    assert loop.start_episode(5, old_start, old_start)
    feed_until(loop, old_start, old_start + DT)
    loop.poll(old_start + DT, False)
    assert not loop.start_episode(4, old_start - DT, old_start + DT)  # an older one
    assert not loop.start_episode(5, old_start, T0)  # a re-delivery
    assert not loop.start_episode(6, T0, 0)  # realtime, no /clock yet: nothing to judge by
    assert loop.start_episode(6, T0, T0)  # the sim restarted: its clock at T0
    assert loop.clock_jumps == 1 and loop.armed and loop.episode_start_ns == T0
    feed_until(loop, T0, T0 + DT)
    result = loop.poll(T0 + DT, False)
    assert isinstance(result, PlanRequest), result
    assert loop.clock_jumps == 1


def test_a_lockstep_sim_restarted_alone_is_followed_at_its_next_episode():
    """Lockstep, where the clock is not watched: a sim restarted alone (respawned, clock back
    to 0) announces an episode at 0; it is taken as a clock reset (clock_jumps_back), not
    ignored as older while the node waits on the old plan and files nothing."""
    loop = make_loop(lockstep=True, episode_start_topic='/sim/episode_start')
    old_start = T0
    assert loop.start_episode(5, old_start, old_start)
    feed_until(loop, old_start, old_start + DT)
    assert isinstance(loop.poll(old_start + DT, False), PlanRequest)
    older = loop.add('image', 0, 'x', 0)
    assert older.kind == 'older' and 'sim restarted alone' in older.detail
    assert loop.start_episode(6, 0, 0)
    assert loop.clock_jumps == 1 and loop.history.t_last() is None
    feed(loop, 0)
    result = loop.poll(0, False)
    assert isinstance(result, PlanRequest) and result.observation.t_ns == 0, result
