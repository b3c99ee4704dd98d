"""Edges of checking and decoding compressed camera frames that a mutation review found
unguarded (dp_ros/image_header.py, dp_ros/jpeg_decode.py, dp_ros/image_fit.py): each test
fails when one plausible slip is made in those modules (an off-by-one in a byte offset or a
limit, a marker read as the wrong kind, a check dropped, a channel order or crop rounding
wrong), so that a hostile or damaged frame stays refused with a clear error and a whole
one keeps its size and pixels.

Real frames are built with OpenCV and edited byte by byte; nothing is mocked (simplejpeg is
only hidden from the import system to stand for a machine without it).
"""
from __future__ import annotations

import sys
import warnings

import cv2
import numpy as np
import pytest

from dp_ros import jpeg_decode
from dp_ros.image_fit import check_crop, fit_image, frame_size_problem
from dp_ros.image_header import MAX_JPEG_FRAME_MARKERS, declared_size, size_problem
from dp_ros.jpeg_decode import damage, decode_jpeg_rgb

EOI = b'\xff\xd9'
PROGRESSIVE = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]


def _encoded(ext: str, height: int, width: int, params: list[int] | None = None) -> bytes:
    """A frame of random pixels, encoded by OpenCV."""
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


def _segments(data: bytes) -> list[int]:
    """Where each marker before a JPEG's frame header starts, the frame header last."""
    at, i = [], 2
    while True:
        assert data[i] == 0xFF
        at.append(i)
        if data[i + 1] in (0xC0, 0xC2):
            return at
        i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')


def _sof(data: bytes) -> int:
    """Where a JPEG's (baseline or progressive) frame header starts."""
    return _segments(data)[-1]


def _declaring(data: bytes, width: int, height: int) -> bytes:
    """A JPEG with its frame header edited to declare width x height."""
    i = _sof(data)
    return data[:i + 5] + height.to_bytes(2, 'big') + width.to_bytes(2, 'big') + data[i + 9:]


def _insert_before_frame(data: bytes, inserted: bytes) -> bytes:
    i = _sof(data)
    return data[:i] + inserted + data[i:]


def _decodes_to(data: bytes) -> tuple[int, ...] | None:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else image.shape[:2]


# --- JPEG markers ---------------------------------------------------------------------------

def _dht(data: bytes) -> bytes:
    """The first Huffman-table segment of a JPEG (OpenCV writes it after the frame header)."""
    i = data.index(b'\xff\xc4')
    return data[i:i + 2 + int.from_bytes(data[i + 2:i + 4], 'big')]


@pytest.mark.parametrize('name', ['huffman_table', 'arithmetic_conditioning', 'tem', 'rst0'])
def test_markers_before_the_frame_header_that_libjpeg_reads_past_hide_no_size(name: str):
    """A Huffman table (0xC4) or arithmetic conditioning (0xCC) segment before the frame
    header shares the start-of-frame range and is no frame header; TEM (0x01) and RST0
    (0xD0) stand alone (no length). libjpeg decodes a frame with any of them, so a huge frame
    behind one must still have its size read and be refused."""
    small = _encoded('.jpg', 16, 16)
    inserted = {'huffman_table': _dht(small), 'tem': b'\xff\x01', 'rst0': b'\xff\xd0',
                'arithmetic_conditioning': b'\xff\xcc\x00\x04\x00\x11'}[name]
    assert _decodes_to(_insert_before_frame(small, inserted)) == (16, 16)
    huge = _insert_before_frame(_declaring(small, 8200, 8200), inserted)
    assert declared_size(huge) == (8200, 8200)
    assert 'declares 8200 x 8200 pixels' in size_problem(huge)


def test_junk_after_a_segment_ending_in_0xff_is_skipped_as_libjpeg_skips_it():
    """A segment whose last byte is 0xFF, then junk bytes (no 0xFF) shaped like an 8 x 8
    frame header: libjpeg skips the segment by its length and the junk up to the next 0xFF,
    and so does the header reader; the real frame header behind is read."""
    segment, junk = b'\xff\xef\x00\x03\xff', b'\xc0\x00\x11\x08\x00\x08\x00\x08\x03'
    small = _encoded('.jpg', 16, 16)
    assert _decodes_to(_insert_before_frame(small, segment + junk)) == (16, 16)
    huge = _insert_before_frame(_declaring(small, 8200, 8200), segment + junk)
    assert declared_size(huge) == (8200, 8200)


