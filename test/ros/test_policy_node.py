"""The policy node in its own process, fed over real topics: safety, services, diagnostics, timing.

A tiny random checkpoint is enough: these tests are about what the node does with its inputs
and its chunks, not about what the policy has learned.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros.tiny_checkpoint import make_tiny_checkpoint
from ros_harness import module_cmd
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

pytestmark = pytest.mark.ros

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
DT_NS = 100_000_000
LOWER, UPPER = [100.0, 120.0], [400.0, 380.0]


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny')


def node_cmd(checkpoint, **params):
    base = dict(checkpoint=str(checkpoint), device='cpu', cpu_threads=1,
                image_topics='[/cam/image_raw]', joint_state_topic='/arm/joint_states',
                state_joint_names='[jx,jy]', action_topic='/arm/joint_trajectory',
                action_joint_names='[jx,jy]', action_lower=f'[{LOWER[0]},{LOWER[1]}]',
                action_upper=f'[{UPPER[0]},{UPPER[1]}]', max_input_age_s=0.4,
                replan_threshold=4, diagnostics_period_s=0.25)
    base.update(params)
    args = []
    for k, v in base.items():
        args += ['-p', f'{k}:={str(v).lower() if isinstance(v, bool) else v}']
    return module_cmd('dp_ros.ros.policy_node', '--ros-args', *args)


class Feeder:
    """Publishes a 96x96 camera and joint states at 10 Hz, stamped `lag_s` in the past."""

    def __init__(self, probe):
        self.probe = probe
        self.image_pub = probe.publisher(Image, '/cam/image_raw', qos_profile_sensor_data)
        self.joint_pub = probe.publisher(JointState, '/arm/joint_states', qos_profile_sensor_data)
        self.lag_s = 0.0
        self.running = True
        self.rng = np.random.default_rng(0)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            if self.running:
                now = self.probe.node.get_clock().now().nanoseconds
                stamp = cv.ns_to_time(now - int(self.lag_s * 1e9))
                img = self.rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
                self.image_pub.publish(cv.numpy_to_image(img, 'rgb8', stamp=stamp))
                self.joint_pub.publish(cv.numpy_to_joint_state(
                    self.rng.uniform(50, 450, 2), ['jx', 'jy'], stamp=stamp))
            time.sleep(0.1)

    def close(self):
        self._stop = True
        self._thread.join(2.0)


def latest_diagnostics(diags: list) -> dict[str, str]:
    status = diags[-1].status[0]
    return {kv.key: kv.value for kv in status.values}


def wait_diag(probe, diags, predicate, timeout, what):
    probe.wait_for(lambda: diags and predicate(latest_diagnostics(diags)), timeout, what)
    return latest_diagnostics(diags)


def bad_messages(probe):
    """One of each kind of broken input the node must survive."""
    stamp = probe.node.get_clock().now().to_msg()
    depth = cv.numpy_to_image(np.zeros((96, 96), np.uint16), '16UC1', stamp=stamp)
    short = cv.numpy_to_image(np.zeros((96, 96, 3), np.uint8), 'rgb8', stamp=stamp)
    short.data = bytes(short.data[:-10])
    nan = cv.numpy_to_joint_state(np.array([np.nan, 1.0]), ['jx', 'jy'], stamp=stamp)
    unknown = cv.numpy_to_joint_state(np.array([1.0, 2.0]), ['jx', 'jz'], stamp=stamp)
    uneven = cv.numpy_to_joint_state(np.array([1.0, 2.0]), ['jx', 'jy'], stamp=stamp)
    uneven.position = [1.0]
    return [('image_encoding', depth), ('image_size', short), ('non_finite', nan),
            ('joint_unknown', unknown), ('joint_size', uneven)]


def check_chunk_safe(msg: JointTrajectory):
    chunk = cv.joint_trajectory_to_chunk(msg)
    assert chunk.joint_names == ['jx', 'jy']
    assert np.all(np.isfinite(chunk.positions))
    assert np.all(chunk.positions >= LOWER) and np.all(chunk.positions <= UPPER)
    assert np.all(chunk.times_from_start_ns % DT_NS == 0)
    assert np.all(np.diff(chunk.times_from_start_ns) == DT_NS)


def test_invalid_parameters_exit_with_a_clear_message(ros_processes, checkpoint, tmp_path):
    cases = {
        'dtype': (node_cmd(checkpoint, dtype='float64'), "dtype must be one of"),
        'cameras': (node_cmd(checkpoint, image_topics='[/a,/b]'), 'image_topics has 2 topic'),
        'checkpoint': (node_cmd(tmp_path / 'nothing'), 'is not a directory'),
        'bounds': (node_cmd(checkpoint, action_lower='[1.0]'), 'must both have 2 values'),
    }
    procs = {name: ros_processes.start(f'bad_{name}', cmd) for name, (cmd, _) in cases.items()}
    for name, proc in procs.items():
        assert proc.popen.wait(60) == 2, proc.log()
        assert 'invalid configuration' in proc.log() and cases[name][1] in proc.log(), proc.log()


def test_safety_bad_messages_stale_inputs_and_services(ros_processes, ros_probe, checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe)
    try:
        ros_probe.wait_for_messages(trajs, 3, 60.0, 'chunks from fresh inputs')
        for msg in list(trajs):
            check_chunk_safe(msg)

        # broken messages: counted per kind, skipped, the node goes on planning
        for kind, msg in bad_messages(ros_probe):
            pub = feeder.image_pub if isinstance(msg, Image) else feeder.joint_pub
            deadline = time.monotonic() + 20.0
            while not (diags and f'bad_{kind}' in latest_diagnostics(diags)):
                assert time.monotonic() < deadline, f'no bad_{kind} in diagnostics'
                pub.publish(msg)  # best effort: repeat until the node has seen one
                time.sleep(0.1)
        assert diags[-1].status[0].level == DiagnosticStatus.WARN
        n = len(trajs)
        ros_probe.wait_for_messages(trajs, n + 2, 20.0, 'chunks after the bad messages')
        assert node.alive(), node.log()
        assert node.log().count('skipped a bad message (non_finite)') == 1  # logged once

        # stale inputs: stamps older than max_input_age_s -> nothing published
        feeder.lag_s = 1.0
        wait_diag(ros_probe, diags, lambda d: d['state'] == 'inputs: stale', 10.0, 'stale')
        time.sleep(0.3)  # a chunk being sampled when the inputs went stale may still land
        n = len(trajs)
        time.sleep(1.5)
        assert len(trajs) == n, 'published chunks on stale inputs'
        values = latest_diagnostics(diags)
        assert float(values['input_image_age_ms']) > 900
        feeder.lag_s = 0.0
        ros_probe.wait_for_messages(trajs, n + 1, 20.0, 'chunks once inputs are fresh again')

        # ~/enable false: nothing published; true: chunks again
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        time.sleep(0.3)
        n = len(trajs)
        time.sleep(1.5)
        assert len(trajs) == n, 'published chunks while disabled'
        assert latest_diagnostics(diags)['enabled'] == 'False'
        assert ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True)).success
        ros_probe.wait_for_messages(trajs, n + 1, 20.0, 'chunks after ~/enable true')

        # ~/reset: history and plan cleared, generator re-seeded with the episode rule
        reply = ros_probe.call(Trigger, '/dp_policy/reset', Trigger.Request())
        assert reply.success and '0 * 1000003 + 0' in reply.message, reply.message
        n = len(trajs)
        ros_probe.wait_for_messages(trajs, n + 1, 20.0, 'chunks after ~/reset')

        for msg in list(trajs):
            check_chunk_safe(msg)
        # a diagnostics message from before the reset refilled the history says 'empty'
        values = wait_diag(ros_probe, diags, lambda d: d['state'] != 'inputs: empty', 5.0,
                           'diagnostics after the history refilled')
        for key in ('latency_p50_ms', 'latency_p95_ms', 'latency_last_ms', 'chunks_published',
                    'actions_dropped', 'input_image_rate_hz', 'input_agent_pos_age_ms',
                    'device', 'node_overhead_p95_ms'):
            assert values.get(key) not in (None, ''), key
        assert values['device'] == 'cpu'
        assert float(values['input_image_rate_hz']) > 5
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_slow_policy_in_realtime_drops_late_points_and_keeps_timing(ros_processes, ros_probe,
                                                                    checkpoint):
    """A policy 0.2 s slower than the model: points 0..2 are late, the rest stay on time,
    and the next chunk always arrives before the current one runs out."""
    trajs = ros_probe.collect(JointTrajectory, '/pusht/joint_trajectory', RELIABLE)
    images = ros_probe.collect(Image, '/pusht/image_raw')
    results = ros_probe.collect(String, '/pusht/episode_result', LATCHED)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    arrivals: list[int] = []
    ros_probe.node.create_subscription(
        JointTrajectory, '/pusht/joint_trajectory',
        lambda _msg: arrivals.append(ros_probe.node.get_clock().now().nanoseconds), RELIABLE)
    ros_processes.start('pusht_sim', module_cmd(
        'sim_bridge.pusht_sim_node', '--ros-args', '-r', '__ns:=/pusht', '-p', 'mode:=realtime',
        '-p', 'seeds:=[100001]', '-p', 'max_steps:=1000'))
    node = ros_processes.start('policy', node_cmd(
        checkpoint, image_topics='[/pusht/image_raw]', joint_state_topic='/pusht/joint_states',
        state_joint_names='[agent_x,agent_y]', action_topic='/pusht/joint_trajectory',
        action_joint_names='[agent_x,agent_y]', action_lower='[0.0,0.0]',
        action_upper='[512.0,512.0]', episode_start_topic='/pusht/episode_start',
        debug_extra_latency_s=0.2, replan_threshold=4))
    ros_probe.wait_for_messages(trajs, 12, 60.0, 'chunks from the slow policy')
    assert node.alive(), node.log()
    image_stamps = {cv.time_to_ns(m.header.stamp) for m in list(images)}
    chunks = [cv.joint_trajectory_to_chunk(m) for m in list(trajs)]
    got = list(arrivals)[:len(chunks)]
    for i, chunk in enumerate(chunks):
        # stamped with the observation time; point k due at t_obs + k*dt exactly
        assert chunk.stamp_ns in image_stamps
        assert np.all(chunk.times_from_start_ns % DT_NS == 0)
        assert np.all(np.diff(chunk.times_from_start_ns) == DT_NS)
        # the late points were dropped: the first one kept is not due before arrival
        assert chunk.times_from_start_ns[0] >= 2 * DT_NS, chunk.times_from_start_ns
        assert chunk.due_ns[0] >= got[i] - 50_000_000
        assert chunk.times_from_start_ns[-1] == 7 * DT_NS
    # never starved: each chunk arrived before the previous one's last point was due
    for prev, arrival in zip(chunks[:-1], got[1:], strict=True):
        assert arrival < prev.due_ns[-1], (arrival - prev.due_ns[-1]) / 1e6
    values = wait_diag(ros_probe, diags, lambda d: int(d['actions_dropped']) >= 24, 10.0,
                       'dropped actions in diagnostics')
    assert float(values['latency_p50_ms']) >= 200
    assert not results, 'the episode should still run'
