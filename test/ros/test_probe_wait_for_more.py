"""RosProbe.wait_for_more: a timeout says how many messages came, how old the newest one's
stamp is and who publishes the topic now, so a CI failure tells a node gone quiet from a
node gone (a one-off "timed out waiting for two more diagnostics" said neither)."""
from __future__ import annotations

import re

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import RELIABLE

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros


def test_a_timeout_names_the_count_the_newest_stamp_age_and_the_publishers(ros_probe):
    diags = ros_probe.collect(DiagnosticArray, '/probe_test/diagnostics', RELIABLE)
    pub = ros_probe.publisher(DiagnosticArray, '/probe_test/diagnostics', RELIABLE)
    ros_probe.wait_for_subscribers(pub)
    msg = DiagnosticArray()
    msg.header.stamp = cv.ns_to_time(ros_probe.node.get_clock().now().nanoseconds - 5 * 10**9)
    pub.publish(msg)
    assert len(ros_probe.wait_for_more(diags, '/probe_test/diagnostics', 1, 30.0)) == 1

    with pytest.raises(TimeoutError) as raised:
        ros_probe.wait_for_more(diags, '/probe_test/diagnostics', 2, 0.3)
    text = str(raised.value)
    assert text.startswith('timed out after 0.3s waiting for 3 messages on '
                           '/probe_test/diagnostics (2 more): 0 came, the newest stamped '), text
    age = float(re.search(r'stamped (\d+\.\d) s ago', text).group(1))
    assert 5.0 <= age < 60.0, text
    assert text.endswith("; publishers of /probe_test/diagnostics in the graph: "
                         "['/dp_ros_test_probe']"), text


def test_a_timeout_on_a_topic_nobody_published_says_so(ros_probe):
    received = ros_probe.collect(DiagnosticArray, '/probe_test/nobody', RELIABLE)
    with pytest.raises(TimeoutError) as raised:
        ros_probe.wait_for_more(received, '/probe_test/nobody', 1, 0.2)
    assert str(raised.value) == ('timed out after 0.2s waiting for 1 messages on '
                                 '/probe_test/nobody (1 more): 0 came; publishers of '
                                 '/probe_test/nobody in the graph: []')
