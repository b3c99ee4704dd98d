"""Compressed camera images decoded as ROS's own tools decode them (a review against
compressed_image_transport and cv_bridge):

- a depth image through the plain `compressed` transport ('16UC1; png compressed ': 16-bit
  PNG of the raw pixels) was decoded as a grey colour camera from its high byte, in the
  node and bag2zarr alike; it is refused as raw 16UC1 is (cv_bridge refuses it too);
- a JPEG's EXIF orientation was applied (IMREAD_COLOR), where ROS's decoders
  (IMREAD_UNCHANGED) ignore it: a camera recorded /compressed and read raw differed;
- 16-bit PNG colour kept the high byte, where cv_bridge scales by 255/65535.
"""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from dp_ros.bags.reader import camera_readable, decode_image
from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import BadInput

COMPRESSED = 'sensor_msgs/msg/CompressedImage'


def png(pixels: np.ndarray, fmt: str) -> CompressedImage:
    ok, data = cv2.imencode('.png', pixels)
    assert ok
    return CompressedImage(format=fmt, data=data.tobytes())


@pytest.mark.parametrize('fmt', ['16UC1; png compressed ', 'mono16; png compressed ',
                                 '32FC1; tiff compressed ', '16UC1; compressedDepth png'])
def test_a_depth_image_is_refused_as_raw_depth_is(fmt):
    depth = np.linspace(400, 3000, 48 * 64).reshape(48, 64).astype(np.uint16)
    msg = png(depth, fmt)
    with pytest.raises(BadInput) as bad:
        cv.camera_rgb(msg)
    assert bad.value.kind == 'image_encoding' and 'not a camera' in str(bad.value)
    assert not camera_readable(COMPRESSED, fmt)
    with pytest.raises(ValueError, match='depth'):
        decode_image(msg, COMPRESSED)


@pytest.mark.parametrize('fmt', ['jpeg', 'png', 'rgb8; jpeg compressed bgr8',
                                 'bgra8; png compressed bgra8', 'mono8; jpeg compressed mono8'])
def test_camera_formats_are_taken(fmt):
    assert camera_readable(COMPRESSED, fmt)


def test_16_bit_colour_is_scaled_as_cv_bridge_scales_it():
    """cv_bridge.cpp: convertTo(..., 255. / 65535.) for 16 -> 8 bits; the high byte was
    kept (51200 -> 200, cv_bridge 199)."""
    bgr16 = np.zeros((2, 2, 3), np.uint16)
    bgr16[..., 2] = [[51200, 65280], [65535, 0]]  # the red channel
    rgb = cv.camera_rgb(png(bgr16, 'rgb16; png compressed bgr16'))
    assert rgb[..., 0].tolist() == [[199, 254], [255, 0]]
    assert (rgb[..., 1:] == 0).all()


def test_grey_and_alpha_pngs_become_rgb():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (cv.camera_rgb(png(grey, 'mono8; png compressed mono8'))
            == grey[:, :, None]).all()
    bgra = np.zeros((3, 4, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 200, 10  # blue, nearly transparent: the alpha is dropped
    assert cv.camera_rgb(png(bgra, 'bgra8; png compressed bgra8'))[0, 0].tolist() == [0, 0, 200]


def test_a_jpegs_exif_orientation_is_not_applied():
    """An EXIF Orientation=6 ('rotate 90') tag: ROS's decoders ignore it, so must we."""
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[:, :32] = (0, 0, 255)  # left half red
    ok, jpg = cv2.imencode('.jpg', bgr)
    assert ok
    tiff = (b'MM\x00*' + struct.pack('>I', 8) + struct.pack('>H', 1)
            + struct.pack('>HHIHH', 0x0112, 3, 1, 6, 0) + struct.pack('>I', 0))
    app1 = b'\xff\xe1' + struct.pack('>H', 2 + 6 + len(tiff)) + b'Exif\x00\x00' + tiff
    data = jpg.tobytes()[:2] + app1 + jpg.tobytes()[2:]
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (64, 48)
    rgb = cv.camera_rgb(CompressedImage(format='jpeg', data=data))
    assert rgb.shape == (48, 64, 3)
    assert rgb[24, 5, 0] > 200 and rgb[24, 60, 0] < 50  # red on the left, as sent
