"""JPEG frames with damaged data are refused, not decoded smeared (dp_ros/jpeg_decode.py), and
whole ones decode to the very pixels OpenCV's imdecode gives (ROS's own decoders, cv_bridge).

The damage is what a camera driver that lost data sends: a frame cut short (its end marker
kept or not), a kB lost mid-frame. OpenCV returns those with their end marker as pictures
(pinned here: that is why they are refused by name). Bytes garbled in place can go unseen:
libjpeg decodes them as other coefficients, with no warning. A few bytes of padding before the end
marker, which some webcams add to every frame, is no damage.
"""
from __future__ import annotations

import io
import re

import cv2
import numpy as np
import pytest

from dp_ros import jpeg_decode
from dp_ros.jpeg_decode import DamagedJpeg, damage, decode_jpeg_rgb
from dp_ros.ros.conversions import compressed_image_to_numpy, numpy_to_compressed_image

EOI = b'\xff\xd9'


def picture(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """Smooth noise: a JPEG of some kB whose lost data shows."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (9, 9), 3).reshape(h, w, channels)


def jpeg(rgb: np.ndarray, *params: int) -> bytes:
    ok, encoded = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]), list(params))
    assert ok
    return encoded.tobytes()


def opencv_rgb(data: bytes) -> np.ndarray:
    """What ROS's decoders give: imdecode, BGR to RGB, grey repeated."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, ::-1]


def message(data: bytes, fmt: str = 'jpeg'):
    msg = numpy_to_compressed_image(np.zeros((2, 2, 3), np.uint8), 'png')
    msg.format, msg.data = fmt, data
    return msg


@pytest.mark.parametrize('shape', [(96, 96), (480, 640), (481, 643), (8, 8)])
@pytest.mark.parametrize('params', [
    (), (cv2.IMWRITE_JPEG_QUALITY, 50), (cv2.IMWRITE_JPEG_QUALITY, 98),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
    (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
    (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), (cv2.IMWRITE_JPEG_RST_INTERVAL, 4)],
    ids=['default', 'q50', 'q98', '444', '422', 'progressive', 'restarts'])
def test_whole_frames_decode_to_opencvs_pixels_bit_for_bit(shape, params):
    data = jpeg(picture(*shape), *params)
    assert np.array_equal(compressed_image_to_numpy(message(data)), opencv_rgb(data))


def test_grey_and_cmyk_frames_decode_as_opencv_does():
    """A grey JPEG (repeated to 3 channels as before) and a CMYK one (Adobe's)."""
    grey = jpeg(picture(64, 80, channels=1))
    assert np.array_equal(compressed_image_to_numpy(message(grey)), opencv_rgb(grey))
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture(64, 80)).convert('CMYK').save(out, format='JPEG')
    cmyk = out.getvalue()
    assert np.array_equal(compressed_image_to_numpy(message(cmyk)), opencv_rgb(cmyk))


def damaged_frames() -> dict[str, bytes]:
    """Frames that lost data; OpenCV returns the first two as pictures (the last: None)."""
    data = jpeg(picture(480, 640), cv2.IMWRITE_JPEG_QUALITY, 90)
    middle = len(data) // 2
    return {'cut_short_end_marker_kept': data[:middle] + EOI,
            'a_kilobyte_lost': data[:middle] + data[middle + 1024:],
            'cut_short': data[:middle]}


@pytest.mark.parametrize('name', list(damaged_frames()))
def test_a_damaged_frame_is_refused_naming_the_damage(name):
    data = damaged_frames()[name]
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (decoded is None) == (name == 'cut_short')
    with pytest.raises(DamagedJpeg, match=r"compressed image \(format 'jpeg', \d+ bytes\) is "
                                          r'damaged: Corrupt JPEG data|Premature end'):
        compressed_image_to_numpy(message(data))


def test_padding_before_the_end_marker_is_no_damage():
    """Some webcams add a byte or two before the end marker of every frame (libjpeg: "1
    extraneous bytes before marker 0xd9"): the frame is whole and decodes as OpenCV's."""
    data = jpeg(picture(96, 128))
    padded = data[:-2] + b'\x00\x00' + EOI
    assert np.array_equal(compressed_image_to_numpy(message(padded)), opencv_rgb(data))


def test_png_and_what_is_no_jpeg_are_left_to_opencv():
    rgb = picture(24, 32)
    msg = numpy_to_compressed_image(rgb, 'png')
    assert decode_jpeg_rgb(np.frombuffer(bytes(msg.data), np.uint8)) is None
    assert np.array_equal(compressed_image_to_numpy(msg), rgb)
    # a format that says jpeg over PNG bytes: the bytes decide, as in OpenCV
    assert np.array_equal(compressed_image_to_numpy(message(bytes(msg.data))), rgb)


def test_the_node_takes_a_damaged_frame_for_a_bad_frame():
    """The policy node's decode (camera_rgb): an 'image_decode' bad message, counted, and the
    observation waits for a newer frame (as for any frame that does not decode)."""
    from dp_ros.ros.conversions import camera_rgb
    from dp_ros.runtime.input_checks import BadInput

    with pytest.raises(BadInput, match='is damaged: Corrupt JPEG data') as info:
        camera_rgb(message(damaged_frames()['a_kilobyte_lost']))
    assert info.value.kind == 'image_decode'


@pytest.mark.parametrize('reason, damaged', [
    ('Corrupt JPEG data: 2 extraneous bytes before marker 0xd9', False),  # webcam padding
    ('Corrupt JPEG data: 16 extraneous bytes before marker 0xd9', False),
    ('Corrupt JPEG data: 101 extraneous bytes before marker 0xd9', True),  # inserted mid-frame
    ('Corrupt JPEG data: 3 extraneous bytes before marker 0xd3', True),  # before a restart
    ('Corrupt JPEG data: 40 extraneous bytes before marker 0xc4', True),  # before a scan's table
    ('Corrupt JPEG data: bad arithmetic code', True),
    ('Corrupt JPEG data: bad Huffman code', True),
    ('Corrupt JPEG data: found marker 0xd5 instead of RST3', True),
    ('Premature end of JPEG file', True),
    ('Warning: unknown JFIF revision number 1.05', False)])
def test_which_warnings_are_damage(reason, damaged):
    assert damage(reason) is damaged


def test_data_lost_before_a_restart_marker_is_damage():
    """A restart-marker frame that lost bytes so that libjpeg skips some before a restart
    marker ("extraneous bytes before marker 0xd0..0xd7"; a review found such frames passed to
    OpenCV, smeared): the first such cut of a fixed series is refused."""
    import simplejpeg

    data = jpeg(picture(480, 640), cv2.IMWRITE_JPEG_RST_INTERVAL, 8)
    rng = np.random.default_rng(3)
    for _ in range(500):
        at, n = int(rng.integers(1000, len(data) - 1600)), int(rng.integers(16, 1500))
        cut = data[:at] + data[at + n:]
        try:
            simplejpeg.decode_jpeg(cut, colorspace='RGB', strict=True)
            continue
        except ValueError as exc:
            if not re.search(r'extraneous bytes before marker 0xd[0-7]', str(exc)):
                continue
        with pytest.raises(DamagedJpeg, match='extraneous bytes before marker 0xd[0-7]'):
            compressed_image_to_numpy(message(cut))
        return
    pytest.fail('no cut of the series makes libjpeg skip bytes before a restart marker')


def test_without_simplejpeg_frames_decode_through_opencv_said_once(monkeypatch):
    """A ROS machine that missed the pip line: OpenCV's pixels as before (damage unrefused),
    one RuntimeWarning, no ModuleNotFoundError out of the node's decode."""
    import sys

    monkeypatch.setitem(sys.modules, 'simplejpeg', None)
    monkeypatch.setattr(jpeg_decode, '_missing_warned', False)
    data = jpeg(picture(48, 64))
    with pytest.warns(RuntimeWarning, match='simplejpeg is not installed'):
        assert np.array_equal(compressed_image_to_numpy(message(data)), opencv_rgb(data))
    lost = damaged_frames()['a_kilobyte_lost']
    assert compressed_image_to_numpy(message(lost)).shape == (480, 640, 3)
