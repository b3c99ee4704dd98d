"""dp_ros.runtime.command_listeners: a command topic with no subscriber while the node
publishes is said after a grace period, once each time, and forgotten when a controller
subscribes or the node stops publishing; it makes /diagnostics WARN."""
from __future__ import annotations

from dp_ros.runtime.command_listeners import CommandListeners
from dp_ros.runtime.planning_loop import problems

S = 1_000_000_000


def test_an_unheard_topic_is_said_after_the_grace_once_and_forgotten_when_heard():
    listeners = CommandListeners(grace_s=2.0)
    counts = {'/arm/joint_trajectory': 0, '/gripper/commands': 1}
    both = set(counts)
    assert listeners.check(counts, both, 0) == []
    assert listeners.check(counts, both, 2 * S - 1) == []  # discovery may still match
    assert listeners.check(counts, both, 2 * S) == ['/arm/joint_trajectory']
    assert listeners.check(counts, both, 5 * S) == []  # said once
    assert listeners.unheard == ['/arm/joint_trajectory']
    # a controller subscribes: heard; it goes away again: said again after the grace
    assert listeners.check({'/arm/joint_trajectory': 1}, both, 6 * S) == []
    assert listeners.unheard == []
    assert listeners.check({'/arm/joint_trajectory': 0}, both, 7 * S) == []
    assert listeners.check({'/arm/joint_trajectory': 0}, both, 9 * S) == \
        ['/arm/joint_trajectory']


def test_a_topic_the_node_does_not_publish_on_is_not_unheard():
    """Nothing published on it lately (disabled, no plan, a sim gone in lockstep): nothing
    goes nowhere; the grace starts anew."""
    listeners = CommandListeners(grace_s=2.0)
    assert listeners.check({'/a': 0}, (), 0) == []
    assert listeners.check({'/a': 0}, (), 10 * S) == [] and listeners.unheard == []
    assert listeners.check({'/a': 0}, {'/a'}, 10 * S) == []
    assert listeners.check({'/a': 0, '/b': 0}, {'/a'}, 12 * S) == ['/a']
    assert listeners.check({'/a': 0}, (), 13 * S) == [] and listeners.unheard == []


def test_unheard_command_topics_make_the_status_warn():
    values = {'bad_messages': 0, 'state': 'executing', 'sampling_errors': 0,
              'outputs_unheard': '/arm/joint_trajectory'}
    assert problems(values) == ['no subscriber on command topic(s): /arm/joint_trajectory']
    assert problems({**values, 'outputs_unheard': ''}) == []
