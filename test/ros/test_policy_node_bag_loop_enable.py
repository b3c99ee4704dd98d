"""A bag replayed with `ros2 bag play --loop --clock` to a policy node under use_sim_time that
is not enabled yet (start_enabled false; the managed node between configure and activate:
inputs are filed, nothing planned). The bag restarts (/clock and the stamps back to its
start), then the engineer enables the node.

Defect pinned: the clock jump back was looked for only once enabled, so the first chunk was
sampled on the previous loop's inputs (stamped ~990 s ahead of the clock), after which the
node said 'executing' and filed nothing until the clock got there. Real processes over real
topics; order and stamps asserted, no wall-clock margins (the loop's rules:
test_planning_loop_clock_back_unpolled.py).
"""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros.test_policy_node import latest_diagnostics, node_cmd
from ros.test_policy_node_sim_clock import RELIABLE, SIM_START_NS, Arm, SimClock
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

BAG_START_NS = 10 * cv.NS_PER_S  # where the looped bag's clock restarts (SIM_START_NS: 1000 s)


def test_enabling_after_a_bag_loop_plans_on_the_new_clock_not_the_previous_loop(
        ros_processes, ros_probe, checkpoint):
    """The first chunk after ~/enable is stamped on the restarted clock (near 10 s), not for
    the previous loop's end (~1000 s: sampled on inputs from the old loop, due 990 s ahead,
    after which the node says 'executing' and files nothing until the clock gets there)."""
    clock = SimClock(ros_probe).start()
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, use_sim_time=True,
                                                  start_enabled=False, torchscript=False,
                                                  warmup=False))
    arm = Arm(ros_probe, lambda: clock.ns)
    try:
        ros_probe.wait_for(lambda: diags and int(latest_diagnostics(diags).get(
            'input_image_filed', 0)) >= 5, 120, 'inputs filed while disabled')
        clock.ns = BAG_START_NS  # the bag loops: /clock and stamps go back 990 s
        ros_probe.wait_for(lambda: int(latest_diagnostics(diags).get('clock_jumps_back', 0))
                           >= 1, 60, 'the jump back seen while disabled')
        assert trajs == []
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True))
        assert reply.success, reply.message
        ros_probe.wait_for_messages(trajs, 1, 60, 'a chunk once enabled')
        now_ns = clock.ns
        stamp_ns = cv.time_to_ns(trajs[0].header.stamp)
    finally:
        arm.close()
        clock.close()
    assert stamp_ns < SIM_START_NS, (
        f'first chunk stamped {stamp_ns / 1e9:.1f} s while /clock reads {now_ns / 1e9:.1f} s: '
        'planned on the previous loop of the bag', node.log()[-1500:])
    assert node.log().count('the node clock went back by more than max_input_age_s') == 1, (
        'the jump seen while disabled, said once', node.log()[-1500:])
