"""The model at run time: device and dtype, warm-up, sampling on a worker thread, latency stats.

Sampling a chunk takes tens of milliseconds on a GPU and seconds on a small CPU; it runs on a
thread of its own so that the ROS executor keeps taking camera and joint-state messages
meanwhile (torch releases the GIL inside its kernels).

Determinism: one torch.Generator per episode (dp_ros.policy.inputs.episode_generator), used
for every chunk of the episode in order, and the observation tensors built by
dp_ros.policy.inputs; the in-process evaluation does the same, so the same observations
give the same actions through ROS and without it.
"""
from __future__ import annotations

import math
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from dp_ros.policy.diffusion import SamplingCancelled
from dp_ros.policy.inputs import batch_observations
from dp_ros.runtime.graph_sampler import ChunkGraphs

DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


# --- configuration ---------------------------------------------------------------------------

def resolve_device(spec: str) -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'."""
    spec = str(spec).strip().lower()
    if spec == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if spec == 'cpu':
        return torch.device('cpu')
    if spec == 'cuda' or spec.startswith('cuda:'):
        index = spec.partition(':')[2]
        if index and not index.isdigit():
            raise ValueError(f"device '{spec}': the CUDA index must be a number, e.g. cuda:0")
        if not torch.cuda.is_available():
            raise ValueError(f"device '{spec}' asked for, but CUDA is not available here "
                             "(use 'auto' or 'cpu')")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device '{spec}': only {torch.cuda.device_count()} CUDA "
                             'device(s) present')
        return torch.device(spec)
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '{spec}'")


def resolve_dtype(spec: str, device: torch.device) -> torch.dtype:
    """float32 | bfloat16 | float16; float16 only on CUDA (its CPU kernels are slow or absent)."""
    if spec not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got '{spec}'")
    if spec == 'float16' and device.type != 'cuda':
        raise ValueError("dtype 'float16' needs a CUDA device; use 'bfloat16' on CPU")
    return DTYPES[spec]


# --- observations ----------------------------------------------------------------------------

def to_model_obs(values: Mapping[str, Sequence[np.ndarray]], rgb_keys: Sequence[str],
                 device: torch.device | str = 'cpu') -> dict[str, torch.Tensor]:
    """One episode's per-key lists of n_obs_steps samples -> the policy's (1, T, ...) batch."""
    return batch_observations([values], rgb_keys, device)


# --- latency ---------------------------------------------------------------------------------

class LatencyStats:
    """Last value and percentiles over a sliding window of samples (seconds).

    Thread-safe: the worker adds while the node's diagnostics timer reads.
    """

    def __init__(self, window: int = 200):
        if window < 1:  # 0 kept nothing: percentiles None while the count grew
            raise ValueError(f'latency_window must be >= 1 sample, got {window}')
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.count = 0
        self.last: float | None = None

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(float(seconds))
            self.last = float(seconds)
            self.count += 1

    def percentile(self, q: float) -> float | None:
        with self._lock:
            values = list(self._values)
        return float(np.percentile(values, q)) if values else None

    def summary_ms(self) -> dict[str, float | None]:
        def ms(x: float | None) -> float | None:
            return None if x is None else round(x * 1e3, 3)
        with self._lock:
            last, count = self.last, self.count
        return {'last_ms': ms(last), 'p50_ms': ms(self.percentile(50)),
                'p95_ms': ms(self.percentile(95)), 'count': count}


# --- the runner ------------------------------------------------------------------------------

@dataclass
class InferenceResult:
    """What a submitted job produced; `error` is set instead of the arrays when sampling failed."""

    context: Any
    action: np.ndarray | None  # (n_action_steps, Da) float32, the checkpoint's executed slice
    action_pred: np.ndarray | None  # (horizon, Da) float32
    latency_s: float
    error: BaseException | None = None


