"""A whole action chunk as one CUDA graph replay: encoder, FiLM, every UNet step, scheduler.

On a GPU the eager chunk is bound by kernel launches, not arithmetic: about 4 ms of Python
and launch overhead per UNet step whatever the model size (issue 15: DDIM-10 takes 41.7 ms
for the 7.7M policy and 43.2 ms for the 263M one on an H200). A CUDA graph replays the
captured kernels without either.

StaticChunk is the chunk over preallocated buffers: observations are copied into fixed
tensors, and all the noise of a chunk (the initial sample, then one draw per noisy DDPM
step) is drawn eagerly from the caller's generator(s) into a fixed buffer before the run,
in the order predict_action draws it. So the same generator state gives the same samples as
predict_action (bit-identical on CPU, where the tests check it; within float tolerance on
CUDA). ChunkGraphs captures StaticChunk.run once per (batch, dtype, sampler, steps), checks
the first replay against the eager chunk (a graph that recorded nothing raises no error), and
replays it; anything it cannot capture falls back to predict_action with one warning.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Mapping

import torch

from dp_ros.policy.diffusion import check_frames_float
from dp_ros.policy.inputs import frames_as_fed
from dp_ros.policy.noise_schedule import Generators, randn


class StaticChunk:
    """predict_action for one (batch, sampler, steps) over buffers that never move.

    load() copies the observations and draws the noise (eager); run() computes the chunk from
    the buffers only, so it can be captured. `denoiser` replaces policy.model in run() (a
    torch.compile'd UNet, say); it must take the same arguments.
    """

    def __init__(self, policy, batch: int, sampler: str, num_inference_steps: int,
                 denoiser: Callable | None = None) -> None:
        cfg = policy.config
        self.policy, self.batch = policy, int(batch)
        # not `denoiser or ...`: a torch.compile'd module's truth value asks its len()
        self.denoiser = policy.model if denoiser is None else denoiser
        self.arithmetic = policy.sampler(sampler, num_inference_steps)
        device = policy.device
        self.obs = {k: torch.zeros((self.batch, cfg.n_obs_steps, *cfg.obs_shape(k)),
                                   device=device) for k in cfg.obs_keys}
        for k in cfg.rgb_keys:  # the node's and evaluation's frame layout: their kernels
            self.obs[k] = frames_as_fed(self.obs[k])
        self.sample_shape = (self.batch, cfg.horizon, cfg.action_dim)
        self.n_draws = 1 + sum(self.arithmetic.noisy_steps)
        self.noise = torch.zeros((self.n_draws, *self.sample_shape), device=device)
        self.timesteps = torch.tensor(self.arithmetic.timesteps, dtype=torch.long,
                                      device=device)
        self.film_steps = self.timesteps.repeat_interleave(self.batch)

    def load(self, obs: Mapping[str, torch.Tensor], generator: Generators = None) -> None:
        """Copy obs (B, n_obs_steps, ...) into the buffers (rows past B: copies of row 0) and
        draw the chunk's noise for its B rows (rows past B: zeros)."""
        rows = check_observations(self.policy.config, obs, self.batch)
        for key, buf in self.obs.items():
            buf[:rows].copy_(torch.as_tensor(obs[key]))
            if rows < self.batch:
                buf[rows:].copy_(buf[:1].expand_as(buf[rows:]))
        shape = (rows, *self.sample_shape[1:])
        draws = [randn(shape, generator, self.noise.device) for _ in range(self.n_draws)]
        if rows == self.batch:
            torch.stack(draws, out=self.noise)
        else:
            self.noise.zero_()
            self.noise[:, :rows].copy_(torch.stack(draws))

    def run(self) -> torch.Tensor:
        """The chunk's action_pred (B, horizon, Da), fp32 raw units, from the buffers."""
        policy, b = self.policy, self.batch
        global_cond = policy.encode_obs(self.obs, random_crop=False)
        steps = self.arithmetic.timesteps
        films = policy.model.films(self.film_steps, global_cond.repeat(len(steps), 1))
        traj = self.noise[0]
        draw = 1
        for i, noisy in enumerate(self.arithmetic.noisy_steps):
            step_films = [f[i * b:(i + 1) * b] for f in films]
            out = self.denoiser(traj.to(policy.dtype), self.timesteps[i], global_cond,
                                step_films).float()
            noise = None
            if noisy:
                noise, draw = self.noise[draw], draw + 1
            traj = self.arithmetic.step(i, out, traj, noise)
        return policy.normalizer.unnormalize('action', traj)


def check_observations(cfg, obs: Mapping[str, torch.Tensor], batch: int) -> int:
    """The rows of `obs` for a chunk of `batch` rows, or the KeyError/ValueError
    predict_action gives them (a missing key, a shape, uint8 frames, unequal batches)."""
    rows = None
    for key in cfg.obs_keys:
        if key not in obs:
            raise KeyError(f'observation lacks keys {[key]}; the policy needs {cfg.obs_keys}')
        x = torch.as_tensor(obs[key])
        want = (cfg.n_obs_steps, *cfg.obs_shape(key))
        if x.ndim != 1 + len(want) or tuple(x.shape[1:]) != want:
            raise ValueError(f'obs {key!r}: expected (B, {", ".join(map(str, want))}), '
                             f'got {tuple(x.shape)}')
        if key in cfg.rgb_keys:
            check_frames_float(key, x)
        rows = x.shape[0] if rows is None else rows
        if x.shape[0] != rows or not 1 <= rows <= batch:
            raise ValueError(f'obs {key!r} has batch size {x.shape[0]}; expected the same for '
                             f'every key, 1..{batch}')
    return rows


def chunk_outputs(policy, action_pred: torch.Tensor) -> dict[str, torch.Tensor]:
    """predict_action's dict from action_pred."""
    start = policy.config.n_obs_steps - 1
    return {'action': action_pred[:, start:start + policy.config.n_action_steps],
            'action_pred': action_pred}


# how far (normalized action units, [-1, 1] over the data's range) a new graph's chunk may be
# from the eager one's for the same generators: bf16 differences over DDPM-100 stay ~1e-2
VERIFY_ATOL = 0.1


class _Captured:
    """A graph and what it reads: its chunk's buffers, and the policy's weight tensors at
    capture, held so that their memory is not freed and handed to other tensors while the
    graph can still replay (the key's pointer then names these weights only)."""

    def __init__(self, chunk: StaticChunk, graph, output: torch.Tensor) -> None:
        self.chunk, self.graph, self.output = chunk, graph, output
        policy = chunk.policy
        self.weights = [t.detach() for t in (*policy.parameters(), *policy.buffers())]


class ChunkGraphs:
    """predict_action through CUDA graphs, one per (batch, dtype, sampler, steps).

    The first call of a kind captures (after warm-up runs on a side stream); later calls copy
    the inputs, draw the noise and replay. Eval mode only: a policy in training mode, or on
    the CPU, samples eagerly (predict_action), as does a kind whose capture failed (one
    warning; other kinds still capture). Thread-safe: one chunk at a time. Weights are read
    from their memory at each replay, so load_state_dict (an in-place copy) is seen; moving
    or casting the policy (new weight tensors) makes a new graph and drops the old ones.
    """

    def __init__(self, policy, warmup_runs: int = 2,
                 denoiser: Callable | None = None) -> None:
        self.policy = policy
        self.warmup_runs = max(1, int(warmup_runs))
        self.denoiser = denoiser
        # the last capture failure, for reports; the kinds that failed sample eagerly
        self.failed: str | None = None
        # why the compiled denoiser was dropped (graphs of the plain UNet since), for reports
        self.compile_failed: str | None = None
        self._refused: dict[tuple, str] = {}
        self._graphs: dict[tuple, _Captured] = {}
        self._lock = threading.Lock()

    @property
    def captured(self) -> int:
        """How many graphs are held (kinds captured and not dropped)."""
        return len(self._graphs)

    @property
    def active(self) -> bool:
        """Whether calls may replay graphs (given an eval-mode policy): on a CUDA device."""
        return self.policy.device.type == 'cuda'

    def _key(self, batch: int, sampler: str, steps: int) -> tuple:
        # the first weight's address names the weights: the graph of that address holds
        # them (_Captured.weights), so no other tensor can be given it meanwhile
        first = next(self.policy.parameters())
        return (batch, first.dtype, first.device, first.data_ptr(), sampler, steps)

    def predict_action(self, obs: Mapping[str, torch.Tensor], generator: Generators = None,
                       sampler: str | None = None, num_inference_steps: int | None = None,
                       pad_to: int | None = None, cancelled: Callable[[], bool] | None = None
                       ) -> dict[str, torch.Tensor]:
        """As DiffusionPolicy.predict_action. pad_to: replay the graph of this batch size
        (rows past the observations' B are padding), so a shrinking batch (episodes ending
        in a batched evaluation) reuses one graph instead of capturing one per size.
        `cancelled` is asked on the eager paths only: a graph replays whole."""
        policy, cfg = self.policy, self.policy.config
        if not self.active or policy.training:
            return policy.predict_action(obs, generator, sampler, num_inference_steps,
                                         cancelled=cancelled)
        sampler = cfg.sampler if sampler is None else sampler
        steps = cfg.num_inference_steps if num_inference_steps is None else num_inference_steps
        policy.sampler(sampler, steps)  # as predict_action refuses them: no capture failure
        first = torch.as_tensor(obs[cfg.obs_keys[0]]) if cfg.obs_keys[0] in obs else None
        rows = int(first.shape[0]) if first is not None and first.ndim > 0 else 1
        batch = max(rows, int(pad_to or 0))
        key = self._key(batch, sampler, steps)
        with self._lock:
            captured = self._graphs.get(key)
            if captured is None and key not in self._refused:
                # refused as predict_action refuses them, not taken for a capture failure
                check_observations(cfg, obs, batch)
                try:
                    captured = self._checked_capture(obs, rows, batch, sampler, steps)
                except (TimeoutError, MemoryError):  # a caller's deadline; the host's memory
                    raise
                except Exception as err:  # noqa: BLE001 - any capture failure: this kind eager
                    self.failed = self._refused[key] = f'{type(err).__name__}: {err}'
                    warnings.warn(f'CUDA graph capture failed, sampling eagerly: {self.failed}',
                                  stacklevel=2)
                else:
                    # graphs of other weights read memory the policy no longer uses
                    self._graphs = {k: g for k, g in self._graphs.items()
                                    if k[1:4] == key[1:4]}
                    self._graphs[key] = captured
            if captured is None:
                return policy.predict_action(obs, generator, sampler, steps,
                                             cancelled=cancelled)
            with torch.no_grad(), _current(policy.device):
                captured.chunk.load(obs, generator)
                captured.graph.replay()
                action_pred = captured.output[:rows].clone()
        return chunk_outputs(policy, action_pred)

    def _checked_capture(self, obs: Mapping[str, torch.Tensor], rows: int, batch: int,
                         sampler: str, steps: int) -> _Captured:
        """A graph that gives the eager chunk. With a denoiser (a compiled UNet) that fails,
        one warning, and from then on graphs of the plain UNet."""
        try:
            captured = self._capture(batch, sampler, steps)
            mismatch = self._mismatch(captured, obs, rows, sampler, steps)
        except (TimeoutError, MemoryError):
            raise
        except Exception as err:
            if self.denoiser is None:
                raise
            mismatch = f'{type(err).__name__}: {err}'
        if mismatch is None:
            return captured
        if self.denoiser is None:
            raise RuntimeError(mismatch)
        warnings.warn(f'the compiled UNet failed ({mismatch}); capturing the plain UNet',
                      stacklevel=3)
        self.denoiser, self.compile_failed = None, mismatch
        return self._checked_capture(obs, rows, batch, sampler, steps)

    @torch.no_grad()
    def _capture(self, batch: int, sampler: str, steps: int) -> _Captured:
        chunk = StaticChunk(self.policy, batch, sampler, steps, self.denoiser)
        device = self.policy.device
        # on the policy's device, not the current one (cuda:1 while cuda:0 is current):
        # torch.cuda.graph's default capture stream is the current device's, and a capture
        # on it records none of the kernels that run on cuda:1 (an empty graph)
        with _current(device):
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):  # cuDNN/cuBLAS handles and workspaces, lazy inits
                for _ in range(self.warmup_runs):
                    chunk.run()
            torch.cuda.current_stream(device).wait_stream(side)
            torch.cuda.synchronize(device)
            graph = torch.cuda.CUDAGraph()
            # thread_local: other threads (a ROS executor building tensors) may use CUDA
            # meanwhile
            with torch.cuda.graph(graph, stream=torch.cuda.Stream(device),
                                  capture_error_mode='thread_local'):
                output = chunk.run()
        return _Captured(chunk, graph, output)

    @torch.no_grad()
    def _mismatch(self, captured: _Captured, obs: Mapping[str, torch.Tensor], rows: int,
                  sampler: str, steps: int) -> str | None:
        """Why a new graph is not the eager chunk (None: it is), checked once on the first
        observations with throw-away generators: a graph that recorded nothing (captured on
        another device's stream: its replays return the capture's output for ever) or only
        part of the work passes no error to find it by. VERIFY_ATOL in normalized units:
        float differences are far below it, a broken graph's far above."""
        policy = self.policy

        def generators() -> Generators:
            gens = [torch.Generator(device=policy.device).manual_seed(i) for i in range(rows)]
            return gens[0] if rows == 1 else gens

        with _current(policy.device):
            captured.chunk.load(obs, generators())
            captured.graph.replay()
            got = captured.output[:rows].clone()
        want = policy.predict_action(obs, generators(), sampler, steps)['action_pred']
        norm = policy.normalizer
        diff = float((norm.normalize('action', got)
                      - norm.normalize('action', want)).abs().max())
        if diff <= VERIFY_ATOL:  # NaN: not
            return None
        return (f'its chunk differs from the eager one by {diff:.3g} (normalized actions, '
                f'over {VERIFY_ATOL:g}): the graph did not record the chunk\'s work')

    def clear(self) -> None:
        """Drop every graph (their memory pools go with them) and forget failed captures."""
        with self._lock:
            self._graphs.clear()
            self._refused.clear()


def _current(device: torch.device) -> contextlib.AbstractContextManager:
    """`device` as the current CUDA device within (a replay launches on its stream)."""
    return torch.cuda.device(device) if device.type == 'cuda' else contextlib.nullcontext()
