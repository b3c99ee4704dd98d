"""Policy configs that build a model that crashes or ignores a part of its input: a
diffusion-step embedding of under 4 or an odd size (a ZeroDivisionError or a shape error at
the first forward pass, after the run directory was made; 0 conditions on no step), zero
keypoints, a zero-channel UNet stage or a zero-length camera feature are refused by name; a
camera the encoder sees at 32 px or less (a 1 x 1 map: every image the same feature) is a
warning at the start of training."""
from __future__ import annotations

import pytest
import torch
from support import one_torch_thread, tiny_policy_section  # noqa: F401 (autouse)

from dp_ros.policy.config import PolicyConfig, encoder_map_hw
from dp_ros.policy.resnet import ResNet18Trunk


@pytest.mark.parametrize('field, value, says', [
    ('diffusion_step_embed_dim', 0, 'diffusion_step_embed_dim 0 must be >= 1'),
    ('diffusion_step_embed_dim', 2, 'must be even and >= 4'),
    ('diffusion_step_embed_dim', 7, 'must be even and >= 4'),
    ('num_keypoints', 0, 'num_keypoints 0 must be >= 1'),
    ('feature_dim', 0, 'feature_dim 0 must be >= 1'),
    ('down_dims', [0], 'down_dims [0] must be >= 1'),
])
def test_unusable_model_sizes_are_refused_by_name(field, value, says):
    """Each is a ValueError naming the field, not a torch error at the first forward."""
    with pytest.raises(ValueError, match=says.replace('[', r'\[').replace(']', r'\]')):
        PolicyConfig(**{**tiny_policy_section(), field: value})


def test_the_smallest_step_embedding_runs():
    """4 (two frequencies) builds a UNet whose step embedding has 4 values."""
    from dp_ros.policy.unet import SinusoidalPosEmb

    assert SinusoidalPosEmb(4)(torch.tensor([3.0])).shape == (1, 4)


@pytest.mark.parametrize('size, crop, blind', [(32, None, True), (40, (32, 32), True),
                                               (33, None, False), (96, (84, 84), False)])
def test_a_camera_the_trunk_turns_into_one_position_is_warned_about(size, crop, blind):
    """32 px (or a 32 px crop) each way: a 1 x 1 map, warned; 33 px and the paper's 84 of 96
    are not."""
    meta = {'obs': {'image': {'shape': [3, size, size], 'type': 'rgb'},
                    'agent_pos': {'shape': [2], 'type': 'low_dim'}}, 'action': {'shape': [2]}}
    cfg = PolicyConfig(**{**tiny_policy_section(), 'shape_meta': meta, 'crop_shape': crop})
    warned = [w for w in cfg.camera_warnings() if '1 x 1 map' in w]
    assert bool(warned) == blind, cfg.camera_warnings()


def test_the_torch_free_map_size_is_the_trunks():
    """encoder_map_hw (no torch, for the config's check) is what the trunk computes."""
    assert ResNet18Trunk.output_hw(32, 40) == encoder_map_hw(32, 40) == (1, 2)
    assert encoder_map_hw(33, 33) == (2, 2)
