"""GPU speed of sampling and training (issue 15): eager vs optimized, for both model shapes.

Usage:
  python bench/bench_gpu.py [--output bench/results/gpu.json] [--budget-s 260] [--only PARTS]
  python bench/bench_gpu.py --smoke --output outputs/gpu_prep/gpu_smoke.json   # CPU check
On the GPU machine: bash bench/gpu_run.sh (installs the carried wheels, runs the CUDA tests,
then this). Shapes: the shipped policy's (config/train_pusht_image_cpu.yaml, 7.7M) and the
paper's (config/train_pusht_image_paper.yaml, 263M), random weights (time does not depend on
their values) and synthetic data (the GPU machine has no zarr). Measured:

- sampling, batch 1, per chunk (median, synchronized): predict_action eager vs the CUDA graph
  (dp_ros/runtime/graph_sampler.py), fp32 and bf16, DDIM-10 and DDPM-100; the graph's capture
  time; the same-generator difference graph vs eager (raw units and normalized); the node's
  InferenceRunner.predict with graphs; optionally a torch.compile'd UNet inside the graph.
- node: InferenceRunner.predict as the node runs it, with the package's defaults and with
  torch_compile (a compiled UNet inside the chunk graph).
- profile: torch.profiler over one eager paper-size DDIM-10 chunk, cuDNN vs GEMM
  convolutions: the kernels with the most device time.
- conv_variants: the UNet's convolutions by cuDNN (with or without its autotuner) or by the
  time-major GEMM (dp_ros.policy.unet.Conv1d, up to 8 or 64 rows): graph latency, graph vs
  eager, vs the cuDNN chunk, and the node's runner.
- latency: beyond conv_variants' best, every convolution as a GEMM (gemm64_all), without and
  with a compiled UNet in the graph, torch.compile's max-autotune GEMM templates, and the
  compiled chunk's kernel profile (the shipped shape fp32, the paper's bf16).
- training, samples/s: today's step (foreach AdamW, per-parameter EMA, fp32) fed by a
  DataLoader with workers and fed by one resident batch, against device-built batches
  (training/gpu_batches.py) with fused AdamW, foreach EMA, TF32, bf16 autocast, a larger
  batch, and torch.compile of the ResNet and UNet as train.torch_compile does it
  (training/step_speed.py; modes 'default' and 'reduce-overhead', which replays CUDA graphs).

Every part is guarded: a failure is recorded as {'error': ...} under its name and the rest
runs on; parts that would start after --budget-s are skipped; the JSON is rewritten after
every part, so a run cut short keeps what it measured. --smoke: tiny models, few repetitions,
CUDA parts reported as skipped, no compile: checks the script on a CPU.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dp_ros.policy.config import PolicyConfig  # noqa: E402
from dp_ros.policy.diffusion import DiffusionPolicy, count_parameters  # noqa: E402
from dp_ros.policy.inputs import episode_generator, frames_as_fed  # noqa: E402
from dp_ros.policy.normalizer import Normalizer  # noqa: E402
from dp_ros.policy.unet import Conv1d, ConvTranspose1d  # noqa: E402
from dp_ros.runtime.graph_sampler import ChunkGraphs, StaticChunk, chunk_outputs  # noqa: E402
from dp_ros.runtime.inference_runner import InferenceRunner  # noqa: E402
from training.gpu_batches import DeviceBatches  # noqa: E402
from training.step_speed import compile_convolutions, tf32_matmuls  # noqa: E402

RESULTS = REPO / 'bench' / 'results' / 'gpu.json'
SHAPES = {'shipped_7.7M': 'config/train_pusht_image_cpu.yaml',
          'paper_263M': 'config/train_pusht_image_paper.yaml'}
SMOKE_POLICY = {'resnet_width': 0.25, 'down_dims': [16, 32, 64], 'num_keypoints': 8,
                'feature_dim': 16, 'diffusion_step_embed_dim': 32}
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16}
TARGETS = {'paper_263M': {'ddim10_ms': 5.0, 'ddpm100_ms': 40.0, 'train_samples_per_s': 2700},
           'shipped_7.7M': {'ddim10_ms': 3.0, 'train_samples_per_s': 4000}}
TRAIN_BATCH = 64  # both configs' train.batch_size, where the training targets are read
EPISODE_LEN = 125  # Push-T's mean episode length, for the synthetic windows


class Bench:
    """Results, the JSON file, the time budget and the guard around each part."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.t0 = args, time.perf_counter()
        self.device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        self.cuda = self.device.type == 'cuda'
        self.broken: str | None = None  # a sticky CUDA error: later parts are skipped
        self.results: dict[str, Any] = {'env': environment(self.device), 'smoke': args.smoke,
                                        'budget_s': args.budget_s, 'sampling': {},
                                        'conv_variants': {}, 'profile': {}, 'node': {},
                                        'training': {}, 'latency': {}}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def save(self) -> None:
        self.results['elapsed_s'] = round(self.elapsed(), 1)
        out = Path(self.args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.results, indent=1, default=str) + '\n')

    def part(self, where: dict, name: str, fn: Callable[[], Any], need_s: float = 0.0,
             limit_s: float | None = None) -> Any:
        """where[name] = fn(), or {'skipped': why} / {'error': ...}; the JSON saved after."""
        left = self.args.budget_s - self.elapsed()
        if left < need_s:
            where[name] = {'skipped': f'budget: {left:.0f} s left, part needs ~{need_s:.0f} s'}
            print(f'[{self.elapsed():6.1f}s] {name}: skipped (budget)', flush=True)
            self.save()
            return None
        if self.broken:
            where[name] = {'skipped': f'the CUDA context failed earlier: {self.broken}'}
            self.save()
            return None
        print(f'[{self.elapsed():6.1f}s] {name} ...', flush=True)
        try:
            with deadline(limit_s):
                where[name] = value = fn()
        except Exception as err:  # recorded; the other parts still run
            where[name] = {'error': f'{type(err).__name__}: {err}',
                           'trace': traceback.format_exc(limit=-4)}
            print(f'  {name} FAILED: {type(err).__name__}: {err}', flush=True)
            value = None
        self.save()
        if self.cuda:
            try:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
            except Exception as err:  # noqa: BLE001 - a sticky error (illegal address): the
                # context is gone for every later part; recorded, the JSON kept
                self.broken = f'{type(err).__name__}: {err}'
                where[f'{name}_cuda_error'] = self.broken
                print(f'  CUDA context failed after {name}: {self.broken}', flush=True)
                self.save()
        return value


