"""color_jitter against torchvision's ColorJitter (the reference its docstring names, and what
LeRobot's image transforms and UMI's policy use): a strength s draws a factor uniform in
[max(0, 1 - s), 1 + s], so a strength above 1 never turns a share of the images black."""
from __future__ import annotations

import torch
from support import one_torch_thread  # noqa: F401 (autouse)

from dp_ros.policy.color_jitter import color_jitter


def test_brightness_above_one_draws_from_the_clipped_range_not_a_point_mass_at_zero():
    """brightness 2: torchvision's factor is U(0, 3), mean 1.5, and no image goes black;
    clamping U(-1, 3) at 0 makes a quarter of the images black and the mean 1.125."""
    n = 4000
    grey = torch.zeros(n, 3, 2, 2)  # 0.5 in [0, 1]
    out = color_jitter(grey, (2.0, 0.0, 0.0, 0.0), torch.Generator().manual_seed(0))
    black = float(((out + 1) / 2 == 0).flatten(1).all(1).float().mean())
    assert black < 0.01, f'{black:.1%} of the images went black'
    # the factor is the output over the input (0.5) before the clamp at 1 (factor <= 2 here)
    factor = ((out + 1) / 2 / 0.5).mean(dim=(1, 2, 3))
    unclipped = factor[factor < 2.0]
    # U(0, 3) restricted to [0, 2) has mean 1.0; clamping U(-1, 3) at 0 gives (0.25 * 0 + 0.5 * 1)
    # / 0.75 = 0.67 there
    assert abs(float(unclipped.mean()) - 1.0) < 0.05, float(unclipped.mean())
