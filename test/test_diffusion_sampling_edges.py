"""More edges of dp_ros/policy/diffusion.py (DiffusionPolicy) than test_diffusion_policy_edges.py
covers: a normalizer without a low-dim key, camera frames of the wrong size or type, the centre
crop of a policy sampled in train mode, the loss of a bfloat16 policy, TorchScript graphs per
dtype and per batch size, a failed freeze that warns once and stays eager; and compute_loss
given actions for other observations.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from support import one_torch_thread, tiny_pusht_config  # noqa: F401 (autouse)
from test_policy_model import fit_normalizer, random_batch, random_obs, tiny_config

from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer


def make_policy(**overrides: object) -> DiffusionPolicy:
    config = tiny_config(**overrides)
    torch.manual_seed(0)
    return DiffusionPolicy(config, fit_normalizer(config)).eval()


def sample(policy: DiffusionPolicy, obs: dict) -> torch.Tensor:
    return policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 2)['action_pred']


def assert_close_in_action_range(policy: DiffusionPolicy, got: torch.Tensor,
                                 want: torch.Tensor, atol: float) -> None:
    """Compared in normalized units ([-1, 1] over the fitted action range)."""
    norm = policy.normalizer
    torch.testing.assert_close(norm.normalize('action', got), norm.normalize('action', want),
                               rtol=0, atol=atol)


def test_a_normalizer_without_a_low_dim_key_is_refused_by_name():
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 1, (10, 2))})
    with pytest.raises(ValueError, match="normalizer lacks 'agent_pos'"):
        DiffusionPolicy(tiny_config(), norm)


def test_camera_frames_of_the_wrong_size_are_refused_not_cropped():
    """40 px frames for a 32 px camera: the centre crop would take them silently."""
    policy = make_policy()
    obs = random_obs(policy.config, batch=1, steps=2)
    obs['image'] = torch.rand((1, 2, 3, 40, 40))
    with pytest.raises(ValueError, match=r"obs 'image': expected \(B, T>=2, 3, 32, 32\), "
                                         r'got \(1, 2, 3, 40, 40\)'):
        policy.encode_obs(obs)


def test_predict_action_crops_at_the_centre_in_train_mode_too():
    """On the 96 px Push-T camera (crop 84: a 3x3 feature map, where the crop matters; the
    32 px test camera's 1x1 map ignores the image), a policy left in train mode samples what
    it samples in eval mode, and a random crop would change the condition."""
    config = tiny_pusht_config()
    torch.manual_seed(0)
    policy = DiffusionPolicy(config, fit_normalizer(config)).train()
    obs = random_obs(config, batch=1, steps=2)
    centre = policy.encode_obs(obs, random_crop=False)
    assert not torch.equal(policy.encode_obs(obs, torch.Generator().manual_seed(1),
                                             random_crop=True), centre)
    trained = sample(policy, obs)
    assert torch.equal(trained, sample(policy.eval(), obs))


def test_a_bfloat16_policy_computes_a_float32_loss():
    """The UNet runs in bf16 on bf16 inputs; the MSE is taken in fp32 against fp32 targets."""
    policy = make_policy().train().to(torch.bfloat16)
    loss = policy.compute_loss(random_batch(policy.config, batch=2),
                               torch.Generator().manual_seed(0))
    assert loss.dtype == torch.float32 and loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in policy.model.parameters())


def test_torchscript_traces_anew_after_a_cast_to_bfloat16():
    """A frozen fp32 graph holds fp32 weights: the bf16 policy gets a graph of its own."""
    policy = make_policy()
    obs = random_obs(policy.config, batch=1, steps=2)
    policy.use_torchscript(True)
    sample(policy, obs)
    policy.to(torch.bfloat16)
    got = sample(policy, obs)
    assert len(policy._frozen) == 2
    policy.use_torchscript(False)
    assert_close_in_action_range(policy, got, sample(policy, obs), atol=2e-2)


def test_torchscript_traces_one_graph_per_batch_size():
    policy = make_policy()
    policy.use_torchscript(True)
    sample(policy, random_obs(policy.config, batch=1, steps=2))
    obs = random_obs(policy.config, batch=3, steps=2, seed=1)
    got = sample(policy, obs)
    assert got.shape == (3, 16, 2) and len(policy._frozen) == 2
    policy.use_torchscript(False)
    assert_close_in_action_range(policy, got, sample(policy, obs), atol=1e-4)


def test_a_failed_freeze_warns_once_and_samples_eagerly(monkeypatch):
    """torch.jit is deprecated upstream: when tracing fails the policy says so once and
    samples with the eager modules from then on."""
    def refuse(*args, **kwargs):
        raise RuntimeError('tracing is not supported here')

    policy = make_policy()
    obs = random_obs(policy.config, batch=1, steps=2)
    want = sample(policy, obs)  # eager: use_torchscript was never called
    policy.use_torchscript(True)
    monkeypatch.setattr(torch.jit, 'trace', refuse)
    with pytest.warns(UserWarning, match='TorchScript freeze failed.*not supported here'):
        first = sample(policy, obs)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        again = sample(policy, obs)
    assert policy._frozen is None
    assert torch.equal(first, want) and torch.equal(again, want)


def test_actions_for_another_batch_of_observations_are_refused():
    """Before: one action row for four observations was broadcast into a loss silently."""
    policy = make_policy().train()
    batch = random_batch(policy.config, batch=4)
    with pytest.raises(ValueError, match=r"batch\['action'\] has batch size 1, the "
                                         r'observations 4'):
        policy.compute_loss({'obs': batch['obs'], 'action': batch['action'][:1]},
                            torch.Generator().manual_seed(0))


def test_uint8_camera_frames_are_refused():
    policy = make_policy()
    obs = random_obs(policy.config, batch=1, steps=2)
    obs['image'] = (obs['image'] * 255).to(torch.uint8)
    with pytest.raises(ValueError, match=r"obs 'image': camera frames must be floating point "
                                         r'in \[0, 1\], got torch.uint8'):
        policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 2)
