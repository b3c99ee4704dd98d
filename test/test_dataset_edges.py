"""Edges of the training dataset's statistics checks the other dataset tests leave open."""
from __future__ import annotations

import numpy as np
import zarr
from test_dataset import write_small_store

from training.dataset import PushTImageDataset


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
