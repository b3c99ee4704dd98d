"""bag2zarr on bags where two drivers publish on one joint-state topic (an arm's driver and its
gripper's on /joint_states, each message with its own joints), as the policy node reads them:
a source skips the other driver's messages; two sources of one topic with different joints
are each a stream of their own (times, gaps, rate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from test_bag2zarr import error_line, leftovers, run

from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from dp_ros.bags.typestore import shared_typestore
from dp_ros.recorded_sources import RATE_HZ
from training.replay_buffer import ReplayBuffer

T0 = 10**9
MS = 1_000_000
ARM, GRIPPER = ['j1', 'j2'], ['g']


def arm_value(k: int) -> np.ndarray:
    """The arm's joints at its k-th message (100 Hz)."""
    return np.array([k, -k]) * 0.01


def gripper_value(k: int) -> float:
    """The gripper's joint at the arm's k-th tick (it publishes every 5th: 20 Hz)."""
    return k / 1000


def write_bag(path: Path, gripper_every: int = 5, merged: bool = False,
              gripper_gap: tuple[int, int] | None = None, partial_at: int | None = None) -> None:
    """3 s: a 10 Hz camera and command topic, the arm at 100 Hz and the gripper at 20 Hz on
    /joint_states. merged: one message with all three joints (joint_state_publisher's).
    gripper_gap: arm ticks [a, b) without gripper messages. partial_at: that arm message
    gives j1 only."""
    ts = shared_typestore()
    with BagRecorder(path) as bag:
        for k in range(30):
            t = T0 + k * 100 * MS
            bag.write('/cam', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            bag.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', t + 2000,
                      trajectory_message(ts, ARM + GRIPPER, np.array([[k, -k, k / 100]]), t,
                                         100 * MS))
        for k in range(300):
            t = T0 + k * 10 * MS
            gripper = k % gripper_every == 0 and not (gripper_gap and
                                                      gripper_gap[0] <= k < gripper_gap[1])
            if merged:
                bag.write('/joint_states', 'sensor_msgs/msg/JointState', t + 500,
                          joint_state_message(ts, ARM + GRIPPER,
                                              [*arm_value(k), gripper_value(k)], t))
                continue
            names, values = (ARM[:1], arm_value(k)[:1]) if k == partial_at else \
                (ARM, arm_value(k))
            bag.write('/joint_states', 'sensor_msgs/msg/JointState', t + 500,
                      joint_state_message(ts, names, values, t))
            if gripper:
                bag.write('/joint_states', 'sensor_msgs/msg/JointState', t + 700,
                          joint_state_message(ts, GRIPPER, [gripper_value(k)], t))


def config(tmp_path: Path, state: list[dict]) -> Path:
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'tolerance': 0.05, 'reference_topic': '/cam',
        'keys': {'img': {'image': '/cam'}, 'state': state,
                 'action': {'joint_trajectory': '/cmd', 'joints': ARM + GRIPPER}}}))
    return path


ARM_SOURCE = {'joint_state': '/joint_states', 'joints': ARM}
GRIPPER_SOURCE = {'joint_state': '/joint_states', 'joints': GRIPPER}


def test_a_source_skips_the_other_drivers_messages_on_its_topic(tmp_path, capsys):
    """The arm's joints alone from a /joint_states the gripper's driver shares: its messages
    are not the arm's (before: 'message 1 cannot be converted', no dataset)."""
    write_bag(tmp_path / 'bag')
    out = tmp_path / 'arm.zarr'
    assert run([tmp_path / 'bag'], config(tmp_path, [ARM_SOURCE]), out) == 0
    assert '/joint_states                           300 msgs  100.00 Hz' in capsys.readouterr().out
    episode = ReplayBuffer.open(out).get_episode(0)
    # grid time t = k * 0.1 s: the arm's message 10 k
    want = np.stack([arm_value(10 * k) for k in range(len(episode['state']))])
    np.testing.assert_allclose(episode['state'], want, rtol=1e-6)
    attrs = ReplayBuffer.open(out).data['state'].attrs
    assert [s[RATE_HZ] for s in attrs['sources']] == [100.0]


