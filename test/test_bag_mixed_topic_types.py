"""A topic recorded with two message types (a second node publishing std_msgs/String on
/joint_states): inspect lists it and bag2zarr refuses it naming each type the bag holds
there with its message count, so the user knows which publisher to look for; which messages
are read does not change."""
from __future__ import annotations

import struct

import mcap.writer
import pytest
from bag_support import CAMERA_JOINTS_CONFIG, T0, write_camera_joints
from rosbags.rosbag2 import Reader

from dp_ros.bags.reader import TopicTypeError, open_bag
from dp_ros.bags.recorder import BagRecorder
from training import bag2zarr
from training.bag2zarr_config import config_from_dict


@pytest.fixture
def mixed(tmp_path):
    """bags/a.mcap: write_camera_joints' 10 frames (100 JointState), and 3 std_msgs/String
    on /joint_states."""
    with BagRecorder(tmp_path / 'plain') as rec:
        write_camera_joints(rec, range(10))
    bags = tmp_path / 'bags'
    bags.mkdir()
    with Reader(tmp_path / 'plain') as reader, open(bags / 'a.mcap', 'wb') as stream:
        writer = mcap.writer.Writer(stream)
        writer.start('ros2', 'test')
        channels = {}
        for conn in reader.connections:
            schema = writer.register_schema(conn.msgtype, 'ros2msg', conn.msgdef.data.encode())
            channels[conn.id] = writer.register_channel(conn.topic, 'cdr', schema)
        string = writer.register_channel(
            '/joint_states', 'cdr', writer.register_schema('std_msgs/msg/String', 'ros2msg',
                                                           b'string data'))
        for k in range(3):
            writer.add_message(string, log_time=T0 + k, publish_time=T0 + k,
                               data=b'\x00\x01\x00\x00' + struct.pack('<I', 3) + b'hi\x00')
        for conn, recv_ns, raw in reader.messages():
            writer.add_message(channels[conn.id], log_time=recv_ns, publish_time=recv_ns,
                               data=raw)
        writer.finish()
    return bags


def test_a_topic_of_two_types_is_refused_naming_both_with_counts(tmp_path, mixed):
    """The refusal names both types with their counts (not 'has type mixed types')."""
    with pytest.raises(TopicTypeError) as info:
        bag2zarr.convert([mixed], config_from_dict(CAMERA_JOINTS_CONFIG),
                         tmp_path / 'out.zarr', progress=False)
    message = str(info.value)
    assert ('topic /joint_states has 2 types: sensor_msgs/msg/JointState (100), '
            'std_msgs/msg/String (3);') in message, message


def test_the_topic_lists_each_type_and_keeps_its_total(mixed):
    """Bag.topics: the total count as before, each type with its own count."""
    with open_bag(mixed / 'a.mcap') as bag:
        info = bag.topics['/joint_states']
    assert info.count == 103
    assert info.types == (('sensor_msgs/msg/JointState', 100), ('std_msgs/msg/String', 3))
    assert 'sensor_msgs/msg/JointState (100)' in info.msgtype
