"""ROS message <-> numpy conversions for the policy and sim nodes.

No cv_bridge here (it is not available without a ROS install), so images are converted by
hand. Times are integer nanoseconds everywhere: float seconds drift after a few hours of
stamps, nanoseconds do not.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dp_ros.dimension_names import JOINT_STATE_FIELDS
from dp_ros.errors import one_line
from dp_ros.image_header import HeaderError, checked_size, size_problem
from dp_ros.jpeg_decode import DamagedJpeg, decode_jpeg_rgb
from dp_ros.pose_fields import decode_pose, pose_target
from dp_ros.runtime.input_checks import BadInput, measured_vector, state_vector
from dp_ros.stamps import (  # noqa: F401 (re-exported)
    NS_PER_S,
    ns_to_seconds,
    seconds_to_ns,
    stamp_to_ns,
)

# encoding -> (numpy dtype, channels). Multi-byte dtypes are given without byte order.
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}


# --- time -----------------------------------------------------------------------------------

def time_to_ns(t: Time | Duration) -> int:
    return stamp_to_ns(t)


def ns_to_time(ns: int) -> Time:
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def ns_to_duration(ns: int) -> Duration:
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Duration(sec=sec, nanosec=nanosec)


def duration_to_ns(d: Duration) -> int:
    return time_to_ns(d)


# --- images ---------------------------------------------------------------------------------

def _pixel_rows(msg: Image, row_bytes: int, planar: bool = False) -> np.ndarray:
    """The (H, row_bytes) uint8 pixel rows of an Image, its row padding dropped; ValueError
    when its size, step or buffer do not agree. `planar`: a YUV 4:2:0 Image (image_encodings'
    height scaling 3/2), whose height/2 chroma rows follow its height luma rows."""
    problem = _rows_problem(msg, row_bytes, planar)
    if problem:
        raise ValueError(problem)
    rows = int(msg.height) * 3 // 2 if planar else int(msg.height)
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    return buffer.reshape(rows, int(msg.step))[:, :row_bytes]


def _rows_problem(msg: Image, row_bytes: int, planar: bool = False) -> str | None:
    """Why an Image's size, step and buffer length do not agree (None: they do); from the
    header and the buffer's length alone, no pixel read."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        return f'image has no pixels: {width}x{height}'
    if step < row_bytes:
        return (f'image step {step} is smaller than a row of {width} {msg.encoding} '
                f'pixels ({row_bytes} bytes)')
    rows, scale = (height * 3 // 2, '*3/2') if planar else (height, '')
    if len(msg.data) != step * rows:
        return (f'image data has {len(msg.data)} bytes, expected step*height{scale} = '
                f'{step}*{height}{scale} = {step * rows} ({msg.encoding} {width}x{height})')
    return None


def image_to_numpy(msg: Image) -> np.ndarray:
    """(H, W, C) for colour encodings, (H, W) for single-channel ones, in native byte order.

    Raises ValueError when the encoding is unknown or the buffer does not match
    height/width/step, instead of returning a garbled image.
    """
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{msg.encoding}' "
                         f"(supported: {', '.join(IMAGE_ENCODINGS)})")
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    height, width = int(msg.height), int(msg.width)
    rows = _pixel_rows(msg, *_row_layout(msg))
    order = '>' if msg.is_bigendian else '<'
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order))
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height,
                                                                                         width)
    return pixels.astype(dtype, copy=False)  # to native byte order


# YUV 4:2:2 camera encodings (usb_cam, V4L2 cameras) -> where (Y0, U, Y1, V) sit in each
# 4-byte pixel pair: 'yuv422' is UYVY, 'yuv422_yuy2' YUYV ('uyvy', 'yuyv': their names
# since ROS 2 Jazzy)
YUV422_ENCODINGS: dict[str, tuple[int, int, int, int]] = {
    'yuv422': (1, 0, 3, 2),
    'uyvy': (1, 0, 3, 2),
    'yuv422_yuy2': (0, 1, 2, 3),
    'yuyv': (0, 1, 2, 3),
}
# BT.601 video range (Y 16..235) in OpenCV's 20-bit fixed point: cv_bridge converts these
# encodings with cv::cvtColor (COLOR_YUV2RGB_UYVY / _YUY2), so frames decode to its pixels
_BT601_SHIFT = 20
_BT601_CY, _BT601_CUB, _BT601_CUG = 1220542, 2116026, -409993
_BT601_CVG, _BT601_CVR = -852492, 1673527


