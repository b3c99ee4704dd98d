"""predict_action's per-call arguments as a library user passes them (a step-count sweep, one
generator per episode of a batch), in DiffusionPolicy and in ChunkGraphs.

Pinned: a step count is an integer in 1..num_train_timesteps or a ValueError with
check_inference_steps' message (0 silently sampled the checkpoint's default, 2.5 was
truncated to 2); None is the default. A list of generators has one per batch row (or is
one generator), else a ValueError naming both lengths, as diffusers requires.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from support import one_torch_thread, small_image_config  # noqa: F401 (fixture)

from dp_ros.policy.diffusion import DiffusionPolicy
from dp_ros.policy.normalizer import Normalizer
from dp_ros.runtime.graph_sampler import ChunkGraphs


@pytest.fixture(scope='module')
def policy() -> DiffusionPolicy:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    norm = Normalizer.from_data({'action': torch.rand(64, 2, generator=gen).numpy() * 500,
                                 'agent_pos': torch.rand(64, 2, generator=gen).numpy() * 500})
    return DiffusionPolicy(small_image_config(sampler='ddim', num_inference_steps=4),
                           norm).eval()


def observation(batch: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {'image': torch.rand(batch, 2, 3, 32, 32, generator=gen),
            'agent_pos': torch.rand(batch, 2, 2, generator=gen) * 500}


def chunk(policy, steps, sampler: str = 'ddim') -> torch.Tensor:
    return policy.predict_action(observation(1), torch.Generator().manual_seed(0), sampler,
                                 steps)['action_pred']


@pytest.mark.parametrize('sampler', ['ddim', 'ddpm'])
def test_zero_inference_steps_is_refused_not_the_default(policy, sampler: str):
    """0 steps is outside 1..num_train_timesteps, as -1 is; it silently sampled the
    checkpoint's 4 steps (`num_inference_steps or cfg.num_inference_steps`)."""
    with pytest.raises(ValueError, match='num_inference_steps 0 must be in 1..100'):
        chunk(policy, 0, sampler)


@pytest.mark.parametrize('steps', [2.5, 4.0, True, '4'])
def test_a_step_count_that_is_no_integer_is_refused(policy, steps):
    """2.5 steps is no step count: it was truncated to 2 without a word."""
    with pytest.raises(ValueError, match='num_inference_steps .* must be in 1..100'):
        chunk(policy, steps)


def test_none_is_the_checkpoints_step_count_and_numpy_integers_count(policy):
    """Controls: None samples the config's 4 steps; an integer of another type is a count."""
    assert torch.equal(chunk(policy, None), chunk(policy, 4))
    assert torch.equal(chunk(policy, np.int64(4)), chunk(policy, 4))


def test_the_graph_sampler_refuses_zero_steps_too(policy, monkeypatch):
    """ChunkGraphs read 0 as the default with the same `or` (and int() truncated 2.5); the
    check comes before any capture (forced active here: no CUDA on the test machine)."""
    monkeypatch.setattr(ChunkGraphs, 'active', property(lambda self: True))
    graphs = ChunkGraphs(policy)
    for steps in (0, 2.5):
        with pytest.raises(ValueError, match='num_inference_steps .* must be in 1..100'):
            graphs.predict_action(observation(1), torch.Generator().manual_seed(0), 'ddim',
                                  steps)
    assert graphs.failed is None  # refused, not a capture failure that fell back


@pytest.mark.parametrize('count', [0, 2, 4])
def test_a_generator_list_of_another_length_than_the_batch_is_a_value_error(policy,
                                                                            count: int):
    """One generator per row (diffusers' rule: lengths must match, else ValueError); 2 for 3
    rows was an IndexError, 4 silently dropped the fourth episode's generator."""
    gens = [torch.Generator().manual_seed(i) for i in range(count)]
    with pytest.raises(ValueError, match=f'a list of {count} generators for a batch of 3'):
        policy.predict_action(observation(3), gens)


def test_a_list_of_one_generator_is_one_generator(policy):
    """Control: a list of one is the one generator for the whole batch (diffusers' too)."""
    one = policy.predict_action(observation(3), [torch.Generator().manual_seed(5)])
    alone = policy.predict_action(observation(3), torch.Generator().manual_seed(5))
    assert torch.equal(one['action_pred'], alone['action_pred'])
