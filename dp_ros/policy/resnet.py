"""ResNet18 convolutional trunk, written out because torchvision is unavailable here.

Layer names follow torchvision (conv1, bn1, layer1.0.conv1, ...) so the structure is easy
to compare; every BatchNorm is a GroupNorm with C // 16 groups, as the paper's
`obs_encoder_group_norm=True` does (BatchNorm interacts badly with EMA weights).
"""
from __future__ import annotations

import torch
from torch import nn

from dp_ros.policy.config import encoder_map_hw


def group_norm(channels: int) -> nn.GroupNorm:
    groups = channels // 16
    if groups < 1 or channels % groups:
        raise ValueError(f'GroupNorm(C // 16) needs C divisible by C // 16 >= 1, got C={channels}')
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = group_norm(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = group_norm(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), group_norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Trunk(nn.Module):
    """ResNet18 without avgpool and fc: (N, 3, H, W) -> (N, 8*base, ~H/32, ~W/32)."""

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        base = int(64 * width)
        chans = [base, base * 2, base * 4, base * 8]
        self.out_channels = chans[-1]
        self.conv1 = nn.Conv2d(in_channels, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = group_norm(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = base
        for i, ch in enumerate(chans):
            stride = 1 if i == 0 else 2
            layer = nn.Sequential(BasicBlock(in_ch, ch, stride), BasicBlock(ch, ch, 1))
            self.add_module(f'layer{i + 1}', layer)
            in_ch = ch
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's ResNet init (robomimic builds resnet18(pretrained=False)); none on the
        # 'meta' device, where a checkpoint's weights replace these (normal_ there goes through
        # torch._refs, which imports torch._dynamo: about 1 s of every policy load)
        if self.conv1.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    @staticmethod
    def output_hw(h: int, w: int) -> tuple[int, int]:
        """Spatial size of the output for an (h, w) input (config.encoder_map_hw)."""
        return encoder_map_hw(h, w)