def _bt601_rgb(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) of int32 Y, Cb, Cr samples (broadcast together), as OpenCV's
    YUV -> RGB conversions compute it (the chroma centred on 128 here)."""
    luma = np.maximum(luma - 16, 0) * _BT601_CY
    cb, cr = cb - 128, cr - 128
    half = 1 << (_BT601_SHIFT - 1)
    rgb = np.stack(np.broadcast_arrays(luma + half + _BT601_CVR * cr,
                                       luma + half + _BT601_CVG * cr + _BT601_CUG * cb,
                                       luma + half + _BT601_CUB * cb), axis=-1) >> _BT601_SHIFT
    return np.clip(rgb, 0, 255).astype(np.uint8)


# OpenCV's conversion of each YUV encoding (its pixel rows as cvtColor takes them)
_CV2_YUV = {'yuv422': 'COLOR_YUV2RGB_UYVY', 'uyvy': 'COLOR_YUV2RGB_UYVY',
            'yuv422_yuy2': 'COLOR_YUV2RGB_YUY2', 'yuyv': 'COLOR_YUV2RGB_YUY2',
            'nv12': 'COLOR_YUV2RGB_NV12', 'nv21': 'COLOR_YUV2RGB_NV21'}


@functools.cache
def _cv2_yuv() -> Any | None:
    """OpenCV, where its YUV conversions give this module's pixels exactly on a test frame
    (every Y, U and V value and their extremes together), else None. The numpy arithmetic
    takes 30-65 ms a 1080p frame where cvtColor takes about 1 (a review measured it, under
    the node's lock); it stays the reference, so that a robot's OpenCV that computed these
    otherwise than the training machine's could not change the pixels the policy sees."""
    try:
        import cv2
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(64, 256, 2), dtype=np.uint8)  # UYVY byte pairs
    frame[0, :, 1] = np.arange(256)  # every Y
    frame[1, :, 0] = np.arange(256)  # every U (even pixels) and V (odd)
    frame[2::2, ::2, 0] = 0  # extreme chroma under random luma
    frame[3::2, 1::2, 0] = 255
    try:
        for encoding in YUV422_ENCODINGS:
            msg = Image(height=64, width=256, encoding=encoding, step=512,
                        data=frame.tobytes())
            if not np.array_equal(_yuv_cv2(cv2, msg), _yuv422_numpy(msg)):
                return None
        for encoding in YUV420_ENCODINGS:
            msg = Image(height=64, width=256, encoding=encoding, step=256,
                        data=frame.reshape(-1)[:96 * 256].tobytes())
            if not np.array_equal(_yuv_cv2(cv2, msg), _yuv420_numpy(msg)):
                return None
    except cv2.error:
        return None
    return cv2


def _yuv_cv2(cv2: Any, msg: Image) -> np.ndarray:
    """cvtColor of a YUV Image's pixel rows, its row padding dropped."""
    row_bytes, planar = _row_layout(msg)
    rows = np.ascontiguousarray(_pixel_rows(msg, row_bytes, planar))
    if not planar:  # 4:2:2: (H, W, 2) byte pairs
        rows = rows.reshape(int(msg.height), int(msg.width), 2)
    return cv2.cvtColor(rows, getattr(cv2, _CV2_YUV[msg.encoding]))


