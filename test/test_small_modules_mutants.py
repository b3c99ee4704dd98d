"""Behaviour of eight small modules that their own tests left unpinned (a mutation review):
the command-topic listeners and rivals, the joint publishers' conflict window and names, the
recent-problem counters, the parameter-file block check, the alias-bounded YAML loader and
the nested config diff (the held-back stop signals' tests joined test/test_held_signals.py).

Each test kills a mutant that the modules' other tests let live: a default (grace, window,
refresh) changed, a boundary moved by one, a last-seen time not refreshed, an order or a
duplicate left in, a counter not windowed, a block check that walks an alias bomb.
"""
from __future__ import annotations

from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from test_joint_publishers_names import Graph
from test_recent_problems import make_loop
from test_ros_param_files import write

from dp_ros.ros.param_files import unmatched_blocks, warn_unmatched_blocks
from dp_ros.runtime.command_listeners import CommandListeners, CommandRivals
from dp_ros.runtime.joint_publishers import (
    UNKNOWN_NODE_NAMESPACE,
    UNNAMED,
    JointPublishers,
    PublisherNames,
    node_name,
    publisher_key,
)
from dp_ros.runtime.planning_loop import problems
from dp_ros.runtime.recent_problems import PROBLEM_COUNTERS, RecentCounts
from dp_ros.safe_yaml import expanded_size
from training.nested_diff import diff_values

S = 1_000_000_000
MS = 1_000_000
DRIVER, STRAY = b'driver', b'stray'
# more names than a set could keep in sorted order by chance
TOPICS = [f'/arm{i}/joint_trajectory' for i in (7, 3, 9, 1, 5, 8, 2, 6)]


# --- command_listeners -----------------------------------------------------------------------

def test_the_default_grace_says_an_unheard_topic_after_two_seconds() -> None:
    """The node builds CommandListeners() with the default: said 2 s after the topic lost
    its subscribers, not later."""
    listeners = CommandListeners()
    assert listeners.check({'/cmd': 0}, {'/cmd': 0}, 0) == []
    assert listeners.check({'/cmd': 0}, {'/cmd': 0}, 2 * S - 1) == []
    assert listeners.check({'/cmd': 0}, {'/cmd': 0}, 2 * S) == ['/cmd']


