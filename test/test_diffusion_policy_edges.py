"""Edges of dp_ros/policy/diffusion.py (DiffusionPolicy): the normalizer's dimensions, the
sampler cache per step count, encode_obs's shape checks and its choice of the first
n_obs_steps of a longer history, compute_loss as its recipe (noise, then steps in 0..K-1,
MSE against the noise), the generator draws of a DDPM chunk, and TorchScript sampling
switched off or in train mode.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_policy_model import fit_normalizer, random_batch, random_obs, tiny_config

from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer

torch.set_num_threads(1)


def _policy(**overrides: object) -> DiffusionPolicy:
    config = tiny_config(**overrides)
    torch.manual_seed(0)
    return DiffusionPolicy(config, fit_normalizer(config)).eval()


def test_a_normalizer_of_the_wrong_dimension_is_refused():
    """An action normalizer fitted on 3 values for a 2-D action is named, not used."""
    config = tiny_config()
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 1, (10, 3)),
                                 'agent_pos': rng.uniform(0, 1, (10, 2))})
    with pytest.raises(ValueError, match="normalizer 'action' has dimension 3, shape_meta says 2"):
        DiffusionPolicy(config, norm)


def test_the_sampler_cache_is_per_name_and_step_count():
    """sampler() keeps one StepArithmetic per (name, steps) and returns it again."""
    policy = _policy()
    five, ten = policy.sampler('ddim', 5), policy.sampler('ddim', 10)
    assert (five.num_inference_steps, ten.num_inference_steps) == (5, 10)
    assert policy.sampler('ddpm', 5).kind == 'ddpm'
    assert policy.sampler('ddim', 5) is five


def test_encode_obs_checks_history_length_and_batch():
    """Fewer than n_obs_steps steps, or keys with different batch sizes, are ValueErrors."""
    policy = _policy()
    short = random_obs(policy.config, batch=2, steps=1)
    with pytest.raises(ValueError, match=r"obs 'image': expected \(B, T>=2, 3, 32, 32\)"):
        policy.encode_obs(short)
    mixed = random_obs(policy.config, batch=2, steps=2)
    mixed['agent_pos'] = mixed['agent_pos'][:1]
    with pytest.raises(ValueError, match="obs 'agent_pos' has batch size 1, others 2"):
        policy.encode_obs(mixed)


def test_encode_obs_of_a_long_history_uses_its_first_n_obs_steps():
    """Training batches hold the whole horizon: the condition is its first To steps."""
    policy = _policy()
    obs = random_obs(policy.config, batch=2, steps=policy.config.horizon)
    first = {k: v[:, :policy.config.n_obs_steps] for k, v in obs.items()}
    assert torch.equal(policy.encode_obs(obs, random_crop=False),
                       policy.encode_obs(first, random_crop=False))


def test_predict_action_refuses_a_longer_history():
    """predict_action takes exactly n_obs_steps steps: a longer history is an error."""
    policy = _policy()
    with pytest.raises(ValueError, match='expected 2 time steps in dim 1'):
        policy.predict_action(random_obs(policy.config, batch=1, steps=3))


def test_compute_loss_checks_the_action_horizon_and_dimension():
    """(B, horizon, Da) only: a wrong action dimension is refused too."""
    policy = _policy()
    batch = random_batch(policy.config, batch=2)
    with pytest.raises(ValueError, match=r"batch\['action'\] must be \(B, 16, 2\)"):
        policy.compute_loss({'obs': batch['obs'], 'action': batch['action'][..., :1]})


@pytest.mark.parametrize('prediction', ['epsilon', 'sample'])
def test_compute_loss_is_the_denoising_recipe(prediction: str):
    """Noise first, then steps uniform in 0..K-1 from the same generator; MSE against the
    noise (epsilon) or the clean action (sample)."""
    policy = _policy(prediction_type=prediction)
    cfg = policy.config
    batch = random_batch(cfg, batch=3)
    with torch.no_grad():
        got = policy.compute_loss(batch, torch.Generator().manual_seed(5))
        gen = torch.Generator().manual_seed(5)
        cond = policy.encode_obs(batch['obs'], gen)
        naction = policy.normalizer.normalize('action', batch['action'])
        noise = torch.randn(naction.shape, generator=gen)
        steps = torch.randint(0, cfg.num_train_timesteps, (3,), generator=gen)
        noisy = policy.noise_schedule.add_noise(naction, noise, steps)
        pred = policy.model(noisy, steps, cond)
        want = F.mse_loss(pred, noise if prediction == 'epsilon' else naction)
    assert torch.equal(got, want)


def test_a_ddpm_chunk_draws_the_start_and_one_draw_per_noisy_step():
    """The generator is left where 1 + (steps - 1) draws of the chunk's shape leave it: the
    last step (t = 0) draws nothing, so the next chunk's noise is the documented stream."""
    policy = _policy()
    obs = random_obs(policy.config, batch=1, steps=2)
    gen = torch.Generator().manual_seed(3)
    policy.predict_action(obs, gen, 'ddpm', 4)
    ref = torch.Generator().manual_seed(3)
    for _ in range(1 + 3):
        torch.randn((1, 16, 2), generator=ref)
    assert torch.equal(torch.randn(4, generator=gen), torch.randn(4, generator=ref))


def test_torchscript_off_again_and_train_mode_sample_the_current_weights():
    """Frozen copies bake the weights in; train mode and use_torchscript(False) sample the
    live (eager) modules, so weights changed afterwards take effect there."""
    policy = _policy()
    obs = random_obs(policy.config, batch=1, steps=2)

    def sample(p: DiffusionPolicy) -> torch.Tensor:
        return p.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 2)['action_pred']

    def nudge_and_reference() -> torch.Tensor:
        """New weight tensors (not in-place: a frozen graph may alias the old ones)."""
        weights = {k: v + 0.01 if k.startswith('model.') else v
                   for k, v in policy.state_dict().items()}
        policy.load_state_dict(weights, assign=True)
        eager = _policy()
        eager.load_state_dict(policy.state_dict())
        return sample(eager)

    policy.use_torchscript(True)
    sample(policy)  # traces once, with the weights of now
    want = nudge_and_reference()
    policy.train()
    assert torch.equal(sample(policy), want)
    policy.eval()
    policy.use_torchscript(False)
    sample(policy)
    want = nudge_and_reference()
    assert torch.equal(sample(policy), want)
