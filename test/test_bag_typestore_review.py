"""Review of dp_ros/bags/typestore.py: a bag whose own type definitions are broken still opens
and reads its other topics (the broken one fails where it is used, naming the bag), a custom
type without a definition is read with the shared store, the stores are Jazzy's, and Ctrl-C
is held back while code is made only where that is Python's handler on the main thread."""
from __future__ import annotations

import os
import signal
import struct
import sys
import threading

import pytest
from mcap.writer import Writer

from dp_ros.bags.reader import BagReadError, open_bag
from dp_ros.bags.typestore import (
    default_typestore,
    prepare_type,
    reading_typestore,
    shared_typestore,
)
from dp_ros.held_signals import signals_held_back

GOOD, BROKEN, OUTER = 'demo_msgs/msg/Good', 'demo_msgs/msg/Broken', 'demo_msgs/msg/Outer'
CDR_LE = b'\x00\x01\x00\x00'


def write_raw_mcap(path, topics: dict[str, tuple[str, str, bytes]]) -> None:
    """A bare ROS 2 mcap, one message per topic: {topic: (type, definition text, CDR bytes)}."""
    with path.open('wb') as f:
        writer = Writer(f)
        writer.start(profile='ros2', library='test')
        for i, (topic, (msgtype, text, data)) in enumerate(topics.items()):
            schema = writer.register_schema(msgtype, 'ros2msg', text.encode())
            channel = writer.register_channel(topic, 'cdr', schema)
            writer.add_message(channel, log_time=10**18 + i, data=data, publish_time=10**18 + i)
        writer.finish()


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test (a background shell may have SIGINT ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_bag_with_an_unparsable_definition_opens_and_reads_its_other_topics(tmp_path):
    """A definition rosbags cannot parse leaves only its own topic unreadable, reported with
    the bag's name where the topic is read, not a crash on opening the bag."""
    bag_path = tmp_path / 'mixed.mcap'
    write_raw_mcap(bag_path, {'/good': (GOOD, 'float64 width', CDR_LE + struct.pack('<d', 0.25)),
                              '/broken': (BROKEN, 'int32[', CDR_LE + b'\x00' * 4)})
    with open_bag(bag_path) as bag:
        assert GOOD in bag.typestore.types and BROKEN not in bag.typestore.types
        ((_, _, msg),) = bag.messages(['/good'], progress=False)
        assert msg.width == 0.25
        with pytest.raises(BagReadError, match=r'mixed\.mcap.*/broken'):
            list(bag.messages(['/broken'], progress=False))


def test_a_type_whose_field_type_is_unknown_is_left_for_deserialization_to_report(tmp_path):
    """prepare_type does not raise for a type it cannot make (docstring): reading that topic
    fails with the reader's error naming the bag and topic, and a survey of the whole bag
    still reports the other topics."""
    store = reading_typestore([(OUTER, 'demo_msgs/Missing inner\nint32 x')])
    prepare_type(store, OUTER)  # no KeyError for demo_msgs/msg/Missing
    bag_path = tmp_path / 'outer.mcap'
    write_raw_mcap(bag_path, {'/good': (GOOD, 'float64 width', CDR_LE + struct.pack('<d', 0.5)),
                              '/outer': (OUTER, 'demo_msgs/Missing inner\nint32 x',
                                         CDR_LE + b'\x00' * 8)})
    with open_bag(bag_path) as bag:
        with pytest.raises(BagReadError, match=r'outer\.mcap.*/outer'):
            list(bag.messages(['/outer'], progress=False))
        survey = bag.survey(samples=1, progress=False)
    assert survey['/good'].error is None and survey['/good'].first[0][1].width == 0.5
    assert 'Missing' in survey['/outer'].error


def test_standard_types_and_custom_types_without_definition_text_use_the_shared_store():
    """'none: the shared store': only types the bag defines with text make a store of their
    own (a store's code costs more than reading a small bag), and standard types defined as
    Jazzy defines them; one defined otherwise (another distro's) gets the bag's definition
    (test_bag_typestore_other_distros.py)."""
    joint_state = shared_typestore().generate_msgdef('sensor_msgs/msg/JointState',
                                                     ros_version=2)[0]
    assert reading_typestore([]) is shared_typestore()
    assert reading_typestore([('sensor_msgs/msg/JointState', joint_state),
                              (GOOD, '')]) is shared_typestore()
    other = reading_typestore([('sensor_msgs/msg/JointState', 'float64[] position')])
    assert other is not shared_typestore()
    assert [name for name, _ in other.fielddefs['sensor_msgs/msg/JointState'][1]] == ['position']


def test_stores_hold_ros_2_jazzy_definitions():
    """Jazzy's types (not an older distribution's) are read without a definition in the bag."""
    store = default_typestore()
    assert {'service_msgs/msg/ServiceEventInfo', 'geometry_msgs/msg/VelocityStamped',
            'type_description_interfaces/msg/TypeDescription'} <= set(store.types)
    assert 'geometry_msgs/msg/VelocityStamped' in shared_typestore().types


def test_code_is_made_with_ctrl_c_held_back(python_ctrl_c):
    """A Ctrl-C arriving while prepare_type makes code (sent from inside rosbags' code
    generation here) is raised only after the code of the whole type is made."""
    store = default_typestore()
    msgtype = 'geometry_msgs/msg/AccelWithCovarianceStamped'
    sent = []

    def profile(frame, event, arg):
        if event == 'call' and frame.f_code.co_name == 'get_msgdef' and not sent:
            sent.append(signal.getsignal(signal.SIGINT))
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        sys.setprofile(profile)
        try:
            prepare_type(store, msgtype)
        finally:
            sys.setprofile(None)
    assert len(sent) == 1 and sent[0] is not signal.default_int_handler
    assert msgtype in store.cache
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_holding_back_on_another_thread_runs_the_block_as_it_is(python_ctrl_c):
    """The recorder writes bags on its spin thread (arm-record): no handler can be changed
    there, and the block still runs (no ValueError from signal.signal)."""
    done, errors = [], []

    def work():
        try:
            with signals_held_back():
                prepare_type(default_typestore(), 'sensor_msgs/msg/Imu')
                done.append(True)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert done == [True] and errors == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored():
    """A process started with SIGINT ignored (`make test &`, nohup) is left alone: the block
    neither installs Python's handler afterwards nor raises on a Ctrl-C."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_held_back():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
