"""dp_ros/runtime/joint_publishers.py: a joint two publishers give at once is refused."""
from __future__ import annotations

from dp_ros.runtime.joint_publishers import CONFLICT_WINDOW_NS, JointPublishers, publisher_key

MS = 1_000_000
DRIVER, STRAY, GRIPPER = b'driver', b'stray', b'gripper'


def test_one_publisher_per_joint_is_never_refused():
    book = JointPublishers()
    for k in range(20):  # the arm's driver and the gripper's on one topic, other joints
        assert book.others(['j1', 'j2'], DRIVER, k * 10 * MS) == []
        assert book.others(['finger'], GRIPPER, k * 10 * MS + 5 * MS) == []


def test_a_second_publisher_of_a_joint_is_refused_with_the_driver_until_it_is_gone():
    book = JointPublishers()
    assert book.others(['j1', 'j2'], DRIVER, 0) == []
    assert book.others(['j1', 'j2'], STRAY, 10 * MS) == [DRIVER]
    assert book.others(['j1', 'j2'], DRIVER, 20 * MS) == [STRAY]  # both refused
    assert book.others(['j2'], DRIVER, 30 * MS) == [STRAY]
    # the stray stops: a window after its last message the driver is alone again
    assert book.others(['j1', 'j2'], DRIVER, 10 * MS + CONFLICT_WINDOW_NS + 1) == []


def test_without_publisher_identities_nothing_is_checked():
    book = JointPublishers()
    assert book.others(['j1'], None, 0) == [] and book.others(['j1'], None, MS) == []
    assert publisher_key(None) is None and publisher_key({'publisher_gid': None}) is None
    assert publisher_key({'source_timestamp': 1}) is None  # rclpy of Jazzy: no gid
    gid = {'implementation_identifier': 'rmw_fastrtps_cpp', 'data': b'\x01\x0f\x14\x03'}
    assert publisher_key({'publisher_gid': gid}) == b'\x01\x0f\x14\x03'
