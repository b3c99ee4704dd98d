"""Behaviour of dp_ros/policy/diffusion.py (DiffusionPolicy) that the first mutation pass and
the other tests left unpinned (a second mutation review of the module).

Pinned: the UNet built with the config's kernel_size and final_block_groups (not the UNet's
defaults, which equal the config's defaults), encode_obs as the paper's recipe (each row's
first n_obs_steps observations normalized, cameras [0, 1] -> [-1, 1], encoded one step at a
time and laid out step-major per row, rows independent of each other), random_crop=True
augmenting in eval mode too, and predict_action building no autograd graph whatever the
caller's grad mode.
"""
from __future__ import annotations

import pytest
import torch
from support import one_torch_thread, tiny_pusht_config  # noqa: F401 (autouse)
from test_policy_model import fit_normalizer, random_obs, tiny_config

from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer
from dp_ros.policy.unet import Conv1dBlock


def _policy(**overrides: object) -> DiffusionPolicy:
    config = tiny_config(**overrides)
    torch.manual_seed(0)
    return DiffusionPolicy(config, fit_normalizer(config)).eval()


@pytest.fixture(scope='module')
def policy() -> DiffusionPolicy:
    """small_image_config's 32 px camera + 2-D agent_pos policy, 2 observation steps."""
    return _policy()


def test_the_unet_takes_the_configs_kernel_size_and_final_block_groups():
    """kernel_size 7 and final_block_groups 4 reach every conv block and the final block's
    GroupNorm (the UNet's own defaults, 5 and 8, are the config's defaults too)."""
    policy = _policy(kernel_size=7, final_block_groups=4)
    blocks = [m for m in policy.model.modules() if isinstance(m, Conv1dBlock)]
    assert blocks and all(b.block[0].kernel_size == (7,) for b in blocks)
    assert policy.model.final_conv[0].block[1].num_groups == 4


def test_a_camera_normalizer_of_two_scales_is_refused(policy):
    """A camera entry is one scale and offset for every pixel: any other count, 2 as well
    as 3, is refused by name (2 would broadcast over a 2-pixel-wide axis or fail later)."""
    d = policy.normalizer.to_dict()
    d['fields']['image'] = {'kind': 'image', 'scale': [2.0, 2.0], 'offset': [-1.0, -1.0]}
    with pytest.raises(ValueError, match="normalizer 'image' .a camera. must be of kind "
                                         "'image' with one scale and offset, got 'image' of "
                                         'dimension 2'):
        DiffusionPolicy(policy.config, Normalizer.from_dict(d))


