"""Edges of dp_ros/runtime/graph_sampler.py that run without CUDA: StaticChunk's denoiser
argument, its observation checks (a missing key named, mixed and empty batches refused), its
padding rows (copies of row 0, no noise even after a full batch), and ChunkGraphs' bookkeeping
through test_graph_sampler's stand-in replay: the checkpoint's sampler when none is given, one
graph per weight storage, clear(), the capture warning and its eager fallback, and at least
one warm-up run. What needs a GPU is in test_graph_sampler.py (skipped without one).
"""
from __future__ import annotations

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from test_graph_sampler import (
    ReplayByRunning,
    assert_same_samples,
    generators,
    make_policy,
    observations,
)

from dp_ros.runtime.graph_sampler import ChunkGraphs, StaticChunk


def test_a_static_chunk_runs_the_denoiser_it_is_given():
    """The denoiser (a compiled UNet, say) replaces policy.model for every step."""
    policy = make_policy()
    calls = []

    def denoiser(*args):
        calls.append(int(args[1]))
        return policy.model(*args)

    obs = observations(policy, 1)
    given, plain = StaticChunk(policy, 1, 'ddim', 4, denoiser), StaticChunk(policy, 1, 'ddim', 4)
    with torch.no_grad():
        given.load(obs, generators(1))
        plain.load(obs, generators(1))
        assert torch.equal(given.run(), plain.run())
    assert calls == policy.sampler('ddim', 4).timesteps


def test_a_static_chunk_names_the_missing_key():
    policy = make_policy()
    obs = observations(policy, 1)
    with pytest.raises(KeyError, match=r"observation lacks keys \['agent_pos'\]"):
        StaticChunk(policy, 1, 'ddim', 4).load({'image': obs['image']})


def test_a_static_chunk_refuses_keys_of_different_batch_sizes():
    """One agent_pos row for two images would be broadcast into both rows' buffers."""
    policy = make_policy()
    obs = observations(policy, 2)
    with pytest.raises(ValueError, match="obs 'agent_pos' has batch size 1"):
        StaticChunk(policy, 2, 'ddim', 4).load({**obs, 'agent_pos': obs['agent_pos'][:1]})


def test_a_static_chunk_refuses_an_empty_batch():
    policy = make_policy()
    obs = {k: v[:0] for k, v in observations(policy, 1).items()}
    with pytest.raises(ValueError, match=r'batch size 0; expected the same for every key, 1\.\.2'):
        StaticChunk(policy, 2, 'ddim', 4).load(obs)


def test_padding_rows_hold_copies_of_the_first_observation():
    policy = make_policy()
    obs = observations(policy, 2)
    chunk = StaticChunk(policy, 4, 'ddim', 4)
    chunk.load(obs, generators(2))
    for key, value in obs.items():
        assert torch.equal(chunk.obs[key][:2], value)
        assert torch.equal(chunk.obs[key][2:], value[:1].expand(2, *value.shape[1:]))


def test_padding_rows_take_no_noise_after_a_full_batch():
    """The noise of a full batch must not stay in rows that are padding in the next chunk."""
    policy = make_policy()
    chunk = StaticChunk(policy, 4, 'ddpm', 5)
    with torch.no_grad():
        chunk.load(observations(policy, 4), generators(4))
        assert torch.count_nonzero(chunk.noise[:, 2:]) > 0
        obs = observations(policy, 2, seed=1)
        chunk.load(obs, generators(2))
        got = chunk.run()
    assert torch.count_nonzero(chunk.noise[:, 2:]) == 0
    want = policy.predict_action(obs, generators(2), 'ddpm', 5)['action_pred']
    assert_same_samples(policy, got[:2], want, atol=1e-5)


def test_without_a_sampler_or_step_count_the_graph_uses_the_checkpoints():
    policy = make_policy(sampler='ddim', num_inference_steps=3)
    graphs = ReplayByRunning(policy)
    obs = observations(policy, 1)
    got = graphs.predict_action(obs, generators(1))
    want = policy.predict_action(obs, generators(1), 'ddim', 3)
    assert torch.equal(got['action_pred'], want['action_pred'])
    assert graphs.failed is None
    assert [key[-2:] for key in graphs._graphs] == [('ddim', 3)]


