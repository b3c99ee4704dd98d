"""The diffusion policy: observation encoder + 1-D UNet, trained with DDPM, sampled with DDPM/DDIM.

Mirrors the paper's DiffusionUnetHybridImagePolicy with obs_as_global_cond=True: the
features of the first n_obs_steps observations condition every UNet block (FiLM), the UNet
denoises the whole action horizon, and the executed actions are the n_action_steps that
start at the last observation step.
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from dp_ros.policy.config import SAMPLERS, PolicyConfig
from dp_ros.policy.noise_schedule import Generators, NoiseSchedule, randn
from dp_ros.policy.normalizer import Normalizer
from dp_ros.policy.step_arithmetic import StepArithmetic
from dp_ros.policy.unet import ConditionalUnet1D
from dp_ros.policy.vision import ObsEncoder

Obs = dict[str, torch.Tensor]

_JIT_STATE_LOCK = threading.Lock()  # one swap of torch.jit's global state at a time


@contextmanager
def _own_compilation_unit() -> Iterator[None]:
    """Trace and freeze into a TorchScript compilation unit of their own, which the frozen
    module holds and takes along when it is dropped.

    torch.jit files the code of every traced or frozen module in one process-wide unit
    (torch.jit._state._python_cu) that never drops anything, and a frozen graph holds the
    folded weights: each freeze kept ~2.5 models resident for the process's life (a lifecycle
    node grew by that per configure/cleanup). The tracer's module types (unshared, never
    reused) are also kept in concrete_type_store.methods_compiled: dropped here too. Nothing
    else in dp_ros scripts or traces, so the swap cannot catch another thread's modules.
    """
    import torch.jit._recursive as jit_recursive
    import torch.jit._state as jit_state

    compiled = getattr(getattr(jit_recursive, 'concrete_type_store', None),
                       'methods_compiled', None)
    if not hasattr(jit_state, '_python_cu') or not isinstance(compiled, set):
        yield  # another torch's internals: trace as before (the memory kept, not the freeze)
        return
    with _JIT_STATE_LOCK:
        shared, before = jit_state._python_cu, set(compiled)
        jit_state._python_cu = torch._C.CompilationUnit()
        try:
            yield
        finally:
            jit_state._python_cu = shared
            compiled.intersection_update(before)


class SamplingCancelled(Exception):
    """predict_action's `cancelled` said so between two denoising steps."""


