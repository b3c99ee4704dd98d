"""BagRecorder and its message builders at their edges: message type names, a topic's one
type, bytes given as a memoryview, writes after close and a second close, per-message
compression, rclpy's own QoS profiles, and message counts that the project's reader must
report alike; each builder's message read back through dp_ros.bags.reader's decoders."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rosbags.interfaces import QosReliability, QosTime
from rosbags.rosbag2 import Reader

from dp_ros.bags.reader import decode_image, decode_joint_state, decode_trajectory, open_bag
from dp_ros.bags.recorder import (
    BagRecorder,
    compressed_image_message,
    discovered_qos,
    image_message,
    joint_state_message,
    normalize_msgtype,
    offered_qos,
    pose_message,
    string_message,
    trajectory_message,
    write_pusht_bag,
)
from dp_ros.bags.typestore import shared_typestore
from dp_ros.pose_fields import decode_pose

STORAGES = ['mcap', 'sqlite3']
STRING = 'std_msgs/msg/String'


def metadata(bag) -> dict:
    return yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']


def read_all(bag, topics) -> list[tuple[str, int, object]]:
    with open_bag(bag) as b:
        return list(b.messages(topics, progress=False))


def open_bag_topics(bag) -> dict:
    with open_bag(bag) as b:
        return b.topics


def one_message(tmp_path, msgtype: str, msg) -> object:
    """msg written into a bag and read back by the project's reader."""
    with BagRecorder(tmp_path / 'one') as rec:
        rec.write('/t', msgtype, 1, msg)
    ((_, _, back),) = read_all(tmp_path / 'one', ['/t'])
    return back


# --- message type names ----------------------------------------------------------------------

@pytest.mark.parametrize('name', ['std_msgs/', '/String', 'std_msgs//String', 'std_msgs/msg/',
                                  'std_msgs', 'a/b/c/d'])
def test_a_type_name_with_an_empty_or_extra_part_is_refused(name):
    with pytest.raises(ValueError, match=f"must look like 'pkg/msg/Name', got '{name}'"):
        normalize_msgtype(name)


def test_a_full_type_name_loses_its_surrounding_spaces():
    assert normalize_msgtype(f' {STRING} ') == STRING
    assert normalize_msgtype(' std_msgs/String ') == STRING


def test_a_topic_keeps_its_one_type(tmp_path):
    with BagRecorder(tmp_path / 'bag') as rec:
        rec.write('/t', 'std_msgs/String', 1, string_message(rec.typestore, 'a'))
        with pytest.raises(ValueError, match=f'topic /t is recorded as {STRING}, cannot also '
                                             'write std_msgs/msg/Bool'):
            rec.add_topic('/t', 'std_msgs/Bool')
    assert {t: i.msgtype for t, i in open_bag_topics(tmp_path / 'bag').items()} == {'/t': STRING}


def test_a_type_the_store_lacks_is_refused_naming_type_and_topic(tmp_path):
    with BagRecorder(tmp_path / 'bag') as rec:
        with pytest.raises(ValueError, match='my_msgs/msg/Thing is unknown to the type store '
                                             r'\(topic /thing\)'):
            rec.add_topic('/thing', 'my_msgs/Thing')
    assert open_bag_topics(tmp_path / 'bag') == {}


def test_a_message_object_of_another_type_is_refused(tmp_path):
    with BagRecorder(tmp_path / 'bag') as rec:
        with pytest.raises(ValueError, match='std_msgs/msg/String.*std_msgs/msg/Bool'):
            rec.write('/flag', 'std_msgs/msg/Bool', 1, string_message(rec.typestore, 'hello'))
    assert read_all(tmp_path / 'bag', ['/flag']) == []


# --- the recorder's life ---------------------------------------------------------------------

@pytest.mark.parametrize(('storage', 'compression', 'bad'),
                         [('rosbag', 'none', "storage must be one of .*, got 'rosbag'"),
                          ('mcap', 'lz4', "compression must be one of .*, got 'lz4'")])
def test_an_unknown_storage_or_compression_is_refused_before_anything_is_made(
        tmp_path, storage, compression, bad):
    with pytest.raises(ValueError, match=bad):
        BagRecorder(tmp_path / 'bag', storage=storage, compression=compression)
    assert not (tmp_path / 'bag').exists()


