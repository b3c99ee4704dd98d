"""Bags as rosbag2 writes them that rosbags alone refuses (dp_ros/bags/rosbags_adapt.py),
built byte for byte as rosbag2 does with the mcap writer and sqlite3:

- a topic whose type rosbag2 found no definition of (an action's hidden feedback topic)
  stores the encoding 'unknown' or '': the whole bag was refused (`KeyError: 'unknown'`);
  now the topic reads as having no definition, and the other topics convert;
- an .mcap without chunks (`--storage-preset-profile fastwrite`) whose messages came
  slightly out of receive-time order was refused at the first such message; now they come
  in time order, and only one later than the reorder window is refused, naming the file.
"""
from __future__ import annotations

import sqlite3

import mcap.writer
import numpy as np
import pytest
from support import _ros2_msgdef

from dp_ros.bags.reader import BagReadError, open_bag
from dp_ros.bags.rosbags_adapt import REORDER_WINDOW_NS, in_time_order
from dp_ros.bags.typestore import default_typestore

JOINTS = 'sensor_msgs/msg/JointState'
FEEDBACK = 'nav2_msgs/action/NavigateToPose_FeedbackMessage'
T0 = 1_700_000_000_000_000_000


def joint_state(i: int) -> bytes:
    store = default_typestore()
    types = store.types
    msg = types[JOINTS](
        header=types['std_msgs/msg/Header'](
            stamp=types['builtin_interfaces/msg/Time'](sec=1_700_000_000 + i, nanosec=0),
            frame_id=''),
        name=['j0'], position=np.array([float(i)]), velocity=np.zeros(0), effort=np.zeros(0))
    return bytes(store.serialize_cdr(msg, JOINTS))


def write_mcap(path, channels, messages, chunking: bool = True) -> None:
    """channels: (topic, type, schema encoding, schema text); messages: (channel, ns, data)."""
    with open(path, 'wb') as stream:
        writer = mcap.writer.Writer(stream, use_chunking=chunking)
        writer.start(profile='ros2', library='libmcap')
        schemas: dict[str, int] = {}
        ids = []
        for topic, msgtype, encoding, text in channels:
            if msgtype not in schemas:
                schemas[msgtype] = writer.register_schema(msgtype, encoding, text.encode())
            ids.append(writer.register_channel(topic, 'cdr', schemas[msgtype]))
        for channel, time_ns, data in messages:
            writer.add_message(ids[channel], log_time=time_ns, publish_time=time_ns, data=data)
        writer.finish()


@pytest.mark.parametrize('encoding', ['unknown', ''])
def test_an_mcap_topic_without_a_resolvable_definition_leaves_the_others_readable(
        tmp_path, encoding):
    bag_file = tmp_path / 'nav.mcap'
    write_mcap(bag_file, [('/joint_states', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS)),
                          ('/navigate_to_pose/_action/feedback', FEEDBACK, encoding, '')],
               [(0, T0 + i * 10**8, joint_state(i)) for i in range(4)]
               + [(1, T0 + 5, b'\x00\x01\x00\x00' + bytes(8))])
    with open_bag(bag_file) as bag:
        positions = [msg.position[0] for _, _, msg in
                     bag.messages(['/joint_states'], progress=False)]
        error = bag.survey(2, progress=False)['/navigate_to_pose/_action/feedback'].error
    assert positions == [0.0, 1.0, 2.0, 3.0]
    assert error is not None and error.startswith(f'no definition of {FEEDBACK} in the bag')


# a .db3's tables as rosbag2's SqliteStorage makes them, schema 4 (Jazzy)
JAZZY_DB3_SCHEMA = (
    'CREATE TABLE schema(schema_version INTEGER PRIMARY KEY, ros_distro TEXT NOT NULL);'
    'CREATE TABLE metadata(id INTEGER PRIMARY KEY, metadata_version INTEGER NOT NULL, '
    'metadata TEXT NOT NULL);'
    'CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, '
    'serialization_format TEXT NOT NULL, offered_qos_profiles TEXT NOT NULL, '
    'type_description_hash TEXT NOT NULL);'
    'CREATE TABLE message_definitions(id INTEGER PRIMARY KEY, topic_type TEXT NOT NULL, '
    'encoding TEXT NOT NULL, encoded_message_definition TEXT NOT NULL, '
    'type_description_hash TEXT NOT NULL);'
    'CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, '
    'timestamp INTEGER NOT NULL, data BLOB NOT NULL);'
    "INSERT INTO schema VALUES (4, 'jazzy');")


def jazzy_db3(db, topics) -> sqlite3.Connection:
    """A .db3 of JAZZY_DB3_SCHEMA with topics (name, type, definition encoding, definition
    text), ids 1.. in that order, and no messages yet: the open connection."""
    con = sqlite3.connect(db)
    con.executescript(JAZZY_DB3_SCHEMA)
    for topic, msgtype, encoding, text in topics:
        con.execute('INSERT INTO topics(name, type, serialization_format, '
                    "offered_qos_profiles, type_description_hash) VALUES (?, ?, 'cdr', '', '')",
                    (topic, msgtype))
        con.execute('INSERT INTO message_definitions(topic_type, encoding, '
                    'encoded_message_definition, type_description_hash) VALUES (?, ?, ?, ?)',
                    (msgtype, encoding, text, ''))
    return con