def yuv422_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a YUV 4:2:2 Image (YUV422_ENCODINGS), equal to OpenCV's
    cvtColor COLOR_YUV2RGB_UYVY / COLOR_YUV2RGB_YUY2: OpenCV's where it computes this
    module's pixels (_cv2_yuv), else numpy's."""
    cv2 = _cv2_yuv()
    return _yuv422_numpy(msg) if cv2 is None else _yuv_cv2(cv2, msg)


def _yuv422_numpy(msg: Image) -> np.ndarray:
    y0, u, y1, v = YUV422_ENCODINGS[msg.encoding]
    height, width = int(msg.height), int(msg.width)
    pairs = _pixel_rows(msg, *_row_layout(msg)).reshape(height, width // 2, 4).astype(np.int32)
    rgb = _bt601_rgb(pairs[..., [y0, y1]], pairs[..., u, None], pairs[..., v, None])
    return rgb.reshape(height, width, 3)


# YUV 4:2:0 encodings of image_encodings (semi-planar: height rows of Y, then height/2 rows
# of interleaved chroma pairs, one pair per 2x2 block) -> where (U, V) sit in each pair
YUV420_ENCODINGS: dict[str, tuple[int, int]] = {
    'nv12': (0, 1),
    'nv21': (1, 0),
}


def yuv420_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a YUV 4:2:0 Image (YUV420_ENCODINGS), equal to OpenCV's
    cvtColor COLOR_YUV2RGB_NV12 / COLOR_YUV2RGB_NV21: OpenCV's where it computes this
    module's pixels (_cv2_yuv), else numpy's."""
    cv2 = _cv2_yuv()
    return _yuv420_numpy(msg) if cv2 is None else _yuv_cv2(cv2, msg)


def _yuv420_numpy(msg: Image) -> np.ndarray:
    u, v = YUV420_ENCODINGS[msg.encoding]
    height, width = int(msg.height), int(msg.width)
    rows = _pixel_rows(msg, *_row_layout(msg)).astype(np.int32)
    luma = rows[:height].reshape(height // 2, 2, width // 2, 2)  # (block row, y, block, x)
    chroma = rows[height:].reshape(height // 2, 1, width // 2, 1, 2)
    rgb = _bt601_rgb(luma, chroma[..., u], chroma[..., v])
    return rgb.reshape(height, width, 3)


def _row_layout(msg: Image) -> tuple[int, bool]:
    """(the bytes of a pixel row, planar: a YUV 4:2:0 Image's chroma rows follow its luma
    rows) of an Image in IMAGE_ENCODINGS or a YUV encoding; ValueError for a YUV size its
    chroma cannot cover, from the header alone."""
    height, width = int(msg.height), int(msg.width)
    if msg.encoding in YUV422_ENCODINGS:
        if width % 2:
            raise ValueError(f'{msg.encoding} image is {width} pixels wide: 4:2:2 pixels come '
                             'in pairs, the width must be even')
        return width * 2, False
    if msg.encoding in YUV420_ENCODINGS:
        if width % 2 or height % 2:
            raise ValueError(f'{msg.encoding} image is {width}x{height}: 4:2:0 chroma covers '
                             '2x2 pixel blocks, the width and height must be even')
        return width, True
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    return width * channels * dtype.itemsize, False


def numpy_to_image(array: np.ndarray, encoding: str = 'rgb8', stamp: Time | None = None,
                   frame_id: str = '') -> Image:
    """Packed rows (step = width * pixel size), native byte order."""
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"unsupported image encoding '{encoding}' "
                         f"(supported: {', '.join(IMAGE_ENCODINGS)})")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    array = np.asarray(array)
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim == 3 and channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ValueError(f'array of shape {array.shape} does not fit encoding {encoding} '
                         f'({channels} channel(s))')
    if array.dtype != dtype:
        raise ValueError(f'array dtype {array.dtype} does not fit encoding {encoding} '
                         f'(needs {dtype})')
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == 'big'
    msg.step = int(array.shape[1] * channels * dtype.itemsize)
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB view of a colour or mono8 image, as the policy consumes."""
    if encoding == 'rgb8':
        return array
    if encoding == 'bgr8':
        return array[:, :, ::-1]
    if encoding == 'rgba8':
        return array[:, :, :3]
    if encoding == 'bgra8':
        return array[:, :, 2::-1]
    if encoding == 'mono8':
        return np.repeat(array[:, :, None], 3, axis=2)
    raise _not_a_camera(encoding)


# what image_to_rgb takes: to_rgb's, YUV 4:2:2 and YUV 4:2:0
CAMERA_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', *YUV422_ENCODINGS,
                    *YUV420_ENCODINGS)


def _not_a_camera(encoding: str) -> ValueError:
    return ValueError(f"image encoding '{encoding}' cannot be used as an RGB camera (camera "
                      f"encodings: {', '.join(CAMERA_ENCODINGS)})")


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a camera Image; ValueError naming the camera encodings for one
    of any other (a depth image, rgb16), before its pixels are read."""
    if msg.encoding not in CAMERA_ENCODINGS:
        raise _not_a_camera(msg.encoding)
    if msg.encoding in YUV422_ENCODINGS:
        return yuv422_to_rgb(msg)
    if msg.encoding in YUV420_ENCODINGS:
        return yuv420_to_rgb(msg)
    return to_rgb(image_to_numpy(msg), msg.encoding)


# the pixels a compressed camera image may be made of: the encoding compressed_image_transport
# writes before ';' in its format ('rgb8; jpeg compressed bgr8'); anything else (16UC1, 32FC1,
# mono16: '16UC1; png compressed ') is a depth or raw sensor image, compressed as it is
COMPRESSED_CAMERA_SOURCES = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'rgb16', 'bgr16', 'rgba16',
                             'bgra16', 'mono8')


