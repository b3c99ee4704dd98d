"""With `episodes.marker` (role end), the messages after the bag's last end marker (a last
demonstration whose marker was never sent) are not converted, and the bag's report says how
many (found by exploratory testing: they were dropped without a word, counted nowhere)."""
from __future__ import annotations

import numpy as np

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from training import bag2zarr
from training.bag2zarr_config import config_from_dict

T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000


def test_steps_after_the_last_end_marker_are_reported(tmp_path):
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for k in range(30):
            t = T0 + k * PERIOD
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + 2000,
                      joint_state_message(ts, ['j1'], np.array([float(k)]), t))
            if k in (9, 19):  # two demonstrations ended; the third (k 20..29) never was
                rec.write('/marker', 'std_msgs/msg/String', t + 50_000_000,
                          ts.types['std_msgs/msg/String'](data='done'))
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'episodes': {'marker': '/marker', 'marker_role': 'end'},
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1']}}})
    reports = []
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False, reports=reports)
    report = reports[0]
    assert report.episode_lengths == [10, 10]
    assert ('10 /cam/image_raw message(s) lie outside every episode the /marker markers '
            'bound' in bag2zarr.format_reports(reports))


def test_nan_joint_values_are_counted_in_the_bags_notes(tmp_path):
    """A JointState with NaN positions converts as recorded (training refuses it, naming the
    episode), and the bag's report says so, per key (found by exploratory testing: no word
    until training)."""
    bag = tmp_path / 'bag'
    with BagRecorder(bag) as rec:
        ts = rec.typestore
        for k in range(10):
            t = T0 + k * PERIOD
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            value = np.nan if k in (3, 4) else float(k)
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + 2000,
                      joint_state_message(ts, ['j1', 'j2'], np.array([value, 0.0]), t))
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1', 'j2']}}})
    reports = []
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False, reports=reports)
    assert [n for n in reports[0].notes if 'NaN' in n] == [
        'state: 2 NaN or infinite value(s), converted as recorded (`dp-ros train` refuses '
        'them, naming the episodes: exclude those or mend the source)']
