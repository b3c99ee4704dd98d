"""A tiny random Push-T image policy saved as a checkpoint, for the node and eval tests.

Random weights are enough to check timing, safety and determinism; they make the tests
independent of training. A few DDIM steps keep sampling at tens of milliseconds on a CPU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dp_ros.policy.checkpoint import save_policy
from dp_ros.policy.config import pusht_image_config
from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer


def make_tiny_checkpoint(directory: str | Path, seed: int = 0, control_period_s: float = 0.1,
                         **overrides) -> Path:
    torch.manual_seed(seed)
    params = dict(resnet_width=0.25, down_dims=(32, 64, 128), sampler='ddim',
                  num_inference_steps=4)
    params.update(overrides)
    config = pusht_image_config(**params)
    rng = np.random.default_rng(seed)
    data = {'agent_pos': rng.uniform(20, 490, size=(64, 2)),
            'action': rng.uniform(60, 450, size=(64, 2))}
    policy = DiffusionPolicy(config, Normalizer.from_data(data)).eval()
    return save_policy(policy, directory, control_period_s=control_period_s,
                       provenance={'note': 'tiny random test policy'})


if __name__ == '__main__':
    import sys

    print(make_tiny_checkpoint(sys.argv[1]))