def compressed_camera_problem(fmt: str) -> str | None:
    """Why a CompressedImage of format `fmt` is no camera's colour or mono8 picture (None:
    it is, or its format names no source encoding: 'jpeg', 'png' from older publishers)."""
    if 'compressedDepth' in fmt:
        return f"format '{fmt}' is a depth image (compressedDepth), not a camera's"
    source, sep, _ = fmt.partition(';')
    if sep and source.strip() not in COMPRESSED_CAMERA_SOURCES:
        return (f"format '{fmt}' is compressed from '{source.strip()}' pixels (a depth or raw "
                f"sensor image), not a camera's ({', '.join(COMPRESSED_CAMERA_SOURCES)})")
    return None


def camera_rgb(msg: Image | CompressedImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a camera message; BadInput 'image_encoding', 'image_size' (an
    Image whose buffer does not match its size) or 'image_decode' (a CompressedImage)."""
    _check_camera_type(msg)
    if isinstance(msg, CompressedImage):
        try:
            return _decode_compressed(msg)
        except ValueError as exc:
            raise BadInput('image_decode', str(exc)) from None
    try:
        return image_to_rgb(msg)
    except ValueError as exc:
        raise BadInput('image_size', str(exc)) from None


def check_camera_message(msg: Image | CompressedImage) -> tuple[int, int] | None:
    """The frame's (height, width), as an Image gives it or a CompressedImage's header declares
    it (None where that does not say), after BadInput for what a camera message's header and
    buffer length tell, no pixel read (on receipt, for every frame: one that is never decoded,
    superseded by a newer one before an observation used it, was refused uncounted): an
    Image's encoding ('image_encoding') and its size, step and buffer length, the pairs of a
    YUV encoding ('image_size'); a CompressedImage's format (a depth image:
    'image_encoding') and an empty buffer ('image_decode'), and what its header tells
    ('image_decode': image_header.checked_size, a format no transport writes, more pixels or
    JPEG scans than dp_ros decodes). What only decoding tells is checked then (camera_rgb)."""
    _check_camera_type(msg)
    if isinstance(msg, CompressedImage):
        if not len(msg.data):
            raise BadInput('image_decode', f"compressed image (format '{msg.format}') has no "
                           'data')
        try:
            size = checked_size(msg.data)
        except HeaderError as exc:
            raise BadInput('image_decode', f"compressed image (format '{msg.format}') not "
                           f'decoded: {exc}') from None
        return None if size is None else (size[1], size[0])
    try:  # the layout the decoders read (_row_layout), the buffer against it
        problem = _rows_problem(msg, *_row_layout(msg))
    except ValueError as exc:  # a YUV size its chroma cannot cover
        problem = str(exc)
    if problem:
        raise BadInput('image_size', problem)
    return int(msg.height), int(msg.width)


def _check_camera_type(msg: Image | CompressedImage) -> None:
    """BadInput 'image_encoding' for a message that is no camera picture: a CompressedImage
    of a depth format (compressed_camera_problem), an Image of an encoding not in
    CAMERA_ENCODINGS."""
    if isinstance(msg, CompressedImage):
        problem = compressed_camera_problem(msg.format)
        if problem:
            raise BadInput('image_encoding', problem)
    elif msg.encoding not in CAMERA_ENCODINGS:
        raise BadInput('image_encoding', f"encoding '{msg.encoding}' is not an RGB/BGR/mono8/"
                       'YUV camera image')


def compressed_image_to_numpy(msg: CompressedImage) -> np.ndarray:
    """Decodes jpeg/png/tiff into (H, W, 3) uint8 RGB as ROS's own decoders do (the compressed
    subscriber and cv_bridge: IMREAD_UNCHANGED, so a JPEG's EXIF orientation is not applied;
    16-bit pixels scaled by 255/65535 as cv_bridge's rgb16 -> rgb8); ValueError for a depth
    image (compressed_camera_problem), an empty or undecodable buffer, or one whose header
    declares more pixels than dp_ros decodes (image_header); DamagedJpeg (a ValueError) for a
    JPEG whose data libjpeg finds damaged, which those decoders would return smeared
    (jpeg_decode)."""
    problem = compressed_camera_problem(msg.format)
    if problem:
        raise ValueError(problem)
    return _decode_compressed(msg)


def _decode_compressed(msg: CompressedImage) -> np.ndarray:
    """compressed_image_to_numpy after its format check (camera_rgb makes it first, to tell
    a depth image from an undecodable one)."""
    import cv2  # imported here: only compressed streams pay for OpenCV

    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size == 0:
        raise ValueError(f"compressed image (format '{msg.format}') has no data")
    problem = size_problem(buffer)
    if problem:
        raise ValueError(f"compressed image (format '{msg.format}') not decoded: {problem}")
    try:
        rgb = decode_jpeg_rgb(buffer)
    except DamagedJpeg as exc:
        raise DamagedJpeg(f"compressed image (format '{msg.format}', {buffer.size} bytes) is "
                          f'damaged: {exc}') from None
    if rgb is not None:
        return rgb
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # a header past OpenCV's own limits: no ValueError
        raise ValueError(f"could not decode compressed image (format '{msg.format}', "
                         f'{buffer.size} bytes): {one_line(exc)}') from None
    if image is None or image.ndim not in (2, 3) or image.dtype not in (np.uint8, np.uint16) \
            or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"could not decode compressed image (format '{msg.format}', "
                         f'{buffer.size} bytes)')
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB


def numpy_to_compressed_image(rgb: np.ndarray, fmt: str = 'jpeg', stamp: Time | None = None,
                              frame_id: str = '', quality: int = 95) -> CompressedImage:
    import cv2

    if fmt not in ('jpeg', 'png'):
        raise ValueError(f"compressed format must be 'jpeg' or 'png', got '{fmt}'")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == 'jpeg' else []
    ok, encoded = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png',
                               np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {rgb.shape} image as {fmt}')
    msg = CompressedImage()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = fmt
    msg.data = encoded.tobytes()
    return msg


# --- joint states ---------------------------------------------------------------------------

def joint_state_to_numpy(msg: JointState, names: Sequence[str],
                         field: str | Sequence[str] = 'position') -> np.ndarray:
    """Values of `field` for `names`, in that order (float64); `field` one for all, or one
    per name (a joint's position and its velocity side by side)."""
    fields = [field] * len(names) if isinstance(field, str) else list(field)
    if len(fields) != len(names):
        raise ValueError(f'{len(fields)} joint state fields for {len(names)} joints')
    bad = sorted(set(fields) - set(JOINT_STATE_FIELDS))
    if bad:
        raise ValueError(f'joint state fields must be position, velocity or effort, got {bad}')
    arrays = {f: getattr(msg, f) for f in dict.fromkeys(fields)}
    for f, values in arrays.items():
        if len(values) != len(msg.name):
            raise ValueError(f'joint state has {len(msg.name)} names but {len(values)} {f} '
                             'values')
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f'joint state lacks joint(s) {missing}; it has {list(msg.name)}')
    twice = duplicated(msg.name, names)
    if twice:
        raise ValueError(f'joint state names joint(s) {twice} more than once: which value is '
                         f'meant is unknown; it has {list(msg.name)}')
    return np.array([arrays[f][index[n]] for n, f in zip(names, fields, strict=True)],
                    dtype=np.float64)