class DiffusionPolicy(nn.Module):
    """Raw-unit observations in, raw-unit action chunks out; normalization is inside."""

    def __init__(self, config: PolicyConfig, normalizer: Normalizer) -> None:
        super().__init__()
        self.config = config
        self._check_normalizer(normalizer)
        for key in config.rgb_keys:
            if key not in normalizer:
                normalizer.add_image_key(key)
        self.normalizer = normalizer
        self.obs_encoder = ObsEncoder(config)
        self.model = ConditionalUnet1D(
            input_dim=config.action_dim,
            global_cond_dim=self.obs_encoder.output_dim * config.n_obs_steps,
            diffusion_step_embed_dim=config.diffusion_step_embed_dim,
            down_dims=config.down_dims, kernel_size=config.kernel_size, n_groups=config.n_groups,
            final_block_groups=config.final_block_groups)
        self.noise_schedule = NoiseSchedule.of(config)
        self._samplers: dict[tuple[str, int], StepArithmetic] = {}
        self._frozen: dict[tuple, torch.jit.ScriptModule] | None = None  # see use_torchscript

    # ------------------------------------------------------------------ helpers
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def _check_normalizer(self, normalizer: Normalizer) -> None:
        cfg = self.config
        for key, dim in cfg.normalized_dims().items():
            if key not in normalizer:
                raise ValueError(f'normalizer lacks {key!r} (it has {normalizer.keys}); '
                                 'fit it on the action and every low-dim observation')
            if normalizer.kinds[key] != 'limits':  # an 'image' entry's dimension is unchecked
                raise ValueError(f"normalizer {key!r} is of kind {normalizer.kinds[key]!r}, "
                                 "not 'limits' (fitted on its values)")
            if normalizer.dim(key) != dim:
                raise ValueError(f'normalizer {key!r} has dimension {normalizer.dim(key)}, '
                                 f'shape_meta says {dim}')
        for key in cfg.rgb_keys:  # [0, 1] -> [-1, 1]: one scale, else a broadcast error
            if key in normalizer and (normalizer.kinds[key] != 'image'
                                      or normalizer.dim(key) != 1):
                raise ValueError(f"normalizer {key!r} (a camera) must be of kind 'image' with "
                                 f'one scale and offset, got {normalizer.kinds[key]!r} of '
                                 f'dimension {normalizer.dim(key)}')

    def sampler(self, name: str, num_inference_steps: int) -> StepArithmetic:
        """The steps of sampler `name` ('ddpm' or 'ddim') over `num_inference_steps` (an
        integer in 1..num_train_timesteps, else ValueError).

        Cached and never changed after creation, so concurrent callers can share it (a race
        only builds the same steps twice); no lock, so the policy stays deep-copyable.
        """
        if name not in SAMPLERS:
            raise ValueError(f'sampler {name!r} is not one of {SAMPLERS}')
        self.config.check_inference_steps(num_inference_steps)
        key = (name, int(num_inference_steps))
        steps = self._samplers.get(key)
        if steps is None:
            steps = StepArithmetic(self.noise_schedule, name, int(num_inference_steps))
            self._samplers[key] = steps
        return steps

    def encode_obs(self, obs: Obs, generator: torch.Generator | None = None,
                   random_crop: bool | None = None) -> torch.Tensor:
        """Raw obs (B, T>=n_obs_steps, ...) -> global condition (B, n_obs_steps * feature).

        random_crop=None: random crops in training mode, centre crops in eval mode.
        """
        cfg = self.config
        to = cfg.n_obs_steps
        missing = [k for k in cfg.obs_keys if k not in obs]
        if missing:
            raise KeyError(f'observation lacks keys {missing}; the policy needs {cfg.obs_keys}')
        batch = None
        flat = {}
        for key in cfg.obs_keys:
            x = torch.as_tensor(obs[key])
            shape = cfg.obs_shape(key)
            if x.ndim != 2 + len(shape) or tuple(x.shape[2:]) != shape or x.shape[1] < to:
                dims = ', '.join(map(str, shape))
                raise ValueError(f'obs {key!r}: expected (B, T>={to}, {dims}), '
                                 f'got {tuple(x.shape)}')
            if key in cfg.rgb_keys:
                check_frames_float(key, x)
            if batch is None:
                batch = x.shape[0]
                if batch == 0:  # was torch's 'cannot reshape tensor of 0 elements'
                    raise ValueError(f'obs {key!r} holds a batch of no observations '
                                     f'(shape {tuple(x.shape)}): nothing to encode')
            elif x.shape[0] != batch:
                raise ValueError(f'obs {key!r} has batch size {x.shape[0]}, others {batch}')
            x = self.normalizer.normalize(key, x[:, :to].to(self.device))
            flat[key] = x.reshape(-1, *shape).to(self.dtype)
        features = self.obs_encoder(flat, generator, random_crop)
        return features.reshape(batch, -1)

    # ------------------------------------------------------------------ training
    def compute_loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising loss; batch = {'obs': {k: (B, T, ...)}, 'action': (B, horizon, Da)}, raw.

        `generator` (on the model's device) makes crops, noise and steps reproducible.
        """
        cfg = self.config
        action = torch.as_tensor(batch['action'])
        if action.ndim != 3 or action.shape[1:] != (cfg.horizon, cfg.action_dim):
            raise ValueError(f"batch['action'] must be (B, {cfg.horizon}, {cfg.action_dim}), "
                             f'got {tuple(action.shape)}')
        global_cond = self.encode_obs(batch['obs'], generator)
        if action.shape[0] != global_cond.shape[0]:
            raise ValueError(f"batch['action'] has batch size {action.shape[0]}, the "
                             f'observations {global_cond.shape[0]}')
        naction = self.normalizer.normalize('action', action.to(self.device))
        b = naction.shape[0]
        noise = randn(tuple(naction.shape), generator, naction.device)
        gen_device = generator.device if generator is not None else naction.device
        steps = torch.randint(0, cfg.num_train_timesteps, (b,), generator=generator,
                              device=gen_device).to(naction.device)
        noisy = self.noise_schedule.add_noise(naction, noise, steps)
        pred = self.model(noisy.to(self.dtype), steps, global_cond)
        target = noise if cfg.prediction_type == 'epsilon' else naction
        return F.mse_loss(pred.float(), target)

    # ------------------------------------------------------------------ inference
    def use_torchscript(self, enabled: bool = True) -> None:
        """Sample with TorchScript-frozen copies of the UNet (one per batch size and dtype).

        Freezing folds the weights into the graph and drops the Python overhead of ~300 small
        ops a step: about 1.3x faster at batch 1 on CPU (bench/bench_policy_inference.py,
        the README's table).
        The weights are baked in, so load any new weights before this call, or call it again.
        Training and train-mode sampling keep the eager modules; if tracing fails (torch.jit
        is deprecated upstream), sampling warns once and stays eager.
        """
        self._frozen = {} if enabled else None

    @property
    def torchscript_active(self) -> bool:
        """Whether eval-mode sampling runs TorchScript-frozen UNets: asked for, and no
        trace has failed (a failure turns it off for good, with one warning)."""
        return self._frozen is not None

    def _denoise(self, traj: torch.Tensor, t: torch.Tensor, global_cond: torch.Tensor,
                 films: list[torch.Tensor]) -> torch.Tensor:
        if self._frozen is None or self.training:
            return self.model(traj, t, global_cond, films)
        key = (traj.shape, traj.dtype, traj.device)
        frozen = self._frozen.get(key)
        if frozen is None:
            try:
                with warnings.catch_warnings(), _own_compilation_unit():
                    # torch.jit is deprecated upstream (still whole in the pinned torch), and
                    # the tracer's shape-as-constant warnings are moot: one graph per shape
                    warnings.simplefilter('ignore', DeprecationWarning)
                    warnings.simplefilter('ignore', torch.jit.TracerWarning)
                    traced = torch.jit.trace(self.model, (traj, t, global_cond, films),
                                             check_trace=False)
                    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            except (RuntimeError, TypeError, AttributeError) as err:  # stay eager
                warnings.warn(f'TorchScript freeze failed, sampling eagerly: {err}',
                              stacklevel=2)
                self._frozen = None
                return self.model(traj, t, global_cond, films)
            self._frozen[key] = frozen
        return frozen(traj, t, global_cond, films)

    @torch.no_grad()
    def predict_action(self, obs: Obs, generator: Generators = None,
                       sampler: str | None = None, num_inference_steps: int | None = None,
                       cancelled: Callable[[], bool] | None = None
                       ) -> dict[str, torch.Tensor]:
        """Sample action chunks for a batch of observation histories.

        `cancelled`, asked before each denoising step: True ends the sampling with
        SamplingCancelled (a node shutting down need not wait for a chunk it will not
        publish: a paper-size DDPM-100 chunk takes seconds on a CPU).

        obs[k]: (B, n_obs_steps, ...) raw units (images float in [0, 1]). Returns raw-unit
        fp32 {'action': (B, n_action_steps, Da), 'action_pred': (B, horizon, Da)}; 'action'
        is action_pred[:, n_obs_steps - 1 : n_obs_steps - 1 + n_action_steps]. The same
        generator state gives the same samples. The denoiser runs in the model dtype, the
        scheduler arithmetic in fp32.

        The timeline (the paper's), one column per control step, t the current step;
        To = n_obs_steps, Tp = horizon, Ta = n_action_steps (Push-T: 2, 16, 8)::

            step t+       -1  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14
            observations   o  o
            action_pred    p  p  p  p  p  p  p  p  p  p  p  p  p  p  p  p
            action            a  a  a  a  a  a  a  a

        Observations are steps t-To+1 .. t (obs[k][:, 0] the oldest). The predicted horizon
        starts at the oldest observation step: action_pred[:, i] is the action at step
        t-To+1+i, so it also covers the observed past. Only the Ta actions from the current
        step t on are executed (action_pred index To-1 .. To-2+Ta), then the policy plans
        again from new observations (receding horizon).
        """
        cfg = self.config
        for key in cfg.obs_keys:
            if key in obs and torch.as_tensor(obs[key]).shape[1:2] != (cfg.n_obs_steps,):
                raise ValueError(f'obs {key!r}: expected {cfg.n_obs_steps} time steps in dim 1, '
                                 f'got shape {tuple(torch.as_tensor(obs[key]).shape)}')
        if num_inference_steps is None:  # 0 is refused by sampler(), not read as the default
            num_inference_steps = cfg.num_inference_steps
        # '' is refused by sampler(), as 0 steps: not read as the checkpoint's
        arith = self.sampler(cfg.sampler if sampler is None else sampler, num_inference_steps)
        global_cond = self.encode_obs(obs, random_crop=False)
        shape = (global_cond.shape[0], cfg.horizon, cfg.action_dim)
        traj = randn(shape, generator, self.device)
        steps, b = arith.timestep_tensor, global_cond.shape[0]
        films = self.model.films(steps.to(self.device).repeat_interleave(b),
                                 global_cond.repeat(len(steps), 1))  # row i * b + j: step i
        noisy = arith.noisy_steps
        for i, t in enumerate(steps):
            if cancelled is not None and cancelled():
                raise SamplingCancelled(f'cancelled before denoising step {i} of {len(steps)}')
            step_films = [f[i * b:(i + 1) * b] for f in films]
            out = self._denoise(traj.to(self.dtype), t, global_cond, step_films).float()
            # a DDPM step's variance noise, drawn where scheduler.step() draws it
            noise = randn(out.shape, generator, out.device) if noisy[i] else None
            traj = arith.step(i, out, traj, noise)
        action_pred = self.normalizer.unnormalize('action', traj)
        start = cfg.n_obs_steps - 1
        return {'action': action_pred[:, start:start + cfg.n_action_steps],
                'action_pred': action_pred}


def check_frames_float(key: str, x: torch.Tensor) -> None:
    """Camera frames reach the encoder as floats in [0, 1]: uint8 ones would be read as
    0..255, far outside what the normalizer was fitted on, with no error."""
    if not torch.is_floating_point(x):
        raise ValueError(f'obs {key!r}: camera frames must be floating point in [0, 1], '
                         f'got {x.dtype} (uint8 frames: divide by 255)')


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
