"""Two keys whose names differ only by '.' and '_' would share one normalizer entry.

Pinned (a review's run): low-dim keys 'a.b' and 'a_b' trained without a word, 'a.b' saved
with 'a_b''s scale and offset (its values 1e5 times too large at the node); a camera 'a.b'
beside a low-dim 'a_b' gave the low-dim key the image's affine. The normalizer names its
buffers with '.' written '_' (torch refuses '.'); such keys are now refused by the config
before anything loads, and by the normalizer itself.
"""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.policy.config import PolicyConfig, pusht_shape_meta
from dp_ros.policy.normalizer import Normalizer


def _meta(**extra_obs):
    meta = pusht_shape_meta()
    meta['obs'].update(extra_obs)
    return meta


@pytest.mark.parametrize('obs', [
    {'a.b': {'shape': [2], 'type': 'low_dim'}, 'a_b': {'shape': [2], 'type': 'low_dim'}},
    {'a.b': {'shape': [3, 96, 96], 'type': 'rgb'}, 'a_b': {'shape': [1], 'type': 'low_dim'}},
])
def test_keys_sharing_a_normalizer_entry_are_refused_by_the_config(obs):
    with pytest.raises(ValueError, match=r"would share the normalizer's entry 'a_b'"):
        PolicyConfig(shape_meta=_meta(**obs))


def test_the_normalizer_refuses_a_second_key_of_the_same_entry():
    data = {'a.b': np.arange(4.0).reshape(2, 2), 'a_b': 1e5 * np.arange(4.0).reshape(2, 2)}
    with pytest.raises(ValueError, match="keys 'a.b' and 'a_b' would share one entry"):
        Normalizer.from_data(data)
    with pytest.raises(ValueError, match="keys 'a.b' and 'a_b' would share one entry"):
        Normalizer.from_data({'a.b': data['a.b']}, image_keys=['a_b'])
