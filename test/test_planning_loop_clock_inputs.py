"""The planning loop before the node clock runs, the reasons of its stops, and inputs that
never give anything: the rules the node's warnings and /diagnostics are made of.

Defects pinned: under use_sim_time with no /clock yet (clock 0) a realtime node planned on
wall-stamped inputs (their age negative: fresh), then stayed stuck with no stale stop and
skipped every sim-stamped input as older; a clock jump back was logged as stale inputs; a
joint-state topic that never gave the state joints (state_joint_names not the arm's) and an
input topic nobody publishes on were silent, status OK.
"""
from __future__ import annotations

from test_planning_loop import DT, MS, T0, feed, finish, make_loop, plan_now, start_moving

from dp_ros.runtime.planning_loop import (
    HOLD_WARNINGS,
    INPUT_WAIT_NS,
    NO_CLOCK,
    WAITING_FOR_CLOCK,
    PlanRequest,
    Wait,
    problems,
)
from dp_ros.runtime.safety import Hold

WALL_T0 = 1_796_000_000 * 1_000_000_000  # a wall-clock stamp, far ahead of a sim's clock


def test_a_realtime_loop_whose_clock_reads_0_files_and_plans_nothing():
    """Clock 0 in realtime: no input is filed (counted), no plan is made, the state and a
    once-logged detail say 'waiting for /clock', and /diagnostics warns."""
    loop = make_loop()
    assert loop.waiting_for_clock(0) and not loop.waiting_for_clock(1)
    assert loop.before_clock('image', 0) and loop.before_clock('agent_pos', 0)
    assert not loop.before_clock('image', T0)
    result = loop.poll(0, runner_busy=False)
    assert result == Wait(WAITING_FOR_CLOCK, NO_CLOCK) and loop.state == WAITING_FOR_CLOCK
    assert NO_CLOCK.startswith('waiting for /clock')
    values = loop.diagnostics(0, 0)
    assert values['inputs_before_clock'] == 2
    assert 'waiting for /clock (use_sim_time)' in problems(values)


def test_once_the_clock_runs_the_loop_plans_on_the_sim_clock():
    """What was skipped before the clock does not block the inputs stamped on it."""
    loop = make_loop()
    assert loop.poll(0, False) == Wait(WAITING_FOR_CLOCK, NO_CLOCK)
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)
    assert request.observation.t_ns == T0 + DT


def test_lockstep_does_not_wait_for_the_clock():
    """In lockstep stamp 0 is the sim's first step: clock 0 files and plans as before."""
    loop = make_loop(lockstep=True)
    assert not loop.waiting_for_clock(0) and not loop.before_clock('image', 0)
    assert loop.poll(0, False) != Wait(WAITING_FOR_CLOCK, NO_CLOCK)


def test_a_clock_that_reads_0_under_a_running_plan_stops_it():
    """use_sim_time turned on while moving (no /clock): a hold, named for it; then the wall
    history is forgotten once the sim clock starts (a jump back)."""
    loop = make_loop()
    start_moving(loop)
    hold = loop.poll(0, False)
    assert isinstance(hold, Hold) and hold.reason == 'no_clock' and not loop.moving
    assert loop.state == WAITING_FOR_CLOCK and loop.holds['no_clock'] == 1
    sim = 500 * MS
    loop.poll(sim, False)
    assert loop.clock_jumps == 1 and loop.history.t_last() is None


def test_every_stop_poll_gives_has_its_own_warning():
    """The node logs HOLD_WARNINGS[reason] once per reason: a clock jump back is not called
    stale inputs (which used up the once-only stale warning)."""
    loop = make_loop()
    start_moving(loop)
    stale = loop.poll(T0 + DT + 500 * MS, False)  # inputs 0.5 s old, max_input_age_s 0.4
    loop = make_loop()
    start_moving(loop)
    back = loop.poll(500 * MS, False)
    assert (stale.reason, back.reason) == ('stale', 'clock_back')
    assert set(HOLD_WARNINGS) == {'stale', 'clock_back', 'no_clock'}
    assert 'stale' in HOLD_WARNINGS['stale']
    assert 'clock went back' in HOLD_WARNINGS['clock_back']
    assert 'stale' not in HOLD_WARNINGS['clock_back'] + HOLD_WARNINGS['no_clock']