@pytest.mark.parametrize('storage', STORAGES)
def test_counts_agree_with_what_the_reader_reports(tmp_path, storage):
    """A topic registered with a QoS and never written counts 0; bytes (a memoryview of
    serialized CDR, as an rclpy raw subscription may hand them) count as messages."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag, storage=storage) as rec:
        ts = rec.typestore
        rec.add_topic('/silent', STRING, discovered_qos(durability='transient_local'))
        raw = ts.serialize_cdr(string_message(ts, 'raw'), STRING)
        rec.write('/s', STRING, 10, memoryview(raw), qos=discovered_qos())
        rec.write('/s', STRING, 20, string_message(ts, 'object'))
        rec.write('/r', STRING, 15, bytearray(raw))
    assert rec.counts == {'/silent': 0, '/s': 2, '/r': 1}
    with open_bag(bag) as b:
        assert {t: i.count for t, i in b.topics.items()} == rec.counts
        got = [(t, ns, m.data) for t, ns, m in b.messages(['/s', '/r'], progress=False)]
    assert got == [('/s', 10, 'raw'), ('/r', 15, 'raw'), ('/s', 20, 'object')]
    assert metadata(bag)['message_count'] == 3


def test_a_write_after_close_is_refused_and_a_second_close_is_none(tmp_path):
    rec = BagRecorder(tmp_path / 'bag')
    rec.write('/s', STRING, 1, string_message(rec.typestore, 'a'))
    rec.close()
    with pytest.raises(RuntimeError, match='is closed'):
        rec.write('/s', STRING, 2, string_message(rec.typestore, 'b'))
    rec.close()
    with rec:  # the context manager's close after an explicit one
        pass
    assert [m.data for _, _, m in read_all(tmp_path / 'bag', ['/s'])] == ['a']
    assert rec.counts == {'/s': 1}


@pytest.mark.parametrize('storage', STORAGES)
def test_an_error_inside_the_recording_still_leaves_a_readable_bag(tmp_path, storage):
    """The context manager closes the bag (metadata.yaml) on the way out of an error: what
    was recorded before it is kept, not a bag no reader opens."""
    with pytest.raises(RuntimeError, match='the sim died'), \
            BagRecorder(tmp_path / 'bag', storage) as rec:
        rec.write('/s', STRING, 1, string_message(rec.typestore, 'kept'))
        raise RuntimeError('the sim died')
    assert [m.data for _, _, m in read_all(tmp_path / 'bag', ['/s'])] == ['kept']


@pytest.mark.parametrize(('storage', 'compression', 'mode'),
                         [('sqlite3', 'message', 'message'), ('mcap', 'chunks', '')])
def test_zstd_compression_is_recorded_as_rosbag2_does_and_read_back(
        tmp_path, storage, compression, mode):
    """zstd as rosbag2 writes it: per message in a .db3 (--compression-mode message), per
    chunk in an .mcap (the zstd_fast preset; metadata.yaml names no compression, the file's
    chunks do): a flat camera frame shrinks, and reads back whole."""
    frame = np.full((96, 96, 3), 7, np.uint8)
    size = {}
    for name in ('none', compression):
        bag = tmp_path / name
        with BagRecorder(bag, storage=storage, compression=name) as rec:
            rec.write('/image', 'sensor_msgs/msg/Image', 5,
                      image_message(rec.typestore, frame, 5))
        size[name] = sum(f.stat().st_size for f in bag.iterdir())
    meta = metadata(bag)
    assert meta['compression_mode'] == mode
    assert size[compression] < size['none'] - frame.nbytes / 2
    ((_, _, msg),) = read_all(bag, ['/image'])
    np.testing.assert_array_equal(decode_image(msg, 'sensor_msgs/msg/Image'), frame)
    if storage == 'mcap':  # the file alone decodes, without metadata.yaml (after a crash)
        from mcap.reader import make_reader
        from mcap_ros2.decoder import DecoderFactory

        with open(next(bag.glob('*.mcap')), 'rb') as stream:
            (_, _, _, decoded), = make_reader(
                stream, decoder_factories=[DecoderFactory()]).iter_decoded_messages()
        assert (decoded.height, decoded.width, bytes(decoded.data[:3])) == (96, 96, b'\x07' * 3)


def test_message_compression_of_an_mcap_is_refused_as_rosbag2_refuses_it(tmp_path):
    """rosbag2's mcap storage throws 'does not support message compression': such an .mcap
    labels zstd blobs as cdr, which a reader of the file alone cannot decode."""
    with pytest.raises(ValueError, match="compression 'message' is for sqlite3 bags; mcap "
                                         "compresses with 'chunks'"):
        BagRecorder(tmp_path / 'bag', storage='mcap', compression='message')
    with pytest.raises(ValueError, match="'chunks' is for mcap bags; sqlite3 compresses with "
                                         "'message'"):
        BagRecorder(tmp_path / 'bag', storage='sqlite3', compression='chunks')
    assert not (tmp_path / 'bag').exists()


# --- QoS as rclpy gives it -------------------------------------------------------------------

def test_an_rclpy_profile_is_stored_with_its_durations_and_namespace_flag():
    qos = offered_qos(QoSProfile(depth=3, deadline=Duration(seconds=1, nanoseconds=5),
                                 lifespan=Duration(seconds=2),
                                 avoid_ros_namespace_conventions=True))
    assert qos.depth == 3 and qos.avoid_ros_namespace_conventions is True
    assert (qos.deadline, qos.lifespan) == (QosTime(1, 5), QosTime(2, 0))


def test_policy_names_are_read_whatever_their_case_and_spaces():
    qos = discovered_qos(' Best_Effort ', 'TRANSIENT_LOCAL')
    assert qos == discovered_qos('best_effort', 'transient_local')
    assert qos.reliability == QosReliability.BEST_EFFORT


def test_one_rclpy_profile_alone_is_one_offered_profile(tmp_path):
    """add_topic takes one profile as well as a list: rclpy's sensor profile, not a list."""
    with BagRecorder(tmp_path / 'bag') as rec:
        rec.add_topic('/image', 'sensor_msgs/msg/Image', qos_profile_sensor_data)
    with Reader(tmp_path / 'bag') as reader:
        (conn,) = reader.connections
    assert conn.ext.offered_qos_profiles == [offered_qos(qos_profile_sensor_data)]
    assert conn.ext.offered_qos_profiles[0].reliability == QosReliability.BEST_EFFORT


