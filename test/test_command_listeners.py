"""dp_ros.runtime.command_listeners: a command topic the node published on while it had no
subscriber for the grace is said, once each time, and forgotten when a controller
subscribes; it makes /diagnostics WARN. A slow policy (a chunk every few seconds) is said
as a fast one is (a last read found the first version's 'published within the last 2 s'
flicker at 2.5 s and never warn at 3 s). Other nodes publishing on a command topic are said
when they appear or change, WARN while there, and are forgotten when gone."""
from __future__ import annotations

from dp_ros.runtime.command_listeners import CommandListeners, CommandRivals
from dp_ros.runtime.planning_loop import problems

S = 1_000_000_000
ARM = '/arm/joint_trajectory'


def test_an_unheard_topic_is_said_after_the_grace_once_and_forgotten_when_heard():
    listeners = CommandListeners(grace_s=2.0)
    counts = {ARM: 0, '/gripper/commands': 1}
    sent = {ARM: 0, '/gripper/commands': 0}
    assert listeners.check(counts, sent, 0) == []
    assert listeners.check(counts, sent, 2 * S - 1) == []  # discovery may still match
    assert listeners.check(counts, sent, 2 * S) == [ARM]
    assert listeners.check(counts, sent, 5 * S) == []  # said once
    assert listeners.unheard == [ARM]
    # a controller subscribes: heard; it goes away again: said again after the grace
    assert listeners.check({ARM: 1}, {ARM: 6 * S}, 6 * S) == []
    assert listeners.unheard == []
    assert listeners.check({ARM: 0}, {ARM: 7 * S}, 7 * S) == []
    assert listeners.check({ARM: 0}, {ARM: 8 * S}, 9 * S) == [ARM]


def test_only_a_topic_published_on_while_it_had_no_subscriber_is_unheard():
    """Never published there, or only before it lost its subscriber: nothing went nowhere.
    A disabled node's unheard topic stays said until a subscriber matches."""
    listeners = CommandListeners(grace_s=2.0)
    assert listeners.check({'/a': 0, '/b': 0}, {}, 0) == []
    assert listeners.check({'/a': 0, '/b': 0}, {'/b': -S}, 10 * S) == []  # /b: before
    assert listeners.unheard == []
    assert listeners.check({'/a': 0}, {'/a': 11 * S}, 12 * S) == ['/a']
    assert listeners.check({'/a': 0}, {'/a': 11 * S}, 60 * S) == [] and listeners.unheard == ['/a']


def test_a_slow_policy_is_said_once_and_stays_said():
    """A chunk every 3 s, diagnostics every second: one warning, no flicker."""
    listeners = CommandListeners(grace_s=2.0)
    said, unheard = [], []
    for t in range(0, 60):
        said += listeners.check({ARM: 0}, {ARM: (t // 3) * 3 * S}, t * S)
        unheard.append(listeners.unheard)
    assert said == [ARM] and all(u == [ARM] for u in unheard[2:])


def test_unheard_command_topics_make_the_status_warn():
    values = {'bad_messages': 0, 'state': 'executing', 'sampling_errors': 0,
              'outputs_unheard': ARM}
    assert problems(values) == [f'no subscriber on command topic(s): {ARM}']
    assert problems({**values, 'outputs_unheard': ''}) == []


def test_other_publishers_are_said_when_they_appear_or_change_and_forgotten_when_gone():
    rivals = CommandRivals()
    assert rivals.check({ARM: []}) == [] and rivals.contended == ''
    assert rivals.check({ARM: ['/teleop']}) == [ARM]
    assert rivals.check({ARM: ['/teleop']}) == []  # said once while it lasts
    assert rivals.check({ARM: ['/teleop', '/script', '/teleop']}) == [ARM]
    assert rivals.contended == f'{ARM} (/script, /teleop)'
    assert rivals.check({ARM: []}) == [] and rivals.contended == ''
    assert rivals.check({ARM: ['/teleop']}) == [ARM]  # back again: said again


def test_other_publishers_on_a_command_topic_make_the_status_warn():
    values = {'bad_messages': 0, 'state': 'executing', 'sampling_errors': 0,
              'outputs_contended': f'{ARM} (/teleop)'}
    assert problems(values) == [f'other publishers on command topic(s): {ARM} (/teleop)']
    assert problems({**values, 'outputs_contended': ''}) == []
