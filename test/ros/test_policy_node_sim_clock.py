"""The policy node under use_sim_time: its wiring of the clock rules, real processes over real
topics (the rules themselves: test_planning_loop_clock_inputs.py).

The node in its own process; the probe plays the camera, the arm and (where said) the sim's
/clock. Assertions on what the node publishes and logs, never on wall-clock margins.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros.test_policy_node import latest_diagnostics, node_cmd
from ros_harness import ProcessGroup
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
SIM_START_NS = 1000 * cv.NS_PER_S


LOCKSTEP_NODE = 'dp_policy_lockstep'


@pytest.fixture(scope='module', autouse=True)
def lockstep_node(tmp_path_factory, checkpoint):
    """test_lockstep_refuses_use_sim_time_turned_off_while_it_runs's node, started with the
    module's first test so that its start overlaps theirs: a node name of its own and every
    topic it reads or writes (/diagnostics too) under /lockstep, so nothing of it reaches the
    other tests' probe and nothing of theirs but /clock reaches it (it plans nothing)."""
    group = ProcessGroup(tmp_path_factory.mktemp('lockstep') / 'proc_logs')
    cmd = node_cmd(checkpoint, use_sim_time=True, lockstep=True, torchscript=False,
                   warmup=False, image_topics='[/lockstep/cam/image_raw]',
                   joint_state_topic='/lockstep/arm/joint_states',
                   action_topic='/lockstep/arm/joint_trajectory')
    try:
        yield group.start('policy_lockstep', [*cmd, '-r', f'__node:={LOCKSTEP_NODE}',
                                              '-r', '/diagnostics:=/lockstep/diagnostics'])
    finally:
        group.stop_all()


class Arm:
    """A camera and joint states at 10 Hz, stamped by `stamp_ns()`."""

    def __init__(self, probe, stamp_ns):
        self.probe, self.stamp_ns = probe, stamp_ns
        self.img = probe.publisher(Image, '/cam/image_raw', qos_profile_sensor_data)
        self.js = probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        rng = np.random.default_rng(0)
        while not self._stop:
            stamp = cv.ns_to_time(self.stamp_ns())
            self.img.publish(cv.numpy_to_image(
                rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), 'rgb8', stamp=stamp))
            self.js.publish(cv.numpy_to_joint_state(np.array([250.0, 260.0]), ['jx', 'jy'],
                                                    stamp=stamp))
            time.sleep(0.1)

    def close(self):
        self._stop = True
        self._thread.join(2.0)


class SimClock:
    """/clock from SIM_START_NS, 20 ms per 20 ms of wall time, once started."""

    def __init__(self, probe):
        self.ns = SIM_START_NS
        self._pub = probe.publisher(Clock, '/clock', 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.ns += 20_000_000
            self._pub.publish(Clock(clock=cv.ns_to_time(self.ns)))
            time.sleep(0.02)

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)


