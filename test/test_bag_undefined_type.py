"""A topic of a custom type the bag holds no definition of (a Humble sqlite3 bag stores none;
an mcap writer may register an empty schema): the survey (inspect) says so in words and
that it matters only if a key uses it, not a bare `KeyError: 'lab_msgs/msg/Gripper'`."""
from __future__ import annotations

import mcap.writer

from dp_ros.bags.reader import open_bag


def test_a_type_without_definition_is_named_as_such(tmp_path):
    bag_file = tmp_path / 'g.mcap'
    with open(bag_file, 'wb') as stream:
        writer = mcap.writer.Writer(stream)
        writer.start('ros2', 'test')
        channel = writer.register_channel(
            '/gripper', 'cdr', writer.register_schema('lab_msgs/msg/Gripper', 'ros2msg', b''))
        for k in range(3):
            writer.add_message(channel, log_time=k, publish_time=k,
                               data=b'\x00\x01\x00\x00' + bytes(8))
        writer.finish()
    with open_bag(bag_file) as bag:
        error = bag.survey(2, progress=False)['/gripper'].error
    assert error is not None and error.startswith('no definition of lab_msgs/msg/Gripper in '
                                                  'the bag'), error
    assert 'not needed unless a key uses it' in error
