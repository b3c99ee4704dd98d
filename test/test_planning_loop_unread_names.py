"""A joint-state topic whose messages never give the state joints keeps the names they give,
for the inputs_unread warning: every distinct one was kept, so a driver naming thousands of
generated joints grew the node without bound and made a 631 KB log line (a review's flood).
Now the first MAX_OTHER_NAMES are kept, each cut to NAME_CHARS, with a count of the rest; the
node cuts what it repeats of a message's text (input_checks.shorten). Over ROS:
test/ros/test_policy_node_long_strings.py."""
from __future__ import annotations

from test_planning_loop import make_loop

from dp_ros.runtime.input_checks import MAX_TEXT, shorten
from dp_ros.runtime.planning_loop import INPUT_WAIT_NS, MAX_OTHER_NAMES, NAME_CHARS


def test_the_foreign_names_kept_are_capped_and_the_rest_counted():
    loop = make_loop()
    loop.unread_inputs(0)  # the first check: the wait begins
    for k in range(2000):
        loop.received('agent_pos')
        loop.other_joints('agent_pos', [f'wheel_{k}_{j}_' + 'x' * 500 for j in range(8)]
                          + ['head'])
    stats = loop.stats['agent_pos']
    assert len(stats.other_names) == MAX_OTHER_NAMES
    assert all(len(name) <= NAME_CHARS + 40 for name in stats.other_names)
    assert stats.other_names_left_out == 2000 * 8 - (MAX_OTHER_NAMES - 1)
    given = loop.unread_inputs(INPUT_WAIT_NS)['agent_pos']
    assert len(given) == MAX_OTHER_NAMES + 1 and 'head' in given
    assert given[-1] == f'... {stats.other_names_left_out} more'


def test_a_name_given_again_is_not_counted_as_left_out():
    loop = make_loop()
    for _ in range(3):
        loop.other_joints('agent_pos', ['head', 'torso'])
    assert list(loop.stats['agent_pos'].other_names) == ['head', 'torso']
    assert loop.stats['agent_pos'].other_names_left_out == 0


def test_shorten_cuts_with_an_ellipsis_naming_what_went():
    assert shorten('abc') == 'abc'
    long = 'e' * (MAX_TEXT + 5000)
    assert shorten(long) == 'e' * MAX_TEXT + '... (5000 more characters)'
    assert shorten('abcdef', 3) == 'abc... (3 more characters)'
