"""Torch dataset of (observation history, action chunk) windows from a zarr replay buffer.

Matches the paper's PushTImageDataset item for item, but holds images as uint8 in memory
(0.7 GB instead of 2.8 GB for Push-T) and converts each sampled window to float32 [0, 1].
The observation keys are configurable so that bag2zarr datasets (other cameras, joint
states) load through the same class.
"""
from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from dp_ros.dimension_names import NAMES, names_of
from dp_ros.image_fit import CAMERA_CROP
from dp_ros.recorded_sources import SOURCES, check_sources
from training.errors import DatasetError, DatasetKeyError
from training.lerobot_source import open_training_store
from training.replay_buffer import ReplayBuffer, read_array
from training.sampler import SequenceSampler, downsample_mask, get_val_mask

log = logging.getLogger(__name__)

ACTION = 'action'
_KEY_SPEC = re.compile(r'^\s*([\w./-]+)\s*(?:\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\])?\s*$')


def parse_low_dim_key(spec: str | tuple[str, slice | None]) -> tuple[str, slice]:
    """'state[:2]' or ('state', slice(0, 2)) -> ('state', slice(0, 2)); 'state' -> all columns.

    The string form is what YAML configs can hold.
    """
    if isinstance(spec, tuple):
        key, sl = spec
        return key, slice(None) if sl is None else sl
    match = _KEY_SPEC.match(spec)
    if match is None:
        raise DatasetError(f"low-dim key spec {spec!r} is not 'key' or 'key[start:stop]'")
    key, start, stop = match.groups()
    return key, slice(int(start) if start else None, int(stop) if stop else None)


def images_to_uint8(key: str, source: str = ''):
    """Block converter: float 0..255 images -> uint8, refusing values that would change.

    source (the store) prefixes the messages.
    """
    where = f'{source}: ' if source else ''

    def convert(block: np.ndarray) -> np.ndarray:
        if block.dtype == np.uint8 or block.size == 0:
            return block.astype(np.uint8, copy=False)
        if np.issubdtype(block.dtype, np.floating) or np.issubdtype(block.dtype, np.integer):
            lo, hi = block.min(), block.max()
            if lo < 0 or hi > 255:
                raise DatasetError(f'{where}image array {key!r} has values in [{lo}, {hi}], '
                                   f'expected 0..255')
            out = block.astype(np.uint8)
            if np.issubdtype(block.dtype, np.floating) and not np.array_equal(out, block):
                bad = block[out != block].flat[0]
                raise DatasetError(f'{where}image array {key!r} holds non-integral values '
                                   f'(e.g. {bad}); cannot keep it as uint8')
            return out
        raise DatasetError(f'{where}image array {key!r} has unsupported dtype {block.dtype}')
    return convert


def observation_keys(image_key: str = 'img', state_key: str = 'state',
                     rgb_keys: Mapping[str, str] | None = None,
                     low_dim_keys: Mapping[str, str | tuple[str, slice | None]] | None = None,
                     ) -> tuple[dict[str, str], dict[str, tuple[str, slice]]]:
    """(rgb_keys, low_dim_keys) of a dataset config: obs name -> image array, and obs name ->
    (array, column slice); None gives the Push-T defaults built from image_key and state_key."""
    rgb = dict(rgb_keys) if rgb_keys is not None else {'image': image_key}
    raw_low_dim = low_dim_keys if low_dim_keys is not None else {
        'agent_pos': (state_key, slice(0, 2))}
    low_dim = {name: parse_low_dim_key(spec) for name, spec in raw_low_dim.items()}
    clash = (set(rgb) & set(low_dim)) | ({ACTION} & (set(rgb) | set(low_dim)))
    if clash:
        raise DatasetError(f'observation names must be unique and not {ACTION!r}: {clash}')
    return rgb, low_dim


def store_shapes(source: ReplayBuffer, rgb_keys: Mapping[str, str],
                 low_dim_keys: Mapping[str, tuple[str, slice]], action_key: str, where: str
                 ) -> tuple[dict[str, tuple[int, ...]], int]:
    """(per-step shape of each observation as the dataset yields it, images (C, H, W); the
    action size), from the store's array shapes alone: nothing is read. Checks that every
    array the config names is there and fits (DatasetError naming `where`, the store)."""
    needed = [*rgb_keys.values(), *(k for k, _ in low_dim_keys.values()), action_key]
    missing = sorted({k for k in needed if k not in source.data})
    if missing:
        raise DatasetKeyError(f'{where} has no data/{missing[0]}, which the config names '
                              f'(available: {source.keys()})')
    shapes: dict[str, tuple[int, ...]] = {}
    for name, key in rgb_keys.items():
        shape = tuple(source.data[key].shape)
        if len(shape) != 4:
            raise DatasetError(f'{where}: image array {key!r} has shape {shape}, '
                               f'expected (N, H, W, C)')
        h, w, c = shape[1:]
        shapes[name] = (c, h, w)
    for name, (key, sl) in low_dim_keys.items():
        shape = tuple(source.data[key].shape)
        width = len(range(int(np.prod(shape[1:])))[sl])
        if width == 0:
            raise DatasetError(f'{where}: low-dim key {name!r} selects no columns of {key!r} '
                               f'(shape {shape}, slice {sl})')
        shapes[name] = (width,)
    return shapes, int(np.prod(source.data[action_key].shape[1:]))


def recorded(sources: object, width: int | None) -> list[dict] | None:
    """The topics bag2zarr recorded for an array, when they are well formed; else None
    (unknown, never a guess)."""
    try:
        return check_sources(sources, width, SOURCES)
    except ValueError:
        return None


