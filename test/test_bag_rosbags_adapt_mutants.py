"""dp_ros/bags/rosbags_adapt.py where a mutation review found changes that
test_bag_rosbags_adapt.py did not notice. Every bag here is written byte for byte with the
mcap writer or sqlite3, as rosbag2 (or a foreign recorder) writes it, and read back
through dp_ros.bags.reader.open_bag.

- An unindexed .mcap's reorder window, exactly REORDER_WINDOW_NS: a message is let out once
  one exactly the window later is read (not one ns later or earlier), every message so due
  is let out (not one per read), and a message at the very time of one already let out is
  still in order (kills `<=`/`<` swaps, a window off by one ns or scaled, `while` -> `if`).
- Messages of equal receive time keep file order, across topics and within one (kills a
  heap key without the file-order counter, which falls back to comparing connections and
  payloads).
- The refusal names the storage file by its path and the window in seconds (kills a
  message naming only the file's name, or the window in other units).
- An indexed .mcap whose chunks overlap in time is read as rosbags merges it, not through
  the reorder window (kills reordering every .mcap).
- .mcap schemas: an 'omgidl' definition is still read as IDL; a channel without a schema
  and a foreign encoding (a JSON topic, a ROS 1 topic) read as no definition, neither
  refusing the bag nor lending their text as a definition (kills dropping 'omgidl', the
  `schema is not None` guard, adapting only 'unknown', keeping the schema's text).
- A .db3's 'ros2idl' definition is kept beside an 'unknown' one (kills a definitions
  filter that keeps only 'ros2msg').
- install() a second time changes nothing (kills losing its once-only guard).
"""
from __future__ import annotations

import struct

import mcap.writer
import pytest
from rosbags.rosbag2 import storage_mcap, storage_sqlite3
from support import _ros2_msgdef
from test_bag_rosbags_adapt import jazzy_db3, joint_state

from dp_ros.bags import rosbags_adapt
from dp_ros.bags.reader import BagReadError, open_bag
from dp_ros.bags.rosbags_adapt import REORDER_WINDOW_NS

JOINTS = 'sensor_msgs/msg/JointState'
FEEDBACK = 'nav2_msgs/action/NavigateToPose_FeedbackMessage'
GRIPPER = 'my_msgs/msg/Gripper'
GRIPPER_IDL = ('module my_msgs {\n  module msg {\n    struct Gripper {\n      double width;\n'
               '      boolean closed;\n    };\n  };\n};\n')
T0 = 1_700_000_000_000_000_000
W = REORDER_WINDOW_NS


def gripper(width: float) -> bytes:
    return b'\x00\x01\x00\x00' + struct.pack('<d?', width, True)


def write_mcap(path, channels, messages, chunking: bool = True, chunk_size: int = 1 << 20,
               ) -> None:
    """channels: (topic, type, schema encoding, schema text, message encoding), a type of
    None: no schema; messages: (channel index, receive ns, data), in file order."""
    with open(path, 'wb') as stream:
        writer = mcap.writer.Writer(stream, use_chunking=chunking, chunk_size=chunk_size)
        writer.start(profile='ros2', library='libmcap')
        schemas: dict[str, int] = {}
        ids = []
        for topic, msgtype, encoding, text, message_encoding in channels:
            if msgtype is not None and msgtype not in schemas:
                schemas[msgtype] = writer.register_schema(msgtype, encoding, text.encode())
            ids.append(writer.register_channel(topic, message_encoding,
                                               schemas.get(msgtype, 0)))
        for channel, time_ns, data in messages:
            writer.add_message(ids[channel], log_time=time_ns, publish_time=time_ns, data=data)
        writer.finish()


def unindexed(path, messages) -> None:
    """An .mcap without chunks or index (`--storage-preset-profile fastwrite`) of two joint
    topics /a (channel 0) and /b (channel 1); messages: (channel, receive ns, position)."""
    write_mcap(path, [('/a', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS), 'cdr'),
                      ('/b', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS), 'cdr')],
               [(c, t, joint_state(i)) for c, t, i in messages], chunking=False)


