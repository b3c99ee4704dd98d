"""The publishers a conflicting-joint warning names: a second publisher whose messages came
before discovery named its node was cached as '_NODE_NAMESPACE_UNKNOWN_/_NODE_NAME_UNKNOWN_'
and named so for ever (a review's run); now an unnamed publisher is asked about again, at most
every NAMES_REFRESH_NS. The graph lookup is a plain function here: what rclpy's
get_publishers_info_by_topic gives, (gid, node namespace, node name) per publisher."""
from __future__ import annotations

from dp_ros.runtime.joint_publishers import (
    NAMES_REFRESH_NS,
    UNKNOWN_NODE_NAME,
    UNKNOWN_NODE_NAMESPACE,
    UNNAMED,
    PublisherNames,
)

DRIVER, STRAY = b'driver', b'stray'


class Graph:
    """The ROS graph as discovery fills it in; counts the lookups."""

    def __init__(self):
        self.stray_named = False
        self.lookups = 0

    def __call__(self):
        self.lookups += 1
        stray = ('/', 'js_only') if self.stray_named else (UNKNOWN_NODE_NAMESPACE,
                                                            UNKNOWN_NODE_NAME)
        return [(DRIVER, '/arm', 'driver'), (STRAY, *stray)]


def test_a_publisher_discovery_names_late_is_named_once_it_does():
    graph, names = Graph(), PublisherNames()
    assert names.names([STRAY, DRIVER], graph, 0) == [UNNAMED, '/arm/driver']
    graph.stray_named = True
    assert names.names([STRAY, DRIVER], graph, NAMES_REFRESH_NS) == ['/js_only',
                                                                      '/arm/driver']


def test_an_unnamed_publisher_is_asked_about_at_most_every_refresh():
    graph, names = Graph(), PublisherNames()
    for t in range(0, NAMES_REFRESH_NS, NAMES_REFRESH_NS // 100):  # messages at 100 Hz
        assert names.names([STRAY, DRIVER], graph, t)[0] == UNNAMED
    assert graph.lookups == 1
    names.names([STRAY, DRIVER], graph, NAMES_REFRESH_NS)
    assert graph.lookups == 2


def test_named_publishers_are_asked_about_once_and_a_new_one_at_once():
    graph, names = Graph(), PublisherNames()
    graph.stray_named = True
    for t in range(10):
        names.names([DRIVER, STRAY], graph, t)
    assert graph.lookups == 1
    assert names.names([b'new'], graph, 11) == [UNNAMED] and graph.lookups == 2
