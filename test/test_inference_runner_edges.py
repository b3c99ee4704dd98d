"""Edges of dp_ros/runtime/inference_runner.py on a tiny real policy, on the CPU: device names
that only look like CUDA ones, a bfloat16 runner, the runner's own sampler and step count, the
TorchScript switch, warm-up (at least one run, the global RNG untouched), a failed job's
latency, and load_runner taking every model setting of a PolicyNodeConfig.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)
from test_inference_runner import WAIT_S, Results, observation, wait_idle

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.inputs import episode_generator
from dp_ros.runtime.inference_runner import InferenceRunner, load_runner, resolve_device
from dp_ros.runtime.policy_node_config import PolicyNodeConfig


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=2)


@pytest.mark.parametrize('spec', ['cudax', 'cuda0', 'cuda_1'])
def test_a_device_name_that_only_starts_with_cuda_is_refused_as_unknown(spec):
    """Not a CUDA device spec at all: the list of valid names, not a CUDA complaint."""
    with pytest.raises(ValueError, match="must be 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(spec)


def test_a_bfloat16_runner_runs_the_model_in_bfloat16_and_returns_float32(checkpoint, runners):
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu', dtype='bfloat16',
                                             torchscript=False)
    runners.append(runner)
    assert runner.dtype == torch.bfloat16
    out = runner.predict(observation(runner), episode_generator(0, 1))
    assert out['action'].dtype == np.float32 and np.isfinite(out['action_pred']).all()


def test_the_runner_samples_with_its_own_sampler_and_step_count(checkpoint, runners):
    """sampler='ddpm' over 3 steps, not the checkpoint's 4 DDIM steps: the same chunk as
    predict_action with those settings, and the generator advanced by its 1 + 2 draws."""
    policy = load_policy(checkpoint)
    runner = InferenceRunner(policy, sampler='ddpm', num_inference_steps=3, torchscript=False)
    runners.append(runner)
    obs = observation(runner)
    got_gen, want_gen = episode_generator(0, 7), episode_generator(0, 7)
    got = runner.predict(obs, got_gen)
    want = policy.predict_action(obs, want_gen, 'ddpm', 3)
    np.testing.assert_array_equal(got['action_pred'], want['action_pred'][0].numpy())
    assert torch.equal(got_gen.get_state(), want_gen.get_state())


def test_torchscript_off_keeps_the_policy_eager_and_on_freezes_it(checkpoint, runners):
    policy = load_policy(checkpoint)
    runners.append(InferenceRunner(policy, torchscript=False))
    assert policy._frozen is None
    runner = InferenceRunner(policy, torchscript=True)
    runners.append(runner)
    runner.predict(observation(runner), episode_generator(0, 1))
    assert len(policy._frozen) == 1


def test_warmup_with_no_repeats_still_runs_the_model_once(checkpoint, runners):
    """max(1, repeats): the frozen graph traced by the run is the proof it ran."""
    runner = InferenceRunner(load_policy(checkpoint), torchscript=True)
    runners.append(runner)
    assert runner.warmup(repeats=0) > 0
    assert len(runner.policy._frozen) == 1


def test_warmup_draws_no_noise_from_the_global_rng(checkpoint, runners):
    """Its throw-away generator leaves torch's global RNG (and so anything seeded from it)
    where it was."""
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu', torchscript=False)
    runners.append(runner)
    before = torch.get_rng_state()
    runner.warmup(repeats=2)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_failed_job_reports_the_time_it_took(checkpoint, runners):
    runner = InferenceRunner.from_checkpoint(checkpoint, device='cpu', torchscript=False)
    runners.append(runner)
    results = Results()
    assert runner.submit(observation(runner, image_size=40), episode_generator(0, 1), results,
                         context='bad')
    result = results.get()
    assert result.error is not None and result.latency_s > 0
    wait_idle(runner)


def test_load_runner_takes_every_model_setting_of_the_node_config(checkpoint):
    cfg = PolicyNodeConfig(checkpoint=str(checkpoint), device='cpu', dtype='bfloat16',
                           sampler='ddpm', num_inference_steps=3, cpu_threads=2,
                           torchscript=False, warmup=False, debug_extra_latency_s=0.5)
    threads = torch.get_num_threads()
    runner, name, warmup_s = load_runner(cfg)
    try:
        assert torch.get_num_threads() == 2
        assert (name, warmup_s) == ('cpu', None)
        assert runner.dtype == torch.bfloat16
        assert (runner.sampler, runner.num_inference_steps) == ('ddpm', 3)
        assert runner.policy._frozen is None  # torchscript=False
        assert runner.extra_latency_s == 0.5
    finally:
        runner.close(timeout=WAIT_S)
        torch.set_num_threads(threads)


def test_load_runner_defaults_warm_up_with_the_checkpoints_sampler(checkpoint):
    """Empty sampler and 0 steps: the checkpoint's; cpu_threads 0 leaves torch's count."""
    threads = torch.get_num_threads()
    runner, name, warmup_s = load_runner(PolicyNodeConfig(checkpoint=str(checkpoint),
                                                          device='cpu'))
    try:
        assert torch.get_num_threads() == threads
        assert name == 'cpu' and warmup_s is not None and warmup_s > 0
        assert runner.sampler is None and runner.num_inference_steps is None
        assert runner.dtype == torch.float32 and runner.extra_latency_s == 0.0
        assert len(runner.policy._frozen) == 1  # TorchScript on, traced by the warm-up
    finally:
        runner.close(timeout=WAIT_S)


def test_a_warm_up_that_fails_leaves_no_worker_holding_the_model(checkpoint, monkeypatch):
    """A warm-up that raises (a GPU out of memory) left the runner's worker thread running,
    holding the model: each configure retry of the managed node loaded another copy."""
    import threading

    def out_of_memory(self):
        raise RuntimeError('CUDA out of memory (as a test)')

    monkeypatch.setattr(InferenceRunner, 'warmup', out_of_memory)
    before = sum(t.name == 'dp_inference' for t in threading.enumerate())
    cfg = PolicyNodeConfig(checkpoint=str(checkpoint), device='cpu', torchscript=False)
    for _ in range(3):
        with pytest.raises(RuntimeError, match='out of memory'):
            load_runner(cfg)
    assert sum(t.name == 'dp_inference' for t in threading.enumerate()) == before
