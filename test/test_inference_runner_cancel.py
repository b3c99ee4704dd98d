"""Closing a runner while it samples ends the chunk at its next denoising step: the node's
shutdown (Ctrl-C, lifecycle cleanup) waited up to 5 s for a chunk it would never publish (a
paper-size DDPM-100 chunk takes seconds on a CPU), then left the worker running. Asking
costs nothing: the same generator gives the same chunk with or without the question."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)
from test_inference_runner import WAIT_S, Results, observation

from dp_ros.policy.checkpoint import load_policy
from dp_ros.policy.diffusion import SamplingCancelled
from dp_ros.runtime.inference_runner import InferenceRunner

STEPS = 100


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=3)


def test_the_question_changes_nothing_and_a_yes_ends_the_sampling(checkpoint):
    policy = load_policy(checkpoint, device='cpu', dtype=None)
    runner = InferenceRunner(policy, torchscript=False)
    try:
        obs = observation(runner)
        plain = runner.predict(obs, torch.Generator().manual_seed(7))
        asked = runner.predict(obs, torch.Generator().manual_seed(7), cancelled=lambda: False)
        assert (plain['action_pred'] == asked['action_pred']).all()
        with pytest.raises(SamplingCancelled, match='before denoising step 0'):
            runner.predict(obs, torch.Generator().manual_seed(7), cancelled=lambda: True)
    finally:
        runner.close(timeout=WAIT_S)


def test_close_ends_a_chunk_being_sampled_at_its_next_step(checkpoint):
    policy = load_policy(checkpoint, device='cpu', dtype=None)
    runner = InferenceRunner(policy, sampler='ddpm', num_inference_steps=STEPS,
                             torchscript=False)
    steps: list[int] = []
    started = threading.Event()
    denoise = policy._denoise

    def slow_denoise(*args, **kwargs):  # a slow model: 100 steps of 20 ms
        steps.append(1)
        started.set()
        time.sleep(0.02)
        return denoise(*args, **kwargs)

    policy._denoise = slow_denoise
    results = Results()
    assert runner.submit(observation(runner), torch.Generator().manual_seed(0), results)
    assert started.wait(WAIT_S)
    runner.close(timeout=WAIT_S)
    assert not runner._thread.is_alive()
    assert len(steps) < STEPS, 'close waited for the whole chunk'
    assert results.queue.empty()  # no chunk, no callback: nobody waits for it
