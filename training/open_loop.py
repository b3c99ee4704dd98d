"""`dp-ros open-loop POLICY [POLICY ...]`: action chunks against recorded episodes, no robot.

On a real arm there is no simulator to score a policy: before it moves, this is the check.
At every n_action_steps-th step of each chosen episode the policy gets the recorded
observation history (the last n_obs_steps steps, the first one repeated at the start of an
episode, exactly as the training windows and the node build it) and samples a chunk; the
n_action_steps actions it would execute from that step on are compared with the recorded
ones. The report says which action dimensions (joints) it gets wrong, in their own units and
normalized to the training range (a dimension constant in the training data has no range:
named apart, in its own units only), how the error grows along a chunk, which episodes are
worst, and how it compares with holding the last recorded command (the `hold` baseline: a
policy that has learned nothing about motion; the command before each chunk, so an
episode's first chunk, with none before it, is not scored). The PNG shows the recorded
actions against every predicted chunk for the worst, the median and the best episode.

By default the episodes are the validation split the policy was trained without (policy.json
records the training config: dataset, keys, split); another dataset recorded with the same
keys (new bags through `dp-ros bag2zarr`) is compared over all of its episodes.

    dp-ros open-loop runs/my_arm/checkpoints/best --output reports/my_arm_open_loop.json

Several policies (the snapshots train.snapshot_every keeps, say) are compared on the same
episodes with the same sampling noise; the report and the plot give each one's error, beside
the training's closed-loop score where it evaluated them:

    dp-ros open-loop runs/my_arm/checkpoints/step_* --output reports/my_arm_snapshots.json

Open-loop errors are not closed-loop success: the recorded observations never show the
policy's own mistakes. They do show a policy that reads the wrong joints, a camera that
changed, or a chunk that drifts.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dp_ros.atomic_dir import check_writable_file, write_text
from dp_ros.errors import UserError
from dp_ros.policy.config import PolicyConfig
from dp_ros.recorded_sources import value_prefixes
from dp_ros.selection import EpisodeSpecError, parse_episodes
from training.config import DataConfig, TrainConfig
from training.dataset_meta import (
    ACTION,
    SPLIT,
    dataset_shape_meta,
    few,
    policy_data_misfit,
    split_change,
)
from training.lerobot_source import open_training_store
from training.replay_buffer import recorded_control_period
from training.train_state_file import snapshot_step

if TYPE_CHECKING:  # torch is imported where a policy runs: the checks answer without it
    import torch

    from training.dataset import PushTImageDataset

log = logging.getLogger(__name__)

REPORT_FORMAT = 'dp_ros.open_loop'
COMPARISON_FORMAT = 'dp_ros.open_loop_comparison'  # several policies on the same episodes
REPORT_VERSION = 1
Predict = Callable[[dict[str, 'torch.Tensor']], 'torch.Tensor']  # obs batch -> (B, horizon, A)


@dataclass
class EpisodeChunks:
    """One episode's recorded actions and the chunks the policy predicted along it."""

    episode: int  # index in the dataset
    recorded: np.ndarray  # (L, A) the recorded actions
    starts: list[int]  # the steps the policy planned at: 0, Ta, 2 Ta, ...
    predicted: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    # (n_chunks, horizon, A): action_pred, whose index To-1 is the chunk's start step


def chunk_starts(length: int, n_action_steps: int) -> list[int]:
    """The steps a policy that executes n_action_steps per plan plans at (replace mode)."""
    return list(range(0, length, n_action_steps))


