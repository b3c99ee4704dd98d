"""The size a compressed camera frame declares, read from its header before it is decoded.

A CompressedImage (a live camera's or one in a bag) is decoded by OpenCV, which allocates
whatever the header declares, up to its own limit of 2^30 pixels (3 GB of RGB): a 1.2 MB
PNG of 20000 x 20000 black pixels took 7 s and 2.4 GB to decode on the 2-core machine,
stalling the node's camera stream before anything could be refused. Reading the width and
height from the PNG IHDR chunk or the JPEG frame header first lets a frame over MAX_PIXELS be
refused for the price of a few bytes; a PNG's chunk lengths are checked against the frame's
length too (the decoder allocates what a corrupt one says). The JPEG markers are read as
libjpeg reads them (junk and fill bytes skipped, a segment length under 2 read as 2), so a
frame OpenCV would decode has its size read first. A TIFF's size is read from its first
directory (compressed_image_transport writes TIFF too, since Humble). Any other format
OpenCV decodes (BMP, WebP, GIF, ...; no ROS transport writes them) is refused undecoded: a
389 kB TIFF declaring 20000 x 20000 took 12 s and 1.6 GB to decode before its size was read
(a fuzz review). So is a JPEG of more scans than a camera writes (about 10 progressive):
libjpeg passes over the whole frame once per scan, and a 41 kB 2048 x 2048 frame of 1000
scans took 11.6 s.

Base layer (no numpy, no OpenCV), so that every layer can use it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

# The largest frame dp_ros decodes: 8192 x 8192 (an 8K camera is 7680 x 4320), 200 MB as RGB.
MAX_PIXELS = 8192 * 8192

# The most scans of a JPEG decoded, and of scans times pixels (a progressive frame of the
# largest size has its ~10; a baseline one 1)
MAX_JPEG_SCANS = 64
MAX_JPEG_SCAN_PIXELS = 16 * MAX_PIXELS

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SIGNATURE = b'\xff\xd8'
_TIFF_SIGNATURES = {b'II*\x00': 'little', b'MM\x00*': 'big'}
_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_COMPRESSION = 256, 257, 259  # ImageWidth, ImageLength
_TIFF_TAGS = (_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_COMPRESSION)
# JPEG inside a TIFF (old-style and new-style): its scans are not counted, and no ROS transport
# writes it (compressed_image_transport encodes TIFF with OpenCV: LZW)
_TIFF_JPEG = (6, 7)
_TIFF_SHORT, _TIFF_LONG = 3, 4
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): not C4 (DHT),
# C8 (reserved) or CC (DAC), which share the range
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers that stand alone (no length field): TEM, RST0-7, SOI, EOI
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xDA)))
# a 0xFF followed by a marker code: the last 0xFF of a fill run, not 0xFF 0x00 (stuffing)
_MARKER = re.compile(rb'\xff(?=[^\x00\xff])')
# segments a JPEG may have before its frame header (APPn, DQT, DHT, DRI, COM: a camera's few, a
# photo's EXIF/XMP/ICC chunks some dozens)
MAX_JPEG_SEGMENTS = 1024
# markers read after a JPEG's frame header to count its scans (a progressive camera frame has
# some 30: its scans and their tables; restart markers are searched over): a bound on the
# walk's time (tens of ms) whatever a hostile frame holds
MAX_JPEG_FRAME_MARKERS = 65536
# a marker between segments: not a restart marker (RST0-7 sit inside entropy-coded data,
# which the search passes over at C speed)
_SEGMENT_MARKER = re.compile(rb'\xff(?=[^\x00\xff\xd0-\xd7])')


class HeaderError(ValueError):
    """Why a compressed frame is not decoded (checked_size): a header too long to read for
    its size, a format no transport writes, too many pixels or JPEG scans."""


class _Header(NamedTuple):
    """What a compressed frame's header says, read once (_read_header)."""

    kind: str | None  # 'png', 'jpeg' or 'tiff'; None: none of them
    size: tuple[int, int] | None  # (width, height); None: the header does not say
    frame_at: int = 0  # a JPEG's frame header, its length field (0: none found)
    compression: int | None = None  # a TIFF's Compression tag


