"""The measured state against the policy's training range (runtime/state_range.py): a state
more than one whole training range beyond [min, max] (normalized |x| > 3) is far, e.g. a
policy trained in degrees fed a ros2_control driver's radians; dimensions constant in
training, those the normalizer leaves as they are, and policies without stats are not judged."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.state_range import (
    FAR_NORMALIZED,
    FarValue,
    far_state_warning,
    state_range,
)


def limits_entry(low: list[float], high: list[float], identity: tuple[int, ...] = ()) -> dict:
    """A 'limits' field as Normalizer.to_dict writes it (ranges below 1e-4 only shifted)."""
    low_a, high_a = np.asarray(low, float), np.asarray(high, float)
    span = high_a - low_a
    ignore = span < 1e-4
    scale = np.where(ignore, 1.0, 2.0 / np.where(ignore, 1.0, span))
    offset = np.where(ignore, -low_a, -1.0 - scale * low_a)
    for i in identity:
        scale[i], offset[i] = 1.0, 0.0
    return {'kind': 'limits', 'scale': scale.tolist(), 'offset': offset.tolist(),
            'min': list(low), 'max': list(high)}


def normalizer(**fields: dict) -> dict:
    return {'version': 1, 'mode': 'limits', 'range_eps': 1e-4, 'fields': fields}


SO100 = normalizer(joint_pos=limits_entry([-30, 10, -60, 45, -20, 0], [30, 50, -20, 75, 20, 45]))
NAMES = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']


def test_radians_fed_to_a_policy_trained_in_degrees_are_named_with_value_and_range():
    rng = state_range(SO100, ['joint_pos'], [6], NAMES)
    far = rng.far(np.array([-0.35, 0.52, -0.70, 1.05, 0.17, 0.087]))
    # shoulder_lift 0.52 is 9.5 below 10..50: under one range (40) out; the rest are within
    # one range of theirs too, except wrist_flex: 1.05 is 44 below 45..75 (range 30)
    assert [v.name for v in far] == ['wrist_flex']
    assert far[0] == FarValue('wrist_flex', 1.05, 45.0, 75.0)
    text = far_state_warning(far)
    assert 'wrist_flex 1.05 (trained 45..75)' in text
    assert 'degrees vs radians' in text and 'another joint' in text


def test_the_limit_is_one_whole_range_beyond_either_end():
    rng = state_range(normalizer(s=limits_entry([0.0], [10.0])), ['s'], [1], ['j'])
    assert FAR_NORMALIZED == 3.0
    assert not rng.far(np.array([19.99])) and not rng.far(np.array([-9.99]))
    assert rng.far(np.array([20.01])) and rng.far(np.array([-10.01]))
    assert not rng.far(np.array([np.nan]))  # nothing to judge


def test_constant_and_identity_dimensions_are_not_judged():
    entry = limits_entry([1.0, 0.9, 0.0], [1.0, 1.0, 1.0], identity=(1,))
    rng = state_range(normalizer(s=entry), ['s'], [3], ['fixed', 'qw', 'x'])
    # 'fixed' constant in training; 'qw' left as it is (a quaternion's sign may flip)
    assert [v.name for v in rng.far(np.array([50.0, -0.95, 0.5]))] == []
    assert [v.name for v in rng.far(np.array([50.0, -0.95, 5.0]))] == ['x']


def test_two_keys_are_judged_in_order_on_the_newest_sample():
    norm = normalizer(a=limits_entry([0, 0], [1, 1]), b=limits_entry([0], [1]))
    rng = state_range(norm, ['a', 'b'], [2, 1], ['a0', 'a1', 'b0'])
    values = {'a': [np.array([99.0, 99.0]), np.array([0.5, 0.5])],
              'b': [np.array([0.5]), np.array([-7.0])], 'image': [None, None]}
    assert [v.name for v in rng.far_newest(values)] == ['b0']
    with pytest.raises(ValueError, match='3'):
        rng.far(np.zeros(2))


@pytest.mark.parametrize('norm', [
    {}, {'fields': {}}, normalizer(s={'kind': 'image', 'scale': [2.0], 'offset': [-1.0]}),
    normalizer(s={'kind': 'limits', 'scale': [1.0], 'offset': [0.0]}),  # no min/max stats
    normalizer(s=limits_entry([0, 0], [1, 1])),  # another size than the key's
])
def test_without_usable_stats_nothing_is_judged(norm):
    assert state_range(norm, ['s'], [1], ['j']) is None
