"""A damaged JPEG frame in a bag (a camera driver that lost data: dp_ros/jpeg_decode.py) is
left out of the conversion as if it had not come, and said, instead of being decoded smeared
into the training set (as before) or refusing the bag: the steps it would have served take
the frame before it (as the node, which refuses such a frame, uses the frames it has).
`damaged_frames: refuse` in the config stops the conversion at such a frame instead.

The bag: a 30 Hz JPEG camera whose frames say their number, three of them cut short (their
end marker kept: OpenCV decodes each as a picture), and 100 Hz joint states the grid follows.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from test_bag2zarr import error_line, run

from dp_ros.bags.recorder import BagRecorder, joint_state_message
from training.replay_buffer import ReplayBuffer

MS = 10**6
T0 = 1_700_000_000 * 10**9
FRAMES = 60  # 2 s at 30 Hz
DAMAGED = (9, 30, 45)  # each the frame at a grid step (every third)
EOI = b'\xff\xd9'


def picture(k: int) -> np.ndarray:
    """Frame k: smooth noise of its own (a JPEG of some kB), its number in the first pixel."""
    noise = np.random.default_rng(k).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (9, 9), 3)
    image[:8, :8] = k
    return image


def jpeg(k: int) -> bytes:
    ok, encoded = cv2.imencode('.jpg', picture(k)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    return data[:len(data) // 2] + EOI if k in DAMAGED else data


def decoded(k: int) -> np.ndarray:
    """Frame k as a whole JPEG decodes (OpenCV's pixels)."""
    ok, encoded = cv2.imencode('.jpg', picture(k)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)[..., ::-1]


def write_bag_and_config(tmp_path, **options) -> Path:
    """The bag (tmp_path / 'bag') and a config for it with `options`: the config's path."""
    with BagRecorder(tmp_path / 'bag') as rec:
        ts = rec.typestore
        for k in range(FRAMES):
            t = T0 + k * 100 * MS // 3
            rec.write('/cam/compressed', 'sensor_msgs/msg/CompressedImage', t + 2 * MS,
                      ts.types['sensor_msgs/msg/CompressedImage'](
                          header=ts.types['std_msgs/msg/Header'](
                              stamp=ts.types['builtin_interfaces/msg/Time'](
                                  sec=t // 10**9, nanosec=t % 10**9), frame_id='cam'),
                          format='jpeg', data=np.frombuffer(jpeg(k), np.uint8)))
        for j in range(FRAMES * 10 // 3):
            t = T0 + j * 10 * MS
            rec.write('/js', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], np.array([float(j)]), t))
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({
        'control_period_s': 0.1, 'reference_topic': '/js', 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/compressed', 'tolerance': 0.05},
                 'state': {'joint_state': '/js', 'joints': ['j1']}}, **options}))
    return config


def test_damaged_frames_are_left_out_and_said(tmp_path, capsys):
    config = write_bag_and_config(tmp_path)
    assert run([tmp_path / 'bag'], config, tmp_path / 'out.zarr') == 0
    out = capsys.readouterr().out
    assert ('/cam/compressed: 3 damaged JPEG frame(s) left out (messages 9, 30, 45; the first: '
            "compressed image (format 'jpeg',") in out, out
    assert 'is damaged: Corrupt JPEG data: premature end of data segment' in out
    store = ReplayBuffer.open(tmp_path / 'out.zarr')
    frames, states = store['img'][:], store['state'][:, 0]
    assert len(frames) >= 15
    for frame, state in zip(frames, states, strict=True):
        k = int(round(state)) * 3 // 10  # the camera frame at this step's time
        expected = k - 1 if k in DAMAGED else k  # a damaged one: the frame before it
        assert np.array_equal(frame, decoded(expected)), (state, k)


def test_damaged_frames_refuse_stops_the_conversion_naming_the_frame(tmp_path, capsys):
    """`damaged_frames: refuse`: the first damaged frame stops the conversion in one line that
    names the bag, topic, message and setting; no store is left behind."""
    config = write_bag_and_config(tmp_path, damaged_frames='refuse')
    assert run([tmp_path / 'bag'], config, tmp_path / 'out.zarr') != 0
    line = error_line(capsys)
    assert 'message 9 of /cam/compressed cannot be converted' in line, line
    assert 'Corrupt JPEG data: premature end of data segment' in line, line
    assert 'damaged_frames: refuse; leave_out converts the bag without such frames' in line
    assert not (tmp_path / 'out.zarr').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag', 'config.yaml']
