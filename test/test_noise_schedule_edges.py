"""Edges of dp_ros/policy/noise_schedule.py and step_arithmetic.py that the diffusers
comparison (test/test_noise_schedule.py) cannot see: the schedule's own constants (the
reference is built from them), the step-count bounds, add_noise across devices and dtypes,
a one-generator list over a batch, and the sampler settings that the policy config never
produces (an unsupported prediction or variance type, DDPM's 'fixed_large' variance).
"""
from __future__ import annotations

import pytest
import torch

from dp_ros.policy.noise_schedule import (
    BETA_END,
    BETA_START,
    NoiseSchedule,
    betas,
    inference_timesteps,
    randn,
)
from dp_ros.policy.step_arithmetic import StepArithmetic


def test_linear_betas_run_from_the_papers_1e_4_to_0_02():
    """The paper's DDPMScheduler beta range (diffusers' defaults), pinned by value."""
    assert (BETA_START, BETA_END) == (1e-4, 0.02)
    got = betas('linear', 100)
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.linspace(1e-4, 0.02, 100, dtype=torch.float32))


@pytest.mark.parametrize('steps', [0, -1, 101])
def test_inference_step_counts_outside_1_to_k_are_a_value_error(steps: int):
    """0 steps is refused with the range, not a ZeroDivisionError."""
    with pytest.raises(ValueError, match=r'must be in 1\.\.100'):
        inference_timesteps(100, steps)


def test_add_noise_follows_the_input_across_devices():
    """The cached alphas_cumprod copy is renewed when x moves to another device."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    steps = torch.tensor([0, 50, 99])
    x = torch.linspace(-1, 1, 3 * 4 * 2).reshape(3, 4, 2)
    noise = torch.ones_like(x)
    want = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True).add_noise(x, noise, steps)
    meta = schedule.add_noise(x.to('meta'), noise.to('meta'), steps)
    assert meta.device.type == 'meta'
    got = schedule.add_noise(x, noise, steps)
    assert got.device.type == 'cpu'
    assert torch.equal(got, want)


def test_add_noise_keeps_a_bf16_input_in_bf16():
    """add_noise computes in the input's dtype (diffusers casts alphas_cumprod to it)."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    x = torch.linspace(-1, 1, 16).reshape(2, 4, 2).to(torch.bfloat16)
    out = schedule.add_noise(x, torch.zeros_like(x), torch.tensor([0, 99]))
    assert out.dtype == torch.bfloat16


def test_a_list_of_one_generator_draws_the_whole_batch_from_it():
    """[g] over a batch of 3 is g itself (randn_tensor unwraps a one-element list)."""
    got = randn((3, 16, 2), [torch.Generator().manual_seed(7)], 'cpu')
    want = torch.randn((3, 16, 2), generator=torch.Generator().manual_seed(7))
    assert torch.equal(got, want)


def test_a_list_of_generators_gives_each_row_its_own_stream():
    """Row i of a batched draw is generator i's first draw, whatever the other rows."""
    got = randn((3, 4, 2), [torch.Generator().manual_seed(s) for s in (1, 2, 3)], 'cpu')
    for i, seed in enumerate((1, 2, 3)):
        alone = torch.randn((1, 4, 2), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(got[i:i + 1], alone)


def test_steps_refuse_an_unsupported_prediction_type():
    """'v_prediction' is no prediction the steps model: refused, not sampled as 'sample'."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'v_prediction', True)
    with pytest.raises(ValueError, match="prediction_type 'v_prediction' not supported"):
        StepArithmetic(schedule, 'ddim', 10)


def test_ddpm_steps_refuse_an_unsupported_variance_type():
    """A learned variance is refused for DDPM (and ignored by DDIM, which draws none)."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    schedule.variance_type = 'learned'
    with pytest.raises(ValueError, match="variance_type 'learned' not supported"):
        StepArithmetic(schedule, 'ddpm', 10)
    assert StepArithmetic(schedule, 'ddim', 10).noisy_steps == [False] * 10


def test_ddpm_fixed_large_variance_is_the_steps_beta():
    """'fixed_large': the noise std of a step is sqrt(1 - alpha_t / alpha_prev), unclipped."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    schedule.variance_type = 'fixed_large'
    arith = StepArithmetic(schedule, 'ddpm', 10)
    small = StepArithmetic(NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True), 'ddpm', 10)
    ac = schedule.alphas_cumprod
    for i, t in enumerate(arith.timesteps[:-1]):
        prev = arith.timesteps[i + 1]
        beta = 1 - ac[t] / ac[prev]
        assert torch.allclose(arith.coefficients[i].noise_std ** 2, beta, rtol=1e-5)
        assert arith.coefficients[i].noise_std > small.coefficients[i].noise_std
    assert arith.coefficients[-1].noise_std is None


def test_ddim_and_ddpm_end_on_alpha_one():
    """The last step's previous alpha is 1 (set_alpha_to_one): x0's coefficient is 1 and the
    other term vanishes, so a clean estimate comes back unchanged."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'sample', False)
    x0 = torch.linspace(-0.5, 0.5, 8).reshape(1, 4, 2)
    sample = torch.full_like(x0, 3.0)
    for kind in ('ddim', 'ddpm'):
        arith = StepArithmetic(schedule, kind, 10)
        last = arith.coefficients[-1]
        assert float(last.x0_coeff) == 1.0
        assert torch.allclose(arith.step(len(arith.timesteps) - 1, x0, sample), x0, atol=1e-6)


@pytest.mark.parametrize('kind', ['dpm', 'DDIM', 'euler', ''])
def test_steps_know_only_ddim_and_ddpm(kind: str):
    """Any other sampler name is refused (it would otherwise step as DDPM)."""
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    with pytest.raises(ValueError, match="sampler must be 'ddim' or 'ddpm'"):
        StepArithmetic(schedule, kind, 10)
