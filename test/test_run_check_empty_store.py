"""A zarr store with no episodes (written by hand or by another tool: dp_ros's writers
refuse to write one) passed every start check and died when the data loaded, in a numpy
reshape ('cannot reshape array of size 0'). `dp-ros train` now refuses it up front, naming
the store, and makes no run folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import small_config

from training.errors import DatasetError
from training.replay_buffer import ReplayBuffer
from training.train import main

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'train_pusht_image_cpu.yaml'


def _empty_store(path):
    data = ReplayBuffer.create(str(path))._group['data']
    for key, shape in (('img', (0, 12, 16, 3)), ('state', (0, 5)), ('action', (0, 2))):
        data.create_array(key, shape=shape, dtype=np.float32, chunks=(1, *shape[1:]))
    return path


def test_a_store_without_episodes_is_refused_before_anything_loads(tmp_path):
    from training.run_check import check_run

    store = _empty_store(tmp_path / 'empty.zarr')
    with pytest.raises(DatasetError, match=r'empty\.zarr holds no episodes'):
        check_run(small_config(store), tmp_path / 'run')
    assert not (tmp_path / 'run').exists()


def test_train_says_it_in_one_line(tmp_path, capsys):
    store = _empty_store(tmp_path / 'empty.zarr')
    code = main(['--config', str(CONFIG), f'data.zarr_path={store}',
                 '--output', str(tmp_path / 'run')])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and 'holds no episodes' in line
    assert not (tmp_path / 'run').exists()


def test_a_dataset_over_a_store_without_episodes_is_refused_naming_it(tmp_path):
    """PushTImageDataset itself (open-loop, a script of the user's), not only `dp-ros train`:
    the same DatasetError, not numpy's reshape error."""
    from training.dataset import PushTImageDataset

    store = _empty_store(tmp_path / 'empty.zarr')
    with pytest.raises(DatasetError, match=r'empty\.zarr holds no episodes \(its episode ends '
                                           r'are empty\): nothing to train on'):
        PushTImageDataset(store, horizon=4, val_ratio=0.0, action_key='action',
                          rgb_keys={'image': 'img'}, low_dim_keys={'agent_pos': 'state'},
                          progress=False)
