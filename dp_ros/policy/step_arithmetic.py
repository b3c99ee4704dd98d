"""A sampler's steps (DDIM or DDPM, as diffusers' schedulers step) as fixed per-step
tensor arithmetic: what predict_action runs, and what a CUDA graph can hold.

diffusers' scheduler.step() looks up its coefficients, finds the previous timestep with a
`nonzero` and draws DDPM variance noise from the generator on every call; none of that can
live inside a captured graph. Here every per-step coefficient is computed once, by the same
fp32 scalar expressions diffusers evaluates (0-dim CPU tensors, so the kernels get the same
scalar arguments as in its eager step), and the variance noise is an input that the caller
draws where scheduler.step() would. test/test_graph_sampler.py checks the result against
scheduler.step() bit for bit, for both samplers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from dp_ros.policy.noise_schedule import NoiseSchedule, inference_timesteps

SUPPORTED_PREDICTIONS = ('epsilon', 'sample')
SUPPORTED_VARIANCES = ('fixed_small', 'fixed_large')  # DDPM; the policy uses fixed_small


@dataclass(frozen=True)
class StepCoefficients:
    """One step's scalars (0-dim fp32 CPU tensors), named after diffusers' local variables."""

    sqrt_alpha_prod: torch.Tensor
    sqrt_beta_prod: torch.Tensor
    x0_coeff: torch.Tensor  # DDIM: sqrt(alpha_prod_prev); DDPM: pred_original_sample_coeff
    other_coeff: torch.Tensor  # DDIM: the direction's coefficient; DDPM: current_sample_coeff
    noise_std: torch.Tensor | None  # DDPM with t > 0: sqrt(variance); else no noise


class StepArithmetic:
    """The steps of one sampler ('ddim' or 'ddpm') over `num_inference_steps` timesteps."""

    def __init__(self, schedule: NoiseSchedule, kind: str, num_inference_steps: int) -> None:
        if kind not in ('ddim', 'ddpm'):
            raise ValueError(f"sampler must be 'ddim' or 'ddpm', got {kind!r}")
        if schedule.prediction_type not in SUPPORTED_PREDICTIONS:
            raise ValueError(f'prediction_type {schedule.prediction_type!r} not supported')
        if kind == 'ddpm' and schedule.variance_type not in SUPPORTED_VARIANCES:
            raise ValueError(f'variance_type {schedule.variance_type!r} not supported')
        self.kind = kind
        self.schedule = schedule
        self.prediction_type = schedule.prediction_type
        self.clip_range = schedule.clip_range
        self.num_inference_steps = int(num_inference_steps)
        with torch.device('cpu'):
            self.timestep_tensor = inference_timesteps(schedule.num_train_timesteps,
                                                       self.num_inference_steps)
            self.timesteps = [int(t) for t in self.timestep_tensor]
            make = self._ddim if kind == 'ddim' else self._ddpm
            self.coefficients = [make(i) for i in range(len(self.timesteps))]

    @property
    def noisy_steps(self) -> list[bool]:
        """Which steps add variance noise (one draw of the sample's shape each, in order)."""
        return [c.noise_std is not None for c in self.coefficients]

    # ------------------------------------------------------------------ coefficients
    def _ddim(self, i: int) -> StepCoefficients:
        """DDIMScheduler.step with eta = 0 (predict_action passes none)."""
        sched, t = self.schedule, self.timesteps[i]
        prev = t - sched.num_train_timesteps // self.num_inference_steps
        alpha_prod_t = sched.alphas_cumprod[t]
        alpha_prod_t_prev = sched.alphas_cumprod[prev] if prev >= 0 else sched.one
        beta_prod_t = 1 - alpha_prod_t
        std_dev_t = torch.zeros((), dtype=alpha_prod_t.dtype)  # eta * variance ** 0.5, eta 0
        return StepCoefficients(
            sqrt_alpha_prod=alpha_prod_t ** 0.5, sqrt_beta_prod=beta_prod_t ** 0.5,
            x0_coeff=alpha_prod_t_prev ** 0.5,
            other_coeff=(1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5, noise_std=None)

    def _ddpm(self, i: int) -> StepCoefficients:
        """DDPMScheduler.step set to num_inference_steps (previous_timestep: the next one)."""
        sched, t = self.schedule, self.timesteps[i]
        prev_t = self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1
        alpha_prod_t = sched.alphas_cumprod[t]
        alpha_prod_t_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.one
        beta_prod_t = 1 - alpha_prod_t
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        current_alpha_t = alpha_prod_t / alpha_prod_t_prev
        current_beta_t = 1 - current_alpha_t
        noise_std = None
        if t > 0:  # DDPMScheduler._get_variance
            variance = (1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t
            variance = torch.clamp(variance, min=1e-20)
            if sched.variance_type == 'fixed_large':
                variance = current_beta_t
            noise_std = variance ** 0.5
        return StepCoefficients(
            sqrt_alpha_prod=alpha_prod_t ** 0.5, sqrt_beta_prod=beta_prod_t ** 0.5,
            x0_coeff=(alpha_prod_t_prev ** 0.5 * current_beta_t) / beta_prod_t,
            other_coeff=current_alpha_t ** 0.5 * beta_prod_t_prev / beta_prod_t,
            noise_std=noise_std)

    # ------------------------------------------------------------------ the step
    def step(self, i: int, model_output: torch.Tensor, sample: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
        """scheduler.step(model_output, timesteps[i], sample).prev_sample; `noise` is the
        variance noise of a noisy step (what the eager step would draw)."""
        c = self.coefficients[i]
        if self.prediction_type == 'epsilon':
            x0 = (sample - c.sqrt_beta_prod * model_output) / c.sqrt_alpha_prod
            eps = model_output
        else:
            x0 = model_output
            eps = (sample - c.sqrt_alpha_prod * x0) / c.sqrt_beta_prod if self.kind == 'ddim' \
                else None
        if self.clip_range is not None:
            x0 = x0.clamp(-self.clip_range, self.clip_range)
        if self.kind == 'ddim':
            return c.x0_coeff * x0 + c.other_coeff * eps
        prev = c.x0_coeff * x0 + c.other_coeff * sample
        if c.noise_std is None:
            return prev
        if noise is None:
            raise ValueError(f'step {i} (t={self.timesteps[i]}) needs its variance noise')
        return prev + c.noise_std * noise
