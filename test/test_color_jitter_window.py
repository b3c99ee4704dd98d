"""Colour jitter draws once per observation window (dp_ros/policy/color_jitter.py): the
n_obs_steps frames of one training sample share their factors, as LeRobot's ImageTransforms on
a sample's (T, C, H, W) stack and torchvision's ColorJitter on a batch tensor do; other samples
draw their own. Sampling still never jitters."""
from __future__ import annotations

import pytest
import torch
from support import small_image_config

from dp_ros.policy.color_jitter import color_jitter
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer

STRENGTHS = (0.4, 0.4, 0.5, 0.1)


def _policy(**overrides) -> DiffusionPolicy:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    norm = Normalizer.from_data({'action': torch.rand(64, 2, generator=gen).numpy() * 500,
                                 'agent_pos': torch.rand(64, 2, generator=gen).numpy() * 500})
    return DiffusionPolicy(small_image_config(**overrides), norm)


def test_each_window_shares_one_draw_and_samples_differ():
    """Identical frames in every window: after the jitter the frames of a window are still
    identical to each other, and the two samples' frames are not."""
    x = (torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 1.6 - 0.8)
    frames = x.expand(6, -1, -1, -1).contiguous()  # 2 samples x 3 frames
    out = color_jitter(frames, STRENGTHS, torch.Generator().manual_seed(1), window=3)
    windows = out.view(2, 3, 3, 8, 8)
    for w in windows:
        assert torch.equal(w[0], w[1]) and torch.equal(w[0], w[2])
    assert not torch.allclose(windows[0, 0], windows[1, 0], atol=1e-3)


def test_a_batch_that_does_not_split_into_windows_is_refused():
    with pytest.raises(ValueError, match='windows of 2 frames'):
        color_jitter(torch.zeros(3, 3, 4, 4), STRENGTHS, window=2)


def test_training_encodes_a_window_with_one_draw():
    """Through the policy's encode_obs in training mode: the camera's jittered input (the
    backbone's, no crop) is the same for the n_obs_steps frames of a sample."""
    policy = _policy(color_jitter=STRENGTHS, crop_shape=None, n_obs_steps=2).train()
    seen = []
    camera = policy.obs_encoder.cameras['image']
    handle = camera.backbone.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    frame = torch.rand(1, 1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    obs = {'image': frame.expand(3, 2, -1, -1, -1),  # 3 samples of one frame held twice
           'agent_pos': torch.full((3, 2, 2), 250.0)}
    policy.encode_obs(obs, torch.Generator().manual_seed(0))
    handle.remove()
    inputs = seen[0].view(3, 2, 3, 32, 32)
    for sample in inputs:
        assert torch.equal(sample[0], sample[1])
    assert not torch.allclose(inputs[0, 0], inputs[1, 0], atol=1e-3)
    assert not torch.allclose(inputs[1, 0], inputs[2, 0], atol=1e-3)


def test_eval_is_unchanged_by_the_jitter_setting():
    jittered = _policy(color_jitter=STRENGTHS).eval()
    plain = _policy().eval()
    plain.load_state_dict(jittered.state_dict())
    obs = {'image': torch.rand(2, 2, 3, 32, 32, generator=torch.Generator().manual_seed(4)),
           'agent_pos': torch.rand(2, 2, 2, generator=torch.Generator().manual_seed(5)) * 500}
    with torch.no_grad():
        assert torch.equal(jittered.encode_obs(obs), plain.encode_obs(obs))