def declared_size(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or TIFF header, or None when `data` is none of them
    or its header does not say (truncated, or a JPEG whose height comes later in a DNL marker).

    HeaderError for a JPEG with more than MAX_JPEG_SEGMENTS segments before its frame header:
    no camera writes that many, and a scan of millions would hold the caller for seconds."""
    return _read_header(bytes(data)).size  # one copy (milliseconds for a 5 MB frame)


def _read_header(data: bytes) -> _Header:
    """declared_size's reading, with what checked_size asks of a JPEG or a TIFF besides."""
    if data[:8] == _PNG_SIGNATURE:
        return _Header('png', _png_size(data[:24]))
    if data[:2] == _JPEG_SIGNATURE:
        frame = _jpeg_frame(data)
        if frame is None:
            return _Header('jpeg', None)
        width, height, at = frame  # a height of 0: it comes later, in a DNL marker
        return _Header('jpeg', (width, height) if height else None, at)
    if data[:4] in _TIFF_SIGNATURES:
        fields = _tiff_fields(data, _TIFF_SIGNATURES[data[:4]])
        size = (fields[_TIFF_WIDTH], fields[_TIFF_HEIGHT]) \
            if _TIFF_WIDTH in fields and _TIFF_HEIGHT in fields else None
        return _Header('tiff', size, compression=fields.get(_TIFF_COMPRESSION))
    return _Header(None, None)


def _tiff_fields(data: bytes, order: str) -> dict[int, int]:
    """The size and compression tags of a TIFF's first directory that it holds, each a SHORT
    or a LONG: {tag: value}. A tag given twice has its first value, as libtiff reads it (the
    last let a directory declare 16 x 16 after its real 8200 x 8200)."""
    start = int.from_bytes(data[4:8], order)
    if start + 2 > len(data):
        return {}
    count = int.from_bytes(data[start:start + 2], order)
    fields: dict[int, int] = {}
    for i in range(start + 2, min(start + 2 + 12 * count, len(data) - 11), 12):
        tag = int.from_bytes(data[i:i + 2], order)
        kind = int.from_bytes(data[i + 2:i + 4], order)
        if tag in _TIFF_TAGS and kind in (_TIFF_SHORT, _TIFF_LONG):
            fields.setdefault(tag, int.from_bytes(
                data[i + 8:i + (10 if kind == _TIFF_SHORT else 12)], order))
            if len(fields) == len(_TIFF_TAGS):
                break
    return fields


def _png_size(head: bytes) -> tuple[int, int] | None:
    # signature, then the IHDR chunk: length (4), type (4), width (4), height (4), big-endian
    if len(head) < 24 or head[12:16] != b'IHDR':
        return None
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')


def _next_marker(data: bytes, i: int) -> tuple[int, int] | None:
    """The next marker at or after `i` and the index after it, as libjpeg's next_marker finds
    it: bytes before a 0xFF are skipped (a corrupt stream it decodes with a warning), so are
    0xFF fill bytes, and 0xFF 0x00 is no marker. One search, at C speed, whatever lies between."""
    found = _MARKER.search(data, i)
    return None if found is None else (data[found.start() + 1], found.start() + 2)


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, the index of the frame header's length field), or None (see
    declared_size); a height of 0 where it comes later (DNL)."""
    i = 2
    for _ in range(MAX_JPEG_SEGMENTS + 1):  # the segments, then the frame header
        found = _next_marker(data, i)
        if found is None:
            return None
        marker, i = found
        if marker in _JPEG_STANDALONE:
            continue
        if i + 2 > len(data):
            return None
        if marker in _JPEG_SOF:
            if i + 7 > len(data):
                return None
            height = int.from_bytes(data[i + 3:i + 5], 'big')
            width = int.from_bytes(data[i + 5:i + 7], 'big')
            return width, height, i
        if marker == 0xDA:  # scan data before any frame header: the decoder's to refuse
            return None
        # libjpeg skips length - 2 bytes after the length field: none for a length under 2
        i += max(2, int.from_bytes(data[i:i + 2], 'big'))
    raise HeaderError(f'its JPEG header has more than {MAX_JPEG_SEGMENTS} segments before the '
                      'frame size')


def _png_chunk_problem(data: bytes) -> str | None:
    """A PNG chunk declaring more bytes than the whole frame holds, or None. OpenCV's decoder
    allocates what a chunk's length field says before it reads the chunk: a 12 kB frame whose
    IDAT length was corrupted to 0xF5002000 took 4 GB and 13 s to refuse (the node's
    executor stalled meanwhile). Walking the lengths costs microseconds a chunk; a chunk cut
    short by less than the frame's length is left to the decoder (it refuses it cheaply)."""
    i = len(_PNG_SIGNATURE)
    while i + 8 <= len(data):
        length = int.from_bytes(data[i:i + 4], 'big')
        kind = data[i + 4:i + 8]
        if length > len(data):
            name = kind.decode('latin-1') if kind.isalpha() else kind.hex()
            return (f'its PNG chunk {name} at byte {i} declares {length:,} bytes, more than '
                    f'the whole frame ({len(data):,} bytes): a corrupt or cut-off frame')
        if kind == b'IEND' or i + 12 + length > len(data):
            return None
        i += 12 + length
    return None