def dataset_shape_meta(zarr_path: str | Path, *, image_key: str = 'img',
                       state_key: str = 'state', action_key: str = 'action',
                       rgb_keys: Mapping[str, str] | None = None,
                       low_dim_keys: Mapping[str, str | tuple[str, slice | None]] | None = None,
                       ) -> dict:
    """The policy's shape_meta for the windows PushTImageDataset makes of a store (images
    first: the feature concatenation order), from its array shapes, with each image's
    camera_crop and each low-dim key's and the action's value names (joints) when they were
    recorded: the dataset and its keys in the config are checked before anything is read."""
    rgb, low_dim = observation_keys(image_key, state_key, rgb_keys, low_dim_keys)
    source = open_training_store(zarr_path)  # zarr, or a LeRobotDataset
    shapes, action_dim = store_shapes(source, rgb, low_dim, action_key, str(zarr_path))
    obs = {k: {'shape': list(shapes[k]), 'type': 'rgb'} for k in rgb}
    for name, key in rgb.items():  # the camera crop bag2zarr cut the frames with
        crop = source.attrs(key).get(CAMERA_CROP)
        if crop is not None:
            obs[name][CAMERA_CROP] = list(crop)
        sources = recorded(source.attrs(key).get(SOURCES), None)
        if sources is not None:
            obs[name][SOURCES] = sources
    obs.update({k: {'shape': list(shapes[k]), 'type': 'low_dim'} for k in low_dim})
    action = {'shape': [action_dim]}
    # the names of the values (joints) bag2zarr or a LeRobot dataset recorded, sliced as used
    for entry, (key, sl) in [*((obs[k], v) for k, v in low_dim.items()),
                             (action, (action_key, slice(None)))]:
        width = int(np.prod(source.data[key].shape[1:]))
        names = names_of(source.attrs(key).get(NAMES), width)
        if names is not None:
            entry[NAMES] = names[sl]
        sources = recorded(source.attrs(key).get(SOURCES), width)
        if sources is not None and sl in (None, slice(None)):  # a slice: not the whole key
            entry[SOURCES] = sources
    return {'obs': obs, 'action': action}


def excluded_episodes(n_episodes: int, episodes: Sequence[int] | None, where: str
                      ) -> np.ndarray:
    """Boolean mask of the episodes data.exclude_episodes names; DatasetError naming `where`
    for an index the dataset does not have."""
    mask = np.zeros(n_episodes, dtype=bool)
    bad = [e for e in episodes or () if not isinstance(e, (int, np.integer))
           or isinstance(e, bool) or not 0 <= e < n_episodes]
    if bad:
        raise DatasetError(f'{where}: exclude_episodes {bad} are not episodes of this dataset '
                           f'(0..{n_episodes - 1})')
    mask[list(episodes or ())] = True
    return mask


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
                 exclude_episodes: Sequence[int] | None = None) -> None:
        """obs_steps: yield only the first obs_steps observations of each window (the policy's
        n_obs_steps; it reads no more); None: all `horizon` of them, as the paper's dataset.
        exclude_episodes: episodes out of training, validation and the normalizer statistics
        (bad demonstrations); the split is drawn over all episodes before they are taken out,
        so the others stay on their side of it."""
        self.rgb_keys, self.low_dim_keys = observation_keys(image_key, state_key, rgb_keys,
                                                            low_dim_keys)
        self.action_key = action_key
        self.zarr_path = str(zarr_path)
        self.replay_buffer, self.load_seconds, self.excluded = self._load(progress,
                                                                          exclude_episodes)
        n_episodes = self.replay_buffer.n_episodes
        val = get_val_mask(n_episodes, val_ratio, seed=seed)
        self.val_mask = val & ~self.excluded
        self.train_mask = downsample_mask(~val & ~self.excluded, max_train_episodes, seed=seed)
        self.horizon = horizon
        self.pad_before = pad_before
        self.pad_after = pad_after
        self.seed = seed
        self.obs_steps = obs_steps
        self.episode_mask = self.train_mask
        self.sampler = self._sampler(self.episode_mask)

    def _load(self, progress: bool, exclude_episodes: Sequence[int] | None
              ) -> tuple[ReplayBuffer, float, np.ndarray]:
        """(the arrays in memory, seconds, the excluded episodes' mask); the keys and the
        excluded episodes are checked before anything is read."""
        t0 = time.perf_counter()
        source = open_training_store(self.zarr_path)  # zarr, or a LeRobotDataset
        store_shapes(source, self.rgb_keys, self.low_dim_keys, self.action_key, self.zarr_path)
        excluded = excluded_episodes(source.n_episodes, exclude_episodes, self.zarr_path)
        data: dict[str, np.ndarray] = {}
        for name, key in self.rgb_keys.items():
            data[name] = read_array(source.data[key], convert=images_to_uint8(key, self.zarr_path),
                                    desc=f'loading {key}', progress=progress)
        columns: dict[str, np.ndarray] = {}
        for name, (key, sl) in self.low_dim_keys.items():
            if key not in columns:
                columns[key] = read_array(source.data[key], progress=False)
            arr = columns[key]
            data[name] = np.ascontiguousarray(arr.reshape(len(arr), -1)[:, sl], dtype=np.float32)
        data[ACTION] = read_array(source.data[self.action_key], progress=False).astype(
            np.float32).reshape(source.n_steps, -1)
        seconds = time.perf_counter() - t0
        log.info('loaded %s: %d episodes, %d steps in %.1f s', self.zarr_path,
                 source.n_episodes, source.n_steps, seconds)
        return ReplayBuffer.from_arrays(data, source.episode_ends.copy()), seconds, excluded

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
