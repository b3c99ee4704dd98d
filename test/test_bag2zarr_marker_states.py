"""Episode markers as robots publish them (a review of bag2zarr on odd bags), on real mcap bags
through the command line: a Bool recording state published as a level, a String saying start
and stop, and stamps going back inside a marked episode (a clock stepped back mid-demo, a sim
reset after the end marker while the recording went on). Each once wrote wrong episodes
with exit code 0."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from test_bag2zarr import run

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message, string_message
from training.replay_buffer import ReplayBuffer

MS = 10**6
WALL = 1_700_000_000 * 10**9
BOOL, STRING = 'std_msgs/msg/Bool', 'std_msgs/msg/String'


def write_bag(path: Path, stamps: list[int], recv: list[int], markers: list[tuple[int, object]],
              marker_type: str = BOOL) -> None:
    """A 10 Hz camera and joint j1 whose value is the message's number, and the markers."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i, (stamp, t) in enumerate(zip(stamps, recv, strict=True)):
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), stamp))
            rec.write('/cam', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i % 256, np.uint8), stamp))
        for t, value in markers:
            rec.write('/marker', marker_type, t,
                      ts.types[BOOL](data=value) if marker_type == BOOL
                      else string_message(ts, value))


def convert(tmp_path: Path, **episodes) -> tuple[int, list[np.ndarray]]:
    """(exit code, each episode's j1 values)."""
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/cam', 'image_dtype': 'uint8',
        'episodes': {'marker': '/marker', 'min_steps': 3, **episodes},
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}}))
    out = tmp_path / 'out.zarr'
    code = run([tmp_path / 'bag'], config, out)
    if code:
        return code, []
    store = ReplayBuffer.open(out)
    return code, [store.get_episode(i)['state'][:, 0] for i in range(store.n_episodes)]


def wall(n: int) -> list[int]:
    return [WALL + i * 100 * MS for i in range(n)]


def test_a_recording_state_published_as_a_level_is_one_episode(tmp_path, capsys):
    """A teleop publishing `recording` at 2 Hz (false, then true over messages 20..179, then
    false): one episode, not 32 of four steps."""
    write_bag(tmp_path / 'bag', wall(200), wall(200),
              [(WALL + k * 500 * MS + 7 * MS, 20 <= k * 5 < 180) for k in range(40)])
    code, episodes = convert(tmp_path)
    assert code == 0 and len(episodes) == 1
    # markers 7 ms after frames 20 and 180: the first frame after each bounds the episode
    assert episodes[0][0] == 21 and episodes[0][-1] == 180
    assert '37 /marker marker(s) repeat the state before them' in capsys.readouterr().out


@pytest.mark.parametrize('role', ['end', 'start'])
def test_a_string_saying_start_and_stop_bounds_the_episodes_whatever_the_role(tmp_path, role):
    """'start' and 'stop' (any case): the resets between them are no episodes."""
    at = [WALL + i * 100 * MS - 50 * MS for i in (20, 80, 120, 180)]
    write_bag(tmp_path / 'bag', wall(200), wall(200),
              list(zip(at, ['start', 'Stop', ' START ', 'stop'], strict=True)), STRING)
    code, episodes = convert(tmp_path, marker_role=role)
    assert code == 0
    assert [(e[0], e[-1]) for e in episodes] == [(20, 79), (120, 179)]


@pytest.mark.parametrize('role', ['end', 'start'])
def test_a_leading_stop_and_other_words_on_a_start_stop_topic_open_nothing(tmp_path, capsys,
                                                                            role):
    """A teleop that says 'stop' when the recorder starts, and 'discard' after a demo (a
    review: with marker_role end, the pre-roll up to the first stop became an episode, and
    the idle time from 'discard' to the next start another). As a Bool: only start..stop."""
    at = [WALL + i * 100 * MS - 50 * MS for i in (10, 20, 80, 100, 120, 180)]
    write_bag(tmp_path / 'bag', wall(200), wall(200),
              list(zip(at, ['stop', 'start', 'stop', 'discard', 'start', 'stop'], strict=True)),
              STRING)
    code, episodes = convert(tmp_path, marker_role=role)
    assert code == 0
    assert [(e[0], e[-1]) for e in episodes] == [(20, 79), (120, 179)]
    assert ("1 /marker marker(s) say neither start nor stop: ignored (the topic says both: "
            'only those start and end episodes)') in capsys.readouterr().out


