"""bench/gpu_data.py: the small copy of the Push-T demonstrations that issue 15's GPU training
run carries. Real episodes (the three shortest of the paper's store) in a store laid out as
the paper's (float32 images, blosc): the copy holds uint8 images, every array equal, and the
dataset reads the same windows from it; images that are not whole numbers are refused and
leave nothing behind."""
from __future__ import annotations

import sys

import numcodecs
import numpy as np
import pytest
import torch
import zarr
from support import PUSHT_DATASET, REPO_ROOT, shortest_episodes

from training.dataset import PushTImageDataset

sys.path.insert(0, str(REPO_ROOT / 'bench'))
from gpu_data import small_copy  # noqa: E402


def paper_like_store(path, episodes, image_offset: float = 0.0) -> None:
    root = zarr.open_group(str(path), mode='w', zarr_format=2)
    blosc = numcodecs.Blosc(cname='zstd', clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    for key in ('img', 'state', 'action'):
        data = np.concatenate([e[key] for e in episodes]).astype(np.float32)
        if key == 'img':
            data = data + image_offset
        root.create_array(f'data/{key}', data=data, chunks=(16, *data.shape[1:]),
                          compressor=blosc)
    ends = np.cumsum([len(e['action']) for e in episodes]).astype(np.int64)
    root.create_array('meta/episode_ends', data=ends, compressor=blosc)


def test_the_copy_is_the_same_demonstrations_in_uint8(tmp_path):
    _, episodes = shortest_episodes(PUSHT_DATASET, 3)
    source, copy = tmp_path / 'paper.zarr', tmp_path / 'gpu' / 'pusht.zarr'
    paper_like_store(source, episodes)
    sizes = small_copy(source, copy)
    got = zarr.open_group(str(copy), mode='r')
    assert got['data/img'].dtype == np.uint8 and sum(sizes.values()) > 0
    for key in ('data/img', 'data/state', 'data/action', 'meta/episode_ends'):
        want = zarr.open_group(str(source), mode='r')[key][:]
        np.testing.assert_array_equal(got[key][:].astype(np.float64), want.astype(np.float64))
    a = PushTImageDataset(source, progress=False, obs_steps=2, val_ratio=0.0)
    b = PushTImageDataset(copy, progress=False, obs_steps=2, val_ratio=0.0)
    assert len(a) == len(b) > 0
    for i in (0, len(a) // 2, len(a) - 1):
        for key in a[i]['obs']:
            assert torch.equal(torch.as_tensor(a[i]['obs'][key]),
                               torch.as_tensor(b[i]['obs'][key])), key
        assert torch.equal(torch.as_tensor(a[i]['action']), torch.as_tensor(b[i]['action']))


def test_images_that_are_not_whole_numbers_are_refused_and_nothing_is_left(tmp_path):
    _, episodes = shortest_episodes(PUSHT_DATASET, 1)
    source, copy = tmp_path / 'paper.zarr', tmp_path / 'gpu' / 'pusht.zarr'
    paper_like_store(source, episodes, image_offset=0.5)
    with pytest.raises(ValueError, match='data/img is not whole numbers'):
        small_copy(source, copy)
    assert not copy.exists() and list((tmp_path / 'gpu').glob('*')) == []