@pytest.mark.parametrize('marker', [0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB,
                                    0xCD, 0xCE, 0xCF])
def test_every_start_of_frame_marker_declares_the_size(marker: int):
    """Baseline, extended, progressive, lossless (libjpeg-turbo 3 decodes 0xC3), hierarchical
    and arithmetic frame headers all carry the frame's size."""
    data = _declaring(_encoded('.jpg', 16, 16), 8200, 8200)
    i = _sof(data)
    data = data[:i + 1] + bytes([marker]) + data[i + 2:]
    assert declared_size(data) == (8200, 8200)
    assert 'declares 8200 x 8200 pixels' in size_problem(data)


def test_the_reserved_jpg_marker_is_no_frame_header():
    """0xC8 (JPG, reserved) lies in the start-of-frame range but declares no size."""
    data = _declaring(_encoded('.jpg', 16, 16), 40, 30)
    i = _sof(data)
    assert declared_size(data[:i + 1] + b'\xc8' + data[i + 2:]) is None


def test_1024_segments_before_the_frame_header_are_read_and_1025_are_not():
    """The segment limit is what its message says: a header of 1024 segments before the
    frame has its size read (it was refused as 'more than 1024'), one of 1025 is refused."""
    small = _encoded('.jpg', 16, 16)
    own = len(_segments(small)) - 1  # APP0 and the quantization tables
    data = _insert_before_frame(small, b'\xff\xfe\x00\x02' * (1024 - own))
    assert len(_segments(data)) - 1 == 1024
    assert declared_size(data) == (16, 16)
    more = _insert_before_frame(data, b'\xff\xfe\x00\x02')
    assert size_problem(more) == ('its JPEG header has more than 1024 segments before the '
                                  'frame size')


def test_a_frame_header_cut_before_its_width_ends_says_no_size():
    """Cut anywhere inside the frame header's height and width: no size (not one read from
    a byte or two); cut right after the width: the size."""
    data = _encoded('.jpg', 20, 300)
    i = _sof(data)
    for end in range(i + 2, i + 9):
        assert declared_size(data[:end]) is None, end
    assert declared_size(data[:i + 9]) == (300, 20)


def test_scan_data_before_any_frame_header_says_no_size():
    """A start of scan before the frame header: libjpeg refuses the frame; the header reader
    does not read on through scan data for a size."""
    data = _declaring(_encoded('.jpg', 16, 16), 8200, 8200)
    bent = data[:2] + b'\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00' + data[2:]
    assert declared_size(bent) is None


def test_data_starting_like_a_marker_but_not_a_jpeg_is_refused():
    """Only 0xFF 0xD8 starts a JPEG: other bytes after a 0xFF are no format a transport
    writes."""
    data = b'\xff\xe0' + _encoded('.jpg', 16, 16)[4:]
    assert size_problem(data).startswith('its data is no JPEG, PNG or TIFF')


# --- JPEG scans -----------------------------------------------------------------------------

def _with_scans(n: int, width: int | None = None, height: int | None = None,
                before: bytes = b'') -> bytes:
    """A 64 x 64 progressive JPEG repeating its last scan to have `n` scans (its header
    edited to declare width x height if given), `before` inserted after its start marker."""
    frame = _encoded('.jpg', 64, 64, PROGRESSIVE)
    last = frame.rindex(b'\xff\xda')
    own = frame.count(b'\xff\xda')
    assert own < n
    data = frame[:last] + frame[last:-2] * (n - own + 1) + EOI
    assert data.count(b'\xff\xda') == n
    if width is not None and height is not None:
        data = _declaring(data, width, height)
    return data[:2] + before + data[2:]


