"""Edges of dp_ros/policy/color_jitter.py: factors on both sides of 1, never negative (a
strength above 1 must not invert contrast), each kind clamped to the valid range on its own,
and the hue turn spanning the whole [-h, h] of the colour wheel.
"""
from __future__ import annotations

import math

import torch

from dp_ros.policy.color_jitter import RGB_TO_YIQ, color_jitter


def _flat(colours: torch.Tensor, size: int = 4) -> torch.Tensor:
    """(n, 3) colours in [0, 1] as flat (n, 3, size, size) images in [-1, 1]."""
    return (colours * 2 - 1).view(-1, 3, 1, 1).expand(-1, -1, size, size).contiguous()


def test_brightness_factors_fall_on_both_sides_of_one():
    """Factors are drawn from [1 - s, 1 + s], not [1, 1 + s]."""
    x = _flat(torch.full((64, 3), 0.4))
    out = color_jitter(x, (0.3, 0.0, 0.0, 0.0), torch.Generator().manual_seed(0))
    ratio = ((out + 1) / (x + 1)).mean(dim=(1, 2, 3))
    assert ratio.min() < 0.8 and ratio.max() > 1.2
    assert ratio.min() >= 0.7 - 1e-6 and ratio.max() <= 1.3 + 1e-6


def test_a_contrast_strength_above_one_never_inverts_an_image():
    """Factors are drawn from [0, 1 + s] above s = 1 (torchvision's range): each pixel stays
    on its side of the image's mean grey, and no image is flattened to it."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 3, 6, 6, generator=g) * 1.6 - 0.8
    out = color_jitter(x, (0.0, 3.0, 0.0, 0.0), torch.Generator().manual_seed(2))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    mean = ((x + 1) / 2 * luma).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    before, after = (x + 1) / 2 - mean, (out + 1) / 2 - mean
    assert torch.all(before * after >= -1e-6)
    flat = (after.abs().amax(dim=(1, 2, 3)) < 1e-6).sum()
    assert flat == 0  # clamping 1 + U(-3, 3) at 0 flattened about a third of them


def test_each_kind_alone_keeps_the_images_in_range():
    """Brightness, contrast and saturation each clamp to [-1, 1] (not only the hue step)."""
    g = torch.Generator().manual_seed(3)
    vivid = _flat(torch.rand(32, 3, generator=g).round() * 0.9 + 0.05)  # saturated colours
    for strengths in ((0.9, 0.0, 0.0, 0.0), (0.0, 0.9, 0.0, 0.0), (0.0, 0.0, 0.9, 0.0)):
        out = color_jitter(vivid, strengths, torch.Generator().manual_seed(4))
        assert out.min() >= -1.0 and out.max() <= 1.0, strengths
        assert not torch.equal(out, vivid)


def test_the_hue_turn_spans_the_whole_strength():
    """hue h turns the chroma by an angle uniform in [-h, h] turns: with h = 0.5 some of 64
    images turn by more than a quarter turn, none by more than half."""
    colour = torch.tensor([0.55, 0.45, 0.5]).expand(64, 3)
    out = color_jitter(_flat(colour), (0.0, 0.0, 0.0, 0.5), torch.Generator().manual_seed(5))
    yiq = torch.tensor(RGB_TO_YIQ)
    before = yiq @ colour[0]
    after = (yiq @ ((out[:, :, 0, 0] + 1) / 2).T).T
    z0 = torch.complex(before[1], before[2])
    angles = torch.angle(torch.complex(after[:, 1], after[:, 2]) / z0)
    assert angles.abs().max() > math.pi * 0.75
    assert angles.abs().max() <= math.pi + 1e-5