def duplicated(message_names: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The wanted names a message gives more than once (a broken driver), in order."""
    seen: set[str] = set()
    twice = {n for n in message_names if n in seen or seen.add(n)}
    return [n for n in dict.fromkeys(wanted) if n in twice]


class PartialJointState(BadInput):
    """BadInput 'joint_unknown' of a JointState that gives some of the state joints read from
    its topic, not all: no observation, but `measured` (the action joints' positions it
    gives, as joint_state_inputs returns them) is still a measurement."""

    def __init__(self, message: str, measured: np.ndarray | None):
        super().__init__('joint_unknown', message)
        self.measured = measured


def joint_state_inputs(msg: JointState, state_names: Sequence[str],
                       field: str | Sequence[str], action_names: Sequence[str],
                       prefix: str = '') -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the low-dim observation as float32, its values read from `field` (one per name, or
    one for all); the action joints' measured positions: NaN for those the message lacks
    (another topic's) or gives non-finite or beyond float32 (input_checks.measured_vector);
    None when it gives none). The names are the
    training data's: `prefix` (the topic's topic_name_prefixes entry) before each of the
    message's.

    Several drivers may publish on one topic, each its own joints (an arm's and its
    gripper's on /joint_states). A message that gives none of the state joints is another
    driver's: (None, measured) with the action joints' positions it gives, else (None,
    None) (a head's or a base's joints: nothing the node reads), no observation and not a
    bad message (the node counts such messages: a topic that only ever gives them is an
    input named wrong, inputs_unread); where both drivers' joints are in the state, each is
    a stream of its own and gets only its driver's messages: message_streams. One that gives
    some of the state joints but not all is refused, PartialJointState ('joint_unknown',
    naming the missing ones) with its measured positions: its values are not merged with
    another message's (their stamps differ; such drivers are read apart:
    state_joint_drivers, or training data that read them apart).

    BadInput: 'joint_unknown' (some state joints missing: PartialJointState),
    'joint_duplicate' (a joint it reads named twice), 'joint_size' (names and values of
    unequal length), 'non_finite' or 'float32_overflow' (runtime/input_checks.py).
    """
    names = [n.removeprefix(prefix) for n in state_names]
    twice = duplicated(msg.name, [*names, *(n.removeprefix(prefix) for n in action_names)])
    if twice:
        raise BadInput('joint_duplicate', f'joint state names {twice} more than once, has '
                       f'{list(msg.name)}: which value is meant is unknown')
    measured = None
    if len(msg.position) == len(msg.name):  # else velocity or effort only: no positions
        index = {prefix + name: i for i, name in enumerate(msg.name)}
        # checked as the state is (a value that fails is not measured): a partial or
        # another driver's message is no state, and its 1e300 became a stop's hold point
        measured = measured_vector([msg.position[index[n]] if n in index else np.nan
                                    for n in action_names])
        measured = None if np.isnan(measured).all() else measured
    missing = [n for n in dict.fromkeys(names) if n not in msg.name]
    if len(missing) == len(set(names)):
        return None, measured  # another driver's joints on this topic
    if missing:
        raise PartialJointState(f'joint state lacks {missing}, has {list(msg.name)}: a message '
                                'must give all the state joints read from its topic (drivers '
                                'that split them: name each joint\'s driver, '
                                'state_joint_drivers)', measured)
    try:
        values = joint_state_to_numpy(msg, names, field)
    except ValueError as exc:
        raise BadInput('joint_size', str(exc)) from None
    what = field if isinstance(field, str) else '/'.join(dict.fromkeys(field))
    return state_vector(values, f'joint state {what} for {list(state_names)}'), measured


def pose_inputs(msg: Any, fields: Sequence[str], yaw_min: float, action_names: Sequence[str],
                frame: str = '', prefix: str = '') -> tuple[np.ndarray, np.ndarray | None]:
    """(a geometry_msgs/PoseStamped's fields as the low-dim observation's values, float32,
    decoded as bag2zarr's pose source decodes them; the measured values of the action
    dimensions named by the same fields, a Cartesian target's: NaN for the others, None when
    there are none). The names are the training data's: `prefix` (the topic's
    topic_name_prefixes entry) before each field ('left_x': one of two end effectors).

    BadInput: 'pose_frame' (not in `frame`, the training data's, when given),
    'pose_orientation' (a quaternion of no direction), 'non_finite' or 'float32_overflow'
    (runtime/input_checks.py).
    """
    if frame and msg.header.frame_id != frame:
        raise BadInput('pose_frame', f'pose in frame {msg.header.frame_id!r}; the policy was '
                                     f'trained on poses in {frame!r}')
    try:  # float64: the measured values keep it
        decoded = decode_pose(msg, [n.removeprefix(prefix) for n in fields], yaw_min)
    except ValueError as exc:
        raise BadInput('pose_orientation', str(exc)) from None
    values = state_vector(decoded, f'pose {list(fields)}')
    if not any(n in fields for n in action_names):
        return values, None
    by_field = dict(zip(fields, decoded.tolist(), strict=True))
    return values, np.array([by_field.get(n, np.nan) for n in action_names], dtype=np.float64)


def numpy_to_pose(values: np.ndarray, names: Sequence[str], frame_id: str,
                  stamp: Time) -> PoseStamped:
    """A pose target from action values named by pose fields (dp_ros.pose_fields.pose_target;
    ValueError when they make no pose)."""
    position, quaternion = pose_target(values, names)
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
    return msg


def numpy_to_twist(linear: np.ndarray, angular: np.ndarray, frame_id: str, stamp: Time):
    """geometry_msgs/TwistStamped of a linear (m/s) and an angular (rad/s) velocity."""
    from geometry_msgs.msg import TwistStamped

    msg = TwistStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    t = msg.twist
    t.linear.x, t.linear.y, t.linear.z = (float(v) for v in linear)
    t.angular.x, t.angular.y, t.angular.z = (float(v) for v in angular)
    return msg


def numpy_to_float64_array(values: np.ndarray) -> Float64MultiArray:
    """Positions for a forward_command_controller: one value per joint, no layout."""
    return Float64MultiArray(data=[float(v) for v in np.asarray(values).ravel()])


def numpy_to_joint_state(position: np.ndarray, names: Sequence[str],
                         velocity: np.ndarray | None = None,
                         stamp: Time | None = None) -> JointState:
    position = np.asarray(position, dtype=np.float64).reshape(-1)
    if position.size != len(names):
        raise ValueError(f'{position.size} positions for {len(names)} joint names {list(names)}')
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = position.tolist()
    if velocity is not None:
        velocity = np.asarray(velocity, dtype=np.float64).reshape(-1)
        if velocity.size != len(names):
            raise ValueError(f'{velocity.size} velocities for {len(names)} joint names')
        msg.velocity = velocity.tolist()
    return msg


# --- action chunks --------------------------------------------------------------------------

@dataclass
class TrajectoryChunk:
    """A JointTrajectory as arrays: point i is due at stamp_ns + times_from_start_ns[i]."""

    stamp_ns: int
    joint_names: list[str]
    times_from_start_ns: np.ndarray  # (N,) int64
    positions: np.ndarray  # (N, D) float64

    @property
    def due_ns(self) -> np.ndarray:
        return self.stamp_ns + self.times_from_start_ns


def chunk_to_joint_trajectory(actions: np.ndarray, joint_names: Sequence[str], dt: float,
                              stamp_ns: int, frame_id: str = '',
                              first_index: int = 0) -> JointTrajectory:
    """Point i (counting from first_index) is due at stamp + i*dt."""
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] != len(joint_names):
        raise ValueError(f'actions of shape {actions.shape} do not match {len(joint_names)} '
                         f'joint names {list(joint_names)}')
    dt_ns = seconds_to_ns(dt)
    if dt_ns <= 0:
        raise ValueError(f'chunk period must be positive, got {dt}')
    msg = JointTrajectory()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.joint_names = list(joint_names)
    points = []
    for i, row in enumerate(actions):
        point = JointTrajectoryPoint()
        point.positions = row.tolist()
        point.time_from_start = ns_to_duration((first_index + i) * dt_ns)
        points.append(point)
    msg.points = points
    return msg


