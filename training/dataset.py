"""Torch dataset of (observation history, action chunk) windows from a zarr replay buffer.

Matches the paper's PushTImageDataset item for item, but holds images as uint8 in memory
(0.7 GB instead of 2.8 GB for Push-T) and converts each sampled window to float32 [0, 1].
The observation keys are configurable so that bag2zarr datasets (other cameras, joint
states) load through the same class.
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from training.dataset_meta import (
    ACTION,
    check_has_episodes,
    excluded_episodes,
    images_to_uint8,
    observation_keys,
    split_record,
    store_shapes,
)
from training.errors import DatasetError
from training.lerobot_source import open_training_store
from training.replay_buffer import ReplayBuffer, read_array
from training.sampler import SequenceSampler, min_episode_length, split_masks

log = logging.getLogger(__name__)


def _chosen_episodes(n_episodes: int, episodes: Sequence[int], where: str) -> np.ndarray:
    """The sorted distinct store indices of `episodes`; DatasetError for one the store lacks,
    or for none at all (None loads every episode)."""
    if len(episodes) == 0:
        raise DatasetError(f'{where}: episodes [] names no episode to load (None: all '
                           f'{n_episodes})')
    bad = [e for e in episodes if not isinstance(e, (int, np.integer))
           or isinstance(e, bool) or not 0 <= e < n_episodes]
    if bad:
        raise DatasetError(f'{where}: episodes {bad} are not episodes of this dataset '
                           f'(0..{n_episodes - 1})')
    return np.unique(np.asarray(list(episodes), dtype=np.int64))


class PushTImageDataset(torch.utils.data.Dataset):
    """Windows of `horizon` steps: {'obs': {name: (T, ...)}, 'action': (T, A)}, float32.

    rgb_keys maps observation names to image arrays stored (N, H, W, C) 0..255 and yields
    (T, C, H, W) in [0, 1]; low_dim_keys maps names to 'key' or 'key[a:b]' column slices.
    Left as None they are the Push-T defaults built from image_key and state_key.
    """

    def __init__(self, zarr_path: str | Path, horizon: int = 16, pad_before: int = 1,
                 pad_after: int = 7, seed: int = 42, val_ratio: float = 0.02,
                 max_train_episodes: int | None = None, image_key: str = 'img',
                 state_key: str = 'state', action_key: str = 'action',
                 rgb_keys: Mapping[str, str] | None = None,
                 low_dim_keys: Mapping[str, str | tuple[str, slice | None]] | None = None,
                 progress: bool = True, obs_steps: int | None = None,
                 exclude_episodes: Sequence[int] | None = None,
                 episodes: Sequence[int] | None = None) -> None:
        """obs_steps: yield only the first obs_steps observations of each window (the policy's
        n_obs_steps; it reads no more); None: all `horizon` of them, as the paper's dataset.
        exclude_episodes: episodes out of training, validation and the normalizer statistics
        (bad demonstrations); the split and the max_train_episodes cap are drawn over all
        episodes before they are taken out, so the others stay on their side of it (an
        excluded episode among the capped ones leaves one training episode fewer).
        episodes: load only these episodes of the store (`dp-ros open-loop` compares a few of
        a large set); the split, the cap and the exclusion are drawn over all its episodes as
        above, then kept for these, and each gives the windows it gives in the whole set.
        This object's arrays, masks and episode indices are then those of the loaded
        episodes, in store order (store_episodes: their indices in the store); None: all."""
        self.rgb_keys, self.low_dim_keys = observation_keys(image_key, state_key, rgb_keys,
                                                            low_dim_keys)
        self.action_key = action_key
        self.zarr_path = str(zarr_path)
        self.replay_buffer, self.load_seconds, excluded, self.store_episodes = self._load(
            progress, exclude_episodes, episodes)
        val_mask, train_mask = split_masks(len(excluded), val_ratio, max_train_episodes, seed,
                                           excluded)
        self.excluded = excluded[self.store_episodes]
        self.val_mask = val_mask[self.store_episodes]
        self.train_mask = train_mask[self.store_episodes]
        self.horizon = horizon
        self.pad_before = pad_before
        self.pad_after = pad_after
        self.seed = seed
        self.obs_steps = obs_steps
        self.episode_mask = self.train_mask
        self.sampler = self._sampler(self.episode_mask)

    def _load(self, progress: bool, exclude_episodes: Sequence[int] | None,
              episodes: Sequence[int] | None
              ) -> tuple[ReplayBuffer, float, np.ndarray, np.ndarray]:
        """(the arrays in memory, seconds, the excluded episodes' mask over all the store's
        episodes, the store indices of the loaded ones); the keys and the episodes are checked
        before anything is read."""
        t0 = time.perf_counter()
        source = open_training_store(self.zarr_path)  # zarr, or a LeRobotDataset
        store_shapes(source, self.rgb_keys, self.low_dim_keys, self.action_key, self.zarr_path)
        check_has_episodes(source.n_episodes, self.zarr_path)
        excluded = excluded_episodes(source.n_episodes, exclude_episodes, self.zarr_path)
        if episodes is None:
            chosen, ranges = np.arange(source.n_episodes), None
        else:
            chosen = _chosen_episodes(source.n_episodes, episodes, self.zarr_path)
            ranges = source.step_ranges(chosen)
        ends = np.cumsum(source.episode_lengths[chosen], dtype=np.int64)
        n_steps = int(ends[-1]) if len(ends) else 0
        data: dict[str, np.ndarray] = {}
        for name, key in self.rgb_keys.items():
            data[name] = read_array(source.data[key], convert=images_to_uint8(key, self.zarr_path),
                                    desc=f'loading {key}', progress=progress, ranges=ranges)
        columns: dict[str, np.ndarray] = {}
        for name, (key, sl) in self.low_dim_keys.items():
            if key not in columns:
                columns[key] = read_array(source.data[key], progress=False, ranges=ranges)
            arr = columns[key]
            data[name] = np.ascontiguousarray(arr.reshape(len(arr), -1)[:, sl], dtype=np.float32)
        data[ACTION] = read_array(source.data[self.action_key], progress=False,
                                  ranges=ranges).astype(np.float32).reshape(n_steps, -1)
        seconds = time.perf_counter() - t0
        log.info('loaded %s: %d of %d episodes, %d steps in %.1f s', self.zarr_path,
                 len(chosen), source.n_episodes, n_steps, seconds)
        return ReplayBuffer.from_arrays(data, ends), seconds, excluded, chosen

    def _sampler(self, mask: np.ndarray) -> SequenceSampler:
        first_k = None if self.obs_steps is None else {
            name: self.obs_steps for name in (*self.rgb_keys, *self.low_dim_keys)}
        return SequenceSampler(self.replay_buffer, self.horizon, pad_before=self.pad_before,
                               pad_after=self.pad_after, episode_mask=mask,
                               key_first_k=first_k)

    # ------------------------------------------------------------------ info
    @property
    def episode_ends(self) -> np.ndarray:
        return self.replay_buffer.episode_ends

    @property
    def n_train_episodes(self) -> int:
        return int(self.train_mask.sum())

    @property
    def n_val_episodes(self) -> int:
        return int(self.val_mask.sum())

    @property
    def n_episodes(self) -> int:
        """Episodes this dataset object samples from (train or val)."""
        return int(self.episode_mask.sum())

    @property
    def min_episode_length(self) -> int:
        """The fewest steps an episode needs to give a window (sampler.min_episode_length)."""
        return min_episode_length(self.horizon, self.pad_before, self.pad_after)

    def windowless_episodes(self, mask: np.ndarray) -> list[int]:
        """The episodes of `mask` too short to give a window: left out without a word by the
        sampler, so a run names them."""
        short = self.replay_buffer.episode_lengths < self.min_episode_length
        return np.flatnonzero(short & np.asarray(mask, dtype=bool)).tolist()

    def split_record(self) -> dict:
        """What identifies this split (dataset_meta.split_record): a run saves it, and a
        resume refuses a dataset whose episodes differ from those it was drawn over."""
        return split_record(self.episode_ends, self.val_mask, self.train_mask)

    def obs_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-step shape of each observation as __getitem__ returns it (images C, H, W)."""
        shapes = {}
        for name in self.rgb_keys:
            h, w, c = self.replay_buffer.data[name].shape[1:]
            shapes[name] = (c, h, w)
        for name in self.low_dim_keys:
            shapes[name] = tuple(self.replay_buffer.data[name].shape[1:])
        return shapes

    @property
    def action_dim(self) -> int:
        return int(self.replay_buffer.data[ACTION].shape[1])

    def get_validation_dataset(self) -> PushTImageDataset:
        """The same data over the validation episodes.

        The paper uses ~train_mask, which with max_train_episodes set also pulls the capped
        training episodes into validation; this uses the validation split only.
        """
        return self.subset(self.val_mask)

    def subset(self, mask: np.ndarray) -> PushTImageDataset:
        """The same data and windowing over the episodes in mask (shares the arrays)."""
        sub = copy.copy(self)
        sub.episode_mask = np.asarray(mask, dtype=bool)
        sub.sampler = self._sampler(sub.episode_mask)
        return sub

    def get_normalizer_data(self) -> dict[str, np.ndarray]:
        """Action and low-dim observations over all episodes (the paper fits on all data) but
        the excluded ones."""
        steps = np.repeat(~self.excluded, self.replay_buffer.episode_lengths)
        data = self.replay_buffer.data
        return {name: data[name][steps] for name in (ACTION, *self.low_dim_keys)}

    def nonfinite_episodes(self) -> dict[str, list[int]]:
        """Per normalized key (action, low-dim observations), the episodes (not excluded)
        with NaN or inf values: what to fix, or leave out with data.exclude_episodes."""
        kept = np.flatnonzero(~self.excluded).tolist()
        return {name: episodes for name, (_, episodes) in self.nonfinite_values(kept).items()}

    def nonfinite_values(self, episodes: list[int]) -> dict[str, tuple[list[int], list[int]]]:
        """Per normalized key (action, low-dim observations) with NaN or inf values in
        `episodes`: (its dimensions, the episodes) holding them, for an error that says where."""
        buffer = self.replay_buffer
        episode = np.repeat(np.arange(buffer.n_episodes), buffer.episode_lengths)
        chosen = np.isin(episode, episodes)
        out = {}
        for name in (ACTION, *self.low_dim_keys):
            values = buffer.data[name]
            bad = ~np.isfinite(values.reshape(len(values), -1)) & chosen[:, None]
            if bad.any():
                out[name] = (np.flatnonzero(bad.any(axis=0)).tolist(),
                             np.unique(episode[bad.any(axis=1)]).tolist())
        return out

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, idx: int) -> dict[str, dict[str, torch.Tensor] | torch.Tensor]:
        sample = self.sampler.sample_sequence(idx)
        obs = {}
        for name in self.rgb_keys:
            image = torch.from_numpy(sample[name]).permute(0, 3, 1, 2)
            obs[name] = image.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
        for name in self.low_dim_keys:
            obs[name] = torch.from_numpy(np.array(sample[name], dtype=np.float32))
        action = torch.from_numpy(np.array(sample[ACTION], dtype=np.float32))
        return {'obs': obs, ACTION: action}