def test_64_scans_are_decoded_and_65_are_not():
    """MAX_JPEG_SCANS is 64: the 64th scan is allowed, the 65th refused."""
    assert size_problem(_with_scans(64)) is None
    assert size_problem(_with_scans(65)).startswith('it has 65 JPEG scans, more than dp_ros '
                                                    'decodes (64 at this size')


def test_scans_are_counted_after_a_thumbnail_ends():
    """An EXIF thumbnail's end marker before the frame header does not end the count: a frame
    of 65 scans behind one is refused."""
    thumb = _encoded('.jpg', 16, 16)
    app1 = b'\xff\xe1' + (2 + 6 + len(thumb)).to_bytes(2, 'big') + b'Exif\x00\x00' + thumb
    assert 'it has 65 JPEG scans' in size_problem(_with_scans(65, before=app1))


def _after_frame_header(data: bytes, inserted: bytes) -> bytes:
    """`inserted` right after a JPEG's frame header segment."""
    i = _sof(data)
    end = i + 2 + int.from_bytes(data[i + 2:i + 4], 'big')
    return data[:end] + inserted + data[end:]


def test_an_end_marker_inside_a_segment_does_not_end_the_scan_count():
    """A comment segment after the frame header holding FF D9: libjpeg skips it by its
    length and decodes every scan after it. A byte search ended the count there, and a frame
    of 309 scans passed (4.8 s to decode at 1024 x 1024): 65 are refused behind it."""
    data = _after_frame_header(_with_scans(65), b'\xff\xfe\x00\x04\xff\xd9')
    assert _decodes_to(data) == (64, 64)
    assert 'it has 65 JPEG scans' in size_problem(data)


def test_scan_markers_inside_a_segment_are_not_counted():
    """FF DA bytes inside a comment segment are no scans (libjpeg skips the segment by its
    length): a frame of 12 scans with 70 of them in a comment is decoded."""
    data = _after_frame_header(_with_scans(12), b'\xff\xfe' + (2 + 140).to_bytes(2, 'big')
                               + b'\xff\xda' * 70)
    assert _decodes_to(data) == (64, 64)
    assert size_problem(data) is None


def test_a_frame_of_more_markers_than_a_camera_writes_is_refused():
    """The scan count reads markers one by one: past MAX_JPEG_FRAME_MARKERS after the frame
    header (65,536 four-byte comments: 0.26 MB) it stops and refuses the frame, a bound on
    its time whatever the frame holds."""
    data = _after_frame_header(_with_scans(12), b'\xff\xfe\x00\x02' * MAX_JPEG_FRAME_MARKERS)
    assert size_problem(data) == (f'its JPEG has more than {MAX_JPEG_FRAME_MARKERS} markers '
                                  'after its frame header (a camera writes some dozens)')
    fewer = _after_frame_header(_with_scans(12), b'\xff\xfe\x00\x02' * 1000)
    assert size_problem(fewer) is None


def test_a_frame_whose_height_comes_later_has_its_scans_counted():
    """A frame header of height 0 (given later, in a DNL marker) says no size, and its scans
    are still counted: 65 are refused."""
    data = _with_scans(65, width=64, height=0)
    assert declared_size(data) is None
    assert 'it has 65 JPEG scans' in size_problem(data)


def test_a_frame_declaring_zero_width_is_left_to_the_decoder():
    """Width 0 (no pixels) is read as declared and does not crash the scan check (a division
    by its pixel count)."""
    data = _with_scans(12, width=0, height=64)
    assert declared_size(data) == (0, 64)
    assert size_problem(data) is None


def test_the_scans_allowed_at_a_size_are_a_whole_number():
    """At 5000 x 5000, 16 full-size passes allow 42 scans (1,073,741,824 // 25,000,000)."""
    problem = size_problem(_with_scans(43, width=5000, height=5000))
    assert problem.startswith('it has 43 JPEG scans, more than dp_ros decodes (42 at this size;')


# --- PNG ------------------------------------------------------------------------------------

def test_a_png_cut_inside_its_header_says_no_size():
    """A PNG cut one byte short of its IHDR's height says no size."""
    data = _encoded('.png', 20, 30)
    assert declared_size(data[:24]) == (30, 20)
    assert declared_size(data[:23]) is None