def test_new_weight_tensors_get_a_graph_of_their_own_and_clear_drops_them_all():
    """A graph reads its weights from where they were at capture: load_state_dict(assign=True)
    puts them elsewhere, so the next chunk captures anew, and the old graph (which holds the
    old weights, so their memory cannot be given to a new tensor meanwhile) is dropped."""
    policy = make_policy()
    graphs = ReplayByRunning(policy)
    obs = observations(policy, 1)
    graphs.predict_action(obs, generators(1), 'ddim', 2)
    graphs.predict_action(obs, generators(1), 'ddim', 2)
    assert len(graphs._graphs) == 1
    old = next(iter(graphs._graphs.values()))
    assert old.weights[0].data_ptr() == next(policy.parameters()).data_ptr()
    policy.load_state_dict({k: v.clone() for k, v in policy.state_dict().items()}, assign=True)
    graphs.predict_action(obs, generators(1), 'ddim', 2)
    assert len(graphs._graphs) == 1 and old not in graphs._graphs.values()
    graphs.clear()
    assert graphs._graphs == {}


class RefusedCapture(ReplayByRunning):
    """A capture that fails as one on a GPU can (an op that is not allowed while capturing)."""

    def _capture(self, batch, sampler, steps):
        raise RuntimeError('operation not permitted when stream is capturing')


def test_a_failed_capture_names_its_error_and_samples_eagerly_with_the_callers_settings():
    policy = make_policy()
    graphs = RefusedCapture(policy)
    obs = observations(policy, 1)
    with pytest.warns(UserWarning, match='RuntimeError: operation not permitted'):
        got = graphs.predict_action(obs, generators(1), 'ddpm', 3)
    want = policy.predict_action(obs, generators(1), 'ddpm', 3)
    assert torch.equal(got['action_pred'], want['action_pred'])
    assert graphs._graphs == {}


@pytest.mark.parametrize('runs,kept', [(0, 1), (-2, 1), (3, 3)])
def test_chunk_graphs_keep_at_least_one_warm_up_run(runs, kept):
    assert ChunkGraphs(make_policy(), warmup_runs=runs).warmup_runs == kept


def test_chunk_graphs_on_a_cpu_policy_never_capture():
    """Inactive on the CPU whatever the sampler: predict_action, bit for bit, no graphs."""
    policy = make_policy()
    graphs = ChunkGraphs(policy)
    obs = observations(policy, 2)
    got = graphs.predict_action(obs, generators(2), 'ddpm', 3, pad_to=4)
    want = policy.predict_action(obs, generators(2), 'ddpm', 3)
    assert torch.equal(got['action_pred'], want['action_pred'])
    assert graphs._graphs == {} and graphs.failed is None and not graphs.active


class EmptyGraph(ReplayByRunning):
    """A capture that recorded nothing, as one on another device's stream does: each replay
    leaves the output as the capture left it (no error to find it by)."""

    def _capture(self, batch, sampler, steps):
        captured = super()._capture(batch, sampler, steps)

        class Nothing:
            def replay(self) -> None:
                pass
        captured.graph = Nothing()
        return captured


def test_a_graph_that_recorded_nothing_is_found_at_its_first_chunk_and_that_kind_is_eager():
    policy = make_policy()
    graphs = EmptyGraph(policy)
    obs = observations(policy, 1, seed=3)
    with pytest.warns(UserWarning, match="differs from the eager one by .*did not record"):
        got = graphs.predict_action(obs, generators(1), 'ddim', 4)
    want = policy.predict_action(obs, generators(1), 'ddim', 4)
    assert torch.equal(got['action_pred'], want['action_pred'])  # the eager chunk
    assert graphs._graphs == {} and 'did not record' in graphs.failed


def test_bad_observations_are_refused_before_any_capture_and_spoil_no_kind():
    policy = make_policy()
    graphs = ReplayByRunning(policy)
    obs = observations(policy, 1)
    with pytest.raises(KeyError, match='observation lacks'):
        graphs.predict_action({'image': obs['image']}, generators(1), 'ddim', 2)
    assert graphs._graphs == {} and graphs.failed is None and graphs._refused == {}
    graphs.predict_action(obs, generators(1), 'ddim', 2)
    assert len(graphs._graphs) == 1
