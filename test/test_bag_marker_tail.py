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


def _bag(path, n, positions, ends_after=()):
    """n steps at 10 Hz: a camera frame and a JointState of joints j1.. (positions(k): their
    values at step k), and an end marker 50 ms after each step in `ends_after`."""
    with BagRecorder(path) as rec:
        ts = rec.typestore
        for k in range(n):
            t = T0 + k * PERIOD
            values = np.asarray(positions(k), dtype=float)
            rec.write('/cam/image_raw', 'sensor_msgs/msg/Image', t + 1000,
                      image_message(ts, np.full((8, 8, 3), k, np.uint8), t))
            rec.write('/joint_states', 'sensor_msgs/msg/JointState', t + 2000,
                      joint_state_message(ts, [f'j{i + 1}' for i in range(len(values))],
                                          values, t))
            if k in ends_after:
                rec.write('/marker', 'std_msgs/msg/String', t + 50_000_000,
                          ts.types['std_msgs/msg/String'](data='done'))
    return path


def test_steps_after_the_last_end_marker_are_reported(tmp_path):
    # two demonstrations ended; the third (k 20..29) never was
    bag = _bag(tmp_path / 'bag', 30, lambda k: [k], ends_after=(9, 19))
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
    bag = _bag(tmp_path / 'bag', 10, lambda k: [np.nan if k in (3, 4) else k, 0.0])
    config = config_from_dict({
        'control_period_s': 0.1, 'image_dtype': 'uint8',
        'keys': {'img': {'image': '/cam/image_raw'},
                 'state': {'joint_state': '/joint_states', 'joints': ['j1', 'j2']}}})
    reports = []
    bag2zarr.convert([bag], config, tmp_path / 'out.zarr', progress=False, reports=reports)
    assert [n for n in reports[0].notes if 'NaN' in n] == [
        'state: 2 NaN or infinite value(s), converted as recorded (`dp-ros train` refuses '
        'them, naming the episodes: exclude those or mend the source)']
