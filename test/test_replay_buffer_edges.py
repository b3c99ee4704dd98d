"""Edges of ReplayBuffer the round-trip tests leave open: stores whose episode index does not
fit their data are refused, an episode index one past the last is an error, and block-wise
reading gives every step, the last block of one step included."""
from __future__ import annotations

import numpy as np
import pytest
import zarr

from training.replay_buffer import NotAReplayBufferError, ReplayBuffer, read_array


def two_episode_store(path):
    ReplayBuffer.from_arrays({'a': np.arange(5.0), 'b': np.zeros(5)}, [2, 5]).save_to(path)
    return zarr.open_group(str(path), mode='r+')


def test_data_longer_than_the_episode_index_is_refused(tmp_path):
    """An append cut short (data grown, episode_ends not yet): steps no episode owns."""
    group = two_episode_store(tmp_path / 'long.zarr')
    group['data/b'].resize((7,))
    with pytest.raises(NotAReplayBufferError, match=r'long.zarr: data/b has shape \(7,\) but '
                                                    'meta/episode_ends says 5 steps'):
        ReplayBuffer.open(tmp_path / 'long.zarr')


@pytest.mark.parametrize('ends', [[3, 2, 5], [-1, 5]], ids=['back', 'negative'])
def test_episode_ends_that_go_back_or_below_zero_are_refused(tmp_path, ends):
    """Ends out of order would give episodes of negative length or steps of two episodes."""
    group = two_episode_store(tmp_path / 'bad.zarr')
    group['meta/episode_ends'].resize((len(ends),))
    group['meta/episode_ends'][:] = np.array(ends, np.int64)
    with pytest.raises(NotAReplayBufferError, match='non-negative and non-decreasing'):
        ReplayBuffer.open(tmp_path / 'bad.zarr')
    with pytest.raises(NotAReplayBufferError, match='non-negative and non-decreasing'):
        ReplayBuffer.from_arrays({'a': np.arange(5.0)}, np.array(ends))


def test_in_memory_arrays_must_have_the_episode_index_steps():
    """from_arrays (the dataset's in-memory buffer) refuses an array of another length."""
    with pytest.raises(ValueError, match=r"array 'b' has shape \(4,\), expected 5 steps"):
        ReplayBuffer.from_arrays({'a': np.arange(5.0), 'b': np.zeros(4)}, [2, 5])


def test_an_episode_index_one_past_the_last_is_an_error():
    """get_episode(n) must not wrap round to episode 0 (only negatives count from the end)."""
    buffer = ReplayBuffer.from_arrays({'a': np.arange(5.0)}, [2, 5])
    with pytest.raises(IndexError, match='episode index 2 out of range for 2 episodes'):
        buffer.get_episode(2)
    with pytest.raises(IndexError, match='episode index -3'):
        buffer.get_episode(-3)
    np.testing.assert_array_equal(buffer.get_episode(-1)['a'], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(buffer.get_episode(-2)['a'], [0.0, 1.0])


@pytest.mark.parametrize('n, block', [(5, 2), (1, 4), (7, 3)])
def test_read_array_reads_a_last_block_of_one_step(n, block):
    """Loading a store block-wise must fill every row, not leave the last one uninitialised."""
    array = np.arange(n * 2, dtype=np.float32).reshape(n, 2) + 1
    got = read_array(array, block_steps=block, progress=False)
    np.testing.assert_array_equal(got, array)
    doubled = read_array(array, block_steps=block, convert=lambda b: 2 * b, progress=False)
    np.testing.assert_array_equal(doubled, 2 * array)