def test_an_input_that_never_receives_a_message_is_reported_after_the_wait():
    """Nothing on the camera: reported once INPUT_WAIT_NS have passed since the first check
    (not before: drivers starting up); an input that did receive is not."""
    loop = make_loop()
    loop.received('agent_pos')
    assert loop.unheard_inputs(0) == []
    assert loop.unheard_inputs(INPUT_WAIT_NS - 1) == []
    assert loop.unheard_inputs(INPUT_WAIT_NS) == ['image']
    values = loop.diagnostics(T0, INPUT_WAIT_NS)
    assert values['inputs_unheard'] == 'image'
    assert 'no message on input(s): image' in problems(values)


def test_an_episode_start_never_announced_is_reported_after_the_wait():
    """With episode_start_topic set the node waits for an announcement before it plans: with
    none in INPUT_WAIT_NS it was said only in its state ('waiting for an episode start'), the
    status OK for ever. One announcement ends it; waiting between episodes is no problem."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    for name in ('image', 'agent_pos'):
        loop.received(name)
    assert not loop.unannounced(0) and not loop.unannounced(INPUT_WAIT_NS - 1)
    assert loop.unannounced(INPUT_WAIT_NS)
    values = loop.diagnostics(T0, INPUT_WAIT_NS)
    assert values['inputs_unheard'] == '/sim/episode_start (episode start)'
    assert 'no message on input(s): /sim/episode_start (episode start)' in problems(values)
    loop.start_episode(3, T0)
    loop.reset(T0 + DT)  # waiting for the next episode: not reported
    assert not loop.unannounced(2 * INPUT_WAIT_NS)
    assert loop.diagnostics(T0 + DT, 2 * INPUT_WAIT_NS)['inputs_unheard'] == ''
    assert not make_loop().unannounced(INPUT_WAIT_NS)  # no episode topic: nothing to wait for


def test_joint_states_that_never_give_the_state_joints_are_reported():
    """Every message on the state topic gave only action joints' positions (taken for another
    driver's): reported with the names they gave. One message that gave the joints (or a
    refused one, reported as a bad message) ends it."""
    loop = make_loop()
    for _ in range(3):
        loop.received('agent_pos')
        loop.other_joints('agent_pos', ['jy', 'jx'])
    assert loop.unread_inputs(0) == {}
    assert loop.unread_inputs(INPUT_WAIT_NS) == {'agent_pos': ['jx', 'jy']}
    values = loop.diagnostics(T0, INPUT_WAIT_NS)
    assert values['inputs_unread'] == 'agent_pos'
    assert 'no message gives the joints of input(s): agent_pos' in problems(values)
    loop.received('agent_pos')  # the state joints' driver came up
    assert loop.unread_inputs(INPUT_WAIT_NS) == {}


def test_a_working_loop_reports_no_missing_input():
    """Both streams heard and filed: nothing reported, however long it runs."""
    loop = make_loop()
    assert loop.diagnostics(T0, 0)['inputs_unheard'] == ''  # the first check
    for name in ('image', 'agent_pos'):
        loop.received(name)
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = loop.poll(T0 + DT, False)
    assert isinstance(request, PlanRequest)
    loop.submitted(request)
    assert finish(loop, request, T0 + DT)
    values = loop.diagnostics(T0 + DT, 10 * INPUT_WAIT_NS)
    assert values['inputs_unheard'] == values['inputs_unread'] == ''
    assert values['inputs_before_clock'] == 0 and problems(values) == []
