"""`dp-ros train`: the training loop (accelerate: CPU, one GPU, many GPUs or nodes).

Step-based: max_steps optimizer steps; validation loss, a sampled-action MSE on fixed
training windows, closed-loop Push-T evaluation and checkpoints each have their own step
interval. The run directory holds config.yaml, log.jsonl, tb/ (TensorBoard), media/,
curves.png, checkpoints/{latest,best}/ (policy artifacts of the EMA weights) and
train_state/ (everything needed to continue: safetensors + JSON, no pickle).

Resume is exact: data order comes from (seed, epoch), augmentation and diffusion noise from
one generator per rank whose state is saved, so a run killed and restarted with the same
command produces the losses the uninterrupted run would have.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader, default_collate
from tqdm import tqdm

from dp_ros.atomic_dir import replace_dir
from training.config import TrainConfig, load_config

log = logging.getLogger('dp_ros.train')

STATE_DIR = 'train_state'
STATE_FORMAT = 'dp_ros.train_state'
STATE_VERSION = 1
LOSS_SEED_STRIDE = 7919  # loss generator seed = seed * stride + rank
MSE_SEED_OFFSET = 12345  # which training windows the action MSE uses


# ---------------------------------------------------------------------------- data order
class EpochBatches:
    """Shuffled batches of one rank: epoch e's order depends only on (seed, e).

    Indices are padded to a multiple of the world size (as DistributedSampler) and dealt
    out round-robin, so every rank has the same number of batches per epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 drop_last: bool = False) -> None:
        if n < 1:
            raise ValueError('the training set has no windows: check the dataset and horizon')
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.drop_last = rank, world, drop_last
        per_rank = math.ceil(n / world)
        self.per_epoch = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
        if self.per_epoch < 1:
            raise ValueError(f'{n} training windows over {world} ranks give no full batch of '
                             f'{batch_size} (drop_last=True)')

    def epoch(self, epoch: int) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        total = math.ceil(self.n / self.world) * self.world
        order += order[:total - self.n]
        mine = order[self.rank::self.world]
        batches = [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        return batches[:self.per_epoch]


def iterate_batches(dataset, batches: EpochBatches, epoch: int, start: int, num_workers: int,
                    pin_memory: bool, persistent_workers: bool):
    """Yield (epoch, index_in_epoch, batch) forever from position (epoch, start)."""
    while True:
        todo = batches.epoch(epoch)[start:]
        if todo:
            loader = DataLoader(dataset, batch_sampler=todo, num_workers=num_workers,
                                pin_memory=pin_memory,
                                persistent_workers=persistent_workers and num_workers > 0)
            for i, batch in enumerate(loader):
                yield epoch, start + i, batch
        epoch, start = epoch + 1, 0


def to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x.to(device, non_blocking=True) if torch.is_tensor(x) else x


class LossModule(nn.Module):
    """Routes compute_loss through forward, so DDP sees (and syncs) the gradients."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.policy.compute_loss(batch, generator=generator)


# ---------------------------------------------------------------------------- train state I/O
def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().to('cpu').contiguous().clone() for k, v in tensors.items()},
              str(path))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework='pt', device='cpu') as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open API)


def flatten_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch optimizer state_dict -> (tensors for safetensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for idx, entry in state['state'].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f'{idx}.{name}'] = value
            else:
                scalars[f'{idx}.{name}'] = value
    return tensors, {'param_groups': state['param_groups'], 'scalars': scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in [*tensors.items(), *meta['scalars'].items()]:
        idx, name = key.split('.', 1)
        state.setdefault(int(idx), {})[name] = value
    return {'state': state, 'param_groups': meta['param_groups']}


def rng_snapshot(loss_gen: torch.Generator) -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {'torch_cpu': torch.get_rng_state(), 'loss_generator': loss_gen.get_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f'cuda_{i}'] = s
    np_state = np.random.get_state()
    tensors['numpy_keys'] = torch.from_numpy(np_state[1].astype(np.int64))
    py = random.getstate()
    meta = {'numpy': [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            'python': [py[0], list(py[1]), py[2]]}
    return tensors, meta


def rng_restore(tensors: dict[str, torch.Tensor], meta: dict, loss_gen: torch.Generator) -> None:
    torch.set_rng_state(tensors['torch_cpu'])
    loss_gen.set_state(tensors['loss_generator'])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith('cuda_'))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])
    name, pos, has_gauss, cached = meta['numpy']
    np.random.set_state((name, tensors['numpy_keys'].numpy().astype(np.uint32), pos, has_gauss,
                         cached))
    version, internal, gauss = meta['python']
    random.setstate((version, tuple(internal), gauss))


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if torch.is_tensor(x) and x.numel() == 1:
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f'{type(x).__name__} is not JSON serialisable')


def find_train_state(resume: str, run_dir: Path) -> Path | None:
    """--resume auto|never|PATH -> the train_state directory to load, or None."""
    if resume == 'never':
        return None
    if resume == 'auto':
        path = run_dir / STATE_DIR
        return path if (path / 'state.json').is_file() else None
    path = Path(resume)
    if (path / STATE_DIR / 'state.json').is_file():
        path = path / STATE_DIR
    if not (path / 'state.json').is_file():
        raise FileNotFoundError(f'--resume {resume}: no train state (state.json) there')
    return path


def load_init_policy(source: str | Path, policy_cfg) -> Any:
    """The policy named by train.init_from, checked against this run's policy config."""
    from dp_ros.policy.checkpoint import load_policy

    path = Path(source)
    if (path / 'checkpoints' / 'latest').is_dir():
        path = path / 'checkpoints' / 'latest'
    if not (path / 'policy.json').is_file():
        raise FileNotFoundError(f'train.init_from={source}: no policy checkpoint (policy.json) '
                                'there, nor a run directory with checkpoints/latest')
    policy = load_policy(path)
    theirs, ours = policy.config.to_dict(), policy_cfg.to_dict()
    differ = sorted(k for k in ours if k not in ('sampler', 'num_inference_steps')
                    and theirs.get(k) != ours[k])
    if differ:
        raise ValueError(f'train.init_from={source}: the checkpoint\'s policy differs from this '
                         f'config in {", ".join(differ)}')
    return policy


# ---------------------------------------------------------------------------- the trainer
@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch index within the epoch


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto') -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.run_dir = Path(run_dir)
        # accelerate only sets up CPU process groups (gloo) when told cpu=True
        cpu = cfg.train.cpu or ('LOCAL_RANK' in os.environ and not torch.cuda.is_available())
        _reset_accelerate_state()
        self.accelerator = acc = Accelerator(mixed_precision=cfg.train.mixed_precision, cpu=cpu)
        self.is_main = acc.is_main_process
        self.rank, self.world = acc.process_index, acc.num_processes
        self.device = acc.device
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        set_seed(cfg.train.seed)
        self.state_path = find_train_state(resume, self.run_dir)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume == 'never' and (self.run_dir / STATE_DIR).exists():
                log.warning('--resume never: starting over; %s will be replaced at the next '
                            'checkpoint', self.run_dir / STATE_DIR)
        acc.wait_for_everyone()
        self.saved = json.loads((self.state_path / 'state.json').read_text()) \
            if self.state_path else None
        if self.saved and self.saved.get('format') != STATE_FORMAT:
            raise ValueError(f'{self.state_path}/state.json is not a dp_ros train state')
        self._build()
        self.stop_signal: str | None = None

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        from dp_ros.policy.diffusion import DiffusionPolicy
        from dp_ros.policy.normalizer import Normalizer

        cfg, acc = self.cfg, self.accelerator
        self.train_ds = self._dataset()
        self.val_ds = self.train_ds.get_validation_dataset()
        policy_dict = dict(cfg.policy)
        if 'shape_meta' not in policy_dict:
            policy_dict['shape_meta'] = self._shape_meta()
        from dp_ros.policy.config import PolicyConfig
        self.policy_cfg = PolicyConfig.from_dict(policy_dict)
        init = None if self.saved or not cfg.train.init_from else \
            load_init_policy(cfg.train.init_from, self.policy_cfg)
        if self.saved:
            norm_dict = self.saved['normalizer']
        elif init is not None:
            norm_dict = init.normalizer.to_dict()
        else:
            norm_dict = Normalizer.from_data(self.train_ds.get_normalizer_data()).to_dict()
        self.policy = DiffusionPolicy(self.policy_cfg, Normalizer.from_dict(norm_dict))
        self.param_names = [n for n, _ in self.policy.named_parameters()]
        if self.saved:
            self.policy.load_state_dict(_load_tensors(self.state_path / 'model.safetensors'))
        elif init is not None:
            self.policy.load_state_dict(init.state_dict())
            if self.is_main:
                log.info('warm start from %s', cfg.train.init_from)
        self.policy.to(self.device)
        self.eval_policy = DiffusionPolicy(self.policy_cfg, Normalizer.from_dict(norm_dict))
        self.eval_policy.to(self.device).eval()

        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=o.lr, betas=o.betas,
                                           eps=o.eps, weight_decay=o.weight_decay)
        self.lr_scheduler = get_scheduler(o.lr_scheduler, optimizer=self.optimizer,
                                          num_warmup_steps=o.lr_warmup_steps,
                                          num_training_steps=cfg.train.max_steps)
        e = cfg.ema
        # diffusers counts the update before computing its decay, the paper's EMAModel after:
        # one more step of delay gives the paper's decays (0, 0, 1 - 2**-power, ...). A
        # resumed run keeps the value saved in its train state (EMAModel.load_state_dict).
        self.ema = EMAModel(self.policy.parameters(), decay=e.max_value, min_decay=e.min_value,
                            update_after_step=e.update_after_step + 1, use_ema_warmup=True,
                            inv_gamma=e.inv_gamma, power=e.power) if e.enabled else None
        self.loss_gen = torch.Generator(device=self.device)
        self.loss_gen.manual_seed(cfg.train.seed * LOSS_SEED_STRIDE + self.rank)
        self.pos = Position()
        self.best_score: float | None = None
        self.elapsed_before = 0.0
        if self.saved:
            self._load_rest()
        self.loss_module, self.optimizer = acc.prepare(LossModule(self.policy), self.optimizer)
        if self.saved and self.saved.get('scaler') and acc.scaler is not None:
            acc.scaler.load_state_dict(self.saved['scaler'])
        self.batches = EpochBatches(len(self.train_ds), cfg.data.batch_size, cfg.train.seed,
                                    self.rank, self.world, cfg.data.drop_last)
        self.mse_batch = self._fixed_training_batch()

    def _dataset(self):
        from training.dataset import PushTImageDataset

        d, p = self.cfg.data, self.cfg.policy
        horizon = int(p.get('horizon', 16))
        n_obs, n_act = int(p.get('n_obs_steps', 2)), int(p.get('n_action_steps', 8))
        path = d.resolved_zarr_path()
        if not path.exists():
            raise FileNotFoundError(f'dataset {path} not found (data.zarr_path={d.zarr_path!r}); '
                                    'run `dp-ros download-pusht` or set data.zarr_path=...')
        return PushTImageDataset(
            path, horizon=horizon, pad_before=n_obs - 1, pad_after=n_act - 1, seed=d.split_seed,
            val_ratio=d.val_ratio, max_train_episodes=d.max_train_episodes,
            image_key=d.image_key, state_key=d.state_key, action_key=d.action_key,
            rgb_keys=d.rgb_keys, low_dim_keys=d.low_dim_keys, progress=self.is_main)

    def _shape_meta(self) -> dict:
        """Observation shapes from the data, images first (the feature concatenation order)."""
        shapes = self.train_ds.obs_shapes()
        obs = {k: {'shape': list(shapes[k]), 'type': 'rgb'} for k in self.train_ds.rgb_keys}
        obs.update({k: {'shape': list(shapes[k]), 'type': 'low_dim'}
                    for k in self.train_ds.low_dim_keys})
        return {'obs': obs, 'action': {'shape': [self.train_ds.action_dim]}}

    def _fixed_training_batch(self) -> dict:
        gen = torch.Generator().manual_seed(self.cfg.train.seed + MSE_SEED_OFFSET)
        n = min(self.cfg.data.batch_size, len(self.train_ds))
        idx = torch.randperm(len(self.train_ds), generator=gen)[:n].tolist()
        return default_collate([self.train_ds[i] for i in idx])

    # ------------------------------------------------------------------ train state
    def _load_rest(self) -> None:
        s, path = self.saved, self.state_path
        self.optimizer.load_state_dict(unflatten_optimizer_state(
            _load_tensors(path / 'optimizer.safetensors'), s['optimizer']))
        self.lr_scheduler.load_state_dict(s['lr_scheduler'])
        if self.ema is not None:
            if s.get('ema') is None:
                raise ValueError(f'{path} has no EMA state but ema.enabled is true')
            shadow = _load_tensors(path / 'ema.safetensors')
            ema_state = dict(s['ema'])
            ema_state['shadow_params'] = [shadow[n] for n in self.param_names]
            self.ema.load_state_dict(ema_state)
            self.ema.to(self.device)
        self.pos = Position(**s['position'])
        self.best_score = s.get('best_score')
        self.elapsed_before = float(s.get('elapsed_s', 0.0))
        rng_file = path / f'rng_rank{self.rank}.safetensors'
        if s.get('world_size') != self.world or not rng_file.is_file():
            log.warning('train state was saved with %s processes, now %d: data order and RNG '
                        'streams are reseeded, resume is not bit-exact',
                        s.get('world_size'), self.world)
        else:
            rng_restore(_load_tensors(rng_file), s['rng'][str(self.rank)], self.loss_gen)
        old = s.get('config', {})
        diff = _diff_keys(old, self.cfg.to_dict())
        if diff and self.is_main:
            log.warning('resuming with a config that differs from the saved one in: %s',
                        ', '.join(diff))
        if self.is_main:
            log.info('resumed from %s at step %d (epoch %d, batch %d)', path, self.pos.step,
                     self.pos.epoch, self.pos.batch)

    def ema_state_dict(self) -> dict[str, torch.Tensor]:
        """The policy's state_dict with EMA parameters (the model's own if EMA is off)."""
        sd = self.policy.state_dict()
        if self.ema is not None:
            for name, p in zip(self.param_names, self.ema.shadow_params, strict=True):
                sd[name] = p
        return sd

    def save_train_state(self) -> Path:
        """Atomic: written to a temporary directory on every rank, then renamed by rank 0."""
        acc = self.accelerator
        final = self.run_dir / STATE_DIR
        tmp = self.run_dir / f'.{STATE_DIR}.tmp'
        if self.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        rng_tensors, rng_meta = rng_snapshot(self.loss_gen)
        _save_tensors(tmp / f'rng_rank{self.rank}.safetensors', rng_tensors)
        from accelerate.utils import gather_object
        rng_all = gather_object([(self.rank, rng_meta)])
        if self.is_main:
            _save_tensors(tmp / 'model.safetensors', self.policy.state_dict())
            opt_tensors, opt_meta = flatten_optimizer_state(self.optimizer.state_dict())
            _save_tensors(tmp / 'optimizer.safetensors', opt_tensors)
            ema_meta = None
            if self.ema is not None:
                _save_tensors(tmp / 'ema.safetensors',
                              dict(zip(self.param_names, self.ema.shadow_params, strict=True)))
                ema_meta = {k: v for k, v in self.ema.state_dict().items()
                            if k != 'shadow_params'}
            state = {
                'format': STATE_FORMAT, 'format_version': STATE_VERSION,
                'position': vars(self.pos).copy(), 'best_score': self.best_score,
                'elapsed_s': self.elapsed(), 'world_size': self.world,
                'optimizer': opt_meta, 'lr_scheduler': self.lr_scheduler.state_dict(),
                'ema': ema_meta,
                'scaler': acc.scaler.state_dict() if acc.scaler is not None else None,
                'rng': {str(r): m for r, m in rng_all},
                'normalizer': self.policy.normalizer.to_dict(),
                'config': self.cfg.to_dict(), 'saved_at': time.time(),
            }
            (tmp / 'state.json').write_text(json.dumps(state, default=_json_default) + '\n')
            for f in tmp.iterdir():
                with open(f, 'rb') as fh:
                    os.fsync(fh.fileno())
            replace_dir(tmp, final)
        acc.wait_for_everyone()
        return final

    def save_policy_artifact(self, name: str, metrics: dict | None = None) -> Path:
        from dp_ros.policy.checkpoint import save_policy
        provenance = {
            'step': self.pos.step, 'epoch': self.pos.epoch, 'ema': self.ema is not None,
            'dataset': str(self.cfg.data.resolved_zarr_path()), 'run_dir': str(self.run_dir),
            'metrics': {k: v for k, v in (metrics or {}).items() if _finite(v)},
            'train_config': self.cfg.to_dict(), 'saved_at': time.time(),
        }
        return save_policy(self.policy, self.run_dir / 'checkpoints' / name,
                           control_period_s=self.cfg.train.control_period, provenance=provenance,
                           state_dict=self.ema_state_dict())

    # ------------------------------------------------------------------ evaluation pieces
    def _sync_eval_policy(self) -> nn.Module:
        self.eval_policy.load_state_dict(self.ema_state_dict())
        return self.eval_policy.eval()

    @torch.no_grad()
    def validation_loss(self) -> float | None:
        if len(self.val_ds) == 0:
            return None
        d = self.cfg.data
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + self.rank)
        loader = DataLoader(self.val_ds, batch_size=d.batch_size, shuffle=False,
                            num_workers=d.num_workers, pin_memory=d.pin_memory)
        total, count = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        limit = self.cfg.train.val_max_batches
        for i, batch in enumerate(loader):
            if limit is not None and i >= limit:
                break
            if i % self.world != self.rank:
                continue
            with self.accelerator.autocast():
                loss = self.policy.compute_loss(to_device(batch, self.device), generator=gen)
            total += loss.float()
            count += 1
        if self.world > 1:
            total = self.accelerator.reduce(total, 'sum')
            count = self.accelerator.reduce(count, 'sum')
        return float(total / count) if count > 0 else None

    @torch.no_grad()
    def action_mse(self) -> dict[str, float]:
        """EMA policy samples on fixed training windows vs the demonstrated actions."""
        e = self.cfg.eval
        policy = self._sync_eval_policy()
        batch = to_device(self.mse_batch, self.device)
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed)
        obs = {k: v[:, :self.policy_cfg.n_obs_steps] for k, v in batch['obs'].items()}
        pred = policy.predict_action(obs, generator=gen, sampler=e.sampler,
                                     num_inference_steps=e.num_inference_steps)['action_pred']
        gt = batch['action'].float()
        norm = policy.normalizer
        return {
            'train_action_mse': float(torch.nn.functional.mse_loss(pred, gt)),
            'train_action_mse_norm': float(torch.nn.functional.mse_loss(
                norm.normalize('action', pred), norm.normalize('action', gt))),
        }

    def closed_loop(self) -> dict[str, Any] | None:
        from accelerate.utils import gather_object

        from training.closed_loop import EvalInterrupted, run_closed_loop
        e = self.cfg.eval
        if e.n_episodes == 0:
            return None
        seeds = e.seeds
        mine = list(range(self.rank, len(seeds), self.world))
        videos = [j for j, i in enumerate(mine) if i < e.n_video_episodes] if self.is_main else []
        policy = self._sync_eval_policy()
        try:
            res = run_closed_loop(policy, [seeds[i] for i in mine], max_steps=e.max_steps,
                                  sampler=e.sampler, num_inference_steps=e.num_inference_steps,
                                  sample_seed=e.sample_seed, batch_size=e.batch_size,
                                  video_episodes=videos,
                                  progress=self.is_main and self.cfg.train.progress,
                                  should_stop=lambda: self.stop_signal is not None)
            part = [(s, sc, st, ok) for s, sc, st, ok in
                    zip(res.seeds, res.scores, res.steps, res.success, strict=True)]
            interrupted = False
        except EvalInterrupted:
            part, res, interrupted = [], None, True
        if self.world > 1:
            flags = gather_object([interrupted])
            interrupted = any(flags)
            part = gather_object(part)
        if interrupted:
            return None
        part.sort()
        scores = [p[1] for p in part]
        out = {'test/mean_score': float(np.mean(scores)),
               'test/success_rate': float(np.mean([p[3] for p in part])),
               'test/mean_steps': float(np.mean([p[2] for p in part])),
               'test/n_episodes': len(part),
               'test/scores': {str(p[0]): p[1] for p in part}}
        if self.is_main and res is not None and res.frames:
            from training.video import write_episodes_video
            ext = self.cfg.eval.video_format
            path = self.run_dir / 'media' / f'eval_step{self.pos.step:07d}.{ext}'
            try:
                write_episodes_video(path, [res.frames[j] for j in sorted(res.frames)])
                out['video'] = str(path.relative_to(self.run_dir))
            except (RuntimeError, ValueError, OSError) as err:
                log.warning('could not write the evaluation video %s: %s', path, err)
        return out

    # ------------------------------------------------------------------ loop
    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._t_start)

    def _install_signals(self) -> dict:
        def handler(signum, _frame):
            name = signal.Signals(signum).name
            if self.stop_signal is not None:
                log.warning('%s again: still saving the train state, please wait', name)
            self.stop_signal = name
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                old[sig] = signal.signal(sig, handler)
        return old

    def _should_stop(self) -> bool:
        if self.world == 1:
            return self.stop_signal is not None
        flag = torch.tensor([1.0 if self.stop_signal else 0.0], device=self.device)
        return bool(self.accelerator.reduce(flag, 'max').item() > 0)

    def run(self) -> dict[str, Any]:
        cfg, acc, t = self.cfg, self.accelerator, self.cfg.train
        self._t_start = time.perf_counter()
        if self.is_main:
            cfg.save(self.run_dir / 'config.yaml')
        writer = None
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(self.run_dir / 'tb'),
                                   purge_step=self.pos.step if self.pos.step else None)
        log_file = self._open_log() if self.is_main else None
        old_handlers = self._install_signals()
        accum = cfg.optim.grad_accum_steps
        it = iterate_batches(self.train_ds, self.batches, self.pos.epoch, self.pos.batch,
                             cfg.data.num_workers, cfg.data.pin_memory,
                             cfg.data.persistent_workers)
        if self.is_main:
            log.info('training %s for %d steps (%d batches/epoch/rank, %d process(es), device %s, '
                     'mixed precision %s), run dir %s', type(self.policy).__name__, t.max_steps,
                     self.batches.per_epoch, self.world, self.device, t.mixed_precision,
                     self.run_dir)
        bar = tqdm(total=t.max_steps, initial=self.pos.step, desc='train', unit='step',
                   disable=not (self.is_main and t.progress), dynamic_ncols=True)
        loss_sum = torch.zeros((), device=self.device)
        n_since, train_time, samples = 0, 0.0, 0
        last_saved = self.pos.step if self.saved else -1
        interrupted = None
        self.loss_module.train()

        def emit(event: str, values: dict[str, Any]) -> None:
            if not self.is_main:
                return
            record = {'event': event, 'step': self.pos.step, 'epoch': self.pos.epoch,
                      'wall_time': time.time(), 'elapsed_s': round(self.elapsed(), 3), **values}
            log_file.write(json.dumps(record, default=_json_default) + '\n')
            log_file.flush()
            for k, v in values.items():
                if isinstance(v, int | float) and not isinstance(v, bool) and _finite(v):
                    writer.add_scalar(k if '/' in k else f'{event}/{k}', v, self.pos.step)

        def due(every: int, final: bool) -> bool:
            return (every > 0 and self.pos.step % every == 0) or (final and t.final_eval)

        try:
            while self.pos.step < t.max_steps:
                t0 = time.perf_counter()
                gen_state = self.loss_gen.get_state()
                for micro in range(accum):
                    try:
                        epoch, index, batch = next(it)
                    except Exception:
                        # Ctrl-C in a terminal also stops DataLoader workers: keep the
                        # position of the last finished step and save that
                        if self.stop_signal is None:
                            raise
                        self.optimizer.zero_grad(set_to_none=True)
                        self.loss_gen.set_state(gen_state)
                        interrupted = self.stop_signal
                        break
                    batch = to_device(batch, self.device)
                    sync = micro == accum - 1
                    ctx = contextlib.nullcontext() if sync else acc.no_sync(self.loss_module)
                    with ctx, acc.autocast():
                        loss = self.loss_module(batch, self.loss_gen)
                    acc.backward(loss / accum)
                    loss_sum += loss.detach().float() / accum
                    samples += len(batch['action']) * self.world
                if interrupted:
                    break
                if cfg.optim.max_grad_norm:
                    acc.clip_grad_norm_(self.policy.parameters(), cfg.optim.max_grad_norm)
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema is not None:
                    self.ema.step(self.policy.parameters())
                self.pos.step += 1
                self.pos.epoch, self.pos.batch = epoch, index + 1
                if self.pos.batch >= self.batches.per_epoch:
                    self.pos.epoch, self.pos.batch = epoch + 1, 0
                n_since += 1
                train_time += time.perf_counter() - t0
                bar.update(1)
                final = self.pos.step == t.max_steps

                if (t.log_every and self.pos.step % t.log_every == 0) or final:
                    mean = loss_sum / n_since
                    if self.world > 1:
                        mean = acc.reduce(mean, 'mean')
                    value = float(mean)
                    emit('train', {'loss': value, 'lr': self.lr_scheduler.get_last_lr()[0],
                                   'samples_per_s': samples / max(train_time, 1e-9),
                                   'ema_decay': self.ema.cur_decay_value if self.ema else None})
                    bar.set_postfix(loss=f'{value:.4f}', epoch=self.pos.epoch, refresh=False)
                    loss_sum.zero_()
                    n_since, train_time, samples = 0, 0.0, 0
                if due(t.val_every, final):
                    val = self.validation_loss()
                    if val is not None:
                        emit('val', {'val_loss': val})
                if due(t.action_mse_every, final):
                    emit('action_mse', self.action_mse())
                eval_metrics = None
                if due(t.eval_every, final):
                    eval_metrics = self.closed_loop()
                    if eval_metrics is not None:
                        emit('eval', eval_metrics)
                        score = eval_metrics['test/mean_score']
                        if self.is_main:
                            log.info('step %d: test/mean_score %.4f', self.pos.step, score)
                        if self.best_score is None or score > self.best_score:
                            self.best_score = score
                            if self.is_main:
                                self.save_policy_artifact('best', eval_metrics)
                if (t.checkpoint_every and self.pos.step % t.checkpoint_every == 0) or final:
                    if self.is_main:
                        self.save_policy_artifact('latest', eval_metrics)
                    self.save_train_state()
                    last_saved = self.pos.step
                    if self.is_main:
                        self._plot()
                if self._should_stop():
                    interrupted = self.stop_signal or 'signal on another rank'
                    break
        finally:
            bar.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
        if interrupted and last_saved != self.pos.step:
            if self.is_main:
                self.save_policy_artifact('latest')
            self.save_train_state()
        if self.is_main:
            if interrupted:
                log.warning('%s: stopped at step %d, train state saved in %s; run the same '
                            'command again to continue', interrupted, self.pos.step,
                            self.run_dir / STATE_DIR)
            emit('end', {'interrupted': interrupted, 'best_score': self.best_score})
            log_file.close()
            writer.close()
            self._plot()
        acc.wait_for_everyone()
        return {'step': self.pos.step, 'epoch': self.pos.epoch, 'best_score': self.best_score,
                'interrupted': interrupted, 'run_dir': str(self.run_dir)}

    def _open_log(self):
        """log.jsonl for appending; a line cut short by a kill is closed first."""
        path = self.run_dir / 'log.jsonl'
        f = open(path, 'a+b')  # noqa: SIM115 (closed at the end of run)
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b'\n':
                f.write(b'\n')
        f.close()
        return open(path, 'a')  # noqa: SIM115

    def _plot(self) -> None:
        from training.plots import plot_training_curves
        try:
            plot_training_curves(self.run_dir / 'log.jsonl', self.run_dir / 'curves.png')
        except Exception as err:  # noqa: BLE001 (a plot must never stop training)
            log.warning('could not plot the training curves: %s', err)


