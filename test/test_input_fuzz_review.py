"""A fuzz review of the policy node's per-message input path: "a bad message is counted and
skipped, never a crash, never a stalled node".

What the node's callbacks call, in their order, on real message objects (no ROS graph, no
mocks): cameras (conversions.check_camera_message on receipt, then camera_rgb and
image_fit.fit_image when an observation uses the frame), joint states
(conversions.joint_state_inputs), poses (conversions.pose_inputs) and the episode start
(planning_loop.parse_episode_start). The callbacks count BadInput (parse_episode_start: its
ValueError); anything else raised on receipt escapes the executor and ends the node.

Seeded random sweeps guard that every malformed message either converts or raises the
counted type. The named tests are the review's findings, each failing before its fix: frames
decoded at a cost the node cannot afford (a small TIFF declaring more pixels than
image_header.MAX_PIXELS; a progressive JPEG of a thousand scans), an OpenCV error that escaped
camera_rgb's contract (a BMP), a /clock message that ended a use_sim_time node, and a
quaternion too large to normalise read as the identity rotation.
"""
from __future__ import annotations

import json
import math
import struct
import zlib

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CompressedImage, Image, JointState

from dp_ros.image_fit import fit_image
from dp_ros.image_header import MAX_PIXELS
from dp_ros.ros import conversions as cv
from dp_ros.runtime import planning_loop as pl
from dp_ros.runtime.input_checks import BadInput

RAW_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'yuv422', 'uyvy', 'yuv422_yuy2',
                 'yuyv', 'nv12', 'nv21', '16UC1', 'mono16', '32FC1', 'rgb16', '', 'RGB8',
                 'bayer_rggb8', 'x' * 2000)
BYTES_PER_PIXEL = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'nv12': 1,
                   'nv21': 1}


def receive_and_decode(msg: Image | CompressedImage, height: int = 24,
                       width: int = 32) -> np.ndarray | None:
    """What the node does with a camera message: checked on receipt (BadInput counted), then
    decoded and fitted when an observation uses it. The fitted image, or None when refused
    (BadInput); any other exception propagates (a crash on receipt; uncounted in decoding)."""
    try:
        cv.check_camera_message(msg)
    except BadInput:
        return None
    try:
        rgb = cv.camera_rgb(msg)
    except BadInput:
        return None
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
    if isinstance(msg, Image):
        assert rgb.shape[:2] == (msg.height, msg.width)
    image = fit_image(rgb, height, width)
    assert image.shape == (height, width, 3)
    return image


def random_image(rng: np.random.Generator) -> Image:
    """An Image of a random (mostly camera) encoding whose size, step and buffer may disagree."""
    encoding = str(rng.choice(RAW_ENCODINGS))
    height, width = (int(rng.integers(0, 40)), int(rng.integers(0, 40))) if rng.random() < 0.8 \
        else (int(rng.integers(1, 3)), int(rng.integers(1, 5000)))
    row = width * BYTES_PER_PIXEL.get(encoding, 2)
    step = int(rng.choice([row, row, row + int(rng.integers(1, 8)), max(0, row - 1), 0,
                           int(rng.integers(0, 2**32))]))
    rows = height * 3 // 2 if encoding in ('nv12', 'nv21') else height
    size = step * rows if step * rows < 1_000_000 else int(rng.integers(0, 1000))
    size = max(0, size + int(rng.choice([0, 0, 0, -1, 1])))
    msg = Image(height=height, width=width, encoding=encoding, step=step,
                is_bigendian=int(rng.integers(0, 2)))
    msg.data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return msg


def test_random_malformed_images_convert_or_are_counted():
    rng = np.random.default_rng(20260601)
    converted = 0
    for _ in range(300):
        msg = random_image(rng)
        converted += receive_and_decode(msg) is not None
    assert converted > 20  # the sweep reaches the decoders, not only the header checks


