"""Review of dp_ros/ros/policy_lifecycle_node.py's transitions (hand mutation testing): what
test_policy_lifecycle_node.py and test_lifecycle_configure_failure.py left unpinned.

The managed node in its own process, driven through lifecycle_msgs services; what it holds is
read from the ROS graph (its publishers, subscriptions and services) and from /proc (its
threads). Asserted: ~/enable is allowed exactly while active; cleanup and a failed configure
leave nothing behind (no entity, no worker thread, no timer still publishing); a shutdown
while active sends the hold. Order and counts, no time margins.
"""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State, Transition
from ros.test_lifecycle_configure_failure import thread_count
from ros.test_policy_lifecycle_node import lifecycle_cmd
from ros.test_policy_node import RELIABLE, Feeder, is_hold, wait_for_a_new_chunk
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

pytestmark = pytest.mark.ros

NODE = 'dp_policy'
CORE_SERVICES = ('/dp_policy/enable', '/dp_policy/reset')


class Managed:
    """The lifecycle node's services and its footprint in the graph, seen by the probe."""

    def __init__(self, probe, proc):
        self.probe, self.proc = probe, proc

    def state(self) -> int:
        return self.probe.lifecycle_state(f'/{NODE}')

    def change(self, transition_id: int) -> bool:
        return self.probe.change_lifecycle_state(transition_id, f'/{NODE}')

    def enable(self, on: bool):
        return self.probe.call(SetBool, f'/{NODE}/enable', SetBool.Request(data=on))

    def publishes(self, topic: str) -> bool:
        return any(i.node_name == NODE
                   for i in self.probe.node.get_publishers_info_by_topic(topic))

    def subscribes(self, topic: str) -> bool:
        return any(i.node_name == NODE
                   for i in self.probe.node.get_subscriptions_info_by_topic(topic))

    def services(self) -> set[str]:
        return {name for name, _ in self.probe.node.get_service_names_and_types()}

    def footprint(self) -> dict[str, bool]:
        """Which of the core's entities the graph shows."""
        services = self.services()
        return {'pub /arm/joint_trajectory': self.publishes('/arm/joint_trajectory'),
                'pub /diagnostics': self.publishes('/diagnostics'),
                'sub /cam/image_raw': self.subscribes('/cam/image_raw'),
                'sub /arm/joint_states': self.subscribes('/arm/joint_states'),
                **{f'srv {s}': s in services for s in CORE_SERVICES}}

    def wait_footprint(self, present: bool, what: str) -> None:
        """Until every core entity is (present) or none is (not present) in the graph."""
        self.probe.wait_for(lambda: all(v == present for v in self.footprint().values()),
                            30.0, f'{what}: {self.footprint()}')


