"""Behaviour of training/sampler.py and training/dataset.py that a mutation review found
unpinned by their other tests: the paper's draw of the max_train_episodes cap (its seed
too), the key_first_k bounds at both ends, min_episode_length under pads outside
0..sequence_length - 1, the empty index table's dtype, the episodes list's checks (a
bool, an index one past the end, duplicates and order), the dataset's paper defaults
(horizon 16, pad_before = n_obs_steps - 1 = 1, pad_after = n_action_steps - 1 = 7, seed
42, val_ratio 0.02), the dtypes and layout of what it returns, and that an item is a copy.

Each test kills a mutant the modules' other tests let live. Small stores are
tiny_runs.write_small_store (5 episodes of 8x10 images, float64 state and action); the
paper's Push-T store is read for a few episodes only.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_runs import SMALL_LENGTHS, small_arrays, write_small_store

from training.dataset import PushTImageDataset
from training.errors import DatasetError
from training.replay_buffer import ReplayBuffer
from training.sampler import (
    SequenceSampler,
    create_indices,
    downsample_mask,
    get_val_mask,
    min_episode_length,
    split_masks,
)


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


@pytest.fixture
def buffer() -> ReplayBuffer:
    """Episodes of 3 and 5 steps; step i holds x = 10 * i and y = (i, -i)."""
    steps = np.arange(8)
    return ReplayBuffer.from_arrays(
        {'x': 10 * steps, 'y': np.stack([steps, -steps], axis=1).astype(np.float32)}, [3, 8])


def paper_downsample(mask, max_n, seed):
    """The paper's downsample_mask draw, restated: max_n of the True indices, chosen by
    default_rng(seed).choice over their positions."""
    idx = np.nonzero(mask)[0]
    out = np.zeros_like(mask)
    out[idx[np.random.default_rng(seed=seed).choice(len(idx), size=max_n, replace=False)]] = True
    return out


# ------------------------------------------------------------------ sampler.py
def test_the_episode_cap_draws_the_papers_episodes_for_the_seed():
    """downsample_mask keeps the same episodes as the paper's for the same seed, and
    split_masks draws the cap with the dataset's seed, not a fixed one."""
    mask = np.ones(40, dtype=bool)
    mask[::3] = False
    for seed in (0, 5, 42):
        np.testing.assert_array_equal(downsample_mask(mask, 7, seed=seed),
                                      paper_downsample(mask, 7, seed))
        val, train = split_masks(40, 0.1, 7, seed, np.zeros(40, dtype=bool))
        np.testing.assert_array_equal(val, get_val_mask(40, 0.1, seed=seed))
        np.testing.assert_array_equal(train, paper_downsample(~val, 7, seed))


def test_a_list_mask_comes_back_as_a_bool_mask():
    """downsample_mask of a 0/1 list gives a bool mask (usable with ~ and as an index)
    whether or not the cap takes anything out."""
    for max_n in (None, 5, 1):
        out = downsample_mask([1, 0, 1], max_n)
        assert out.dtype == bool
        assert out.sum() == min(2, max_n or 2)


@pytest.mark.parametrize('k', [0, -1])
def test_a_first_k_of_no_steps_is_refused_when_built(buffer, k):
    """key_first_k of 0 (or less) is refused by SequenceSampler with the key_first_k error,
    not left to fail with an IndexError at the first sample."""
    with pytest.raises(ValueError, match='key_first_k'):
        SequenceSampler(buffer, 4, 1, 2, key_first_k={'y': k})


def test_a_first_k_of_the_whole_window_is_the_whole_window(buffer):
    """key_first_k = sequence_length is allowed (1 <= k <= sequence_length) and gives the
    same padded window as no first_k."""
    full = SequenceSampler(buffer, 4, 1, 2)
    first = SequenceSampler(buffer, 4, 1, 2, key_first_k={'y': 4})
    for i in range(len(full)):
        np.testing.assert_array_equal(first.sample_sequence(i)['y'], full.sample_sequence(i)['y'])


