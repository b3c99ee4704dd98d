"""Streams without header stamps on a real robot, beside a 10 Hz camera (stamped 5 ms before
receipt) that sets the grid: a driver that never stamps its JointState, a leader arm's gripper
commands through a forward_command_controller (std_msgs/Float64MultiArray at 100 Hz, no
header), a teleop tool's trajectories stamped 0 ("start now").

Pinned: where the reference's stamps are on the receive clock (a real robot), such a message
sits at its receive time, as the policy node takes it (README: "the message's receive time on
the node clock, as bag2zarr places such a stream"), so an observation never holds a state
received after t_k and the action is never a command sent after it ("the command due at
t_k"); a stream's rate is its own, not the camera's its times were once snapped to. In a sim
(stamps on another clock) the stamp of the step a message answers stays the rule
(test_bag_episodes_edges: "placed at the sim stamp it answers").
"""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from bag_support import MS, T0

from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training import bag2zarr
from training.bag2zarr_config import config_from_dict
from training.resample import place_unstamped

CAMERA_LATENCY = 5 * MS


@pytest.fixture(scope='module')
def teleop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('teleop')
    bag = tmp / 'bag'
    messages = []
    for i in range(20):  # camera 10 Hz, frame i stamped at T0 + 100 ms * i
        t = T0 + i * 100 * MS
        messages.append((t + CAMERA_LATENCY, '/cam/image_raw', 'sensor_msgs/msg/Image',
                         ('img', i, t)))
    for i in range(200):  # joint states 100 Hz
        t = T0 + i * 10 * MS
        messages.append((t + MS, '/joint_states', 'sensor_msgs/msg/JointState', ('js', i, t)))
    for i in range(200):  # command i received at T0 + 10 ms * i + 2 ms, value i
        messages.append((T0 + i * 10 * MS + 2 * MS, '/gripper_controller/commands',
                         'std_msgs/msg/Float64MultiArray', ('cmd', i, 0)))
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for recv, topic, msgtype, (kind, i, t) in sorted(messages, key=lambda m: m[0]):
            if kind == 'img':
                msg = image_message(ts, np.full((4, 4, 3), i, np.uint8), t)
            elif kind == 'js':
                msg = joint_state_message(ts, ['g'], [i / 100], t)
            else:
                msg = float_array_message(ts, [float(i)])
            rec.write(topic, msgtype, recv, msg)
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['g']},
                 'action': {'float_array': '/gripper_controller/commands', 'joints': ['g']}}})
    out = tmp / 'out.zarr'
    summary = bag2zarr.convert([bag], config, out, progress=False)
    data = zarr.open(str(out), mode='r')['data']
    return summary, {k: np.asarray(data[k][:]) for k in ('img', 'state', 'action')}


def test_the_action_at_a_step_is_never_a_command_sent_after_it(teleop):
    """action[k] is a command received by t_k on the camera's clock (recv <= t_k + 5 ms:
    command 10 k at most), not the one received just before the next frame (10 k + 10)."""
    _, data = teleop
    frame = data['img'][:, 0, 0, 0].astype(int)  # frame k is stamped T0 + 100 ms * k
    latest_sent = 10 * frame  # command 10 k is received at T0 + 100 ms * k + 2 ms
    assert np.all(data['action'][:, 0] <= latest_sent), (
        f'frames {frame[:5].tolist()}: actions {data["action"][:5, 0].tolist()}, commands '
        f'received up to 100 ms after the step (the latest sent by then: '
        f'{latest_sent[:5].tolist()})')


def test_the_report_gives_the_command_streams_own_rate(teleop):
    """200 commands in 2 s arrive at 100 Hz; the report (and the rate recorded for the node)
    must not say 10 Hz, the camera's rate their times were snapped to."""
    summary, _ = teleop
    (report,) = summary.bags
    rates = {t.topic: t.rate_hz for t in report.topics}
    assert rates['/gripper_controller/commands'] == pytest.approx(100.0, rel=0.05)


