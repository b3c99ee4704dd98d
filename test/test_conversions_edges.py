"""Edges of the message <-> numpy conversions (dp_ros/ros/conversions.py) and of the input
checks behind them (dp_ros/runtime/input_checks.py): empty or oversized image buffers, mono
images as (H, W, 1), the camera path's error kinds, compressed formats, joint states whose
lists disagree, pose/twist/array/trajectory building, planned paths and diagnostics."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CompressedImage, JointState
from test_conversions import sample_array
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import FLOAT32_MAX, BadInput, state_vector

# --- images ---------------------------------------------------------------------------------


def test_an_image_of_height_zero_has_no_pixels():
    msg = cv.numpy_to_image(sample_array('rgb8'), 'rgb8')
    msg.height, msg.data = 0, b''
    with pytest.raises(ValueError, match='no pixels'):
        cv.image_to_numpy(msg)


def test_extra_bytes_after_the_last_row_are_a_size_error():
    msg = cv.numpy_to_image(sample_array('rgb8'), 'rgb8')
    msg.data = bytes(msg.data) + b'\x00' * msg.step
    with pytest.raises(ValueError, match=r'expected step\*height'):
        cv.image_to_numpy(msg)


def test_a_mono_array_of_one_channel_is_taken_as_height_by_width():
    mono = sample_array('mono8')
    msg = cv.numpy_to_image(mono[:, :, None], 'mono8')
    assert (msg.height, msg.width, msg.step) == (5, 7, 7)
    np.testing.assert_array_equal(cv.image_to_numpy(msg), mono)


def test_numpy_to_image_refuses_a_colour_array_of_the_wrong_channel_count():
    with pytest.raises(ValueError, match='does not fit encoding rgb8'):
        cv.numpy_to_image(np.zeros((4, 4, 4), np.uint8), 'rgb8')


def test_mono8_as_rgb_repeats_each_pixel_in_all_three_channels():
    mono = sample_array('mono8')
    rgb = cv.image_to_rgb(cv.numpy_to_image(mono, 'mono8'))
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], mono)


def test_camera_rgb_takes_a_mono8_camera():
    mono = sample_array('mono8')
    rgb = cv.camera_rgb(cv.numpy_to_image(mono, 'mono8'))
    assert rgb.shape == (5, 7, 3)
    np.testing.assert_array_equal(rgb[:, :, 1], mono)


def test_camera_rgb_error_kinds():
    """A depth encoding is 'image_encoding'; a short buffer is 'image_size'."""
    depth = cv.numpy_to_image(sample_array('16UC1'), '16UC1')
    with pytest.raises(BadInput) as info:
        cv.camera_rgb(depth)
    assert info.value.kind == 'image_encoding'
    short = cv.numpy_to_image(sample_array('bgr8'), 'bgr8')
    short.data = bytes(short.data)[:-1]
    with pytest.raises(BadInput, match='expected step') as info:
        cv.camera_rgb(short)
    assert info.value.kind == 'image_size'
    with pytest.raises(BadInput) as info:
        cv.camera_rgb(CompressedImage(format='jpeg'))
    assert info.value.kind == 'image_decode'


def test_png_of_one_or_four_channels_decodes_to_three_channel_rgb():
    gray = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8) * 5
    msg = CompressedImage(format='png')
    msg.data = cv2.imencode('.png', gray)[1].tobytes()
    back = cv.compressed_image_to_numpy(msg)
    assert back.shape == (6, 8, 3)
    np.testing.assert_array_equal(back[:, :, 0], gray)
    bgra = np.zeros((6, 8, 4), np.uint8)
    bgra[:, :, 2], bgra[:, :, 3] = 200, 255  # red, opaque
    msg.data = cv2.imencode('.png', bgra)[1].tobytes()
    back = cv.compressed_image_to_numpy(msg)
    assert back.shape == (6, 8, 3) and back[0, 0].tolist() == [200, 0, 0]


def test_compressed_format_is_recorded_and_checked():
    rgb = np.zeros((8, 8, 3), np.uint8)
    assert cv.numpy_to_compressed_image(rgb, 'png').format == 'png'
    with pytest.raises(ValueError, match="'jpeg' or 'png', got 'bmp'"):
        cv.numpy_to_compressed_image(rgb, 'bmp')


def test_jpeg_quality_is_passed_to_the_encoder():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    low = cv.numpy_to_compressed_image(rgb, 'jpeg', quality=10)
    high = cv.numpy_to_compressed_image(rgb, 'jpeg', quality=95)
    assert len(low.data) < len(high.data) / 2


# --- joint states ---------------------------------------------------------------------------


def test_more_values_than_names_is_an_error():
    with pytest.raises(ValueError, match='1 names but 2 position values'):
        cv.joint_state_to_numpy(JointState(name=['a'], position=[1.0, 2.0]), ['a'])


def test_short_positions_are_a_joint_size_bad_input_not_an_index_error():
    msg = JointState(name=['a', 'b'], position=[1.0])
    with pytest.raises(BadInput) as info:
        cv.joint_state_inputs(msg, ['a', 'b'], 'position', ['a', 'b'])
    assert info.value.kind == 'joint_size'


def test_a_joint_read_twice_that_is_absent_is_another_drivers_message():
    """State names ['a', 'a'] (position and velocity): a message without 'a' but with an
    action joint's position is another driver's, not a partial state."""
    msg = JointState(name=['g'], position=[0.1])
    values, measured = cv.joint_state_inputs(msg, ['a', 'a'], ['position', 'velocity'], ['g'])
    assert values is None and measured.tolist() == [0.1]


def test_numpy_to_joint_state_checks_velocity_size_and_sets_the_stamp():
    msg = cv.numpy_to_joint_state([1.0, 2.0], ['a', 'b'], stamp=cv.ns_to_time(7))
    assert cv.time_to_ns(msg.header.stamp) == 7
    with pytest.raises(ValueError, match='1 velocities for 2'):
        cv.numpy_to_joint_state([1.0, 2.0], ['a', 'b'], velocity=[0.5])


def test_state_vector_takes_the_float32_extremes_and_refuses_inf_as_non_finite():
    values = state_vector(np.array([FLOAT32_MAX, -FLOAT32_MAX]), 'x')
    assert values.tolist() == [FLOAT32_MAX, -FLOAT32_MAX]
    with pytest.raises(BadInput) as info:
        state_vector(np.array([-1e300]), 'x')
    assert info.value.kind == 'float32_overflow'


# --- poses, twists, arrays ------------------------------------------------------------------


def test_numpy_to_pose_puts_each_value_in_its_field():
    s, c = math.sin(0.3), math.cos(0.3)
    msg = cv.numpy_to_pose(np.array([1.0, 2.0, 3.0, 0.0, 0.0, s, c]),
                           ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'], 'base', cv.ns_to_time(9))
    assert isinstance(msg, PoseStamped) and msg.header.frame_id == 'base'
    p, q = msg.pose.position, msg.pose.orientation
    assert (p.x, p.y, p.z) == (1.0, 2.0, 3.0)
    assert (q.x, q.y, q.z, q.w) == pytest.approx((0.0, 0.0, s, c))


def test_numpy_to_twist_keeps_linear_and_angular_apart():
    t = cv.numpy_to_twist(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), 'f',
                          cv.ns_to_time(0)).twist
    assert (t.linear.x, t.linear.y, t.linear.z) == (1.0, 2.0, 3.0)
    assert (t.angular.x, t.angular.y, t.angular.z) == (4.0, 5.0, 6.0)


def test_float64_array_has_every_value_in_order():
    assert list(cv.numpy_to_float64_array(np.array([[1, 2], [3, 4]])).data) == [1, 2, 3, 4]


def test_negative_nanoseconds_round_trip():
    assert cv.time_to_ns(cv.ns_to_time(-5)) == -5


# --- trajectories ---------------------------------------------------------------------------


def test_a_chunk_period_of_zero_is_refused():
    with pytest.raises(ValueError, match='must be positive'):
        cv.chunk_to_joint_trajectory(np.zeros((2, 1)), ['a'], 0.0, 0)


def test_one_dimensional_actions_are_a_shape_error():
    with pytest.raises(ValueError, match='do not match 2 joint names'):
        cv.chunk_to_joint_trajectory(np.zeros(2), ['a', 'b'], 0.1, 0)


def test_an_empty_trajectory_is_a_chunk_of_no_points():
    chunk = cv.joint_trajectory_to_chunk(JointTrajectory(joint_names=['a', 'b']))
    assert chunk.positions.shape == (0, 2) and chunk.times_from_start_ns.shape == (0,)


def test_path_poses_are_stamped_with_their_due_times_in_the_frame():
    due = np.array([10, 20, 30]) * 10**8
    path = cv.chunk_to_path(due, np.zeros((3, 2)), [0, 1], 1.0, 'map')
    assert cv.time_to_ns(path.header.stamp) == due[0]
    assert [cv.time_to_ns(p.header.stamp) for p in path.poses] == due.tolist()
    assert [p.header.frame_id for p in path.poses] == ['map'] * 3


# --- diagnostics ----------------------------------------------------------------------------


def test_diagnostic_array_warns_with_all_problems_and_stringifies_values():
    from diagnostic_msgs.msg import DiagnosticStatus

    array = cv.diagnostic_array('policy', 'hw', {'state': 'running', 'n': 3, 'last': None},
                                ['late frames', 'stale joints'], 42)
    (status,) = array.status
    assert status.level == DiagnosticStatus.WARN
    assert status.message == 'late frames; stale joints'
    assert [(kv.key, kv.value) for kv in status.values] == [
        ('state', 'running'), ('n', '3'), ('last', '')]
    assert cv.time_to_ns(array.header.stamp) == 42
    ok = cv.diagnostic_array('policy', 'hw', {'state': 'idle'}, [], 0).status[0]
    assert ok.level == DiagnosticStatus.OK and ok.message == 'idle'



def test_a_joint_named_twice_in_a_message_is_refused_not_read_as_its_last_value():
    """A broken driver naming a joint twice: which value is meant is unknown, so the node
    counts it bad ('joint_duplicate') and bag2zarr names the message; a joint named twice
    that is not read is no matter."""
    twice = JointState(name=['j1', 'j2', 'j1'], position=[0.1, 0.2, 0.3])
    with pytest.raises(cv.BadInput, match=r"names \['j1'\] more than once") as info:
        cv.joint_state_inputs(twice, ['j1', 'j2'], 'position', ['j1', 'j2'])
    assert info.value.kind == 'joint_duplicate'
    with pytest.raises(cv.BadInput, match='joint_duplicate|more than once'):
        cv.joint_state_inputs(twice, ['j2'], 'position', ['j1'])  # an action joint, twice
    with pytest.raises(ValueError, match=r"names joint\(s\) \['j1'\] more than once"):
        cv.joint_state_to_numpy(twice, ['j2', 'j1'])
    assert cv.joint_state_to_numpy(twice, ['j2']).tolist() == [0.2]
    values, _ = cv.joint_state_inputs(twice, ['j2'], 'position', ['j2'])
    assert values.tolist() == pytest.approx([0.2])