@contextlib.contextmanager
def deadline(seconds: float | None):
    """TimeoutError after `seconds` (main thread, SIGALRM): a compile that runs away cannot
    eat the device lease."""
    if not seconds or not hasattr(signal, 'SIGALRM'):
        yield
        return

    def alarm(_sig, _frame):
        raise TimeoutError(f'part ran over its {seconds:.0f} s limit')
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(max(1, int(seconds)))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def environment(device: torch.device) -> dict[str, Any]:
    import diffusers
    env = {'python': platform.python_version(), 'torch': torch.__version__,
           'diffusers': diffusers.__version__, 'device': str(device),
           'cpu_count': os.cpu_count(),
           'load_average_before': [round(x, 2) for x in os.getloadavg()],
           'started': time.strftime('%Y-%m-%d %H:%M:%S')}
    if device.type == 'cuda':
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
    return env


# --- models and data -------------------------------------------------------------------------

def policy_config(shape: str, smoke: bool) -> PolicyConfig:
    section = yaml.safe_load((REPO / SHAPES[shape]).read_text())['policy']
    if smoke:
        section.update(SMOKE_POLICY)
    return PolicyConfig.from_dict(section)


def make_policy(config: PolicyConfig, device: torch.device) -> DiffusionPolicy:
    rng = np.random.default_rng(0)
    norm = Normalizer.from_data({'action': rng.uniform(0, 512, (100, 2)),
                                 'agent_pos': rng.uniform(0, 512, (100, 2))})
    torch.manual_seed(0)
    return DiffusionPolicy(config, norm).to(device)


def observation(config: PolicyConfig, device: torch.device, batch: int = 1) -> dict:
    gen = torch.Generator().manual_seed(1)
    t = config.n_obs_steps
    return {'image': frames_as_fed(torch.rand((batch, t, *config.obs_shape('image')),
                                              generator=gen).to(device)),
            'agent_pos': (torch.rand((batch, t, 2), generator=gen) * 500).to(device)}