def test_min_episode_length_is_the_shortest_episode_with_a_window():
    """min_episode_length clamps the pads as create_indices does (negative ones to 0, large
    ones to sequence_length - 1): an episode of that length gives a window, one step fewer
    none."""
    for seq in (1, 2, 4, 7):
        for pad_before in (-2, 0, 1, 3, 9):
            for pad_after in (-1, 0, 2, 9):
                n = min_episode_length(seq, pad_before, pad_after)

                def windows(length, seq=seq, pad_before=pad_before, pad_after=pad_after):
                    return len(create_indices(np.array([length]), seq, np.ones(1, dtype=bool),
                                              pad_before=pad_before, pad_after=pad_after))

                assert windows(max(n, 1)) > 0, (seq, pad_before, pad_after, n)
                if n > 1:
                    assert windows(n - 1) == 0, (seq, pad_before, pad_after, n)


def test_no_windows_is_an_int64_table_like_any_other():
    """create_indices with every episode masked out (or too short) gives a (0, 4) int64
    table, the dtype of a non-empty one."""
    ends = np.array([3, 8])
    assert create_indices(ends, 4, np.zeros(2, dtype=bool)).dtype == np.int64
    short = create_indices(ends, 9, np.ones(2, dtype=bool))
    assert short.shape == (0, 4) and short.dtype == np.int64


# ------------------------------------------------------------------ dataset.py
def small_dataset(store, **kwargs) -> PushTImageDataset:
    return PushTImageDataset(store, **{'horizon': 8, 'pad_before': 1, 'pad_after': 3,
                                       'val_ratio': 0.0, 'progress': False, **kwargs})


@pytest.mark.parametrize('episodes, bad', [([True], 'True'), ([5], '5'), ([0, 5], '5')])
def test_episodes_not_in_the_store_are_refused_by_name(store, episodes, bad):
    """episodes: a bool is no episode index, and the last index is n_episodes - 1; both
    refused with a DatasetError naming them and the range, before anything is read."""
    with pytest.raises(DatasetError, match=rf'episodes \[{bad}\] are not episodes .*\(0..4\)'):
        small_dataset(store, episodes=episodes)


def test_episodes_load_in_store_order_once_each_with_their_whole_set_windows(store):
    """episodes=[3, 1, 3] loads episodes 1 and 3, once each and in store order, and each
    gives the windows (same arrays) it gives in the whole set."""
    whole = small_dataset(store)
    some = small_dataset(store, episodes=[3, 1, 3])
    assert some.store_episodes.tolist() == [1, 3]
    assert some.episode_ends.tolist() == np.cumsum([SMALL_LENGTHS[1], SMALL_LENGTHS[3]]).tolist()
    windows = [SMALL_LENGTHS[e] - 8 + 1 + 1 + 3 for e in range(5)]
    first = [sum(windows[:e]) for e in range(5)]
    expected = [j for e in (1, 3) for j in range(first[e], first[e] + windows[e])]
    assert len(some) == len(expected)
    for i, j in enumerate(expected):
        a, b = some[i], whole[j]
        torch.testing.assert_close(a['action'], b['action'], rtol=0, atol=0)
        torch.testing.assert_close(a['obs'], b['obs'], rtol=0, atol=0)


def test_the_defaults_are_the_papers_push_t_windows(store):
    """Left at their defaults, horizon 16, pad_before 1 (n_obs_steps - 1) and pad_after 7
    (n_action_steps - 1): an episode of L steps gives L - 16 + 1 + 1 + 7 windows, the first
    repeating the episode's first step once, the last its last step 8 times."""
    ds = PushTImageDataset(store, progress=False)
    lengths = np.array(SMALL_LENGTHS)
    assert len(ds) == int(np.sum(lengths[ds.train_mask] - 16 + 1 + 1 + 7))
    arrays = small_arrays()
    episodes = np.flatnonzero(ds.train_mask)
    for item, episode, rel in ((0, episodes[0], -1), (len(ds) - 1, episodes[-1], None)):
        start, length = int(np.sum(lengths[:episode])), int(lengths[episode])
        rel = length - 16 + 7 if rel is None else rel
        steps = start + np.clip(np.arange(rel, rel + 16), 0, length - 1)
        np.testing.assert_array_equal(ds[item]['action'].numpy(),
                                      arrays['action'][steps].astype(np.float32))
    assert steps[-8:].tolist() == [start + length - 1] * 8


