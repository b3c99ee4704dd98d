"""Behaviour of the policy's config and model that their own tests left unpinned (a mutation
review of dp_ros/policy/config.py and dp_ros/policy/diffusion.py).

Pinned for PolicyConfig: which whole numbers down_dims takes (16.0 yes, True no), colour
jitter strengths kept as floats and refused when negative, the camera-pixel, horizon and
num_train_timesteps caps at their own values, the late-start warning's 10% threshold at and
above it, the name checks (an empty obs name, an entry or an action that is no mapping, a
2-D low-dim shape, an action without a shape, an unknown beta schedule, no UNet stage, names
or sources of another width), a boolean step count, the n_groups and final_block_groups
checks by name, the normalizer's keys (action and every low-dim obs), a 32 px high but wide
camera that is not warned of as blind, a recorded source's frame size taken before the
entry's own, small_cpu_config's overrides, dimension_names of an unknown key.

Pinned for DiffusionPolicy: an action normalizer of 'image' kind and a camera normalizer of
more than one scale refused, sampler names checked before any step arithmetic, the sampler
cache per sampler name, float16 frames taken and integer ones refused, the loss generator
drawing the training crops, `cancelled` asked before every step, the first included, the
step count and sampler given per call both used.

Equivalent mutants left alive: late_start_warning's range(1, n) from 2 (one step starts at
0, never the latest), action_dim's shape[-1] (the shape has one entry), to_dict's list of
color_jitter (jsonable lists it), predict_action's timestep (the UNet takes the step's
films, not t), compute_loss's pred.float() (mse_loss promotes to float32 alike).

Defects it found, mended and pinned at the end: bad input that gave a traceback or a model
that cannot run instead of a ValueError naming the problem (n_groups < 1, a negative odd
kernel_size, a shape that is no list or holds 0, a crop of no size, a resnet_width of NaN
or inf), a fractional or string shape entry truncated or parsed without a word, an older
file's whole-float down_dims read the newer way, an empty sampler name read as the
checkpoint's, a batch of no observations (a reshape error).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from support import (  # noqa: F401 (autouse)
    one_torch_thread,
    small_image_config,
    tiny_pusht_config,
)
from test_policy_config_edges import _low_dim, _meta

from dp_ros.policy.config import (
    PolicyConfig,
    late_start_warning,
    small_cpu_config,
    with_final_block_groups,
)
from dp_ros.policy.diffusion import DiffusionPolicy, SamplingCancelled
from dp_ros.policy.normalizer import Normalizer


def _camera(h: int, w: int, **overrides: Any) -> PolicyConfig:
    """One camera of h x w pixels and no crop."""
    meta = _meta(obs={'cam': {'shape': [3, h, w], 'type': 'rgb'}})
    return _low_dim(shape_meta=meta, **overrides)


def _normalizer(config: PolicyConfig) -> Normalizer:
    rng = np.random.default_rng(0)
    data = {'action': rng.uniform(0, 512, (50, config.action_dim))}
    for key in config.low_dim_keys:
        data[key] = rng.uniform(0, 512, (50, config.obs_shape(key)[0]))
    return Normalizer.from_data(data)


@pytest.fixture(scope='module')
def policy() -> DiffusionPolicy:
    """small_image_config's 32 px camera policy: DDIM, 4 steps by default."""
    config = small_image_config(sampler='ddim', num_inference_steps=4)
    torch.manual_seed(0)
    return DiffusionPolicy(config, _normalizer(config)).eval()


