"""A camera frame is checked on receipt as far as its header and buffer length tell, in every
encoding: a raw frame whose buffer did not match step*height in mono8 or YUV, or a compressed
depth image, was refused only when an observation decoded it, so one superseded before use
was never counted (a review's fuzzing). No pixel is read here. Over ROS:
test/ros/test_policy_node_camera_checks.py."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from dp_ros.ros import conversions as cv


def raw(encoding: str, width: int = 4, height: int = 4, row_bytes: int | None = None,
        rows: int | None = None, cut: int = 0) -> Image:
    row_bytes = width * 3 if row_bytes is None else row_bytes
    rows = height if rows is None else rows
    data = bytes(row_bytes * rows - cut)
    return Image(encoding=encoding, width=width, height=height, step=row_bytes, data=data)


@pytest.mark.parametrize('msg', [
    raw('rgb8'), raw('mono8', row_bytes=4), raw('yuv422', row_bytes=8),
    raw('uyvy', row_bytes=8), raw('nv21', row_bytes=4, rows=6), raw('nv12', row_bytes=4, rows=6),
    CompressedImage(format='rgb8; jpeg compressed bgr8', data=b'\xff\xd8'),
    CompressedImage(format='png', data=b'\x89PNG\r\n\x1a\n')])
def test_a_whole_frame_passes(msg):
    cv.check_camera_message(msg)


@pytest.mark.parametrize('data', [b'x', b'GIF89a', b'BM\x00\x00', b'RIFF\x00\x00\x00\x00WEBP'])
def test_compressed_data_of_no_transports_format_is_refused_on_receipt(data):
    """compressed_image_transport writes JPEG, PNG and TIFF: anything else OpenCV would decode
    at whatever size it declares (image_header), so it is refused undecoded, and counted when
    it arrives, not only when an observation would have decoded it."""
    with pytest.raises(cv.BadInput, match='no JPEG, PNG or TIFF') as info:
        cv.check_camera_message(CompressedImage(format='jpeg', data=data))
    assert info.value.kind == 'image_decode'


@pytest.mark.parametrize('msg', [
    raw('mono8', row_bytes=4, cut=1), raw('yuv422', row_bytes=8, cut=8),
    raw('yuyv', width=3, row_bytes=6), raw('nv21', row_bytes=4, rows=4),
    raw('nv12', height=3, row_bytes=4, rows=4), raw('rgb8', cut=3), raw('bgr8', width=0),
    raw('mono8', row_bytes=3)])
def test_a_frame_of_the_wrong_length_or_size_is_image_size(msg):
    with pytest.raises(cv.BadInput) as info:
        cv.check_camera_message(msg)
    assert info.value.kind == 'image_size'


@pytest.mark.parametrize('msg', [
    raw('16UC1', row_bytes=8), raw('32FC1', row_bytes=16),
    CompressedImage(format='16UC1; png compressed ', data=b'x'),
    CompressedImage(format='32FC1; compressedDepth png', data=b'x')])
def test_a_depth_image_is_image_encoding(msg):
    with pytest.raises(cv.BadInput) as info:
        cv.check_camera_message(msg)
    assert info.value.kind == 'image_encoding'


def test_an_empty_compressed_frame_is_image_decode():
    with pytest.raises(cv.BadInput) as info:
        cv.check_camera_message(CompressedImage(format='jpeg', data=b''))
    assert info.value.kind == 'image_decode'


def test_the_check_agrees_with_the_decoder_on_a_whole_frame():
    msg = cv.numpy_to_image(np.zeros((6, 4), np.uint8), 'mono8')
    cv.check_camera_message(msg)
    assert cv.camera_rgb(msg).shape == (6, 4, 3)
