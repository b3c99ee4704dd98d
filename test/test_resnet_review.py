"""ResNet18 trunk against torchvision's resnet18 (children[:-2]) with every BatchNorm a
GroupNorm(C // 16), as the paper's obs_encoder_group_norm does: computed by hand."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dp_ros.policy.resnet import BasicBlock, ResNet18Trunk

torch.set_num_threads(1)


def gn(norm: torch.nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    return F.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)


def basic_block(b: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """torchvision BasicBlock: relu(gn2(conv2(relu(gn1(conv1 x)))) + shortcut), shortcut =
    gn(conv1x1(x)) when stride or channels change, else x."""
    stride = b.conv1.stride[0]
    out = F.relu(gn(b.bn1, F.conv2d(x, b.conv1.weight, stride=stride, padding=1)))
    out = gn(b.bn2, F.conv2d(out, b.conv2.weight, padding=1))
    if b.downsample is None:
        short = x
    else:
        short = gn(b.downsample[1], F.conv2d(x, b.downsample[0].weight, stride=stride))
    return F.relu(out + short)


def randomize(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim == 1:  # GroupNorm affine
                p.add_(0.3 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize('in_ch,out_ch,stride', [(16, 16, 1), (16, 32, 2)])
def test_basic_block_by_hand(in_ch, out_ch, stride):
    """BasicBlock (plain and downsampling) equals torchvision's wiring with GroupNorm."""
    torch.manual_seed(0)
    b = BasicBlock(in_ch, out_ch, stride)
    randomize(b, 1)
    assert (b.downsample is None) == (stride == 1 and in_ch == out_ch)
    x = torch.randn(2, in_ch, 7, 6)
    torch.testing.assert_close(b(x), basic_block(b, x), rtol=1e-5, atol=1e-5)


def test_trunk_by_hand():
    """Stem conv7/2 -> GN -> ReLU -> maxpool 3/2 pad 1, then the four 2-block stages."""
    torch.manual_seed(0)
    trunk = ResNet18Trunk(width=0.25)
    randomize(trunk, 2)
    x = torch.randn(1, 3, 45, 38)
    y = F.relu(gn(trunk.bn1, F.conv2d(x, trunk.conv1.weight, stride=2, padding=3)))
    y = F.max_pool2d(y, 3, 2, 1)
    for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        for b in layer:
            y = basic_block(b, y)
    torch.testing.assert_close(trunk(x), y, rtol=1e-4, atol=1e-4)


def test_output_hw_matches_the_trunk_for_odd_and_even_sizes():
    """output_hw(h, w) is the trunk's real output size for every size 33..48 (rows and
    columns apart)."""
    trunk = ResNet18Trunk(width=0.25)
    with torch.no_grad():
        for h in range(33, 49):
            w = 81 - h
            assert trunk(torch.zeros(1, 3, h, w)).shape[-2:] == ResNet18Trunk.output_hw(h, w), h


def test_convolutions_get_torchvisions_kaiming_fan_out_init():
    """Conv weights ~ N(0, 2 / fan_out) (torchvision's ResNet init; fan_out = out * k * k)."""
    torch.manual_seed(0)
    trunk = ResNet18Trunk(width=0.5)
    std = float(trunk.conv1.weight.detach().std())
    assert std == pytest.approx((2 / (32 * 49)) ** 0.5, rel=0.1)
    norms = [m for m in trunk.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in norms)