def test_a_db3_with_unresolvable_definitions_leaves_the_others_readable(tmp_path):
    """Schema 4 (Jazzy) as SqliteStorage writes it, a row of each encoding rosbag2 stores
    for a type it could not resolve."""
    db = tmp_path / 'nav.db3'
    other = 'lab_msgs/msg/Gripper'
    con = jazzy_db3(db, [('/joint_states', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS)),
                         ('/navigate_to_pose/_action/feedback', FEEDBACK, 'unknown', ''),
                         ('/gripper', other, '', '')])
    con.executemany('INSERT INTO messages(topic_id, timestamp, data) VALUES (1, ?, ?)',
                    [(T0 + i * 10**8, joint_state(i)) for i in range(3)])
    con.commit()
    con.close()
    with open_bag(db) as bag:
        assert set(bag.topics) == {'/joint_states', '/navigate_to_pose/_action/feedback',
                                   '/gripper'}
        positions = [msg.position[0] for _, _, msg in
                     bag.messages(['/joint_states'], progress=False)]
    assert positions == [0.0, 1.0, 2.0]


def _fastwrite(path, last_at_ns: int) -> list[int]:
    """Two joint topics at 1 Hz, each pair written in the other order than received (the
    second topic's callback ran first), then one received at T0 + last_at_ns written last
    (4 s of recording: the reorder window is 2 s); the times in order."""
    messages = []
    for i in range(5):
        t = T0 + i * 10**9
        messages += [(1, t + 50_000, joint_state(10 + i)), (0, t, joint_state(i))]
    messages.append((0, T0 + last_at_ns, joint_state(99)))
    write_mcap(path, [('/a', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS)),
                      ('/b', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS))], messages,
               chunking=False)
    return sorted(t for _, t, _ in messages)


def test_an_unchunked_mcap_slightly_out_of_order_reads_in_receive_time_order(tmp_path):
    bag_file = tmp_path / 'fastwrite.mcap'
    times = _fastwrite(bag_file, last_at_ns=REORDER_WINDOW_NS + 5 * 10**8)
    with open_bag(bag_file) as bag:
        got = [t for _, t, _ in bag.messages(['/a', '/b'], progress=False)]
        survey = bag.survey(1, progress=False)
    assert got == times and len(got) == 11
    assert np.all(np.diff(survey['/a'].times) >= 0) and len(survey['/a'].times) == 6


def test_an_unchunked_mcap_out_of_order_past_the_window_is_refused_naming_it(tmp_path):
    bag_file = tmp_path / 'late.mcap'
    _fastwrite(bag_file, last_at_ns=5 * 10**8)  # 1.5 s before one already read
    with open_bag(bag_file) as bag, pytest.raises(BagReadError, match=r'late\.mcap: unindexed '
                                                  r'MCAP message .* out of receive-time order'):
        list(bag.messages(['/a', '/b'], progress=False))


def test_in_time_order_is_stable_and_bounded_by_its_window():
    stream = [('a', 5, b''), ('b', 3, b''), ('c', 5, b''), ('d', 4, b''), ('e', 20, b'')]
    assert [c for c, _, _ in in_time_order(iter(stream), 10, 'x')] == ['b', 'd', 'a', 'c', 'e']
    # 'a' at 5 went out once 15 was read: 4 after it is refused
    with pytest.raises(Exception, match='x: unindexed MCAP message at 4 ns comes after one '
                                        'at 5 ns'):
        list(in_time_order(iter([('a', 5, b''), ('f', 15, b''), ('d', 4, b'')]), 10, 'x'))


def test_a_definition_stored_as_idl_is_read_as_idl(tmp_path):
    """rosbag2 stores a type it finds no .msg file of as IDL (encoding ros2idl), each type
    after a separator line and 'IDL: pkg/msg/Type': it was parsed as .msg, failed, and the
    topic was said to have no definition."""
    import struct

    idl = ('module my_msgs {\n  module msg {\n    struct Gripper {\n      double width;\n'
           '      boolean closed;\n    };\n  };\n};\n')
    text = f"{'=' * 80}\nIDL: my_msgs/msg/Gripper\n{idl}"
    bag_file = tmp_path / 'idl.mcap'
    data = b'\x00\x01\x00\x00' + struct.pack('<d?', 0.04, True)
    write_mcap(bag_file, [('/gripper', 'my_msgs/msg/Gripper', 'ros2idl', text)],
               [(0, T0 + i, data) for i in range(3)])
    with open_bag(bag_file) as bag:
        survey = bag.survey(1, progress=False)['/gripper']
    assert survey.error is None
    (_, msg), = survey.first
    assert (msg.width, msg.closed) == (0.04, True)
