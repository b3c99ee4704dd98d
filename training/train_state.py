"""A run's train_state/ directory: everything needed to continue training exactly.

Layout (safetensors + JSON, no pickle): state.json (position, best score, a pending
evaluation, optimizer scalars, scheduler, EMA settings, scaler, normalizer, config, the
resolved policy config, the split and the episodes it was drawn over, per-rank RNG
metadata),
model.safetensors (the trained weights), ema.safetensors (the EMA weights by parameter
name), optimizer.safetensors (the optimizer's tensors) and rng_rank{r}.safetensors (one per
rank: torch, CUDA, numpy RNGs and the loss generator).

The directory is replaced atomically: a kill while saving leaves the previous state whole.
"""
from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from dp_ros.atomic_dir import plain_file_mode, replace_dir
from training.errors import TrainStateError
from training.train_state_file import (
    STATE_DIR,
    STATE_FILE,
    STATE_FORMAT,
    STATE_STAGING,
    STATE_VERSION,
)

log = logging.getLogger('dp_ros.train')

MODEL_FILE = 'model.safetensors'
EMA_FILE = 'ema.safetensors'
OPTIMIZER_FILE = 'optimizer.safetensors'
WINDOW_LOSS_SUM = 'window_loss_sum'  # in each rank's RNG file: Progress.window_loss_sum


@dataclass
class Position:
    """Where the loop is: optimizer steps done, and the next batch of the data order."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch index within the epoch


@dataclass
class TrainParts:
    """The objects a train state saves and restores: the ones the loop changes."""

    policy: nn.Module  # the unwrapped policy (its normalizer is saved too)
    param_names: list[str]  # names of policy.parameters(), in order (EMA shadow keys)
    optimizer: Any  # torch optimizer, plain or wrapped by accelerate
    lr_scheduler: Any
    ema: Any | None  # diffusers EMAModel, None when ema.enabled is false
    loss_gen: torch.Generator  # this rank's augmentation and diffusion-noise generator


@dataclass
class Progress:
    """The run's bookkeeping besides the weights."""

    position: Position
    best_score: float | None = None
    elapsed_s: float = 0.0  # training wall time before this process started
    # the step of a closed-loop evaluation that was due but stopped (Ctrl-C, SIGTERM): a
    # resumed run does it first, as the uninterrupted run did it at that step
    pending_eval: int | None = None
    # the log window open at the save: this rank's summed loss and its steps since the last
    # logged record, so that a resumed run logs the mean the uninterrupted run logged
    window_loss_sum: torch.Tensor | None = None
    window_steps: int = 0


# ---------------------------------------------------------------------------- file helpers
def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().to('cpu').contiguous().clone() for k, v in tensors.items()},
              str(path))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one train state file; TrainStateError naming it when it is damaged (an
    interrupted copy, a full disk), which safetensors reports without the file's name."""
    try:
        with safe_open(str(path), framework='pt', device='cpu') as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open API)
    except SafetensorError as e:
        raise TrainStateError(f'{path} is damaged or truncated ({e}); --resume never starts '
                              'over') from None


def json_default(x: Any) -> Any:
    """JSON for the numpy scalars, one-element tensors and tuples found in states and logs."""
    if isinstance(x, np.generic):
        return x.item()
    if torch.is_tensor(x) and x.numel() == 1:
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f'{type(x).__name__} is not JSON serialisable')


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
    """Every RNG this rank draws from: (tensors, JSON metadata)."""
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


def _rng_file(rank: int) -> str:
    return f'rng_rank{rank}.safetensors'


# ---------------------------------------------------------------------------- weights
def saved_weights(path: Path) -> dict[str, torch.Tensor]:
    """The trained (not EMA) weights, loaded before the optimizer is built on them."""
    return load_tensors(path / MODEL_FILE)


