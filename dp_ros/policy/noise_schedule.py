"""The DDPM noise schedule and the noise draws, computed as diffusers 0.42 computes them.

The policy's training noise (add_noise), its samplers' timesteps and coefficients
(dp_ros/policy/step_arithmetic.py) and its noise draws are the expressions of diffusers'
DDPMScheduler and DDIMScheduler (the paper's settings: 'leading' timestep spacing, offset 0,
set_alpha_to_one, no thresholding) and of randn_tensor, evaluated in the same order, so the
samples are bit for bit those of the schedulers (test/test_noise_schedule.py compares them
with diffusers). Owning them keeps diffusers, and the torch._dynamo import it forces (about
2 s), out of every process that only samples: the policy node, `dp-ros eval`, the sim.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from dp_ros.policy.config import BETA_SCHEDULES

# the paper's DDPMScheduler settings that PolicyConfig does not expose
BETA_START = 1e-4
BETA_END = 0.02
VARIANCE_TYPE = 'fixed_small'
CLIP_SAMPLE_RANGE = 1.0

Generators = torch.Generator | list[torch.Generator] | None


def betas(schedule: str, num_train_timesteps: int) -> torch.Tensor:
    """fp32 betas of `schedule` over the K training steps (DDPMScheduler.__init__)."""
    if schedule == 'linear':
        return torch.linspace(BETA_START, BETA_END, num_train_timesteps, dtype=torch.float32)
    if schedule == 'scaled_linear':
        return torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, num_train_timesteps,
                              dtype=torch.float32) ** 2
    if schedule == 'squaredcos_cap_v2':  # betas_for_alpha_bar, cosine
        # a Python loop over math.cos as diffusers': numpy's vectorised cos may differ in the
        # last bit on some CPUs; PolicyConfig caps K (MAX_NUM_TRAIN_TIMESTEPS: ~5 ms here)
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        values = [min(1 - alpha_bar((i + 1) / num_train_timesteps)
                      / alpha_bar(i / num_train_timesteps), 0.999)
                  for i in range(num_train_timesteps)]
        return torch.tensor(values, dtype=torch.float32)
    raise ValueError(f'beta_schedule {schedule!r} is not one of {BETA_SCHEDULES}')


def inference_timesteps(num_train_timesteps: int, num_inference_steps: int) -> torch.Tensor:
    """The timesteps a sampler visits, highest first ('leading' spacing, steps_offset 0)."""
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f'num_inference_steps {num_inference_steps} must be in '
                         f'1..{num_train_timesteps}')
    ratio = num_train_timesteps // num_inference_steps
    steps = (np.arange(0, num_inference_steps) * ratio).round()[::-1].copy().astype(np.int64)
    return torch.from_numpy(steps)


class NoiseSchedule:
    """The forward process of one policy config: alphas_cumprod and add_noise."""

    def __init__(self, beta_schedule: str, num_train_timesteps: int, prediction_type: str,
                 clip_sample: bool) -> None:
        self.num_train_timesteps = int(num_train_timesteps)
        self.prediction_type = prediction_type
        self.clip_range = CLIP_SAMPLE_RANGE if clip_sample else None
        self.variance_type = VARIANCE_TYPE
        with torch.device('cpu'):  # stays real even when the networks are built on 'meta'
            self.betas = betas(beta_schedule, self.num_train_timesteps)
            self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
            self.one = torch.tensor(1.0)  # alpha_prod before the first step (set_alpha_to_one)
        self._moved: torch.Tensor | None = None  # alphas_cumprod on the training device

    @classmethod
    def of(cls, config) -> NoiseSchedule:
        """The schedule of a PolicyConfig."""
        return cls(config.beta_schedule, config.num_train_timesteps, config.prediction_type,
                   config.clip_sample)

    def add_noise(self, x: torch.Tensor, noise: torch.Tensor, steps: torch.Tensor
                  ) -> torch.Tensor:
        """x noised to the training steps `steps` (one per row): DDPMScheduler.add_noise."""
        if self._moved is None or self._moved.device != x.device:  # one copy, not per step
            self._moved = self.alphas_cumprod.to(x.device)
        alphas_cumprod = self._moved.to(dtype=x.dtype)
        steps = steps.to(x.device)
        shape = (-1,) + (1,) * (x.ndim - 1)
        sqrt_alpha_prod = (alphas_cumprod[steps] ** 0.5).flatten().reshape(shape)
        sqrt_one_minus = ((1 - alphas_cumprod[steps]) ** 0.5).flatten().reshape(shape)
        return sqrt_alpha_prod * x + sqrt_one_minus * noise


def randn(shape: tuple[int, ...], generator: Generators, device: torch.device | str
          ) -> torch.Tensor:
    """fp32 normal noise drawn on the generator's device, then moved (randn_tensor).

    A list holds one generator per batch element, so an element's noise does not depend on
    which other elements share its batch (batched evaluation == one episode at a time); its
    length must be the batch's (one generator alone is one for the whole batch), as diffusers
    requires: 2 for 3 rows was an IndexError, 4 dropped the fourth silently.
    """
    if isinstance(generator, list) and len(generator) not in (1, shape[0]):
        raise ValueError(f'a list of {len(generator)} generators for a batch of {shape[0]}: '
                         'give one generator per batch row (or a single generator)')
    device = torch.device(device)
    rand_device = device
    if generator is not None:
        kind = (generator[0] if isinstance(generator, list) else generator).device.type
        if kind != device.type and kind == 'cpu':
            rand_device = torch.device('cpu')
        elif kind != device.type and kind == 'cuda':
            raise ValueError(f'cannot draw a {device} tensor from a cuda generator')
    if isinstance(generator, list) and len(generator) == 1:
        generator = generator[0]
    if isinstance(generator, list):
        rows = [torch.randn((1, *shape[1:]), generator=generator[i], device=rand_device,
                            dtype=torch.float32) for i in range(shape[0])]
        return torch.cat(rows, dim=0).to(device)
    return torch.randn(shape, generator=generator, device=rand_device,
                       dtype=torch.float32).to(device)
