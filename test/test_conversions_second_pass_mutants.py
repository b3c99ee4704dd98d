"""dp_ros/ros/conversions.py: a second mutation review's findings.

Behaviour the first pass (test_conversions_history_mutants.py) and the other conversion
tests left open, each test naming the change it catches:

- arrays to messages: a 3-channel array given as mono8 is refused, not cut to its first
  channel (the (H, W, 1) squeeze's channel-count condition dropped survived); a
  CompressedImage keeps the stamp and frame id it is given (the stamp dropped survived); an
  array OpenCV cannot encode is a ValueError (the `ok` check dropped survived);
- receipt checks: check_camera_message gives an Image's (height, width) in that order (width
  first survived);
- camera encodings: image_to_rgb names the camera encodings for a depth or 16-bit image
  before it reads pixels, even a malformed one's (its own check dropped survived: the size
  or 'unsupported' error came instead); to_rgb refuses a depth encoding (returning the array
  as it is survived);
- compressed decoding: a TIFF whose header passes dp_ros's pixel limit but not OpenCV's
  (2**20 + 1 wide) is a one-line ValueError / BadInput 'image_decode', not cv2.error (the
  except clause dropped survived); a float32 TIFF is refused, not returned as float pixels
  (the dtype check dropped survived);
- joint states: a refusal names each field read once ('position/velocity', the
  de-duplication dropped survived);
- action chunks: a trajectory's times stay int64 nanoseconds, so a due time at a 2023 stamp
  is exact to the nanosecond (float64 survived); a path of x, y targets lies at z = 0 and in
  its frame (the z filler and the path's frame id survived).

No defect was found. Real message classes and arrays throughout; no ROS process is started.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from test_image_header import _tiff
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import BadInput

CAMERA_LIST = ('rgb8, bgr8, rgba8, bgra8, mono8, yuv422, uyvy, yuv422_yuy2, yuyv, nv12, '
               'nv21')


# ---------------------------------------------------------------------------- arrays -> messages
def test_a_three_channel_array_is_no_mono8_image():
    """Only a single-channel (H, W, 1) array is squeezed to mono8's (H, W); an RGB array
    given as mono8 is refused, not published as its red channel."""
    with pytest.raises(ValueError) as info:
        cv.numpy_to_image(np.zeros((2, 3, 3), dtype=np.uint8), 'mono8')
    assert str(info.value) == 'array of shape (2, 3, 3) does not fit encoding mono8 (1 channel(s))'
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    msg = cv.numpy_to_image(grey, 'mono8')
    assert (msg.height, msg.width, msg.step) == (2, 3, 3)
    assert bytes(msg.data) == bytes(range(6))


def test_a_compressed_image_keeps_its_stamp_and_frame():
    msg = cv.numpy_to_compressed_image(np.zeros((2, 3, 3), dtype=np.uint8), 'png',
                                       stamp=Time(sec=5, nanosec=7), frame_id='wrist')
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 7)
    assert msg.header.frame_id == 'wrist' and msg.format == 'png'


def test_an_array_opencv_cannot_encode_is_a_value_error():
    """libpng refuses a row over a million pixels: OpenCV returns no buffer, which is said,
    not read on (an AttributeError)."""
    with pytest.raises(ValueError) as info:
        cv.numpy_to_compressed_image(np.zeros((1, 1_000_001, 3), dtype=np.uint8), 'png')
    assert str(info.value) == 'OpenCV could not encode a (1, 1000001, 3) image as png'


# ---------------------------------------------------------------------------- receipt checks
@pytest.mark.parametrize('encoding, step', [('rgb8', 12), ('yuyv', 8), ('nv12', 4)])
def test_the_receipt_check_gives_height_then_width(encoding, step):
    rows = 3 if encoding == 'nv12' else 2
    msg = Image(height=2, width=4, encoding=encoding, step=step, data=bytes(step * rows))
    assert cv.check_camera_message(msg) == (2, 4)


# ---------------------------------------------------------------------------- camera encodings
@pytest.mark.parametrize('msg', [
    Image(height=1, width=2, encoding='16UC1', step=4, data=bytes(3)),  # one byte short
    Image(height=1, width=2, encoding='rgb16', step=12, data=bytes(12)),  # no IMAGE_ENCODINGS
])
def test_image_to_rgb_names_the_camera_encodings_before_reading_pixels(msg):
    with pytest.raises(ValueError) as info:
        cv.image_to_rgb(msg)
    assert str(info.value) == (f"image encoding '{msg.encoding}' cannot be used as an RGB "
                               f'camera (camera encodings: {CAMERA_LIST})')


def test_to_rgb_refuses_a_depth_image():
    with pytest.raises(ValueError) as info:
        cv.to_rgb(np.zeros((1, 2), dtype=np.uint16), '16UC1')
    assert str(info.value) == ("image encoding '16UC1' cannot be used as an RGB camera "
                               f'(camera encodings: {CAMERA_LIST})')


# ---------------------------------------------------------------------------- compressed decoding
def test_a_tiff_past_opencvs_own_width_limit_is_a_decode_error_not_cv2_error():
    """2**20 + 1 pixels fit dp_ros's limit (image_header.MAX_PIXELS) but not OpenCV's
    CV_IO_MAX_IMAGE_WIDTH: imdecode raises cv2.error, which is turned into the module's
    one-line error (BadInput 'image_decode' for the node), never let out."""
    width = (1 << 20) + 1
    data = _tiff('little', [(256, 4, width), (257, 4, 1), (258, 3, 8), (262, 3, 1),
                            (273, 4, 8), (277, 3, 1), (279, 4, width)])
    msg = CompressedImage(format='tiff', data=data)
    assert cv.check_camera_message(msg) == (1, width)  # the header alone passes
    head = f"could not decode compressed image (format 'tiff', {len(data)} bytes): OpenCV"
    with pytest.raises(ValueError) as info:
        cv.compressed_image_to_numpy(msg)
    assert type(info.value) is ValueError
    assert str(info.value).startswith(head) and '\n' not in str(info.value)
    with pytest.raises(BadInput) as bad:
        cv.camera_rgb(msg)
    assert bad.value.kind == 'image_decode' and str(bad.value).startswith(head)


@pytest.mark.parametrize('shape', [(2, 3, 3), (2, 3)])
def test_a_float_tiff_is_refused_not_returned_as_float_pixels(shape):
    ok, encoded = cv2.imencode('.tiff', np.full(shape, 0.5, dtype=np.float32))
    assert ok
    msg = CompressedImage(format='tiff', data=encoded.tobytes())
    with pytest.raises(BadInput) as info:
        cv.camera_rgb(msg)
    assert info.value.kind == 'image_decode'
    assert str(info.value) == (f"could not decode compressed image (format 'tiff', "
                               f'{encoded.size} bytes)')


# ---------------------------------------------------------------------------- joint states
def test_a_refusal_names_each_field_read_once():
    msg = JointState(name=['a', 'b'], position=[1.0, float('nan')], velocity=[0.5, 0.25])
    with pytest.raises(BadInput) as info:
        cv.joint_state_inputs(msg, ['a', 'b', 'a'], ['position', 'position', 'velocity'], [])
    assert info.value.kind == 'non_finite'
    assert str(info.value) == "joint state position/velocity for ['a', 'b', 'a'] [1.0, nan, 0.5]"


# ---------------------------------------------------------------------------- action chunks
def test_trajectory_times_are_integer_nanoseconds():
    """A stamp of 1.7e9 s is 1.7e18 ns, past float64's exact integers (2**53): the chunk's
    times stay int64, so a point 1 ns after the stamp is due exactly then."""
    msg = JointTrajectory(joint_names=['j'], points=[
        JointTrajectoryPoint(positions=[0.0], time_from_start=Duration(sec=0, nanosec=1)),
        JointTrajectoryPoint(positions=[1.0], time_from_start=Duration(sec=2, nanosec=3))])
    msg.header.stamp = Time(sec=1_700_000_000, nanosec=123_456_789)
    chunk = cv.joint_trajectory_to_chunk(msg)
    assert chunk.times_from_start_ns.dtype == np.int64
    assert chunk.due_ns.dtype == np.int64
    assert chunk.due_ns.tolist() == [1_700_000_000_123_456_790, 1_700_000_002_123_456_792]


def test_a_path_of_xy_targets_lies_at_z_zero_in_its_frame():
    path = cv.chunk_to_path(np.array([10, 20]), np.array([[0.1, 0.2], [0.3, 0.4]]), [0, 1],
                            2.0, 'base_link')
    assert path.header.frame_id == 'base_link'
    assert [(p.pose.position.x, p.pose.position.y, p.pose.position.z) for p in path.poses] == \
        [(0.2, 0.4, 0.0), (0.6, 0.8, 0.0)]
