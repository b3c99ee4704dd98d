"""A zarr store's .zarray shapes are claims, not data: data/x declared (10**11, 2) beside
meta/episode_ends declared (10**11,), no chunk written, passed the "no more episode ends
than steps" bound (both claims agree) and episode_ends was read whole (MemoryError for
745 GiB of the fill value). Pinned: episode_ends is bounded by its chunks actually stored,
one NotAReplayBufferError line naming it; a store whose episode_ends spans several chunks
still opens."""
from __future__ import annotations

import numpy as np
import pytest
import zarr

from training.replay_buffer import NotAReplayBufferError, ReplayBuffer


def test_unbacked_shapes_that_agree_are_refused_before_reading(tmp_path):
    path = tmp_path / 'huge.zarr'
    group = zarr.open_group(path, mode='w', zarr_format=2)
    group.create_group('data').create_array('x', shape=(10 ** 11, 2), dtype='f4',
                                            chunks=(1000, 2))
    group.create_group('meta').create_array('episode_ends', shape=(10 ** 11,), dtype='i8',
                                            chunks=(1000,))
    with pytest.raises(NotAReplayBufferError, match='meta/episode_ends claims 100000000000 '
                       'episodes but only 0 of its chunks') as caught:
        ReplayBuffer.open(path)
    assert '\n' not in str(caught.value)


def test_a_claim_one_chunk_past_the_stored_ones_is_refused(tmp_path):
    """Two chunks stored, a shape needing a third: refused, not read as fill values."""
    path = tmp_path / 's.zarr'
    group = zarr.open_group(path, mode='w', zarr_format=2)
    group.create_group('data').create_array('x', shape=(30,), dtype='f4', chunks=(30,))
    ends = group.create_group('meta').create_array('episode_ends', shape=(20,), dtype='i8',
                                                   chunks=(10,))
    ends[:] = np.arange(1, 21)
    ends.resize((21,))
    with pytest.raises(NotAReplayBufferError, match='only 2 of its chunks'):
        ReplayBuffer.open(path)


def test_episode_ends_over_several_chunks_open(tmp_path):
    """2500 one-step episodes (episode_ends chunked by 1024: three chunks, the last one
    partly filled) open as saved."""
    path = tmp_path / 's.zarr'
    ends = np.arange(1, 2501)
    ReplayBuffer.from_arrays({'x': np.zeros((2500, 2), np.float32)}, ends).save_to(
        path, progress=False)
    buffer = ReplayBuffer.open(path)
    assert buffer.n_episodes == 2500
    np.testing.assert_array_equal(buffer.episode_ends, ends)
