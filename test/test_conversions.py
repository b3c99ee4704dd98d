"""Message <-> numpy conversions, both ways, for every supported encoding."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv

RNG = np.random.default_rng(0)


def sample_array(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    dtype, channels = cv.IMAGE_ENCODINGS[encoding]
    shape = (height, width, channels) if channels > 1 else (height, width)
    if dtype == np.float32:
        return RNG.normal(size=shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


def padded_message(array: np.ndarray, encoding: str, pad: int, bigendian: bool) -> Image:
    """Builds a message the way another driver might: row padding and a chosen byte order."""
    dtype, channels = cv.IMAGE_ENCODINGS[encoding]
    data = array.astype(dtype.newbyteorder('>' if bigendian else '<'))
    rows = data.reshape(array.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding,
                is_bigendian=bigendian, step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize('encoding', list(cv.IMAGE_ENCODINGS))
def test_image_round_trip(encoding):
    array = sample_array(encoding)
    msg = cv.numpy_to_image(array, encoding, stamp=cv.ns_to_time(123), frame_id='cam')
    assert msg.is_bigendian == (sys.byteorder == 'big')
    assert msg.step * msg.height == len(msg.data)
    back = cv.image_to_numpy(msg)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    assert msg.header.frame_id == 'cam' and cv.time_to_ns(msg.header.stamp) == 123


@pytest.mark.parametrize('encoding', list(cv.IMAGE_ENCODINGS))
@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('pad', [0, 3, 16])
def test_image_padding_and_byte_order(encoding, bigendian, pad):
    array = sample_array(encoding)
    back = cv.image_to_numpy(padded_message(array, encoding, pad, bigendian))
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_colour_orders_give_the_same_rgb():
    rgb = sample_array('rgb8')
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    variants = {
        'rgb8': rgb, 'bgr8': rgb[:, :, ::-1].copy(),
        'rgba8': np.concatenate([rgb, alpha], 2),
        'bgra8': np.concatenate([rgb[:, :, ::-1], alpha], 2),
    }
    for encoding, array in variants.items():
        np.testing.assert_array_equal(cv.image_to_rgb(cv.numpy_to_image(array, encoding)), rgb)
    mono = sample_array('mono8')
    assert cv.image_to_rgb(cv.numpy_to_image(mono, 'mono8')).shape == mono.shape + (3,)
    with pytest.raises(ValueError, match='32FC1'):
        cv.image_to_rgb(cv.numpy_to_image(sample_array('32FC1'), '32FC1'))


@pytest.mark.parametrize('mutate, match', [
    (lambda m: setattr(m, 'encoding', 'yuv422'), 'unsupported image encoding'),
    (lambda m: setattr(m, 'step', 4), 'smaller than a row'),
    (lambda m: setattr(m, 'height', m.height + 1), 'expected step\\*height'),
    (lambda m: setattr(m, 'data', bytes(len(m.data) - 1)), 'expected step\\*height'),
    (lambda m: setattr(m, 'width', 0), 'no pixels'),
])
def test_image_mismatch_is_a_clear_error(mutate, match):
    msg = cv.numpy_to_image(sample_array('rgb8'), 'rgb8')
    mutate(msg)
    with pytest.raises(ValueError, match=match):
        cv.image_to_numpy(msg)


def test_numpy_to_image_rejects_wrong_arrays():
    with pytest.raises(ValueError, match='dtype'):
        cv.numpy_to_image(np.zeros((4, 4, 3), np.float32), 'rgb8')
    with pytest.raises(ValueError, match='does not fit'):
        cv.numpy_to_image(np.zeros((4, 4), np.uint8), 'rgb8')
    with pytest.raises(ValueError, match='unsupported'):
        cv.numpy_to_image(np.zeros((4, 4), np.uint8), 'bayer_rggb8')


@pytest.mark.parametrize('fmt', ['png', 'jpeg'])
def test_compressed_image_round_trip(fmt):
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.stack([xx * 4, yy * 5, np.full_like(xx, 128)], axis=2).astype(np.uint8)
    msg = cv.numpy_to_compressed_image(rgb, fmt, stamp=cv.ns_to_time(5))
    back = cv.compressed_image_to_numpy(msg)
    assert back.shape == rgb.shape and back.dtype == np.uint8
    if fmt == 'png':
        np.testing.assert_array_equal(back, rgb)
    else:
        assert np.abs(back.astype(int) - rgb).mean() < 3.0


def test_compressed_image_garbage_is_a_clear_error():
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage(format='jpeg')
    msg.data = b'not an image at all'
    with pytest.raises(ValueError, match='not decoded: its data is no JPEG, PNG or TIFF'):
        cv.compressed_image_to_numpy(msg)
    msg.data = b'\xff\xd8' + b'not an image at all'
    with pytest.raises(ValueError, match='could not decode'):
        cv.compressed_image_to_numpy(msg)
    with pytest.raises(ValueError, match='no data'):
        cv.compressed_image_to_numpy(CompressedImage(format='png'))


def test_joint_state_by_names():
    msg = cv.numpy_to_joint_state([1.0, 2.0, 3.0], ['a', 'b', 'c'], velocity=[0.1, 0.2, 0.3])
    np.testing.assert_array_equal(cv.joint_state_to_numpy(msg, ['c', 'a']), [3.0, 1.0])
    np.testing.assert_array_equal(cv.joint_state_to_numpy(msg, ['b'], 'velocity'), [0.2])
    with pytest.raises(ValueError, match=r"lacks joint\(s\) \['z'\]"):
        cv.joint_state_to_numpy(msg, ['a', 'z'])
    short = JointState(name=['a', 'b'], position=[1.0])
    with pytest.raises(ValueError, match='2 names but 1 position'):
        cv.joint_state_to_numpy(short, ['a'])
    with pytest.raises(ValueError, match='3 positions for 2'):
        cv.numpy_to_joint_state([1, 2, 3], ['a', 'b'])


def test_joint_state_fields_per_joint():
    """A joint's position and its velocity side by side (the node's state_fields)."""
    msg = JointState(name=['b', 'a'], position=[2.0, 1.0], velocity=[-2.0, -1.0])
    values, measured = cv.joint_state_inputs(msg, ['a', 'b', 'a', 'b'],
                                             ['position', 'position', 'velocity', 'velocity'],
                                             ['a', 'b'])
    assert values.tolist() == [1.0, 2.0, -1.0, -2.0] and measured.tolist() == [1.0, 2.0]
    assert values.dtype == np.float32
    no_velocity = JointState(name=['a'], position=[1.0])  # a driver that sends none
    with pytest.raises(cv.BadInput, match='1 names but 0 velocity values'):
        cv.joint_state_inputs(no_velocity, ['a', 'a'], ['position', 'velocity'], ['a'])
    with pytest.raises(ValueError, match=r"fields must be position, velocity or effort, got "
                                         r"\['torque'\]"):
        cv.joint_state_to_numpy(msg, ['a'], ['torque'])
    with pytest.raises(ValueError, match='1 joint state fields for 2 joints'):
        cv.joint_state_to_numpy(msg, ['a', 'b'], ['position'])


def test_a_prefixed_topics_joints_are_the_training_datas_names():
    """Two arms whose drivers both say 'waist': /left/joint_states read with prefix 'left_'
    gives state joint 'left_waist' and measures action joint 'left_waist', never the right
    arm's 'right_waist' (the node's topic_name_prefixes)."""
    left = JointState(name=['waist', 'gripper'], position=[0.5, 0.02], velocity=[0.1, 0.0])
    values, measured = cv.joint_state_inputs(
        left, ['left_waist', 'left_waist', 'left_gripper'], ['position', 'velocity', 'position'],
        ['right_waist', 'left_waist', 'left_gripper', 'waist'], prefix='left_')
    np.testing.assert_allclose(values, [0.5, 0.1, 0.02])
    assert measured[1:3].tolist() == [0.5, 0.02]
    assert np.isnan(measured[[0, 3]]).all()  # the other arm's, and an unprefixed name
    with pytest.raises(cv.BadInput, match=r"joint state lacks \['elbow'\], has \['waist', "):
        cv.joint_state_inputs(left, ['left_elbow', 'left_waist'], 'position', [],
                              prefix='left_')
    # none of the topic's joints: another driver's message, skipped
    assert cv.joint_state_inputs(left, ['left_elbow'], 'position', [], prefix='left_') == \
        (None, None)


def test_action_chunk_round_trip():
    actions = RNG.uniform(0, 512, size=(8, 2))
    stamp = 1_700_000_000 * cv.NS_PER_S + 123_456_789
    msg = cv.chunk_to_joint_trajectory(actions, ['agent_x', 'agent_y'], 0.1, stamp)
    assert isinstance(msg, JointTrajectory) and len(msg.points) == 8
    chunk = cv.joint_trajectory_to_chunk(msg)
    assert chunk.stamp_ns == stamp
    assert chunk.joint_names == ['agent_x', 'agent_y']
    np.testing.assert_array_equal(chunk.times_from_start_ns, np.arange(8) * 100_000_000)
    np.testing.assert_array_equal(chunk.due_ns, stamp + np.arange(8) * 100_000_000)
    np.testing.assert_array_equal(chunk.positions, actions)
    with pytest.raises(ValueError, match='do not match 3 joint names'):
        cv.chunk_to_joint_trajectory(actions, ['a', 'b', 'c'], 0.1, stamp)


def test_ragged_trajectory_is_a_clear_error():
    msg = cv.chunk_to_joint_trajectory(np.zeros((2, 2)), ['a', 'b'], 0.1, 0)
    msg.points[1].positions = [1.0]
    with pytest.raises(ValueError, match='point 1 has 1 positions'):
        cv.joint_trajectory_to_chunk(msg)


def test_time_has_no_float_drift():
    big = 1_800_000_000 * cv.NS_PER_S + 999_999_999
    assert cv.time_to_ns(cv.ns_to_time(big)) == big
    assert cv.seconds_to_ns(0.1) == 100_000_000
    # 100k control periods added as integers land exactly; float seconds would not.
    assert sum([cv.seconds_to_ns(0.1)] * 100_000) == 10_000 * cv.NS_PER_S
    t = cv.ns_to_time(cv.seconds_to_ns(12.345678901))
    assert (t.sec, t.nanosec) == (12, 345678901)
    assert cv.duration_to_ns(cv.ns_to_duration(250_000_000)) == 250_000_000


def test_a_pose_is_the_observation_bag2zarr_records():
    """pose_inputs: the fields of a PoseStamped, yaw wrapped from yaw_min, as bag2zarr's pose
    source decodes a recorded one (one function: dp_ros/pose_fields.py); broken values are
    bad input."""
    import math

    from geometry_msgs.msg import PoseStamped

    from dp_ros.runtime.input_checks import BadInput

    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.z = 0.3, 0.12
    yaw = -1.0  # about z: q = (0, 0, sin(yaw/2), cos(yaw/2))
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    values, measured = cv.pose_inputs(msg, ['x', 'z', 'yaw'], -math.pi, ['x', 'gripper'])
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, [0.3, 0.12, -1.0], rtol=1e-6)
    # a Cartesian target's x is measured here (float64), the gripper elsewhere
    assert measured[0] == 0.3 and np.isnan(measured[1])
    wrapped, measured = cv.pose_inputs(msg, ['yaw', 'qw'], 0.0, ['j1'])  # [0, 2 pi)
    np.testing.assert_allclose(wrapped, [2 * math.pi - 1.0, math.cos(-0.5)], rtol=1e-6)
    assert measured is None  # no action dimension is a pose field of it
    msg.header.frame_id = 'world'  # the policy was trained on poses in base_link
    with pytest.raises(BadInput, match="pose in frame 'world'; the policy was trained on poses "
                                       "in 'base_link'") as info:
        cv.pose_inputs(msg, ['x'], -math.pi, ['x'], 'base_link')
    assert info.value.kind == 'pose_frame'
    assert cv.pose_inputs(msg, ['x'], -math.pi, ['x'], 'world')[0][0] == pytest.approx(0.3)
    msg.pose.position.x = math.nan
    with pytest.raises(BadInput) as info:
        cv.pose_inputs(msg, ['x'], -math.pi, ['x'])
    assert info.value.kind == 'non_finite'
    # an unset orientation (all zeros) is not the identity: bad input wherever one is read
    unset = PoseStamped()
    unset.pose.orientation.w = 0.0
    for fields in (['x', 'yaw'], ['qw'], ['r00']):
        with pytest.raises(BadInput, match=r'quaternion \(0.0, 0.0, 0.0, 0.0\) has no '
                                           'direction') as info:
            cv.pose_inputs(unset, fields, -math.pi, ['x'])
        assert info.value.kind == 'pose_orientation'
    assert cv.pose_inputs(unset, ['x', 'z'], -math.pi, ['x'])[0].tolist() == [0.0, 0.0]
    # one of two end effectors (topic_name_prefixes): its fields are the data's left_x, ...,
    # and it measures the left target only
    values, measured = cv.pose_inputs(msg, ['left_z', 'left_yaw'], -math.pi,
                                      ['right_z', 'left_z', 'z'], prefix='left_')
    np.testing.assert_allclose(values, [0.12, -1.0], rtol=1e-6)
    assert measured[1] == 0.12 and np.isnan(measured[[0, 2]]).all()


def test_a_planned_path_of_pose_targets_turns_as_they_do():
    """~/planned_path: with the pose target's dimensions, each path pose carries the target's
    orientation (a rotation 6D made a quaternion), so RViz draws the tool's axes along it;
    without them, or where a prediction has no direction, the identity."""
    import math

    from dp_ros.pose_fields import MATRIX_COLUMNS

    names = ('x', 'y', 'z', *MATRIX_COLUMNS)
    c, s = math.cos(0.4), math.sin(0.4)  # a turn of 0.4 rad about z
    actions = np.array([[0.1, 0.2, 0.3, c, s, 0, -s, c, 0],
                        [0.1, 0.2, 0.3, 0, 0, 0, 0, 0, 0]])  # no direction
    due = np.array([10**9, 10**9 + 10**8])
    path = cv.chunk_to_path(due, actions, [0, 1, 2], 1.0, 'base_link',
                            (tuple(range(9)), names))
    q = path.poses[0].pose.orientation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [0, 0, math.sin(0.2), math.cos(0.2)],
                               atol=1e-12)
    assert path.poses[0].pose.position.z == pytest.approx(0.3)
    q = path.poses[1].pose.orientation
    assert (q.x, q.y, q.z, q.w) == (0.0, 0.0, 0.0, 1.0)
    plain = cv.chunk_to_path(due, actions, [0, 1], 2.0, 'base_link')
    assert plain.poses[0].pose.orientation.w == 1.0
    assert plain.poses[0].pose.position.y == pytest.approx(0.4)


def test_a_topic_shared_by_two_drivers_measures_each_ones_action_joints():
    """The arm's driver and its gripper's publish on one /joint_states, each its own joints
    (separate gripper controllers): the arm's message is the observation, the gripper's
    gives no state joint but the gripper's measured position (the step limit's, the
    ramp-in's and the stop's reference), and is no bad message."""
    state, action = ['j1', 'j2'], ['j1', 'j2', 'gripper']
    arm = JointState(name=['j2', 'j1'], position=[0.2, 0.1])
    values, measured = cv.joint_state_inputs(arm, state, 'position', action)
    assert values.tolist() == pytest.approx([0.1, 0.2]) and measured[:2].tolist() == [0.1, 0.2]
    assert np.isnan(measured[2])
    gripper = JointState(name=['gripper'], position=[0.04])
    values, measured = cv.joint_state_inputs(gripper, state, 'position', action)
    assert values is None and np.isnan(measured[:2]).all() and measured[2] == 0.04
    prefixed = cv.joint_state_inputs(gripper, ['left_j1'], 'position', ['left_gripper'],
                                     prefix='left_')
    assert prefixed[0] is None and prefixed[1].tolist() == [0.04]
    # nothing the node reads (a head's or a base's driver on the shared topic): skipped,
    # not a bad message (the node counts it toward inputs_unread)
    for useless in (JointState(name=['head'], position=[1.0]),  # neither state nor action
                    JointState(name=['gripper'], velocity=[0.0]),  # no positions to measure
                    JointState(name=['gripper'], position=[float('nan')])):
        assert cv.joint_state_inputs(useless, state, 'position', action) == (None, None)


def test_a_message_with_some_of_the_state_joints_is_refused_but_measured():
    """The gripper is a state joint too, its driver and the arm's on one topic: no message
    gives the whole state, and none is merged with another (their stamps differ), so each
    is refused ('joint_unknown', naming the missing joints), yet the action joints it gives
    are measured."""
    state = action = ['j1', 'j2', 'gripper']
    arm = JointState(name=['j2', 'j1'], position=[0.2, 0.1])
    with pytest.raises(cv.PartialJointState, match=r"lacks \['gripper'\], has \['j2', 'j1'\]"
                                                   r": a message must give all") as info:
        cv.joint_state_inputs(arm, state, 'position', action)
    assert info.value.kind == 'joint_unknown' and isinstance(info.value, cv.BadInput)
    assert info.value.measured[:2].tolist() == [0.1, 0.2] and np.isnan(info.value.measured[2])
    velocities = JointState(name=['j1'], velocity=[0.0])  # positions of none: nothing measured
    with pytest.raises(cv.PartialJointState) as info:
        cv.joint_state_inputs(velocities, ['j1', 'j2'], 'velocity', ['j1'])
    assert info.value.measured is None


def test_a_decoded_bag_stamp_reads_as_an_rclpy_one():
    """stamp_to_ns is duck-typed: a rosbags-decoded Time (no ROS install) and the rclpy
    message give the same ns (bag2zarr's header and /clock stamps, the node's)."""
    from types import SimpleNamespace

    from dp_ros.stamps import stamp_to_ns

    big = 1_800_000_000 * cv.NS_PER_S + 999_999_999
    assert stamp_to_ns(SimpleNamespace(sec=1_800_000_000, nanosec=999_999_999)) == big
    assert stamp_to_ns(cv.ns_to_time(big)) == cv.time_to_ns(cv.ns_to_time(big)) == big
    assert stamp_to_ns(cv.ns_to_duration(-1)) == -1  # sec -1, nanosec 999_999_999