def test_two_drivers_joints_of_one_topic_are_two_streams(tmp_path, capsys):
    """The arm's and the gripper's joints, each a source of /joint_states: each is sampled
    from its own driver's messages, and recorded with its own rate."""
    write_bag(tmp_path / 'bag')
    out = tmp_path / 'both.zarr'
    assert run([tmp_path / 'bag'], config(tmp_path, [ARM_SOURCE, GRIPPER_SOURCE]), out) == 0
    printed = capsys.readouterr().out
    assert '/joint_states [j1, j2]                  300 msgs  100.00 Hz' in printed
    assert '/joint_states [g]                        60 msgs   20.00 Hz' in printed
    buffer = ReplayBuffer.open(out)
    state = buffer.get_episode(0)['state']
    assert len(state) == 30
    want = np.stack([[*arm_value(10 * k), gripper_value(10 * k)] for k in range(30)])
    np.testing.assert_allclose(state, want, rtol=1e-6)
    sources = buffer.data['state'].attrs['sources']
    assert [(s['topic'], s['width'], s[RATE_HZ]) for s in sources] == [
        ('/joint_states', 2, 100.0), ('/joint_states', 1, 20.0)]


def test_a_merged_joint_state_feeds_both_sources_alike(tmp_path):
    """joint_state_publisher's merged messages (all joints in each) give the same dataset
    as the two drivers' messages."""
    write_bag(tmp_path / 'split')
    write_bag(tmp_path / 'merged', merged=True)
    cfg = config(tmp_path, [ARM_SOURCE, GRIPPER_SOURCE])
    assert run([tmp_path / 'split'], cfg, tmp_path / 'split.zarr') == 0
    assert run([tmp_path / 'merged'], cfg, tmp_path / 'merged.zarr') == 0
    np.testing.assert_array_equal(ReplayBuffer.open(tmp_path / 'split.zarr').data['state'][:],
                                  ReplayBuffer.open(tmp_path / 'merged.zarr').data['state'][:])


def test_a_gap_in_one_drivers_messages_is_that_streams_gap(tmp_path, capsys):
    """The gripper silent for 0.5 s while the arm goes on: the episode is cut there, and the
    gap names the gripper's stream, not the topic."""
    write_bag(tmp_path / 'bag', gripper_gap=(100, 150))
    out = tmp_path / 'gap.zarr'
    assert run([tmp_path / 'bag'], config(tmp_path, [ARM_SOURCE, GRIPPER_SOURCE]), out) == 0
    printed = capsys.readouterr().out
    gaps = [line for line in printed.splitlines() if 'gap at' in line]
    assert len(gaps) == 1 and gaps[0].endswith('step(s) without /joint_states [g]'), gaps
    assert ReplayBuffer.open(out).n_episodes == 2


def test_a_message_with_part_of_a_sources_joints_is_an_error(tmp_path, capsys):
    """A message that gives j1 but not j2: not another driver's, a broken one; named, and
    nothing written."""
    write_bag(tmp_path / 'bag', partial_at=42)
    out = tmp_path / 'partial.zarr'
    assert run([tmp_path / 'bag'], config(tmp_path, [ARM_SOURCE, GRIPPER_SOURCE]), out) == 2
    line = error_line(capsys)
    assert "of /joint_states cannot be converted: joint state lacks joint(s) ['j2']" in line
    assert "give each driver's joints a source of its own; or a driver update renamed" in line
    assert not out.exists() and leftovers(out) == []


def test_joints_no_message_gives_are_named(tmp_path, capsys):
    """A source of joints that no driver on the topic publishes: one clear line."""
    write_bag(tmp_path / 'bag')
    out = tmp_path / 'none.zarr'
    cfg = config(tmp_path, [ARM_SOURCE, {'joint_state': '/joint_states', 'joints': ['h']}])
    assert run([tmp_path / 'bag'], cfg, out) == 2
    assert "no message of /joint_states gives the joints ['h']" in error_line(capsys)
    assert not out.exists()