def checked_size(data: bytes | bytearray | memoryview | np.ndarray,
                 limit: int = MAX_PIXELS) -> tuple[int, int] | None:
    """declared_size of a frame that may be decoded, its header read once; HeaderError naming
    why it may not: it is no JPEG, PNG or TIFF (or a JPEG-compressed TIFF); its header
    declares more than `limit` pixels, or cannot be read for its length; a TIFF's does not
    say its size; a PNG chunk runs past its end; a JPEG has more scans than MAX_JPEG_SCANS,
    or than MAX_JPEG_SCAN_PIXELS allow its size."""
    data = bytes(data)
    header = _read_header(data)
    size = header.size
    if header.kind is None:
        raise HeaderError(f'its data is no JPEG, PNG or TIFF (the formats '
                          f'compressed_image_transport writes; it begins {data[:8].hex(" ")})')
    if header.compression in _TIFF_JPEG:
        raise HeaderError('it is a JPEG-compressed TIFF (no ROS transport writes one)')
    if size is None and header.kind == 'tiff':
        raise HeaderError('its TIFF header does not say its size')
    if size is not None and size[0] * size[1] > limit:
        raise HeaderError(f'its header declares {size[0]} x {size[1]} pixels, more than dp_ros '
                          f'decodes ({limit:,} pixels)')
    problem = _jpeg_scans_problem(data, header) if header.kind == 'jpeg' else \
        _png_chunk_problem(data) if header.kind == 'png' else None
    if problem:
        raise HeaderError(problem)
    return size


def size_problem(data: bytes | bytearray | memoryview | np.ndarray,
                 limit: int = MAX_PIXELS) -> str | None:
    """Why a compressed frame must not be decoded (checked_size), or None."""
    try:
        checked_size(data, limit)
    except HeaderError as exc:
        return str(exc)
    return None


def _jpeg_scans_problem(data: bytes, header: _Header) -> str | None:
    """A JPEG of more scans than a camera writes, which libjpeg would pass over the frame for
    one by one; or None. Without a frame header every start-of-scan marker counts (the
    decoder refuses such a frame anyway)."""
    if header.frame_at:
        scans = _jpeg_scans(data, header.frame_at)
        pixels = max(1, header.size[0] * header.size[1]) if header.size else 1
    else:
        scans, pixels = data.count(b'\xff\xda'), 1
    allowed = min(MAX_JPEG_SCANS, MAX_JPEG_SCAN_PIXELS // pixels)
    if scans > allowed:
        return (f'it has {scans} JPEG scans, more than dp_ros decodes ({allowed} at this size; '
                'a camera writes about 10): each is a pass over the whole frame')
    return None


def _jpeg_scans(data: bytes, frame_at: int) -> int:
    """The start-of-scan markers after the frame header at `frame_at`, up to its end marker,
    read as libjpeg reads them: each segment's contents skipped by its length (an FF DA or
    FF D9 inside a COM or APPn segment is no marker: a byte search let one FF D9 there end the
    count, and 309 scans passed), entropy-coded data and its restart markers searched over at
    C speed. An EXIF thumbnail before the frame header and an MPF preview after the end
    marker have scans of their own, not counted. HeaderError past MAX_JPEG_FRAME_MARKERS."""
    scans, i, segment = 0, frame_at, True
    for _ in range(MAX_JPEG_FRAME_MARKERS):
        if segment:  # libjpeg skips length - 2 bytes after the length field (at least none)
            i += max(2, int.from_bytes(data[i:i + 2], 'big'))
        found = _SEGMENT_MARKER.search(data, i)
        if found is None:
            return scans
        marker, i = data[found.start() + 1], found.start() + 2
        if marker == 0xD9:
            return scans
        scans += marker == 0xDA
        segment = marker not in _JPEG_STANDALONE
    raise HeaderError(f'its JPEG has more than {MAX_JPEG_FRAME_MARKERS} markers after its '
                      'frame header (a camera writes some dozens)')