def test_the_default_split_is_the_papers_seed_42_two_percent(pusht_zarr):
    """Left at their defaults, seed 42 and val_ratio 0.02 hold out the paper's 4 Push-T
    validation episodes (18, 90, 134, 157), drawn over all 206 though only 6 are loaded."""
    ds = PushTImageDataset(pusht_zarr, progress=False, episodes=[0, 18, 90, 100, 134, 157])
    assert ds.val_mask.tolist() == [False, True, True, False, True, True]
    assert ds.train_mask.tolist() == [True, False, False, True, False, False]


def test_arrays_are_float32_and_images_channels_first(store):
    """Low-dim observations and actions are held and fitted as float32 whatever the store
    holds (float64 here); images come out (T, C, H, W) for H != W, in [0, 1]."""
    ds = small_dataset(store, low_dim_keys={'agent_pos': 'state[:2]'})
    assert ds.replay_buffer.data['agent_pos'].dtype == np.float32
    assert ds.replay_buffer.data['action'].dtype == np.float32
    assert {k: v.dtype for k, v in ds.get_normalizer_data().items()} == {
        'action': np.float32, 'agent_pos': np.float32}
    assert ds.obs_shapes()['image'] == (3, 8, 10)
    image = ds[1]['obs']['image']  # episode 0 from its first step
    assert image.shape == (8, 3, 8, 10)
    np.testing.assert_array_equal(image.numpy(),
                                  np.moveaxis(small_arrays()['img'][:8], -1, 1) / np.float32(255))


def test_an_item_is_a_copy_not_a_view_of_the_dataset(store):
    """Writing into an item's tensors (a transform in place) leaves the dataset as it was,
    as the paper's astype copies do, for windows with and without padding."""
    ds = small_dataset(store)
    for i in (0, 1, len(ds) - 1):
        before = ds[i]
        expected = {'action': before['action'].clone(),
                    'agent_pos': before['obs']['agent_pos'].clone()}
        before['action'].add_(1000.0)
        before['obs']['agent_pos'].add_(1000.0)
        after = ds[i]
        torch.testing.assert_close(after['action'], expected['action'], rtol=0, atol=0)
        torch.testing.assert_close(after['obs']['agent_pos'], expected['agent_pos'],
                                   rtol=0, atol=0)


def test_the_validation_dataset_counts_the_split_not_its_own_episodes(store):
    """On the validation dataset n_train_episodes and n_val_episodes still count the split's
    sides (what a run logs), while n_episodes counts the episodes it samples."""
    ds = small_dataset(store, val_ratio=0.4)
    val = ds.get_validation_dataset()
    assert (ds.n_train_episodes, ds.n_val_episodes, ds.n_episodes) == (3, 2, 3)
    assert (val.n_train_episodes, val.n_val_episodes, val.n_episodes) == (3, 2, 2)


def test_an_episode_of_exactly_the_minimum_length_is_not_windowless(store):
    """windowless_episodes names the episodes shorter than min_episode_length only: one of
    exactly that length gives a window (episode 2 has 9 steps; horizon 17 with pads 1 and 7
    needs 9, horizon 18 needs 10)."""
    all_episodes = np.ones(5, dtype=bool)
    fits = small_dataset(store, horizon=17, pad_before=1, pad_after=7)
    assert fits.min_episode_length == 9
    assert fits.windowless_episodes(all_episodes) == []
    assert len(fits) == sum(n - 17 + 1 + 8 for n in SMALL_LENGTHS)
    short = small_dataset(store, horizon=18, pad_before=1, pad_after=7)
    assert short.windowless_episodes(all_episodes) == [2]


def test_non_finite_values_name_the_dimensions_and_the_episodes(tmp_path):
    """nonfinite_values gives, per key, the dimensions (columns) holding NaN or inf and the
    episodes holding them, each sorted and once: not the steps."""
    arrays = small_arrays()
    arrays['action'][11, 1] = np.nan  # episode 1 (steps 10..21)
    arrays['action'][12, 1] = np.inf
    arrays['state'][40, 0] = np.nan  # episode 3 (steps 31..44)
    path = write_small_store(tmp_path / 'nan.zarr', arrays)
    ds = small_dataset(path, low_dim_keys={'agent_pos': 'state[:2]'})
    assert ds.nonfinite_values([0, 1, 2, 3, 4]) == {'action': ([1], [1]),
                                                    'agent_pos': ([0], [3])}
    assert ds.nonfinite_values([0, 3]) == {'agent_pos': ([0], [3])}