def camera_corpus() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    image[:12] = 90
    corpus = {}
    for name, ext, src, params in [
            ('jpeg', '.jpg', image, []),
            ('progressive', '.jpg', image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
            ('restarts', '.jpg', image, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1]),
            ('png', '.png', image, []), ('png16', '.png', image.astype(np.uint16) * 257, []),
            ('png_gray', '.png', image[:, :, 0], [])]:
        ok, encoded = cv2.imencode(ext, src, params)
        assert ok
        corpus[name] = encoded.tobytes()
    return corpus


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = int(rng.integers(0, 6))
    if kind == 0:
        return bytes(b[:int(rng.integers(1, len(b)))])  # cut short
    if kind == 1:
        for _ in range(int(rng.integers(1, 8))):  # bytes garbled in place
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
    elif kind == 2:  # the headers' size and length fields
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(2, 40))] = int(rng.choice([0, 0xFF, 0x7F, 0x80]))
    elif kind == 3:  # bytes inserted
        at = int(rng.integers(len(b)))
        b[at:at] = rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
    elif kind == 4:  # the signature, then junk
        b = b[:8] + bytearray(rng.integers(0, 256, int(rng.integers(0, 300)),
                                           dtype=np.uint8).tobytes())
    else:  # a stretch repeated
        i, j = sorted(int(v) for v in rng.integers(0, len(b), 2))
        b = b[:j] + b[i:j] + b[j:]
    return bytes(b)


def test_random_damaged_jpeg_and_png_frames_decode_or_are_counted():
    rng = np.random.default_rng(20260602)
    corpus = camera_corpus()
    formats = ['jpeg', 'png', 'rgb8; jpeg compressed bgr8', 'bgr8; png compressed bgr8', '',
               ';', '16UC1; png compressed ', 'compressedDepth png', 'x' * 3000]
    outcomes = {True: 0, False: 0}
    for _ in range(300):
        name = str(rng.choice(list(corpus)))
        msg = CompressedImage(format=str(rng.choice(formats)))
        msg.data = mutate(corpus[name], rng) if rng.random() < 0.85 else corpus[name]
        outcomes[receive_and_decode(msg) is not None] += 1
    assert outcomes[True] > 20 and outcomes[False] > 20, outcomes


SPECIAL = [math.nan, math.inf, -math.inf, 1e300, -1e300, 3.5e38, 5e-324, 0.0, -0.0]
JOINT_NAMES = ['j0', 'j1', 'g', '', 'J0', 'j0 ', 'a/j0', '\x00', 'x' * 500]


def value(rng: np.random.Generator) -> float:
    return float(rng.choice(SPECIAL)) if rng.random() < 0.4 else float(rng.normal() * 100)


def test_random_joint_states_convert_or_are_counted():
    rng = np.random.default_rng(20260603)
    kinds = set()
    for _ in range(600):
        n = int(rng.integers(0, 6))
        msg = JointState(name=[str(rng.choice(JOINT_NAMES)) for _ in range(n)])
        for field in ('position', 'velocity', 'effort'):
            m = max(0, n + int(rng.choice([0, 0, 0, -1, 1]))) if rng.random() < 0.8 else 0
            setattr(msg, field, [value(rng) for _ in range(m)])
        msg.header.stamp = Time(sec=int(rng.integers(-2**31, 2**31)),
                                nanosec=int(rng.integers(0, 2**32)))
        field = str(rng.choice(['position', 'velocity', 'effort'])) if rng.random() < 0.7 \
            else [str(rng.choice(['position', 'velocity'])) for _ in range(2)]
        try:
            values, measured = cv.joint_state_inputs(msg, ['j0', 'j1'], field, ['j0', 'g'])
        except BadInput as exc:
            kinds.add(exc.kind)
            if isinstance(exc, cv.PartialJointState) and exc.measured is not None:
                assert exc.measured.shape == (2,)
            continue
        if values is not None:
            assert values.dtype == np.float32 and values.shape == (2,)
            assert np.isfinite(values).all()
        if measured is not None:  # NaN (not measured) or a float32-sized finite value
            assert measured.shape == (2,)
            finite = measured[~np.isnan(measured)]
            assert np.isfinite(finite).all() and (np.abs(finite) <= 3.5e38).all()
        assert isinstance(cv.time_to_ns(msg.header.stamp), int)
    assert {'joint_duplicate', 'joint_size', 'joint_unknown'} <= kinds, kinds


POSE_FIELDS = [['x', 'y', 'z', 'yaw'], ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'],
               ['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r21'], ['x', 'y']]