def joint_trajectory_to_chunk(msg: JointTrajectory) -> TrajectoryChunk:
    n_joints = len(msg.joint_names)
    for i, point in enumerate(msg.points):
        if len(point.positions) != n_joints:
            raise ValueError(f'trajectory point {i} has {len(point.positions)} positions for '
                             f'{n_joints} joints {list(msg.joint_names)}')
    positions = np.array([list(p.positions) for p in msg.points],
                         dtype=np.float64).reshape(len(msg.points), n_joints)
    times = np.array([duration_to_ns(p.time_from_start) for p in msg.points], dtype=np.int64)
    return TrajectoryChunk(stamp_ns=time_to_ns(msg.header.stamp),
                           joint_names=list(msg.joint_names),
                           times_from_start_ns=times, positions=positions)


def hold_to_joint_trajectory(position: np.ndarray, joint_names: Sequence[str], dt_ns: int,
                             frame_id: str = '') -> JointTrajectory:
    """The stop command: one point at `position`, due one control period after it arrives;
    `position` of shape (N, D): the points of a decelerating stop (safety.stop_path), point i
    due (i+1) * dt_ns after it arrives.

    Stamped 0: a joint_trajectory_controller starts such a trajectory on receipt, replaces
    its running one with it and rests there. Stamped with the time the node stopped, a stop
    delivered later than its one period would end in the past, the controller would reject
    it and the chunk it was sent to stop would run on.
    """
    points = np.asarray(position, dtype=np.float64)
    return chunk_to_joint_trajectory(points.reshape(1, -1) if points.ndim == 1 else points,
                                     joint_names, ns_to_seconds(dt_ns), 0,
                                     frame_id=frame_id, first_index=1)