def _obs(config: PolicyConfig, batch: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {'image': torch.rand(batch, config.n_obs_steps, 3, 32, 32, generator=g),
            'agent_pos': torch.rand(batch, config.n_obs_steps, 2, generator=g) * 512}


def _chunk(policy: DiffusionPolicy, sampler: str | None, steps: int | None,
           seed: int = 0) -> torch.Tensor:
    return policy.predict_action(_obs(policy.config), torch.Generator().manual_seed(seed),
                                 sampler, steps)['action_pred']


# ------------------------------------------------------------------ config: numbers
def test_down_dims_take_whole_floats_but_not_booleans():
    """A YAML or JSON 16.0 is 16 channels; True is no channel count (it read as 1)."""
    assert _low_dim(down_dims=(16.0, 32.0)).down_dims == (16, 32)
    assert _low_dim(crop_shape=[8.0, 8.0]).crop_shape == (8, 8)
    with pytest.raises(ValueError, match='down_dims must be a list of whole numbers'):
        _low_dim(down_dims=(16, True))


def test_color_jitter_is_kept_as_floats_and_a_negative_strength_is_refused():
    """Ints are stored as floats (policy.json writes 0.0); a strength below 0 is no range."""
    jitter = _low_dim(color_jitter=(0, 1, 0, 0)).color_jitter
    assert jitter == (0.0, 1.0, 0.0, 0.0) and all(type(v) is float for v in jitter)
    with pytest.raises(ValueError, match='must be 4 strengths >= 0'):
        _low_dim(color_jitter=(0.0, -0.1, 0.0, 0.0))


def test_the_size_caps_take_their_own_value():
    """4096 x 4096 pixels, a 4096-step horizon and 10000 train steps are allowed; one more
    is refused with its message."""
    _camera(4096, 4096)
    with pytest.raises(ValueError, match=r'H x W above 4096 x 4096 pixels is refused'):
        _camera(4096, 4097)
    assert _low_dim(horizon=4096).horizon == 4096
    with pytest.raises(ValueError, match='horizon 4097 is above 4096'):
        _low_dim(horizon=4097)
    assert _low_dim(num_train_timesteps=10_000).num_train_timesteps == 10_000
    with pytest.raises(ValueError, match=r'num_train_timesteps 10001 must be in 1\.\.10000'):
        _low_dim(num_train_timesteps=10_001)


def test_group_counts_are_checked_by_name():
    """The first stage counts for n_groups too; final_block_groups 0 or below is refused
    by name, not a ZeroDivisionError or a GroupNorm of -8 groups."""
    with pytest.raises(ValueError, match=r'down_dims \[12\] not divisible by n_groups 8'):
        _low_dim(down_dims=(12, 32))
    for groups in (0, -8):
        with pytest.raises(ValueError, match='final_block_groups: the GroupNorm groups'):
            _low_dim(final_block_groups=groups)


def test_a_late_start_is_warned_of_above_a_tenth_of_the_schedule_not_at_it():
    """DDIM-17 starts at 80, 11 steps below DDIM-14's 91: over 9.9 of 100 steps, warned. With
    K = 11, 8 steps start at 7, one below 5 steps' 8: exactly a tenth of 10, not warned;
    7 steps start at 6, two below, warned."""
    said = late_start_warning(100, 17)
    assert said.startswith('num_inference_steps 17 starts denoising at step 80 of 99'), said
    assert 'where 14 steps start at 91:' in said
    assert late_start_warning(11, 8) == ''
    assert 'where 5 steps start at 8:' in late_start_warning(11, 7)  # 6: two below


# ------------------------------------------------------------------ config: shape_meta
@pytest.mark.parametrize('meta, says', [
    (_meta(obs={'': {'shape': [2]}}), "shape_meta.obs has an observation without a name: ''"),
    (_meta(obs={'pos': [2]}), r"shape_meta.obs 'pos' must be a mapping \(type, shape\)"),
    (_meta(obs={'pos': {'shape': [2, 2]}}), r"low_dim obs 'pos' needs shape \[D\]"),
    ({'obs': {'pos': {'shape': [2]}}, 'action': None}, 'shape_meta.action must be a mapping'),
    (_meta(action={'shape': []}), r'action shape must be \[Da\], got \[\]'),
])
def test_a_malformed_shape_meta_is_refused_by_name(meta: dict, says: str):
    """Each is a ValueError with its message, not an AttributeError or IndexError later."""
    with pytest.raises(ValueError, match=says):
        _low_dim(shape_meta=meta)


def test_the_normalizer_fits_the_action_and_every_low_dim_observation():
    """normalized_dims names each with its width, cameras not (they have one fixed scale)."""
    meta = _meta(obs={'cam': {'shape': [3, 32, 32], 'type': 'rgb'}, 'pos': {'shape': [3]},
                      'vel': {'shape': [1], 'type': 'low_dim'}}, action={'shape': [4]})
    assert _low_dim(shape_meta=meta).normalized_dims() == {'action': 4, 'pos': 3, 'vel': 1}


@pytest.mark.parametrize('overrides, says', [
    (dict(beta_schedule='cosine'), "beta_schedule 'cosine' is not one of"),
    (dict(down_dims=()), 'down_dims is empty'),
    (dict(shape_meta=_meta(obs={'pos': {'shape': [2], 'names': ['a', 'b', 'c']}})),
     "low_dim obs 'pos': names"),
    (dict(shape_meta=_meta(obs={'pos': {'shape': [2], 'sources': [
        {'kind': 'joint_state', 'topic': '/j', 'width': 3}]}})), "low_dim obs 'pos': sources"),
    (dict(shape_meta=_meta(action={'shape': [2], 'names': ['a']})), 'action: names'),
    (dict(shape_meta=_meta(action={'shape': [2], 'sources': [
        {'kind': 'joint_state', 'topic': '/j', 'width': 3}]})), 'action: sources'),
])
def test_each_recorded_annotation_and_choice_is_checked_where_it_stands(overrides, says):
    """A schedule diffusers lacks, no UNet stage, names or sources of another width than
    their entry's: a ValueError naming it at load, not at the first chunk or in the node."""
    with pytest.raises(ValueError, match=says):
        _low_dim(**overrides)


def test_a_boolean_step_count_is_no_step_count():
    """True is an int to Python, not one denoising step."""
    with pytest.raises(ValueError, match=r'num_inference_steps True must be in 1\.\.100'):
        _low_dim().check_inference_steps(True)
    _low_dim().check_inference_steps(np.int64(100))


def test_only_a_map_of_one_position_each_way_is_a_blind_camera():
    """32 px high but 64 wide gives a 1 x 2 map: two positions, no warning."""
    assert not [w for w in _camera(32, 64).camera_warnings() if '1 x 1 map' in w]
    assert [w for w in _camera(32, 32).camera_warnings() if '1 x 1 map' in w]


def test_a_recorded_sources_frame_size_comes_before_the_entrys_own():
    """bag2zarr's record of the camera is the one the node checks against."""
    entry = {'shape': [3, 32, 32], 'type': 'rgb', 'frame_size': [240, 320],
             'sources': [{'kind': 'image', 'topic': '/cam', 'width': None,
                          'frame_size': [480, 640]}]}
    config = _low_dim(shape_meta=_meta(obs={'cam': entry}))
    assert config.frame_size('cam') == (480, 640)
    del entry['sources']
    assert _low_dim(shape_meta=_meta(obs={'cam': entry})).frame_size('cam') == (240, 320)


def test_dimension_names_of_an_unknown_key_is_a_key_error():
    """'action' is the action's names; any other key an observation's, never the action's."""
    names = ['x', 'y']
    config = _low_dim(shape_meta=_meta(action={'shape': [2], 'names': names}))
    assert config.dimension_names('action') == names
    assert config.dimension_names('pos') is None
    with pytest.raises(KeyError):
        config.dimension_names('state')


def test_small_cpu_config_takes_overrides():
    """Its defaults are only defaults: a given sampler and count win."""
    config = small_cpu_config(sampler='ddpm', num_inference_steps=20)
    assert (config.sampler, config.num_inference_steps) == ('ddpm', 20)


# ------------------------------------------------------------------ model: checks
def test_a_camera_normalizer_of_more_than_one_scale_is_refused(policy):
    """A camera's entry is one scale and offset for every pixel: 3 (per channel) was a
    broadcast error at the first chunk; an entry of limits is no camera's."""
    d = _normalizer(policy.config).to_dict()
    d['fields']['image'] = {'kind': 'image', 'scale': [2.0] * 3, 'offset': [-1.0] * 3}
    with pytest.raises(ValueError, match=r"normalizer 'image' \(a camera\) must be of kind "
                                         r"'image' with one scale and offset, got 'image' of "
                                         'dimension 3'):
        DiffusionPolicy(policy.config, Normalizer.from_dict(d))
    d['fields']['image'] = {'kind': 'image', 'scale': [2.0], 'offset': [-1.0]}
    DiffusionPolicy(policy.config, Normalizer.from_dict(d))


def test_an_action_normalizer_of_image_kind_is_refused(policy):
    """The action and low-dim entries are fitted limits; an 'image' entry of the right width
    (a fixed [0, 1] -> [-1, 1]) would pass the width check and scale actions wrongly."""
    d = _normalizer(policy.config).to_dict()
    d['fields']['action'] = {'kind': 'image', 'scale': [2.0, 2.0], 'offset': [-1.0, -1.0]}
    with pytest.raises(ValueError, match="normalizer 'action' is of kind 'image', not 'limits'"):
        DiffusionPolicy(policy.config, Normalizer.from_dict(d))


def test_an_unknown_sampler_is_refused_with_the_known_ones(policy):
    """sampler() names the choices (SAMPLERS), before building any steps."""
    with pytest.raises(ValueError, match=r"sampler 'euler' is not one of \('ddpm', 'ddim'\)"):
        policy.sampler('euler', 4)


def test_the_sampler_cache_tells_ddpm_from_ddim_of_one_count(policy):
    """One cache entry per (sampler, count): DDIM-4 after DDPM-4 is DDIM."""
    assert policy.sampler('ddpm', 3).kind == 'ddpm'
    assert policy.sampler('ddim', 3).kind == 'ddim'
    assert policy.sampler('ddim', 6).num_inference_steps == 6


def test_half_precision_frames_are_taken_and_integer_frames_refused(policy):
    """Floating point of any width is a frame in [0, 1]; int16 is no more a frame than uint8."""
    obs = _obs(policy.config)
    policy.encode_obs({**obs, 'image': obs['image'].half()})
    with pytest.raises(ValueError, match='camera frames must be floating point'):
        policy.encode_obs({**obs, 'image': (obs['image'] * 255).to(torch.int16)})


# ------------------------------------------------------------------ model: sampling
def test_cancelled_is_asked_before_every_step_the_first_included(policy):
    """One question per step; a yes at once samples nothing."""
    asked: list[int] = []
    policy.predict_action(_obs(policy.config), torch.Generator().manual_seed(0), 'ddim', 3,
                          cancelled=lambda: asked.append(1) is not None)
    assert len(asked) == 3
    with pytest.raises(SamplingCancelled, match='cancelled before denoising step 0 of 3'):
        policy.predict_action(_obs(policy.config), None, 'ddim', 3, cancelled=lambda: True)


def test_the_sampler_and_step_count_of_a_call_are_used(policy):
    """Another count or sampler is another chunk; None is the checkpoint's (DDIM-4)."""
    default = _chunk(policy, None, None)
    assert torch.equal(default, _chunk(policy, 'ddim', 4))
    assert not torch.equal(default, _chunk(policy, 'ddim', 3))
    assert not torch.equal(default, _chunk(policy, 'ddpm', 4))
    assert torch.equal(_chunk(policy, 'ddpm', 4), _chunk(policy, 'ddpm', 4))


def test_the_loss_generator_draws_the_training_crops_too():
    """On the 96 px Push-T camera (crop 84: a 3 x 3 map, where the crop matters; the 32 px
    camera's 1 x 1 map ignores it) one generator seed is one loss whatever the global RNG."""
    config = tiny_pusht_config()
    torch.manual_seed(0)
    policy = DiffusionPolicy(config, _normalizer(config)).train()
    g = torch.Generator().manual_seed(2)
    batch = {'obs': {'image': torch.rand(2, 2, 3, 96, 96, generator=g),
                     'agent_pos': torch.rand(2, 2, 2, generator=g) * 512},
             'action': torch.rand(2, config.horizon, 2, generator=g) * 512}
    losses = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        with torch.no_grad():
            losses.append(policy.compute_loss(batch, torch.Generator().manual_seed(5)))
    assert torch.equal(*losses)


# ------------------------------------------------------------------ defects, mended
@pytest.mark.parametrize('groups', [0, -8])
def test_n_groups_below_one_is_refused_by_name(groups: int):
    with pytest.raises(ValueError, match=rf'n_groups {groups} must be >= 1'):
        _low_dim(n_groups=groups)


def test_a_negative_kernel_size_is_refused_by_name():
    with pytest.raises(ValueError, match='kernel_size -1 must be odd and >= 1'):
        _low_dim(kernel_size=-1)


@pytest.mark.parametrize('meta', [_meta(obs={'pos': {'shape': 2}}),
                                  _meta(obs={'pos': {'shape': None}}),
                                  _meta(action={'shape': 2})],
                         ids=['low_dim 2', 'low_dim None', 'action 2'])
def test_a_shape_that_is_no_list_is_refused_by_name(meta: dict):
    with pytest.raises(ValueError, match=r"(obs 'pos'|action) shape must be a list of whole "
                                         'numbers >= 1'):
        _low_dim(shape_meta=meta)


@pytest.mark.parametrize('meta', [
    _meta(obs={'pos': {'shape': [2.5]}}), _meta(obs={'pos': {'shape': [0]}}),
    _meta(obs={'pos': {'shape': ['2']}}), _meta(action={'shape': [2.5]}),
    _meta(action={'shape': [0]}),
    _meta(obs={'cam': {'shape': [3, 32.5, 32], 'type': 'rgb'}}),
    _meta(obs={'cam': {'shape': [3, 0, 0], 'type': 'rgb'}}),
    _meta(obs={'cam': {'shape': [3, '32', 32], 'type': 'rgb'}}),
], ids=['low_dim 2.5', 'low_dim 0', "low_dim '2'", 'action 2.5', 'action 0', 'rgb 32.5',
        'rgb 0 x 0', "rgb '32'"])
def test_a_shape_of_other_than_positive_whole_numbers_is_refused(meta: dict):
    with pytest.raises(ValueError, match=r"(obs '(pos|cam)'|action) shape must be a list of "
                                         'whole numbers >= 1'):
        _low_dim(shape_meta=meta)


@pytest.mark.parametrize('crop', [(0, 0), (-1, 8)])
def test_a_crop_of_no_positive_size_is_refused(crop: tuple[int, int]):
    with pytest.raises(ValueError, match=r'crop_shape must be \[height, width\] of at least 1 '
                                         'pixel each'):
        _camera(32, 32, crop_shape=crop)


@pytest.mark.parametrize('width', [math.nan, math.inf])
def test_a_resnet_width_that_is_no_finite_number_is_refused_by_name(width: float):
    with pytest.raises(ValueError, match=f'resnet_width {width} gives'):
        _low_dim(resnet_width=width)


def test_whole_float_down_dims_of_an_older_file_are_read_as_int_ones():
    for dims in ([16, 32], [12, 24]):
        floats = [float(d) for d in dims]
        try:
            want = with_final_block_groups({'n_groups': 4, 'down_dims': dims}, 'f')
        except ValueError:
            with pytest.raises(ValueError, match='n_groups 4 without final_block_groups'):
                with_final_block_groups({'n_groups': 4, 'down_dims': floats}, 'f')
        else:
            got = with_final_block_groups({'n_groups': 4, 'down_dims': floats}, 'f')
            assert got.get('final_block_groups') == want['final_block_groups']


def test_an_empty_sampler_name_is_refused_not_the_default(policy):
    with pytest.raises(ValueError, match="sampler '' is not one of"):
        _chunk(policy, '', 4)


def test_a_batch_of_no_observations_is_refused_by_name(policy):
    """Was torch's 'cannot reshape tensor of 0 elements into shape [0, -1]'."""
    with pytest.raises(ValueError, match=r"obs '\w+' holds a batch of no observations \(shape "
                                         r'\(0, '):
        policy.predict_action(_obs(policy.config, batch=0), None)
