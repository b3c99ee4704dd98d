"""`dp-ros inspect DATASET`'s "never changes" check follows the normalizer's own rule: a
dimension whose range is below the normalizer's RANGE_EPS gets no range to normalize (it is
only shifted), so the policy learns nothing from it and it is named as constant; its float
noise is not reported as a jump of most of its range."""
from __future__ import annotations

import numpy as np
from test_inspect_dataset import write_store

from dp_ros.policy.normalizer import RANGE_EPS, Normalizer
from training.inspect_dataset import summarize


def store_with_a_noisy_constant(tmp_path):
    """Two episodes: action[0] moves 0..1, action[1] is 0.5 with float32-level noise,
    action[2] rises by twice RANGE_EPS (a small range the normalizer does scale)."""
    rng = np.random.default_rng(0)
    episodes = []
    for n in (20, 20):
        action = np.stack([np.linspace(0, 1, n), 0.5 + rng.normal(0, 1e-6, n),
                           np.linspace(0, 2 * RANGE_EPS, n)], 1)
        episodes.append({'action': action.astype(np.float32),
                         'state': action.astype(np.float32)})
    return write_store(tmp_path / 'd.zarr', episodes)


def test_a_dimension_the_normalizer_leaves_unscaled_is_named_constant(tmp_path):
    """A range under RANGE_EPS is 'never changes' for inspect, as it is for the normalizer;
    a range above it is not."""
    buffer = store_with_a_noisy_constant(tmp_path)
    action = np.asarray(buffer.data['action'][:])
    span = action.max(0) - action.min(0)
    assert 0 < span[1] < RANGE_EPS < span[2]
    scale = Normalizer.from_data({'action': action}).to_dict()['fields']['action']['scale']
    assert scale[1] == 1.0 and scale[2] != 1.0  # only shifted / scaled
    s = summarize(buffer)
    action_summary = next(k for k in s.keys if k.key == 'action')
    assert action_summary.constant_dims == [1], s.warnings
    assert any(w.startswith('action: dimension(s) [1] never change') for w in s.warnings)


def test_float_noise_on_a_constant_dimension_is_no_action_jump(tmp_path):
    """Micro-noise is not reported as 'jumps by N% of its range in one step'."""
    s = summarize(store_with_a_noisy_constant(tmp_path))
    assert not [w for w in s.warnings if 'jumps by' in w], s.warnings