def read(path) -> list[tuple[str, int, int]]:
    """(topic, receive ns, position) of /a and /b, in the order the bag gives them."""
    with open_bag(path) as bag:
        return [(topic, t, int(msg.position[0]))
                for topic, t, msg in bag.messages(['/a', '/b'], progress=False)]


# --- the reorder window of an unindexed .mcap --------------------------------------------------

def test_a_message_exactly_the_window_later_lets_one_out_and_one_before_it_is_refused(
        tmp_path):
    """/a at T0 goes out once /b at T0 + W is read: 1 ns before it comes too late, and the
    refusal names the file's path, both times and the window in seconds."""
    bag_file = tmp_path / 'late.mcap'
    unindexed(bag_file, [(0, T0, 0), (1, T0 + W, 1), (0, T0 - 1, 2)])
    with pytest.raises(BagReadError) as raised:
        read(bag_file)
    message = str(raised.value)
    assert (f'{bag_file}: unindexed MCAP message at {T0 - 1} ns comes after one at {T0} ns, '
            f'more than {W / 1e9:g} s out of receive-time order') in message
    assert 'more than 2 s' in message and 'mcap recover' in message


def test_a_message_1ns_less_than_the_window_later_keeps_the_earlier_one_buffered(tmp_path):
    """/a at T0 + 1 is still buffered when /b at T0 + W is read: /a at T0 after it is put
    in order."""
    bag_file = tmp_path / 'fastwrite.mcap'
    unindexed(bag_file, [(0, T0 + 1, 0), (1, T0 + W, 1), (0, T0, 2)])
    assert read(bag_file) == [('/a', T0, 2), ('/a', T0 + 1, 0), ('/b', T0 + W, 1)]


def test_a_message_at_the_time_of_one_already_let_out_is_in_order(tmp_path):
    bag_file = tmp_path / 'fastwrite.mcap'
    unindexed(bag_file, [(0, T0, 0), (1, T0 + W, 1), (0, T0, 2)])
    assert read(bag_file) == [('/a', T0, 0), ('/a', T0, 2), ('/b', T0 + W, 1)]


