"""Each trajectory topic whose commands are all replaced before they fall due is named
(bag_episodes._never_due_notes).

Defect pinned (review AR3): a topic was skipped when any note already written CONTAINED its
name (a substring test), so /arm/cmd's note was left out once /arm/cmd_fast's was written.
Topics reported are now tracked by name.
"""
from __future__ import annotations

import numpy as np
import pytest
from bag_support import MS, T0

from dp_ros.bags.reader import BagError
from dp_ros.bags.recorder import (
    BagRecorder,
    image_message,
    joint_state_message,
    trajectory_message,
)
from training import bag2zarr
from training.bag2zarr_config import config_from_dict

TOPICS = ('/arm/cmd_fast', '/arm/cmd')  # the first's name contains the second's


def _bag(path, steps: int = 10) -> None:
    """10 Hz camera and joint states; every period a one-point command on each topic, due
    two periods later: each is replaced before it falls due."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for i in range(steps):
            t = T0 + i * 100 * MS
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + MS,
                      joint_state_message(ts, ['j1'], [i / 100], t))
            for topic in TOPICS:
                rec.write(topic, 'trajectory_msgs/msg/JointTrajectory', t + 2 * MS,
                          trajectory_message(ts, ['j1'], np.array([[10.0 * i]]), 0, 100 * MS,
                                             first_index=2))
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + 12 * MS,
                      image_message(ts, np.full((4, 4, 3), i, np.uint8), t + 7 * MS))


def test_a_topic_whose_name_is_inside_an_earlier_ones_is_named_too(tmp_path):
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1']},
                 'fast': {'joint_trajectory': TOPICS[0], 'joints': ['j1']},
                 'action': {'joint_trajectory': TOPICS[1], 'joints': ['j1']}}})
    bag = tmp_path / 'bag'
    _bag(bag)
    reports: list = []
    with pytest.raises(BagError, match='no episode survived'):
        bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False, reports=reports)
    notes = reports[0].notes
    for topic in TOPICS:
        assert sum(note.startswith(f"{topic}: each command's points") for note in notes) == 1, \
            notes