def _reset_accelerate_state() -> None:
    """Let one process train more than once (tests, notebooks): accelerate keeps its
    settings (mixed precision, device) in process-wide singletons that refuse changes."""
    from accelerate.state import AcceleratorState, GradientState
    distributed = int(os.environ.get('WORLD_SIZE', '1')) > 1
    AcceleratorState._reset_state(reset_partial_state=not distributed)
    GradientState._reset_state()


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _diff_keys(a: Any, b: Any, prefix: str = '') -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f'{prefix}{k}.')
        return out
    return [] if a == b else [prefix.rstrip('.')]


def train(cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto') -> dict[str, Any]:
    """Train (or continue) a run; returns a summary (step, best_score, interrupted...)."""
    return Trainer(cfg, run_dir, resume).run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='dp-ros train', description='Train a diffusion policy from a YAML config.',
        epilog='Overrides: section.key=value (YAML values), e.g. train.max_steps=1000 '
               'policy.down_dims=[64,128,256] data.zarr_path=/data/pusht.zarr')
    parser.add_argument('--config', type=Path, help='training config YAML (default: built-in '
                        "defaults, the paper's model)")
    parser.add_argument('--output', type=Path, required=True, help='run directory')
    parser.add_argument('--max-steps', type=int, help='shorthand for train.max_steps=N')
    parser.add_argument('--resume', default='auto',
                        help="auto (continue <output>/train_state if present), never, or a "
                             'train_state directory / run directory to start from')
    parser.add_argument('overrides', nargs='*', metavar='KEY=VALUE')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s '
                        '%(message)s', stream=sys.stderr)
    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f'train.max_steps={args.max_steps}')
    try:
        cfg = load_config(args.config, overrides)
    except (ValueError, FileNotFoundError) as err:
        print(f'dp-ros train: {err}', file=sys.stderr)
        return 2
    summary = train(cfg, args.output, resume=args.resume)
    if summary['interrupted'] is None and int(os.environ.get('RANK', '0')) == 0:
        print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
