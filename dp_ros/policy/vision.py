"""Observation encoder: per-camera ResNet18 + spatial softmax, low-dim observations passed through.

Follows the paper's hybrid image policy (robomimic VisualCore): crop -> ResNet18 trunk ->
1x1 conv to K keypoint maps -> spatial softmax (expected x, y per map) -> Linear -> ReLU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dp_ros.policy.color_jitter import color_jitter
from dp_ros.policy.config import PolicyConfig, camera_module_name
from dp_ros.policy.resnet import ResNet18Trunk


class SpatialSoftmax(nn.Module):
    """Keypoints as softmax-weighted mean pixel positions (robomimic SpatialSoftmax, temp 1).

    (N, C, H, W) -> (N, K, 2) with coordinates in [-1, 1], x before y.
    """

    def __init__(self, in_channels: int, height: int, width: int, num_keypoints: int = 32) -> None:
        super().__init__()
        self.keypoint_net = nn.Conv2d(in_channels, num_keypoints, kernel_size=1)
        self.num_keypoints = num_keypoints
        self.height, self.width = height, width

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        maps = self.keypoint_net(feature)
        if maps.shape[-2:] != (self.height, self.width):
            raise ValueError(f'feature map {tuple(maps.shape[-2:])}, expected '
                             f'{(self.height, self.width)}: image size differs from the config')
        attention = F.softmax(maps.flatten(2), dim=-1)  # (N, K, H*W)
        # pixel-centre grid, built here rather than held as a buffer: no state to load
        kw = dict(device=maps.device, dtype=attention.dtype)
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, self.height, **kw),
                                torch.linspace(-1.0, 1.0, self.width, **kw), indexing='ij')
        pos = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)  # (H*W, 2), x first
        return attention @ pos  # (N, K, 2)


def crop_random(images: torch.Tensor, height: int, width: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """An independent random (height, width) window per image of (N, C, H, W).

    Offsets are uniform over 0..H-height inclusive, so the windows are centred on the one the
    node takes (crop_center); the paper's CropRandomizer draws 0..H-height-1 (it never picks
    the last offset: its training crops sit half a pixel up and left of its evaluation crop).
    """
    n, _, h, w = images.shape
    gen_device = generator.device if generator is not None else images.device
    top = torch.randint(0, h - height + 1, (n,), generator=generator, device=gen_device)
    left = torch.randint(0, w - width + 1, (n,), generator=generator, device=gen_device)
    top, left = top.to(images.device), left.to(images.device)
    rows = top[:, None] + torch.arange(height, device=images.device)  # (N, height)
    cols = left[:, None] + torch.arange(width, device=images.device)  # (N, width)
    idx = torch.arange(n, device=images.device)[:, None, None]
    # advanced indices around a slice: result is (N, height, width, C)
    out = images[idx, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def crop_center(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """torchvision's center_crop rule: top = round((H - height) / 2)."""
    h, w = images.shape[-2:]
    top = int(round((h - height) / 2.0))
    left = int(round((w - width) / 2.0))
    return images[..., top:top + height, left:left + width]


class RgbEncoder(nn.Module):
    """One camera: (N, 3, H, W) in [-1, 1] -> (N, feature_dim)."""

    def __init__(self, image_shape: tuple[int, int, int], crop_shape: tuple[int, int] | None,
                 width: float = 1.0, num_keypoints: int = 32, feature_dim: int = 64,
                 jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> None:
        super().__init__()
        c, h, w = image_shape
        self.crop_shape = crop_shape
        self.jitter = tuple(jitter)
        if crop_shape is not None:
            h, w = crop_shape
        self.backbone = ResNet18Trunk(width=width, in_channels=c)
        fh, fw = ResNet18Trunk.output_hw(h, w)
        self.pool = SpatialSoftmax(self.backbone.out_channels, fh, fw, num_keypoints)
        self.linear = nn.Linear(num_keypoints * 2, feature_dim)
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None,
                random_crop: bool | None = None, window: int = 1) -> torch.Tensor:
        """random_crop=None augments (a random crop, the colour jitter) in training mode and
        crops at the centre in eval mode. `window` consecutive images are one sample's frames:
        they share one colour jitter draw (each keeps its own crop, as in the paper)."""
        augment = self.training if random_crop is None else random_crop
        if self.crop_shape is not None:
            ch, cw = self.crop_shape
            if augment:
                images = crop_random(images, ch, cw, generator)
            else:
                images = crop_center(images, ch, cw)
        if augment:
            images = color_jitter(images, self.jitter, generator, window)
        keypoints = self.pool(self.backbone(images))
        return F.relu(self.linear(keypoints.flatten(1)))


class ObsEncoder(nn.Module):
    """All observation keys of one time step -> one feature vector.

    Features are concatenated in shape_meta order: each camera gives feature_dim values,
    each low-dim key its (normalized) values unchanged.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.keys = config.obs_keys
        self.rgb_keys = config.rgb_keys
        self.n_obs_steps = config.n_obs_steps
        self.shapes = {k: config.obs_shape(k) for k in self.keys}
        self.camera_modules = {k: camera_module_name(k) for k in self.rgb_keys}
        self.cameras = nn.ModuleDict({
            self.camera_modules[k]: RgbEncoder(
                self.shapes[k], config.crop_shape, config.resnet_width, config.num_keypoints,
                config.feature_dim, config.color_jitter)
            for k in self.rgb_keys
        })
        self.output_dim = sum(config.feature_dim if k in self.camera_modules
                              else self.shapes[k][0] for k in self.keys)

    def forward(self, obs: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                random_crop: bool | None = None, window: int | None = None) -> torch.Tensor:
        """obs[k]: (N, *shape[k]), already normalized -> (N, output_dim). In training N is
        B windows of `window` frames (default n_obs_steps), window-major as encode_obs flattens
        (B, T, ...): each window's frames share one colour jitter draw."""
        window = self.n_obs_steps if window is None else window
        features = []
        for key in self.keys:
            x = obs[key]
            if tuple(x.shape[1:]) != self.shapes[key]:
                raise ValueError(f'obs {key!r}: expected (N, {self.shapes[key]}), '
                                 f'got {tuple(x.shape)}')
            if key in self.camera_modules:
                x = self.cameras[self.camera_modules[key]](x, generator, random_crop, window)
            features.append(x)
        return torch.cat(features, dim=-1)