class InferenceRunner:
    """Owns the policy; runs one sampling job at a time on its worker thread.

    cuda_graphs: on a CUDA device, sample each chunk as one CUDA graph replay
    (dp_ros.runtime.graph_sampler; captured by warmup() or the first chunk), with the same
    generator rules as predict_action; no effect on the CPU, where the TorchScript or eager
    path runs unchanged. torch_compile: the graphs replay a torch.compile'd UNet (fused
    kernels; samples equal the eager ones up to float reassociation, ~1e-4..1e-3 normalized
    where the graph alone gives them exactly); its compile happens at the first capture.
    """

    def __init__(self, policy: torch.nn.Module, sampler: str | None = None,
                 num_inference_steps: int | None = None, torchscript: bool = True,
                 extra_latency_s: float = 0.0, latency_window: int = 200,
                 cuda_graphs: bool = True, torch_compile: bool = False):
        # NaN: no delay; past TIMEOUT_MAX every chunk failed in the wait (OverflowError)
        if not (math.isfinite(extra_latency_s) and 0 <= extra_latency_s <= threading.TIMEOUT_MAX):
            raise ValueError(f'extra_latency_s must be a finite number of seconds, 0 to '
                             f'{threading.TIMEOUT_MAX:.0f}, got {extra_latency_s}')
        self.policy = policy
        self.torchscript = bool(torchscript)
        policy.use_torchscript(torchscript)
        on_cuda = cuda_graphs and policy.device.type == 'cuda'
        denoiser = None
        if on_cuda and torch_compile:
            try:  # lazy: the compilation itself runs at the first capture, guarded there
                denoiser = torch.compile(policy.model, dynamic=False)
            except Exception as err:  # noqa: BLE001 - a platform torch.compile refuses
                warnings.warn(f'torch_compile: {type(err).__name__}: {err}; sampling with '
                              'graphs of the plain UNet', stacklevel=2)
        self.graphs: ChunkGraphs | None = ChunkGraphs(policy, denoiser=denoiser) if on_cuda \
            else None
        self.sampler = sampler or None
        self.num_inference_steps = num_inference_steps or None
        if self.sampler is not None or self.num_inference_steps is not None:
            # fail now, not on the first chunk
            policy.sampler(self.sampler or policy.config.sampler,
                           self.num_inference_steps or policy.config.num_inference_steps)
        self.extra_latency_s = float(extra_latency_s)
        self.latency = LatencyStats(latency_window)
        self._cond = threading.Condition()
        self._job: tuple | None = None
        self._busy = False
        self._stop = False
        self._ended: BaseException | None = None  # what ended the worker other than close()
        self._thread = threading.Thread(target=self._work, name='dp_inference', daemon=True)
        self._thread.start()

    @classmethod
    def from_checkpoint(cls, directory: str | Path, device: str = 'auto',
                        dtype: str = 'float32', **kwargs: Any) -> InferenceRunner:
        from dp_ros.policy.checkpoint import load_policy

        dev = resolve_device(device)
        policy = load_policy(directory, device=dev, dtype=resolve_dtype(dtype, dev))
        return cls(policy, **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def config(self):
        return self.policy.config

    @property
    def device(self) -> torch.device:
        return self.policy.device

    @property
    def dtype(self) -> torch.dtype:
        return self.policy.dtype

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy

    @property
    def sampling_path(self) -> str:
        """How chunks are sampled, as the node's start-up line and diagnostics say it: a
        fallback (a capture or a compile that failed) is otherwise one warning in the log."""
        plain = 'TorchScript' if self.policy.torchscript_active else 'eager'
        graphs = self.graphs
        if graphs is None:
            return plain
        if graphs.failed is not None and not graphs.captured:
            return f'{plain} (CUDA graph capture failed: {graphs.failed})'
        what = 'CUDA graph' + (' of the compiled UNet' if graphs.denoiser is not None else '')
        if graphs.compile_failed is not None:
            what += f' (the compiled UNet failed: {graphs.compile_failed})'
        return what if graphs.captured else f'{what}, captured at the first chunk'

    # ------------------------------------------------------------------ sampling
    def predict(self, obs: Mapping[str, torch.Tensor],
                generator: torch.Generator | None = None,
                cancelled: Callable[[], bool] | None = None) -> dict[str, np.ndarray]:
        """Sample one chunk now, on the calling thread: `obs` holds one observation (batch
        1, the node's), and the chunk comes back without its batch dimension; a batch of
        more is refused (its other rows were sampled and dropped). `cancelled`: as
        DiffusionPolicy.predict_action's (a CUDA graph replays whole, in milliseconds)."""
        rows = {int(torch.as_tensor(v).shape[0]) for v in obs.values()
                if torch.as_tensor(v).ndim > 0}
        if rows - {1}:
            raise ValueError(f'predict takes one observation (batch 1), got batch {sorted(rows)}: '
                             "sample batches with the policy's predict_action")
        sample = self.policy.predict_action if self.graphs is None else \
            self.graphs.predict_action
        out = sample(dict(obs), generator=generator, sampler=self.sampler,
                     num_inference_steps=self.num_inference_steps, cancelled=cancelled)
        return {k: v[0].detach().float().cpu().numpy() for k, v in out.items()}

    def warmup(self, repeats: int = 2) -> float:
        """Run the model on zero observations (CUDA kernels, allocator, scheduler caches; on
        CUDA with cuda_graphs, the capture of the chunk's graph).

        Uses a throw-away generator, so the episode generators are untouched. Returns the
        seconds of the last run.
        """
        cfg = self.config
        obs = {k: torch.zeros((1, cfg.n_obs_steps, *cfg.obs_shape(k)), device=self.device)
               for k in cfg.obs_keys}
        seconds = 0.0
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            self.predict(obs, torch.Generator(device=self.device).manual_seed(0))
            if self.device.type == 'cuda':
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - start
        return seconds

    def submit(self, obs: Mapping[str, torch.Tensor], generator: torch.Generator | None,
               callback: Callable[[InferenceResult], None], context: Any = None) -> bool:
        """Queue a job for the worker; False (nothing queued) while one is still running or
        after close(). RuntimeError once the worker has ended otherwise (a job or callback
        raised SystemExit): a job queued then would wait for good, the caller none the wiser."""
        with self._cond:
            if self._ended is not None:
                raise RuntimeError(f'the inference worker has ended: a job or its callback '
                                   f'raised {type(self._ended).__name__}({self._ended})')
            if self._busy or self._stop:
                return False
            self._busy = True
            self._job = (obs, generator, callback, context)
            self._cond.notify_all()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker and drop the captured CUDA graphs (their memory pools), which
        would otherwise stay taken for as long as anything still holds the runner. A chunk
        being sampled ends at its next denoising step, unpublished (its callback not run).
        From a job's callback (on the worker) it does not wait: the worker ends after it."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:  # joining itself: RuntimeError
            self._thread.join(timeout=timeout)
        if self.graphs is not None:
            self.graphs.clear()  # waits for a replay still running (its lock)

    def _work(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # SystemExit: the thread ends (as threading would end
            with self._cond:          # it, silently), and submit() says so from then on
                self._ended, self._busy = exc, False

    def _serve(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._stop:  # a job queued before close(): dropped, and not busy
                    self._job, self._busy = None, False
                    return
                obs, generator, callback, context = self._job
                self._job = None
            start = time.perf_counter()
            try:
                out = self.predict(obs, generator, cancelled=lambda: self._stop)
                if self.extra_latency_s > 0:  # a debug delay close() cuts short
                    with self._cond:
                        if self._cond.wait_for(lambda: self._stop, self.extra_latency_s):
                            raise SamplingCancelled('closed during the debug latency')
                latency = time.perf_counter() - start
                self.latency.add(latency)
                result = InferenceResult(context, out['action'], out['action_pred'], latency)
            except SamplingCancelled:  # close(): nobody waits for this chunk
                with self._cond:
                    self._busy = False
                return
            except Exception as exc:  # handed to the callback: the node decides what to do
                result = InferenceResult(context, None, None, time.perf_counter() - start, exc)
            try:
                callback(result)
            except Exception:  # a broken callback must not kill the worker
                import traceback

                traceback.print_exc()
            finally:
                with self._cond:  # only now: the callback has filed the chunk
                    self._busy = False


def load_runner(cfg: Any) -> tuple[InferenceRunner, str, float | None]:
    """The policy of a PolicyNodeConfig on its device, warmed up when cfg.warmup:
    (runner, device name, warm-up seconds or None)."""
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    runner = InferenceRunner.from_checkpoint(
        cfg.checkpoint, device=cfg.device, dtype=cfg.dtype, sampler=cfg.sampler or None,
        num_inference_steps=cfg.num_inference_steps or None, torchscript=cfg.torchscript,
        extra_latency_s=cfg.debug_extra_latency_s, torch_compile=cfg.torch_compile)
    try:
        warmup_s = runner.warmup() if cfg.warmup else None
    except BaseException:  # a GPU out of memory: its worker thread held the model for good,
        runner.close()     # and a managed node's retry loaded another copy beside it
        raise
    name = str(runner.device)
    if runner.device.type == 'cuda':
        name += f' ({torch.cuda.get_device_name(runner.device)}; {runner.sampling_path})'
    return runner, name, warmup_s
