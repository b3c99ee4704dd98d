"""Colour jitter in training (dp_ros/policy/color_jitter.py, PolicyConfig.color_jitter): off
changes nothing (not even the generator's stream), each kind does what it says per image,
sampling never jitters, and a bad setting is refused."""
from __future__ import annotations

import pytest
import torch
from support import tiny_pusht_config

from dp_ros.policy.color_jitter import color_jitter
from dp_ros.policy.config import PolicyConfig
from dp_ros.policy.vision import RgbEncoder


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g) * 1.6 - 0.8  # inside [-1, 1], unclipped


def test_off_is_the_identity_and_draws_no_random_numbers():
    x, g = images(), torch.Generator().manual_seed(5)
    assert color_jitter(x, (0.0, 0.0, 0.0, 0.0), g) is x
    assert torch.equal(torch.rand(3, generator=g),
                       torch.rand(3, generator=torch.Generator().manual_seed(5)))


def test_brightness_scales_each_image_by_one_factor_within_its_range():
    x = images() * 0.5 - 0.4  # [0.1, 0.5] in [0, 1] terms: no factor up to 1.3 clips it
    out = color_jitter(x, (0.3, 0.0, 0.0, 0.0), torch.Generator().manual_seed(1))
    ratio = (out + 1) / (x + 1)  # in [0, 1] terms: x01 * b, none clipped at these values
    for r in ratio:
        assert torch.allclose(r, r.mean().expand_as(r), atol=1e-5)
        assert 0.7 - 1e-6 <= float(r.mean()) <= 1.3 + 1e-6
    assert len({round(float(r.mean()), 5) for r in ratio}) == len(x)  # one factor per image


def test_saturation_and_hue_leave_grey_alone_and_keep_the_luma():
    grey = images()[:, :1].expand(-1, 3, -1, -1).contiguous()
    for strengths in ((0.0, 0.0, 0.9, 0.0), (0.0, 0.0, 0.0, 0.5)):
        out = color_jitter(grey, strengths, torch.Generator().manual_seed(2))
        assert torch.allclose(out, grey, atol=1e-5)
    colour = images(seed=3) * 0.3  # small chroma: no channel clips under a turn
    turned = color_jitter(colour, (0.0, 0.0, 0.0, 0.5), torch.Generator().manual_seed(4))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((turned * luma).sum(1), (colour * luma).sum(1), atol=1e-4)
    assert not torch.allclose(turned, colour, atol=1e-3)  # the hue did turn


def test_contrast_keeps_the_mean_grey_and_the_output_stays_in_range():
    x = images()
    out = color_jitter(x, (0.5, 0.5, 0.5, 0.1), torch.Generator().manual_seed(6))
    assert out.min() >= -1.0 and out.max() <= 1.0
    only = color_jitter(x, (0.0, 0.4, 0.0, 0.0), torch.Generator().manual_seed(7))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    mean = lambda t: ((t + 1) / 2 * luma).sum(1).mean(dim=(1, 2))  # noqa: E731
    assert torch.allclose(mean(only), mean(x), atol=1e-5)


def test_the_encoder_jitters_in_training_only():
    config = tiny_pusht_config(color_jitter=(0.4, 0.4, 0.4, 0.1), crop_shape=None)
    encoder = RgbEncoder(config.obs_shape('image'), None, config.resnet_width,
                         config.num_keypoints, config.feature_dim, config.color_jitter)
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    encoder.eval()
    plain = RgbEncoder(config.obs_shape('image'), None, config.resnet_width,
                       config.num_keypoints, config.feature_dim)
    plain.load_state_dict(encoder.state_dict())
    plain.eval()
    assert torch.equal(encoder(x), plain(x))  # sampling sees the camera as it is
    encoder.train()
    plain.train()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert not torch.allclose(encoder(x, g1), plain(x, g2))
    assert PolicyConfig.from_dict(config.to_dict()).color_jitter == (0.4, 0.4, 0.4, 0.1)


@pytest.mark.parametrize('jitter', [(0.1, 0.1, 0.1), (-0.1, 0, 0, 0), (0, 0, 0, 0.6)])
def test_a_bad_setting_is_refused(jitter):
    with pytest.raises(ValueError, match='color_jitter'):
        tiny_pusht_config(color_jitter=jitter)