def held_steps(starts: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The hold baseline's rule (here and in `dp-ros dry-run-report`): at each step, the step
    whose command holding the last command repeats, the one before the start of the chunk
    executing then (the latest of the sorted `starts` at or before the step); -1 where there
    is none (a step of a chunk starting at step 0, or before the first chunk)."""
    starts = np.asarray(starts, dtype=np.int64)
    chunk = np.searchsorted(starts, steps, side='right') - 1
    return np.where(chunk >= 0, starts[np.maximum(chunk, 0)] - 1, -1)


def executed_window(chunks: EpisodeChunks, n_obs_steps: int, n_action_steps: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(predicted, recorded, hold, valid) over the executed steps, each (n_chunks, Ta, A)
    but valid (n_chunks, Ta): False past the episode's end (nothing recorded to compare).
    hold repeats the command recorded the step before the chunk; an episode's first chunk
    has none (held_steps: -1), its hold is a placeholder (step 0's command) that held_window
    masks out."""
    length = len(chunks.recorded)
    predicted = chunks.predicted[:, n_obs_steps - 1:n_obs_steps - 1 + n_action_steps]
    steps = np.asarray(chunks.starts)[:, None] + np.arange(n_action_steps)[None, :]
    valid = steps < length
    recorded = chunks.recorded[np.minimum(steps, length - 1)]
    hold = chunks.recorded[np.maximum(held_steps(chunks.starts, steps), 0)]
    return predicted, recorded, hold, valid


def held_window(chunks: EpisodeChunks, n_action_steps: int) -> np.ndarray:
    """(n_chunks, Ta): the executed steps the hold baseline scores, those with a command
    recorded before their chunk (held_steps >= 0): holding the command it is compared with
    (a first chunk's step 0) would score a policy that learned nothing as exact."""
    steps = np.asarray(chunks.starts)[:, None] + np.arange(n_action_steps)[None, :]
    return (steps < len(chunks.recorded)) & (held_steps(chunks.starts, steps) >= 0)


def _rmse(err: np.ndarray, valid: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """Root mean square of err (n, Ta, A) over the valid steps, along axis; NaN where no
    step was valid."""
    w = np.broadcast_to(valid[..., None], err.shape).astype(np.float64)
    n = w.sum(axis=axis)
    return np.sqrt((np.where(w > 0, err, 0.0) ** 2 * w).sum(axis=axis)
                   / np.maximum(n, 1)) + np.where(n > 0, 0.0, np.nan)


def finite_list(values: np.ndarray) -> list[float | None]:
    """JSON numbers, None where not finite (nothing compared, or no scale): never a NaN, which
    json.dumps writes as no JSON, nor a 0.0 that reads as exact."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _finite(value: float) -> float | None:
    return finite_list(np.array([value]))[0]


def _step_text(value: float | None, width: int = 0, spec: str = '.3f') -> str:
    """A report number as text, '-' where there is none (nothing compared, no scale)."""
    return f'{"-":>{width}}' if value is None else f'{value:>{width}{spec}}'


def error_metrics(episodes: list[EpisodeChunks], scale: np.ndarray, n_obs_steps: int,
                  n_action_steps: int) -> dict[str, Any]:
    """The report's numbers. scale (A,): the normalizer's factor, raw units -> [-1, 1]; NaN
    for a dimension constant in the training data (action_scale), which every normalized
    figure leaves out (per dimension: None) and 'constant_dimensions' names: its raw errors
    are in per_dimension's rmse, mae and max_abs. The hold baseline scores the steps whose
    chunk has a command before it (held_window); None where there is none."""
    parts = [executed_window(e, n_obs_steps, n_action_steps) for e in episodes]
    pred, rec, hold, valid = (np.concatenate([p[i] for p in parts]) for i in range(4))
    held = np.concatenate([held_window(e, n_action_steps) for e in episodes])
    scaled = np.isfinite(scale)
    err, hold_err = pred - rec, hold - rec
    norm, hold_norm = err * scale, hold_err * scale

    def pooled(x: np.ndarray, v: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
        """The normalized RMSE over the scaled dimensions; NaN when none is."""
        if not scaled.any():
            return np.full([n for i, n in enumerate(x.shape) if i not in axis], np.nan)
        return _rmse(x[..., scaled], v, axis)

    abs_err = np.where(valid[..., None], np.abs(err), 0.0)
    per_episode = []
    for e, (p, r, h, v) in zip(episodes, parts, strict=True):
        per_episode.append({
            'episode': e.episode, 'length': int(len(e.recorded)), 'n_chunks': len(e.starts),
            'rmse_norm': _finite(pooled((p - r) * scale, v, (0, 1, 2))),
            'hold_rmse_norm': _finite(pooled((h - r) * scale,
                                             held_window(e, n_action_steps), (0, 1, 2)))})
    n_valid = int(valid.sum())
    return {
        'n_chunks': int(len(valid)), 'n_steps': n_valid, 'hold_n_steps': int(held.sum()),
        'rmse_norm': _finite(pooled(norm, valid, (0, 1, 2))),
        'hold_rmse_norm': _finite(pooled(hold_norm, held, (0, 1, 2))),
        'constant_dimensions': np.flatnonzero(~scaled).tolist(),
        'per_dimension': {
            'rmse': finite_list(_rmse(err, valid, (0, 1))),
            'mae': finite_list(abs_err.sum(axis=(0, 1)) / max(n_valid, 1)),
            'max_abs': finite_list(abs_err.max(axis=(0, 1))),
            'rmse_norm': finite_list(_rmse(norm, valid, (0, 1))),
            'hold_rmse': finite_list(_rmse(hold_err, held, (0, 1))),
            'hold_rmse_norm': finite_list(_rmse(hold_norm, held, (0, 1)))},
        'by_chunk_step': {  # index k: the k-th executed action of a chunk; None where no
            # chunk reached step k before its episode ended (episodes shorter than a chunk)
            'rmse_norm': finite_list(pooled(norm, valid, (0, 2))),
            'hold_rmse_norm': finite_list(pooled(hold_norm, held, (0, 2)))},
        'episodes': per_episode,
    }


def pose_errors(episodes: list[EpisodeChunks], names: list[str], n_obs_steps: int,
                n_action_steps: int) -> dict[str, float | None] | None:
    """Where the action holds a whole pose (dp_ros/pose_fields.py): the position error (in
    the data's units, m for a pose) and the orientation error (the angle between the
    predicted and the recorded orientation, degrees) over the executed steps, RMS and worst,
    and the same for holding the last command over the steps it scores (held_window; None
    where none). None when the action holds no whole pose; a prediction of no direction
    counts as 180 degrees off."""
    from dp_ros.pose_fields import POSE_FIELDS, pose_target, pose_target_problem, rotation_vector

    columns = [i for i, n in enumerate(names) if n in POSE_FIELDS]
    fields = [names[i] for i in columns]
    if not columns or pose_target_problem(fields) is not None:
        return None
    parts = [executed_window(e, n_obs_steps, n_action_steps) for e in episodes]
    pred, rec, hold, valid = (np.concatenate([p[i] for p in parts]) for i in range(4))
    held = np.concatenate([held_window(e, n_action_steps) for e in episodes])

    def errors(a: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position, angle = [], []
        for x, y in zip(a[steps][:, columns], rec[steps][:, columns], strict=True):
            want = pose_target(y, fields)  # the recorded pose
            try:
                got = pose_target(x, fields)
            except ValueError:
                position.append(np.nan)
                angle.append(180.0)
                continue
            position.append(float(np.linalg.norm(got[0] - want[0])))
            angle.append(float(np.degrees(np.linalg.norm(rotation_vector(want[1], got[1])))))
        return np.asarray(position), np.asarray(angle)

    out: dict[str, float | None] = {}
    for label, a, steps in (('', pred, valid), ('hold_', hold, held)):  # hold: held_window
        position, angle = errors(a, steps)
        known = position[np.isfinite(position)]
        rms = [np.sqrt(np.mean(known ** 2)) if len(known) else np.nan,
               np.max(known) if len(known) else np.nan,
               np.sqrt(np.mean(angle ** 2)) if len(angle) else np.nan,
               np.max(angle) if len(angle) else np.nan]
        for name, value in zip(('position_rmse', 'position_max', 'angle_rmse_deg',
                                'angle_max_deg'), finite_list(np.asarray(rms)), strict=True):
            out[label + name] = value
    return out


def pose_metrics(episodes: list[EpisodeChunks], names: list[str], prefixes: list[str] | None,
                 n_obs_steps: int, n_action_steps: int) -> dict[str, Any]:
    """pose_errors of the action's pose ('pose'), and of each end effector's where the
    training data prefixed their fields (bag2zarr's prefix, one per value:
    'poses_by_prefix', {prefix: errors}); {} when no whole pose is there."""
    prefixes = prefixes or [''] * len(names)
    out: dict[str, Any] = {}
    for prefix in dict.fromkeys(prefixes):
        pose = pose_errors(episodes, [n.removeprefix(p) if p == prefix else ''
                                      for n, p in zip(names, prefixes, strict=True)],
                           n_obs_steps, n_action_steps)
        if pose is not None and prefix:
            out.setdefault('poses_by_prefix', {})[prefix] = pose
        elif pose is not None:
            out['pose'] = pose
    return out


# --------------------------------------------------------------------------- the data

@dataclass
class Source:
    """The dataset a policy is compared on, and how its training read it."""

    path: Path
    data: DataConfig  # the training's keys, split and episode cap
    is_training_set: bool  # the dataset the policy was trained on (its split applies)
    split: dict | None = None  # the training's split record (None: saved before it was kept)


def training_data_config(meta: dict, where: str) -> tuple[DataConfig, list[Path]]:
    """(the training's data config, the paths its dataset had) from policy.json's provenance."""
    train_config = meta.get('provenance', {}).get('train_config')
    if not isinstance(train_config, dict):
        raise UserError(f'{where}: policy.json records no training config (provenance.'
                        'train_config), so which dataset keys the policy reads is unknown; '
                        'it was not saved by `dp-ros train`')
    data = TrainConfig.from_dict(train_config).data
    paths = [data.resolved_zarr_path()]
    recorded = meta['provenance'].get('dataset')
    if recorded:
        paths.insert(0, Path(recorded).expanduser())
    return data, paths


def resolve_source(meta: dict, dataset: Path | None, where: str) -> Source:
    """--dataset, or the one the policy was trained on (its recorded path, else the training
    config's path resolved from here)."""
    data, trained_on = training_data_config(meta, where)
    known = [p.resolve() for p in trained_on if p.exists()]
    split = meta['provenance'].get(SPLIT)
    split = split if isinstance(split, dict) else None
    if dataset is None:
        if not known:
            raise UserError(f'{where}: the dataset it was trained on is not here '
                            f'({", ".join(map(str, trained_on))}); pass --dataset PATH')
        return Source(known[0], data, True, split)
    if not dataset.exists():
        raise FileNotFoundError(f'dataset {dataset} not found')
    return Source(dataset.resolve(), data, dataset.resolve() in known, split)


def check_fits(config: PolicyConfig, source: Source) -> list[str]:
    """The dataset's arrays, as the training keys read them, against what the policy takes:
    UserError for other shapes or other joints; warnings (a list) for another camera crop.
    Reads array shapes and attributes only."""
    meta = dataset_shape_meta(source.path, **source.data.key_args())
    misfit = policy_data_misfit(config, meta)
    if misfit:
        raise UserError(f'{source.path}: {misfit}')
    warnings = []
    for key in config.rgb_keys:
        crop = meta['obs'][key].get('camera_crop')
        if crop != (None if config.camera_crop(key) is None else list(config.camera_crop(key))):
            warnings.append(f'{key}: the dataset\'s frames were cut with camera crop {crop}, '
                            f'the policy\'s with {config.camera_crop(key)}')
    return warnings


def check_period(entries: list[PolicyEntry], source: Source) -> None:
    """The dataset's recorded control period (zarr control_period_s or fps, a LeRobotDataset's
    fps, as training reads it) against each policy's: at another rate a chunk's steps span
    another stretch of the recording than the policy plans, so it is refused, as `dp-ros
    train` refuses it (run_check.resolve_control_period). A dataset recording none passes."""
    recorded = recorded_control_period(open_training_store(source.path))
    if recorded is None:
        return
    period, where = recorded
    for entry in entries:
        policy = float(entry.meta['control_period_s'])
        if not math.isclose(policy, period, rel_tol=1e-3):
            raise UserError(f'{source.path} records {where} ({period:.6g} s, {1 / period:g} Hz) '
                            f'but the policy {entry.path} runs at control_period_s {policy:g} s '
                            f'({1 / policy:g} Hz): its chunks would be compared with other '
                            'steps than it plans; compare it on data recorded at its rate, or '
                            'resample the data')


def _split_args(source: Source) -> dict[str, Any]:
    """The training's split, cap and excluded episodes on the training set; another dataset
    (new recordings with the same keys) has none of them: all its episodes."""
    return (source.data.split_args() if source.is_training_set else
            {'val_ratio': 0.0, 'max_train_episodes': None, 'exclude_episodes': None})


def load_windows(config: PolicyConfig, source: Source, progress: bool,
                 episodes: list[int] | None = None) -> PushTImageDataset:
    """The dataset with one window per step of each episode: step t's window holds the
    observations t-To+1..t (the first repeated before an episode starts) and the horizon's
    actions from t-To+1 on, split as the training split it (_split_args). episodes: load
    these alone (their windows are the same; the memory is theirs, not the whole set's);
    None: every episode."""
    from training.dataset import PushTImageDataset

    return PushTImageDataset(
        source.path, horizon=config.horizon, pad_before=config.n_obs_steps - 1,
        pad_after=config.horizon - config.n_obs_steps, progress=progress,
        obs_steps=config.n_obs_steps, episodes=episodes, **_split_args(source),
        **source.data.key_args())


@dataclass
class EpisodeSplit:
    """A dataset's episodes and the training's split of them, from its metadata alone: what
    select_episodes chooses from before any frame is loaded."""

    episode_ends: np.ndarray
    val_mask: np.ndarray
    train_mask: np.ndarray

    @property
    def n_val_episodes(self) -> int:
        return int(self.val_mask.sum())


def episode_split(source: Source) -> EpisodeSplit:
    """The split load_windows draws (PushTImageDataset's), without reading the frames."""
    from training.dataset_meta import excluded_episodes
    from training.sampler import split_masks

    args = _split_args(source)
    ends = np.asarray(open_training_store(source.path).episode_ends, dtype=np.int64)
    excluded = excluded_episodes(len(ends), args['exclude_episodes'], str(source.path))
    val, train = split_masks(len(ends), args['val_ratio'], args['max_train_episodes'],
                             args.get('seed', 0), excluded)  # other data: no draw
    return EpisodeSplit(ends, val, train)


def check_split(spec: str | None, source: Source) -> None:
    """A split names episodes of the training set only (checked before any data is read)."""
    if spec in ('val', 'train') and not source.is_training_set:
        raise UserError(f'--episodes {spec}: {source.path} is not the dataset the policy was '
                        f'trained on, so it has no {spec} split; use all or a list')


def select_episodes(spec: str | None, ds: EpisodeSplit | PushTImageDataset, source: Source
                    ) -> tuple[str, list[int]]:
    """(what was chosen, episode indices). None: the held-out split of the training set, or
    every episode of another dataset. ds: the split (episode_split), or a dataset of every
    episode."""
    n = len(ds.episode_ends)
    if spec is None:
        spec = 'val' if source.is_training_set and ds.n_val_episodes else 'all'
    check_split(spec, source)
    if spec in ('val', 'train'):
        change = source.split and split_change(source.split, ds.episode_ends)
        if change:  # drawn anew over other episodes: not the training's split
            then = ','.join(map(str, source.split.get(f'{spec}_episodes') or ()))
            raise UserError(
                f'--episodes {spec}: {source.path} changed since the policy was trained '
                f'({change}), so its split is not the training\'s; pass --episodes all or a '
                'list' + (f' (if episodes were only added at the end, the training\'s {spec} '
                          f'episodes are --episodes {then})' if then else ''))
        mask = ds.val_mask if spec == 'val' else ds.train_mask
        recorded = (source.split or {}).get(f'{spec}_episodes')
        if isinstance(recorded, list) and all(isinstance(e, int) and 0 <= e < n
                                              for e in recorded):
            # the episodes the training used, as its checkpoint recorded them: a split drawn
            # anew (another numpy, an older dp_ros) may differ, and scoring training
            # episodes as held out would flatter the policy
            mask = np.zeros(n, dtype=bool)
            mask[recorded] = True
        if not mask.any():
            raise UserError(f'--episodes {spec}: the training held out no episodes '
                            '(data.val_ratio 0); use all or a list')
        return spec, np.flatnonzero(mask).tolist()
    if spec == 'all':
        return spec, list(range(n))
    chosen = parse_episodes(spec, n)
    if chosen is None:  # '' (a shell variable left empty): parse_episodes' "all" for callers
        # whose default is every episode; here it names none, as ',' does
        raise EpisodeSpecError(f'episodes {spec!r}: the dataset has episodes 0..{n - 1}')
    return spec, chosen


def with_steps(episodes: list[int], episode_ends: np.ndarray, chosen: str
               ) -> tuple[list[int], list[int]]:
    """(the chosen episodes that have steps, those that have none): an episode of no steps
    has no chunk to compare (a store written by another tool may hold one); UserError when
    none of them has a step."""
    lengths = np.diff(np.concatenate([[0], np.asarray(episode_ends, dtype=np.int64)]))
    empty = [e for e in episodes if lengths[e] == 0]
    kept = [e for e in episodes if lengths[e] > 0]
    if not kept:
        raise UserError(f'--episodes {chosen}: episode(s) {empty} have no steps: nothing to '
                        'compare; choose others (--episodes all or a list)')
    return kept, empty


def loaded_index(ds: PushTImageDataset, episodes: list[int]) -> list[int]:
    """The indices in `ds` (load_windows: its loaded episodes) of the store's `episodes`."""
    return np.searchsorted(ds.store_episodes, episodes).tolist()


def check_finite(ds: PushTImageDataset, episodes: list[int]) -> None:
    """NaN or inf in the chosen episodes' actions or low-dim observations, refused before
    any sampling and naming key, dimensions and episodes (store indices), as `dp-ros train`
    refuses it: one such value makes every metric NaN, and the report no JSON."""
    bad = ds.nonfinite_values(loaded_index(ds, episodes))
    if bad:
        where = '; '.join(f'{key} dimension(s) {dims} in episode(s) '
                          f'{ds.store_episodes[eps].tolist()}'
                          for key, (dims, eps) in bad.items())
        raise UserError(f'{ds.zarr_path}: non-finite values (NaN or inf): {where}; every error '
                        'would be NaN: fix the data, or leave those episodes out of --episodes')


# --------------------------------------------------------------------------- the run

def predict_episodes(predict: Predict, ds: PushTImageDataset, episodes: list[int],
                     n_action_steps: int, batch_size: int, progress: bool
                     ) -> list[EpisodeChunks]:
    """Every chunk of the chosen episodes (store indices: ds may hold these alone, see
    load_windows) through predict, batch_size windows at a time."""
    import torch
    from torch.utils.data import default_collate
    from tqdm.auto import tqdm

    buffer = ds.replay_buffer
    local = dict(zip(episodes, loaded_index(ds, episodes), strict=True))
    mask = np.zeros(buffer.n_episodes, dtype=bool)
    mask[list(local.values())] = True
    windows = ds.subset(mask)
    lengths = [int(buffer.episode_lengths[local[e]]) for e in sorted(episodes)]
    if len(windows) != sum(lengths):
        raise AssertionError(f'{len(windows)} windows for {sum(lengths)} steps')
    out, items, offset = [], [], 0
    for e, length in zip(sorted(episodes), lengths, strict=True):
        recorded = buffer.data[ACTION][buffer.episode_slice(local[e])]
        chunk = EpisodeChunks(e, np.asarray(recorded, dtype=np.float64),
                              chunk_starts(length, n_action_steps))
        items += [offset + t for t in chunk.starts]
        offset += length
        out.append(chunk)
    preds = []
    with tqdm(total=len(items), desc='open-loop chunks', unit='chunk',
              disable=not progress) as bar:
        for i in range(0, len(items), batch_size):
            batch = default_collate([windows[j] for j in items[i:i + batch_size]])
            preds.append(predict(batch['obs']).detach().to('cpu', torch.float64).numpy())
            bar.update(len(preds[-1]))
    pred = np.concatenate(preds) if preds else np.zeros((0,))
    k = 0
    for chunk in out:
        chunk.predicted = pred[k:k + len(chunk.starts)]
        k += len(chunk.starts)
    order = {e: i for i, e in enumerate(episodes)}
    return sorted(out, key=lambda c: order[c.episode])


def policy_predictor(policy: Any, sampler: str | None, num_inference_steps: int | None,
                     sample_seed: int) -> Predict:
    """The policy's action_pred for an observation batch; one generator for the whole run,
    so the same seed, batch size and episodes give the same numbers."""
    import torch

    gen = torch.Generator(device=policy.device).manual_seed(sample_seed)

    @torch.no_grad()
    def predict(obs: dict[str, torch.Tensor]) -> torch.Tensor:
        obs = {k: v.to(policy.device) for k, v in obs.items()}
        return policy.predict_action(obs, generator=gen, sampler=sampler,
                                     num_inference_steps=num_inference_steps)['action_pred']
    return predict


def action_scale(policy: Any) -> np.ndarray:
    """Per action dimension: the normalizer's factor from raw units to [-1, 1]; NaN for a
    dimension constant in the training data (range under RANGE_EPS: the normalizer only
    shifts it, so its factor 1 is no scale and its error stays in raw units), but for a
    rotation entry the normalizer leaves as it is (in [-1, 1] whatever its range)."""
    import torch

    from dp_ros.policy.normalizer import RANGE_EPS
    from dp_ros.recorded_sources import unit_rotation_columns

    norm = policy.normalizer
    config = policy.config
    dim = config.action_dim
    one = norm.normalize(ACTION, torch.ones(dim)) - norm.normalize(ACTION, torch.zeros(dim))
    scale = one.detach().cpu().double().numpy()
    stats = norm.stats.get(ACTION, {})
    if 'min' in stats and 'max' in stats:  # fp32, as the normalizer compared them
        span = np.asarray(stats['max'], np.float32) - np.asarray(stats['min'], np.float32)
        constant = span < RANGE_EPS
        constant[unit_rotation_columns(config.dimension_names(ACTION),
                                       config.recorded_sources(ACTION))] = False
        scale[constant] = np.nan
    return scale


def outside_training_range(ds: PushTImageDataset, episodes: list[int],
                           normalizer: dict[str, Any]) -> list[str]:
    """The low-dim observations of `episodes` (store indices) far outside the range the
    policy's normalizer was fitted on (the policy node's rule, StateRange: more than that
    range beyond it), per key: where the network sees values it never saw, and may
    overflow. `normalizer`: policy.json's mapping."""
    from dp_ros.runtime.state_range import state_range

    buffer, keys = ds.replay_buffer, list(ds.low_dim_keys)
    values = [np.concatenate([np.asarray(buffer.data[k][buffer.episode_slice(i)], np.float64)
                              .reshape(len(buffer.data[k][buffer.episode_slice(i)]), -1)
                              for i in loaded_index(ds, episodes)]) for k in keys]
    sizes = [v.shape[1] for v in values]
    bounds = state_range(normalizer, keys, sizes,
                         [f'{k}[{d}]' for k, n in zip(keys, sizes, strict=True)
                          for d in range(n)])
    if bounds is None:
        return []
    far, out, start = bounds.far_dimensions(np.concatenate(values, axis=1)), [], 0
    for key, size, v in zip(keys, sizes, values, strict=True):
        dims = np.flatnonzero(far[start:start + size])
        low, high = bounds.low[start:start + size], bounds.high[start:start + size]
        if len(dims):
            beyond = np.maximum(low - v, v - high)[:, dims].max()
            out.append(f'{key} dimension(s) {dims.tolist()} up to {beyond:.3g} outside its '
                       'training range')
        start += size
    return out


def check_chunks_finite(chunks: list[EpisodeChunks], where: object, ds: PushTImageDataset,
                        normalizer: dict[str, Any]) -> None:
    """Chunks the policy predicted NaN or inf (finite data far outside its training range
    overflows its network), refused naming the episodes, the steps it planned at and the
    observations outside the training range: no error can be measured there, and one such
    value made every metric NaN and the report no JSON. `normalizer`: policy.json's."""
    bad = {c.episode: [c.starts[k] for k in
                       np.flatnonzero(~np.isfinite(c.predicted).all(axis=(1, 2)))]
           for c in chunks}
    bad = {e: steps for e, steps in bad.items() if steps}
    if not bad:
        return
    episodes = list(bad)
    where_bad = '; '.join(f'episode {e} at step(s) {few(bad[e], 5)}' for e in episodes[:5])
    if len(episodes) > 5:
        where_bad += f'; and {len(episodes) - 5} more episode(s)'
    outside = outside_training_range(ds, episodes, normalizer)
    hint = (f'; in those episodes {", ".join(outside)}' if outside else '')
    raise UserError(f'{where}: {sum(map(len, bad.values()))} chunk(s) came out not finite '
                    f'(NaN or inf): {where_bad}{hint}; no error can be measured there: '
                    'compare on data like the training\'s, or leave those episodes out of '
                    '--episodes')


# --------------------------------------------------------------------------- the outputs

def pick_for_plot(metrics: dict[str, Any], n: int) -> list[tuple[str, int]]:
    """(label, episode): the worst, the median and the best by normalized RMSE, up to n."""
    ranked = sorted(metrics['episodes'], key=lambda e: -(e['rmse_norm'] or 0.0))
    picks = [('worst', 0), ('median', len(ranked) // 2), ('best', len(ranked) - 1)]
    if len(ranked) < 3:  # no median of its own: two episodes are the worst and the best
        picks = [picks[0], picks[2]]
    out: list[tuple[str, int]] = []
    for label, i in picks:
        e = ranked[i]['episode']
        if len(out) < n and e not in [p[1] for p in out]:
            out.append((label, e))
    return out


def plot_open_loop(episodes: list[EpisodeChunks], picks: list[tuple[str, int]],
                   metrics: dict[str, Any], names: list[str], period_s: float,
                   n_obs_steps: int, n_action_steps: int, out_path: Path,
                   title: str | None = None) -> Path:
    """One column per picked episode, one row per action dimension: the recorded actions
    (black), each chunk's executed actions (solid), the rest of its plan (dotted), chunks in
    alternating colours so that each one's start shows; title (the policy and the dataset)
    above them all, as a PNG passed around loses its command line."""
    import textwrap

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D

    from training.plots import save_figure

    by_ep = {c.episode: c for c in episodes}
    rmse = {e['episode']: e for e in metrics['episodes']}
    dims = len(names)
    fig, axes = plt.subplots(dims, len(picks), figsize=(5.5 * len(picks), 1.9 * dims + 0.9),
                             sharex='col', squeeze=False)
    colors = ('tab:blue', 'tab:orange')
    for col, (label, e) in enumerate(picks):
        c = by_ep[e]
        t = np.arange(len(c.recorded)) * period_s
        for d in range(dims):
            ax = axes[d, col]
            ax.plot(t, c.recorded[:, d], color='black', lw=1.2, label='recorded')
            for k, start in enumerate(c.starts):
                steps = start - (n_obs_steps - 1) + np.arange(c.predicted.shape[1])
                run = slice(n_obs_steps - 1, n_obs_steps - 1 + n_action_steps)
                color = colors[k % 2]
                ax.plot(steps * period_s, c.predicted[k, :, d], color=color, lw=0.7, ls=':')
                ax.plot(steps[run] * period_s, c.predicted[k, run, d], color=color, lw=1.5)
            ax.set_ylabel(names[d], fontsize=9)
            ax.grid(alpha=0.3)
        r = rmse[e]
        axes[0, col].set_title(f'{label}: episode {e}, normalized RMSE '
                               f'{_step_text(r["rmse_norm"])} (hold '
                               f'{_step_text(r["hold_rmse_norm"])})', fontsize=9)
        axes[-1, col].set_xlabel('time (s)')

    def pair(**style: Any) -> tuple[Line2D, ...]:  # one legend entry for both colours
        return tuple(Line2D([], [], color=color, **style) for color in colors)

    axes[0, 0].legend([Line2D([], [], color='black', lw=1.2), pair(lw=1.5), pair(lw=0.7, ls=':')],
                      ['recorded', 'predicted, executed (chunks alternate colours)',
                       'predicted, rest of the plan'],
                      handler_map={tuple: HandlerTuple(ndivide=None)}, handlelength=4, fontsize=7,
                      loc='best')
    if title:  # wrapped to the figure's width (about 10 characters an inch at this size)
        fig.suptitle(textwrap.fill(title, int(10 * fig.get_figwidth())), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path)


def pose_line(pose: dict[str, float | None]) -> str:
    """A pose action's errors (pose_errors) in words: metres and degrees."""
    def t(key: str, spec: str) -> str:
        return _step_text(pose[key], spec=spec)

    return (f"position RMSE {t('position_rmse', '.4g')} (max {t('position_max', '.4g')}), "
            f"orientation RMSE {t('angle_rmse_deg', '.3g')} deg (max "
            f"{t('angle_max_deg', '.3g')}); holding the last command: "
            f"{t('hold_position_rmse', '.4g')}, {t('hold_angle_rmse_deg', '.3g')} deg")


def format_summary(report: dict[str, Any]) -> str:
    m, names = report['metrics'], report['action_names']
    pd = m['per_dimension']
    w = max([16] + [len(n) + 2 for n in names])  # the name column fits the longest joint name
    lines = [f"{report['policy']} on {report['dataset']}",
             f"episodes {report['episodes_chosen']} ({len(report['episodes'])}), "
             f"{m['n_chunks']} chunks, {m['n_steps']} executed steps compared",
             f"{'action':<{w}}{'rmse':>10}{'mae':>10}{'max|err|':>10}{'rmse_norm':>11}"
             f"{'hold_norm':>11}"]
    for i, name in enumerate(names):
        lines.append(f'{name:<{w}}{_step_text(pd["rmse"][i], 10, ".4g")}'
                     f'{_step_text(pd["mae"][i], 10, ".4g")}'
                     f'{_step_text(pd["max_abs"][i], 10, ".4g")}'
                     f'{_step_text(pd["rmse_norm"][i], 11, ".4f")}'
                     f'{_step_text(pd["hold_rmse_norm"][i], 11, ".4f")}')
    steps = ' '.join(_step_text(v) for v in m['by_chunk_step']['rmse_norm'])
    worst = sorted(m['episodes'], key=lambda e: -(e['rmse_norm'] or 0.0))[:3]
    constant = [names[i] for i in m.get('constant_dimensions', [])]
    lines += [f"normalized RMSE {_step_text(m['rmse_norm'], spec='.4f')}; holding the last "
              f"command: {_step_text(m['hold_rmse_norm'], spec='.4f')} (over the "
              f"{m.get('hold_n_steps', m['n_steps'])} steps of chunks with a command before "
              'them: not an episode\'s first)',
              f'normalized RMSE by step of the chunk: {steps}',
              'worst episodes: ' + ', '.join(f"{e['episode']} ({_step_text(e['rmse_norm'])})"
                                             for e in worst)]
    if constant:
        lines.append(f'constant in the training data (no range to normalize by; left out of '
                     f'the normalized errors, their raw errors above): {", ".join(constant)}')
    if m.get('pose'):
        lines.append('pose: ' + pose_line(m['pose']))
    lines += [f'pose {prefix}*: {pose_line(pose)}'
              for prefix, pose in m.get('poses_by_prefix', {}).items()]
    lines += [f'warning: {w}' for w in report['warnings']]
    return '\n'.join(lines)


def _lowest_key(metrics: dict[str, Any]) -> float:
    """The comparison's order: the normalized RMSE, None (no dimension has a scale) last."""
    value = metrics['rmse_norm']
    return math.inf if value is None else value


def comparison_axis(policies: list[dict[str, Any]]) -> tuple[list[float], str, list[str]]:
    """(x positions, x label, tick labels): the training steps when each policy has its own,
    else the order given, labelled by directory name."""
    steps = [p['step'] for p in policies]
    if all(isinstance(s, int) for s in steps) and len(set(steps)) == len(steps):
        return [float(s) for s in steps], 'training step', []
    return [float(i) for i in range(len(policies))], 'policy', \
        [Path(p['policy']).name for p in policies]


def plot_comparison(report: dict[str, Any], out_path: Path) -> Path:
    """Normalized RMSE of each policy (all executed steps, and the first and last executed
    action of a chunk) beside holding the last command; the training's closed-loop score on
    a second axis where the policies carry one."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from training.plots import save_figure

    x, xlabel, ticks = comparison_axis(report['policies'])
    order = sorted(range(len(x)), key=x.__getitem__)  # lines along the step axis, not back
    policies = [report['policies'][i] for i in order]  # and forth in the order given
    x, ticks = [x[i] for i in order], [ticks[i] for i in order] if ticks else ticks
    m = [p['metrics'] for p in policies]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(x, np.array([v['rmse_norm'] for v in m], dtype=float), 'o-', color='tab:blue', lw=2,
            label='open-loop normalized RMSE')
    def at_step(k: int) -> np.ndarray:  # NaN (no point) where nothing was compared
        return np.array([v['by_chunk_step']['rmse_norm'][k] for v in m], dtype=float)

    ax.plot(x, at_step(0), '.:', color='tab:blue', label='first action of a chunk')
    ax.plot(x, at_step(-1), '.--', color='tab:blue', label='last executed action')
    if m[0]['hold_rmse_norm'] is not None:  # None: only first chunks (nothing before them)
        ax.axhline(m[0]['hold_rmse_norm'], color='gray', ls='--', lw=1,
                   label='holding the last command')
    best = min(range(len(m)), key=lambda i: _lowest_key(m[i]))
    ax.plot([x[best]], [m[best]['rmse_norm']], '*', color='tab:red', ms=14,
            label='lowest error')
    ax.set_xlabel(xlabel)
    ax.set_ylabel('normalized RMSE (lower is better)')
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ticks:
        ax.set_xticks(x, ticks, rotation=20, fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    scores = [p['closed_loop_score'] for p in policies]
    if any(s is not None for s in scores):
        right = ax.twinx()
        pts = [(xi, s) for xi, s in zip(x, scores, strict=True) if s is not None]
        right.plot(*zip(*pts, strict=True), 's-', color='tab:green',
                   label='closed-loop score (training evaluation)')
        right.set_ylabel('closed-loop score (higher is better)')
        right.set_ylim(0, 1)
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.14),
              ncol=3, frameon=False)
    ax.set_title(f"{len(report['episodes'])} episodes ({report['episodes_chosen']}) of "
                 f"{Path(report['dataset']).name}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path)


def format_comparison(report: dict[str, Any]) -> str:
    lines = [f"{len(report['policies'])} policies on {report['dataset']}, episodes "
             f"{report['episodes_chosen']} ({len(report['episodes'])}), the same sampling noise",
             f"{'policy':<44}{'step':>8}{'rmse_norm':>11}{'first':>8}{'last':>8}"
             f"{'score':>8}"]
    for p in report['policies']:
        m = p['metrics']
        by_step = m['by_chunk_step']['rmse_norm']
        score = '' if p['closed_loop_score'] is None else f"{p['closed_loop_score']:.3f}"
        step = '' if p['step'] is None else str(p['step'])
        mark = '  <- lowest' if p['policy'] == report['lowest_error'] else ''
        lines.append(f"{p['policy'][-44:]:<44}{step:>8}{_step_text(m['rmse_norm'], 11, '.4f')}"
                     f"{_step_text(by_step[0], 8)}{_step_text(by_step[-1], 8)}{score:>8}{mark}")
    lines.append(f"holding the last command: "
                 f"{_step_text(report['policies'][0]['metrics']['hold_rmse_norm'], spec='.4f')}")
    lines += [f"pose of {p['policy'][-44:]}: {pose_line(p['metrics']['pose'])}"
              for p in report['policies'] if p['metrics'].get('pose')]
    lines += [f"pose {prefix}* of {p['policy'][-44:]}: {pose_line(pose)}"
              for p in report['policies']
              for prefix, pose in p['metrics'].get('poses_by_prefix', {}).items()]
    lines += [f'warning: {w}' for w in report['warnings']]
    return '\n'.join(lines)


# --------------------------------------------------------------------------- the command

def build_parser() -> argparse.ArgumentParser:
    from dp_ros.policy.hub import checkpoint_arg

    p = argparse.ArgumentParser(prog='dp-ros open-loop', description=__doc__.splitlines()[0])
    p.add_argument('policy', type=checkpoint_arg, nargs='+',
                   help='policy directory (policy.json) or hf://org/name[@revision]; several '
                        '(RUN/checkpoints/step_*): compared on the same episodes')
    p.add_argument('--dataset', type=Path,
                   help='zarr or LeRobot dataset with the training keys (default: the one '
                        'the policy was trained on)')
    p.add_argument('--episodes',
                   help="val, train, all, 'A:B' or 'N,M,...' (default: val on the training "
                        'set, all on another dataset)')
    p.add_argument('--output', type=Path, required=True, help='report JSON path')
    p.add_argument('--plot', type=Path,
                   help='PNG of recorded vs predicted actions; of several policies, their '
                        'errors side by side (default: --output as .png)')
    p.add_argument('--no-plot', action='store_true')
    p.add_argument('--plot-episodes', type=int, default=3,
                   help='episodes in the plot of one policy: the worst, the median, the '
                        'best (1-3)')
    p.add_argument('--sampler', choices=('ddpm', 'ddim'), help="default: the policy's")
    p.add_argument('--num-inference-steps', type=int, help="default: the policy's")
    p.add_argument('--sample-seed', type=int, default=0)
    p.add_argument('--batch-size', type=int, default=32, help='chunks sampled together')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda', 'cuda:N' or 'auto'")
    p.add_argument('--threads', type=int, help='torch.set_num_threads')
    p.add_argument('--eager', action='store_true',
                   help='the eager UNet (default: TorchScript-frozen, as the node)')
    p.add_argument('--no-progress', action='store_true')
    return p


def check_args(args: argparse.Namespace) -> None:
    for flag, value in (('--batch-size', args.batch_size), ('--threads', args.threads),
                        ('--num-inference-steps', args.num_inference_steps)):
        if value is not None and value < 1:
            raise UserError(f'{flag} must be >= 1, got {value}')
    if not 1 <= args.plot_episodes <= 3:
        raise UserError(f'--plot-episodes must be 1, 2 or 3, got {args.plot_episodes}')
    check_writable_file(args.output, '--output')  # before the run, not after it
    if not args.no_plot:
        from training.plots import check_figure_path

        check_figure_path(plot_path(args), '--plot' if args.plot else '--output (its .png)')
        check_plot_apart(plot_path(args), args.output, given=args.plot is not None)


def plot_path(args: argparse.Namespace) -> Path:
    return args.plot or args.output.with_suffix('.png')


def check_plot_apart(plot: Path, output: Path, given: bool) -> None:
    """A plot at the report's path (--output X.png, whose default plot is X.png; a --plot
    naming the report) would replace the report it is drawn after: refused before the run,
    here and in `dp-ros dry-run-report`. given: the plot's path is --plot's, not the
    default."""
    if Path(plot).resolve() != Path(output).resolve():
        return
    if given:
        raise UserError(f'--plot {plot} is --output {output}: the plot would replace the '
                        'report; give --plot another path')
    raise UserError(f'--output {output}: the plot would replace the report (its default '
                    'path is --output as .png); give the report a .json name, or --plot '
                    'another path')


@dataclass
class PolicyEntry:
    """One policy of the command line, read (not loaded): where, its metadata and config."""

    arg: str  # as given
    path: Path  # the resolved directory
    meta: dict
    config: PolicyConfig

    @property
    def step(self) -> int | None:
        return self.meta.get('provenance', {}).get('step')

    @property
    def closed_loop_score(self) -> float | None:
        """The training's closed-loop score of these weights, when it evaluated them."""
        from dp_ros.policy.checkpoint import recorded_score

        return recorded_score(self.meta.get('provenance', {}))


def read_entries(args: list[str]) -> list[PolicyEntry]:
    from dp_ros.policy.checkpoint import metadata_config, read_policy_metadata
    from dp_ros.policy.hub import resolve_policy_dir

    out = []
    for arg in args:
        path = resolve_policy_dir(arg)
        meta = read_policy_metadata(path)
        out.append(PolicyEntry(str(arg), path, meta, metadata_config(meta, path)))
    return in_step_order(out)


def in_step_order(entries: list[PolicyEntry]) -> list[PolicyEntry]:
    """The policies in the order given, the step_* snapshots of one folder among them in
    step order, in the places that folder's snapshots hold: a shell's RUN/checkpoints/step_*
    lists step_1000000 before step_200000 (the names sort by step up to 999,999 only,
    train_state_file.snapshot_name); snapshots of other runs keep the order given."""
    groups: dict[Path, list[int]] = {}
    for i, e in enumerate(entries):
        if snapshot_step(e.path) is not None:
            groups.setdefault(Path(e.path).parent.resolve(), []).append(i)
    out = list(entries)
    for places in groups.values():
        ordered = sorted((entries[i] for i in places), key=lambda e: snapshot_step(e.path))
        for i, e in zip(places, ordered, strict=True):
            out[i] = e
    return out


def check_inference_steps(entries: list[PolicyEntry], steps: int | None) -> None:
    """--num-inference-steps beyond a policy's diffusion steps, refused before anything is
    loaded rather than at its first chunk."""
    if steps is None:
        return
    for e in entries:
        try:
            e.config.check_inference_steps(steps, '--num-inference-steps')
        except ValueError as exc:
            raise UserError(f'{e.path}: {exc}') from None


def common_source(entries: list[PolicyEntry], dataset: Path | None) -> Source:
    """The one dataset, keys and split all the policies are compared on: policies trained
    on other data or with another timeline (horizon, n_obs_steps, n_action_steps: other
    compared steps, hold baseline and noise draws) are compared one command each."""
    sources = [resolve_source(e.meta, dataset, str(e.path)) for e in entries]
    first, f = sources[0], entries[0]
    for e, s in zip(entries[1:], sources[1:], strict=True):
        same = (s.path == first.path and s.data.key_args() == first.data.key_args()
                and (s.data.split_args() == first.data.split_args()  # another dataset: no
                     or not (s.is_training_set or first.is_training_set)))  # split applies
        if not same:
            raise UserError(f'{e.path} was trained on another dataset, keys or split than '
                            f'{f.path}: compare policies of one training set, or pass '
                            '--dataset and --episodes')
        if timeline(e.config) != timeline(f.config):  # other windows, chunks or holds
            raise UserError(f'{e.path} takes horizon {e.config.horizon} / n_obs_steps '
                            f'{e.config.n_obs_steps} / n_action_steps {e.config.n_action_steps}'
                            f', {f.path} {" / ".join(map(str, timeline(f.config)))}: their '
                            'chunks cover other steps (another hold baseline, other noise); '
                            'compare them one command each')
    return first


def timeline(config: PolicyConfig) -> tuple[int, int, int]:
    """What sets the compared steps: the windows (horizon, n_obs_steps) and the chunks'
    executed steps (n_action_steps: where it plans, what holding the last command scores)."""
    return config.horizon, config.n_obs_steps, config.n_action_steps


def policy_report(entry: PolicyEntry, ds: PushTImageDataset, episodes: list[int],
                  args: argparse.Namespace, device: Any) -> tuple[dict[str, Any], list]:
    """One policy's chunks along the episodes: (its report fields, its EpisodeChunks)."""
    from dp_ros.policy.checkpoint import load_policy

    config = entry.config
    policy = load_policy(entry.path, device=device)
    policy.use_torchscript(not args.eager)
    predict = policy_predictor(policy, args.sampler, args.num_inference_steps,
                               args.sample_seed)
    chunks = predict_episodes(predict, ds, episodes, config.n_action_steps, args.batch_size,
                              progress=not args.no_progress)
    check_chunks_finite(chunks, entry.path, ds, policy.normalizer.to_dict())
    metrics = error_metrics(chunks, action_scale(policy), config.n_obs_steps,
                            config.n_action_steps)
    names = config.dimension_names(ACTION) or []
    sources = config.recorded_sources(ACTION)
    metrics.update(pose_metrics(chunks, names, value_prefixes(sources) if sources else None,
                                config.n_obs_steps, config.n_action_steps))
    return {
        'policy': entry.arg, 'step': entry.step, 'closed_loop_score': entry.closed_loop_score,
        'sampler': args.sampler or config.sampler,
        'num_inference_steps': args.num_inference_steps or config.num_inference_steps,
        'n_obs_steps': config.n_obs_steps, 'n_action_steps': config.n_action_steps,
        'control_period_s': entry.meta['control_period_s'], 'metrics': metrics,
    }, chunks


def run_open_loop(args: argparse.Namespace
                  ) -> tuple[dict[str, Any], Callable[[], Path] | None]:
    """One policy: its report and plot. Several (snapshots of one run, say): the same
    episodes and the same sampling noise for each, and a comparison report and plot.
    (the report, what draws its plot (None: --no-plot)): the report names the plot's path
    and is written first, so that a plot that fails loses no report.

    The policies, the dataset, the split and their fit are checked from metadata first; the
    device last, as it imports torch (seconds): a wrong path is reported in under one."""
    entries = read_entries(args.policy)
    check_inference_steps(entries, args.num_inference_steps)
    source = common_source(entries, args.dataset)
    check_split(args.episodes, source)
    warnings = list(dict.fromkeys(w for e in entries for w in check_fits(e.config, source)))
    check_period(entries, source)
    from dp_ros.runtime.inference_runner import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    config = entries[0].config
    split = episode_split(source)
    chosen, episodes = select_episodes(args.episodes, split, source)
    episodes, empty = with_steps(episodes, split.episode_ends, chosen)
    if empty:  # a store written by another tool may hold one; train leaves it windowless
        warnings.append(f'episode(s) {empty} have no steps: left out')
    ds = load_windows(config, source, progress=not args.no_progress, episodes=episodes)
    check_finite(ds, episodes)
    if chosen == 'all' and source.is_training_set and split.n_val_episodes < len(episodes):
        warnings.append('most of these episodes were trained on: their errors are lower '
                        'than on new data (--episodes val: the held-out ones)')
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    names = config.dimension_names(ACTION) or [f'action[{i}]' for i in range(config.action_dim)]
    shared: dict[str, Any] = {
        'dataset': str(source.path), 'trained_on_this_dataset': source.is_training_set,
        'episodes_chosen': chosen, 'episodes': episodes, 'action_names': names,
        'sample_seed': args.sample_seed, 'batch_size': args.batch_size, 'device': str(device),
        'torchscript': not args.eager, 'warnings': warnings}
    if len(entries) > 1:
        return compare_policies(entries, ds, episodes, args, device, shared)
    fields, chunks = policy_report(entries[0], ds, episodes, args, device)
    report: dict[str, Any] = {'format': REPORT_FORMAT, 'format_version': REPORT_VERSION,
                              **shared, **fields}
    if args.no_plot:
        return report, None
    metrics = report['metrics']
    picks = pick_for_plot(metrics, args.plot_episodes)
    path = plot_path(args)
    report['plot'] = str(path)
    report['plot_episodes'] = [{'label': label, 'episode': e} for label, e in picks]
    return report, lambda: plot_open_loop(chunks, picks, metrics, names,
                                          float(report['control_period_s']),
                                          config.n_obs_steps, config.n_action_steps, path,
                                          title=f"open loop: {report['policy']} on "
                                                f"{report['dataset']}")


def compare_policies(entries: list[PolicyEntry], ds: PushTImageDataset, episodes: list[int],
                     args: argparse.Namespace, device: Any, shared: dict[str, Any]
                     ) -> tuple[dict[str, Any], Callable[[], Path] | None]:
    """Each policy's report on the same windows, in the order given (step_* snapshots in step
    order: in_step_order), and which one has the lowest normalized RMSE."""
    policies = []
    for i, entry in enumerate(entries):
        log.info('policy %d/%d: %s', i + 1, len(entries), entry.arg)
        policies.append(policy_report(entry, ds, episodes, args, device)[0])
    lowest = min(policies, key=lambda p: _lowest_key(p['metrics']))
    report: dict[str, Any] = {'format': COMPARISON_FORMAT, 'format_version': REPORT_VERSION,
                              **shared, 'lowest_error': lowest['policy'], 'policies': policies}
    if args.no_plot:
        return report, None
    path = plot_path(args)
    report['plot'] = str(path)
    return report, lambda: plot_comparison(report, path)


def main(argv: list[str] | None = None) -> int:
    """Expected errors are raised as UserError: `dp-ros open-loop` (dp_ros/cli.py) prints
    them as one line."""
    args = build_parser().parse_args(argv)
    check_args(args)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s '
                        '%(message)s', stream=sys.stderr)
    report, draw = run_open_loop(args)
    # the report before the plot; allow_nan=False: a NaN left in it is a bug, not a JSON
    # token no strict reader takes
    write_text(args.output, json.dumps(report, indent=1, allow_nan=False) + '\n')
    if draw is not None:
        draw()
    comparison = report['format'] == COMPARISON_FORMAT
    print(format_comparison(report) if comparison else format_summary(report))
    print(f'-> {args.output}' + (f", {report['plot']}" if 'plot' in report else ''))
    return 0


if __name__ == '__main__':  # `dp-ros open-loop` applies the one-line error rule
    sys.exit(main())
