"""PushTImageDataset on the paper's Push-T data, and generic keys on a small store."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from training.dataset import PushTImageDataset
from training.dataset_meta import parse_low_dim_key
from training.errors import DatasetError
from training.replay_buffer import ReplayBuffer


@pytest.fixture(scope='module')
def raw(pusht_zarr):
    return zarr.open_group(str(pusht_zarr), mode='r')


@pytest.fixture(scope='module', autouse=True)
def images_decoded_once(pusht_zarr):
    """The paper's 2.8 GB of float32 images are decompressed and converted to uint8 once for
    this module (about 3.5 s a load; five datasets of it here): the Push-T datasets built
    after the first get that first read's array back from read_array, for the same store,
    key and steps. Everything else of the load (keys, split, exclusions, the other arrays,
    the sampler) is the product's each time; test_items_match_the_raw_store checks the
    images against the raw store, and no test writes into them."""
    import training.dataset as dataset_module

    read = dataset_module.read_array
    cache: dict = {}

    def read_once(array, *, convert=None, ranges=None, **kwargs):
        store = str(getattr(array, 'store', ''))
        if convert is None or str(pusht_zarr) not in store:
            return read(array, convert=convert, ranges=ranges, **kwargs)
        key = (store, array.path, None if ranges is None else tuple(map(tuple, ranges)))
        if key not in cache:
            cache[key] = read(array, convert=convert, ranges=ranges, **kwargs)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataset_module, 'read_array', read_once)
        yield


@pytest.fixture(scope='module')
def dataset(pusht_zarr) -> PushTImageDataset:
    return PushTImageDataset(pusht_zarr, horizon=16, pad_before=1, pad_after=7, seed=42,
                             val_ratio=0.02, progress=False)


def episode_of_rows(indices: np.ndarray, episode_ends: np.ndarray) -> np.ndarray:
    return np.searchsorted(episode_ends, indices[:, 0], side='right')


def test_sizes_and_split(dataset):
    assert dataset.replay_buffer.n_steps == 25650
    assert dataset.n_train_episodes == 202 and dataset.n_val_episodes == 4
    assert not np.any(dataset.train_mask & dataset.val_mask)
    assert np.all(dataset.train_mask | dataset.val_mask)
    lengths = np.diff(dataset.episode_ends, prepend=0)
    # each episode of length L gives L - horizon + pad_before + pad_after + 1 windows
    assert len(dataset) == int(np.sum(lengths[dataset.train_mask] - 16 + 1 + 7 + 1))
    assert dataset.obs_shapes() == {'image': (3, 96, 96), 'agent_pos': (2,)}
    assert dataset.action_dim == 2
    # images are held as uint8: 0.7 GB instead of 2.8 GB
    assert dataset.replay_buffer.data['image'].dtype == np.uint8


def test_items_match_the_raw_store(dataset, raw):
    ends = dataset.episode_ends
    for i in (0, 1, 57, len(dataset) // 2, len(dataset) - 1):
        item = dataset[i]
        image, agent_pos, action = item['obs']['image'], item['obs']['agent_pos'], item['action']
        assert image.shape == (16, 3, 96, 96) and image.dtype == torch.float32
        assert image.is_contiguous()
        assert agent_pos.shape == (16, 2) and agent_pos.dtype == torch.float32
        assert action.shape == (16, 2) and action.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        # the steps this window covers, with the edge frames repeated
        b0, b1, s0, s1 = dataset.sampler.indices[i]
        steps = np.concatenate([np.full(s0, b0), np.arange(b0, b1), np.full(16 - s1, b1 - 1)])
        episode = np.searchsorted(ends, b0, side='right')
        assert dataset.train_mask[episode]
        img = raw['data/img'][int(steps.min()):int(steps.max()) + 1]
        img = img[steps - steps.min()]
        expected_image = np.moveaxis(img, -1, 1) / 255  # the paper's conversion
        np.testing.assert_array_equal(image.numpy(), expected_image)
        np.testing.assert_array_equal(agent_pos.numpy(), raw['data/state'][:][steps, :2])
        np.testing.assert_array_equal(action.numpy(), raw['data/action'][:][steps])
    first = dataset[0]['obs']['image']  # first window starts one step before episode 0
    assert torch.equal(first[0], first[1])


def test_validation_dataset_uses_only_val_episodes(dataset):
    val = dataset.get_validation_dataset()
    assert type(val) is PushTImageDataset
    assert val.n_episodes == 4 and dataset.n_episodes == 202
    train_eps = set(episode_of_rows(dataset.sampler.indices, dataset.episode_ends))
    val_eps = set(episode_of_rows(val.sampler.indices, dataset.episode_ends))
    assert val_eps == set(np.nonzero(dataset.val_mask)[0])
    assert train_eps == set(np.nonzero(dataset.train_mask)[0])
    assert not train_eps & val_eps
    lengths = np.diff(dataset.episode_ends, prepend=0)
    assert len(val) == int(np.sum(lengths[dataset.val_mask] - 7))
    assert val[len(val) - 1]['obs']['image'].shape == (16, 3, 96, 96)
    assert val.replay_buffer is dataset.replay_buffer  # no second copy of the images


def test_normalizer_data_covers_all_steps(dataset, raw):
    data = dataset.get_normalizer_data()
    assert set(data) == {'action', 'agent_pos'}
    np.testing.assert_array_equal(data['action'], raw['data/action'][:])
    np.testing.assert_array_equal(data['agent_pos'], raw['data/state'][:][:, :2])
    assert data['action'].dtype == np.float32 and data['agent_pos'].shape == (25650, 2)


def test_dataloader_batches(dataset):
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True, num_workers=0)
    batch = next(iter(loader))
    assert batch['obs']['image'].shape == (8, 16, 3, 96, 96)
    assert batch['obs']['agent_pos'].shape == (8, 16, 2)
    assert batch['action'].shape == (8, 16, 2)


def test_max_train_episodes_caps_training_set(pusht_zarr, dataset):
    capped = PushTImageDataset(pusht_zarr, max_train_episodes=10, progress=False)
    assert capped.n_train_episodes == 10
    assert not np.any(capped.train_mask & capped.val_mask)
    np.testing.assert_array_equal(capped.val_mask, dataset.val_mask)  # same seed, same split
    episodes = set(episode_of_rows(capped.sampler.indices, capped.episode_ends))
    assert episodes == set(np.nonzero(capped.train_mask)[0]) and len(episodes) == 10
    assert capped.get_validation_dataset().n_episodes == 4


def test_excluded_episodes_leave_training_validation_and_statistics(pusht_zarr, dataset, raw):
    val = int(np.flatnonzero(dataset.val_mask)[0])
    worst = int(np.flatnonzero(dataset.train_mask)[3])
    ds = PushTImageDataset(pusht_zarr, horizon=16, pad_before=1, pad_after=7, seed=42,
                           val_ratio=0.02, progress=False, exclude_episodes=[worst, val])
    assert not ds.train_mask[worst] and not ds.val_mask[val] and ds.excluded.sum() == 2
    # the split of the others is where it was
    np.testing.assert_array_equal(ds.train_mask, dataset.train_mask & ~ds.excluded)
    np.testing.assert_array_equal(ds.val_mask, dataset.val_mask & ~ds.excluded)
    assert ds.n_val_episodes == 3 and ds.n_train_episodes == 201
    assert worst not in set(episode_of_rows(ds.sampler.indices, ds.episode_ends))
    starts = np.concatenate([[0], ds.episode_ends[:-1]])
    keep = np.ones(raw['data/action'].shape[0], dtype=bool)
    for e in (worst, val):
        keep[starts[e]:ds.episode_ends[e]] = False
    data = ds.get_normalizer_data()
    np.testing.assert_array_equal(data['action'], raw['data/action'][:][keep])
    np.testing.assert_array_equal(data['agent_pos'], raw['data/state'][:][keep, :2])
    with pytest.raises(DatasetError, match=r'exclude_episodes \[206\] .*\(0..205\)'):
        PushTImageDataset(pusht_zarr, progress=False, exclude_episodes=[3, 206])


# ------------------------------------------------------------------ generic keys, small store
def write_small_store(path, images=None):
    rng = np.random.default_rng(0)
    n = 12
    if images is None:
        images = rng.integers(0, 256, size=(n, 4, 5, 3)).astype(np.float32)
    buffer = ReplayBuffer.from_arrays({
        'cam': images,
        'joints': rng.normal(size=(n, 3, 2)).astype(np.float64),
        'cmd': rng.normal(size=(n, 3)).astype(np.float32),
    }, [5, 12])
    buffer.save_to(path)
    return buffer


def test_generic_keys_from_config_strings(tmp_path):
    source = write_small_store(tmp_path / 'small.zarr')
    ds = PushTImageDataset(tmp_path / 'small.zarr', horizon=4, pad_before=1, pad_after=2,
                           val_ratio=0.0, action_key='cmd', rgb_keys={'wrist': 'cam'},
                           low_dim_keys={'q': 'joints[2:]', 'all': 'joints'}, progress=False)
    assert ds.obs_shapes() == {'wrist': (3, 4, 5), 'q': (4,), 'all': (6,)}
    assert ds.action_dim == 3 and len(ds) == 5 + 7  # L - horizon + 1 + pads
    item = ds[1]  # window of episode 0 starting at step 0
    flat = source.data['joints'].reshape(12, 6)
    np.testing.assert_array_equal(item['obs']['q'].numpy(), flat[[0, 1, 2, 3], 2:].astype('f4'))
    np.testing.assert_array_equal(item['obs']['all'].numpy(), flat[:4].astype('f4'))
    np.testing.assert_array_equal(item['obs']['wrist'].numpy(),
                                  np.moveaxis(source.data['cam'][:4], -1, 1) / 255)
    np.testing.assert_array_equal(item['action'].numpy(), source.data['cmd'][:4])
    assert set(ds.get_normalizer_data()) == {'action', 'q', 'all'}


def test_parse_low_dim_key():
    assert parse_low_dim_key('state[:2]') == ('state', slice(None, 2))
    assert parse_low_dim_key('state[2:5]') == ('state', slice(2, 5))
    assert parse_low_dim_key('state[-2:]') == ('state', slice(-2, None))
    assert parse_low_dim_key('state') == ('state', slice(None))
    assert parse_low_dim_key(('state', slice(0, 2))) == ('state', slice(0, 2))
    with pytest.raises(ValueError, match='state\\[0\\]'):
        parse_low_dim_key('state[0]')


def test_bad_inputs_are_named(tmp_path):
    images = np.full((12, 4, 5, 3), 10.0, dtype=np.float32)
    images[7, 1, 1, 0] = 10.5
    write_small_store(tmp_path / 'frac.zarr', images=images)
    kwargs = dict(action_key='cmd', rgb_keys={'wrist': 'cam'}, low_dim_keys={'q': 'joints'},
                  progress=False)
    with pytest.raises(ValueError, match=r"'cam' holds non-integral values \(e.g. 10.5\)"):
        PushTImageDataset(tmp_path / 'frac.zarr', **kwargs)
    images[7, 1, 1, 0] = 300
    write_small_store(tmp_path / 'big.zarr', images=images)
    with pytest.raises(ValueError, match=r"'cam' has values in \[10.0, 300.0\]"):
        PushTImageDataset(tmp_path / 'big.zarr', **kwargs)
    with pytest.raises(KeyError, match='no data/img'):
        PushTImageDataset(tmp_path / 'frac.zarr', action_key='cmd', progress=False)
    with pytest.raises(ValueError, match='not .action.'):
        PushTImageDataset(tmp_path / 'frac.zarr', low_dim_keys={'action': 'cmd'}, **{
            k: v for k, v in kwargs.items() if k != 'low_dim_keys'})


def test_obs_steps_yields_the_first_observations_of_the_same_windows(pusht_zarr, dataset):
    first = PushTImageDataset(pusht_zarr, horizon=16, pad_before=1, pad_after=7, seed=42,
                              val_ratio=0.02, progress=False, obs_steps=2)
    assert len(first) == len(dataset)
    for i in (0, 1, 500, len(dataset) - 1):  # padded starts, the middle, a padded end
        a, b = dataset[i], first[i]
        assert b['obs']['image'].shape == (2, 3, 96, 96)
        assert b['obs']['agent_pos'].shape == (2, 2)
        torch.testing.assert_close(b['obs']['image'], a['obs']['image'][:2], rtol=0, atol=0)
        torch.testing.assert_close(b['obs']['agent_pos'], a['obs']['agent_pos'][:2],
                                   rtol=0, atol=0)
        torch.testing.assert_close(b['action'], a['action'], rtol=0, atol=0)