def test_a_clock_stepped_back_inside_a_marked_episode_splits_it(tmp_path, capsys):
    """The recording PC's clock stepped back 1 s at message 50 (NTP): two episodes, each in
    order, not one that jumps from 39 to 50 having lost messages 40..49."""
    recv = wall(100)
    stamps = [t - (1000 * MS if i >= 50 else 0) for i, t in enumerate(recv)]
    write_bag(tmp_path / 'bag', stamps, recv, [(recv[5] - 50 * MS, True),
                                               (recv[95] - 50 * MS, False)])
    code, episodes = convert(tmp_path)
    assert code == 0 and len(episodes) == 2
    assert all(np.all(np.diff(e) == 1) for e in episodes)
    assert episodes[0][-1] < 50 <= episodes[1][0]
    assert 'and at 1 point(s) inside an episode where they went back' in capsys.readouterr().out


def test_a_sim_reset_after_the_end_marker_stays_out_of_the_episode(tmp_path):
    """A sim stamps 0.. again after its episode while the recording goes on: the episode is
    the messages between its markers (20..120), not the reset's stamped alike."""
    stamps = [i * 100 * MS for i in range(140)] + [i * 100 * MS for i in range(30)]
    recv = wall(170)
    write_bag(tmp_path / 'bag', stamps, recv, [(recv[20] - 50 * MS, True),
                                               (recv[120] + 50 * MS, False)])
    code, episodes = convert(tmp_path)
    assert code == 0 and len(episodes) == 1
    assert episodes[0][0] == 20 and np.all(np.diff(episodes[0]) == 1)
    assert episodes[0][-1] <= 120


@pytest.mark.parametrize('word, role, at', [('end', 'end', (50, 100, 150, 199)),
                                            ('start', 'start', (1, 50, 100, 150))])
def test_a_string_saying_one_word_alone_keeps_the_marker_role(tmp_path, word, role, at):
    """'end' after each demonstration (or 'start' before each) is marker_role's marker as any
    text is: four episodes, not one (the words set roles only where the topic says both)."""
    write_bag(tmp_path / 'bag', wall(200), wall(200),
              [(WALL + i * 100 * MS - 50 * MS, word) for i in at], STRING)
    code, episodes = convert(tmp_path, marker_role=role)
    assert code == 0 and len(episodes) == 4


def test_a_burst_of_late_frames_inside_a_marked_episode_splits_nothing(tmp_path):
    """Eight frames delivered together 0.5 s late (a camera driver's queue): still one
    episode with every frame in its step, not four pieces."""
    stamps = wall(100)
    recv = list(stamps)
    for j in range(8):
        recv[50 + j] = stamps[63] - 20 * MS + j * MS
    write_bag(tmp_path / 'bag', stamps, recv, [(stamps[5] - 50 * MS, True),
                                               (stamps[95] - 50 * MS, False)])
    code, episodes = convert(tmp_path)
    assert code == 0 and len(episodes) == 1
    assert np.all(np.diff(episodes[0]) == 1) and len(episodes[0]) == 90


@pytest.mark.parametrize('limit', ['nan', 'inf', '0', '-5'])
def test_a_memory_limit_that_is_no_positive_number_is_one_line(tmp_path, capsys, limit):
    """--memory-limit-mb nan was a ValueError traceback (int(nan)), inf an OverflowError; 0
    and -5 were taken silently."""
    from test_bag2zarr import error_line

    write_bag(tmp_path / 'bag', wall(20), wall(20), [])
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/cam', 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam'}, 'state': {'joint_state': '/js', 'joints': ['j1']}}}))
    assert run([tmp_path / 'bag'], config, tmp_path / 'out.zarr',
               f'--memory-limit-mb={limit}') == 2
    assert '--memory-limit-mb must be a positive number of MB' in error_line(capsys)
    assert not (tmp_path / 'out.zarr').exists()
