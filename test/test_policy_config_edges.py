"""Edges of dp_ros/policy/config.py (PolicyConfig): each _validate bound just inside and just
outside, the shape_meta checks, the obs-type default, the small-crop warning threshold,
from_dict's copy and unknown keys, to_dict's JSON-able lists, small_cpu_config's sampler and
cartesian_io's one-state-key rule.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from support import small_image_config

from dp_ros.policy.config import PolicyConfig, jsonable, small_cpu_config


def _meta(obs: dict[str, Any] | None = None, action: dict[str, Any] | None = None) -> dict:
    return {'obs': obs if obs is not None else {'pos': {'shape': [2], 'type': 'low_dim'}},
            'action': action if action is not None else {'shape': [2]}}


def _low_dim(**overrides: Any) -> PolicyConfig:
    """A camera-free config: validation only, nothing is built."""
    params: dict[str, Any] = dict(shape_meta=_meta(), crop_shape=None, down_dims=(16, 32))
    params.update(overrides)
    return PolicyConfig(**params)


@pytest.mark.parametrize('overrides,match', [
    (dict(shape_meta=_meta(obs={})), 'shape_meta.obs is empty'),
    (dict(shape_meta=_meta(obs={'cam': {'shape': [4, 32, 32], 'type': 'rgb'}})),
     r'needs shape \[3, H, W\]'),
    (dict(shape_meta=_meta(obs={'pos': {'shape': [], 'type': 'low_dim'}})),
     r'needs shape \[D\]'),
    (dict(shape_meta=_meta(action={'shape': [2, 2]})), r'action shape must be \[Da\]'),
    (dict(color_jitter=(0.1, 0.1, 0.1, 0.51)), 'hue at most 0.5'),
    (dict(color_jitter=(float('inf'), 0.0, 0.0, 0.0)), 'must be 4 strengths'),
    (dict(color_jitter=(0.1, 0.1, 0.1)), 'must be 4 strengths'),
    (dict(sampler='euler'), "sampler 'euler' is not one of"),
    (dict(prediction_type='v_prediction'), "prediction_type 'v_prediction' not in"),
    (dict(n_obs_steps=0), 'both must be >= 1'),
    (dict(n_action_steps=0), 'both must be >= 1'),
    (dict(horizon=16, n_obs_steps=2, n_action_steps=16), 'too short'),
    (dict(horizon=10, down_dims=(16, 32, 64)), 'must be divisible by 4'),
    (dict(down_dims=(16, 36), n_groups=8), r'down_dims \[36\] not divisible by n_groups 8'),
    (dict(down_dims=(12, 24), n_groups=4), 'must be divisible by 8'),
    (dict(kernel_size=4), 'kernel_size 4 must be odd'),
    (dict(num_inference_steps=101), r'must be in 1\.\.100'),
    (dict(num_inference_steps=0), r'must be in 1\.\.100'),
    (dict(resnet_width=0.0), 'resnet_width 0.0 gives 0.0 base channels'),
    (dict(resnet_width=0.125), 'must be a positive multiple of 16'),
    # read with int() before: 16.5 channels became 16, a string a TypeError
    (dict(down_dims=(16, 32.5)), r'down_dims must be a list of whole numbers, got \(16, 32.5\)'),
    (dict(down_dims=('16', 32)), 'down_dims must be a list of whole numbers'),
    (dict(down_dims=64), 'down_dims must be a list of whole numbers'),
    (dict(crop_shape=(8.5, 8)), 'crop_shape must be a list of whole numbers'),
    (dict(crop_shape=(8, 8, 8)), r'crop_shape must be \[height, width\]'),
])
def test_each_bound_is_refused(overrides: dict, match: str):
    """One value just outside each _validate bound, with its message."""
    with pytest.raises(ValueError, match=match):
        _low_dim(**overrides)


@pytest.mark.parametrize('overrides', [
    dict(color_jitter=(0.0, 0.0, 0.0, 0.5)),
    dict(horizon=16, n_obs_steps=2, n_action_steps=15),
    dict(horizon=12, down_dims=(16, 32, 64)),
    dict(num_inference_steps=100),
    dict(num_inference_steps=1),
    dict(resnet_width=0.25),
    dict(n_obs_steps=1, n_action_steps=1),
])
def test_the_edge_values_themselves_are_accepted(overrides: dict):
    """Each bound's own value is valid."""
    _low_dim(**overrides)