def test_bytes_after_a_pngs_end_chunk_are_not_read_as_chunks():
    """Trailing bytes after IEND (libpng stops at IEND) are no chunk: a frame with 8 bytes
    after it that would declare a huge chunk is decoded whole."""
    data = _encoded('.png', 20, 30) + b'\xff\xff\xff\xffIDAT'
    assert _decodes_to(data) == (20, 30)
    assert size_problem(data) is None


def test_a_png_ending_right_after_a_huge_chunks_length_and_type_is_refused():
    """A frame cut right after a chunk's length and type fields, the length corrupted to
    4 GB: refused from the header (OpenCV would allocate what the length says)."""
    data = _encoded('.png', 64, 64)
    at = data.index(b'IDAT') - 4
    cut = data[:at] + (0xF5002000).to_bytes(4, 'big') + b'IDAT'
    assert 'its PNG chunk IDAT at byte 33 declares 4,110,426,112 bytes' in size_problem(cut)


def test_a_later_png_chunk_longer_than_the_frame_is_refused():
    """OpenCV's PNG of 64 x 64 random pixels holds two IDAT chunks (8 kB each at most): the
    second's length corrupted to 4 GB is refused as the first's is."""
    data = _encoded('.png', 64, 64)
    second = data.index(b'IDAT', data.index(b'IDAT') + 4) - 4
    bomb = data[:second] + (0xF5002000).to_bytes(4, 'big') + data[second + 4:]
    assert f'its PNG chunk IDAT at byte {second} declares 4,110,426,112 bytes' in \
        size_problem(bomb)


# --- TIFF -----------------------------------------------------------------------------------

def _entry(tag: int, kind: int, value: int, order: str = 'little') -> bytes:
    field = value.to_bytes(2, order) + bytes(2) if kind == 3 else value.to_bytes(4, order)
    return tag.to_bytes(2, order) + kind.to_bytes(2, order) + (1).to_bytes(4, order) + field


def _tiff(entries: list[bytes], order: str = 'little', count: int | None = None,
          after: bytes = bytes(4)) -> bytes:
    """A TIFF header and a first directory of `entries` (its count `count` if given), then
    `after` (the next directory's offset, and whatever follows)."""
    head = b'II*\x00' if order == 'little' else b'MM\x00*'
    n = len(entries) if count is None else count
    return head + (8).to_bytes(4, order) + n.to_bytes(2, order) + b''.join(entries) + after


def test_a_bigtiff_is_no_format_a_transport_writes():
    """BigTIFF ('II' 0x2B) is not read as a classic TIFF: refused as no JPEG, PNG or TIFF."""
    data = b'II+\x00\x08\x00\x00\x00' + (16).to_bytes(8, 'little') + bytes(64)
    assert size_problem(data).startswith('its data is no JPEG, PNG or TIFF')


def test_a_tiff_directory_without_its_next_offset_still_says_its_size():
    """A directory cut right after its last entry: the entries are whole and read."""
    data = _tiff([_entry(256, 3, 640), _entry(257, 3, 480)], after=b'')
    assert declared_size(data) == (640, 480)


def test_a_tiff_size_entry_cut_short_is_not_read():
    """A LONG ImageLength with its last byte cut off (big-endian: 480 would read as 1) is no
    size: the TIFF is refused."""
    data = _tiff([_entry(256, 3, 640, 'big'), _entry(257, 4, 480, 'big')], 'big', after=b'')
    assert declared_size(data) == (640, 480)
    assert declared_size(data[:-1]) is None
    assert size_problem(data[:-1]) == 'its TIFF header does not say its size'


def test_tiff_entries_past_the_directorys_count_are_not_read():
    """A directory of one entry (ImageWidth) followed by bytes that look like an ImageLength
    entry: the directory ends at its count, so it does not say its size."""
    data = _tiff([_entry(256, 3, 640)], after=bytes(4) + bytes(8) + _entry(257, 3, 480))
    assert declared_size(data) is None
    assert size_problem(data) == 'its TIFF header does not say its size'


