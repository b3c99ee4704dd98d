"""YUV 4:2:2 cameras (usb_cam's and V4L2 cameras' 'yuv422' = UYVY, 'yuv422_yuy2' = YUYV, and
their Jazzy names 'uyvy', 'yuyv') decode to RGB as cv_bridge does (OpenCV's BT.601
COLOR_YUV2RGB_UYVY / _YUY2), for the policy node (camera_rgb) and bag2zarr (decode_image)
alike, instead of being refused as no camera."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from dp_ros.bags.reader import camera_readable, decode_image
from dp_ros.bags.typestore import reading_typestore
from dp_ros.ros import conversions as cv

# (Y, U, V) -> RGB as OpenCV 5.0 cvtColor COLOR_YUV2RGB_UYVY gives it (video-range BT.601)
KNOWN = [((16, 128, 128), (0, 0, 0)), ((235, 128, 128), (255, 255, 255)),
         ((126, 128, 128), (128, 128, 128)), ((81, 90, 240), (254, 0, 0)),
         ((145, 54, 34), (0, 255, 1)), ((41, 240, 110), (0, 0, 255))]
UYVY = ('yuv422', 'uyvy')
YUYV = ('yuv422_yuy2', 'yuyv')


def _pack(encoding: str, pairs: list[tuple[int, int, int, int]], pad: int = 0) -> bytes:
    """One row of pixel pairs (Y0, U, Y1, V) in the encoding's byte order, `pad` bytes after."""
    order = (1, 0, 3, 2) if encoding in UYVY else (0, 1, 2, 3)  # byte -> (Y0, U, Y1, V) index
    row = bytearray()
    for y0, u, y1, v in pairs:
        values = (y0, u, y1, v)
        row += bytes(values[order.index(k)] for k in range(4))
    return bytes(row) + bytes(pad)


def _image(encoding: str, rows: list[bytes], width: int) -> Image:
    return Image(height=len(rows), width=width, encoding=encoding, step=len(rows[0]),
                 data=b''.join(rows))


@pytest.mark.parametrize('encoding', UYVY + YUYV)
def test_known_colours_decode_as_opencv_does(encoding):
    pairs = [(y, u, y, v) for (y, u, v), _ in KNOWN]
    rgb = cv.image_to_rgb(_image(encoding, [_pack(encoding, pairs)], 2 * len(pairs)))
    assert rgb.shape == (1, 2 * len(pairs), 3) and rgb.dtype == np.uint8
    expected = np.repeat(np.array([c for _, c in KNOWN], np.uint8), 2, axis=0)
    np.testing.assert_array_equal(rgb[0], expected)


@pytest.mark.parametrize('encoding', ['yuv422', 'yuv422_yuy2'])
def test_chroma_is_shared_by_a_pair_and_rows_padding_is_dropped(encoding):
    """Two lumas per chroma pair, rows padded past width*2 bytes (a step > row)."""
    rows = [_pack(encoding, [(16, 128, 235, 128), (81, 90, 81, 240)], pad=3),
            _pack(encoding, [(41, 240, 41, 110), (126, 128, 126, 128)], pad=3)]
    rgb = cv.image_to_rgb(_image(encoding, rows, 4))
    np.testing.assert_array_equal(rgb, [[[0, 0, 0], [255, 255, 255], [254, 0, 0], [254, 0, 0]],
                                        [[0, 0, 255], [0, 0, 255], [128] * 3, [128] * 3]])


def test_a_broken_yuv_image_is_a_clear_error():
    with pytest.raises(ValueError, match='3 pixels wide.*must be even'):
        cv.image_to_rgb(Image(height=1, width=3, encoding='yuv422', step=6, data=bytes(6)))
    with pytest.raises(ValueError, match='expected step\\*height'):
        cv.image_to_rgb(Image(height=2, width=2, encoding='yuv422', step=4, data=bytes(4)))


def test_the_policy_node_and_bag2zarr_take_yuv_cameras():
    msg = _image('yuv422_yuy2', [_pack('yuv422_yuy2', [(235, 128, 235, 128)])] * 2, 2)
    np.testing.assert_array_equal(cv.camera_rgb(msg), np.full((2, 2, 3), 255, np.uint8))
    assert camera_readable('sensor_msgs/msg/Image', 'yuv422')
    assert camera_readable('sensor_msgs/msg/Image', 'yuv422_yuy2')
    store = reading_typestore(())  # a bag's message: data a numpy array, decoded by duck typing
    bag_msg = store.types['sensor_msgs/msg/Image'](
        header=store.types['std_msgs/msg/Header'](
            stamp=store.types['builtin_interfaces/msg/Time'](sec=1, nanosec=0), frame_id='c'),
        height=2, width=2, encoding='yuv422', is_bigendian=0, step=4,
        data=np.frombuffer(_pack('yuv422', [(16, 128, 16, 128)]) * 2, np.uint8))
    np.testing.assert_array_equal(decode_image(bag_msg, 'sensor_msgs/msg/Image'),
                                  np.zeros((2, 2, 3), np.uint8))


def test_random_frames_equal_opencv():
    cv2 = pytest.importorskip('cv2')
    raw = np.random.default_rng(0).integers(0, 256, (6, 10, 2), dtype=np.uint8)
    for encoding, code in [('yuv422', cv2.COLOR_YUV2RGB_UYVY),
                           ('yuv422_yuy2', cv2.COLOR_YUV2RGB_YUY2)]:
        msg = Image(height=6, width=10, encoding=encoding, step=20, data=raw.tobytes())
        np.testing.assert_array_equal(cv.image_to_rgb(msg), cv2.cvtColor(raw, code))
