"""JPEG frames decoded with libjpeg's warnings heard: a damaged frame is refused, not used.

A camera driver that loses data (a USB camera's MJPEG with dropped packets, a relay that cut
a frame) sends JPEGs whose entropy-coded data is short or garbled. libjpeg decodes them
anyway, filling what is missing with grey or smeared blocks, and only warns ("Corrupt JPEG
data: premature end of data segment") on stderr: OpenCV's imdecode, which ROS's own decoders
and cv_bridge use, returns such a frame as if whole (a frame cut 1 kB short of 30 kB: mean
error 7.5 grey levels, its lower part a smear). Here the frame is decoded by libjpeg-turbo
through simplejpeg in strict mode, where those warnings are errors: the damage warnings make
a frame DamagedJpeg; after another (a few bytes of padding before the end marker, which some
webcams add to every frame) it is decoded again, warnings aside (libjpeg warns at the end, so
strict mode keeps no pixels: two decodes of simplejpeg for such a camera, about one of
OpenCV's). A frame simplejpeg refuses even so (an unknown JFIF revision: it fails warnings
aside too) is left to OpenCV, the same pixels.
Most lost data is seen: of 150 random cuts of 16-1500 bytes from a 640x480 frame, 149
(baseline), 150 (restart markers every 8 MCUs) and 147 (progressive; 2 more refused as not
decodable) were refused, 1 and 1 decoded smeared with no warning; bytes garbled in place can
go unseen too (libjpeg decodes them as other coefficients).

simplejpeg's pixels are OpenCV's: both are libjpeg-turbo with its default (islow) inverse
DCT and fancy upsampling; checked bit for bit (test/test_jpeg_decode.py), and it is a little
faster (720p: 2.7 against 3.2 ms here).
"""
from __future__ import annotations

import re
import warnings

import numpy as np

JPEG_SOI = b'\xff\xd8'
# libjpeg's warnings that mean the picture lost data (jerror.h: JWRN_HIT_MARKER,
# JWRN_HUFF_BAD_CODE, JWRN_ARITH_BAD_CODE, JWRN_JPEG_EOF, JWRN_MUST_RESYNC), in lower case
DAMAGE_WARNINGS = ('premature end of data segment', 'bad huffman code', 'bad arithmetic code',
                   'premature end of jpeg file', 'instead of rst')
# JWRN_EXTRANEOUS_DATA: bytes the decoder skipped before a marker. Before a restart or scan
# marker they are data the picture lost its place in; before the end marker a few are a
# webcam's padding, more are lost data (a run of bytes inserted mid-frame ends there)
EXTRANEOUS = re.compile(r'(\d+) extraneous bytes before marker 0x([0-9a-f]{2})')
END_MARKER = 'd9'
PADDING_BYTES = 16  # the most bytes before the end marker taken for padding
_missing_warned = False


class DamagedJpeg(ValueError):
    """A JPEG whose data libjpeg found damaged: decoded, it would show grey or smeared blocks."""


def damage(reason: str) -> bool:
    """Whether libjpeg's warning `reason` says the picture lost data."""
    text = reason.lower()
    if any(w in text for w in DAMAGE_WARNINGS):
        return True
    extraneous = EXTRANEOUS.search(text)
    return extraneous is not None and (extraneous.group(2) != END_MARKER
                                       or int(extraneous.group(1)) > PADDING_BYTES)


def decode_jpeg_rgb(data: np.ndarray) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB of an 8-bit JPEG (`data`: its bytes as uint8); DamagedJpeg for one
    whose data is damaged; None for what this decoder leaves to OpenCV (not a JPEG, 12-bit,
    odd samplings; everything when simplejpeg is not installed, said once)."""
    if bytes(data[:2]) != JPEG_SOI:
        return None
    try:
        import simplejpeg  # imported here: only compressed cameras pay for it
    except ImportError:
        _say_missing()
        return None
    try:
        return simplejpeg.decode_jpeg(data, colorspace='RGB', strict=True)
    except ValueError as exc:
        reason = str(exc).strip()
        if damage(reason):
            raise DamagedJpeg(f'{reason} (a camera driver that lost data: the frame would '
                              'show grey or smeared blocks)') from None
    try:  # a harmless warning (padding): the same decoder, warnings aside (OpenCV's pixels)
        return simplejpeg.decode_jpeg(data, colorspace='RGB', strict=False)
    except ValueError:
        return None


def _say_missing() -> None:
    global _missing_warned
    if not _missing_warned:
        _missing_warned = True
        warnings.warn('simplejpeg is not installed (pip install simplejpeg, requirements.txt): '
                      'JPEG frames decode through OpenCV, damaged ones unrefused',
                      RuntimeWarning, stacklevel=3)