def synthetic_data(config: PolicyConfig, steps: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Push-T-like arrays (uint8 images, float32 low-dim) and their training windows."""
    rng = np.random.default_rng(0)
    c, h, w = config.obs_shape('image')
    arrays = {'image': rng.integers(0, 256, size=(steps, h, w, c), dtype=np.uint8),
              'agent_pos': rng.uniform(0, 512, (steps, 2)).astype(np.float32),
              'action': rng.uniform(0, 512, (steps, 2)).astype(np.float32)}
    ends = np.arange(EPISODE_LEN, steps + 1, EPISODE_LEN)
    return arrays, window_rows(ends, config.horizon, config.n_obs_steps - 1,
                               config.n_action_steps - 1)


def window_rows(episode_ends: np.ndarray, length: int, pad_before: int, pad_after: int
                ) -> np.ndarray:
    """training/sampler.create_indices' rows (that module needs zarr, absent on the GPU)."""
    rows, start = [], 0
    for end in episode_ends:
        n = int(end - start)
        for rel in range(-pad_before, n - length + pad_after + 1):
            b0, b1 = max(rel, 0) + start, min(rel + length, n) + start
            rows.append((b0, b1, b0 - (rel + start), length - (rel + length + start - b1)))
        start = int(end)
    return np.asarray(rows, dtype=np.int64)


class SyntheticWindows(torch.utils.data.Dataset):
    """PushTImageDataset.__getitem__'s work on in-memory arrays: today's loader path."""

    def __init__(self, arrays: dict, rows: np.ndarray, obs_steps: int, horizon: int) -> None:
        self.arrays, self.rows, self.obs_steps, self.horizon = arrays, rows, obs_steps, horizon

    def __len__(self) -> int:
        return len(self.rows)

    def _take(self, key: str, i: int, steps: int) -> np.ndarray:
        b0, b1, s0, _ = self.rows[i]
        return self.arrays[key][b0 + np.clip(np.arange(steps) - s0, 0, b1 - b0 - 1)]

    def __getitem__(self, i: int) -> dict:
        image = torch.from_numpy(self._take('image', i, self.obs_steps)).permute(0, 3, 1, 2)
        return {'obs': {'image': image.to(torch.float32, memory_format=torch.contiguous_format)
                        .div_(255.0),
                        'agent_pos': torch.from_numpy(self._take('agent_pos', i,
                                                                 self.obs_steps))},
                'action': torch.from_numpy(self._take('action', i, self.horizon))}


# --- timing ----------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed_ms(fn: Callable[[], Any], reps: int, device: torch.device) -> dict[str, float]:
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    return {'median_ms': round(statistics.median(times), 3), 'min_ms': round(min(times), 3),
            'max_ms': round(max(times), 3), 'reps': reps}


def diff(policy: DiffusionPolicy, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    norm = policy.normalizer
    return {'max_abs_diff_raw': float((a - b).abs().max()),
            'max_abs_diff_normalized': float((norm.normalize('action', a)
                                              - norm.normalize('action', b)).abs().max())}


# --- sampling --------------------------------------------------------------------------------

def sampling_case(bench: Bench, policy: DiffusionPolicy, sampler: str, steps: int,
                  dtype: str) -> dict[str, Any]:
    """Eager vs graph for one (sampler, steps) on a policy already in its dtype."""
    dev, smoke = bench.device, bench.args.smoke
    obs = observation(policy.config, dev)
    reps_eager = 2 if smoke else (20 if steps <= 16 else 5)
    reps_graph = 2 if smoke else (50 if steps <= 16 else 20)
    out: dict[str, Any] = {}
    gen = episode_generator(0, 100000, dev)
    policy.use_torchscript(False)
    policy.predict_action(obs, gen, sampler, steps)  # warm-up
    out['eager'] = timed_ms(lambda: policy.predict_action(obs, gen, sampler, steps),
                            reps_eager, dev)
    if dtype == 'fp32' and steps <= 16 and not smoke:  # the node's pre-graph default
        try:  # its own failure must not cost the graph figures below
            policy.use_torchscript(True)
            policy.predict_action(obs, gen, sampler, steps)
            out['torchscript'] = timed_ms(
                lambda: policy.predict_action(obs, gen, sampler, steps), reps_eager, dev)
        except (TimeoutError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - recorded
            out['torchscript'] = {'error': f'{type(err).__name__}: {err}'}
        finally:
            policy.use_torchscript(False)
    if not bench.cuda:
        chunk = StaticChunk(policy, 1, sampler, steps)  # what the graph would capture
        with torch.no_grad():
            chunk.load(obs, episode_generator(0, 100000, dev))
            got = chunk_outputs(policy, chunk.run())['action_pred']
        want = policy.predict_action(obs, episode_generator(0, 100000, dev), sampler, steps)
        out['static_vs_eager'] = diff(policy, got, want['action_pred'])
        out['graph'] = {'skipped': 'no CUDA device'}
        return out
    graphs = ChunkGraphs(policy)
    t0 = time.perf_counter()
    graphs.predict_action(obs, gen, sampler, steps)
    sync(dev)
    capture_s = time.perf_counter() - t0
    if graphs.failed:
        out['graph'] = {'error': graphs.failed}
        return out
    out['graph'] = timed_ms(lambda: graphs.predict_action(obs, gen, sampler, steps),
                            reps_graph, dev)
    out['graph']['capture_and_first_chunk_s'] = round(capture_s, 3)
    out['eager_over_graph'] = round(out['eager']['median_ms'] / out['graph']['median_ms'], 2)
    # same generator, two consecutive chunks of an episode: graph vs eager
    ga, gb = episode_generator(0, 100001, dev), episode_generator(0, 100001, dev)
    diffs = []
    for _ in range(2):
        want = policy.predict_action(obs, ga, sampler, steps)['action_pred']
        got = graphs.predict_action(obs, gb, sampler, steps)['action_pred']
        diffs.append(diff(policy, got, want))
    out['graph_vs_eager'] = {k: max(d[k] for d in diffs) for k in diffs[0]}
    graphs.clear()
    return out


def graph_vs_eager(policy: DiffusionPolicy, graphs: ChunkGraphs, obs: dict, sampler: str,
                   steps: int) -> dict[str, float]:
    """One chunk from the graph against the eager one, each from a fresh generator of the
    same episode seed."""
    dev = policy.device
    want = policy.predict_action(obs, episode_generator(0, 100001, dev), sampler, steps)
    got = graphs.predict_action(obs, episode_generator(0, 100001, dev), sampler, steps)
    return diff(policy, got['action_pred'], want['action_pred'])


def fresh_compiles() -> None:
    """torch._dynamo's caches emptied before a part compiles: the parts compile the same
    forward code (one UNet class) for other weights, shapes and dtypes, and past torch's
    recompile limit (8 per code object) dynamo runs it eagerly, which would time eager code
    under a compiled part's name."""
    import torch._dynamo
    torch._dynamo.reset()


def runner_case(bench: Bench, policy: DiffusionPolicy, sampler: str, steps: int,
                variant: str = 'default', torch_compile: bool = False) -> dict:
    """The node's path: InferenceRunner.predict (graphs on CUDA), warm-up = capture; the UNet's
    convolutions as CONV_VARIANTS[variant]; torch_compile as the node's parameter."""
    dev = bench.device
    if torch_compile:
        fresh_compiles()
    runner = InferenceRunner(policy, sampler=sampler, num_inference_steps=steps,
                             torchscript=False, torch_compile=torch_compile)
    try:
        with conv_variant(variant):
            t0 = time.perf_counter()
            runner.warmup()
            warm = time.perf_counter() - t0
            obs = observation(policy.config, dev)
            gen = episode_generator(0, 100002, dev)
            reps = 2 if bench.args.smoke else 20
            out = timed_ms(lambda: runner.predict(obs, gen), reps, dev)
            out.update(warmup_s=round(warm, 3), variant=variant, torch_compile=torch_compile,
                       graphs=runner.graphs is not None and runner.graphs.failed is None,
                       compiled=runner.graphs is not None
                       and runner.graphs.denoiser is not None)
            return out
    finally:
        runner.close()


def compiled_graph_case(bench: Bench, policy: DiffusionPolicy, sampler: str, steps: int,
                        variant: str = 'default', mode: str | None = None,
                        ddpm: bool = True) -> dict:
    """A torch.compile'd UNet inside the chunk graph (compiled during the capture warm-up),
    under one of CONV_VARIANTS; mode: torch.compile's (None: its default); ddpm: DDPM-100
    through the same graphs' UNet too."""
    dev = bench.device
    with conv_variant(variant):
        fresh_compiles()
        denoiser = torch.compile(policy.model, dynamic=False, mode=mode)
        graphs = ChunkGraphs(policy, denoiser=denoiser)
        obs = observation(policy.config, dev)
        gen = episode_generator(0, 100000, dev)
        t0 = time.perf_counter()
        graphs.predict_action(obs, gen, sampler, steps)
        sync(dev)
        compile_capture_s = round(time.perf_counter() - t0, 1)
        if graphs.failed or graphs.compile_failed:  # eager, or graphs of the plain UNet
            return {'error': graphs.failed or f'compile fell back: {graphs.compile_failed}',
                    'variant': variant}
        out = timed_ms(lambda: graphs.predict_action(obs, gen, sampler, steps), 50, dev)
        out['compile_capture_s'] = compile_capture_s
        out['variant'] = variant
        out['mode'] = mode or 'default'
        out['vs_eager'] = graph_vs_eager(policy, graphs, obs, sampler, steps)
        if not ddpm:
            graphs.clear()
            return out
        # DDPM-100 through the same compiled UNet (its shapes are the same: no recompile)
        graphs.predict_action(obs, gen, 'ddpm', 100)
        if graphs.failed:
            out['ddpm100'] = {'error': graphs.failed}
        else:
            out['ddpm100'] = timed_ms(lambda: graphs.predict_action(obs, gen, 'ddpm', 100),
                                      10, dev)
            out['ddpm100']['vs_eager'] = graph_vs_eager(policy, graphs, obs, 'ddpm', 100)
        graphs.clear()
    return out


# How the UNet's convolutions run on the GPU: cuDNN (with or without its autotuner), or the
# time-major GEMM of dp_ros.policy.unet.Conv1d / ConvTranspose1d up to so many rows
# (batch * T); 'default' leaves the package's own settings
CONV_VARIANTS: dict[str, dict[str, Any]] = {
    'default': {},
    'cudnn': dict(conv_rows=0, transpose_rows=0, benchmark=False),
    'cudnn_benchmark': dict(conv_rows=0, transpose_rows=0, benchmark=True),
    'gemm8': dict(conv_rows=8, transpose_rows=0, benchmark=False),
    'gemm64': dict(conv_rows=64, transpose_rows=64, benchmark=False),
    'gemm64_benchmark': dict(conv_rows=64, transpose_rows=64, benchmark=True),
    # every convolution of the UNet as a GEMM, the small ones too (first conv, 1x1 residuals,
    # final conv: cuDNN's three kernels each, layout conversions included, at batch 1)
    'gemm64_all': dict(conv_rows=64, transpose_rows=64, benchmark=False, min_weights=0),
}


@contextlib.contextmanager
def conv_variant(name: str):
    """The UNet's convolutions as CONV_VARIANTS[name] says, on this device type, within."""
    knobs = CONV_VARIANTS[name]
    kind = 'cuda' if torch.cuda.is_available() else 'cpu'
    saved = (dict(Conv1d.FAST_MAX_ROWS), dict(ConvTranspose1d.FAST_MAX_ROWS),
             torch.backends.cudnn.benchmark, dict(Conv1d.FAST_MIN_WEIGHTS))
    if 'conv_rows' in knobs:
        Conv1d.FAST_MAX_ROWS = {**saved[0], kind: knobs['conv_rows']}
        ConvTranspose1d.FAST_MAX_ROWS = {**saved[1], kind: knobs['transpose_rows']}
        torch.backends.cudnn.benchmark = knobs['benchmark']
    if 'min_weights' in knobs:
        Conv1d.FAST_MIN_WEIGHTS = {**saved[3], kind: knobs['min_weights']}
    try:
        yield
    finally:
        Conv1d.FAST_MAX_ROWS, ConvTranspose1d.FAST_MAX_ROWS = saved[0], saved[1]
        torch.backends.cudnn.benchmark = saved[2]
        Conv1d.FAST_MIN_WEIGHTS = saved[3]


def conv_variant_case(bench: Bench, policy: DiffusionPolicy, variant: str, sampler: str,
                      steps: int) -> dict[str, Any]:
    """The chunk graph (eager on a CPU) under one convolution variant: its latency, graph vs
    eager under the same variant, and vs the eager chunk with cuDNN's convolutions."""
    dev, smoke = bench.device, bench.args.smoke
    obs = observation(policy.config, dev)
    reps = 2 if smoke else (50 if steps <= 16 else 15)
    with conv_variant('cudnn'):
        cudnn = policy.predict_action(obs, episode_generator(0, 100001, dev), sampler,
                                      steps)['action_pred']
    with conv_variant(variant):
        eager = policy.predict_action(obs, episode_generator(0, 100001, dev), sampler,
                                      steps)['action_pred']
        out: dict[str, Any] = {'variant': variant}
        if not bench.cuda:
            gen = episode_generator(0, 100000, dev)
            out['eager'] = timed_ms(lambda: policy.predict_action(obs, gen, sampler, steps),
                                    reps, dev)
            out['vs_cudnn_eager'] = diff(policy, eager, cudnn)
            return out
        graphs = ChunkGraphs(policy)
        gen = episode_generator(0, 100000, dev)
        t0 = time.perf_counter()
        graphs.predict_action(obs, gen, sampler, steps)
        sync(dev)
        if graphs.failed:
            return {'error': graphs.failed, 'variant': variant}
        out['capture_s'] = round(time.perf_counter() - t0, 3)
        out['graph'] = timed_ms(lambda: graphs.predict_action(obs, gen, sampler, steps),
                                reps, dev)
        got = graphs.predict_action(obs, episode_generator(0, 100001, dev), sampler,
                                    steps)['action_pred']
        out['graph_vs_eager'] = diff(policy, got, eager)
        out['vs_cudnn_eager'] = diff(policy, got, cudnn)
        graphs.clear()
    return out


def conv_variants(bench: Bench, shape: str) -> None:
    """Every CONV_VARIANTS entry for DDIM-10 (fp32, bf16), and DDPM-100 fp32 for some."""
    where = bench.results['conv_variants'].setdefault(shape, {})
    policy = make_policy(policy_config(shape, bench.args.smoke), bench.device).eval()
    policy.use_torchscript(False)
    ddim, ddpm = (('ddim', 4), ('ddpm', 10)) if bench.args.smoke else \
        (('ddim', 10), ('ddpm', 100))
    for dtype in ('fp32', 'bf16'):
        policy.to(dtype=DTYPES[dtype])
        for variant in CONV_VARIANTS:
            bench.part(where, f'{ddim[0]}{ddim[1]}_{dtype}_{variant}',
                       lambda v=variant: conv_variant_case(bench, policy, v, *ddim),
                       need_s=5, limit_s=60)
    policy.to(dtype=torch.float32)
    for variant in ('default', 'cudnn', 'gemm64'):
        bench.part(where, f'{ddpm[0]}{ddpm[1]}_fp32_{variant}',
                   lambda v=variant: conv_variant_case(bench, policy, v, *ddpm),
                   need_s=15, limit_s=90)
    for variant in ('cudnn', 'gemm64'):  # the node's path
        bench.part(where, f'runner_{ddim[0]}{ddim[1]}_fp32_{variant}',
                   lambda v=variant: runner_case(bench, policy, *ddim, v), need_s=8,
                   limit_s=60)


def node_path(bench: Bench, shape: str) -> None:
    """InferenceRunner.predict as the node runs it, with the package's defaults and with
    torch_compile, DDIM-10 (DDIM-4 in --smoke)."""
    where = bench.results['node'].setdefault(shape, {})
    policy = make_policy(policy_config(shape, bench.args.smoke), bench.device).eval()
    steps = 4 if bench.args.smoke else 10
    cases = [('fp32', False), ('fp32', True)] + ([('bf16', True)] if shape == 'paper_263M'
                                                 else [])
    for dtype, compiled in cases:
        policy.to(dtype=DTYPES[dtype])
        name = f'runner_ddim{steps}_{dtype}' + ('_compiled' if compiled else '')
        bench.part(where, name, lambda c=compiled: runner_case(
            bench, policy, 'ddim', steps, torch_compile=c and bench.cuda),
            need_s=20 if compiled else 6, limit_s=90)


def profile_case(bench: Bench, policy: DiffusionPolicy, variant: str,
                 compiled: bool = False) -> dict[str, Any]:
    """One DDIM-10 chunk, not in a graph, under torch.profiler: where its device time goes
    (the kernels with the most self time; how many kernels a chunk launches), under one
    convolution variant; compiled: the chunk as the graph captures it with torch_compile
    (StaticChunk with a compiled UNet)."""
    from torch.profiler import ProfilerActivity, profile
    dev = bench.device
    obs = observation(policy.config, dev)
    steps = 4 if bench.args.smoke else 10
    with conv_variant(variant), torch.no_grad():
        if compiled:
            fresh_compiles()
            chunk = StaticChunk(policy, 1, 'ddim', steps,
                                torch.compile(policy.model, dynamic=False))
            chunk.load(obs, episode_generator(0, 1, dev))
            run = chunk.run
        else:
            def run() -> None:
                policy.predict_action(obs, episode_generator(0, 1, dev), 'ddim', steps)
        for _ in range(2):
            run()
        sync(dev)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if bench.cuda else [])
        with profile(activities=acts) as prof:
            run()
            sync(dev)
    field = 'self_device_time_total' if bench.cuda else 'self_cpu_time_total'
    # on CUDA the kernels' rows only: an operator's row carries its kernels' time again
    kind = torch.autograd.DeviceType.CUDA if bench.cuda else torch.autograd.DeviceType.CPU
    events = [e for e in prof.key_averages() if getattr(e, field, 0) > 0
              and getattr(e, 'device_type', kind) == kind]
    events.sort(key=lambda e: getattr(e, field), reverse=True)
    total = sum(getattr(e, field) for e in events) / 1e3
    top = [{'name': e.key[:100], 'count': e.count, 'ms': round(getattr(e, field) / 1e3, 3),
            'share': round(getattr(e, field) / 1e3 / total, 3) if total else None}
           for e in events[:20]]
    return {'variant': variant, 'compiled': compiled, 'sampler': f'ddim{steps}', 'time': field,
            'total_ms': round(total, 3), 'kernels': sum(e.count for e in events)
            if bench.cuda else None, 'top': top}


def profiles(bench: Bench, shape: str) -> None:
    where = bench.results['profile'].setdefault(shape, {})
    policy = make_policy(policy_config(shape, bench.args.smoke), bench.device).eval()
    policy.use_torchscript(False)
    steps = 4 if bench.args.smoke else 10
    for variant in ('cudnn', 'gemm64') if shape == 'paper_263M' else ('gemm64',):
        bench.part(where, f'ddim{steps}_fp32_{variant}',
                   lambda v=variant: profile_case(bench, policy, v), need_s=10, limit_s=60)
    if bench.cuda:  # compile is measured on CUDA only
        bench.part(where, f'ddim{steps}_fp32_gemm64_compiled',
                   lambda: profile_case(bench, policy, 'gemm64', compiled=True), need_s=25,
                   limit_s=90)


# issue 15's latency cases beyond the last device run's best (gpu_run2.json: compiled UNet in
# the graph with gemm64 convolutions, 6.5 ms both shapes' best): every convolution as a GEMM,
# and torch.compile's autotuned GEMM templates (max-autotune without its own CUDA graphs: the
# chunk is one already). (shape, dtype): each shape's best dtype there.
LATENCY_CASES = (('shipped_7.7M', 'fp32'), ('paper_263M', 'bf16'))


def latency(bench: Bench) -> None:
    """DDIM-10 chunk graphs: gemm64_all without and with torch.compile, and a kernel profile
    of the compiled gemm64_all chunk, for both shapes first (DDPM-100 for the compiled ones);
    then, when --only names this part, max-autotune (minutes of autotuning each) as the
    budget allows (a whole run keeps its budget for the other parts)."""
    steps = 4 if bench.args.smoke else 10

    def shape_policy(shape: str, dtype: str) -> DiffusionPolicy:
        policy = make_policy(policy_config(shape, bench.args.smoke), bench.device).eval()
        policy.use_torchscript(False)
        return policy.to(dtype=DTYPES[dtype])

    for shape, dtype in LATENCY_CASES:
        where = bench.results['latency'].setdefault(shape, {})
        policy = shape_policy(shape, dtype)
        bench.part(where, f'graph_ddim{steps}_{dtype}_gemm64_all',
                   lambda p=policy: conv_variant_case(bench, p, 'gemm64_all', 'ddim', steps),
                   need_s=5, limit_s=60)
        if not bench.cuda:
            where['compiled'] = {'skipped': 'CUDA only'}
            continue
        bench.part(where, f'compiled_ddim10_{dtype}_gemm64_all',
                   lambda p=policy: compiled_graph_case(bench, p, 'ddim', 10, 'gemm64_all'),
                   need_s=40, limit_s=100)
        bench.part(where, f'profile_compiled_ddim10_{dtype}_gemm64_all',
                   lambda p=policy: profile_case(bench, p, 'gemm64_all', compiled=True),
                   need_s=25, limit_s=90)
    if not bench.cuda or 'latency' not in bench.args.only.split(','):
        return  # minutes of autotuning: only when the part is asked for by name
    for variant in ('gemm64_all', 'gemm64'):
        for shape, dtype in LATENCY_CASES:
            where = bench.results['latency'][shape]
            bench.part(where, f'autotuned_ddim10_{dtype}_{variant}',
                       lambda s=shape, d=dtype, v=variant: compiled_graph_case(
                           bench, shape_policy(s, d), 'ddim', 10, v,
                           mode='max-autotune-no-cudagraphs', ddpm=False),
                       need_s=90, limit_s=180)


def sampling(bench: Bench, shape: str) -> None:
    where = bench.results['sampling'].setdefault(shape, {})
    config = policy_config(shape, bench.args.smoke)
    policy = make_policy(config, bench.device).eval()
    where['parameters_M'] = round(count_parameters(policy) / 1e6, 2)
    cases = [('ddim', 4), ('ddpm', 10)] if bench.args.smoke else [('ddim', 10), ('ddpm', 100)]
    for dtype, torch_dtype in DTYPES.items():
        policy.to(dtype=torch_dtype)
        for sampler, steps in cases:
            name = f'{sampler}{steps}_{dtype}'
            need = 8 if steps <= 16 else 25
            bench.part(where, name, lambda s=sampler, n=steps, d=dtype:
                       sampling_case(bench, policy, s, n, d), need_s=need, limit_s=180)
    policy.to(dtype=torch.float32)
    for sampler, steps in cases:
        bench.part(where, f'runner_{sampler}{steps}_fp32',
                   lambda s=sampler, n=steps: runner_case(bench, policy, s, n),
                   need_s=10, limit_s=120)


def sampling_compiled(bench: Bench, shape: str, dtypes: tuple[str, ...] = ('fp32', 'bf16'),
                      variant: str = 'default') -> None:
    where = bench.results['sampling'].setdefault(shape, {})
    if not bench.cuda:
        where['compiled_unet_graph_ddim10'] = {'skipped': 'CUDA only'}
        return
    policy = make_policy(policy_config(shape, bench.args.smoke), bench.device).eval()
    for dtype in dtypes:
        policy.to(dtype=DTYPES[dtype])
        bench.part(where, f'compiled_unet_graph_ddim10_{dtype}',
                   lambda: compiled_graph_case(bench, policy, 'ddim', 10, variant),
                   need_s=45, limit_s=100)


# --- training --------------------------------------------------------------------------------

class FallbackEma:
    """diffusers EMAModel's update (same decay rule and arithmetic), used only if
    diffusers.training_utils cannot be imported on the GPU machine (it imports transformers
    and peft when they are installed)."""

    def __init__(self, parameters, foreach: bool, power: float = 0.75) -> None:
        self.shadow = [p.detach().clone() for p in parameters]
        self.foreach, self.power, self.step_count = foreach, power, 0

    def step(self, parameters) -> None:
        self.step_count += 1
        k = self.step_count - 2  # update_after_step=1, counted as diffusers counts
        decay = 0.0 if k <= 0 else min(1 - (1 + k) ** -self.power, 0.9999)
        params = [p.detach() for p in parameters]
        if self.foreach:
            torch._foreach_sub_(self.shadow, torch._foreach_sub(self.shadow, params),
                                alpha=1 - decay)
        else:
            for s, p in zip(self.shadow, params, strict=True):
                s.sub_((1 - decay) * (s - p))


class Step:
    """One optimizer step as train.py takes it: loss, backward, AdamW, lr schedule, EMA."""

    def __init__(self, base: DiffusionPolicy, fused: bool, ema_foreach: bool,
                 autocast: torch.dtype | None, compile_mode: str | None) -> None:
        from diffusers.optimization import get_scheduler

        self.policy = policy = copy.deepcopy(base).train()
        self.device = policy.device
        if compile_mode:  # as train.torch_compile: the convolution stacks; crops, noise eager
            fresh_compiles()
            compile_convolutions(policy, compile_mode)
        kwargs = {'fused': True} if fused else {}
        self.opt = torch.optim.AdamW(policy.parameters(), lr=1e-4, betas=(0.95, 0.999),
                                     eps=1e-8, weight_decay=1e-6, **kwargs)
        self.lr = get_scheduler('cosine', optimizer=self.opt, num_warmup_steps=500,
                                num_training_steps=1_000_000)
        try:
            from diffusers.training_utils import EMAModel
            self.ema = EMAModel(policy.parameters(), decay=0.9999, min_decay=0.0,
                                update_after_step=1, use_ema_warmup=True, inv_gamma=1.0,
                                power=0.75, foreach=ema_foreach)
            self.ema_kind = 'diffusers'
        except Exception as err:  # an import chain the GPU image may break
            self.ema = FallbackEma(policy.parameters(), ema_foreach)
            self.ema_kind = f'fallback ({type(err).__name__}: {err})'[:200]
        self.gen = torch.Generator(device=self.device).manual_seed(42)
        self.autocast = autocast

    def __call__(self, batch: dict) -> torch.Tensor:
        ctx = torch.autocast(self.device.type, dtype=self.autocast) if self.autocast else \
            contextlib.nullcontext()
        with ctx:
            loss = self.policy.compute_loss(batch, self.gen)
        loss.backward()
        self.opt.step()
        self.lr.step()
        self.opt.zero_grad(set_to_none=True)
        self.ema.step(self.policy.parameters())
        return loss.detach()


def train_variant(bench: Bench, base: DiffusionPolicy, data: tuple, *, source: str,
                  batch: int, fused: bool = False, ema_foreach: bool = False,
                  autocast: torch.dtype | None = None, tf32: bool = False,
                  compile_mode: str | None = None) -> dict[str, Any]:
    dev, smoke = bench.device, bench.args.smoke
    arrays, rows = data
    cfg = base.config
    step = Step(base, fused, ema_foreach, autocast, compile_mode)
    rng = np.random.default_rng(0)
    picks = (rng.choice(len(rows), size=batch, replace=False).tolist() for _ in iter(int, 1))
    if source == 'loader':
        workers = 0 if smoke else max(1, min(12, (os.cpu_count() or 4) - 4))
        ds = SyntheticWindows(arrays, rows, cfg.n_obs_steps, cfg.horizon)
        order = [next(picks) for _ in range(400)]
        loader = torch.utils.data.DataLoader(ds, batch_sampler=order, num_workers=workers,
                                             pin_memory=bench.cuda,
                                             persistent_workers=workers > 0)
        it = iter(loader)

        def next_batch() -> dict:
            from training.batches import to_device
            return to_device(next(it), dev)
    else:
        builder = DeviceBatches(arrays, rows, cfg.horizon, ['image'], ['agent_pos'], dev,
                                {'image': cfg.n_obs_steps, 'agent_pos': cfg.n_obs_steps})
        resident = builder.batch(next(picks))

        def next_batch() -> dict:
            return resident if source == 'resident' else builder.batch(next(picks))
    with tf32_matmuls(tf32):
        warm, n = (1, 2) if smoke else (5 if not compile_mode else 8, 30)
        t0 = time.perf_counter()
        for _ in range(warm):
            step(next_batch())
        sync(dev)
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        losses = [step(next_batch()) for _ in range(n)]
        sync(dev)
        seconds = time.perf_counter() - t0
    return {'samples_per_s': round(n * batch / seconds, 1),
            'ms_per_step': round(1e3 * seconds / n, 2), 'batch': batch, 'steps': n,
            'warmup_s': round(warm_s, 2), 'source': source, 'fused_adamw': fused,
            'ema_foreach': ema_foreach, 'tf32_matmul': tf32,
            'autocast': str(autocast).removeprefix('torch.') if autocast else None,
            'compiled': compile_mode, 'ema': step.ema_kind, 'last_loss': float(losses[-1]),
            'peak_mem_gb': round(torch.cuda.max_memory_allocated(dev) / 1e9, 2)
            if bench.cuda else None}


def training(bench: Bench, shape: str, compiled: bool) -> None:
    where = bench.results['training'].setdefault(shape, {})
    smoke, cuda = bench.args.smoke, bench.cuda
    config = policy_config(shape, smoke)
    base = make_policy(config, bench.device)
    base.to(memory_format=torch.channels_last)  # train.channels_last, the default
    data = synthetic_data(config, 600 if smoke else 8000)
    b64, big = (8, 16) if smoke else (TRAIN_BATCH, 256)
    fast = dict(fused=cuda, ema_foreach=True, tf32=cuda)
    bf16 = torch.bfloat16
    if not compiled:
        variants = {
            'baseline_resident_fp32': dict(source='resident', batch=b64),
            'baseline_loader_fp32': dict(source='loader', batch=b64),
            'device_fp32': dict(source='device', batch=b64, **fast),
            'device_bf16': dict(source='device', batch=b64, autocast=bf16, **fast),
            f'device_bf16_b{big}': dict(source='device', batch=big, autocast=bf16, **fast),
        }
    elif smoke or not cuda:
        where['compiled'] = {'skipped': 'compile is measured on CUDA only (minutes on a CPU)'}
        return
    else:
        variants = {  # one batch size: each new shape would compile again
            'device_bf16_compiled': dict(source='device', batch=b64, autocast=bf16,
                                         compile_mode='default', **fast),
            'device_bf16_compiled_reduce_overhead': dict(
                source='device', batch=b64, autocast=bf16, compile_mode='reduce-overhead',
                **fast),
        }
    for name, kwargs in variants.items():
        if cuda:
            torch.cuda.reset_peak_memory_stats(bench.device)
        need = 60 if kwargs.get('compile_mode') else 10
        bench.part(where, name, lambda kw=kwargs: train_variant(bench, base, data, **kw),
                   need_s=need, limit_s=120)
    base_sps = where.get('baseline_loader_fp32', {}).get('samples_per_s')
    for value in where.values():
        if isinstance(value, dict) and base_sps and 'samples_per_s' in value:
            value['over_baseline_loader'] = round(value['samples_per_s'] / base_sps, 2)
    bench.save()


# --- summary ---------------------------------------------------------------------------------

def summarize(bench: Bench) -> dict[str, Any]:
    """Best graph latencies (any convolution variant, compiled or not), best training
    throughput and the issue's targets."""
    out: dict[str, Any] = {}
    for shape, targets in TARGETS.items():
        s = bench.results['sampling'].get(shape, {})
        c = bench.results['conv_variants'].get(shape, {})
        t = bench.results['training'].get(shape, {})
        # (sampler, name, median ms) of every chunk graph measured
        graphs = [(k.split('_')[0], f'sampling.{k}', v['graph']['median_ms'])
                  for k, v in s.items() if isinstance(v, dict)
                  and 'median_ms' in v.get('graph', {})]
        for k, v in s.items():
            if k.startswith('compiled_unet_graph_') and isinstance(v, dict):
                if 'median_ms' in v:
                    graphs.append(('ddim10', f'sampling.{k}', v['median_ms']))
                if 'median_ms' in v.get('ddpm100', {}):
                    graphs.append(('ddpm100', f'sampling.{k}.ddpm100', v['ddpm100']['median_ms']))
        graphs += [(k.split('_')[1], f'node.{k}', v['median_ms'])
                   for k, v in bench.results['node'].get(shape, {}).items()
                   if isinstance(v, dict) and v.get('graphs') and 'median_ms' in v]
        graphs += [(k.split('_')[0], f'conv_variants.{k}', v['graph']['median_ms'])
                   for k, v in c.items() if isinstance(v, dict)
                   and 'median_ms' in v.get('graph', {})]
        lat = bench.results.get('latency', {}).get(shape, {})
        for k, v in lat.items():  # graph_/compiled_/autotuned_<sampler>_...
            if not isinstance(v, dict):
                continue
            if 'median_ms' in v.get('graph', {}) or 'median_ms' in v:
                graphs.append((k.split('_')[1], f'latency.{k}',
                               v['graph']['median_ms'] if 'graph' in v else v['median_ms']))
            if 'median_ms' in v.get('ddpm100', {}):
                graphs.append(('ddpm100', f'latency.{k}.ddpm100', v['ddpm100']['median_ms']))

        def best(sampler: str, graphs: list = graphs) -> tuple[str, float] | tuple[None, None]:
            found = [(name, ms) for kind, name, ms in graphs if kind == sampler]
            return min(found, key=lambda g: g[1]) if found else (None, None)
        # the targets are at the config's batch (64, as the paper trains and today's 900
        # samples/s was measured): a larger batch trains otherwise, reported apart
        rates = [(v['samples_per_s'], v['batch']) for v in t.values()
                 if isinstance(v, dict) and 'samples_per_s' in v]
        sps = [r for r, b in rates if b == TRAIN_BATCH or bench.args.smoke]
        diffs = [v['graph_vs_eager']['max_abs_diff_normalized']
                 for cases in (s, c, lat) for k, v in cases.items()
                 if '_fp32' in k and isinstance(v, dict) and 'graph_vs_eager' in v]
        (ddim_at, ddim_ms), (ddpm_at, ddpm_ms) = best('ddim10'), best('ddpm100')
        row = {'ddim10_graph_ms': ddim_ms, 'ddim10_graph_best': ddim_at,
               'ddpm100_graph_ms': ddpm_ms, 'ddpm100_graph_best': ddpm_at,
               'train_best_samples_per_s': max(sps) if sps else None,
               'train_best_samples_per_s_any_batch': max(r for r, _ in rates) if rates
               else None,
               'fp32_graph_vs_eager_max_diff_normalized': max(diffs) if diffs else None}
        checks = {}
        for key, goal in targets.items():
            got = row.get(key.replace('_ms', '_graph_ms')) if key.endswith('_ms') else \
                row['train_best_samples_per_s']
            checks[key] = None if got is None else (got <= goal if key.endswith('_ms')
                                                     else got >= goal)
        if diffs:
            checks['same_samples_1e-4'] = max(diffs) <= 1e-4
        row['targets'], row['met'] = targets, checks
        out[shape] = row
    return out


def print_table(results: dict) -> None:
    print('\n== sampling, batch 1, median ms per chunk (eager | graph | ratio | diff) ==')
    for shape, cases in results['sampling'].items():
        for name, v in cases.items():
            if not isinstance(v, dict):
                continue
            if 'eager' in v:
                g = v.get('graph', {})
                gms = g.get('median_ms', g.get('skipped', g.get('error', '?')))
                d = v.get('graph_vs_eager', v.get('static_vs_eager', {}))
                print(f'{shape:13s} {name:15s} {v["eager"]["median_ms"]:9.2f} | {gms} | '
                      f'{v.get("eager_over_graph", "-")} | '
                      f'{d.get("max_abs_diff_normalized", "-")}')
            elif 'median_ms' in v:
                print(f'{shape:13s} {name:28s} {v["median_ms"]:9.2f} ms')
            else:
                print(f'{shape:13s} {name:28s} {v}'[:200])
    print('\n== convolution variants, median ms per chunk (graph; eager on a CPU) ==')
    for shape, cases in results.get('conv_variants', {}).items():
        for name, v in cases.items():
            if isinstance(v, dict) and ('graph' in v or 'eager' in v):
                ms = v.get('graph', v.get('eager', {})).get('median_ms')
                d = v.get('graph_vs_eager', {}).get('max_abs_diff_normalized', '-')
                c = v.get('vs_cudnn_eager', {}).get('max_abs_diff_normalized', '-')
                print(f'{shape:13s} {name:28s} {ms:9.3f} ms  vs eager {d}  vs cudnn {c}')
            else:
                print(f'{shape:13s} {name:28s} {v}'[:200])
    print('\n== the node\'s path (InferenceRunner.predict), median ms per chunk ==')
    for shape, cases in results.get('node', {}).items():
        for name, v in cases.items():
            print(f'{shape:13s} {name:28s} {v}'[:220])
    print('\n== where an eager DDIM chunk spends its time (top kernels) ==')
    for shape, cases in results.get('profile', {}).items():
        for name, v in cases.items():
            if not isinstance(v, dict) or 'top' not in v:
                print(f'{shape:13s} {name:28s} {v}'[:200])
                continue
            print(f'{shape:13s} {name}: {v["total_ms"]} ms in {v["kernels"]} kernels')
            for row in v['top'][:8]:
                print(f'    {row["ms"]:8.3f} ms  x{row["count"]:<5d} {row["share"]}  '
                      f'{row["name"][:70]}')
    print('\n== training samples/s ==')
    for shape, variants in results['training'].items():
        for name, v in variants.items():
            if isinstance(v, dict) and 'samples_per_s' in v:
                print(f'{shape:13s} {name:30s} {v["samples_per_s"]:10.1f}  '
                      f'{v["ms_per_step"]:8.2f} ms/step  x{v.get("over_baseline_loader", "-")}')
            else:
                print(f'{shape:13s} {name:30s} {v}'[:200])
    print('\n== summary ==')
    print(json.dumps(results.get('summary', {}), indent=1))


def _sampling(bench: Bench) -> None:
    for shape in SHAPES:  # the latency targets first: they are the node's
        sampling(bench, shape)


def _profile(bench: Bench) -> None:
    for shape in reversed(SHAPES):  # where a chunk goes, the big model's first
        profiles(bench, shape)


def _conv_variants(bench: Bench) -> None:
    for shape in reversed(SHAPES):
        conv_variants(bench, shape)


def _node(bench: Bench) -> None:
    for shape in reversed(SHAPES):
        node_path(bench, shape)


def _training(bench: Bench) -> None:
    for shape in SHAPES:
        training(bench, shape, compiled=False)


def _compile(bench: Bench) -> None:
    # minutes of compilation: whether compile beats graphs alone for the node's latency
    # (the paper's shape first), then the compiled training step, the 7.7M shape first
    sampling_compiled(bench, 'paper_263M', ('fp32',), 'gemm64')
    sampling_compiled(bench, 'shipped_7.7M', ('fp32',), 'gemm64')
    for shape in SHAPES:
        training(bench, shape, compiled=True)
    sampling_compiled(bench, 'paper_263M', ('bf16',), 'gemm64')
    sampling_compiled(bench, 'shipped_7.7M', ('bf16',), 'gemm64')


# the bench's parts in the order a whole run takes them (--only: in the order given)
PARTS: dict[str, Callable[[Bench], None]] = {
    'sampling': _sampling, 'training': _training, 'node': _node, 'profile': _profile,
    'conv_variants': _conv_variants, 'compile': _compile, 'latency': latency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--output', default=str(RESULTS))
    parser.add_argument('--budget-s', type=float, default=260.0,
                        help='start no part after this many seconds (a running part finishes)')
    parser.add_argument('--smoke', action='store_true', help='tiny sizes, few reps (CPU check)')
    parser.add_argument('--skip', default='', help='comma list of parts to leave out: '
                        + ', '.join(PARTS))
    parser.add_argument('--only', default='', help='comma list of the parts to run, in the '
                        'order given')
    args = parser.parse_args(argv)
    if args.smoke:
        torch.set_num_threads(1)
    skip = {s for s in args.skip.split(',') if s}
    only = list(dict.fromkeys(s for s in args.only.split(',') if s))
    unknown = (skip | set(only)) - set(PARTS)
    if unknown:
        parser.error(f'unknown parts {sorted(unknown)}; the parts are {list(PARTS)}')
    run = [p for p in (only or PARTS) if p not in skip]
    bench = Bench(args)
    print(json.dumps(bench.results['env']), flush=True)
    for part in run:
        PARTS[part](bench)
    bench.results['summary'] = summarize(bench)
    bench.save()
    print_table(bench.results)
    print(f'\nwrote {args.output} in {bench.elapsed():.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
