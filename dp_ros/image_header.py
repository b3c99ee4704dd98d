"""The size a compressed camera frame declares, read from its header before it is decoded.

A CompressedImage (a live camera's or one in a bag) is decoded by OpenCV, which allocates
whatever the header declares, up to its own limit of 2^30 pixels (3 GB of RGB): a 1.2 MB
PNG of 20000 x 20000 black pixels took 7 s and 2.4 GB to decode on the 2-core machine,
stalling the node's camera stream before anything could be refused. Reading the width and
height from the PNG IHDR chunk or the JPEG frame header first lets a frame over MAX_PIXELS be
refused for the price of a few bytes. Other formats, and headers this cannot read, are left
to the decoder.

Base layer (no numpy, no OpenCV), so that every layer can use it.
"""
from __future__ import annotations

# The largest frame dp_ros decodes: 8192 x 8192 (an 8K camera is 7680 x 4320), 200 MB as RGB.
MAX_PIXELS = 8192 * 8192

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): not C4 (DHT),
# C8 (reserved) or CC (DAC), which share the range
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers that stand alone (no length field): TEM, RST0-7, SOI, EOI
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xDA)))


def declared_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None when `data` is neither or its header
    does not say (truncated, or a JPEG whose height comes later in a DNL marker)."""
    head = bytes(data[:8])
    if head == _PNG_SIGNATURE:
        return _png_size(bytes(data[:24]))
    if head[:2] == b'\xff\xd8':
        return _jpeg_size(data)
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    # signature, then the IHDR chunk: length (4), type (4), width (4), height (4), big-endian
    if len(head) < 24 or head[12:16] != b'IHDR':
        return None
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')


def _jpeg_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None  # not at a marker: a corrupt stream, the decoder's to refuse
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        length = int.from_bytes(bytes(data[i + 2:i + 4]), 'big')
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height = int.from_bytes(bytes(data[i + 5:i + 7]), 'big')
            width = int.from_bytes(bytes(data[i + 7:i + 9]), 'big')
            return (width, height) if height else None
        if marker == 0xDA or length < 2:  # scan data before any frame header, or corrupt
            return None
        i += 2 + length
    return None


def size_problem(data: bytes | bytearray | memoryview, limit: int = MAX_PIXELS) -> str | None:
    """Why a compressed frame must not be decoded (its header declares more than `limit`
    pixels), or None."""
    size = declared_size(data)
    if size is None or size[0] * size[1] <= limit:
        return None
    return (f'its header declares {size[0]} x {size[1]} pixels, more than dp_ros decodes '
            f'({limit:,} pixels)')
