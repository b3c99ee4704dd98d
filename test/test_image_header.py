"""A compressed frame whose header declares too many pixels is refused before OpenCV
allocates them (dp_ros/image_header.py): the sizes read from real PNG and JPEG headers,
and a header edited to declare 30000 x 30000 refused in the node's and bag2zarr's decoder;
TIFF's size read too, anything else refused, and a JPEG of more scans than a camera writes."""
from __future__ import annotations

import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from dp_ros.bags.reader import decode_image
from dp_ros.image_header import (
    MAX_JPEG_SCAN_PIXELS,
    MAX_JPEG_SCANS,
    MAX_PIXELS,
    declared_size,
    size_problem,
)
from dp_ros.ros import conversions as cv
from dp_ros.runtime.input_checks import BadInput


def _encoded(ext: str, height: int, width: int, params: list[int] | None = None) -> bytes:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('ext,params', [
    ('.png', None), ('.jpg', None), ('.jpg', [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    ('.tiff', None), ('.tiff', [cv2.IMWRITE_TIFF_COMPRESSION, 1]),
])
@pytest.mark.parametrize('height,width', [(1, 1), (96, 96), (480, 640), (37, 1201)])
def test_the_size_read_from_a_header_is_the_decoded_size(ext, params, height, width):
    data = _encoded(ext, height, width, params)
    assert declared_size(data) == (width, height)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[:2] == (height, width)
    assert size_problem(data) is None


def _declaring(data: bytes, width: int, height: int) -> bytes:
    """`data` with its header edited to declare width x height (nothing else changed)."""
    out = bytearray(data)
    if data[:4] == b'\x89PNG':
        out[16:20], out[20:24] = width.to_bytes(4, 'big'), height.to_bytes(4, 'big')
        out[29:33] = zlib.crc32(out[12:29]).to_bytes(4, 'big')  # IHDR's CRC, kept valid
        return bytes(out)
    i = 2
    while out[i + 1] not in (0xC0, 0xC2):
        i += 2 + int.from_bytes(out[i + 2:i + 4], 'big')
    out[i + 5:i + 7], out[i + 7:i + 9] = height.to_bytes(2, 'big'), width.to_bytes(2, 'big')
    return bytes(out)


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_a_frame_declaring_30000_pixels_square_is_refused_before_it_is_decoded(ext):
    side = 30000 if ext == '.png' else 65000  # a JPEG header holds at most 65535
    bomb = _declaring(_encoded(ext, 8, 8), side, side)
    assert declared_size(bomb) == (side, side)
    msg = CompressedImage(format=ext[1:])
    msg.data = bomb
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f'declares {side} x {side} pixels, more than'):
            cv.compressed_image_to_numpy(msg)
        # the node's path: a bad input it counts and skips
        with pytest.raises(BadInput) as info:
            cv.camera_rgb(msg)
        assert info.value.kind == 'image_decode'
        # bag2zarr's path names the problem too
        with pytest.raises(ValueError, match='more than dp_ros decodes'):
            decode_image(msg, 'sensor_msgs/msg/CompressedImage')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # nothing near the 2.7 GB the header asks for


def test_the_limit_is_a_bound_not_a_guess():
    at_limit = _declaring(_encoded('.png', 4, 4), 8192, 8192)
    assert size_problem(at_limit) is None
    over = _declaring(_encoded('.png', 4, 4), 8192, 8193)
    assert size_problem(over) == (f'its header declares 8192 x 8193 pixels, more than dp_ros '
                                  f'decodes ({MAX_PIXELS:,} pixels)')
    assert size_problem(over, limit=10**9) is None


@pytest.mark.parametrize('data', [
    b'\x89PNG\r\n\x1a\n', b'\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX' + bytes(8),
    b'\xff\xd8', b'\xff\xd8\xff\xe0\x00', b'\xff\xd8\x00\x00\x00\x00', b'\xff\xd8\xff\xda\x00\x08',
    b'\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10\x03',  # height 0: given later (DNL)
    b'\xff\xd8\xff\xe0\x00\x01\xff\xc0',  # a segment length under 2
])
def test_headers_that_do_not_say_leave_the_frame_to_the_decoder(data):
    assert declared_size(data) is None
    assert size_problem(data) is None


def test_fill_bytes_and_truncated_jpeg_frames():
    data = _encoded('.jpg', 20, 30)
    padded = data[:2] + b'\xff\xff\xff' + data[2:]  # fill bytes before the first marker
    assert declared_size(padded) == (30, 20)
    sof = next(i for i in range(2, len(data)) if data[i] == 0xFF and data[i + 1] == 0xC0)
    assert declared_size(data[:sof + 6]) is None  # cut inside the frame header


def _huge_jpeg() -> tuple[bytes, int]:
    """A 16 x 16 JPEG whose frame header declares 8200 x 8200, and where that header starts."""
    data = _declaring(_encoded('.jpg', 16, 16), 8200, 8200)
    return data, data.index(b'\xff\xc0')


@pytest.mark.parametrize('inserted', [
    b'\x00',  # a junk byte before a marker: libjpeg skips it with a warning and decodes
    b'\x12\x34\xff\x00\x56',  # junk with a stuffed 0xFF 0x00 in it
    b'\xff\xef\x00\x00',  # a segment of length 0: libjpeg reads on after its length field
    b'\xff\xef\x00\x01',
])
def test_what_libjpeg_reads_past_is_read_past_here_too(inserted):
    """Junk and short segments before the frame header hid a huge frame from the size check
    while OpenCV decoded it whole (8200 x 8200 from 700 bytes)."""
    data, sof = _huge_jpeg()
    bent = data[:sof] + inserted + data[sof:]
    decoded = cv2.imdecode(np.frombuffer(bent, np.uint8), cv2.IMREAD_REDUCED_COLOR_8)
    assert decoded is not None and decoded.shape[:2] == (1025, 1025)  # OpenCV reads it whole
    assert declared_size(bent) == (8200, 8200)
    assert 'declares 8200 x 8200 pixels' in size_problem(np.frombuffer(bent, np.uint8))


def test_a_jpeg_with_thousands_of_segments_before_its_frame_is_refused_unread():
    """Millions of empty segments would hold the camera callback for seconds in a Python scan;
    no camera writes more than a few dozen before the frame header."""
    data, sof = _huge_jpeg()
    padded = data[:sof] + b'\xff\xe0\x00\x02' * 5000 + data[sof:]
    assert size_problem(padded) == ('its JPEG header has more than 1024 segments before the '
                                    'frame size')
    small = _encoded('.jpg', 16, 16)
    sof = small.index(b'\xff\xc0')
    assert declared_size(small[:sof] + b'\xff\xe0\x00\x02' * 1000 + small[sof:]) == (16, 16)


def _corrupt_idat_length(data: bytes, length: int) -> bytes:
    """`data` (a PNG) with its first IDAT chunk's length field set to `length`."""
    at = data.index(b'IDAT') - 4
    return data[:at] + length.to_bytes(4, 'big') + data[at + 4:]


def test_a_png_chunk_longer_than_the_frame_is_refused_before_it_is_decoded():
    """A review's 12 kB frame whose IDAT length read 0xF5002000: OpenCV allocated 4 GB and took
    13 s to refuse it, the node's executor stalled meanwhile. Refused from the header now, in
    the node's and bag2zarr's decoder, without the allocation."""
    bomb = _corrupt_idat_length(_encoded('.png', 64, 64), 0xF5002000)
    assert declared_size(bomb) == (64, 64)
    msg = CompressedImage(format='png')
    msg.data = bomb
    tracemalloc.start()
    try:
        with pytest.raises(BadInput, match='its PNG chunk IDAT at byte 33 declares '
                                           '4,110,426,112 bytes, more than the whole frame'):
            cv.camera_rgb(msg)
        with pytest.raises(ValueError, match='more than the whole frame'):
            decode_image(msg, 'sensor_msgs/msg/CompressedImage')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_a_png_cut_short_is_left_to_the_decoder():
    data = _encoded('.png', 64, 64)
    assert size_problem(data) is None
    assert size_problem(data[:-100]) is None  # the decoder refuses it, cheaply


def _tiff(order: str, entries: list[tuple[int, int, int]]) -> bytes:
    """A TIFF header and one directory of (tag, type, value) entries, in byte order `order`."""
    head = b'II*\x00' if order == 'little' else b'MM\x00*'
    out = head + (8).to_bytes(4, order) + len(entries).to_bytes(2, order)
    for tag, kind, value in entries:
        field = value.to_bytes(2, order) + bytes(2) if kind == 3 else value.to_bytes(4, order)
        out += tag.to_bytes(2, order) + kind.to_bytes(2, order) + (1).to_bytes(4, order) + field
    return out + bytes(4)


@pytest.mark.parametrize('order', ['little', 'big'])
def test_a_tiffs_size_is_read_from_its_first_directory_in_either_byte_order(order):
    """compressed_image_transport writes TIFF too: its ImageWidth and ImageLength (a SHORT or
    a LONG each) are read before decoding, as a PNG's and a JPEG's size are; a TIFF that
    declares more than MAX_PIXELS is refused, and one whose directory does not say its size
    too (OpenCV would decode whatever it then finds)."""
    data = _tiff(order, [(254, 4, 0), (256, 3, 640), (257, 4, 480)])
    assert declared_size(data) == (640, 480) and size_problem(data) is None
    over = _tiff(order, [(256, 4, 9000), (257, 3, 9000)])
    assert 'declares 9000 x 9000 pixels' in size_problem(over)
    silent = _tiff(order, [(256, 3, 640)])
    assert declared_size(silent) is None
    assert size_problem(silent) == 'its TIFF header does not say its size'
    assert size_problem(_tiff(order, [(256, 3, 640), (257, 3, 480)])[:20]) == \
        'its TIFF header does not say its size'  # its directory cut off


def test_a_tiff_camera_frame_is_decoded():
    rgb = np.random.default_rng(1).integers(0, 255, (30, 20, 3), dtype=np.uint8)
    ok, buf = cv2.imencode('.tiff', rgb[:, :, ::-1])
    assert ok
    msg = CompressedImage(format='rgb8; tiff compressed bgr8', data=buf.tobytes())
    assert cv.check_camera_message(msg) == (30, 20)
    np.testing.assert_array_equal(cv.camera_rgb(msg), rgb)


def test_a_jpeg_of_more_scans_than_a_camera_writes_is_refused_undecoded():
    """libjpeg passes over the whole frame once per scan: a progressive frame (about 10 scans)
    is decoded, one of 65 scans is not, nor one whose scans times pixels pass
    MAX_JPEG_SCAN_PIXELS (16 full-size passes)."""
    progressive = _encoded('.jpg', 64, 64, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    scans = progressive.count(b'\xff\xda')
    assert 5 <= scans <= MAX_JPEG_SCANS and size_problem(progressive) is None
    last = progressive.rindex(b'\xff\xda')
    many = progressive[:last] + progressive[last:-2] * (MAX_JPEG_SCANS + 1 - scans + 1) + \
        b'\xff\xd9'
    assert many.count(b'\xff\xda') == MAX_JPEG_SCANS + 1
    assert size_problem(many) == (f'it has {MAX_JPEG_SCANS + 1} JPEG scans, more than dp_ros '
                                  f'decodes ({MAX_JPEG_SCANS} at this size; a camera writes '
                                  'about 10): each is a pass over the whole frame')
    with pytest.raises(BadInput, match='JPEG scans') as info:
        cv.check_camera_message(CompressedImage(format='jpeg', data=many))
    assert info.value.kind == 'image_decode'
    large = _declaring(progressive, 8192, 8192)  # 16 passes at the largest size, not 17
    allowed = MAX_JPEG_SCAN_PIXELS // (8192 * 8192)
    assert allowed == 16 and (scans <= allowed) == (size_problem(large) is None)


def test_scans_are_counted_in_the_frame_not_in_its_thumbnail_or_preview():
    """A camera's progressive frame (about 10 scans) with a progressive EXIF thumbnail before
    it and a preview after its end (MPF) is taken at the largest size (16 passes): only the
    frame's own scans count (all of the buffer's counted 30 and refused it)."""
    frame = _declaring(_encoded('.jpg', 64, 64, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), 8192, 8192)
    thumb = _encoded('.jpg', 16, 16, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    app1 = b'\xff\xe1' + (2 + 6 + len(thumb)).to_bytes(2, 'big') + b'Exif\x00\x00' + thumb
    data = frame[:2] + app1 + frame[2:] + thumb
    own = frame.count(b'\xff\xda')
    assert data.count(b'\xff\xda') == 3 * own > 16 >= own
    assert declared_size(data) == (8192, 8192) and size_problem(data) is None


@pytest.mark.parametrize('compression', [6, 7])
def test_a_jpeg_compressed_tiff_is_refused(compression):
    """A TIFF's strips may hold a JPEG whose scans the TIFF's header does not show (99 scans
    decoded); no ROS transport writes one (compressed_image_transport's TIFF is OpenCV's, LZW)."""
    data = _tiff('little', [(256, 3, 64), (257, 3, 64), (259, 3, compression)])
    assert size_problem(data) == 'it is a JPEG-compressed TIFF (no ROS transport writes one)'
    assert size_problem(_tiff('little', [(256, 3, 64), (257, 3, 64), (259, 3, 5)])) is None
