"""bag2zarr on a lockstep sim's bag whose first episode starts at sim time 0: the answer to
step 0 (a replay's, a policy node's first chunk, `arm-record --mode lockstep`) is stamped 0,
a real time on the sim's clock, not "now". When the recorder receives it after the sim's
step-1 observation (topics are not ordered against each other), it must stay on step 0: placed
by receipt it landed on step 1 and step 0 was trimmed (episode lengths [59, ...] for [60, ...]).
A stop stamped 0 after the answers (the node's hold), a stream never stamped (a teleop
tool's) and a wall-clock bag's stamp-0 stop keep their placement on receipt (test_bag2zarr.py
pins the wall-clock one)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from support import MS

from dp_ros.bags.recorder import BagRecorder, joint_state_message, trajectory_message
from training import bag2zarr
from training.replay_buffer import ReplayBuffer

WALL = 1_700_000_000 * 10**9  # the recorder's receive clock
PERIOD = 100 * MS
STEPS = 10


def write_lockstep_bag(path: Path, reply_0_late: bool, stop_after: int | None = None,
                       unstamped: bool = False) -> None:
    """Joint states stamped k * period (sim time from 0), each answered by a one-point
    trajectory stamped with its step, value k; reply_0_late: the answer to step 0 received
    after the step-1 observation. stop_after: a stop stamped 0 (value 99) received just
    after that step's answer. unstamped: every answer stamped 0."""
    messages = []
    for k in range(STEPS):
        recv = WALL + k * 30 * MS  # lockstep runs faster than real time
        messages.append((recv, 'js', k))
        reply = recv + (35 if reply_0_late and k == 0 else 5) * MS
        messages.append((reply, 'cmd', k))
        if k == stop_after:
            messages.append((reply + MS, 'stop', k))
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for recv, kind, k in sorted(messages):
            if kind == 'js':
                rec.write('/js', 'sensor_msgs/msg/JointState', recv,
                          joint_state_message(ts, ['j1'], np.array([float(k)]), k * PERIOD))
            elif kind == 'cmd':
                rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', recv,
                          trajectory_message(ts, ['j1'], np.array([[float(k)]]),
                                             0 if unstamped else k * PERIOD, PERIOD))
            else:
                rec.write('/cmd', 'trajectory_msgs/msg/JointTrajectory', recv,
                          trajectory_message(ts, ['j1'], np.array([[99.0]]), 0, PERIOD, 1))


def convert(tmp_path: Path, bag: Path, episodes: int = 1) -> ReplayBuffer:
    raw = {'control_period_s': 0.1, 'reference_topic': '/js',
           'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                    'action': {'joint_trajectory': '/cmd', 'joints': ['j1']}}}
    config = tmp_path / 'c.yaml'
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / f'{bag.name}.zarr'
    assert bag2zarr.main([str(bag), '-c', str(config), '-o', str(out), '--no-progress']) == 0
    buffer = ReplayBuffer.open(out)
    assert buffer.n_episodes == episodes
    return buffer


def test_the_answer_to_step_0_received_after_step_1_stays_on_step_0(tmp_path):
    write_lockstep_bag(tmp_path / 'late', reply_0_late=True)
    episode = convert(tmp_path, tmp_path / 'late').get_episode(0)
    np.testing.assert_array_equal(episode['state'][:, 0], np.arange(STEPS))
    np.testing.assert_array_equal(episode['action'][:, 0], np.arange(STEPS))


def test_received_in_order_it_gives_the_same_episode(tmp_path):
    write_lockstep_bag(tmp_path / 'ordered', reply_0_late=False)
    write_lockstep_bag(tmp_path / 'late', reply_0_late=True)
    ordered = convert(tmp_path, tmp_path / 'ordered').get_episode(0)
    late = convert(tmp_path, tmp_path / 'late').get_episode(0)
    for key in ('state', 'action'):
        np.testing.assert_array_equal(ordered[key], late[key])


def test_a_stop_stamped_0_after_the_answers_is_still_placed_on_receipt(tmp_path):
    """The node's stop (one point due a period after it arrives, stamp 0) in the same sim
    bag: placed on the step it was received in (5), it replaces that step's answer, which
    leaves step 5 without a target in force (a gap), as before; at sim time 0 it would sort
    before every answer, never in force."""
    for late in (False, True):
        bag = tmp_path / f'stop_{late}'
        write_lockstep_bag(bag, reply_0_late=late, stop_after=5)
        buffer = convert(tmp_path, bag, episodes=2)
        assert [buffer.get_episode(i)['action'][:, 0].tolist() for i in range(2)] == \
            [[0, 1, 2, 3, 4], [6, 7, 8, 9]]


def test_a_teleop_stream_never_stamped_keeps_its_placement_on_receipt(tmp_path):
    """Every answer stamped 0 ("now", a teleop tool's): not a stream that stamps, each placed
    on the step received last before it, as before (so the late step-0 answer is step 1's)."""
    bag = tmp_path / 'teleop'
    write_lockstep_bag(bag, reply_0_late=True, unstamped=True)
    action = convert(tmp_path, bag).get_episode(0)['action'][:, 0]
    np.testing.assert_array_equal(action, np.arange(1, STEPS))
