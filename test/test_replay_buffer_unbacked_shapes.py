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

from training.replay_buffer import NotAReplayBufferError, ReplayBuffer, _validated_layout


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


class UnlistedStore(zarr.storage.WrapperStore):
    """A store that lists no key, as an HTTP store without a directory listing: members
    known from consolidated metadata, chunks only asked for by key."""

    async def list(self):
        return
        yield

    async def list_prefix(self, prefix: str):
        return
        yield

    async def list_dir(self, prefix: str):
        return
        yield


def write_consolidated(path, n_ends: int, claimed: int):
    group = zarr.open_group(path, mode='w', zarr_format=2)
    group.create_group('data').create_array('x', shape=(claimed,), dtype='f4', chunks=(10,))
    ends = group.create_group('meta').create_array('episode_ends', shape=(n_ends,),
                                                   dtype='i8', chunks=(10,))
    ends[:] = np.arange(1, n_ends + 1)
    if claimed > n_ends:
        ends.resize((claimed,))
    group['data/x'][:n_ends] = np.arange(n_ends, dtype='f4')
    zarr.consolidate_metadata(path, zarr_format=2)


def test_a_store_that_lists_nothing_opens_by_asking_for_its_chunks(tmp_path):
    """An HTTP store without directory listing (members from consolidated metadata) opens:
    its episode_ends chunks are asked for by key, not counted from a listing (which found
    none and refused every such store)."""
    write_consolidated(tmp_path / 'ok.zarr', 25, 25)
    store = UnlistedStore(zarr.storage.LocalStore(tmp_path / 'ok.zarr', read_only=True))
    data, ends = _validated_layout(zarr.open_group(store, mode='r'), 'ok.zarr')
    assert list(data) == ['x'] and ends.tolist() == list(range(1, 26))


def test_a_store_that_lists_nothing_still_refuses_an_unbacked_claim(tmp_path):
    """The same store claiming 10**6 episode ends with three chunks behind them: refused at
    the first chunk key missing, before anything is read."""
    write_consolidated(tmp_path / 'bomb.zarr', 25, 10 ** 6)
    store = UnlistedStore(zarr.storage.LocalStore(tmp_path / 'bomb.zarr', read_only=True))
    with pytest.raises(NotAReplayBufferError, match='only 3 of its chunks'):
        _validated_layout(zarr.open_group(store, mode='r'), 'bomb.zarr')
