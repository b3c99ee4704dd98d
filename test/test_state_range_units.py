"""A policy trained on a LeRobot so100/koch dataset's '.pos' values (degrees or motor units,
the gripper 0..100) fed a ros2_control driver's radians: the far-outside hint, which needs a
value a whole training range out, misses radians near 0 inside a degree range (a review
drove the node so and nothing was said). The node now warns at start where a '.pos' range is
wider than any joint's in radians."""
from __future__ import annotations

import numpy as np

from dp_ros.runtime.state_range import RADIAN_SPAN, StateRange, unit_warning

NAMES = ['shoulder_pan.pos', 'elbow_flex.pos', 'gripper.pos']


def trained(low, high) -> StateRange:
    low, high = np.asarray(low, float), np.asarray(high, float)
    scale = 2 / (high - low)
    return StateRange(('state',), (len(low),), ('shoulder_pan', 'elbow_flex', 'gripper'),
                      low, high, scale, -1 - low * scale, np.ones(len(low), bool))


def test_degree_ranges_of_lerobot_pos_values_are_warned_at_start():
    rng = trained([-30, -40, 10], [30, 45, 90])
    warning = unit_warning(rng, NAMES, lerobot=True)
    assert warning is not None
    assert 'shoulder_pan.pos -30..30' in warning and 'gripper.pos 10..90' in warning
    assert 'radians' in warning
    # radians fed to it sit inside the ranges: the far-outside hint says nothing
    assert rng.far(np.array([0.2, -0.3, 1.07])) == []


def test_no_warning_for_radian_ranges_other_names_or_data_with_sources():
    assert RADIAN_SPAN > 12
    assert unit_warning(trained([-3, -2, 0], [3, 2, 0.8]), NAMES, lerobot=True) is None
    wide = trained([-30, -40, 10], [30, 45, 90])
    assert unit_warning(wide, ['j1', 'j2', 'j3'], lerobot=True) is None  # no '.pos' names
    assert unit_warning(wide, NAMES, lerobot=False) is None  # bag2zarr data: the driver's
    assert unit_warning(None, NAMES, lerobot=True) is None
