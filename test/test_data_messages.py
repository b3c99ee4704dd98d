"""Messages of the data path (found by exploratory testing): a camera of an encoding bag2zarr
cannot read (rgb16) is refused naming the encodings a camera may have (the list of every
image encoding it named before held 16UC1, mono16 and 32FC1, which a camera is refused for
too); `dp-ros inspect BAG --draft-config` on a bag without topics says so (its sentence
stopped at "found")."""
from __future__ import annotations

import numpy as np
import yaml

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from dp_ros.errors import UserError
from training import bag2zarr
from training.inspect_dataset import main as inspect_main

T0 = 1_700_000_000_000_000_000


def test_an_unreadable_camera_encoding_lists_only_encodings_a_camera_may_have(tmp_path, capsys):
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for k in range(3):
            t = T0 + k * 100_000_000
            msg = image_message(ts, np.zeros((2, 2, 3), np.uint8), t)
            msg.encoding, msg.step = 'rgb16', 12
            msg.data = np.zeros(24, np.uint8)
            rec.write('/cam', 'sensor_msgs/msg/Image', t, msg)
            rec.write('/js', 'sensor_msgs/msg/JointState', t,
                      joint_state_message(ts, ['j1'], np.array([0.0]), t))
    cfg = tmp_path / 'cfg.yaml'
    cfg.write_text(yaml.safe_dump({'keys': {'img': {'image': '/cam'},
                                            'state': {'joint_state': '/js', 'joints': ['j1']}}}))
    assert bag2zarr.main([str(bag), '-c', str(cfg), '-o', str(tmp_path / 'o.zarr'),
                          '--no-progress']) == 2
    err = capsys.readouterr().err
    assert "'rgb16'" in err
    supported = err.split('supported', 1)[-1]
    assert not any(e in supported for e in ('16UC1', 'mono16', '32FC1')), err
    assert 'camera encodings: rgb8, bgr8, rgba8, bgra8, mono8' in err


def test_a_draft_from_a_bag_without_topics_says_so(tmp_path, capsys):
    bag = tmp_path / 'empty'
    with BagRecorder(bag):
        pass
    try:  # the cli (dp_ros/cli.py) prints a UserError as one line, exit 2
        inspect_main([str(bag), '--draft-config', str(tmp_path / 'draft.yaml'),
                      '--no-progress'])
        err = capsys.readouterr().err.strip()
    except UserError as exc:
        err = str(exc).strip()
    assert err, 'no error for a draft from a bag without topics'
    assert err.endswith('; the bags hold no topic'), err
