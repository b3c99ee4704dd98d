"""Edges of bag -> episodes the other bag tests leave open: which stream a gap is blamed on,
restarts that do not interleave the reference's, a late frame at a marker, empty episode
windows and topics, drops across a pause, an unstamped command in a sim-time bag."""
from __future__ import annotations

import numpy as np
import yaml
from support import MS
from test_bag_stamp_faults import (
    PERIOD,
    WALL,
    episodes,
    error_line,
    run,
    write_bag,
    write_config,
)

from dp_ros.bags.recorder import (
    BagRecorder,
    float_array_message,
    image_message,
    joint_state_message,
)


def test_a_gap_names_only_the_streams_missing_in_it(tmp_path, capsys):
    """A gap blames the stream missing there, not one that only started late (trimmed)."""
    recv = [WALL + i * PERIOD for i in range(20)]
    cam = [(i + 1 + (i >= 10)) * PERIOD for i in range(20)]  # no frame for 1.1 s
    js = [4 * PERIOD] * 3 + [(i + 1) * PERIOD for i in range(3, 20)]  # from 0.4 s on
    write_bag(tmp_path / 'b', cam, recv, js_stamps=js)
    assert run([tmp_path / 'b'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 0
    out = capsys.readouterr().out
    assert 'trimmed 5 step(s)' in out  # 3 before the joint states, 2 past their end
    assert 'gap at t=1.100 s: 1 step(s) without /cam\n' in out
    assert [len(e['img']) for e in episodes(tmp_path / 'o.zarr')] == [7, 8]


def test_own_restarts_that_do_not_interleave_the_references_are_not_used(tmp_path, capsys):
    """A stream's own restarts split it only where each lies between the reference's."""
    recv = [WALL + i * PERIOD for i in range(60)]
    cam = [(i % 20 + 1) * PERIOD for i in range(60)]  # restarts at frames 20 and 40
    # as many restarts of the joint states' stamps (2), both inside the camera's first run
    js = [(k + 1) * PERIOD for n in (8, 8, 44) for k in range(n)]
    write_bag(tmp_path / 'b', cam, recv, js_stamps=js)
    assert run([tmp_path / 'b'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 0
    assert 'note: /js stamps restart at 2 point(s), not where the /cam stamps do: split at ' \
           'those of /cam, by receive time' in capsys.readouterr().out


def test_a_late_frame_stays_in_its_episode_beside_slightly_earlier_joint_stamps(tmp_path):
    """A marker's boundary needs a frame newer by half a period than all seen before it."""
    sim = [(i + 1) * PERIOD for i in range(20)]  # lockstep: the sim clock stood still between
    recv = [WALL + (i + 30 * (i >= 10)) * PERIOD for i in range(20)]  # the two episodes
    js_recv = [t + MS for t in recv]
    recv[9] = WALL + 15 * PERIOD + MS  # the last frame of the first episode after its marker
    markers = ((WALL - MS, True), (WALL + 15 * PERIOD, False), (WALL + 16 * PERIOD, True))
    write_bag(tmp_path / 'b', sim, recv, js_stamps=[s - 3 * MS for s in sim], js_recv=js_recv,
              markers=markers)
    config = write_config(tmp_path / 'c.yaml', episodes={'marker': '/marker'})
    assert run([tmp_path / 'b'], config, tmp_path / 'o.zarr') == 0
    first, second = episodes(tmp_path / 'o.zarr')
    # frame 0 is trimmed (its joint state is stamped before the episode); frame 8 stays: its
    # action, the joint state of frame 9, is in the episode
    np.testing.assert_array_equal(first['img'][:, 0, 0, 0], np.arange(1, 9))
    np.testing.assert_array_equal(first['action'][:, 0], np.arange(2, 10, dtype=np.float32))
    np.testing.assert_array_equal(second['img'][:, 0, 0, 0], np.arange(11, 19))


def test_markers_with_no_frame_between_them_leave_a_note_not_a_traceback(tmp_path, capsys):
    """An episode ended and started again at once (no frame in it) is skipped with a note."""
    recv = [WALL + i * PERIOD for i in range(20)]
    markers = ((WALL - MS, True), (WALL + 950 * MS, False), (WALL + 960 * MS, True),
               (WALL + 970 * MS, False), (WALL + 980 * MS, True))
    write_bag(tmp_path / 'b', list(recv), recv, markers=markers)
    config = write_config(tmp_path / 'c.yaml', episodes={'marker': '/marker'})
    assert run([tmp_path / 'b'], config, tmp_path / 'o.zarr') == 0
    assert 'an episode window holds no message of the reference topic' in capsys.readouterr().out
    assert [len(e['img']) for e in episodes(tmp_path / 'o.zarr')] == [9, 9]


def test_the_pause_between_marked_episodes_is_no_drop(tmp_path, capsys):
    """Drops are counted inside the episodes: a pause of 30 periods between two is none."""
    recv = [WALL + (i + 30 * (i >= 10)) * PERIOD for i in range(20)]
    markers = ((WALL - MS, True), (WALL + 15 * PERIOD, False), (WALL + 16 * PERIOD, True))
    write_bag(tmp_path / 'b', list(recv), recv, markers=markers)
    config = write_config(tmp_path / 'c.yaml', episodes={'marker': '/marker'})
    assert run([tmp_path / 'b'], config, tmp_path / 'o.zarr') == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if ' msgs ' in line]
    assert [line.split()[0] for line in lines] == ['/cam', '/js', '/marker']
    assert all('drops 0 ' in line for line in lines[:2]), lines


def test_an_unstamped_command_in_a_sim_time_bag_takes_the_reference_clock(tmp_path):
    """A Float64MultiArray (no header) is placed at the sim stamp it answers, not wall time."""
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        ts = rec.typestore
        for i in range(10):
            wall = WALL + i * PERIOD
            rec.write('/js', 'sensor_msgs/msg/JointState', wall + MS,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), i * PERIOD))
            rec.write('/cmd', 'std_msgs/msg/Float64MultiArray', wall + 30 * MS,
                      float_array_message(ts, [10.0 * i]))
    config = tmp_path / 'c.yaml'
    config.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/js',
        'keys': {'state': {'joint_state': '/js', 'joints': ['j1']},
                 'action': {'float_array': '/cmd', 'joints': ['g']}}}))
    assert run([tmp_path / 'b'], config, tmp_path / 'o.zarr') == 0
    (ep,) = episodes(tmp_path / 'o.zarr')
    np.testing.assert_array_equal(ep['state'][:, 0], np.arange(10, dtype=np.float32))
    np.testing.assert_array_equal(ep['action'][:, 0], 10 * np.arange(10, dtype=np.float32))


def test_a_topic_without_messages_is_named(tmp_path, capsys):
    """A recorded topic that never got a message: the error names it, not a later symptom."""
    recv = [WALL + i * PERIOD for i in range(10)]
    with BagRecorder(tmp_path / 'b', storage='mcap') as rec:
        rec.add_topic('/js', 'sensor_msgs/msg/JointState')
        for i, t in enumerate(recv):
            rec.write('/cam', 'sensor_msgs/msg/Image', t, image_message(
                rec.typestore, np.full((4, 4, 3), i, np.uint8), t))
    assert run([tmp_path / 'b'], write_config(tmp_path / 'c.yaml'), tmp_path / 'o.zarr') == 2
    assert f'bag {tmp_path / "b"}: topic /js has no messages;' in error_line(capsys)
    assert not (tmp_path / 'o.zarr').exists()
