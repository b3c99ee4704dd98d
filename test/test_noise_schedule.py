"""dp_ros/policy/noise_schedule.py and step_arithmetic.py against diffusers, the reference:
the schedule, the timesteps, add_noise, the noise draws and every sampler step are bit for bit
those of DDPMScheduler / DDIMScheduler (the paper's settings) and randn_tensor, so that a
policy trained or sampled without diffusers gives the samples it gave with it. And the
processes that only sample do not import diffusers at all.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor
from support import checkout_env, make_tiny_checkpoint, small_image_config

from dp_ros.policy.noise_schedule import (
    BETA_END,
    BETA_START,
    VARIANCE_TYPE,
    NoiseSchedule,
    inference_timesteps,
    randn,
)
from dp_ros.policy.step_arithmetic import StepArithmetic

SCHEDULES = ('linear', 'scaled_linear', 'squaredcos_cap_v2')


def reference(schedule: str = 'squaredcos_cap_v2', k: int = 100, prediction: str = 'epsilon',
              clip: bool = True, kind: str = 'ddpm', steps: int | None = None):
    """diffusers' scheduler as the policy built it before it owned the arithmetic."""
    ddpm = DDPMScheduler(num_train_timesteps=k, beta_start=BETA_START, beta_end=BETA_END,
                         beta_schedule=schedule, variance_type=VARIANCE_TYPE, clip_sample=clip,
                         prediction_type=prediction)
    sched = ddpm if kind == 'ddpm' else DDIMScheduler.from_config(ddpm.config)
    if steps is not None:
        sched.set_timesteps(steps)
    return sched


@pytest.mark.parametrize('schedule', SCHEDULES)
@pytest.mark.parametrize('k', [100, 1000, 7])
def test_the_schedule_and_timesteps_are_diffusers(schedule, k):
    ours = NoiseSchedule(schedule, k, 'epsilon', True)
    ref = reference(schedule, k)
    assert torch.equal(ours.betas, ref.betas)
    assert torch.equal(ours.alphas_cumprod, ref.alphas_cumprod)
    for n in sorted({n for n in (1, 3, 7, 10, 16, k // 3 or 1, k) if n <= k}):
        for kind in ('ddpm', 'ddim'):
            want = reference(schedule, k, kind=kind, steps=n).timesteps
            assert torch.equal(inference_timesteps(k, n), want), (kind, n)


@pytest.mark.parametrize('schedule', SCHEDULES)
def test_add_noise_is_diffusers(schedule):
    gen = torch.Generator().manual_seed(0)
    x, noise = torch.randn((64, 16, 7), generator=gen), torch.randn((64, 16, 7), generator=gen)
    steps = torch.randint(0, 100, (64,), generator=gen)
    got = NoiseSchedule(schedule, 100, 'epsilon', True).add_noise(x, noise, steps)
    assert torch.equal(got, reference(schedule).add_noise(x, noise, steps))


@pytest.mark.parametrize('schedule', SCHEDULES)
@pytest.mark.parametrize('sampler,steps,prediction,clip', [
    ('ddim', 10, 'epsilon', True), ('ddim', 7, 'sample', False), ('ddim', 100, 'epsilon', True),
    ('ddpm', 100, 'epsilon', True), ('ddpm', 10, 'epsilon', False), ('ddpm', 16, 'sample', True),
])
def test_every_step_is_scheduler_step(schedule, sampler, steps, prediction, clip):
    """Each step of StepArithmetic equals scheduler.step, the DDPM variance noise drawn from
    the same generator state."""
    sched = reference(schedule, 100, prediction, clip, sampler, steps)
    arith = StepArithmetic(NoiseSchedule(schedule, 100, prediction, clip), sampler, steps)
    assert arith.timesteps == [int(t) for t in sched.timesteps]
    assert torch.equal(arith.timestep_tensor, sched.timesteps)
    gen = torch.Generator().manual_seed(3)
    for i, t in enumerate(sched.timesteps):
        out = torch.randn((3, 16, 2), generator=gen) * 1.5
        sample = torch.randn((3, 16, 2), generator=gen) * 2
        seed = 1000 + i
        want = sched.step(out, t, sample, generator=torch.Generator().manual_seed(seed))
        noise = randn(out.shape, torch.Generator().manual_seed(seed), out.device) \
            if arith.noisy_steps[i] else None
        assert torch.equal(arith.step(i, out, sample, noise), want.prev_sample), (i, int(t))
    # DDPM draws variance noise on every step but the last (t = 0); DDIM (eta 0) never
    assert arith.noisy_steps == [sampler == 'ddpm' and int(t) > 0 for t in sched.timesteps]


def test_the_steps_refuse_what_they_do_not_model():
    schedule = NoiseSchedule('squaredcos_cap_v2', 100, 'epsilon', True)
    with pytest.raises(ValueError, match='sampler'):
        StepArithmetic(schedule, 'euler', 10)
    with pytest.raises(ValueError, match='num_inference_steps 101 must be in 1..100'):
        StepArithmetic(schedule, 'ddim', 101)
    with pytest.raises(ValueError, match='needs its variance noise'):
        StepArithmetic(schedule, 'ddpm', 10).step(0, torch.zeros(1, 16, 2), torch.zeros(1, 16, 2))
    with pytest.raises(ValueError, match="beta_schedule 'sigmoid' is not one of"):
        NoiseSchedule('sigmoid', 100, 'epsilon', True)
    with pytest.raises(ValueError, match="beta_schedule 'cosine' is not one of"):
        small_image_config(beta_schedule='cosine')


@pytest.mark.parametrize('generator', ['one', 'list', 'list of one', 'none'])
def test_noise_draws_are_randn_tensor(generator):
    def gens():
        if generator == 'none':
            torch.manual_seed(5)
            return None
        made = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        return {'one': made[0], 'list': made, 'list of one': made[:1]}[generator]

    shape = (3, 16, 2) if generator != 'list of one' else (1, 16, 2)
    got = randn(shape, gens(), torch.device('cpu'))
    want = randn_tensor(shape, generator=gens(), device=torch.device('cpu'),
                        dtype=torch.float32)
    assert torch.equal(got, want)


def test_sampling_processes_do_not_import_diffusers_or_dynamo(tmp_path):
    """The policy node, the inference runner and in-process evaluation load and sample a
    policy without diffusers, and without torch._dynamo (which diffusers imports, and which
    a random init on the 'meta' device imported through torch._refs): about 2 s of every
    sampling process's start. Training alone needs diffusers."""
    make_tiny_checkpoint(tmp_path / 'tiny', sampler='ddpm', num_inference_steps=3)
    code = ('import sys\n'
            'import torch\n'
            'import dp_ros.ros.policy_node, dp_ros.runtime.inference_runner\n'
            'import dp_ros.app.evaluate, training.closed_loop\n'
            'from dp_ros.policy.checkpoint import load_policy\n'
            'p = load_policy("tiny").eval()\n'
            'p.use_torchscript(True)\n'
            'cfg = p.config\n'
            'obs = {k: torch.rand(1, cfg.n_obs_steps, *cfg.obs_shape(k)) for k in cfg.obs_keys}\n'
            'p.predict_action(obs, torch.Generator().manual_seed(0))\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "diffusers"\n'
            '             or m.startswith("torch._dynamo")))\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=checkout_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == '[]', proc.stdout
