"""A bag recorded on another ROS 2 distro carries that distro's definition of a standard
type that changed (Lyrical's lifecycle_msgs/TransitionEvent: `builtin_interfaces/Time stamp`
where Jazzy has `uint64 timestamp`; Humble's sensor_msgs/Range without `variance`). It was
read with Jazzy's layout whatever the bag said (same size here: a garbage value, silently);
now with the bag's own definition. Definitions equal to Jazzy's (the common case: an empty
message's .msg form too) keep the shared store."""
from __future__ import annotations

import mcap.writer
from rosbags.typesys import Stores, get_typestore

from dp_ros.bags.reader import open_bag
from dp_ros.bags.typestore import reading_typestore, shared_typestore

EVENT = 'lifecycle_msgs/msg/TransitionEvent'


def test_a_newer_distros_definition_of_a_standard_type_is_the_one_read(tmp_path):
    lyrical = get_typestore(Stores.ROS2_LYRICAL)
    types = lyrical.types
    msg = types[EVENT](stamp=types['builtin_interfaces/msg/Time'](sec=1_700_000_000, nanosec=5),
                       transition=types['lifecycle_msgs/msg/Transition'](id=1, label='configure'),
                       start_state=types['lifecycle_msgs/msg/State'](id=1, label='unconfigured'),
                       goal_state=types['lifecycle_msgs/msg/State'](id=10, label='configuring'))
    text = lyrical.generate_msgdef(EVENT, ros_version=2)[0]
    assert 'builtin_interfaces/Time stamp' in text  # the change this test is about
    bag_file = tmp_path / 'lyrical.mcap'
    with open(bag_file, 'wb') as stream:
        writer = mcap.writer.Writer(stream)
        writer.start('ros2', 'test')
        channel = writer.register_channel(
            '/node/transition_event', 'cdr',
            writer.register_schema(EVENT, 'ros2msg', text.encode()))
        writer.add_message(channel, log_time=1, publish_time=1,
                           data=bytes(lyrical.serialize_cdr(msg, EVENT)))
        writer.finish()
    with open_bag(bag_file) as bag:
        survey = bag.survey(1, progress=False)['/node/transition_event']
    assert survey.error is None
    (_, got), = survey.first
    assert (got.stamp.sec, got.stamp.nanosec, got.goal_state.label) == (1_700_000_000, 5,
                                                                        'configuring')


def test_definitions_equal_to_jazzys_keep_the_shared_store():
    shared = shared_typestore()
    texts = [(t, shared.generate_msgdef(t, ros_version=2)[0])
             for t in ('sensor_msgs/msg/JointState', 'sensor_msgs/msg/Image',
                       'trajectory_msgs/msg/JointTrajectory', 'std_msgs/msg/Empty')]
    texts.append(('std_msgs/msg/Empty', ''))  # no definition stored
    texts.append(('std_msgs/msg/Empty', '# an empty message as its .msg file has it\n'))
    assert reading_typestore(texts) is shared
