"""Random colour changes of camera images in training: what a real camera's light does.

torchvision's ColorJitter is not installable beside this torch, so this is the same idea in
plain torch, from the training generator, one draw per observation window: the n_obs_steps
frames of one sample share their factors (as LeRobot's ImageTransforms on a sample's (T, C, H,
W) stack and torchvision's ColorJitter on a batch tensor do: a history that flickers against
itself is no light a camera sees), other samples draw their own: brightness and contrast and
saturation factors drawn from [max(0, 1 - s), 1 + s] (torchvision's range), a hue turn drawn
from [-h, h] of the colour wheel (a rotation of the chroma plane in YIQ space, a linear
stand-in for HSV's hue), in that order (as LeRobot's image_transforms without random
order). Images are (N, 3, H, W) in [-1, 1], the encoder's input; the result is clamped to
[-1, 1]. At inference nothing is changed (the encoder's eval mode).
"""
from __future__ import annotations

import math

import torch

# ITU-R 601 luma, the weights torchvision's rgb_to_grayscale uses
LUMA = (0.299, 0.587, 0.114)
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """n values uniform in [0, 1), drawn on the generator's device."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=gen_device).to(device)


def _symmetric(n: int, strength: float, generator: torch.Generator | None,
               device: torch.device) -> torch.Tensor:
    """n values uniform in [-strength, strength]."""
    return strength * (2.0 * _uniform(n, generator, device) - 1.0)


def _factors(n: int, strength: float, generator: torch.Generator | None,
             device: torch.device) -> torch.Tensor:
    """n factors uniform in [max(0, 1 - strength), 1 + strength], shape (n, 1, 1, 1):
    torchvision's ColorJitter range. Above 1 the range is clipped, not the draws (clamping
    1 + U(-s, s) at 0 made a share of the images black, grey or greyscale)."""
    if strength <= 1.0:
        factors = 1.0 + _symmetric(n, strength, generator, device)
    else:
        factors = (1.0 + strength) * _uniform(n, generator, device)
    return factors.view(n, 1, 1, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def color_jitter(images: torch.Tensor, strengths: tuple[float, float, float, float],
                 generator: torch.Generator | None = None, window: int = 1) -> torch.Tensor:
    """(brightness, contrast, saturation, hue) strengths; a zero strength draws nothing, so
    all zeros change neither the images nor the generator's stream. `window` consecutive
    images (one sample's frames, window-major as the encoder flattens (B, T, ...)) share one
    draw of the factors."""
    brightness, contrast, saturation, hue = strengths
    if not any(strengths):
        return images
    if window < 1 or images.shape[0] % window:
        raise ValueError(f'color_jitter: {images.shape[0]} images do not split into windows '
                         f'of {window} frames')
    n, draws = images.shape[0], images.shape[0] // window

    def per_window(values: torch.Tensor) -> torch.Tensor:
        return values.repeat_interleave(window, dim=0)

    x = (images + 1.0) / 2.0  # [0, 1]
    if brightness:
        x = (x * per_window(_factors(draws, brightness, generator, x.device))).clamp(0.0, 1.0)
    if contrast:
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        factors = per_window(_factors(draws, contrast, generator, x.device))
        x = ((x - mean) * factors + mean).clamp(0.0, 1.0)
    if saturation:
        gray = _gray(x)
        factors = per_window(_factors(draws, saturation, generator, x.device))
        x = ((x - gray) * factors + gray).clamp(0.0, 1.0)
    if hue:
        turns = per_window(_symmetric(draws, hue, generator, x.device))  # in [-hue, hue]
        angle = turns * 2.0 * math.pi
        to_yiq = torch.tensor(RGB_TO_YIQ, dtype=x.dtype, device=x.device)
        cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
        turn = torch.zeros(n, 3, 3, dtype=x.dtype, device=x.device)
        turn[:, 0, 0] = 1.0
        turn[:, 1, 1], turn[:, 1, 2], turn[:, 2, 1], turn[:, 2, 2] = cos, -sin, sin, cos
        matrix = torch.linalg.inv(to_yiq) @ turn @ to_yiq  # (n, 3, 3), RGB -> RGB
        x = torch.einsum('nij,njhw->nihw', matrix, x).clamp(0.0, 1.0)
    return x * 2.0 - 1.0