def test_an_unstamped_joint_state_is_observed_as_the_node_would_see_it(tmp_path):
    """A 100 Hz driver that never stamps (header 0) beside a 10 Hz camera stamped 5 ms before
    receipt. README: such a message "is the message's receive time on the node clock, as
    bag2zarr places such a stream": at frame k's time the state is one received by then
    (message 10 k, received 1 ms after t_k: at most 10 k + 1 with the camera's 5 ms), not the
    one received just before frame k + 1 (10 k + 10, 100 ms later)."""
    bag = tmp_path / 'bag'
    messages = []
    for i in range(20):
        t = T0 + i * 100 * MS
        messages.append((t + CAMERA_LATENCY, '/cam/image_raw', 'img', i, t))
    for i in range(200):
        messages.append((T0 + i * 10 * MS + MS, '/joint_states', 'js', i, 0))
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for recv, topic, kind, i, t in sorted(messages, key=lambda m: m[0]):
            if kind == 'img':
                rec.write(topic, 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
            else:
                rec.write(topic, 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['g'], [float(i)], 0))
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['g']}}})
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False)
    data = zarr.open(str(tmp_path / 'out.zarr'), mode='r')['data']
    frame = np.asarray(data['img'][:, 0, 0, 0]).astype(int)
    state = np.asarray(data['state'][:, 0])
    assert np.all(state <= 10 * frame + 1), (
        f'frames {frame[:5].tolist()}: states {state[:5].tolist()} (received by then: at most '
        f'{(10 * frame + 1)[:5].tolist()})')


def test_the_report_says_how_the_unstamped_stream_was_placed(teleop):
    """The note names the rule applied: receive times, the camera being on that clock."""
    summary, _ = teleop
    (report,) = summary.bags
    assert ('/gripper_controller/commands: no header, receive times used (the '
            '/cam/image_raw stamps are on the receive clock)') in report.notes, report.notes


def test_a_trajectory_stamped_0_counts_from_its_receipt_on_a_real_robot(tmp_path):
    """A teleop tool's one-point trajectories stamped 0, due on receipt, received 50 ms after
    each frame: at t_k the command in force is the one received 50 ms before t_k (value
    k - 1), not the one received 50 ms after it (placed on frame k's stamp, value k)."""
    bag = tmp_path / 'bag'
    messages = []
    for i in range(20):
        t = T0 + i * 100 * MS
        messages.append((t + CAMERA_LATENCY, 'img', i, t))
        messages.append((t + 50 * MS, 'cmd', i, 0))
    for i in range(200):
        t = T0 + i * 10 * MS
        messages.append((t + MS, 'js', i, t))
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for recv, kind, i, t in sorted(messages, key=lambda m: m[0]):
            if kind == 'img':
                rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', recv,
                          image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
            elif kind == 'js':
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['g'], [i / 100], t))
            else:
                rec.write('/teleop/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory',
                          recv, trajectory_message(ts, ['g'], np.array([[float(i)]]), 0, 0))
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['g']},
                 'action': {'joint_trajectory': '/teleop/joint_trajectory', 'joints': ['g'],
                            'tolerance': 0.1}}})
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False)
    data = zarr.open(str(tmp_path / 'out.zarr'), mode='r')['data']
    frame = np.asarray(data['img'][:, 0, 0, 0]).astype(int)
    np.testing.assert_array_equal(np.asarray(data['action'][:, 0]), frame - 1)


def test_unstamped_times_stay_receive_times_on_the_receive_clock_only():
    """place_unstamped: a reference stamped within a second of its receipt (a real robot)
    leaves receive times as they are; one on a sim's clock maps each to the stamp of the
    reference message received last before it."""
    ref_recv = T0 + np.arange(5) * 100 * MS + 5 * MS
    recv = T0 + np.array([2, 52, 152, 302]) * MS
    real = place_unstamped(recv, ref_recv, ref_recv - 5 * MS)
    np.testing.assert_array_equal(real, recv)
    sim_stamps = np.arange(5) * 100 * MS  # sim time from 0, received on the wall clock
    sim = place_unstamped(recv, ref_recv, sim_stamps)
    np.testing.assert_array_equal(sim, [-3 * MS, 0, 100 * MS, 200 * MS])