def test_a_crop_as_large_as_a_non_square_frame_is_accepted():
    """crop_shape is (height, width): it may equal the frame, each side checked against its own."""
    meta = _meta(obs={'cam': {'shape': [3, 24, 40], 'type': 'rgb'}})
    assert PolicyConfig(shape_meta=meta, crop_shape=(24, 40), down_dims=(16, 32)).crop_shape \
        == (24, 40)
    with pytest.raises(ValueError, match='is larger than'):
        PolicyConfig(shape_meta=meta, crop_shape=(24, 41), down_dims=(16, 32))
    with pytest.raises(ValueError, match='is larger than'):
        PolicyConfig(shape_meta=meta, crop_shape=(25, 40), down_dims=(16, 32))


def test_an_obs_without_a_type_is_low_dim():
    """'type' defaults to low_dim, in validation and in low_dim_keys alike."""
    config = _low_dim(shape_meta=_meta(obs={'pos': {'shape': [3]}}))
    assert config.low_dim_keys == ['pos'] and config.rgb_keys == []


def test_a_crop_keeping_exactly_half_the_frame_does_not_warn():
    """The warning is for crops under half of the frame's area."""
    meta = _meta(obs={'cam': {'shape': [3, 32, 32], 'type': 'rgb'}})
    half = PolicyConfig(shape_meta=meta, crop_shape=(16, 32), down_dims=(16, 32))
    assert half.small_crop_warnings() == []
    less = PolicyConfig(shape_meta=meta, crop_shape=(16, 31), down_dims=(16, 32))
    assert len(less.small_crop_warnings()) == 1


def test_from_dict_copies_and_refuses_unknown_keys():
    """The config owns its shape_meta (a later change to the dict does not reach it)."""
    d = small_image_config().to_dict()
    config = PolicyConfig.from_dict(d)
    d['shape_meta']['obs']['agent_pos']['shape'][0] = 7
    assert config.obs_shape('agent_pos') == (2,)
    with pytest.raises(ValueError, match=r"unknown PolicyConfig keys \['lr'\]"):
        PolicyConfig.from_dict({**config.to_dict(), 'lr': 1e-4})


def test_to_dict_writes_lists_where_tuples_were_given():
    """Tuples anywhere in shape_meta come out as lists, equal to their JSON round trip."""
    meta = {'obs': {'pos': {'shape': (2,), 'type': 'low_dim'}}, 'action': {'shape': (2,)}}
    d = _low_dim(shape_meta=meta).to_dict()
    assert d['shape_meta']['obs']['pos']['shape'] == [2]
    assert json.loads(json.dumps(d)) == d
    assert jsonable({1: (1, (2,))}) == {'1': [1, [2]]}


def test_small_cpu_config_samples_ten_ddim_steps():
    """The CPU variant's defaults: DDIM, 10 steps, (64, 128, 256), half-width ResNet."""
    config = small_cpu_config()
    assert (config.sampler, config.num_inference_steps) == ('ddim', 10)
    assert config.down_dims == (64, 128, 256) and config.resnet_width == 0.5


def test_a_cartesian_policy_has_exactly_one_pose_state_key():
    """Two low-dim keys, even both pose fields, are no Cartesian policy's state."""
    pose = ['x', 'y', 'z', 'yaw']
    one = _low_dim(shape_meta=_meta(obs={'ee': {'shape': [4], 'names': pose}},
                                    action={'shape': [4], 'names': pose}))
    assert one.cartesian_io() == ('ee', pose, pose)
    two = _low_dim(shape_meta=_meta(obs={'ee': {'shape': [4], 'names': pose},
                                         'ee2': {'shape': [4], 'names': pose}},
                                    action={'shape': [4], 'names': pose}))
    with pytest.raises(ValueError, match="state is the end effector's pose"):
        two.cartesian_io()
    assert two.pose_io() is None