# --- the builders, read back -----------------------------------------------------------------

def test_a_png_frame_reads_back_in_its_own_colours(tmp_path):
    """cv2 encodes BGR: the builder flips the channels, the reader flips them back."""
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 10
    msg = compressed_image_message(shared_typestore(), rgb, 3)
    back = one_message(tmp_path, 'sensor_msgs/msg/CompressedImage', msg)
    assert back.format == 'png'
    np.testing.assert_array_equal(decode_image(back, 'sensor_msgs/msg/CompressedImage'), rgb)


def test_a_joint_state_keeps_its_velocities(tmp_path):
    msg = joint_state_message(shared_typestore(), ['a', 'b'], np.array([1.0, 2.0]), 7,
                              velocity=np.array([-0.5, 0.25]))
    back = one_message(tmp_path, 'sensor_msgs/msg/JointState', msg)
    np.testing.assert_array_equal(decode_joint_state(back, ['b', 'a'], 'velocity'),
                                  [0.25, -0.5])
    np.testing.assert_array_equal(decode_joint_state(back, ['a', 'b']), [1.0, 2.0])


def test_a_trajectorys_points_are_due_from_first_index_on(tmp_path):
    """A stop: first_index 1, point 0 one period after the stamp."""
    msg = trajectory_message(shared_typestore(), ['x', 'y'], np.array([[1.0, 2.0], [3.0, 4.0]]),
                             stamp_ns=10**9, period_ns=100_000_000, first_index=1)
    stamp, due, positions = decode_trajectory(one_message(tmp_path, 'trajectory_msgs/msg/'
                                                          'JointTrajectory', msg), ['y', 'x'])
    assert stamp == 10**9 and due.tolist() == [1_100_000_000, 1_200_000_000]
    np.testing.assert_array_equal(positions, [[2.0, 1.0], [4.0, 3.0]])


@pytest.mark.parametrize('yaw', [0.3, -2.5, math.pi / 2])
def test_a_poses_yaw_reads_back(tmp_path, yaw):
    msg = pose_message(shared_typestore(), 1.0, 2.0, yaw, 5, z=0.5, frame_id='table')
    back = one_message(tmp_path, 'geometry_msgs/msg/PoseStamped', msg)
    np.testing.assert_allclose(decode_pose(back, ['x', 'y', 'z', 'yaw']), [1.0, 2.0, 0.5, yaw])
    assert back.header.frame_id == 'table'


# --- synthetic Push-T bags: dropped and late messages ----------------------------------------

def test_dropped_messages_are_missing_and_late_ones_arrive_a_second_later(tmp_path):
    rng = np.random.default_rng(0)
    episode = {'img': rng.integers(0, 255, (3, 96, 96, 3)), 'state': rng.random((3, 5)),
               'action': rng.random((3, 2))}
    plain = write_pusht_bag(tmp_path / 'plain', [episode])
    faulty = write_pusht_bag(tmp_path / 'faulty', [episode],
                             drop={'/pusht/joint_states': {1}},
                             late={'/pusht/block_pose': {2}})
    assert faulty.counts['/pusht/joint_states'] == plain.counts['/pusht/joint_states'] - 1
    times = {name: {t: [ns for _, ns, _ in read_all(tmp_path / name, [t])]
                    for t in ('/pusht/joint_states', '/pusht/block_pose')}
             for name in ('plain', 'faulty')}
    joints, poses = times['plain']['/pusht/joint_states'], times['plain']['/pusht/block_pose']
    assert times['faulty']['/pusht/joint_states'] == [joints[0], joints[2]]
    assert times['faulty']['/pusht/block_pose'] == [*poses[:2], poses[2] + 1_000_000_000]