def like_param(value: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """`value` (a moment, an EMA shadow) laid out as its parameter: files hold tensors
    contiguous and load_state_dict casts only dtype and device, so a channels-last weight
    (train.channels_last) would get contiguous moments, which CUDA's fused AdamW refuses
    ("must have same dtype, device, and layout") and foreach paths take slowly."""
    if value.shape != param.shape or value.stride() == param.stride():
        return value  # a step count, or already alike
    return torch.empty_like(param, dtype=value.dtype, device=value.device).copy_(value)


def ema_state_dict(parts: TrainParts) -> dict[str, torch.Tensor]:
    """The policy's state_dict with EMA parameters (the model's own if EMA is off)."""
    sd = parts.policy.state_dict()
    if parts.ema is not None:
        for name, p in zip(parts.param_names, parts.ema.shadow_params, strict=True):
            sd[name] = p
    return sd


# ---------------------------------------------------------------------------- restore
def restore_train_state(path: Path, saved: dict[str, Any], parts: TrainParts, *, rank: int,
                        world: int, device: torch.device) -> Progress:
    """Optimizer, schedule, EMA and this rank's RNGs from `path` (weights: saved_weights).

    Call before accelerate wraps the optimizer. With another number of processes than when
    saved, the RNG streams cannot be matched: the run continues, reseeded, with a warning.
    """
    parts.optimizer.load_state_dict(unflatten_optimizer_state(
        load_tensors(path / OPTIMIZER_FILE), saved['optimizer']))
    params = list(parts.policy.parameters())
    for p in params:
        state = parts.optimizer.state.get(p, {})
        for key, value in state.items():
            state[key] = like_param(value, p)
    parts.lr_scheduler.load_state_dict(saved['lr_scheduler'])
    if parts.ema is not None:
        if saved.get('ema') is None:
            raise TrainStateError(f'{path} has no EMA state but ema.enabled is true: resume '
                                  'with ema.enabled=false, or start over with --resume never')
        shadow = load_tensors(path / EMA_FILE)
        ema_state = dict(saved['ema'])
        # floats as EMAModel checks them: a state saved from YAML's `min_value: 0` holds 0
        for key in ('decay', 'min_decay', 'inv_gamma', 'power'):
            if isinstance(ema_state.get(key), int) and not isinstance(ema_state[key], bool):
                ema_state[key] = float(ema_state[key])
        ema_state['shadow_params'] = [shadow[n] for n in parts.param_names]
        parts.ema.load_state_dict(ema_state)
        parts.ema.to(device)
        parts.ema.shadow_params = [like_param(v, p) for v, p in
                                   zip(parts.ema.shadow_params, params, strict=True)]
    rng_file = path / _rng_file(rank)
    window_sum, window_steps = None, 0
    if saved.get('world_size') != world or not rng_file.is_file():
        log.warning('train state was saved with %s processes, now %d: data order and RNG '
                    'streams are reseeded, resume is not bit-exact', saved.get('world_size'),
                    world)
    else:
        tensors = load_tensors(rng_file)
        window_sum = tensors.pop(WINDOW_LOSS_SUM, None)  # absent: saved before it was
        window_steps = int(saved.get('window_steps', 0)) if window_sum is not None else 0
        rng_restore(tensors, saved['rng'][str(rank)], parts.loss_gen)
    return Progress(Position(**saved['position']), saved.get('best_score'),
                    float(saved.get('elapsed_s', 0.0)), saved.get('pending_eval'),
                    window_sum, window_steps)


# ---------------------------------------------------------------------------- save
def save_train_state(run_dir: Path, accelerator: Any, parts: TrainParts, progress: Progress,
                     config: dict[str, Any], split: dict[str, Any] | None = None) -> Path:
    """Write run_dir/train_state on every rank (each its RNGs), swapped in by rank 0.
    `split`: what identifies the run's split (PushTImageDataset.split_record), which a
    resume checks the dataset against.

    Collective: every rank must call it at the same step.
    """
    acc, is_main = accelerator, accelerator.is_main_process
    final = run_dir / STATE_DIR
    tmp = run_dir / STATE_STAGING
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    try:
        _write_train_state(tmp, acc, parts, progress, config, split)
        if is_main:
            replace_dir(tmp, final)
    except BaseException:  # a full disk: the half-written copy is the room the user needs
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    acc.wait_for_everyone()
    return final


def _write_train_state(tmp: Path, acc: Any, parts: TrainParts, progress: Progress,
                       config: dict[str, Any], split: dict[str, Any] | None) -> None:
    """save_train_state's files into the staging folder `tmp` (every rank its RNGs)."""
    from accelerate.utils import gather_object

    rank, is_main = acc.process_index, acc.is_main_process
    acc.wait_for_everyone()
    rng_tensors, rng_meta = rng_snapshot(parts.loss_gen)
    if progress.window_loss_sum is not None:  # per rank, as each rank's loss is its own
        rng_tensors[WINDOW_LOSS_SUM] = progress.window_loss_sum.reshape(())
    save_tensors(tmp / _rng_file(rank), rng_tensors)
    rng_all = gather_object([(rank, rng_meta)])
    if is_main:
        save_tensors(tmp / MODEL_FILE, parts.policy.state_dict())
        opt_tensors, opt_meta = flatten_optimizer_state(parts.optimizer.state_dict())
        save_tensors(tmp / OPTIMIZER_FILE, opt_tensors)
        ema_meta = None
        if parts.ema is not None:
            save_tensors(tmp / EMA_FILE,
                         dict(zip(parts.param_names, parts.ema.shadow_params, strict=True)))
            ema_meta = {k: v for k, v in parts.ema.state_dict().items() if k != 'shadow_params'}
        state = {
            'format': STATE_FORMAT, 'format_version': STATE_VERSION,
            'position': vars(progress.position).copy(), 'best_score': progress.best_score,
            'elapsed_s': progress.elapsed_s, 'pending_eval': progress.pending_eval,
            'window_steps': progress.window_steps,
            'world_size': acc.num_processes,
            'optimizer': opt_meta, 'lr_scheduler': parts.lr_scheduler.state_dict(),
            'ema': ema_meta,
            'scaler': acc.scaler.state_dict() if acc.scaler is not None else None,
            'rng': {str(r): m for r, m in rng_all},
            'normalizer': parts.policy.normalizer.to_dict(),
            # the resolved policy (shape_meta read from the dataset included): what a resume
            # is checked against before anything loads (training/run_check.py)
            'policy_config': parts.policy.config.to_dict(),
            'config': config, 'split': split, 'saved_at': time.time(),
        }
        (tmp / STATE_FILE).write_text(json.dumps(state, default=json_default) + '\n')
        plain_file_mode(tmp.glob('*.safetensors'), like=tmp / STATE_FILE)  # others can resume
        for f in tmp.iterdir():
            with open(f, 'rb') as fh:
                os.fsync(fh.fileno())
