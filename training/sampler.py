"""Fixed-length windows over episodes, padded at the edges as in the Diffusion Policy paper.

A window may start up to pad_before steps before an episode and end up to pad_after steps
after it; the missing steps repeat the first/last frame. With pad_before = n_obs_steps - 1
and pad_after = n_action_steps - 1 (the paper's) every step of an episode is an executed
action of some window, and each step from the first to the last horizon - n_obs_steps -
n_action_steps + 1 steps before the end (7 for 16/2/8) is a window's current observation.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # no zarr import: the device batches (GPU machine, no zarr) use this module
    from training.replay_buffer import ReplayBuffer


def create_indices(episode_ends: np.ndarray, sequence_length: int, episode_mask: np.ndarray,
                   pad_before: int = 0, pad_after: int = 0, debug: bool = True) -> np.ndarray:
    """All windows of the masked episodes as rows of
    (buffer_start_idx, buffer_end_idx, sample_start_idx, sample_end_idx).

    buffer_* is the slice of real steps to read, sample_* where it lands in the window;
    window positions before sample_start / from sample_end on are edge padding.
    Same rows, in the same order, as the paper's sampler.create_indices.
    """
    episode_ends = np.asarray(episode_ends, dtype=np.int64)
    episode_mask = np.asarray(episode_mask, dtype=bool)
    if episode_mask.shape != episode_ends.shape:
        raise ValueError(f'episode_mask shape {episode_mask.shape} does not match '
                         f'episode_ends shape {episode_ends.shape}')
    if sequence_length < 1:
        raise ValueError(f'sequence_length must be >= 1, got {sequence_length}')
    pad_before, pad_after = _pads(sequence_length, pad_before, pad_after)

    rows = []
    starts = np.concatenate([[0], episode_ends[:-1]])
    for ep_start, ep_end, use in zip(starts, episode_ends, episode_mask, strict=True):
        if not use:
            continue
        length = int(ep_end - ep_start)
        # window start relative to the episode, from -pad_before to the last that still
        # overlaps no more than pad_after steps past the end
        rel = np.arange(-pad_before, length - sequence_length + pad_after + 1, dtype=np.int64)
        if len(rel) == 0:
            continue
        buffer_start = np.maximum(rel, 0) + ep_start
        buffer_end = np.minimum(rel + sequence_length, length) + ep_start
        sample_start = buffer_start - (rel + ep_start)
        sample_end = sequence_length - ((rel + sequence_length + ep_start) - buffer_end)
        rows.append(np.stack([buffer_start, buffer_end, sample_start, sample_end], axis=1))
    if not rows:
        return np.zeros((0, 4), dtype=np.int64)
    indices = np.concatenate(rows)
    if debug:
        sample_len = indices[:, 3] - indices[:, 2]
        buffer_len = indices[:, 1] - indices[:, 0]
        bad = (indices[:, 2] < 0) | (indices[:, 3] > sequence_length) | (sample_len != buffer_len)
        if np.any(bad):
            raise AssertionError(f'inconsistent window rows: {indices[bad][:5]}')
    return indices


def _pads(sequence_length: int, pad_before: int, pad_after: int) -> tuple[int, int]:
    """The padding create_indices applies: each side in 0..sequence_length - 1."""
    return (min(max(pad_before, 0), sequence_length - 1),
            min(max(pad_after, 0), sequence_length - 1))


def min_episode_length(sequence_length: int, pad_before: int = 0, pad_after: int = 0) -> int:
    """The fewest steps an episode needs to give create_indices a window: a shorter one gives
    none and is left out of training (the padding fills at most pad_before steps before an
    episode and pad_after after it). With the training's pads, n_obs_steps - 1 and
    n_action_steps - 1: horizon - n_obs_steps - n_action_steps + 2."""
    pad_before, pad_after = _pads(sequence_length, pad_before, pad_after)
    return max(sequence_length - pad_before - pad_after, 0)


def get_val_mask(n_episodes: int, val_ratio: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of validation episodes: round(n * ratio) of them, at least one, and at
    least one left for training; the same episodes as the paper for the same seed."""
    val_mask = np.zeros(n_episodes, dtype=bool)
    if val_ratio <= 0:
        return val_mask
    n_val = min(max(1, round(n_episodes * val_ratio)), n_episodes - 1)
    rng = np.random.default_rng(seed=seed)
    val_mask[rng.choice(n_episodes, size=n_val, replace=False)] = True
    return val_mask