@pytest.mark.parametrize('kind', [1, 5, 16])  # BYTE, RATIONAL, LONG8
def test_a_tiff_size_of_another_type_than_short_or_long_is_not_read(kind: int):
    """ImageWidth must be a SHORT or a LONG, as every TIFF writer gives it."""
    data = _tiff([_entry(256, kind, 640), _entry(257, 3, 480)])
    assert declared_size(data) is None
    assert size_problem(data) == 'its TIFF header does not say its size'


def test_a_later_duplicate_of_a_tiffs_size_is_ignored_as_libtiff_ignores_it():
    """libtiff reads the first of duplicate tags: an OpenCV TIFF with ImageWidth and
    ImageLength repeated at its directory's end (declaring 20000 x 20000) decodes at its own
    16 x 16, and its size is read as that."""
    data = _encoded('.tiff', 16, 16, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    start = int.from_bytes(data[4:8], 'little')
    count = int.from_bytes(data[start:start + 2], 'little')
    entries = data[start + 2:start + 2 + 12 * count]
    extra = [_entry(256, 4, 20000), _entry(257, 4, 20000)]
    at = len(data) + len(data) % 2  # the new directory after the old, word-aligned
    bent = (data[:4] + at.to_bytes(4, 'little') + data[8:] + bytes(at - len(data))
            + (count + 2).to_bytes(2, 'little') + entries + b''.join(extra) + bytes(4))
    assert _decodes_to(bent) == (16, 16)
    assert declared_size(bent) == (16, 16) and size_problem(bent) is None


def test_a_tiff_size_given_twice_is_its_first_as_libtiff_reads_it():
    """Duplicates of ImageWidth and ImageLength right after the real ones (before the
    Compression tag): libtiff decodes the first, so the first is the size. The last was read,
    so a directory declaring 16 x 16 after its real 8200 x 8200 was decoded (1.4 s, 467 MB),
    and one declaring 20000 x 20000 after its real 16 x 16 refused."""
    data = _encoded('.tiff', 16, 16, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    start = int.from_bytes(data[4:8], 'little')
    count = int.from_bytes(data[start:start + 2], 'little')
    entries = [data[start + 2 + 12 * k:start + 14 + 12 * k] for k in range(count)]
    assert [int.from_bytes(e[:2], 'little') for e in entries[:3]] == [256, 257, 258]
    extra = [_entry(256, 4, 20000), _entry(257, 4, 20000)]
    at = len(data) + len(data) % 2  # the new directory after the old, word-aligned
    bent = (data[:4] + at.to_bytes(4, 'little') + data[8:] + bytes(at - len(data))
            + (count + 2).to_bytes(2, 'little') + b''.join(entries[:2] + extra + entries[2:])
            + bytes(4))
    assert _decodes_to(bent) == (16, 16)
    assert declared_size(bent) == (16, 16) and size_problem(bent) is None
    huge = _tiff([_entry(256, 4, 8200), _entry(257, 4, 8200), _entry(256, 3, 16),
                  _entry(257, 3, 16), _entry(259, 3, 5)])
    assert declared_size(huge) == (8200, 8200)
    assert 'declares 8200 x 8200 pixels' in size_problem(huge)


# --- jpeg_decode ----------------------------------------------------------------------------

def test_more_than_16_bytes_before_the_end_marker_are_damage():
    """16 bytes before the end marker are a webcam's padding; 17 are lost data."""
    assert not damage('Corrupt JPEG data: 16 extraneous bytes before marker 0xd9')
    assert damage('Corrupt JPEG data: 17 extraneous bytes before marker 0xd9')


def test_a_padded_frame_is_decoded_by_libjpeg_turbo_not_left_to_opencv():
    """A webcam's padded frame (8 bytes before the end marker: libjpeg warns of a few
    extraneous bytes, no damage) is decoded here, warnings aside, to OpenCV's pixels; not
    left to the slower fallback."""
    import simplejpeg

    data = _encoded('.jpg', 48, 64)
    padded = data[:-2] + bytes(8) + EOI
    with pytest.raises(ValueError, match='extraneous bytes before marker 0xd9'):
        simplejpeg.decode_jpeg(padded, colorspace='RGB', strict=True)
    rgb = decode_jpeg_rgb(np.frombuffer(padded, np.uint8))
    assert rgb is not None
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])