def chunk_to_path(due_ns: np.ndarray, actions: np.ndarray, dims: Sequence[int], scale: float,
                  frame_id: str,
                  pose: tuple[Sequence[int], Sequence[str]] | None = None):
    """nav_msgs/Path of a chunk whose action dimensions `dims` are an end effector's x, y(, z)
    (scaled to metres), each pose stamped with its point's due time. pose: the action
    dimensions and fields of the pose target they belong to; each path pose then has the
    target's orientation (RViz draws its axes), else none (identity; also where a predicted
    orientation has no direction)."""
    from nav_msgs.msg import Path

    path = Path()
    path.header.stamp = ns_to_time(int(due_ns[0]))
    path.header.frame_id = frame_id
    for t, row in zip(due_ns.tolist(), np.asarray(actions, dtype=np.float64), strict=True):
        msg = PoseStamped()
        msg.header.stamp = ns_to_time(t)
        msg.header.frame_id = frame_id
        xyz = [float(row[d]) * scale for d in dims] + [0.0]
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = xyz[:3]
        quaternion = [0.0, 0.0, 0.0, 1.0]
        if pose is not None:
            with contextlib.suppress(ValueError):
                quaternion = pose_target(row[list(pose[0])], pose[1])[1].tolist()
        q = msg.pose.orientation
        q.x, q.y, q.z, q.w = quaternion
        path.poses.append(msg)
    return path


def diagnostic_array(name: str, hardware_id: str, values: dict, problems: Sequence[str],
                     stamp_ns: int):
    """One DiagnosticStatus in an array: WARN with the problems as message, else OK with
    `values['state']`; every value as a string KeyValue (None: '')."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(name=name, hardware_id=hardware_id,
                              level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
                              message='; '.join(problems) if problems else str(values['state']))
    status.values = [KeyValue(key=k, value='' if v is None else str(v))
                     for k, v in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = ns_to_time(stamp_ns)
    return array
