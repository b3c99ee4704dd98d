"""The training loop of `dp-ros train` (accelerate: CPU, one GPU, many GPUs or nodes).

Step-based: max_steps optimizer steps; validation loss, a sampled-action MSE on fixed
training windows, closed-loop Push-T evaluation and checkpoints each have their own step
interval. The run directory holds config.yaml, log.jsonl, tb/ (TensorBoard), media/,
curves.png (training/run_log.py), checkpoints/{latest,best,step_NNNNNN}/ (policy artifacts
of the EMA weights; best = highest test/mean_score so far; step_* = kept snapshots) and
train_state/ (training/train_state.py); a new run sets another run's files aside first
(training/run_dir.py).

Resume is exact: data order comes from (seed, epoch) (training/batches.py), augmentation and
diffusion noise from one generator per rank whose state is saved, so a run killed and
restarted with the same command produces the losses the uninterrupted run would have. A
closed-loop evaluation a stop cut short is saved as pending and done first on resume; a
config change a resume cannot honour is refused before anything loads (training/run_check.py).

A NaN or infinite loss (or weight) stops the run with NonFiniteLossError before anything
measures or saves the weights that made it: the last train state stays the resume point. The
loss reaches the CPU only where it is logged and before events (measurements, saves), so the
check costs no synchronisation in the steps between.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm import tqdm

from dp_ros.atomic_dir import free_disk, remove_all, staging_path
from training.batches import EpochBatches, batch_index_resized, iterate_batches, to_device
from training.config import TrainConfig, saved_config_data
from training.cpu_precision import effective_mixed_precision
from training.dataset_meta import SPLIT, few
from training.errors import (
    DatasetError,
    NonFiniteLossError,
    TrainStateError,
    refused_write,
    run_write_error,
)
from training.run_check import CheckedRun, check_disk, check_run, policy_weight_bytes
from training.run_dir import (
    BEST,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LATEST,
    MEDIA_DIR,
    carry_best,
    remove_save_leftovers,
    set_aside_earlier_run,
    set_aside_what,
)
from training.run_log import RunLog, finite
from training.step_speed import compile_convolutions, gpu_settings_on_cpu, tf32_matmuls
from training.train_metrics import (
    action_mse,
    closed_loop_metrics,
    fixed_batch,
    validation_loss,
)
from training.train_state import (
    Position,
    Progress,
    TrainParts,
    ema_state_dict,
    restore_train_state,
    save_train_state,
    saved_weights,
)
from training.train_state_file import STATE_DIR, snapshot_name, snapshot_step

if TYPE_CHECKING:
    from dp_ros.policy.normalizer import Normalizer

log = logging.getLogger('dp_ros.train')

LOSS_SEED_STRIDE = 7919  # loss generator seed = seed * stride + rank
# how far beyond [-1, 1] a warm start's data may normalize before it is a warning
RANGE_SLACK = 1e-3


class LossModule(nn.Module):
    """Routes compute_loss through forward, so DDP sees (and syncs) the gradients."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.policy.compute_loss(batch, generator=generator)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto',
                 checked: CheckedRun | None = None) -> None:
        """`checked`: check_run(cfg, run_dir, resume) when the caller ran it already."""
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        # what the user can get wrong (the train state to resume, the dataset, init_from, the
        # policy section) is checked before anything is built or written: a run that cannot
        # start leaves no run directory
        self.checked = checked or check_run(cfg, run_dir, resume)
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        # accelerate only sets up CPU process groups (gloo) when told cpu=True
        cpu = cfg.train.cpu or ('LOCAL_RANK' in os.environ and not torch.cuda.is_available())
        _reset_accelerate_state()
        self.precision, warning = effective_mixed_precision(
            cfg.train.mixed_precision, cpu or not torch.cuda.is_available())
        if warning:
            log.warning(warning)
        self.accelerator = acc = Accelerator(mixed_precision=self.precision, cpu=cpu)
        self.is_main = acc.is_main_process
        self.rank, self.world = acc.process_index, acc.num_processes
        self.device = acc.device
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        set_seed(cfg.train.seed)
        self.state_path, self.saved = self.checked.state_path, self.checked.saved
        self.policy_cfg = self.checked.policy_cfg
        if self.is_main:
            for warning in self.policy_cfg.camera_warnings():
                log.warning(warning)
        self.resume = resume
        # the staging copies of a killed save go before the disk check: on a nearly full
        # disk they are what a resume needs freed (each as large as a train state or policy)
        if self.is_main and self.run_dir.is_dir():
            removed, freed = remove_save_leftovers(self.run_dir)
            if removed:
                log.info('removed %d staging cop%s of saves killed midway from %s (%s bytes)',
                         removed, 'y' if removed == 1 else 'ies', self.run_dir, f'{freed:,}')
        acc.wait_for_everyone()  # every rank reads the free space after the removal
        # before the dataset loads (minutes for a large one) and the run folder is made: a
        # disk that cannot hold a train state is refused
        start_step = int(self.saved['position']['step']) if self.saved else 0
        disk_warnings = check_disk(cfg, policy_weight_bytes(self.policy_cfg),
                                   free_disk(self.run_dir), self.run_dir, start_step)
        if self.is_main:
            for warning in disk_warnings:
                log.warning(warning)
        self._build()
        # a train state resumed from this folder (not another run's, continued here)
        own = self.resumed_in_place = self.state_path is not None and \
            self.state_path.resolve() == (self.run_dir / STATE_DIR).resolve()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            earlier = None if own else set_aside_earlier_run(self.run_dir, cfg.to_yaml())
            if earlier is not None:
                log.warning('%sa new run in %s: %s', '--resume never: ' if resume == 'never'
                            else '', self.run_dir, set_aside_what(earlier))
                self._follow_init_from(earlier)
            if self.state_path is not None and not own:  # another folder's run, continued here
                carried = carry_best(self.state_path, self.run_dir)
                if carried is not None:
                    log.info('continuing the run of %s here: its checkpoints/best (the best '
                             'score so far) copied to %s', self.state_path, carried)
        acc.wait_for_everyone()
        self.stop_signal: str | None = None
        self.last_saved = -1  # the step of the last resume point saved (_run sets it)

    def _follow_init_from(self, earlier: Path) -> None:
        """train.init_from inside the folder just set aside (a warm start from the run that
        was there) names where its weights are now, in config.yaml and the provenance: else
        they would name this run's own checkpoints."""
        init = Path(self.cfg.train.init_from or '').expanduser()
        if not self.cfg.train.init_from or not init.resolve().is_relative_to(
                self.run_dir.resolve()):
            return
        moved = earlier / init.resolve().relative_to(self.run_dir.resolve())
        self.cfg.train.init_from = str(moved)
        if self.checked.init_from is not None:
            loaded = self.checked.init_from.resolve().relative_to(self.run_dir.resolve())
            self.checked = dataclasses.replace(self.checked, init_from=earlier / loaded)
        log.info('train.init_from is recorded as %s, where its files are now', moved)

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        from dp_ros.policy.checkpoint import load_policy
        from dp_ros.policy.diffusion import DiffusionPolicy
        from dp_ros.policy.normalizer import Normalizer

        cfg, acc = self.cfg, self.accelerator
        init_from = self.checked.init_from
        init = load_policy(init_from) if init_from is not None else None
        self.train_ds = self._dataset()
        self.val_ds = self.train_ds.get_validation_dataset()
        self.split = self.train_ds.split_record()
        if self.saved:
            self._check_saved_split()
        elif init_from is not None and self.is_main:
            self._warn_validation_trained_on(init_from)
        if self.is_main:
            for warning in self._unused_episodes():
                log.warning(warning)
        # fitted on every start, as the NaN/inf check of the data: a resume or a warm start
        # keeps the normalizer it brings, checked against this one
        fitted = self._fit_normalizer()
        if self.saved:
            norm_dict = self.saved['normalizer']
            # the same data is within it; other data of the same episode lengths (a path
            # pointed at another store) is not refused by the split check: said here. A run
            # warm-started keeps the normalizer it inherited, which its data may exceed (said
            # at the warm start): no range of its own data to judge by, so not checked
            if not self._saved_section('train').get('init_from'):
                self._check_inherited_range(Normalizer.from_dict(norm_dict), fitted)
        elif init is not None:
            norm_dict = init.normalizer.to_dict()
            self._check_inherited_range(init.normalizer, fitted)
        else:
            norm_dict = fitted.to_dict()
        self.policy = DiffusionPolicy(self.policy_cfg, Normalizer.from_dict(norm_dict))
        self.param_names = [n for n, _ in self.policy.named_parameters()]
        if self.saved:
            self.policy.load_state_dict(saved_weights(self.state_path))
        elif init is not None:
            self.policy.load_state_dict(init.state_dict())
            if self.is_main:
                log.info('warm start from %s', init_from)
        self.policy.to(self.device)
        if cfg.train.channels_last:
            # weights only: convolutions then run (and return) channels-last; inference
            # policies load contiguous weights and keep their numerics
            self.policy.to(memory_format=torch.channels_last)
        if self.is_main:
            misplaced = gpu_settings_on_cpu(self.device.type, torch.cuda.is_available(),
                                            cfg.train.cpu, cfg.data.device_batches,
                                            cfg.train.torch_compile)
            if misplaced:
                log.warning(misplaced)
        if cfg.train.torch_compile:
            compile_convolutions(self.policy, cfg.train.torch_compile)
        self.eval_policy = DiffusionPolicy(self.policy_cfg, Normalizer.from_dict(norm_dict))
        self.eval_policy.to(self.device).eval()

        o = cfg.optim
        cuda = self.device.type == 'cuda'
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=o.lr, betas=o.betas,
                                           eps=o.eps, weight_decay=o.weight_decay,
                                           **({'fused': True} if o.fused and cuda else {}))
        self.lr_scheduler = get_scheduler(o.schedule, optimizer=self.optimizer,
                                          num_warmup_steps=o.lr_warmup_steps,
                                          num_training_steps=cfg.train.max_steps)
        e = cfg.ema
        # diffusers counts the update before computing its decay, the paper's EMAModel after:
        # one more step of delay gives the paper's decays (0, 0, 1 - 2**-power, ...). A
        # resumed run keeps the value saved in its train state (EMAModel.load_state_dict).
        self.ema = EMAModel(self.policy.parameters(), decay=e.max_value, min_decay=e.min_value,
                            update_after_step=e.update_after_step + 1, use_ema_warmup=True,
                            inv_gamma=e.inv_gamma, power=e.power,
                            foreach=e.foreach and cuda) if e.enabled else None
        self.loss_gen = torch.Generator(device=self.device)
        self.loss_gen.manual_seed(cfg.train.seed * LOSS_SEED_STRIDE + self.rank)
        self.pos = Position()
        self.best_score: float | None = None
        self.pending_eval: int | None = None  # the step of an evaluation a stop cut short
        self.elapsed_before = 0.0
        # the open log window: this rank's summed loss and its steps since the last record
        # (a resume's from its train state; None: an empty one, made in _run)
        self.loss_sum: torch.Tensor | None = None
        self.n_since = 0
        if self.saved:
            self._restore()
        self.loss_module, self.optimizer = acc.prepare(LossModule(self.policy), self.optimizer)
        if self.saved and self.saved.get('scaler') and acc.scaler is not None:
            acc.scaler.load_state_dict(self.saved['scaler'])
        self.batches = EpochBatches(len(self.train_ds), cfg.data.batch_size, cfg.train.seed,
                                    self.rank, self.world, cfg.data.drop_last)
        if self.saved:
            self._resize_position()
        self.mse_batch = fixed_batch(self.train_ds, cfg.data.batch_size, cfg.train.seed)
        self.val_mse_batch = fixed_batch(self.val_ds, cfg.data.batch_size, cfg.train.seed)

    def _dataset(self):
        from training.dataset import PushTImageDataset

        d, p = self.cfg.data, self.cfg.policy
        horizon = int(p.get('horizon', 16))
        n_obs, n_act = int(p.get('n_obs_steps', 2)), int(p.get('n_action_steps', 8))
        return PushTImageDataset(
            self.checked.dataset, horizon=horizon, pad_before=n_obs - 1, pad_after=n_act - 1,
            progress=self.is_main, obs_steps=n_obs, **d.split_args(), **d.key_args())

    def _unused_episodes(self) -> list[str]:
        """Warnings naming the episodes the split gives a side but no window (too short), and
        why a run with data.val_ratio > 0 has no validation windows."""
        ds, d, p = self.train_ds, self.cfg.data, self.policy_cfg
        shortest = (f'shorter than {ds.min_episode_length} steps, the fewest that give a '
                    f'window (policy.horizon {p.horizon} - (n_obs_steps {p.n_obs_steps} - 1) - '
                    f'(n_action_steps {p.n_action_steps} - 1))')
        out = []
        train = ds.windowless_episodes(ds.train_mask)
        if train:
            out.append(f'{ds.zarr_path}: training episode(s) {few(train)} are {shortest}: '
                       f'training leaves them out ({len(train)} of {ds.n_train_episodes} '
                       'training episodes)')
        if d.val_ratio <= 0:
            return out
        val = ds.windowless_episodes(ds.val_mask)
        none = 'no val_loss and no val_action_mse'
        if ds.n_val_episodes == 0 and ds.replay_buffer.n_episodes == 1:
            out.append(f'{ds.zarr_path} has one episode, which trains: data.val_ratio '
                       f'{d.val_ratio:g} holds out none, so {none}; record more episodes for a '
                       'held-out curve')
        elif ds.n_val_episodes == 0:
            out.append(f'data.val_ratio {d.val_ratio:g}: the validation episodes drawn are all '
                       f'in data.exclude_episodes, so {none}')
        elif val:
            left = (f'no validation windows, so {none}' if len(val) == ds.n_val_episodes else
                    f'validation leaves them out ({len(val)} of {ds.n_val_episodes} validation '
                    'episodes)')
            out.append(f'{ds.zarr_path}: validation episode(s) {few(val)} are {shortest}: '
                       f'{left}')
        return out

    def _fit_normalizer(self) -> Normalizer:
        """The normalizer fitted on every episode data.exclude_episodes leaves (validation
        and past-max_train_episodes ones too, as the paper fits on its whole buffer); NaN or
        inf there is a DatasetError naming the dataset, key, dimension and episodes (not NaN
        losses, then a NaN normalizer in the artifact). Run on every start, warm or resumed
        too."""
        from dp_ros.policy.normalizer import NonFiniteDataError, Normalizer

        try:
            return Normalizer.from_data(self.train_ds.get_normalizer_data(),
                                        identity=self._identity_dims())
        except NonFiniteDataError as exc:
            bad = self.train_ds.nonfinite_episodes()
            episodes = {e for eps in bad.values() for e in eps}
            where = ', '.join(f'{k} in episodes {v}' for k, v in bad.items())
            out = sorted(episodes | set(self.cfg.data.exclude_episodes or ()))
            hint = (f' ({where}); fix the data, or leave them out: '
                    f'data.exclude_episodes={out}') if episodes else ''
            if hint and self.saved:  # a resume refuses another exclude_episodes
                hint += ' in a new run (--resume never)'
            raise DatasetError(f'{self.train_ds.zarr_path}: {exc}{hint}') from None

    def _warn_validation_trained_on(self, init_from: Path) -> None:
        """A warm start on the grown dataset draws its split anew: validation episodes the
        starting weights trained on make the validation loss optimistic; said, naming them."""
        from dp_ros.policy.checkpoint import read_policy_metadata
        from training.warm_start import validation_trained_on

        provenance = read_policy_metadata(init_from).get('provenance') or {}
        seen = validation_trained_on(provenance, self.split, self.train_ds.episode_ends)
        if seen:
            log.warning('validation episode(s) %s of this run were training episodes of '
                        'train.init_from %s: its validation loss and val_action_mse are lower '
                        'there than on new data (data.exclude_episodes leaves them out; '
                        '`dp-ros open-loop --episodes` on the episodes appended since compares '
                        'on data neither saw)', seen, init_from)

    def _check_saved_split(self) -> None:
        """The split drawn now against the one the train state recorded (run_check compared
        the dataset's episodes already: this catches another way of drawing it)."""
        record = self.saved.get(SPLIT)
        if not isinstance(record, dict):
            return  # an older state: run_check warned
        for name in ('val_episodes', 'train_episodes'):
            if record.get(name) != self.split[name]:
                raise TrainStateError(
                    f'cannot resume {self.state_path}: its {name} {record.get(name)} are not '
                    f'those drawn now {self.split[name]}; resume with the dp_ros that saved '
                    'it, or start over with --resume never (or another --output)')

    def _check_inherited_range(self, inherited: Normalizer, fitted: Normalizer) -> None:
        """A warning (once) where this run's data lies beyond the range of the normalizer a
        warm start inherits or a resume restores: normalized beyond [-1, 1], and with
        policy.clip_sample actions beyond it are never sampled."""
        if not self.is_main:
            return
        data = self.train_ds.get_normalizer_data()
        whose = "the run's" if self.saved else 'inherited'
        found = []
        for key in fitted.keys:
            if key not in inherited or key not in fitted.stats:
                continue
            lo = torch.tensor(fitted.stats[key]['min'])
            hi = torch.tensor(fitted.stats[key]['max'])
            n_lo, n_hi = inherited.normalize(key, lo), inherited.normalize(key, hi)
            dims = [i for i in range(len(lo))
                    if n_lo[i] < -1 - RANGE_SLACK or n_hi[i] > 1 + RANGE_SLACK]
            if not dims:
                continue
            names = self.policy_cfg.dimension_names(key) or []
            old = inherited.stats.get(key, {})
            parts = []
            for i in dims:
                name = names[i] if i < len(names) else str(i)
                was = (f'{old["min"][i]:.4g}..{old["max"][i]:.4g}' if 'min' in old
                       else 'unrecorded')
                parts.append(f'{name} {lo[i]:.4g}..{hi[i]:.4g} ({whose} {was}: normalized '
                             f'{n_lo[i]:.3g}..{n_hi[i]:.3g})')
            values = inherited.normalize(key, torch.from_numpy(data[key]))
            outside = float((values.abs() > 1 + RANGE_SLACK).any(dim=-1).float().mean())
            found.append(f'{key} dimension{"s" if len(dims) > 1 else ""} {", ".join(parts)}, '
                         f'{outside:.1%} of its steps beyond [-1, 1]')
        if not found:
            return
        clip = (' With policy.clip_sample the policy never samples actions beyond the '
                f'{"run" if self.saved else "inherited"} range.' if self.policy_cfg.clip_sample
                else '')
        if self.saved:
            log.warning('resuming from %s on data beyond the range of the normalizer the run '
                        'was fitted with (not the data it trained on? data.zarr_path %s): %s.%s '
                        'A resume continues the same data; for other data start a new run '
                        '(train.init_from: the run\'s checkpoint, to fine-tune)',
                        self.state_path, self.cfg.data.zarr_path, '; '.join(found), clip)
            return
        log.warning('warm start from %s: this run\'s data lies beyond the range of the '
                    'normalizer it inherits: %s.%s To fit the normalizer on this data, '
                    'start without train.init_from', self.checked.init_from,
                    '; '.join(found), clip)

    def _identity_dims(self) -> dict[str, list[int]]:
        """Per key, the values the normalizer leaves as they are: a pose's quaternion or
        rotation matrix entries, as the data recorded them (the paper's rule)."""
        from dp_ros.recorded_sources import unit_rotation_columns

        c = self.policy_cfg
        identity = {k: cols for k in ('action', *c.low_dim_keys)
                    if (cols := unit_rotation_columns(c.dimension_names(k),
                                                      c.recorded_sources(k)))}
        if identity and self.is_main:
            log.info('rotation entries left unnormalized (in [-1, 1] already): %s',
                     ', '.join(f'{k} {[c.dimension_names(k)[i] for i in v]}'
                               for k, v in identity.items()))
        return identity

    # ------------------------------------------------------------------ train state
    @property
    def parts(self) -> TrainParts:
        return TrainParts(self.policy, self.param_names, self.optimizer, self.lr_scheduler,
                          self.ema, self.loss_gen)

    def _restore(self) -> None:
        progress = restore_train_state(self.state_path, self.saved, self.parts, rank=self.rank,
                                       world=self.world, device=self.device)
        self.pos, self.best_score = progress.position, progress.best_score
        self.elapsed_before, self.pending_eval = progress.elapsed_s, progress.pending_eval
        if progress.window_loss_sum is not None:
            self.loss_sum = progress.window_loss_sum.to(self.device).float().reshape(())
            self.n_since = progress.window_steps
        if self.checked.changed and self.is_main:
            # what a resume cannot honour was refused in check_run: these take effect
            log.warning('resuming with config changes that take effect from step %d: %s',
                        self.pos.step, ', '.join(self.checked.changed))
        if self.is_main:
            log.info('resumed from %s at step %d (epoch %d, batch %d)', self.state_path,
                     self.pos.step, self.pos.epoch, self.pos.batch)

    def _saved_section(self, name: str) -> dict[str, Any]:
        """A section of the resumed run's saved config, with today's key names."""
        return saved_config_data(self.saved.get('config') or {}).get(name) or {}

    def _resize_position(self) -> None:
        """A resume with another data.batch_size goes on at the window of the epoch's order
        it reached (batch_index_resized), not at the saved batch number of the old size."""
        old = int(self._saved_section('data').get('batch_size', self.cfg.data.batch_size))
        new = self.cfg.data.batch_size
        if old == new or self.pos.batch == 0:
            return
        index = batch_index_resized(self.pos.batch, old, new)
        epoch, taken = self.pos.epoch, self.pos.batch * old
        if index >= self.batches.per_epoch:
            self.pos.epoch, self.pos.batch = epoch + 1, 0
        else:
            self.pos.batch = index
        if self.is_main:
            log.info('data.batch_size %d -> %d: the run goes on where it was in the data order '
                     '(%d windows of epoch %d taken): epoch %d, batch %d', old, new,
                     taken, epoch, self.pos.epoch, self.pos.batch)

    def ema_state_dict(self) -> dict[str, torch.Tensor]:
        """The policy's state_dict with EMA parameters (the model's own if EMA is off)."""
        return ema_state_dict(self.parts)

    def save_train_state(self) -> Path:
        """Atomic: written to a temporary directory on every rank, then renamed by rank 0."""
        progress = Progress(self.pos, self.best_score, self.elapsed(), self.pending_eval,
                            self.loss_sum, self.n_since)
        with self._refused_write(self.run_dir / STATE_DIR, latest_kept=False):
            return save_train_state(self.run_dir, self.accelerator, self.parts, progress,
                                    self.cfg.to_dict(), split=self.split)

    def save_policy_artifact(self, name: str, metrics: dict | None = None) -> Path:
        """checkpoints/<name>: the EMA weights as a policy artifact, with where they came from."""
        from dp_ros.policy.checkpoint import save_policy
        provenance = {
            'step': self.pos.step, 'epoch': self.pos.epoch, 'ema': self.ema is not None,
            'dataset': str(self.cfg.data.resolved_zarr_path()), 'run_dir': str(self.run_dir),
            'metrics': {k: v for k, v in (metrics or {}).items() if finite(v)},
            'train_config': self.cfg.to_dict(), SPLIT: self.split, 'saved_at': time.time(),
        }
        target = self.run_dir / CHECKPOINTS_DIR / name
        with self._refused_write(target):
            return save_policy(self.policy, target,
                               control_period_s=self.cfg.train.control_period_s,
                               provenance=provenance, state_dict=self.ema_state_dict())

    @contextlib.contextmanager
    def _refused_write(self, target: Path, latest_kept: bool = True) -> Iterator[None]:
        """A save of `target` the machine refuses (a full disk, a file over the size limit)
        as RunWriteError naming it and the resume point kept (the saver removed its
        half-written copy); safetensors' own message names no file."""
        try:
            yield
        except Exception as exc:
            reason = refused_write(exc)
            if reason is None:
                raise
            then = (f'{self._again()} to resume' if self.last_saved >= 0 else
                    'run the same command again')
            raise run_write_error(target, reason, self._kept(latest_kept), then) from None

    # ------------------------------------------------------------------ measurements
    def _sync_eval_policy(self) -> nn.Module:
        self.eval_policy.load_state_dict(self.ema_state_dict())
        return self.eval_policy.eval()

    def validation_loss(self) -> float | None:
        return validation_loss(self.policy, self.val_ds, self.cfg.data, self.accelerator,
                               seed=self.cfg.train.seed,
                               max_batches=self.cfg.train.val_max_batches,
                               progress=self.is_main and self.cfg.train.progress)

    def action_mse(self) -> dict[str, float]:
        """The sampled-action MSE on fixed training windows and, when there are validation
        episodes, on fixed held-out windows (with the same noise seed)."""
        policy, e, seed = self._sync_eval_policy(), self.cfg.eval, self.cfg.train.seed
        out = {} if self.mse_batch is None else action_mse(policy, self.mse_batch, e, seed)
        if self.val_mse_batch is not None:
            out.update(action_mse(policy, self.val_mse_batch, e, seed, split='val'))
        return out

    def closed_loop(self) -> dict[str, Any] | None:
        name = f'eval_step{self.pos.step:07d}.{self.cfg.eval.video_format}'
        video = self.run_dir / MEDIA_DIR / name
        out = closed_loop_metrics(self._sync_eval_policy(), self.cfg.eval, rank=self.rank,
                                  world=self.world,
                                  progress=self.is_main and self.cfg.train.progress,
                                  should_stop=lambda: self.stop_signal is not None,
                                  video_path=video if self.is_main else None)
        if out is not None and 'video' in out:
            out['video'] = str(video.relative_to(self.run_dir))
        return out

    def _evaluate_and_keep_best(self) -> dict[str, Any] | None:
        """Closed-loop evaluation; a higher test/mean_score than any before becomes best.
        One a stop cuts short stays pending in the train state, for the resumed run to do."""
        metrics = self.closed_loop()
        # with episodes, None means a stop interrupted it (on some rank)
        self.pending_eval = self.pos.step if (
            metrics is None and self.cfg.eval.n_episodes > 0) else None
        if metrics is None:
            return None
        self.run_log.emit('eval', self.pos.step, self.pos.epoch, self.elapsed(), metrics)
        score = metrics['test/mean_score']
        if self.is_main:
            log.info('step %d: test/mean_score %.4f', self.pos.step, score)
        if self.best_score is None or score > self.best_score:
            self.best_score = score
            if self.is_main:
                self.save_policy_artifact(BEST, metrics)
        return metrics

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
        """Train to max_steps or a stop signal; returns a summary (step, best_score...)."""
        with tf32_matmuls(self.cfg.train.tf32 and self.device.type == 'cuda'):
            return self._run()

    def _run(self) -> dict[str, Any]:
        cfg, acc, t = self.cfg, self.accelerator, self.cfg.train
        self._t_start = time.perf_counter()
        if self.pos.step >= t.max_steps and self.pending_eval is None:
            # a finished run run again: no 'end' record, event file or config.yaml more
            if self.is_main:
                log.info('the run is already at max_steps %d: nothing to train (raise '
                         'train.max_steps to continue)', t.max_steps)
            return {'step': self.pos.step, 'epoch': self.pos.epoch,
                    'best_score': self.best_score, 'interrupted': None,
                    'run_dir': str(self.run_dir)}
        if self.is_main:
            cfg.save(self.run_dir / CONFIG_FILE)
        self.run_log = RunLog(self.run_dir, resume_step=self.pos.step, enabled=self.is_main)
        old_handlers = self._install_signals()
        # put back only after the final save and its record: a second Ctrl-C during them
        # says "still saving" instead of cutting the save short (the steps since the last
        # checkpoint were lost)
        try:
            accum = cfg.optim.grad_accum_steps
            if cfg.data.device_batches:
                from training.gpu_batches import DeviceBatches, iterate_device_batches

                it = iterate_device_batches(DeviceBatches.from_dataset(self.train_ds, self.device),
                                            self.batches, self.pos.epoch, self.pos.batch)
            else:
                it = iterate_batches(self.train_ds, self.batches, self.pos.epoch, self.pos.batch,
                                     cfg.data.num_workers, cfg.data.pin_memory,
                                     cfg.data.persistent_workers)
            if self.is_main:
                log.info('training %s for %d steps (%d batches/epoch/rank, %d process(es), '
                         'device %s, mixed precision %s%s), run dir %s',
                         type(self.policy).__name__, t.max_steps, self.batches.per_epoch,
                         self.world, self.device, self.precision,
                         f', torch.compile {t.torch_compile}: the first step compiles'
                         if t.torch_compile else '', self.run_dir)
                if not cfg.evaluates:
                    log.info('no closed-loop evaluation: no checkpoints/best; '
                             'checkpoints/latest holds the EMA weights, val_action_mse_norm is the '
                             'held-out curve, `dp-ros open-loop` the check after training')
                # with data.val_ratio > 0, a warning at the start said why there are none
                if len(self.val_ds) == 0 and (t.val_every or t.action_mse_every) and (
                        cfg.data.val_ratio <= 0):
                    log.info('no validation episodes (data.val_ratio %g): no val_loss, no '
                             'val_action_mse; the action MSE is on training windows only',
                             cfg.data.val_ratio)
            bar = tqdm(total=t.max_steps, initial=self.pos.step, desc='train', unit='step',
                       disable=not (self.is_main and t.progress), dynamic_ncols=True)
            # the log window: a resume goes on with the one its train state saved, so that its
            # first record is the mean the uninterrupted run logged
            if self.loss_sum is None:
                self.loss_sum = torch.zeros((), device=self.device)
            loss_sum, train_time, samples = self.loss_sum, 0.0, 0
            # a state continued from another folder is not saved in this one yet: a stop
            # before the first step saves it here (else the stop would say so and leave none)
            self.last_saved = self.pos.step if self.saved and self.resumed_in_place else -1
            first_unchecked = self.pos.step + 1  # losses from this step on not yet seen finite
            interrupted = None
            self.loss_module.train()

            def emit(event: str, values: dict[str, Any]) -> None:
                self.run_log.emit(event, self.pos.step, self.pos.epoch, self.elapsed(), values)

            def due(every: int, final: bool) -> bool:
                return (every > 0 and self.pos.step % every == 0) or (final and t.final_eval)

            try:
                interrupted = self._pending_evaluation()
                while not interrupted and self.pos.step < t.max_steps:
                    t0 = time.perf_counter()
                    gen_state = self.loss_gen.get_state()
                    step_loss = torch.zeros((), device=self.device)  # the window's once it is done
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
                        step_loss += loss.detach().float() / accum
                        samples += len(batch['action']) * self.world
                    if interrupted:  # a step cut short: its micro-batches' loss is not the window's
                        break
                    loss_sum += step_loss
                    if cfg.optim.max_grad_norm:
                        acc.clip_grad_norm_(self.policy.parameters(), cfg.optim.max_grad_norm)
                    self.optimizer.step()
                    # fp16's gradient scaler skips a step whose gradients overflowed: the
                    # weights did not move, so neither do the schedule and the EMA (as
                    # accelerate's prepared scheduler does; bf16 and fp32 never skip)
                    moved = not self.optimizer.step_was_skipped
                    if moved:
                        self.lr_scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.ema is not None and moved:
                        self.ema.step(self.policy.parameters())
                    self.pos.step += 1
                    self.pos.epoch, self.pos.batch = epoch, index + 1
                    if self.pos.batch >= self.batches.per_epoch:
                        self.pos.epoch, self.pos.batch = epoch + 1, 0
                    self.n_since += 1
                    train_time += time.perf_counter() - t0
                    bar.update(1)
                    final = self.pos.step == t.max_steps

                    if (t.log_every and self.pos.step % t.log_every == 0) or final:
                        mean = loss_sum / self.n_since
                        if self.world > 1:
                            mean = acc.reduce(mean, 'mean')
                        value = float(mean)
                        emit('train', {'loss': value, 'lr': self.lr_scheduler.get_last_lr()[0],
                                       'samples_per_s': samples / max(train_time, 1e-9),
                                       'ema_decay': self.ema.cur_decay_value if self.ema else None})
                        if not math.isfinite(value):  # the same value on every rank
                            raise self._diverged('the training loss', first_unchecked)
                        first_unchecked = self.pos.step + 1
                        bar.set_postfix(loss=f'{value:.4f}', epoch=self.pos.epoch, refresh=False)
                        loss_sum.zero_()
                        self.n_since, train_time, samples = 0, 0.0, 0
                    snapshot = bool(t.snapshot_every) and (
                        self.pos.step % t.snapshot_every == 0 or final)
                    checkpoint = (t.checkpoint_every and self.pos.step % t.checkpoint_every == 0
                                  ) or final
                    if (due(t.val_every, final) or due(t.action_mse_every, final) or snapshot
                            or checkpoint or (cfg.evaluates and due(t.eval_every, final))):
                        # nothing measures or saves weights a non-finite loss made
                        self._check_finite(loss_sum, first_unchecked)
                        first_unchecked = self.pos.step + 1
                    if due(t.val_every, final):
                        val = self.validation_loss()
                        if val is not None:
                            emit('val', {'val_loss': val})
                    if due(t.action_mse_every, final):
                        emit('action_mse', self.action_mse())
                    eval_metrics = None
                    if due(t.eval_every, final):
                        eval_metrics = self._evaluate_and_keep_best()
                    # before the resume point: a run killed between the two redoes this step
                    if self.is_main and snapshot:
                        self.save_policy_artifact(snapshot_name(self.pos.step), eval_metrics)
                        self._prune_snapshots()
                    if checkpoint:
                        self._save_resume_point(eval_metrics)
                    # a stop that came while the last step was saved ends nothing: the run
                    # is complete (it was marked interrupted for good: a rerun has nothing to
                    # train; a fault review), unless it cut the final evaluation short
                    if (not final or self.pending_eval is not None) and self._should_stop():
                        interrupted = self.stop_signal or 'signal on another rank'
                        break
                    if final and self.is_main and self.stop_signal is not None:
                        log.info('%s during the final save: the run is complete',
                                 self.stop_signal)
            finally:
                bar.close()
            if interrupted and self.last_saved != self.pos.step:
                self._check_finite(loss_sum, first_unchecked)
                self._save_resume_point()
            if self.is_main and interrupted:
                log.warning('%s: stopped at step %d, train state saved in %s; %s to continue',
                            interrupted, self.pos.step, self.run_dir / STATE_DIR, self._again())
            emit('end', {'interrupted': interrupted, 'best_score': self.best_score})
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
        self.run_log.close()
        self.run_log.plot()
        acc.wait_for_everyone()
        return {'step': self.pos.step, 'epoch': self.pos.epoch, 'best_score': self.best_score,
                'interrupted': interrupted, 'run_dir': str(self.run_dir)}

    def _prune_snapshots(self) -> None:
        """train.keep_snapshots: remove this run folder's step_* snapshots older than the
        newest N (by step, snapshot_step), each said once; latest, best and anything else
        in checkpoints/ stay."""
        keep = self.cfg.train.keep_snapshots
        if keep is None:
            return
        for path in snapshots_beyond(self.run_dir / CHECKPOINTS_DIR, keep):
            # set aside first, as a save stages: a removal cut short (a file that cannot be
            # unlinked, a kill) left a step_* folder without its weights under its name
            aside = staging_path(path)
            try:
                os.rename(path, aside)
            except OSError as exc:
                log.warning('snapshot %s kept: it cannot be set aside for removal (%s); '
                            'train.keep_snapshots %d', path, exc.strerror or exc, keep)
                continue
            freed = remove_all([aside])
            if os.path.lexists(aside):
                log.warning('snapshot %s removed from checkpoints/ but not whole from the disk '
                            '(%s bytes freed): %s is left, removed at the next start',
                            path, f'{freed:,}', aside.name)
            else:
                log.info('removed snapshot %s (%s bytes): train.keep_snapshots %d', path,
                         f'{freed:,}', keep)

    def _save_resume_point(self, metrics: dict[str, Any] | None = None) -> None:
        """checkpoints/latest (with these evaluation metrics) and train_state, at this step."""
        if self.is_main:
            self.save_policy_artifact(LATEST, metrics)
        self.save_train_state()
        self.last_saved = self.pos.step
        self.run_log.plot()

    def _pending_evaluation(self) -> str | None:
        """The evaluation a stop cut short at this step (saved as pending), done before
        training goes on, as the uninterrupted run did it here: its log record, best, and the
        metrics of latest (and of this step's snapshot), then the train state without it.
        Returns the stop signal when a stop cuts it short again."""
        step = self.pending_eval
        if step is None:
            return None
        if self.cfg.eval.n_episodes == 0 or step != self.pos.step:
            if self.is_main:
                log.warning('the closed-loop evaluation of step %d, cut short by a stop, is '
                            'not repeated (eval.n_episodes=%d, resumed at step %d)', step,
                            self.cfg.eval.n_episodes, self.pos.step)
            self.pending_eval = None
            # saved without it: a later start is a finished run's, not this warning again
            self.save_train_state()
            return None
        if self.is_main:
            log.info('step %d: the closed-loop evaluation a stop cut short, first', step)
        metrics = self._evaluate_and_keep_best()
        if self.pending_eval is not None:
            return self.stop_signal or 'signal on another rank'
        snapshot = self.run_dir / CHECKPOINTS_DIR / snapshot_name(step)
        if self.is_main and snapshot.is_dir():
            self.save_policy_artifact(snapshot.name, metrics)
        self._save_resume_point(metrics)
        return None

    def _check_finite(self, loss_sum: torch.Tensor, since: int) -> None:
        """NonFiniteLossError when a loss of the steps since `since` or a weight (trained or
        EMA) is NaN or inf. One synchronisation: called only where an event is due."""
        tensors = [*self.policy.parameters(), *(self.ema.shadow_params if self.ema else [])]
        weights = torch.stack([torch.isfinite(p).all() for p in tensors]).all()
        bad = torch.stack([~torch.isfinite(loss_sum), ~weights]).float()
        if self.world > 1:
            bad = self.accelerator.reduce(bad, 'max')
        loss_bad, weights_bad = (bool(b) for b in bad.tolist())
        if loss_bad:
            raise self._diverged('the training loss', since)
        if weights_bad:  # a finite loss whose gradients overflowed
            raise self._diverged('the weights', self.pos.step)

    def _diverged(self, what: str, since: int) -> NonFiniteLossError:
        """The error that stops a diverged run, after the log's last record: what became
        NaN or inf, when, and that the last resume point is kept."""
        steps = (f'step {self.pos.step}' if since >= self.pos.step
                 else f'steps {since}..{self.pos.step}')
        kept = self._kept()
        then = 'resume or start over with --resume never' if self.last_saved >= 0 else (
            'start over')
        message = (f'{what} became NaN or inf at {steps}; stopped without saving those '
                   f'weights: {kept}. Check the data for NaN or inf (`dp-ros inspect '
                   'DATASET`) and the learning rate (optim.lr; optim.max_grad_norm clips, and '
                   f'also applies on resume), then {then}')
        self.run_log.emit('end', self.pos.step, self.pos.epoch, self.elapsed(),
                          {'interrupted': None, 'best_score': self.best_score,
                           'error': message})
        self.run_log.close()
        return NonFiniteLossError(message)

    def _kept(self, latest_kept: bool = True) -> str:
        """What a run stopped by an error keeps: its last resume point (train_state, and
        checkpoints/latest unless this step's was written already: latest_kept False, a
        failed train state save, which comes after latest's)."""
        if self.last_saved < 0:  # latest may be written: its train state failed
            return ('this run saved nothing' if latest_kept else
                    f'this run saved no train state to resume from (checkpoints/latest holds '
                    f'step {self.pos.step})')
        state = self.run_dir / STATE_DIR
        if latest_kept or self.last_saved == self.pos.step:
            return f'{state} and checkpoints/latest stay at step {self.last_saved}'
        return (f'{state} stays at step {self.last_saved} (checkpoints/latest holds step '
                f'{self.pos.step})')

    def _again(self) -> str:
        """How to go on from the train state: this command again (--resume auto)."""
        return ('run the same command again' if self.resume == 'auto' else
                f'run the command again without --resume {self.resume}')  # auto: this one


def snapshots_beyond(folder: Path, keep: int) -> list[Path]:
    """The step_* snapshot folders in `folder` older than its newest `keep`, by step
    (snapshot_step: the names stop sorting by step past 999,999); nothing else."""
    if not folder.is_dir():
        return []
    steps = {p: step for p in folder.iterdir()
             if (step := snapshot_step(p)) is not None and p.is_dir() and not p.is_symlink()}
    order = sorted(steps, key=steps.__getitem__)
    return order[:max(0, len(order) - keep)]


def _reset_accelerate_state() -> None:
    """Let one process train more than once (tests, notebooks): accelerate keeps its
    settings (mixed precision, device) in process-wide singletons that refuse changes."""
    from accelerate.state import AcceleratorState, GradientState
    distributed = int(os.environ.get('WORLD_SIZE', '1')) > 1
    AcceleratorState._reset_state(reset_partial_state=not distributed)
    GradientState._reset_state()


def train(cfg: TrainConfig, run_dir: str | Path, resume: str = 'auto') -> dict[str, Any]:
    """Train (or continue) a run; returns a summary (step, best_score, interrupted...)."""
    return Trainer(cfg, run_dir, resume).run()