def test_a_jpeg_libjpeg_turbo_cannot_read_is_left_to_opencv():
    """A JPEG whose header simplejpeg cannot read at all: None (OpenCV's to try and refuse),
    not simplejpeg's ValueError."""
    data = b'\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03' \
           b'\x11\x01\xff\xd9'
    assert decode_jpeg_rgb(np.frombuffer(data, np.uint8)) is None


def test_a_missing_simplejpeg_is_said_once_not_per_frame(monkeypatch: pytest.MonkeyPatch):
    """Without simplejpeg every frame falls back to OpenCV; the warning is given once."""
    monkeypatch.setitem(sys.modules, 'simplejpeg', None)
    monkeypatch.setattr(jpeg_decode, '_missing_warned', False)
    frame = np.frombuffer(_encoded('.jpg', 8, 8), np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert decode_jpeg_rgb(frame) is None and decode_jpeg_rgb(frame) is None
    assert [str(w.message)[:28] for w in caught] == ['simplejpeg is not installed ']


# --- image_fit ------------------------------------------------------------------------------

def test_a_crop_box_without_width_is_refused():
    with pytest.raises(ValueError, match='camera_crop must be'):
        check_crop([0, 0, 0, 10])


def test_a_crop_box_reaching_below_the_frame_is_refused():
    """A box one row taller than the frame (numpy would silently cut it short)."""
    rgb = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(ValueError, match=r'camera_crop \[0, 0, 4, 5\] .* outside the 6x4 frame'):
        fit_image(rgb, 2, 2, crop=(0, 0, 4, 5))


def _ramp(height: int, width: int) -> np.ndarray:
    """Every pixel a distinct value: which rows and columns were kept shows."""
    values = np.arange(height * width, dtype=np.uint16).reshape(height, width) % 251
    return np.repeat(values.astype(np.uint8)[:, :, None], 3, axis=2)


def test_the_centre_crop_rounds_to_the_nearest_size_and_centres_by_flooring():
    """A 10 x 21 frame for a 3:4 policy: 7.5 columns round to 8, kept from column 6 (13 left
    over: 6 before, 7 after); a 21 x 10 frame for 4:3: 7.5 rows round to 8, from row 6."""
    wide = _ramp(10, 21)
    expected = cv2.resize(np.ascontiguousarray(wide[:, 6:14]), (3, 4),
                          interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(fit_image(wide, 4, 3), expected)
    tall = _ramp(21, 10)
    expected = cv2.resize(np.ascontiguousarray(tall[6:14]), (4, 3),
                          interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(fit_image(tall, 3, 4), expected)


def test_fewer_rows_are_averaged_even_when_the_width_is_kept():
    """An 11 x 5 frame for a 10 x 1 policy: the centre column is kept and its 11 rows shrink
    to 10 by area (as training did), though the width needs no shrinking."""
    frame = np.random.default_rng(2).integers(0, 255, (11, 5, 3), dtype=np.uint8)
    expected = cv2.resize(np.ascontiguousarray(frame[:, 2:3]), (1, 10),
                          interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(fit_image(frame, 10, 1), expected)


def test_a_bgr_frames_rgb_view_is_fitted_in_rgb_order():
    """OpenCV's BGR frame seen as RGB (channels reversed, a negative stride) and the same
    pixels stored in RGB order fit to the same RGB picture."""
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 10
    rgb[:20, :, 0] = 50
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    view = bgr[:, :, ::-1]
    assert view.strides[2] < 0
    expected = fit_image(rgb, 20, 30)
    assert expected[0, 0].tolist() == [50, 100, 10] and expected[-1, -1].tolist() == [200, 100, 10]
    np.testing.assert_array_equal(fit_image(view, 20, 30), expected)


def test_a_camera_of_a_slightly_other_aspect_is_refused():
    """5:4 (1280 x 1024) for 4:3 training data: 6 % off, another field of view."""
    refused, why = frame_size_problem((1024, 1280), (480, 640), None)
    assert refused and 'another aspect' in why
