"""`dp-ros open-loop` loads the episodes it compares, not the whole dataset.

A lab's set is tens of GB of frames; comparing one episode (or the 5% held out) must not hold
all of them. Pinned: the peak memory does not grow with the episodes left out, the windows of
the loaded episodes are the ones the whole dataset gives (same padding, same split), and
errors name the store's episode indices."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import make_tiny_checkpoint, write_random_walk_store

from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.dataset import PushTImageDataset
from training.open_loop import Source, check_finite, episode_split, main, select_episodes


def _open_loop_peak(tmp_path: Path, n_episodes: int) -> int:
    """tracemalloc peak (bytes) of `dp-ros open-loop --episodes 0` on a store of n_episodes
    episodes of 40 steps (96x96 frames: 1.1 MB an episode)."""
    root = tmp_path / f'n{n_episodes}'
    store = root / 'demos.zarr'
    write_random_walk_store(store, [40] * n_episodes)
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.1))
    policy = make_tiny_checkpoint(root / 'policy', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})
    tracemalloc.start()
    try:
        assert main([str(policy), '--dataset', str(store), '--episodes', '0',
                     '--output', str(root / 'ol.json'), '--no-progress', '--no-plot']) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_open_loop_on_one_episode_does_not_load_the_whole_dataset(tmp_path):
    """Its peak memory does not grow by the other episodes' frames (24 more episodes: 26 MB
    of frames); it did by all of them."""
    small = _open_loop_peak(tmp_path, 8)
    large = _open_loop_peak(tmp_path, 32)
    frame_bytes = 24 * 40 * 96 * 96 * 3
    assert large - small < 0.25 * frame_bytes, (small, large)


KW = dict(horizon=6, pad_before=1, pad_after=4, obs_steps=2, seed=3, val_ratio=0.3,
          max_train_episodes=4, exclude_episodes=[1], progress=False)


def test_loaded_episodes_give_the_whole_datasets_windows_and_split(tmp_path):
    """Episodes 2, 3 and 6 loaded alone: the same windows, step for step, and the same side
    of the split as in the dataset of every episode (drawn over all of them)."""
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [9, 12, 7, 10, 8, 11, 13, 9])
    whole = PushTImageDataset(store, **KW)
    part = PushTImageDataset(store, episodes=[6, 2, 3, 3], **KW)
    assert part.store_episodes.tolist() == [2, 3, 6]
    assert whole.store_episodes.tolist() == list(range(8))
    assert part.replay_buffer.episode_lengths.tolist() == [7, 10, 13]
    for mask in ('val_mask', 'train_mask', 'excluded'):
        assert getattr(part, mask).tolist() == getattr(whole, mask)[[2, 3, 6]].tolist()
    for local, e in enumerate([2, 3, 6]):
        one = np.zeros(8, dtype=bool)
        one[e] = True
        mine = np.zeros(3, dtype=bool)
        mine[local] = True
        a, b = whole.subset(one), part.subset(mine)
        assert len(a) == len(b) > 0
        for i in range(len(a)):
            x, y = a[i], b[i]
            assert x['action'].equal(y['action'])
            for key in x['obs']:
                assert x['obs'][key].equal(y['obs'][key])


def test_loading_an_episode_the_store_has_not_is_refused(tmp_path):
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [9, 12])
    with pytest.raises(UserError, match=r'episodes \[2\] are not episodes of this dataset'):
        PushTImageDataset(store, episodes=[0, 2], progress=False)


def test_the_split_is_chosen_from_metadata_as_the_dataset_draws_it(tmp_path):
    """episode_split (no frames read) gives the masks PushTImageDataset draws, so `--episodes
    val` names the same held-out episodes as before."""
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [9, 12, 7, 10, 8, 11, 13, 9])
    data = DataConfig(zarr_path=str(store), val_ratio=0.3, split_seed=3, max_train_episodes=4,
                      exclude_episodes=[1])
    source = Source(store, data, True, None)
    split = episode_split(source)
    whole = PushTImageDataset(store, **{**KW, 'exclude_episodes': [1]})
    assert split.val_mask.tolist() == whole.val_mask.tolist()
    assert split.train_mask.tolist() == whole.train_mask.tolist()
    assert select_episodes('val', split, source) == select_episodes('val', whole, source)
    other = episode_split(Source(store, data, False, None))
    assert not other.val_mask.any() and other.train_mask.all()


def test_a_nonfinite_value_is_named_by_its_store_episode(tmp_path):
    """NaN in episode 5, loaded with episode 2 alone: the error names episode 5, not its
    index among the loaded ones."""
    store = tmp_path / 'demos.zarr'
    write_random_walk_store(store, [9, 12, 7, 10, 8, 11])
    group = zarr.open_group(str(store), mode='r+')
    action = group['data/action']
    action[52] = np.nan  # episode 5 is steps 46..56
    ds = PushTImageDataset(store, episodes=[2, 5], progress=False)
    with pytest.raises(UserError, match=r'action dimension\(s\) \[0, 1\] in episode\(s\) \[5\]'):
        check_finite(ds, [5, 2])
    check_finite(ds, [2])
