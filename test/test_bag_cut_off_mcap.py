"""`ros2 bag record -s mcap` killed (power cut, a second Ctrl-C, the robot PC's OOM killer)
leaves an .mcap that stops mid-chunk, without its summary and footer. Its messages up to there
are readable (`mcap recover` rescues them). Pinned: the one-line error names the file as cut
off and gives the way out, not only rosbags' "File end magic is invalid"; nothing is
written.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from bag_support import CAMERA_JOINTS_CONFIG, MS, T0

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict


def test_a_cut_off_mcap_is_named_as_cut_off(tmp_path):
    """The error names the file, the cause (cut off) and the way out (mcap recover)."""
    bag = tmp_path / 'demo'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for i in range(30):
            t = T0 + i * 100 * MS
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + MS,
                      image_message(ts, np.full((8, 8, 3), i, np.uint8), t))
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [i], t))
    (mcap,) = bag.glob('*.mcap')
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) * 6 // 10])
    config = config_from_dict(CAMERA_JOINTS_CONFIG)
    with pytest.raises(BagError) as err:
        bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False)
    assert re.search(rf'{mcap.name} is cut off \(truncated: no mcap end magic.*`mcap recover '
                     rf'{mcap} -o ', str(err.value)), str(err.value)
    assert '\n' not in str(err.value)
    assert not (tmp_path / 'out.zarr').exists()
