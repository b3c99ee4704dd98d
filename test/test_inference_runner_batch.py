"""InferenceRunner.predict samples one observation (the node's batch of 1) and returns the
chunk without its batch dimension: a batch of more is refused, naming it (its other rows were
sampled and silently dropped)."""
from __future__ import annotations

import pytest
import torch
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401 (autouse)
from test_inference_runner import WAIT_S, observation

from dp_ros.runtime.inference_runner import InferenceRunner


@pytest.fixture(scope='module')
def runner(tmp_path_factory):
    runner = InferenceRunner.from_checkpoint(
        make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'tiny', seed=1), device='cpu')
    yield runner
    runner.close(timeout=WAIT_S)


def test_one_observation_gives_one_chunk_without_a_batch_dimension(runner):
    out = runner.predict(observation(runner), torch.Generator().manual_seed(0))
    assert out['action'].shape == (runner.config.n_action_steps, runner.config.action_dim)


def test_a_batch_of_three_is_refused_naming_it(runner):
    obs = {k: v.expand(3, *v.shape[1:]) for k, v in observation(runner).items()}
    with pytest.raises(ValueError, match=r'batch 1\), got batch \[3\]'):
        runner.predict(obs, torch.Generator().manual_seed(0))
