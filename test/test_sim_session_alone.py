"""A second `dp-ros sim` / `eval --via ros` on the same ROS_DOMAIN_ID answers this session's
services and topics (found by exploratory testing: one run failed on another's seed, the
other hung 300 s, then blamed the policy). The session counts its own nodes in the ROS graph:
two of either, for CROWDED_S, is refused naming ROS_DOMAIN_ID; a shorter overlap (a session
that just ended, still listed) is not. Checked on a session built without ROS."""
from __future__ import annotations

import pytest

from dp_ros.app import sim_launcher
from dp_ros.app.sim_launcher import SimError, SimSession, crowded_nodes

OURS = [('pusht_sim', '/pusht'), ('dp_policy', '/'), ('sim_session', '/')]


def test_crowded_nodes_are_the_sessions_own_listed_twice():
    assert crowded_nodes(OURS) == []
    assert crowded_nodes(OURS + [('dp_policy', '/')]) == ['/dp_policy']
    assert crowded_nodes(OURS + OURS) == ['/pusht/pusht_sim', '/dp_policy']
    assert crowded_nodes(OURS + [('dp_policy', '/robot'), ('pusht_sim', '/')]) == []


class _Graph:
    def __init__(self) -> None:
        self.nodes = list(OURS)

    def get_node_names_and_namespaces(self):
        return self.nodes


def test_two_sessions_for_crowded_s_are_refused_a_shorter_overlap_is_not(monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', '7')
    now = [1000.0]
    monkeypatch.setattr(sim_launcher.time, 'monotonic', lambda: now[0])
    session = SimSession.__new__(SimSession)
    session._node, session._crowded_since = _Graph(), None
    session._check_alone()
    session._node.nodes += [('dp_policy', '/')]  # a session that just ended, still listed
    session._check_alone()
    now[0] += sim_launcher.CROWDED_S - 1
    session._check_alone()
    session._node.nodes = list(OURS)  # gone: the clock starts over
    session._check_alone()
    session._node.nodes += [('dp_policy', '/')]
    session._check_alone()
    now[0] += sim_launcher.CROWDED_S + 1
    with pytest.raises(SimError, match='another session runs on ROS_DOMAIN_ID 7 \\(two '
                                       '/dp_policy nodes\\): run this one on another domain'):
        session._check_alone()