def test_encode_obs_is_the_encoder_over_each_rows_normalized_first_steps(policy):
    """The paper's global condition: obs[:, :To] normalized (agent_pos by its limits, the
    camera 2x - 1), flattened to (B * To, ...), encoded, reshaped (B, To * feature): row b
    holds its own steps in order. Checked against the encoder fed by hand."""
    cfg = policy.config
    to, batch = cfg.n_obs_steps, 3
    obs = random_obs(cfg, batch=batch, steps=to + 2, seed=4)
    got = policy.encode_obs(obs, random_crop=False)
    pos = policy.normalizer.normalize('agent_pos', obs['agent_pos'][:, :to])
    assert pos.abs().max() <= 1.0 + 1e-6  # normalized: not the raw 0..512 values
    by_hand = {'image': obs['image'][:, :to].reshape(batch * to, 3, 32, 32) * 2 - 1,
               'agent_pos': pos.reshape(batch * to, 2)}
    with torch.no_grad():
        want = policy.obs_encoder(by_hand, random_crop=False).reshape(batch, -1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # agent_pos, the last key, ends each step's feature block unchanged
    steps = got.reshape(batch, to, policy.obs_encoder.output_dim)
    torch.testing.assert_close(steps[..., -2:], pos, rtol=1e-6, atol=1e-6)
    # a row's condition does not depend on the other rows
    alone = policy.encode_obs({k: v[1:2] for k, v in obs.items()}, random_crop=False)
    torch.testing.assert_close(alone, got[1:2], rtol=1e-5, atol=1e-5)


def test_random_crop_true_augments_in_eval_mode_too():
    """On the 96 px Push-T camera (the 32 px test camera's 1x1 map ignores the image),
    random_crop=True crops at random from the generator even in eval mode; None in eval
    mode is the centre crop, as False is."""
    config = tiny_pusht_config()
    torch.manual_seed(0)
    policy = DiffusionPolicy(config, fit_normalizer(config)).eval()
    obs = random_obs(config, batch=2, steps=2, seed=5)
    centre = policy.encode_obs(obs, random_crop=False)
    assert torch.equal(policy.encode_obs(obs), centre)
    crops = [policy.encode_obs(obs, torch.Generator().manual_seed(s), random_crop=True)
             for s in (0, 0, 1)]
    assert torch.equal(crops[0], crops[1])
    assert not torch.equal(crops[0], centre) and not torch.equal(crops[0], crops[2])


def test_predict_action_builds_no_autograd_graph(policy):
    """Sampling runs under no_grad whatever the caller's mode: the returned chunk carries no
    graph (with grad enabled, 4 UNet passes' activations would be kept alive)."""
    obs = random_obs(policy.config, batch=1, steps=2, seed=6)
    with torch.enable_grad():
        out = policy.predict_action(obs, torch.Generator().manual_seed(0))
    for value in out.values():
        assert not value.requires_grad and value.grad_fn is None


def test_torchscript_active_says_whether_frozen_sampling_is_on(monkeypatch):
    """Off until use_torchscript(), on after it, off after use_torchscript(False), and off
    for good once a trace fails (the runner's log line reads it)."""
    policy = _policy()
    assert not policy.torchscript_active
    policy.use_torchscript(True)
    assert policy.torchscript_active
    policy.use_torchscript(False)
    assert not policy.torchscript_active

    def refuse(*args, **kwargs):
        raise RuntimeError('tracing is not supported here')

    policy.use_torchscript(True)
    monkeypatch.setattr(torch.jit, 'trace', refuse)
    with pytest.warns(UserWarning, match='TorchScript freeze failed'):
        policy.predict_action(random_obs(policy.config, batch=1, steps=2), num_inference_steps=1)
    assert not policy.torchscript_active


def test_the_torchscript_unet_is_frozen_with_its_weights_folded_in():
    """use_torchscript samples with a frozen graph (weights folded into constants: no
    parameters left), not a merely traced module that still reads the eager weights."""
    policy = _policy()
    policy.use_torchscript(True)
    policy.predict_action(random_obs(policy.config, batch=1, steps=2), num_inference_steps=1)
    (frozen,) = policy._frozen.values()
    assert list(policy.model.parameters()) and not list(frozen.parameters())


def test_a_bf16_policys_steps_take_the_denoiser_output_in_fp32():
    """The scheduler arithmetic runs in fp32 (the docstring's promise) whatever the model
    dtype: a bfloat16 UNet's output is cast to fp32 before the step, so the eps term is not
    rounded to bf16. The same chunk comes out, bit for bit, when the denoiser's output is
    handed over already in fp32 (the cast then a no-op); without the cast it differs."""
    policy = _policy().to(torch.bfloat16)
    obs = random_obs(policy.config, batch=1, steps=2, seed=7)
    denoise = policy._denoise
    outputs: list[torch.dtype] = []

    def in_fp32(*args, **kwargs):
        out = denoise(*args, **kwargs)
        outputs.append(out.dtype)
        return out.float()

    for sampler in ('ddim', 'ddpm'):
        got = policy.predict_action(obs, torch.Generator().manual_seed(3), sampler, 4)
        outputs.clear()
        policy._denoise = in_fp32
        try:
            want = policy.predict_action(obs, torch.Generator().manual_seed(3), sampler, 4)
        finally:
            del policy._denoise
        assert outputs == [torch.bfloat16] * 4  # the UNet did run in bf16
        for key in ('action', 'action_pred'):
            assert got[key].dtype == torch.float32
            assert torch.equal(got[key], want[key]), (sampler, key)
