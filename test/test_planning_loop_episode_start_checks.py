"""An announced episode start far ahead of the node clock (start_ns 1e30, now + 1 h, 2**70:
a review's fuzzing) stalled the node without a word: every input was filed 'before_episode'
(uncounted), /diagnostics stayed OK "inputs: empty", and the stop an episode start owes was
never sent. Now such a start is refused as a bad message (episode_start) by the check an
input's stamp gets, inputs before the start are counted (inputs_before_episode) and WARN when
they are all there is for longer than max_input_age_s, and an owed stop is sent once a
measurement of the new episode comes, else after max_input_age_s at where the controller
runs the forgotten plan. Over ROS: test/ros/test_policy_node_episode_start_checks.py."""
from __future__ import annotations

import numpy as np
import pytest
from test_planning_loop import DT, MS, T0, feed, make_loop
from test_planning_loop_episode_start_hold import STANDING, moving_loop

from dp_ros.runtime.input_checks import BadInput
from dp_ros.runtime.planning_loop import (
    BEFORE_EPISODE,
    Wait,
    parse_episode_start,
    problems,
)
from dp_ros.runtime.safety import Hold

HOUR = 3600 * 1000 * MS


@pytest.mark.parametrize('start', ['1e30', str(2**70), '-5'])
def test_a_start_no_clock_reads_is_malformed(start):
    with pytest.raises(ValueError, match='start_ns'):
        parse_episode_start('{"seed": 1, "start_ns": %s, "episode": 2}' % start)


@pytest.mark.parametrize('ahead', [HOUR, 500 * MS])
def test_a_start_ahead_of_the_clock_is_refused_and_the_episode_not_taken(ahead):
    loop = make_loop(episode_start_topic='/sim/episode_start')
    with pytest.raises(BadInput) as info:
        loop.start_episode(3, T0 + ahead, T0)
    assert info.value.kind == 'episode_start' and 'ahead of the node clock' in str(info.value)
    assert loop.episode_start_ns is None and not loop.armed
    assert not loop.bad  # counted by the caller, as a malformed one is


def test_a_start_behind_the_clock_is_taken():
    """A latched announcement heard by a node started an hour into the episode."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(3, T0 - HOUR, T0)
    assert loop.armed


def test_inputs_before_the_start_are_counted_and_warn_when_that_is_all_there_is():
    """Lockstep with stamp_tolerance_s 0 checks no stamp ahead: a start far ahead is taken,
    and every input is before it."""
    loop = make_loop(episode_start_topic='/sim/episode_start', lockstep=True,
                     stamp_tolerance_s=0.0)
    assert loop.start_episode(3, T0 + HOUR, T0)
    feed(loop, T0)
    first = loop.poll(T0, runner_busy=False)
    assert isinstance(first, Wait) and first.reason != BEFORE_EPISODE  # in flight, maybe
    for t in range(T0 + DT, T0 + 6 * DT, DT):
        feed(loop, t, ('image', 'agent_pos'))
    wait = loop.poll(T0 + 5 * DT, runner_busy=False)
    assert isinstance(wait, Wait) and wait.reason == BEFORE_EPISODE
    assert 'before the announced episode start' in wait.detail
    values = loop.diagnostics(T0 + 5 * DT, 0)
    assert values['inputs_before_episode'] == 12
    assert 'inputs stamped before the episode start' in problems(values)


def test_a_filed_input_ends_the_before_episode_state():
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(3, T0 + 300 * MS, T0)  # within max_input_age_s ahead
    for t in range(T0, T0 + 300 * MS, DT):
        feed(loop, t)
    feed(loop, T0 + 300 * MS)
    wait = loop.poll(T0 + 300 * MS, runner_busy=False)
    assert not (isinstance(wait, Wait) and wait.reason == BEFORE_EPISODE)
    assert loop.diagnostics(T0 + 300 * MS, 0)['inputs_before_episode'] == 6


def test_an_owed_stop_is_sent_at_the_first_measurement_of_the_new_episode():
    loop = moving_loop()
    assert loop.start_episode(6, T0 + 2 * DT, T0 + 2 * DT).hold is None and loop.stop_owed
    assert not isinstance(loop.poll(T0 + 2 * DT + 10 * MS, runner_busy=False), Hold)
    loop.measure(T0 + 2 * DT + 20 * MS, np.array([110.0, 167.0]))
    hold = loop.poll(T0 + 2 * DT + 30 * MS, runner_busy=False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.source == 'measured'
    np.testing.assert_array_equal(hold.position, [110.0, 167.0])
    assert not loop.stop_owed and loop.holds['episode_start'] == 1


def test_an_owed_stop_without_a_measurement_holds_at_the_commanded_position():
    """Nothing measured since the start for max_input_age_s (0.4 s): the hold at where the
    controller runs the forgotten plan, not the last episode's measurement."""
    loop = moving_loop()
    plan = loop.commanded
    assert loop.start_episode(6, T0 + 2 * DT, T0 + 2 * DT) and loop.stop_owed
    assert not isinstance(loop.poll(T0 + 5 * DT, runner_busy=False), Hold)
    late = T0 + 7 * DT
    hold = loop.poll(late, runner_busy=False)
    assert isinstance(hold, Hold) and hold.reason == 'episode_start'
    assert hold.source == 'commanded'
    np.testing.assert_allclose(hold.position, plan.interpolate(late))
    assert not np.allclose(hold.position, STANDING)
    assert not loop.stop_owed


@pytest.mark.parametrize('text, said', [
    ('[' * 100_000, 'characters, an episode start has at most 4096'),
    ('[' * 4000, 'RecursionError'),  # under the cap, past json's depth
    ('{"seed": 1, "start_ns": 5, "episode": ' + '[' * 2000 + ']' * 2000 + '}',
     'RecursionError'),
])
def test_a_huge_or_deep_announcement_is_malformed_not_a_crash(text, said):
    """A review's '[' * 100000 raised RecursionError out of json into the node's executor: the
    node died, and on the latched topic again at every restart."""
    with pytest.raises(ValueError, match=said) as info:
        parse_episode_start(text)
    assert len(str(info.value)) < 2000


def test_a_long_episode_name_is_cut_for_the_log():
    start = parse_episode_start('{"seed": 1, "start_ns": 5, "episode": "%s"}' % ('x' * 3000))
    assert len(start.episode) < 300 and start.episode.endswith('more characters)')
    assert parse_episode_start('{"seed": 1, "start_ns": 5, "episode": 7}').episode == 7
