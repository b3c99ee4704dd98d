"""The policy model: sizes, normalizer, training loss, sampling semantics, and a real overfit."""
from __future__ import annotations

import copy
import json
import time

import numpy as np
import pytest
import torch
import zarr
from support import episode_bounds, shortest_episode_indices, small_image_config

from dp_ros.policy.config import PolicyConfig, pusht_image_config
from dp_ros.policy.diffusion import DiffusionPolicy, count_parameters
from dp_ros.policy.normalizer import Normalizer
from dp_ros.policy.resnet import ResNet18Trunk
from dp_ros.policy.unet import ConditionalUnet1D, Conv1d, ConvTranspose1d

torch.set_num_threads(1)


def tiny_config(**overrides) -> PolicyConfig:
    """Small enough that a forward pass takes milliseconds on one core."""
    return small_image_config(**overrides)


def fit_normalizer(config: PolicyConfig, seed: int = 0) -> Normalizer:
    rng = np.random.default_rng(seed)
    data = {'action': rng.uniform(0, 512, (200, config.action_dim))}
    for key in config.low_dim_keys:
        data[key] = rng.uniform(0, 512, (200, config.obs_shape(key)[0]))
    return Normalizer.from_data(data)


def random_obs(config: PolicyConfig, batch: int, steps: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    obs = {}
    for key in config.obs_keys:
        shape = config.obs_shape(key)
        if key in config.rgb_keys:
            obs[key] = torch.rand((batch, steps, *shape), generator=g)
        else:
            obs[key] = torch.rand((batch, steps, *shape), generator=g) * 512
    return obs


def random_batch(config: PolicyConfig, batch: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed + 1)
    return {'obs': random_obs(config, batch, config.horizon, seed),
            'action': torch.rand((batch, config.horizon, config.action_dim), generator=g) * 512}


# ---------------------------------------------------------------------------- sizes
def test_paper_config_has_paper_parameter_counts():
    config = pusht_image_config()
    assert config.down_dims == (512, 1024, 2048) and config.crop_shape == (84, 84)
    assert (config.horizon, config.n_obs_steps, config.n_action_steps) == (16, 2, 8)
    normalizer = fit_normalizer(config)
    with torch.device('meta'):  # no memory, no init time
        policy = DiffusionPolicy(config, normalizer)
    unet, encoder = count_parameters(policy.model), count_parameters(policy.obs_encoder)
    assert unet == pytest.approx(251.5e6, rel=0.005)
    assert encoder == pytest.approx(11.2e6, rel=0.005)
    assert unet + encoder == pytest.approx(262.7e6, rel=0.005)
    assert count_parameters(policy) == unet + encoder  # the normalizer holds no parameters


def test_resnet_width_and_groupnorm():
    trunk = ResNet18Trunk(width=0.5)
    convs = [m.out_channels for m in trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sorted(set(convs)) == [32, 64, 128, 256]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk.modules())
    norms = [m for m in trunk.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == m.num_channels // 16 for m in norms)
    out = trunk(torch.zeros(2, 3, 84, 84))
    assert out.shape == (2, 256, *ResNet18Trunk.output_hw(84, 84)) == (2, 256, 3, 3)
    with pytest.raises(ValueError, match='resnet_width'):
        PolicyConfig(resnet_width=0.3)


def test_unet_groupnorms_as_the_papers_whatever_n_groups():
    """Defect: the final conv block took n_groups; the paper's takes its default, 8 (with
    n_groups 4 the same weights predicted noise 0.09 apart)."""
    unet = ConditionalUnet1D(2, 10, 16, down_dims=(32, 64), n_groups=4)
    norms = [m for m in unet.modules() if isinstance(m, torch.nn.GroupNorm)]
    final = [m for m in unet.final_conv.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(final) == 1 and final[0].num_groups == 8
    assert all(m.num_groups == 4 for m in norms if m is not final[0])
    with pytest.raises(ValueError, match='divisible by 8'):
        PolicyConfig(down_dims=[12, 24], n_groups=4)


# ---------------------------------------------------------------------------- config
def test_config_round_trip_and_unknown_keys():
    config = tiny_config(n_obs_steps=3, sampler='ddim', num_inference_steps=10)
    d = json.loads(json.dumps(config.to_dict()))
    assert PolicyConfig.from_dict(d) == config
    assert config.rgb_keys == ['image'] and config.low_dim_keys == ['agent_pos']
    assert config.action_dim == 2
    d['lr'] = 1e-4
    with pytest.raises(ValueError, match=r"unknown PolicyConfig keys \['lr'\]"):
        PolicyConfig.from_dict(d)
    with pytest.raises(ValueError, match='horizon 10 must be divisible by 4'):
        PolicyConfig(horizon=10, n_action_steps=4)
    with pytest.raises(ValueError, match="sampler 'dpm'"):
        PolicyConfig(sampler='dpm')
    # an image's camera crop travels in shape_meta, checked where it is defined
    meta = copy.deepcopy(config.shape_meta)
    assert config.camera_crop('image') is None
    meta['obs']['image']['camera_crop'] = [137, 11, 366, 366]
    cropped = tiny_config(shape_meta=meta)
    assert cropped.camera_crop('image') == (137, 11, 366, 366)
    assert PolicyConfig.from_dict(json.loads(json.dumps(cropped.to_dict()))) == cropped
    meta['obs']['image']['camera_crop'] = [137, 11, 366]
    with pytest.raises(ValueError, match=r"rgb obs 'image' camera_crop must be \[x0, y0"):
        tiny_config(shape_meta=meta)


# ---------------------------------------------------------------------------- normalizer
def test_normalizer_identity_dimensions_stay_as_they_are():
    """Dimensions named as identity (a pose's rotation entries) pass through; the others are
    min-max as before; the stats are the data's either way."""
    data = np.array([[0.0, -0.5, 10.0], [2.0, 0.5, 30.0]], dtype=np.float32)
    norm = Normalizer.from_data({'action': data}, identity={'action': [1]})
    n = norm.normalize('action', torch.from_numpy(data))
    assert n.tolist() == [[-1.0, -0.5, -1.0], [1.0, 0.5, 1.0]]
    assert norm.to_dict()['fields']['action']['min'] == [0.0, -0.5, 10.0]
    with pytest.raises(ValueError, match=r"identity dimensions \[3\] outside its 3"):
        Normalizer.from_data({'action': data}, identity={'action': [3]})


def test_normalizer_limits_round_trip():
    rng = np.random.default_rng(1)
    # the last dimension is constant
    action = rng.uniform([10, -5, 3], [500, 5, 3], (1000, 3)).astype(np.float32)
    norm = Normalizer.from_data({'action': action, 'agent_pos': action[:, :2]},
                                image_keys=['image'])
    x = torch.from_numpy(action)
    n = norm.normalize('action', x)
    assert n.dtype == torch.float32
    assert torch.allclose(n[:, :2].min(0).values, torch.tensor([-1.0, -1.0]), atol=1e-6)
    assert torch.allclose(n[:, :2].max(0).values, torch.tensor([1.0, 1.0]), atol=1e-6)
    assert torch.allclose(n[:, 2], torch.zeros(1000), atol=1e-6)  # constant dim: centred only
    assert torch.allclose(norm.unnormalize('action', n), x, atol=1e-4)
    # (B, T, D) shapes work too
    assert norm.normalize('action', x.reshape(10, 100, 3)).shape == (10, 100, 3)
    img = torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(norm.normalize('image', img), torch.tensor([-1.0, 0.0, 1.0]))

    # JSON round trip is exact
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again.keys == norm.keys
    for key in norm.keys:
        assert torch.equal(again.normalize(key, x[:, :norm.dim(key)] if key != 'image' else img),
                           norm.normalize(key, x[:, :norm.dim(key)] if key != 'image' else img))
    assert again.to_dict()['fields']['action']['min'] == norm.to_dict()['fields']['action']['min']

    # casting a model to bf16 must not round the statistics
    norm.to(torch.bfloat16)
    assert all(b.dtype == torch.float32 for b in norm.buffers())
    assert torch.allclose(norm.unnormalize('action', n), x, atol=1e-4)

    with pytest.raises(KeyError, match="no key 'state'"):
        norm.normalize('state', x)
    with pytest.raises(ValueError, match='last dimension must be 3'):
        norm.normalize('action', x[:, :2])


# ---------------------------------------------------------------------------- training loss
def test_compute_loss_backprops_into_encoder_and_unet():
    config = tiny_config()
    policy = DiffusionPolicy(config, fit_normalizer(config)).train()
    batch = random_batch(config, batch=4)
    loss = policy.compute_loss(batch, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name, module in [('encoder', policy.obs_encoder), ('unet', policy.model)]:
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    # the generator makes the loss reproducible (crops, noise, steps)
    same = policy.compute_loss(batch, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, loss.detach())
    with pytest.raises(ValueError, match=r"batch\['action'\] must be \(B, 16, 2\)"):
        policy.compute_loss({'obs': batch['obs'], 'action': batch['action'][:, :8]})


def test_policy_deep_copies_for_ema():
    config = tiny_config()
    policy = DiffusionPolicy(config, fit_normalizer(config)).eval()
    policy.sampler('ddim', 3)  # a cached scheduler must not block the copy
    ema = copy.deepcopy(policy)
    obs = random_obs(config, batch=1, steps=2)
    a = policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 3)['action_pred']
    b = ema.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 3)['action_pred']
    assert torch.equal(a, b)
    assert set(ema.state_dict()) == set(policy.state_dict())
    assert not any(k.startswith('normalizer') for k in policy.state_dict())  # stats live in JSON


def test_compute_loss_under_bf16_autocast():
    config = tiny_config()
    policy = DiffusionPolicy(config, fit_normalizer(config)).train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = policy.compute_loss(random_batch(config, batch=2))
    loss.backward()
    assert torch.isfinite(loss)


# ---------------------------------------------------------------------------- sampling
def test_predict_action_shapes_and_executed_slice():
    config = tiny_config(n_obs_steps=3, n_action_steps=6)
    policy = DiffusionPolicy(config, fit_normalizer(config)).eval()
    obs = random_obs(config, batch=3, steps=3)
    out = policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 4)
    assert out['action_pred'].shape == (3, 16, 2)
    assert out['action'].shape == (3, 6, 2)
    # executed actions start at the last observation step (index n_obs_steps - 1)
    assert torch.equal(out['action'], out['action_pred'][:, 2:8])
    # raw units: the normalized sample is clipped to [-1, 1], i.e. the fitted action range
    stats = policy.normalizer.to_dict()['fields']['action']
    lo, hi = torch.tensor(stats['min']), torch.tensor(stats['max'])
    assert torch.all(out['action_pred'] >= lo - 1e-3) and torch.all(out['action_pred'] <= hi + 1e-3)
    # rows of a batch are different environments: different observations, different samples
    assert not torch.equal(out['action_pred'][0], out['action_pred'][1])

    with pytest.raises(ValueError, match='expected 3 time steps'):
        policy.predict_action(random_obs(config, batch=1, steps=2))
    with pytest.raises(KeyError, match='lacks keys'):
        policy.predict_action({'image': obs['image']})


@pytest.mark.parametrize('sampler,steps', [('ddpm', 1), ('ddpm', 7), ('ddpm', 100),
                                           ('ddim', 1), ('ddim', 10), ('ddim', 16)])
def test_samplers_any_step_count_are_deterministic(sampler, steps):
    config = tiny_config()
    policy = DiffusionPolicy(config, fit_normalizer(config)).eval()
    obs = random_obs(config, batch=2, steps=2)
    a = policy.predict_action(obs, torch.Generator().manual_seed(7), sampler, steps)
    b = policy.predict_action(obs, torch.Generator().manual_seed(7), sampler, steps)
    c = policy.predict_action(obs, torch.Generator().manual_seed(8), sampler, steps)
    assert torch.equal(a['action_pred'], b['action_pred'])
    assert not torch.equal(a['action_pred'], c['action_pred'])
    assert torch.isfinite(a['action_pred']).all()
    assert len(policy.sampler(sampler, steps).timesteps) == steps


def test_bf16_policy_samples():
    config = tiny_config()
    policy = DiffusionPolicy(config, fit_normalizer(config)).eval()
    obs = random_obs(config, batch=2, steps=2)
    ref = policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 8)['action_pred']
    policy.to(torch.bfloat16)
    assert policy.dtype == torch.bfloat16
    out = policy.predict_action(obs, torch.Generator().manual_seed(0), 'ddim', 8)['action_pred']
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    # same noise, same weights up to bf16 rounding: close to the fp32 sample in [-1, 1] units
    diff = policy.normalizer.normalize('action', out) - policy.normalizer.normalize('action', ref)
    assert diff.abs().max() < 0.25