def downsample_mask(mask: np.ndarray, max_n: int | None, seed: int = 0) -> np.ndarray:
    """Keep a random max_n of the True entries (all of them if there are fewer)."""
    mask = np.asarray(mask, dtype=bool)
    if max_n is None or np.sum(mask) <= max_n:
        return mask
    if max_n < 0:
        raise ValueError(f'max_n must be >= 0, got {max_n}')
    current = np.nonzero(mask)[0]
    rng = np.random.default_rng(seed=seed)
    keep = current[rng.choice(len(current), size=int(max_n), replace=False)]
    out = np.zeros_like(mask)
    out[keep] = True
    return out


def checked_first_k(key_first_k: Mapping[str, int] | None, keys: Iterable[str],
                    sequence_length: int) -> dict[str, int]:
    """key_first_k as a dict; ValueError for a key not sampled or a k outside 1..
    sequence_length (no step, or steps past the window); the dataset's and the device
    batches' rule alike."""
    first_k = dict(key_first_k or {})
    keys = list(keys)
    bad = {k: v for k, v in first_k.items() if k not in keys or not 1 <= v <= sequence_length}
    if bad:
        raise ValueError(f'key_first_k {bad}: each key must be sampled and 1 <= k <= '
                         f'sequence_length ({sequence_length})')
    return first_k


class SequenceSampler:
    """Windows of sequence_length steps from a replay buffer, edge-padded."""

    def __init__(self, replay_buffer: ReplayBuffer, sequence_length: int, pad_before: int = 0,
                 pad_after: int = 0, keys: list[str] | None = None,
                 episode_mask: np.ndarray | None = None,
                 key_first_k: dict[str, int] | None = None) -> None:
        """key_first_k: keys of which only the window's first k steps are read and returned
        ((k, ...) instead of (sequence_length, ...)), as the paper's sampler does for
        observations: the policy looks at the first n_obs_steps only, and copying the other
        images of a window was a sixth of a CPU training step."""
        if sequence_length < 1:
            raise ValueError(f'sequence_length must be >= 1, got {sequence_length}')
        keys = replay_buffer.keys() if keys is None else list(keys)
        missing = [k for k in keys if k not in replay_buffer.data]
        if missing:
            raise KeyError(f'replay buffer has no key {missing[0]!r} '
                           f'(available: {replay_buffer.keys()})')
        episode_ends = replay_buffer.episode_ends
        if episode_mask is None:
            episode_mask = np.ones(episode_ends.shape, dtype=bool)
        self.indices = create_indices(episode_ends, sequence_length, episode_mask,
                                      pad_before=pad_before, pad_after=pad_after)
        self.keys = keys
        self.key_first_k = checked_first_k(key_first_k, keys, sequence_length)
        self.sequence_length = sequence_length
        self.replay_buffer = replay_buffer
        self._arrays: dict[str, Any] = {k: replay_buffer.data[k] for k in keys}

    def __len__(self) -> int:
        return len(self.indices)

    def sample_sequence(self, idx: int) -> dict[str, np.ndarray]:
        """The window's arrays, each (sequence_length, ...) with edge frames repeated; keys
        in key_first_k give the window's first k steps only."""
        buffer_start, buffer_end, sample_start, sample_end = (int(v) for v in self.indices[idx])
        length = self.sequence_length
        result = {}
        for key, array in self._arrays.items():
            k = self.key_first_k.get(key)
            if k is not None:
                # window step i reads buffer row clip(i - sample_start) (edge padding)
                rows = np.clip(np.arange(k) - sample_start, 0, buffer_end - buffer_start - 1)
                last = buffer_start + int(rows[-1]) + 1
                result[key] = np.asarray(array[buffer_start:last])[rows]
                continue
            sample = np.asarray(array[buffer_start:buffer_end])
            if sample_start > 0 or sample_end < length:
                data = np.empty((length,) + sample.shape[1:], dtype=sample.dtype)
                data[:sample_start] = sample[0]
                data[sample_end:] = sample[-1]
                data[sample_start:sample_end] = sample
                sample = data
            result[key] = sample
        return result


def split_masks(n_episodes: int, val_ratio: float, max_train_episodes: int | None, seed: int,
                excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(validation, training) episode masks of a dataset of n_episodes, the excluded ones in
    neither: how PushTImageDataset splits a store, from its episode count alone (so that
    `dp-ros open-loop` picks the held-out episodes before it loads any)."""
    val = get_val_mask(n_episodes, val_ratio, seed=seed)
    # the cap is drawn before the exclusion: excluding one episode must not redraw it
    train = downsample_mask(~val, max_train_episodes, seed=seed) & ~excluded
    return val & ~excluded, train
