"""Lockstep: ~/enable false then true while a step's chunk samples discards that chunk; the
sim waits at the step (clock still, its observation re-sent), so the node must plan that
observation again, not wait for a newer one the waiting sim never sends (before: a stall
until the sim's action_wait_timeout_s, 60 s). The loop's rule:
test/test_planning_loop_lockstep_discard_replan.py."""
from __future__ import annotations

import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import RELIABLE, node_cmd, wait_diag
from ros.test_policy_node_sim_clock import Arm
from ros.tiny_checkpoint import make_tiny_checkpoint
from rosgraph_msgs.msg import Clock
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

STEP_NS = 1000 * cv.NS_PER_S  # the sim's current step: it waits here for its action


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny')


def test_a_lockstep_step_is_planned_after_a_disable_and_enable_during_its_sampling(
        ros_processes, ros_probe, checkpoint):
    """Lockstep: the sim waits at its step (observation re-sent, clock still); ~/enable false
    and true while that step's chunk samples discard the chunk, and the node must plan that
    step again, not wait for a newer observation the waiting sim never sends."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    clock_pub = ros_probe.publisher(Clock, '/clock', 10)
    stop = threading.Event()

    def clock():  # the waiting sim's clock: it does not advance
        while not stop.is_set():
            clock_pub.publish(Clock(clock=cv.ns_to_time(STEP_NS)))
            time.sleep(0.05)

    ros_processes.start('policy', node_cmd(checkpoint, lockstep=True, use_sim_time=True,
                                           debug_extra_latency_s=2.0))
    ticker = threading.Thread(target=clock, daemon=True)
    ticker.start()
    arm = Arm(ros_probe, lambda: STEP_NS)  # the step's observation, re-sent
    try:
        wait_diag(ros_probe, diags, lambda d: d['state'] == 'sampling', 60.0,
                  "the step's chunk sampling")
        assert trajs == []
        for on in (False, True):
            assert ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=on)).success
        wait_diag(ros_probe, diags, lambda d: int(d['chunks_discarded']) == 1, 10.0,
                  'the chunk sampled before the disable discarded')
        ros_probe.wait_for(lambda: trajs, 10.0, 'a chunk for the step the sim waits at')
    finally:
        stop.set()
        arm.close()
        ticker.join(2.0)
