"""YUV 4:2:0 cameras (sensor_msgs image_encodings 'nv12' and 'nv21': libcamera's camera_ros
and hardware decoders publish them) decode to RGB as OpenCV's BT.601 cvtColor
COLOR_YUV2RGB_NV12 / _NV21 does, for the policy node (camera_rgb) and bag2zarr
(decode_image) alike, instead of being refused as no camera.

Layout pinned (image_encodings getHeightScaling = 1.5): `height` rows of Y, then height/2
rows of interleaved chroma (U,V for nv12, V,U for nv21), every row `step` bytes, so the data
holds step*height*3/2 bytes; each chroma pair serves a 2x2 block of pixels.
"""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from dp_ros.bags.reader import camera_readable, decode_image
from dp_ros.bags.typestore import reading_typestore
from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import BadInput

# (Y, U, V) -> RGB as OpenCV 5.0 cvtColor gives it (video-range BT.601), as in the 4:2:2 test
KNOWN = [((16, 128, 128), (0, 0, 0)), ((235, 128, 128), (255, 255, 255)),
         ((126, 128, 128), (128, 128, 128)), ((81, 90, 240), (254, 0, 0)),
         ((145, 54, 34), (0, 255, 1)), ((41, 240, 110), (0, 0, 255))]


def _nv(encoding: str, luma: list[list[int]], chroma: list[list[tuple[int, int]]],
        pad: int = 0) -> Image:
    """An nv12/nv21 Image of the Y rows and (U, V) rows given, each row `pad` bytes padded."""
    width = len(luma[0])
    rows = [bytes(r) for r in luma]
    for pairs in chroma:
        rows.append(bytes(b for u, v in pairs for b in ((u, v) if encoding == 'nv12' else (v, u))))
    data = b''.join(r + bytes(pad) for r in rows)
    return Image(height=len(luma), width=width, encoding=encoding, step=width + pad, data=data)


@pytest.mark.parametrize('encoding', ['nv12', 'nv21'])
def test_known_colours_decode_as_opencv_does(encoding):
    """One 2x2 block per known colour: all four pixels take it."""
    luma = [[y for (y, _, _), _ in KNOWN for _ in range(2)]] * 2
    msg = _nv(encoding, luma, [[(u, v) for (_, u, v), _ in KNOWN]])
    rgb = cv.image_to_rgb(msg)
    assert rgb.shape == (2, 2 * len(KNOWN), 3) and rgb.dtype == np.uint8
    expected = np.repeat(np.array([c for _, c in KNOWN], np.uint8), 2, axis=0)
    np.testing.assert_array_equal(rgb, [expected, expected])


@pytest.mark.parametrize('encoding', ['nv12', 'nv21'])
def test_a_chroma_pair_serves_its_2x2_block_and_row_padding_is_dropped(encoding):
    """Four lumas per chroma pair, 4 rows (two chroma rows), step past the width."""
    luma = [[16, 235, 81, 81], [126, 16, 81, 81], [41, 41, 126, 235], [41, 41, 16, 126]]
    chroma = [[(128, 128), (90, 240)], [(240, 110), (128, 128)]]
    rgb = cv.image_to_rgb(_nv(encoding, luma, chroma, pad=3))
    black, white, grey = [0, 0, 0], [255, 255, 255], [128, 128, 128]
    red, blue = [254, 0, 0], [0, 0, 255]
    np.testing.assert_array_equal(rgb, [[black, white, red, red], [grey, black, red, red],
                                        [blue, blue, grey, white], [blue, blue, black, grey]])


def test_a_broken_yuv420_image_is_a_clear_error():
    with pytest.raises(ValueError, match='nv12 image is 3x2.*width and height must be even'):
        cv.image_to_rgb(Image(height=2, width=3, encoding='nv12', step=3, data=bytes(9)))
    with pytest.raises(ValueError, match='nv21 image is 2x3.*width and height must be even'):
        cv.image_to_rgb(Image(height=3, width=2, encoding='nv21', step=2, data=bytes(9)))
    with pytest.raises(ValueError, match=r'expected step\*height\*3/2 = 2\*2\*3/2 = 6'):
        cv.image_to_rgb(Image(height=2, width=2, encoding='nv12', step=2, data=bytes(4)))
    with pytest.raises(BadInput) as exc:  # the node: a broken frame is an image_size input
        cv.camera_rgb(Image(height=2, width=2, encoding='nv21', step=2, data=bytes(4)))
    assert exc.value.kind == 'image_size'


def test_the_policy_node_and_bag2zarr_take_yuv420_cameras():
    msg = _nv('nv21', [[235, 235]] * 2, [[(128, 128)]])
    np.testing.assert_array_equal(cv.camera_rgb(msg), np.full((2, 2, 3), 255, np.uint8))
    assert camera_readable('sensor_msgs/msg/Image', 'nv12')
    assert camera_readable('sensor_msgs/msg/Image', 'nv21')
    assert not camera_readable('sensor_msgs/msg/Image', 'nv24')  # 4:4:4: not supported
    store = reading_typestore(())  # a bag's message: data a numpy array, decoded by duck typing
    bag_msg = store.types['sensor_msgs/msg/Image'](
        header=store.types['std_msgs/msg/Header'](
            stamp=store.types['builtin_interfaces/msg/Time'](sec=1, nanosec=0), frame_id='c'),
        height=2, width=2, encoding='nv12', is_bigendian=0, step=2,
        data=np.frombuffer(bytes([16, 16, 16, 16, 128, 128]), np.uint8))
    np.testing.assert_array_equal(decode_image(bag_msg, 'sensor_msgs/msg/Image'),
                                  np.zeros((2, 2, 3), np.uint8))


def test_random_frames_equal_opencv():
    cv2 = pytest.importorskip('cv2')
    raw = np.random.default_rng(0).integers(0, 256, (9, 10), dtype=np.uint8)  # 6 rows of Y
    for encoding, code in [('nv12', cv2.COLOR_YUV2RGB_NV12), ('nv21', cv2.COLOR_YUV2RGB_NV21)]:
        msg = Image(height=6, width=10, encoding=encoding, step=10, data=raw.tobytes())
        np.testing.assert_array_equal(cv.image_to_rgb(msg), cv2.cvtColor(raw, code))


@pytest.mark.parametrize('encoding', ['yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv', 'nv12', 'nv21'])
def test_opencvs_fast_path_gives_the_numpy_arithmetics_pixels(encoding):
    """The numpy BT.601 arithmetic took 30-65 ms a 1080p frame under the node's lock (a
    review); OpenCV's cvtColor, about 1 ms, is taken where it computes the same pixels, on
    random frames with padded rows here (padding filled with junk)."""
    assert cv._cv2_yuv() is not None  # this machine's OpenCV agrees: the fast path is taken
    rng = np.random.default_rng(7)
    height, width, pad = 48, 64, 5
    planar = encoding in cv.YUV420_ENCODINGS
    rows = height * 3 // 2 if planar else height
    row_bytes = width if planar else width * 2
    data = rng.integers(0, 256, size=(rows, row_bytes + pad), dtype=np.uint8)
    msg = Image(height=height, width=width, encoding=encoding, step=row_bytes + pad,
                data=data.tobytes())
    fast = cv.yuv420_to_rgb(msg) if planar else cv.yuv422_to_rgb(msg)
    slow = cv._yuv420_numpy(msg) if planar else cv._yuv422_numpy(msg)
    assert fast.shape == (height, width, 3) and fast.dtype == np.uint8
    assert np.array_equal(fast, slow)