def test_every_message_due_is_let_out_at_once(tmp_path):
    """/b at T0 + W + 1 ms lets out /a at T0 and T0 + 1 ms both: /a at T0 + 0.5 ms after
    them comes too late."""
    bag_file = tmp_path / 'late.mcap'
    ms = 10**6
    unindexed(bag_file, [(0, T0, 0), (0, T0 + ms, 1), (1, T0 + W + ms, 2), (0, T0 + ms // 2, 3)])
    with pytest.raises(BagReadError, match=f'message at {T0 + ms // 2} ns comes after one at '
                                           f'{T0 + ms} ns'):
        read(bag_file)


def test_equal_receive_times_keep_file_order_across_topics_and_within_one(tmp_path):
    """/b's message written before /a's at the same time (a higher channel id first), and
    /a's two at one time written with the larger payload first: file order, both across a
    window's release and at the end."""
    bag_file = tmp_path / 'fastwrite.mcap'
    unindexed(bag_file, [(1, T0, 0), (0, T0, 1), (0, T0 + 5, 9), (0, T0 + 5, 3),
                         (1, T0 + W, 4), (1, T0 + W + 7, 5), (0, T0 + W + 7, 6)])
    assert read(bag_file) == [('/b', T0, 0), ('/a', T0, 1), ('/a', T0 + 5, 9),
                              ('/a', T0 + 5, 3), ('/b', T0 + W, 4), ('/b', T0 + W + 7, 5),
                              ('/a', T0 + W + 7, 6)]


def test_an_indexed_mcap_whose_chunks_overlap_is_read_in_time_order(tmp_path):
    """Chunks written 3 s apart out of order (more than the window): an indexed file is
    merged by its index, as rosbags reads it, never refused."""
    bag_file = tmp_path / 'indexed.mcap'
    order = [3, 4, 0, 1, 5, 2]  # seconds, in file order; a chunk per message
    write_mcap(bag_file, [('/a', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS), 'cdr')],
               [(0, T0 + s * 10**9, joint_state(s)) for s in order], chunk_size=1)
    with open_bag(bag_file) as bag:
        got = [(t, int(msg.position[0])) for _, t, msg in bag.messages(['/a'], progress=False)]
    assert got == [(T0 + s * 10**9, s) for s in range(6)]


# --- definitions rosbags cannot map -------------------------------------------------------

def test_an_mcap_omgidl_schema_is_read_as_idl(tmp_path):
    bag_file = tmp_path / 'omg.mcap'
    write_mcap(bag_file, [('/gripper', GRIPPER, 'omgidl', GRIPPER_IDL, 'cdr')],
               [(0, T0 + i, gripper(0.01 * i)) for i in range(3)])
    with open_bag(bag_file) as bag:
        survey = bag.survey(3, progress=False)['/gripper']
    assert survey.error is None
    assert [(t, msg.width, msg.closed) for t, msg in survey.first] == [
        (T0 + i, 0.01 * i, True) for i in range(3)]


@pytest.mark.parametrize('schemaless', [
    ('/raw', None, '', '', 'cdr'),  # a channel without a schema (schema id 0)
    ('/log', 'foxglove.Log', 'jsonschema', '{"type": "object"}', 'json'),  # foreign
    # a ROS 1 channel: its Header (with seq) is no definition of ROS 2's, nor parsed as one
    ('/ros1', 'std_msgs/Header', 'ros1msg', 'uint32 seq\ntime stamp\nstring frame_id\n',
     'ros1'),
], ids=['no-schema', 'jsonschema', 'ros1msg'])
def test_an_mcap_channel_without_a_ros_definition_leaves_the_others_readable(
        tmp_path, schemaless):
    bag_file = tmp_path / 'mixed.mcap'
    write_mcap(bag_file, [('/a', JOINTS, 'ros2msg', _ros2_msgdef(JOINTS), 'cdr'), schemaless],
               [(0, T0 + i * 10**8, joint_state(i)) for i in range(3)]
               + [(1, T0 + 5, b'{}')])
    with open_bag(bag_file) as bag:
        assert set(bag.topics) == {'/a', schemaless[0]}
        positions = [int(msg.position[0]) for _, _, msg in bag.messages(['/a'], progress=False)]
    assert positions == [0, 1, 2]


def test_a_db3_idl_definition_is_kept_beside_an_unknown_one(tmp_path):
    """Schema 4 (Jazzy) as SqliteStorage writes it: a type stored as IDL (no .msg file)
    reads as IDL, while the row of encoding 'unknown' beside it reads as no definition."""
    db = tmp_path / 'idl.db3'
    con = jazzy_db3(db, [
        ('/navigate_to_pose/_action/feedback', FEEDBACK, 'unknown', ''),
        ('/gripper', GRIPPER, 'ros2idl', f"{'=' * 80}\nIDL: {GRIPPER}\n{GRIPPER_IDL}")])
    con.executemany('INSERT INTO messages(topic_id, timestamp, data) VALUES (?, ?, ?)',
                    [(2, T0 + i, gripper(0.5 + i)) for i in range(2)]
                    + [(1, T0 + 5, b'\x00\x01\x00\x00' + bytes(8))])
    con.commit()
    con.close()
    with open_bag(db) as bag:
        survey = bag.survey(2, progress=False)
    assert survey['/gripper'].error is None
    assert [msg.width for _, msg in survey['/gripper'].first] == [0.5, 1.5]
    error = survey['/navigate_to_pose/_action/feedback'].error
    assert error is not None and error.startswith(f'no definition of {FEEDBACK} in the bag')


# --- install() -------------------------------------------------------------------------------

def test_installing_again_changes_nothing(tmp_path):
    """storage imports (and so installs) the adaptation; a second install() wraps nothing
    twice, and a bag of each case still reads."""
    import dp_ros.bags.storage  # noqa: F401 - installs it

    before = (storage_mcap.get_msgdef, storage_sqlite3.apsw, storage_mcap.McapReader.messages)
    rosbags_adapt.install()
    after = (storage_mcap.get_msgdef, storage_sqlite3.apsw, storage_mcap.McapReader.messages)
    assert all(a is b for a, b in zip(before, after, strict=True))
    bag_file = tmp_path / 'fastwrite.mcap'
    unindexed(bag_file, [(1, T0 + 50, 0), (0, T0, 1)])
    assert read(bag_file) == [('/a', T0, 1), ('/b', T0 + 50, 0)]
