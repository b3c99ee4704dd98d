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
from ros.test_policy_node import RELIABLE, latest_diagnostics, node_cmd, wait_diag
from ros.test_policy_node_sim_clock import Arm
from rosgraph_msgs.msg import Clock
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

STEP_NS = 1000 * cv.NS_PER_S  # the sim's current step: it waits here for its action
# the sampling's extra latency, tried longer on a fresh node while the host is too slow to
# land the disable and enable within it
LATENCIES_S = (2.0, 6.0, 18.0)


def _latest_discarded(diags) -> int:
    return int(latest_diagnostics(diags)['chunks_discarded']) if diags else 0


def test_a_lockstep_step_is_planned_after_a_disable_and_enable_during_its_sampling(
        ros_processes, ros_probe, checkpoint):
    """Lockstep: the sim waits at its step (observation re-sent, clock still); ~/enable false
    and true while that step's chunk samples discard the chunk, and the node must plan that
    step again, not wait for a newer observation the waiting sim never sends.

    The disable and enable must land within the sampling's debug_extra_latency_s: a host too
    loaded to do that (the chunk published, none discarded) is not a failure, it is tried
    again on a fresh node with a longer latency, so the test needs no wall-clock margin and
    costs no more when the host keeps up."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    clock_pub = ros_probe.publisher(Clock, '/clock', 10)
    stop = threading.Event()

    def clock():  # the waiting sim's clock: it does not advance
        while not stop.is_set():
            clock_pub.publish(Clock(clock=cv.ns_to_time(STEP_NS)))
            time.sleep(0.05)

    ticker = threading.Thread(target=clock, daemon=True)
    ticker.start()
    arm = Arm(ros_probe, lambda: STEP_NS)  # the step's observation, re-sent
    try:
        for latency in LATENCIES_S:
            node = ros_processes.start('policy', node_cmd(
                checkpoint, lockstep=True, use_sim_time=True, debug_extra_latency_s=latency))
            wait_diag(ros_probe, diags, lambda d: d['state'] == 'sampling', 60.0,
                      "the step's chunk sampling")
            assert trajs == []
            for on in (False, True):
                assert ros_probe.call(SetBool, '/dp_policy/enable',
                                      SetBool.Request(data=on)).success
            ros_probe.wait_for(lambda: trajs or _latest_discarded(diags) >= 1,
                               latency + 10.0, 'the chunk discarded (or published)')
            if _latest_discarded(diags) == 0:  # published before the disable: a slow host
                try:  # a discard whose diagnostics come just after the trajectory counts
                    wait_diag(ros_probe, diags, lambda d: int(d['chunks_discarded']) >= 1,
                              1.0, 'the discard')
                except TimeoutError:
                    ros_processes.stop(node)
                    trajs.clear()
                    diags.clear()
                    continue
            assert _latest_discarded(diags) == 1
            ros_probe.wait_for(lambda: trajs, latency + 10.0,
                               'a chunk for the step the sim waits at')
            return
        pytest.fail(f'the disable and enable never landed within the sampling, even with '
                    f'debug_extra_latency_s={LATENCIES_S[-1]}')
    finally:
        stop.set()
        arm.close()
        ticker.join(2.0)