def test_random_poses_convert_or_are_counted():
    rng = np.random.default_rng(20260604)
    kinds = set()
    for _ in range(600):
        msg = PoseStamped()
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = value(rng), value(rng), value(rng)
        q.x, q.y, q.z, q.w = (0.0,) * 4 if rng.random() < 0.15 else \
            (value(rng), value(rng), value(rng), value(rng))
        msg.header.frame_id = str(rng.choice(['world', '', 'base']))
        fields = POSE_FIELDS[int(rng.integers(len(POSE_FIELDS)))]
        try:
            with np.errstate(all='ignore'):
                values, measured = cv.pose_inputs(msg, fields, -math.pi, ['x', 'y'],
                                                  str(rng.choice(['', 'world'])))
        except BadInput as exc:
            kinds.add(exc.kind)
            continue
        assert values.dtype == np.float32 and np.isfinite(values).all()
        assert measured is not None and measured.shape == (2,)
    assert {'pose_frame', 'pose_orientation', 'non_finite', 'float32_overflow'} <= kinds, kinds


def test_random_episode_starts_parse_or_are_refused():
    rng = np.random.default_rng(20260605)
    texts = ['[' * 5000, '[' * 2000 + ']' * 2000, '{"seed": 1, "start_ns": 1' + '9' * 4000 + '}',
             '{"seed": NaN, "start_ns": 1}', '{"seed": 1, "start_ns": Infinity}',
             '{"seed": 1e999, "start_ns": 1}', '{"seed": "1_0", "start_ns": " 12 "}',
             '{"seed": true, "start_ns": false, "episode": [1, {"a": null}]}',
             '{"seed": 1, "start_ns": 1, "episode": ' + '9' * 3000 + '}',
             '{"seed": 1, "start_ns": 1, "episode": "' + 'e' * 3000 + '"}', '', 'null', '3',
             '"seed"', '{"seed": 1}', '{"seed": -1, "start_ns": 1}',
             '{"seed": 1, "start_ns": 9223372036854775808}', '\udcff', '{"seed": 1, '
             '"start_ns": 1, "seed": "x"}']
    for _ in range(300):
        obj = {'episode': int(rng.integers(0, 10)), 'seed': int(rng.integers(-5, 2**40)),
               'start_ns': int(rng.integers(-5, 2**62))}
        text = json.dumps(obj)
        texts.append(text[:int(rng.integers(0, len(text) + 1))])
    for text in texts:
        try:
            episode = pl.parse_episode_start(text)
        except ValueError as exc:
            assert type(exc) is ValueError  # what the callback counts (a subclass too)
            continue
        assert 0 <= episode.seed <= pl.MAX_SEED and 0 <= episode.start_ns < 2**63
        assert len(str(episode.episode)) <= pl.EPISODE_NAME_CHARS + 100
        f'{episode.episode} {episode.seed} {episode.start_ns / 1e9:.3f}'  # the node's log line


# --- findings -------------------------------------------------------------------------------

def tiff_of_zeros(width: int, height: int) -> bytes:
    """An 8-bit grey TIFF, one deflate strip of zeros: ~100 kB per 100 M pixels."""
    deflate = zlib.compressobj(9)
    row = b'\0' * width
    strip = b''.join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    data_at = 8 + 2 + 12 * len(entries) + 4
    out = bytearray(b'II*\0' + struct.pack('<I', 8) + struct.pack('<H', len(entries)))
    for tag, kind, val in entries:
        val = data_at if tag == 273 else val
        out += (struct.pack('<HHIHH', tag, kind, 1, val, 0) if kind == 3
                else struct.pack('<HHII', tag, kind, 1, val))
    return bytes(out + struct.pack('<I', 0) + strip)


