"""dp_ros/bags/reader.py at its edges: what open_bag says of paths that are not bags, how many
first messages a survey keeps, which neighbour lends an unset stamp its offset, and which
message a decode error names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import MS

from dp_ros.bags.reader import (
    BagReadError,
    Stream,
    cdr_header_stamp_ns,
    decode_float_array,
    open_bag,
    place_unset_stamps,
    read_streams,
)
from dp_ros.bags.recorder import BagRecorder, joint_state_message

WALL = 1_700_000_000 * 10**9


def write_bag(path: Path, commands: list[list[float]]) -> Path:
    """Ten joint states (j1 = i, 100 ms apart, stamped) and Float64MultiArray commands."""
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        array_t = ts.types['std_msgs/msg/Float64MultiArray']
        layout = ts.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0)
        for i in range(10):
            t = WALL + i * 100 * MS
            rec.write('/js', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([float(i)]), t))
        for i, values in enumerate(commands):
            rec.write('/cmd', 'std_msgs/msg/Float64MultiArray', WALL + i * 100 * MS + MS,
                      array_t(layout=layout, data=np.array(values, dtype=np.float64)))
    return path


def test_open_bag_names_what_a_path_that_is_not_a_bag_is(tmp_path):
    """A file of another suffix, a folder without metadata.yaml and a missing path are each
    refused with what is wrong, before rosbags is asked to read them."""
    notes = tmp_path / 'notes.txt'
    notes.write_text('not a bag')
    with pytest.raises(BagReadError, match=r'notes.txt is not a ROS 2 bag: expected a directory '
                                           r'with metadata.yaml or a .mcap/.db3 file'):
        with open_bag(notes):
            pass
    (tmp_path / 'folder').mkdir()
    with pytest.raises(BagReadError, match='folder is not a ROS 2 bag: it has no metadata.yaml'):
        with open_bag(tmp_path / 'folder'):
            pass
    with pytest.raises(BagReadError, match='no such bag'):
        with open_bag(tmp_path / 'gone'):
            pass


def test_a_survey_keeps_exactly_the_first_samples_messages_per_topic(tmp_path):
    """survey(samples) deserializes the first `samples` messages of each topic, no more
    (samples_by_type: as many for a topic of that type), and every receive time."""
    bag = write_bag(tmp_path / 'bag', [[0.0]] * 4)
    with open_bag(bag) as b:
        survey = b.survey(2, progress=False,
                          samples_by_type={'std_msgs/msg/Float64MultiArray': 3})
    assert len(survey['/js'].times) == 10 and len(survey['/js'].first) == 2
    assert [int(m.position[0]) for _, m in survey['/js'].first] == [0, 1]
    assert len(survey['/cmd'].times) == 4 and len(survey['/cmd'].first) == 3
    assert survey['/cmd'].stamps is None  # no header: no stamps
    np.testing.assert_array_equal(survey['/js'].stamps, WALL + np.arange(10) * 100 * MS)


def test_a_decode_error_names_the_message_that_failed(tmp_path):
    """The third command has three values for two joints: the error names message 2 of the
    topic (counted from 0) and the problem, not a numpy traceback."""
    bag = write_bag(tmp_path / 'bag', [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0]])
    with open_bag(bag) as b:
        with pytest.raises(BagReadError) as info:
            read_streams(b, {'/cmd': lambda m: decode_float_array(m, ['a', 'b'])},
                         progress=False)
    assert "message 2 of /cmd cannot be converted: 3 value(s), joints ['a', 'b'] need 2" in \
        str(info.value)
    with open_bag(bag) as b:
        streams = read_streams(b, {'/js': lambda m: m.position[0]}, progress=False)
    assert streams['/js'].values == list(range(10)) and streams['/js'].frames == {''}


def test_an_unset_stamp_midway_takes_the_earlier_neighbours_offset():
    """A zero stamp received exactly midway between two stamped neighbours takes the offset
    (stamp - receive time) of the earlier one: a fixed rule, not an accident of rounding."""
    recv = WALL + np.array([10, 20, 30]) * MS
    stamps = np.array([recv[0] - 3 * MS, 0, recv[2] - 7 * MS])
    times, placed = place_unset_stamps(stamps, recv)
    assert placed == 1
    assert times[1] == recv[1] - 3 * MS
    # nearer the later one: its offset
    recv = WALL + np.array([10, 26, 30]) * MS
    times, _ = place_unset_stamps(np.array([recv[0] - 3 * MS, 0, recv[2] - 7 * MS]), recv)
    assert times[1] == recv[1] - 7 * MS


def test_a_stream_with_some_zero_stamps_keeps_its_stamps():
    """A stream stamped but for one unset stamp is timed by its stamps (the zero one placed),
    not by receive times; one never stamped is timed by receive times."""
    recv = [WALL + 10 * MS, WALL + 20 * MS, WALL + 30 * MS]
    stream = Stream('/cam', 'sensor_msgs/msg/Image', [0, recv[1] - 2 * MS, recv[2] - 2 * MS],
                    recv, [0, 1, 2])
    times, stamped = stream.times_ns()
    assert stamped and stream.unset_stamps() == 1
    assert list(times) == [r - 2 * MS for r in recv]
    never = Stream('/cmd', 'std_msgs/msg/Float64MultiArray', [0, 0, 0], recv, [0, 1, 2])
    times, stamped = never.times_ns()
    assert not stamped and list(times) == recv and never.unset_stamps() == 0


def test_a_header_stamp_needs_twelve_bytes_of_plain_cdr():
    """Fewer than 12 bytes, or an encapsulation other than plain CDR, give no stamp (None)
    rather than a struct error or a stamp read from the wrong bytes."""
    raw = bytes([0, 1, 0, 0]) + (5).to_bytes(4, 'little') + (7).to_bytes(4, 'little')
    assert cdr_header_stamp_ns(raw) == 5 * 10**9 + 7
    for n in range(12):
        assert cdr_header_stamp_ns(raw[:n]) is None
    assert cdr_header_stamp_ns(bytes([1, 1]) + raw[2:]) is None


def test_a_zero_stamp_among_sim_times_under_an_hour_stays_a_real_time():
    """Sim time 20 min in (stamps 1200 s): a zero stamp there is a real time (the sim clock
    reset), not an unset one; only among stamps over an hour from 0 is a zero stamp unset."""
    recv = WALL + np.array([10, 20, 30]) * MS
    sim = np.array([1200 * 10**9, 0, 1200 * 10**9 + 200 * MS])
    times, placed = place_unset_stamps(sim, recv)
    assert placed == 0 and list(times) == list(sim)
    wall = np.array([recv[0] - 3 * MS, 0, recv[2] - 3 * MS])
    assert place_unset_stamps(wall, recv)[1] == 1