def test_a_grace_given_is_the_grace_used() -> None:
    listeners = CommandListeners(grace_s=0.5)
    assert listeners.check({'/cmd': 0}, {'/cmd': 0}, 0) == []
    assert listeners.check({'/cmd': 0}, {'/cmd': 0}, S // 2) == ['/cmd']


def test_unheard_topics_are_listed_sorted() -> None:
    """/diagnostics' outputs_unheard reads the same whatever order the topics came in."""
    listeners = CommandListeners(grace_s=1.0)
    counts, sent = dict.fromkeys(TOPICS, 0), dict.fromkeys(TOPICS, 0)
    listeners.check(counts, sent, 0)
    assert sorted(listeners.check(counts, sent, S)) == sorted(TOPICS)
    assert listeners.unheard == sorted(TOPICS)


def test_contended_topics_are_listed_sorted_and_each_topics_rivals_are_given() -> None:
    rivals = CommandRivals()
    assert rivals.check({t: ['/teleop', '/script'] for t in TOPICS}) == TOPICS
    assert rivals.contended == ', '.join(f'{t} (/script, /teleop)' for t in sorted(TOPICS))
    assert rivals.of(TOPICS[0]) == ('/script', '/teleop')  # the log line names them
    assert rivals.of('/other') == ()


# --- joint_publishers ------------------------------------------------------------------------

def test_a_stray_exactly_one_window_ago_still_conflicts() -> None:
    book = JointPublishers(window_ns=S)
    assert book.others(['j1'], STRAY, 0) == []
    assert book.others(['j1'], DRIVER, S) == [STRAY]
    assert book.others(['j1'], DRIVER, 2 * S + 1) == []


def test_a_publisher_giving_a_joint_all_along_stays_recent() -> None:
    """The driver publishes every 0.3 s: its last message, not its first, dates it, so a
    stray 1.2 s after the first is still a second publisher."""
    book = JointPublishers(window_ns=S)
    for t in range(0, 4):
        assert book.others(['j1'], DRIVER, t * 300 * MS) == []
    assert book.others(['j1'], STRAY, 1200 * MS) == [DRIVER]


def test_the_default_window_is_about_a_second() -> None:
    """A stray joint_state_publisher at 2 Hz (its default is 10) conflicts with the driver."""
    book = JointPublishers()
    assert book.others(['j1'], STRAY, 0) == []
    assert book.others(['j1'], DRIVER, 900 * MS) == [STRAY]


def test_the_other_publishers_are_sorted() -> None:
    book = JointPublishers()
    strays = [bytes([b]) * 4 for b in (7, 3, 9, 1, 5, 8, 2, 6)]
    for k, stray in enumerate(strays):
        book.others(['j1'], stray, k * MS)
    assert book.others(['j1'], DRIVER, 10 * MS) == sorted(strays)


def test_named_publishers_are_not_asked_about_again_after_the_refresh() -> None:
    """Only an unnamed publisher is asked about again: all named, no more graph lookups."""
    graph, names = Graph(), PublisherNames(refresh_ns=S)
    graph.stray_named = True
    for t in range(5):
        assert names.names([DRIVER, STRAY], graph, t * S) == ['/arm/driver', '/js_only']
    assert graph.lookups == 1


def test_an_unnamed_publisher_is_asked_about_again_after_a_second_by_default() -> None:
    graph, names = Graph(), PublisherNames()
    assert names.names([STRAY], graph, 0) == [UNNAMED]
    graph.stray_named = True
    assert names.names([STRAY], graph, S) == ['/js_only'] and graph.lookups == 2


def test_a_node_the_graph_does_not_name_fully_is_unnamed() -> None:
    assert node_name('/arm', '') == UNNAMED
    assert node_name(UNKNOWN_NODE_NAMESPACE, 'driver') == UNNAMED
    assert node_name('/', 'driver') == '/driver'


def test_a_gid_without_data_is_no_identity() -> None:
    assert publisher_key({'publisher_gid': {'implementation_identifier': 'rmw'}}) is None
    assert publisher_key({'publisher_gid': {'data': b''}}) is None


# --- recent_problems -------------------------------------------------------------------------

def test_every_counter_that_makes_the_status_warn_warns_only_for_the_window() -> None:
    """Each of the planning loop's counters that problems() reports: its rise warns, and the
    status is OK again a window later (a counter left out of PROBLEM_COUNTERS warned for
    the rest of the node's life)."""
    base = make_loop().diagnostics(0, 0)
    counters = [k for k, v in base.items() if type(v) is int
                and problems({**base, k: 1}) != problems(base)]
    assert len(counters) >= 8, counters
    for name in counters:
        recent = RecentCounts(PROBLEM_COUNTERS, 5 * S)
        assert problems(recent.recent(base, 0)) == problems(base)
        assert problems(recent.recent({**base, name: 1}, S)) != problems(base), name
        assert problems(recent.recent({**base, name: 1}, 100 * S)) == problems(base), name


# --- param_files -----------------------------------------------------------------------------

def test_a_misspelling_of_the_nodes_new_name_is_said(tmp_path: Path) -> None:
    """Renamed by `-r __node:=left_policy`, with a block for /left_polcy: said as a
    misspelling of the node's own name, not only of the name it is built with."""
    path = write(tmp_path, '/left_polcy:\n  ros__parameters:\n    max_velocity: [1.0]\n')
    (warning,) = unmatched_blocks([path], '/left_policy', 'dp_policy')
    assert "block '/left_polcy'" in warning


def test_blocks_of_other_nodes_with_policy_in_their_names_stay_quiet(tmp_path: Path) -> None:
    path = write(tmp_path, '/**/sim_policy:\n  ros__parameters: {a: 1}\n'
                           '/**/dp_player:\n  ros__parameters: {b: 1}\n')
    assert unmatched_blocks([path], '/dp_policy', 'dp_policy') == []


def test_a_parameter_file_with_an_alias_bomb_is_left_to_rcl(tmp_path: Path) -> None:
    """Read with the bounded loader: a file whose aliases nest a misspelt block 6 ** 6 times
    is refused, not walked into tens of thousands of warnings."""
    text = '&l0 {dp_polcy: {ros__parameters: {x: 1}}}'
    for i in range(1, 7):
        text = f'&l{i} {{k0: {text}, ' + ', '.join(f'k{j}: *l{i - 1}' for j in range(1, 6)) + '}'
    path = write(tmp_path, f'top: {text}\n')
    assert unmatched_blocks([path], '/dp_policy', 'dp_policy') == []


def test_unmatched_blocks_are_logged_as_warnings(tmp_path: Path, capfd) -> None:
    """warn_unmatched_blocks on a real node: a WARN line naming the block (a debug line
    would not show at the default level)."""
    path = write(tmp_path, '/dp_policy:\n  ros__parameters:\n    max_velocity: [1.0]\n')
    context = Context()
    rclpy.init(context=context)
    node = Node('left_policy', context=context)
    try:
        warn_unmatched_blocks(node, ['prog', '--ros-args', '--params-file', path],
                              'dp_policy')
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    err = capfd.readouterr().err
    assert '[WARN]' in err and "block '/dp_policy'" in err, err


# --- safe_yaml -------------------------------------------------------------------------------

def test_aliases_adding_exactly_the_bound_load() -> None:
    """A 3-node list aliased 3 times adds 9 nodes: within a bound of 9."""
    import yaml

    assert expanded_size(yaml.compose('[&a [1, 2], *a, *a, *a]'), limit=9) == 13


def test_an_alias_bomb_in_a_key_is_refused() -> None:
    """An !!omap's keys are not hashed, so a bomb written as a key loads as a value would:
    its aliases count as a value's do."""
    import pytest

    from dp_ros.safe_yaml import AliasBombError, safe_load

    bomb = '&a0 [x, x, x, x, x, x, x, x, x]'
    for i in range(1, 6):
        bomb = f'&a{i} [{bomb}, ' + ', '.join([f'*a{i - 1}'] * 8) + ']'
    with pytest.raises(AliasBombError, match='alias bomb'):
        safe_load('!!omap [{? ' + bomb + ' : 1}]')


# --- nested_diff -----------------------------------------------------------------------------

CAMERA = {'topic': '/cam', 'rate_hz': 30.0}


def test_source_lists_of_other_lengths_differ_as_whole_lists() -> None:
    """A source dropped by an append: the lists differ, no per-source pairing (or error)."""
    assert diff_values({'sources': [CAMERA, CAMERA]}, {'sources': [CAMERA]}) == [
        ('sources', [CAMERA, CAMERA], [CAMERA])]


def test_lists_not_all_of_mappings_differ_as_whole_lists() -> None:
    assert diff_values({'k': [CAMERA, 1]}, {'k': [CAMERA, 2]}) == [
        ('k', [CAMERA, 1], [CAMERA, 2])]


def test_a_key_added_to_an_ordered_mapping_is_named_as_that_key() -> None:
    """Only a reorder of the common keys is a change of order; a camera added is itself."""
    a = {'data': {'rgb_keys': {'cam_a': 'cam_a'}}}
    b = {'data': {'rgb_keys': {'cam_a': 'cam_a', 'cam_c': 'cam_c'}}}
    assert diff_values(a, b, ordered=('data.rgb_keys',)) == [
        ('data.rgb_keys.cam_c', None, 'cam_c')]


# --- step_speed ------------------------------------------------------------------------------

def test_train_cpu_false_is_not_advised_where_it_is_already_false() -> None:
    from training.step_speed import gpu_settings_on_cpu

    assert gpu_settings_on_cpu('cpu', True, False, True, None) is None


def test_only_a_cpu_run_is_warned_of_gpu_settings() -> None:
    """An Apple GPU (mps) is no CPU: its compile is not 'on the CPU'."""
    from training.step_speed import gpu_settings_on_cpu

    assert gpu_settings_on_cpu('mps', False, False, True, 'default') is None