def test_a_small_tiff_declaring_more_than_max_pixels_is_refused_undecoded():
    side = 8200  # 67.2 M pixels, just over MAX_PIXELS (67.1 M)
    assert side * side > MAX_PIXELS
    msg = CompressedImage(format='jpeg')
    msg.data = tiff_of_zeros(side, side)
    assert len(msg.data) < 100_000
    for step in (cv.check_camera_message, cv.camera_rgb):  # on receipt, and if decoded
        with pytest.raises(BadInput, match='declares 8200 x 8200 pixels'):
            step(msg)
    msg.data = tiff_of_zeros(64, 48)  # a TIFF of a camera's size is taken
    cv.check_camera_message(msg)
    assert cv.camera_rgb(msg).shape == (48, 64, 3)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A baseline or progressive JPEG split into its marker segments (a scan with its data)."""
    segments, i = [], 2
    while data[i + 1] != 0xD9:
        marker = data[i + 1]
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], 'big')
        if marker == 0xDA:  # entropy-coded data up to the next marker (not RSTn, not 0xFF00)
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
        segments.append((marker, data[i:end]))
        i = end
    return segments


def progressive_jpeg_with_repeated_scan(side: int, repeats: int) -> bytes:
    ok, encoded = cv2.imencode('.jpg', np.full((side, side, 3), 128, np.uint8),
                               [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    segments = jpeg_segments(encoded.tobytes())
    last_scan = [seg for marker, seg in segments if marker == 0xDA][-1]
    return (b'\xff\xd8' + b''.join(seg for _, seg in segments) + last_scan * repeats
            + b'\xff\xd9')


def test_a_progressive_jpeg_of_a_thousand_scans_is_refused():
    msg = CompressedImage(format='jpeg')
    msg.data = progressive_jpeg_with_repeated_scan(128, 1000)
    assert len(msg.data) < 20_000
    for step in (cv.check_camera_message, cv.camera_rgb):  # on receipt, and if decoded
        with pytest.raises(BadInput, match='1010 JPEG scans'):
            step(msg)


def test_a_bmp_past_opencvs_limits_is_bad_input():
    """cv2.imdecode raised cv2.error (no ValueError) for this BMP's header (2^21 rows), out of
    camera_rgb's contract; a BMP is now refused before decoding (no transport writes one)."""
    ok, encoded = cv2.imencode('.bmp', np.zeros((2, 2, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    data[22:26] = struct.pack('<i', 1 << 21)  # biHeight
    msg = CompressedImage(format='jpeg')
    msg.data = bytes(data)
    for step in (cv.check_camera_message, cv.camera_rgb):
        with pytest.raises(BadInput, match='no JPEG, PNG or TIFF'):
            step(msg)


def test_a_negative_clock_message_is_skipped_and_counted():
    """rclpy's TimeSource.clock_callback raised ValueError for a /clock message of negative
    seconds, out of the executor: a use_sim_time node ended (seen with a real node process).
    run_node installs dp_ros.ros.clock_guard first: such a message is skipped and counted, the
    clock keeps its time, and the next good message sets it."""
    from rclpy.clock import Clock as RosClock
    from rclpy.clock import ClockType
    from rclpy.time_source import TimeSource
    from rosgraph_msgs.msg import Clock

    from dp_ros.ros import clock_guard

    clock_guard.install()
    clock_guard.install()  # once per process: a second call wraps nothing again
    source, clock = TimeSource(), RosClock(clock_type=ClockType.ROS_TIME)
    source.attach_clock(clock)
    source.ros_time_is_active = True
    source.clock_callback(Clock(clock=Time(sec=5, nanosec=7)))
    before = clock_guard.skipped_clock_messages()
    source.clock_callback(Clock(clock=Time(sec=-1, nanosec=0)))
    assert clock_guard.skipped_clock_messages() == before + 1
    assert clock.now().nanoseconds == 5_000_000_007
    source.clock_callback(Clock(clock=Time(sec=6, nanosec=0)))
    assert clock.now().nanoseconds == 6_000_000_000


def test_a_quaternion_too_large_to_square_is_refused_not_read_as_the_identity():
    """|q| past ~1.3e154 passed decode_pose's norm check (inf > 1e-6), then normalizing by an
    infinite norm read the rotation as the identity (r11 +1 for a half turn about x): now
    refused as pose_orientation; one just short of it is normalized as any other."""
    fields = POSE_FIELDS[2]
    msg = PoseStamped()
    q = msg.pose.orientation
    q.x, q.y, q.z, q.w = 1e200, 0.0, 0.0, 0.0  # 180 degrees about x: r11 = r22 = -1
    with pytest.raises(BadInput, match='too long to normalize') as info:
        cv.pose_inputs(msg, fields, -math.pi, ['x'])
    assert info.value.kind == 'pose_orientation'
    q.x = 1e150
    values, _ = cv.pose_inputs(msg, fields, -math.pi, ['x'])
    by_field = dict(zip(fields, values.tolist(), strict=True))
    assert by_field['r11'] == pytest.approx(-1.0)
