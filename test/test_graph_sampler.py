"""dp_ros.runtime.graph_sampler: the graph-ready chunk equals predict_action.

On the CPU: the static chunk (buffers, noise drawn before the run) equals predict_action for
the same generator state (the per-step arithmetic both run equals diffusers' scheduler.step
bit for bit: test/test_noise_schedule.py), for DDIM and DDPM (whose variance noise is drawn
ahead). The CUDA graph tests skip where there is no GPU (issue 15: a device run executes
them).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from support import one_torch_thread, small_image_config  # noqa: F401 (autouse)

from dp_ros.policy.diffusion import DiffusionPolicy, SamplingCancelled
from dp_ros.policy.inputs import episode_generator, frames_as_fed
from dp_ros.policy.normalizer import Normalizer
from dp_ros.runtime.graph_sampler import ChunkGraphs, StaticChunk, _Captured, chunk_outputs

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason='needs a CUDA device (issue 15 device run)')



def make_policy(device: str = 'cpu', seed: int = 0, **overrides) -> DiffusionPolicy:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    norm = Normalizer.from_data({'action': rng.uniform(0, 500, (64, 2)),
                                 'agent_pos': rng.uniform(0, 500, (64, 2))})
    return DiffusionPolicy(small_image_config(**overrides), norm).to(device).eval()


def observations(policy: DiffusionPolicy, batch: int, seed: int = 0) -> dict:
    cfg = policy.config
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand((batch, cfg.n_obs_steps, *cfg.obs_shape('image')), generator=gen)
    pos = torch.rand((batch, cfg.n_obs_steps, 2), generator=gen) * 500
    # the frames' layout the node and evaluation give (batch_observations): the graph's
    return {'image': frames_as_fed(image.to(policy.device)), 'agent_pos': pos.to(policy.device)}


def generators(batch: int, device: str = 'cpu', seed: int = 0):
    """One episode generator per row (batched evaluation), or one for batch 1 (the node)."""
    gens = [episode_generator(seed, 100000 + i, device) for i in range(batch)]
    return gens[0] if batch == 1 else gens


def assert_same_samples(policy, got: torch.Tensor, want: torch.Tensor, atol: float) -> None:
    """Compared in normalized units ([-1, 1] over the data's range): raw Push-T actions are
    pixels up to ~500, where one fp32 ulp is 3e-5."""
    norm = policy.normalizer
    torch.testing.assert_close(norm.normalize('action', got), norm.normalize('action', want),
                               rtol=0, atol=atol)


def static_predict(policy, obs, generator, sampler, steps):
    chunk = StaticChunk(policy, next(iter(obs.values())).shape[0], sampler, steps)
    with torch.no_grad():
        chunk.load(obs, generator)
        return chunk_outputs(policy, chunk.run())


# --- the static chunk on the CPU -------------------------------------------------------------

@pytest.mark.parametrize('sampler,steps', [('ddim', 4), ('ddim', 10), ('ddpm', 100)])
@pytest.mark.parametrize('batch', [1, 3])
def test_static_chunk_equals_predict_action(sampler, steps, batch):
    policy = make_policy()
    obs = observations(policy, batch)
    eager_gen, static_gen = generators(batch), generators(batch)
    for _ in range(2):  # two chunks of an episode: the generators advance alike
        want = policy.predict_action(obs, eager_gen, sampler, steps)
        got = static_predict(policy, obs, static_gen, sampler, steps)
        for key in ('action', 'action_pred'):
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-5)
        assert torch.equal(got['action_pred'], want['action_pred'])  # the same ops on the CPU
    for e, s in zip(eager_gen if batch > 1 else [eager_gen],
                    static_gen if batch > 1 else [static_gen], strict=True):
        assert torch.equal(e.get_state(), s.get_state())  # as many draws, in order


def test_static_chunk_global_rng_and_bf16():
    """No generator: both draw from torch's global RNG in the same order. bf16: the model
    runs in bf16 and the scheduler in fp32 on both paths."""
    policy = make_policy()
    obs = observations(policy, 2)
    torch.manual_seed(11)
    want = policy.predict_action(obs, None, 'ddpm', 8)
    torch.manual_seed(11)
    got = static_predict(policy, obs, None, 'ddpm', 8)
    assert torch.equal(got['action_pred'], want['action_pred'])
    policy16 = policy.to(torch.bfloat16)
    want = policy16.predict_action(obs, generators(2), 'ddim', 4)
    got = static_predict(policy16, obs, generators(2), 'ddim', 4)
    assert got['action_pred'].dtype == torch.float32
    torch.testing.assert_close(got['action_pred'], want['action_pred'], rtol=0, atol=1e-5)


def test_static_chunk_padding_rows_do_not_change_real_rows():
    """A graph of batch 4 serves 2 episodes: the padded rows take no noise from the
    generators, and the real rows equal a batch-2 chunk."""
    policy = make_policy()
    obs = observations(policy, 2)
    want = policy.predict_action(obs, generators(2), 'ddpm', 10)
    chunk = StaticChunk(policy, 4, 'ddpm', 10)
    gens = generators(2)
    with torch.no_grad():
        chunk.load(obs, gens)
        got = chunk.run()
    assert got.shape[0] == 4
    assert_same_samples(policy, got[:2], want['action_pred'], atol=1e-5)
    assert torch.count_nonzero(chunk.noise[:, 2:]) == 0
    ref = generators(2)
    policy.predict_action(obs, ref, 'ddpm', 10)
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(gens, ref, strict=True))


def test_static_chunk_checks_observations():
    policy = make_policy()
    chunk = StaticChunk(policy, 2, 'ddim', 4)
    obs = observations(policy, 2)
    with pytest.raises(KeyError, match='agent_pos'):
        chunk.load({'image': obs['image']})
    with pytest.raises(ValueError, match='expected'):
        chunk.load({**obs, 'agent_pos': obs['agent_pos'][:, :1]})
    with pytest.raises(ValueError, match='batch size'):
        chunk.load({k: torch.cat([v, v]) for k, v in obs.items()})


def test_chunk_graphs_on_cpu_is_predict_action():
    policy = make_policy()
    graphs = ChunkGraphs(policy)
    assert not graphs.active
    obs = observations(policy, 1)
    got = graphs.predict_action(obs, generators(1), 'ddim', 4)
    want = policy.predict_action(obs, generators(1), 'ddim', 4)
    assert torch.equal(got['action'], want['action'])
    with pytest.raises(SamplingCancelled):  # the eager path asks, as the policy's does
        graphs.predict_action(obs, generators(1), 'ddim', 4, cancelled=lambda: True)


class ReplayByRunning(ChunkGraphs):
    """ChunkGraphs with a stand-in graph that re-runs the chunk into the captured output
    buffer: the bookkeeping (keys, buffers, padding, clones) tested without a GPU."""

    active = True

    def _capture(self, batch, sampler, steps):
        chunk = StaticChunk(self.policy, batch, sampler, steps)
        output = chunk.run()

        class Graph:
            def replay(self) -> None:
                output.copy_(chunk.run())
        return _Captured(chunk, Graph(), output)


def test_chunk_graphs_bookkeeping_without_a_gpu():
    policy = make_policy()
    graphs = ReplayByRunning(policy)
    eager_gen, graph_gen = generators(1), generators(1)
    first = None
    for seed in range(3):
        obs = observations(policy, 1, seed)
        want = policy.predict_action(obs, eager_gen, 'ddpm', 10)
        got = graphs.predict_action(obs, graph_gen, 'ddpm', 10)
        assert torch.equal(got['action'], want['action'])
        first = got['action_pred'] if first is None else first
    assert not torch.equal(first, got['action_pred'])  # a clone, not the graph's buffer
    obs = observations(policy, 2)
    got = graphs.predict_action(obs, generators(2), 'ddim', 4, pad_to=4)
    want = policy.predict_action(obs, generators(2), 'ddim', 4)
    assert got['action_pred'].shape == (2, 16, 2)
    assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=1e-5)
    assert [k[0] for k in graphs._graphs] == [1, 4]
    policy.train()  # training mode samples eagerly, capturing nothing
    graphs.predict_action(obs, generators(2), 'ddim', 6)
    assert len(graphs._graphs) == 2


def test_a_failed_capture_leaves_that_kind_eager_and_others_capturing():
    """One failure (an odd pad, out of GPU memory) is that kind's: it warns once and samples
    eagerly from then on, without trying again; other kinds still capture."""
    class Broken(ReplayByRunning):
        tries: list = []

        def _capture(self, batch, sampler, steps):
            self.tries.append((batch, sampler, steps))
            if sampler == 'ddim':
                raise RuntimeError('operation not permitted when stream is capturing')
            return super()._capture(batch, sampler, steps)

    policy = make_policy()
    graphs = Broken(policy)
    obs = observations(policy, 1)
    with pytest.warns(UserWarning, match='capture failed'):
        got = graphs.predict_action(obs, generators(1), 'ddim', 4)
    assert 'not permitted' in graphs.failed and graphs._graphs == {}
    want = policy.predict_action(obs, generators(1), 'ddim', 4)
    assert torch.equal(got['action'], want['action'])
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning, no second try
        again = graphs.predict_action(obs, generators(1), 'ddim', 4)
    assert torch.equal(again['action'], want['action'])
    graphs.predict_action(obs, generators(1), 'ddpm', 3)
    assert graphs.tries == [(1, 'ddim', 4), (1, 'ddpm', 3)] and len(graphs._graphs) == 1


def test_a_bad_sampler_is_refused_as_predict_action_refuses_it_not_a_capture_failure():
    graphs = ReplayByRunning(make_policy())
    obs = observations(graphs.policy, 1)
    with pytest.raises(ValueError, match='sampler'):
        graphs.predict_action(obs, generators(1), 'euler', 4)
    assert graphs.failed is None and graphs._graphs == {}


def test_uint8_frames_are_refused_by_the_graph_path_as_by_predict_action():
    graphs = ReplayByRunning(make_policy())
    obs = observations(graphs.policy, 1)
    obs['image'] = (obs['image'] * 255).to(torch.uint8)
    for sample in (graphs.policy.predict_action, graphs.predict_action):
        with pytest.raises(ValueError, match='floating point'):
            sample(obs, generators(1), 'ddim', 4)


def test_inference_runner_uses_no_graphs_on_cpu():
    from dp_ros.runtime.inference_runner import InferenceRunner

    runner = InferenceRunner(make_policy(), torchscript=False)
    try:
        assert runner.graphs is None
    finally:
        runner.close()


# --- CUDA graphs (device run) ----------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize('sampler,steps', [('ddim', 10), ('ddpm', 100)])
@pytest.mark.parametrize('batch', [1, 3])
def test_cuda_graph_equals_eager(sampler, steps, batch):
    policy = make_policy('cuda')
    graphs = ChunkGraphs(policy)
    obs = observations(policy, batch)
    eager_gen, graph_gen = generators(batch, 'cuda'), generators(batch, 'cuda')
    for _ in range(3):  # capture, then replays: the generators advance alike
        want = policy.predict_action(obs, eager_gen, sampler, steps)
        got = graphs.predict_action(obs, graph_gen, sampler, steps)
        assert graphs.failed is None
        assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=1e-4)
    assert len(graphs._graphs) == 1
    other = observations(policy, batch, seed=5)  # new inputs reach the replay
    want = policy.predict_action(other, generators(batch, 'cuda', 7), sampler, steps)
    got = graphs.predict_action(other, generators(batch, 'cuda', 7), sampler, steps)
    assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=1e-4)


@needs_cuda
def test_cuda_graph_padding_and_bf16():
    policy = make_policy('cuda')
    graphs = ChunkGraphs(policy)
    obs = observations(policy, 2)
    # batch 5 against batch 2: cuDNN may pick other convolution algorithms per batch size,
    # which in TF32 (its default) differ by ~1e-3; in fp32 by float rounding only
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        want = policy.predict_action(obs, generators(2, 'cuda'), 'ddim', 10)
        got = graphs.predict_action(obs, generators(2, 'cuda'), 'ddim', 10, pad_to=5)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert got['action_pred'].shape[0] == 2
    assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=1e-4)
    policy.to(torch.bfloat16)
    got = graphs.predict_action(obs, generators(2, 'cuda'), 'ddim', 10)
    want = policy.predict_action(obs, generators(2, 'cuda'), 'ddim', 10)
    # the fp32 graph read weights the cast replaced: dropped with the bf16 capture
    assert graphs.failed is None and len(graphs._graphs) == 1
    assert torch.isfinite(got['action_pred']).all()
    assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=2e-2)


@needs_cuda
@pytest.mark.parametrize('cls,ref_cls,args,steps', [
    ('Conv1d', 'Conv1d', (512, 256, 5, 1, 2), 16), ('Conv1d', 'Conv1d', (256, 256, 3, 2, 1), 8),
    ('ConvTranspose1d', 'ConvTranspose1d', (256, 256, 4, 2, 1), 4)])
def test_gemm_convolutions_on_cuda_equal_cudnn(monkeypatch, cls, ref_cls, args, steps):
    """The UNet's time-major GEMM path on CUDA gives cuDNN's results (TF32 off: full fp32)."""
    from dp_ros.policy import unet
    torch.manual_seed(0)
    conv = getattr(unet, cls)(*args).cuda()
    ref = getattr(torch.nn, ref_cls)(*args).cuda()
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(1, args[0], steps, device='cuda')
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(getattr(unet, cls), 'FAST_MAX_ROWS', {'cuda': 64})
    with torch.no_grad():
        torch.testing.assert_close(conv(x), ref(x), rtol=1e-5, atol=1e-5)


def runner_and_eager_chunks(runner, eager) -> tuple[torch.Tensor, torch.Tensor]:
    """action_pred of one random observation from each runner, with the same generator.
    Frames in the node's layout (frames_as_fed), as the graph's buffers hold them: frames in
    another layout get other cuDNN algorithms, which in TF32 differ by ~1e-3."""
    cfg = runner.config
    image = torch.rand((1, cfg.n_obs_steps, *cfg.obs_shape('image')), device='cuda')
    obs = {'image': frames_as_fed(image),
           'agent_pos': torch.rand((1, cfg.n_obs_steps, 2), device='cuda') * 500}
    got = runner.predict(obs, episode_generator(0, 100000, 'cuda'))
    want = eager.predict(obs, episode_generator(0, 100000, 'cuda'))
    return torch.from_numpy(got['action_pred']), torch.from_numpy(want['action_pred'])


@needs_cuda
def test_inference_runner_captures_at_warmup(tmp_path):
    from support import make_tiny_checkpoint

    from dp_ros.runtime.inference_runner import InferenceRunner

    ckpt = make_tiny_checkpoint(tmp_path / 'tiny', seed=1)
    runner = InferenceRunner.from_checkpoint(ckpt, device='cuda')
    eager = InferenceRunner.from_checkpoint(ckpt, device='cuda', cuda_graphs=False,
                                            torchscript=False)
    try:
        assert runner.graphs is not None and eager.graphs is None
        runner.warmup()
        assert len(runner.graphs._graphs) == 1 and runner.graphs.failed is None
        assert runner.sampling_path == 'CUDA graph' and eager.sampling_path == 'eager'
        assert_same_samples(runner.policy, *runner_and_eager_chunks(runner, eager), atol=1e-4)
    finally:
        runner.close()
        eager.close()


@needs_cuda
def test_a_failing_compiled_unet_falls_back_to_graphs_of_the_plain_one():
    policy = make_policy('cuda')

    def broken(*args):
        raise RuntimeError('no C compiler')

    graphs = ChunkGraphs(policy, denoiser=broken)
    obs = observations(policy, 1)
    with pytest.warns(UserWarning, match='compiled UNet failed .*no C compiler'):
        got = graphs.predict_action(obs, generators(1, 'cuda'), 'ddim', 10)
    assert graphs.denoiser is None and graphs.failed is None and len(graphs._graphs) == 1
    assert 'no C compiler' in graphs.compile_failed
    want = policy.predict_action(obs, generators(1, 'cuda'), 'ddim', 10)
    assert_same_samples(policy, got['action_pred'], want['action_pred'], atol=1e-4)


@needs_cuda
def test_inference_runner_torch_compile_replays_the_compiled_unet(tmp_path):
    from support import make_tiny_checkpoint

    from dp_ros.runtime.inference_runner import InferenceRunner

    ckpt = make_tiny_checkpoint(tmp_path / 'tiny', seed=1)
    runner = InferenceRunner.from_checkpoint(ckpt, device='cuda', torch_compile=True)
    eager = InferenceRunner.from_checkpoint(ckpt, device='cuda', cuda_graphs=False,
                                            torchscript=False)
    try:
        assert runner.sampling_path == 'CUDA graph of the compiled UNet, captured at the ' \
            'first chunk'
        runner.warmup()
        assert runner.graphs.denoiser is not None and runner.graphs.failed is None
        assert runner.sampling_path == 'CUDA graph of the compiled UNet'
        # fused kernels sum in another order: float reassociation, not another chunk
        assert_same_samples(runner.policy, *runner_and_eager_chunks(runner, eager), atol=1e-2)
    finally:
        runner.close()
        eager.close()
