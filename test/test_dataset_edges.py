"""Edges of the training dataset's statistics checks the other dataset tests leave open."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from test_dataset import write_small_store

from training.dataset import PushTImageDataset
from training.errors import DatasetError


def test_non_finite_episodes_leave_out_the_excluded_ones(tmp_path):
    """The NaN report names the episodes still in use, not those data.exclude_episodes took."""
    path = tmp_path / 'small.zarr'
    write_small_store(path)  # episodes [0, 5) and [5, 12)
    cmd = zarr.open_group(str(path), mode='r+')['data/cmd']
    cmd[1, 0] = np.nan  # episode 0
    cmd[9, 2] = np.inf  # episode 1
    kwargs = dict(horizon=4, val_ratio=0.0, action_key='cmd', rgb_keys={'wrist': 'cam'},
                  low_dim_keys={'q': 'joints'}, progress=False)
    assert PushTImageDataset(path, **kwargs).nonfinite_episodes() == {'action': [0, 1]}
    left = PushTImageDataset(path, exclude_episodes=[0], **kwargs)
    assert left.nonfinite_episodes() == {'action': [1]}
    assert np.isfinite(left.get_normalizer_data()['action'][:, 0]).all()


def test_an_empty_episode_list_is_refused_by_name(tmp_path):
    """episodes=[]: was numpy's 'cannot reshape array of size 0 into shape (0,newaxis)'; now
    a DatasetError saying that None loads them all, before anything is read."""
    path = tmp_path / 'small.zarr'
    write_small_store(path)
    kwargs = dict(horizon=4, val_ratio=0.0, action_key='cmd', rgb_keys={'wrist': 'cam'},
                  low_dim_keys={'q': 'joints'}, progress=False)
    with pytest.raises(DatasetError, match=r'episodes \[\] names no episode to load \(None: '
                                           r'all 2\)'):
        PushTImageDataset(path, episodes=[], **kwargs)
    assert list(PushTImageDataset(path, episodes=[1], **kwargs).store_episodes) == [1]