def test_enable_is_allowed_exactly_while_active_and_a_shutdown_while_active_holds(
        ros_processes, ros_probe, checkpoint):
    """Active: ~/enable false stops (the hold) and true resumes; once deactivated again it
    is refused, and an enable true then publishes nothing (the inactive node stays quiet).

    The same node, activated again: the shutdown transition of an active node stops the arm
    (one hold after the chunks, 'stop (shutdown)') before the process ends, exit 0."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = Managed(ros_probe, ros_processes.start('lifecycle', lifecycle_cmd(checkpoint)))
    feeder = Feeder(ros_probe)
    try:
        assert node.change(Transition.TRANSITION_CONFIGURE)
        assert node.change(Transition.TRANSITION_ACTIVATE)
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'chunks once active')
        reply = node.enable(False)
        assert reply.success and reply.message == 'disabled (was enabled)', reply.message
        ros_probe.wait_for(lambda: any(map(is_hold, trajs)), 10.0, 'the hold of the disable')
        reply = node.enable(True)
        assert reply.success and reply.message == 'enabled (was disabled)', reply.message
        n = len(trajs)
        ros_probe.wait_for_messages(trajs, n + 1, 30.0, 'chunks after ~/enable true')

        assert node.change(Transition.TRANSITION_DEACTIVATE)
        assert node.state() == State.PRIMARY_STATE_INACTIVE
        reply = node.enable(True)
        assert not reply.success and 'not active' in reply.message, reply.message
        n_trajs = len(trajs)
        ros_probe.wait_for_more(diags, '/diagnostics', 3, 20.0)
        assert len(trajs) == n_trajs, 'published while inactive'
        assert node.proc.alive(), node.proc.log()

        # active again, moving: the shutdown transition
        assert 'stop (shutdown)' not in node.proc.log()
        assert node.change(Transition.TRANSITION_ACTIVATE)
        ros_probe.wait_for_messages(trajs, n_trajs + 2, 60.0, 'chunks once active again')
        wait_for_a_new_chunk(ros_probe, trajs, 'a plan running')  # not stopped as stale
        assert node.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert node.proc.popen.wait(30) == 0, node.proc.log()[-3000:]
    finally:
        feeder.close()
    ros_probe.wait_for(lambda: trajs and is_hold(trajs[-1]), 10.0, 'the hold of the shutdown')
    assert 'stop (shutdown)' in node.proc.log()
    assert 'Traceback' not in node.proc.log()


def test_cleanup_releases_every_entity_timer_and_the_worker(ros_processes, ros_probe,
                                                            checkpoint):
    """Three configure/cleanup cycles: after each cleanup the graph shows none of the core's
    publishers, subscriptions or services, /diagnostics stops (its timer is gone) and the
    process has as many threads as after the first (the worker thread was stopped)."""
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = Managed(ros_probe, ros_processes.start('lifecycle', lifecycle_cmd(checkpoint)))
    threads = []
    assert node.state() == State.PRIMARY_STATE_UNCONFIGURED
    for cycle in range(3):
        assert node.change(Transition.TRANSITION_CONFIGURE)
        node.wait_footprint(True, f'configured ({cycle})')
        ros_probe.wait_for_more(diags, '/diagnostics', 1, 20.0)  # configured: diagnostics
        assert node.change(Transition.TRANSITION_CLEANUP)
        assert node.state() == State.PRIMARY_STATE_UNCONFIGURED
        node.wait_footprint(False, f'cleaned up ({cycle})')
        threads.append(thread_count(node.proc.popen.pid))
    # no timer left publishing: the diagnostics stop (the publisher is gone from the graph,
    # so nothing reaches the probe; a timer left behind would fail on it and end the node)
    n = len(diags)
    assert node.state() == State.PRIMARY_STATE_UNCONFIGURED  # a round trip: time passes
    assert node.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert len(diags) == n
    assert threads[0] == threads[1] == threads[2], threads
    assert 'Traceback' not in node.proc.log() and node.proc.alive(), node.proc.log()[-3000:]
    assert node.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert node.proc.popen.wait(30) == 0, node.proc.log()[-3000:]


def test_a_failed_configure_leaves_no_entity_behind(ros_processes, ros_probe, checkpoint):
    """A configure rcl refuses at the episode_start subscription (the topic of another type)
    has made the publishers and the input subscriptions by then: all are removed again."""
    node = Managed(ros_probe, ros_processes.start(
        'lifecycle', lifecycle_cmd(checkpoint, episode_start_topic='/diagnostics')))
    assert node.state() == State.PRIMARY_STATE_UNCONFIGURED
    for _ in range(2):
        assert not node.change(Transition.TRANSITION_CONFIGURE)
        assert node.state() == State.PRIMARY_STATE_UNCONFIGURED
        node.wait_footprint(False, 'after the failed configure')
    assert 'could not wire the policy' in node.proc.log()
    assert node.proc.alive(), node.proc.log()[-3000:]


def test_with_start_enabled_false_each_activation_waits_for_enable(ros_processes, ros_probe,
                                                                   checkpoint):
    """A robot to be readied by hand: activate alone publishes nothing (no chunk, no hold)
    until ~/enable true, and so again after a deactivation."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = Managed(ros_probe, ros_processes.start(
        'lifecycle', lifecycle_cmd(checkpoint, start_enabled=False)))
    feeder = Feeder(ros_probe)
    try:
        for transitions in ([Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE],
                            [Transition.TRANSITION_ACTIVATE]):
            for transition in transitions:
                assert node.change(transition), transition
            n_trajs = len(trajs)
            ros_probe.wait_for_more(diags, '/diagnostics', 4, 20.0)  # while active
            assert len(trajs) == n_trajs, 'published before ~/enable'
            assert 'waiting for ~/enable' in node.proc.log()
            reply = node.enable(True)
            assert reply.success and reply.message == 'enabled (was disabled)', reply.message
            ros_probe.wait_for_messages(trajs, n_trajs + 2, 60.0, 'chunks after ~/enable')
            wait_for_a_new_chunk(ros_probe, trajs, 'a plan running')  # not stopped as stale
            assert node.change(Transition.TRANSITION_DEACTIVATE)
            ros_probe.wait_for(lambda: is_hold(trajs[-1]), 10.0, 'the hold of the deactivate')
    finally:
        feeder.close()