def test_nothing_is_planned_until_the_sim_clock_starts_then_the_node_plans(
        ros_processes, ros_probe, checkpoint):
    """use_sim_time without any /clock (the sim not up, a bag played without --clock): the
    node clock reads 0, so nothing can be judged fresh or stale. Defect: one chunk went out on
    the wall-stamped inputs, then 'executing' for ever, no stale hold, and every sim-stamped
    input skipped as older. Now: nothing filed or planned, 'waiting for /clock' said once in
    the log and on /diagnostics (WARN); once /clock runs, the node plans on sim time."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, use_sim_time=True,
                                                  torchscript=False, warmup=False))
    node.wait_for_log('policy', 120)
    clock = SimClock(ros_probe)
    on_sim = threading.Event()
    arm = Arm(ros_probe, lambda: clock.ns if on_sim.is_set()
              else ros_probe.node.get_clock().now().nanoseconds)
    try:
        ros_probe.wait_for(lambda: diags and int(latest_diagnostics(diags).get(
            'inputs_before_clock', 0)) >= 20, 60, 'twenty inputs skipped before /clock')
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 10.0)
        assert trajs == [], (f'{len(trajs)} trajectory(ies) published while the node clock '
                             f'read 0 (no /clock)')
        values, status = latest_diagnostics(diags), diags[-1].status[0]
        assert values['state'] == 'waiting for /clock', values
        assert values['input_image_filed'] == values['input_agent_pos_filed'] == '0', values
        assert status.level == DiagnosticStatus.WARN and 'waiting for /clock' in status.message

        clock.start()  # the sim comes up: its clock runs, its inputs are stamped on it
        on_sim.set()
        msgs = ros_probe.wait_for_messages(trajs, 1, 60, 'a chunk on sim time')
        stamp_ns = cv.time_to_ns(msgs[0].header.stamp)
        assert SIM_START_NS < stamp_ns < SIM_START_NS + 600 * cv.NS_PER_S, stamp_ns
    finally:
        arm.close()
        clock.close()
    assert node.log().count('waiting for /clock') == 1, node.log()


def test_a_sim_clock_jump_back_is_not_logged_as_stale_inputs(ros_processes, ros_probe,
                                                              checkpoint):
    """A sim restarted under use_sim_time (its /clock goes back): the node holds for
    'clock_back' and its warning says so. Defect: 'inputs went stale', which also used up the
    once-only stale warning for a real stale stop later."""
    clock = SimClock(ros_probe).start()
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint, use_sim_time=True,
                                                  torchscript=False, warmup=False))
    arm = Arm(ros_probe, lambda: clock.ns)
    try:
        ros_probe.wait_for(lambda: len(trajs) >= 2, 120, 'two chunks on sim time')
        clock.ns = 10 * cv.NS_PER_S  # the sim restarts: its clock goes back 990 s
        node.wait_for_log('stop (clock_back)', 30)
        ros_probe.wait_for(lambda: len(trajs) >= 4, 60, 'chunks on the new clock')
        arm.close()  # the inputs stop while the clock runs on: a real stale stop
        node.wait_for_log('stop (stale)', 30)
    finally:
        arm.close()
        clock.close()
    log = node.log()
    assert 'the node clock went back by more than max_input_age_s' in log, log[-1500:]
    assert log.count('inputs went stale while a plan ran') == 1, log[-1500:]


def use_sim_time(probe, value: bool) -> tuple[bool, str]:
    request = SetParameters.Request(parameters=[Parameter(name='use_sim_time', value=(
        ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)))])
    (result,) = probe.call(SetParameters, f'/{LOCKSTEP_NODE}/set_parameters', request,
                           timeout=30.0).results
    return result.successful, result.reason


def test_lockstep_refuses_use_sim_time_turned_off_while_it_runs(ros_probe, lockstep_node):
    """Lockstep needs use_sim_time (checked at start); rclpy lets use_sim_time change at any
    time, so the check could be undone: the change is refused with the start's reason."""
    node = lockstep_node  # started with the module (see the fixture)
    node.wait_for_log('policy', 120)
    assert use_sim_time(ros_probe, False) == (
        False, "parameter lockstep needs use_sim_time:=true (the sim's /clock)")
    assert use_sim_time(ros_probe, True) == (True, '')
    assert node.alive(), node.log()


def test_a_negative_clock_message_is_skipped_and_counted(ros_probe, lockstep_node):
    """rclpy's own /clock callback raises for a message of negative seconds (Time refuses
    them), out of the executor: a use_sim_time node ended with a traceback (a fuzz review).
    run_node guards it (dp_ros.ros.clock_guard): skipped, logged once, counted on
    /diagnostics, the node running on. The module's lockstep node, which hears /clock."""
    node = lockstep_node
    node.wait_for_log('policy', 120)
    diags = ros_probe.collect(DiagnosticArray, '/lockstep/diagnostics', RELIABLE)
    clock = ros_probe.publisher(Clock, '/clock', 10)

    def skipped() -> bool:  # best effort on the node's side: sent until it is heard
        if '/clock message skipped' not in node.log():
            clock.publish(Clock(clock=Time(sec=-1, nanosec=0)))
            return False
        return True

    ros_probe.wait_for(skipped, 60, 'the negative /clock heard')
    ros_probe.wait_for(lambda: diags and int(latest_diagnostics(diags).get(
        'clock_messages_skipped', 0)) >= 1, 30, 'clock_messages_skipped on /diagnostics')
    assert node.alive(), node.log()[-2000:]
    assert node.log().count('/clock message skipped') == 1
    assert 'Seconds value must not be negative' in node.log()