def test_several_cameras():
    shape_meta = {'obs': {'left': {'shape': [3, 32, 32], 'type': 'rgb'},
                          'wrist': {'shape': [3, 40, 40], 'type': 'rgb'},
                          'joints': {'shape': [3], 'type': 'low_dim'}},
                  'action': {'shape': [3]}}
    config = tiny_config(shape_meta=shape_meta)
    policy = DiffusionPolicy(config, fit_normalizer(config))
    assert sorted(policy.obs_encoder.cameras) == ['left', 'wrist']
    assert policy.obs_encoder.output_dim == 2 * config.feature_dim + 3
    loss = policy.compute_loss(random_batch(config, batch=2))
    loss.backward()
    out = policy.predict_action(random_obs(config, 2, 2), torch.Generator().manual_seed(0),
                                'ddim', 2)
    assert out['action'].shape == (2, 8, 3)


# ---------------------------------------------------------------------------- real data
def test_tiny_policy_overfits_shortest_pusht_episode(pusht_zarr):
    """A 2M-parameter policy memorises the 34 windows of the 49-step episode.

    Images are average-pooled 96 -> 24 px and not cropped, and 300 steps train it, so that
    the test takes about a minute on one AVX2 core (the UNet's convolutions are most of it);
    everything else is the real model path.
    """
    root = zarr.open(str(pusht_zarr), mode='r')
    starts, ends = episode_bounds(pusht_zarr)
    (ep,) = shortest_episode_indices(pusht_zarr, 1)
    s, e = int(starts[ep]), int(ends[ep])
    img = torch.from_numpy(root['data/img'][s:e]).permute(0, 3, 1, 2) / 255.0
    img = torch.nn.functional.avg_pool2d(img, 4)
    pos = torch.from_numpy(root['data/state'][s:e, :2])
    act = torch.from_numpy(root['data/action'][s:e])

    config = PolicyConfig(
        shape_meta={'obs': {'image': {'shape': [3, 24, 24], 'type': 'rgb'},
                            'agent_pos': {'shape': [2], 'type': 'low_dim'}},
                    'action': {'shape': [2]}},
        crop_shape=None, resnet_width=0.25, down_dims=(32, 64, 128), num_keypoints=16,
        feature_dim=32)
    horizon, to = config.horizon, config.n_obs_steps
    idx = torch.stack([torch.arange(i, i + horizon) for i in range(e - s - horizon + 1)])
    batch = {'obs': {'image': img[idx[:, :to]], 'agent_pos': pos[idx[:, :to]]},
             'action': act[idx]}
    torch.manual_seed(0)
    normalizer = Normalizer.from_data({'action': act.numpy(), 'agent_pos': pos.numpy()})
    policy = DiffusionPolicy(config, normalizer).train()
    steps = 300
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + np.cos(np.pi * i / steps)))
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = policy.compute_loss(batch, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    train_s = time.perf_counter() - t0

    policy.eval()
    out = policy.predict_action(batch['obs'], torch.Generator().manual_seed(0), 'ddpm', 100)
    executed = batch['action'][:, to - 1:to - 1 + config.n_action_steps]
    target = normalizer.normalize('action', executed)
    mse = float(((normalizer.normalize('action', out['action']) - target) ** 2).mean())
    print(f'overfit: {len(idx)} windows, {steps} steps in {train_s:.1f} s, '
          f'final loss {loss.item():.4f}, executed-action normalized MSE {mse:.4f}')
    assert mse < 0.05


@pytest.mark.parametrize('in_ch,out_ch,kernel,stride,batch,steps', [
    (256, 256, 5, 1, 1, 4), (512, 128, 5, 1, 1, 8), (128, 512, 1, 1, 2, 4),
    (128, 128, 3, 2, 1, 8), (64, 64, 5, 1, 1, 16)])
def test_sampling_conv1d_path_equals_nn_conv1d(in_ch, out_ch, kernel, stride, batch, steps):
    torch.manual_seed(0)
    conv = Conv1d(in_ch, out_ch, kernel, stride, padding=kernel // 2)
    ref = torch.nn.Conv1d(in_ch, out_ch, kernel, stride, padding=kernel // 2)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(batch, in_ch, steps)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), ref(x), rtol=1e-5, atol=1e-5)
    x.requires_grad_(True)
    conv(x).sum().backward()  # training takes nn.Conv1d's own path
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize('cls,ref_cls,args,batch,steps', [
    (Conv1d, torch.nn.Conv1d, (256, 128, 5, 1, 2), 2, 16),  # 32 rows: over the CPU's 8
    (Conv1d, torch.nn.Conv1d, (128, 128, 3, 2, 1), 3, 8),
    (ConvTranspose1d, torch.nn.ConvTranspose1d, (256, 128, 4, 2, 1), 1, 4),  # Upsample1d's
    (ConvTranspose1d, torch.nn.ConvTranspose1d, (128, 96, 4, 2, 1), 3, 5),
    (ConvTranspose1d, torch.nn.ConvTranspose1d, (128, 96, 3, 1, 1), 2, 6)])
def test_time_major_gemm_path_equals_the_torch_module_wherever_it_is_enabled(
        monkeypatch, cls, ref_cls, args, batch, steps):
    """FAST_MAX_ROWS per device type: the GEMM path for more rows (CUDA's setting, here on
    the CPU) and ConvTranspose1d's (off by default) give torch's own results."""
    torch.manual_seed(0)
    conv, ref = cls(*args), ref_cls(*args)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(batch, args[0], steps)
    with torch.no_grad():
        want = ref(x)
        monkeypatch.setattr(cls, 'FAST_MAX_ROWS', {'cpu': 64})
        monkeypatch.setattr(ref_cls, 'forward', lambda *a: pytest.fail('not the GEMM path'))
        got = conv(x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        bf16 = cls(*args).to(torch.bfloat16)
        bf16.load_state_dict(conv.state_dict())
        torch.testing.assert_close(bf16(x.bfloat16()).float(), want, rtol=0.05, atol=0.05)


def test_conv_transpose_takes_torch_own_path_on_the_cpu_by_default(monkeypatch):
    """The CPU's measured path (and the shipped policy's samples) stay as they were."""
    assert 'cpu' not in ConvTranspose1d.FAST_MAX_ROWS and Conv1d.FAST_MAX_ROWS['cpu'] == 8
    called = []
    real = torch.nn.ConvTranspose1d.forward
    monkeypatch.setattr(torch.nn.ConvTranspose1d, 'forward',
                        lambda *a: called.append(1) or real(*a))
    with torch.no_grad():
        ConvTranspose1d(256, 256, 4, 2, 1)(torch.randn(1, 256, 4))
    assert called == [1]


def test_sampling_with_films_batched_over_steps_equals_the_step_by_step_loop():
    torch.manual_seed(0)
    cfg = tiny_config(sampler='ddim', num_inference_steps=5)
    policy = DiffusionPolicy(cfg, fit_normalizer(cfg)).eval()
    obs = random_obs(cfg, batch=3, steps=cfg.n_obs_steps)
    got = policy.predict_action(obs, torch.Generator().manual_seed(7))['action_pred']
    # the plain loop: the UNet computes each step's conditioning itself, diffusers steps
    from test_noise_schedule import reference
    c = policy.config
    sched = reference(c.beta_schedule, c.num_train_timesteps, c.prediction_type, c.clip_sample,
                      c.sampler, c.num_inference_steps)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        cond = policy.encode_obs(obs, random_crop=False)
        traj = torch.randn((3, policy.config.horizon, policy.config.action_dim), generator=gen)
        for t in sched.timesteps:
            traj = sched.step(policy.model(traj, t, cond), t, traj, generator=gen).prev_sample
    torch.testing.assert_close(got, policy.normalizer.unnormalize('action', traj),
                               rtol=1e-4, atol=1e-4)


def test_torchscript_sampling_equals_eager_and_keeps_one_graph_per_batch_shape():
    torch.manual_seed(0)
    cfg = tiny_config(sampler='ddim', num_inference_steps=4, down_dims=(64, 128, 256))
    policy = DiffusionPolicy(cfg, fit_normalizer(cfg)).eval()
    for batch in (1, 3):
        obs = random_obs(cfg, batch=batch, steps=cfg.n_obs_steps, seed=batch)
        policy.use_torchscript(False)
        eager = policy.predict_action(obs, torch.Generator().manual_seed(1))['action_pred']
        policy.use_torchscript(True)
        frozen = policy.predict_action(obs, torch.Generator().manual_seed(1))['action_pred']
        again = policy.predict_action(obs, torch.Generator().manual_seed(1))['action_pred']
        torch.testing.assert_close(frozen, eager, rtol=1e-4, atol=1e-3)
        assert torch.equal(frozen, again) and len(policy._frozen) == 1
    policy.train()  # train mode samples eagerly
    policy.predict_action(random_obs(cfg, batch=2, steps=cfg.n_obs_steps))
    assert len(policy._frozen) == 1
