"""`dp-ros inspect BAGS --draft-config` on what a real robot records beside its arm: a mobile
base's wheel driver publishing velocities only (position empty) on the arm's /joint_states,
a RealSense's depth stream (16UC1) beside its colour stream, a usb_cam left at its default
yuv422_yuy2. The draft is "a first config" that bag2zarr converts. Pinned: it reads the
wheels' velocity (field: velocity), not positions no message has, leaves out, in a
comment, an image stream bag2zarr refuses as a camera (never an image key nor the
reference topic), and takes the YUV camera as one.
"""
from __future__ import annotations

import numpy as np
from bag_support import MS, NS, T0

from dp_ros.bags.recorder import (
    BagRecorder,
    compressed_image_message,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training import bag2zarr
from training.bag2zarr_config import load_config
from training.inspect_dataset import main as inspect


def _image(ts, t, encoding, step, data):
    return ts.types['sensor_msgs/msg/Image'](
        header=ts.types['std_msgs/msg/Header'](
            stamp=ts.types['builtin_interfaces/msg/Time'](sec=t // NS, nanosec=t % NS),
            frame_id='cam'),
        height=4, width=4, encoding=encoding, is_bigendian=0, step=step, data=data)


def _robot_bag(path, wheels: bool = False, depth: bool = False, yuv: bool = False,
               wide: bool = False) -> None:
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(30):  # 2 s ... 3 s of a 10 Hz camera, 100 Hz joints, 10 Hz commands
            t = T0 + i * 100 * MS
            rec.write('/cam/color/image_raw', 'sensor_msgs/msg/Image', t + 5 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t))
            if depth:
                rec.write('/cam/depth/image_rect_raw', 'sensor_msgs/msg/Image', t + 6 * MS,
                          _image(ts, t, '16UC1', 8, np.full(32, 7, np.uint8)))
            if wide:  # a 16:9 JPEG camera (720p's shape, small)
                rec.write('/front/image_raw/compressed', 'sensor_msgs/msg/CompressedImage',
                          t + 8 * MS, compressed_image_message(
                              ts, np.full((36, 64, 3), i, np.uint8), t, fmt='jpeg'))
            if yuv:
                rec.write('/usb_cam/image_raw', 'sensor_msgs/msg/Image', t + 7 * MS,
                          _image(ts, t, 'yuv422_yuy2', 8, np.full(32, 7, np.uint8)))
            rec.write('/arm_controller/joint_trajectory', 'trajectory_msgs/msg/JointTrajectory',
                      t + 2 * MS, trajectory_message(ts, ['j1', 'j2'], np.full((1, 2), i / 10),
                                                     t, 100 * MS))
            for k in range(10):
                tj = t + k * 10 * MS
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', tj + MS,
                          joint_state_message(ts, ['j1', 'j2'], [tj / NS, 1.0], tj))
                if wheels and k % 2 == 0:
                    rec.write('/joint_states', 'sensor_msgs/msg/JointState', tj + MS + 1,
                              joint_state_message(ts, ['wheel_l', 'wheel_r'], np.zeros(0),
                                                  tj, velocity=np.array([0.5, -0.5])))


def _draft_and_convert(tmp_path, capsys, **kind):
    _robot_bag(tmp_path / 'bags' / 'demo', **kind)
    draft = tmp_path / 'draft.yaml'
    assert inspect([str(tmp_path / 'bags'), '--draft-config', str(draft), '--no-progress']) == 0
    capsys.readouterr()
    summary = bag2zarr.convert([tmp_path / 'bags'], load_config(draft), tmp_path / 'out.zarr',
                               progress=False)
    return summary, draft.read_text()


def test_a_draft_of_a_bag_with_a_velocity_only_driver_converts(tmp_path, capsys):
    """The wheels' messages hold velocities and no positions: the draft reads their velocity
    (field: velocity) or leaves them out, not their positions, which no message has."""
    summary, draft = _draft_and_convert(tmp_path, capsys, wheels=True)
    assert summary.total_steps > 0
    assert ('      joints: ["wheel_l", "wheel_r"]\n'
            '      field: velocity   # its messages give no positions\n') in draft
    assert list(summary.keys['state'][0]) == [4]  # j1, j2 positions, both wheels' velocities


def test_a_draft_of_a_bag_with_a_depth_stream_converts(tmp_path, capsys):
    """A 16UC1 depth image is no RGB camera (bag2zarr refuses it as one): the draft leaves it
    out (or comments it), and does not make it an image key."""
    summary, draft = _draft_and_convert(tmp_path, capsys, depth=True)
    assert summary.total_steps > 0
    assert '  # "/cam/depth/image_rect_raw" left out: 16UC1 is no camera image' in draft
    assert set(summary.keys) == {'img', 'state', 'action'}


def test_a_yuv_camera_is_an_image_key(tmp_path, capsys):
    """usb_cam's default yuv422_yuy2 beside the colour camera: a camera bag2zarr reads
    (decoded to RGB as cv_bridge does), so an image key, not left out."""
    summary, draft = _draft_and_convert(tmp_path, capsys, yuv=True)
    assert summary.total_steps > 0
    assert 'left out' not in draft
    assert 'damaged_frames' not in draft  # no compressed camera
    assert '    image: "/usb_cam/image_raw"   # 4x4 yuv422_yuy2, 10.0 Hz' in draft
    assert len(summary.keys) == 4  # both cameras, state, action


def test_a_wide_camera_is_drafted_with_its_size_and_what_a_square_shape_cuts(tmp_path, capsys):
    """A 16:9 camera under the draft's shape [96, 96] keeps only its centre square (image_fit
    crops to the shape's aspect): the draft says so and gives the shape that keeps the whole
    frame; a compressed camera's size comes from its JPEG header."""
    summary, draft = _draft_and_convert(tmp_path, capsys, wide=True)
    assert summary.total_steps > 0
    assert '    image: "/front/image_raw/compressed"   # 64x36 jpeg' in draft
    # a JPEG camera: the draft names what a damaged frame does (and the draft converts)
    assert '\ndamaged_frames: leave_out ' in draft
    assert ('    # 64x36: [96, 96] keeps the centre 36x36 of it (the rest cut); shape: '
            '[96, 171] keeps the whole frame') in draft
    assert '# 4x4 rgb8' in draft and '# 4x4: [96, 96]' not in draft  # square: no note
