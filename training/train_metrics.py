"""What training measures besides its loss: validation loss, the sampled-action MSE on fixed
training windows, and the closed-loop Push-T score (the number that picks checkpoints/best).

Every function is collective when world > 1: all ranks call it at the same step.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm

from training.batches import to_device
from training.config import DataConfig, EvalConfig

log = logging.getLogger('dp_ros.train')

MSE_SEED_OFFSET = 12345  # which windows the action MSE uses


def fixed_batch(ds: Dataset, batch_size: int, seed: int) -> dict | None:
    """The same windows of one split (training or held-out) at every action-MSE measurement
    (and after a resume); None for a dataset without windows (no validation episodes)."""
    if len(ds) == 0:
        return None
    gen = torch.Generator().manual_seed(seed + MSE_SEED_OFFSET)
    n = min(batch_size, len(ds))
    idx = torch.randperm(len(ds), generator=gen)[:n].tolist()
    return default_collate([ds[i] for i in idx])


@torch.no_grad()
def validation_loss(policy: Any, val_ds: Dataset, data: DataConfig, accelerator: Any, *,
                    seed: int, max_batches: int | None, progress: bool = False
                    ) -> float | None:
    """Mean denoising loss on the validation windows (the trained weights, not the EMA);
    None without validation data. Batches are dealt round-robin over the ranks. progress: a
    bar (a large set's pass takes minutes, and a Ctrl-C waits for it)."""
    if len(val_ds) == 0:
        return None
    rank, world = accelerator.process_index, accelerator.num_processes
    device = accelerator.device
    gen = torch.Generator(device=device).manual_seed(seed + rank)
    # its own generator: one from the global torch RNG would move it (training/batches.py)
    loader = DataLoader(val_ds, batch_size=data.batch_size, shuffle=False,
                        num_workers=data.num_workers, pin_memory=data.pin_memory,
                        generator=torch.Generator().manual_seed(seed + rank))
    total, count = torch.zeros((), device=device), torch.zeros((), device=device)
    n = len(loader) if max_batches is None else min(len(loader), max_batches)
    bar = tqdm(total=n, desc='validation', unit='batch', leave=False, dynamic_ncols=True,
               disable=not progress)
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        bar.update()
        if i % world != rank:
            continue
        with accelerator.autocast():
            loss = policy.compute_loss(to_device(batch, device), generator=gen)
        total += loss.float()
        count += 1
    bar.close()
    if world > 1:
        total = accelerator.reduce(total, 'sum')
        count = accelerator.reduce(count, 'sum')
    return float(total / count) if count > 0 else None


@torch.no_grad()
def action_mse(eval_policy: Any, batch: dict, eval_cfg: EvalConfig, seed: int,
               split: str = 'train') -> dict[str, float]:
    """EMA policy samples on fixed windows of one split (train or val) vs the demonstrated
    actions, in raw units and normalized to [-1, 1]: '<split>_action_mse[_norm]'. On the
    held-out windows it is the number a robot without a simulator has during training: an
    MSE over the whole predicted horizon, the n_obs_steps past steps included, on fixed
    windows; `dp-ros open-loop` reports an RMSE over the executed steps of every chunk of whole
    episodes (related, not the same number)."""
    device = eval_policy.device
    batch = to_device(batch, device)
    gen = torch.Generator(device=device).manual_seed(seed)
    n_obs = eval_policy.config.n_obs_steps
    obs = {k: v[:, :n_obs] for k, v in batch['obs'].items()}
    pred = eval_policy.predict_action(obs, generator=gen, sampler=eval_cfg.sampler,
                                      num_inference_steps=eval_cfg.num_inference_steps
                                      )['action_pred']
    gt = batch['action'].float()
    norm = eval_policy.normalizer
    return {
        f'{split}_action_mse': float(torch.nn.functional.mse_loss(pred, gt)),
        f'{split}_action_mse_norm': float(torch.nn.functional.mse_loss(
            norm.normalize('action', pred), norm.normalize('action', gt))),
    }


def closed_loop_metrics(eval_policy: Any, eval_cfg: EvalConfig, *, rank: int, world: int,
                        progress: bool, should_stop: Callable[[], bool],
                        video_path: Path | None = None) -> dict[str, Any] | None:
    """The paper's Push-T evaluation, seeds dealt over the ranks and gathered.

    Returns test/mean_score, success_rate, mean_steps, n_episodes and per-seed scores (and
    'video', the written path, when video_path is given on this rank); None when there are
    no episodes or should_stop() interrupted it on any rank.
    """
    from accelerate.utils import gather_object

    from training.closed_loop import EvalInterrupted, run_closed_loop
    e = eval_cfg
    if e.n_episodes == 0:
        return None
    seeds = e.seeds
    mine = list(range(rank, len(seeds), world))
    videos = [j for j, i in enumerate(mine) if i < e.n_video_episodes] if video_path else []
    try:
        res = run_closed_loop(eval_policy, [seeds[i] for i in mine], robot=e.robot,
                              max_steps=e.max_steps,
                              sampler=e.sampler, num_inference_steps=e.num_inference_steps,
                              sample_seed=e.sample_seed, batch_size=e.batch_size,
                              video_episodes=videos, progress=progress, should_stop=should_stop)
        part = [(s, sc, st, ok) for s, sc, st, ok in
                zip(res.seeds, res.scores, res.steps, res.success, strict=True)]
        interrupted = False
    except EvalInterrupted:
        part, res, interrupted = [], None, True
    if world > 1:
        interrupted = any(gather_object([interrupted]))
        part = gather_object(part)
    if interrupted:
        return None
    part.sort()
    out: dict[str, Any] = {
        'test/mean_score': float(np.mean([p[1] for p in part])),
        'test/success_rate': float(np.mean([p[3] for p in part])),
        'test/mean_steps': float(np.mean([p[2] for p in part])),
        'test/n_episodes': len(part),
        'test/scores': {str(p[0]): p[1] for p in part}}
    if video_path is not None and res is not None and res.frames:
        from sim_bridge.video import episode_label
        from training.video import write_episodes_video
        shown = sorted(res.frames)
        try:  # each tile says its seed and score, as dp-ros eval's
            write_episodes_video(video_path, [res.frames[j] for j in shown],
                                 labels=[episode_label(res.seeds[j], res.scores[j])
                                         for j in shown])
            out['video'] = str(video_path)
        except (RuntimeError, ValueError, OSError) as err:
            log.warning('could not write the evaluation video %s: %s', video_path, err)
    return out
