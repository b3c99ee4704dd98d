"""Behaviour of training/replay_buffer.py that a second mutation review found unpinned by its
other tests: a range read decompresses each chunk once and reads about 8 MB at a time; an
empty episode adds no step range; in-memory appends keep the buffer's dtype and grow into spare
capacity; what a buffer hands out (its data mapping, its attributes) cannot change it or its
store; a store of arrays of unequal lengths is refused naming the short array; a store of one
episode written array by array gets its episode end.

Each test kills a mutant the module's other tests let live. The last found a defect, mended
with it: a save_to destination that is a symlink loop ended in a RuntimeError traceback
(Python 3.11's Path.resolve() raises that, not the OSError the link-loop guard caught).
Stores are built as the other replay-buffer tests build them (ReplayBuffer.from_arrays +
save_to, zarr arrays in memory).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.storage import LoggingStore, MemoryStore

from training.replay_buffer import (
    NotAReplayBufferError,
    ReplayBuffer,
    _block_steps,
    read_array,
)


def saved(path: Path, **root_attrs) -> ReplayBuffer:
    """A store of 2 episodes (2 and 3 steps) of one key 'x' of 2 columns, reopened 'r+'."""
    ReplayBuffer.from_arrays({'x': np.arange(10, dtype=np.float32).reshape(5, 2)},
                             np.array([2, 5])).save_to(path, progress=False)
    buffer = ReplayBuffer.open(path, mode='r+')
    if root_attrs:
        buffer.set_root_attrs(**root_attrs)
    return buffer


# ------------------------------------------------------------------ reading
def test_a_range_read_decompresses_each_chunk_once():
    """read_array's blocks start on chunk boundaries even when a range starts inside a chunk,
    so each chunk of the range is fetched from the store once."""
    store = MemoryStore()
    zarr.create_array(store, shape=(12,), chunks=(4,), dtype='int32', compressors=None)[:] = \
        np.arange(12, dtype=np.int32)
    array = zarr.open_array(LoggingStore(store), mode='r')
    logged = array.store_path.store  # the store the array reads through
    logged.counter.clear()
    out = read_array(array, ranges=[(3, 10)], block_steps=4, progress=False)
    np.testing.assert_array_equal(out, np.arange(3, 10))
    assert logged.counter['get'] == 3  # chunks 0, 1 and 2, one fetch each


def test_reads_and_writes_go_in_whole_chunks_of_about_8_mb():
    """A read or write block is as many whole time chunks as fit in about 8 MB."""
    steps = np.zeros((0, 1000), dtype=np.float32)  # 4000 bytes a step
    assert _block_steps(10, steps) == 2000  # 200 chunks of 40 kB
    assert _block_steps(3000, steps) == 3000  # one chunk of 12 MB: no fewer than one


def test_an_empty_episode_adds_no_step_range():
    """step_ranges leaves out an episode of no steps (a repeated end that open reads)."""
    buffer = ReplayBuffer.from_arrays({'x': np.arange(5)}, np.array([2, 2, 5]))
    assert buffer.step_ranges([1]) == []
    assert buffer.step_ranges([0, 1]) == [(0, 2)]


def test_a_store_loaded_into_memory_says_so(tmp_path):
    """copy_to_memory's buffer names its source and that it is held in memory."""
    saved(tmp_path / 'rb.zarr')
    buffer = ReplayBuffer.copy_to_memory(tmp_path / 'rb.zarr', progress=False)
    assert buffer.location == f"{tmp_path / 'rb.zarr'} (in memory)"
    assert repr(buffer).startswith(f"ReplayBuffer({tmp_path / 'rb.zarr'} (in memory), numpy")


def test_an_episode_read_holds_only_the_keys_asked_for():
    """get_episode(idx, keys) returns those keys' steps of the episode, no other key."""
    buffer = ReplayBuffer.from_arrays({'x': np.arange(5), 'y': np.arange(5) * 10},
                                      np.array([2, 5]))
    episode = buffer.get_episode(1, keys=['y'])
    assert list(episode) == ['y']
    np.testing.assert_array_equal(episode['y'], [20, 30, 40])


# ------------------------------------------------------------------ what a buffer hands out
def test_a_buffers_data_mapping_is_read_only(tmp_path):
    """buffer.data is a view: a key cannot be added or replaced through it."""
    buffer = ReplayBuffer.from_arrays({'x': np.arange(3)}, np.array([3]))
    with pytest.raises(TypeError):
        buffer.data['y'] = np.arange(3)
    assert buffer.keys() == ['x']


def test_root_attributes_handed_out_are_a_copy(tmp_path):
    """Changing the dict root_attrs returns neither changes the store nor the buffer."""
    buffer = saved(tmp_path / 'rb.zarr', fps=10)
    attrs = buffer.root_attrs()
    attrs['fps'] = 99
    assert buffer.root_attrs() == {'fps': 10}
    assert ReplayBuffer.open(tmp_path / 'rb.zarr').root_attrs() == {'fps': 10}


def test_array_attributes_handed_out_are_a_copy(tmp_path):
    """Changing the dict attrs(key) returns neither changes data/key's attributes nor the
    store."""
    buffer = saved(tmp_path / 'rb.zarr')
    buffer['x'].attrs['names'] = ['a', 'b']
    attrs = buffer.attrs('x')
    attrs['names'] = ['c']
    assert buffer.attrs('x') == {'names': ['a', 'b']}
    assert ReplayBuffer.open(tmp_path / 'rb.zarr').attrs('x') == {'names': ['a', 'b']}


# ------------------------------------------------------------------ in-memory appends
def test_an_appended_episode_is_stored_in_the_buffers_dtype():
    """An episode of another dtype that may be cast (int into float) is stored in the dtype
    of the buffer's first episode, also when the buffer has to grow: earlier values are not
    truncated to the new episode's dtype."""
    buffer = ReplayBuffer.create_in_memory()
    buffer.add_episode({'x': np.array([0.5, 1.5])})
    buffer.add_episode({'x': np.array([2, 3, 4, 5])})  # more than the spare capacity
    assert buffer['x'].dtype == np.float64
    np.testing.assert_array_equal(buffer['x'], [0.5, 1.5, 2, 3, 4, 5])


def test_in_memory_appends_grow_into_spare_capacity():
    """An append that fits the capacity left by the last growth (twice the steps held then)
    does not copy the steps already held: the buffer's array stays on the same memory."""
    buffer = ReplayBuffer.create_in_memory()
    buffer.add_episode({'x': np.zeros(4)})
    buffer.add_episode({'x': np.ones(2)})  # grows to 8
    before = buffer['x']
    buffer.add_episode({'x': np.full(2, 2.0)})  # 8 steps: fits
    assert np.shares_memory(before, buffer['x'])
    np.testing.assert_array_equal(buffer['x'], [0, 0, 0, 0, 1, 1, 2, 2])


# ------------------------------------------------------------------ opening a store
def test_arrays_of_unequal_lengths_are_refused_naming_the_short_one(tmp_path):
    """A store whose data arrays differ in length is refused naming the array that does not
    match episode_ends, not as more episodes than steps (the longest array counts)."""
    path = tmp_path / 'rb.zarr'
    ReplayBuffer.from_arrays({'x': np.arange(5), 'y': np.arange(5)},
                             np.array([2, 5])).save_to(path, progress=False)
    y = zarr.open_array(str(path / 'data/y'), mode='r+')
    y.resize((1,))
    with pytest.raises(NotAReplayBufferError, match=r'data/y has shape \(1,\) but '
                                                    r'meta/episode_ends says 5 steps'):
        ReplayBuffer.open(path)


def test_a_store_of_sharded_episode_ends_opens(tmp_path):
    """A zarr format 3 store whose meta/episode_ends is sharded (one stored shard of several
    chunks) opens: its shards, not its inner chunks, are what back the claimed length."""
    path = tmp_path / 'rb.zarr'
    group = zarr.open_group(str(path), mode='w', zarr_format=3)
    group.create_array('data/x', shape=(10,), chunks=(10,), dtype='float32')[:] = np.arange(10)
    ends = group.create_array('meta/episode_ends', shape=(5,), chunks=(2,), shards=(8,),
                              dtype='int64')
    ends[:] = [2, 4, 6, 8, 10]
    np.testing.assert_array_equal(ReplayBuffer.open(path).episode_ends, [2, 4, 6, 8, 10])


# ------------------------------------------------------------------ writing
def test_set_episode_ends_of_one_episode_is_written(tmp_path):
    """write_array + set_episode_ends of a single episode leaves a store that opens with it."""
    path = tmp_path / 'rb.zarr'
    buffer = ReplayBuffer.create(path)
    buffer.write_array('x', (3, 2), np.float32, [np.ones((3, 2), np.float32)])
    buffer.set_episode_ends(np.array([3]))
    np.testing.assert_array_equal(ReplayBuffer.open(path).episode_ends, [3])


def test_saving_to_a_link_loop_is_not_taken_for_the_source_store(tmp_path):
    """A destination that is a symlink loop cannot be this buffer's folder: save_to does not
    refuse it as 'the store this buffer reads from', nor end in the RuntimeError that
    Path.resolve() raises for a loop before Python 3.13 (it was caught as OSError only)."""
    buffer = saved(tmp_path / 'rb.zarr')
    loop = tmp_path / 'loop'
    os.symlink(loop, loop)
    with pytest.raises(OSError):  # not ValueError('... the store this buffer reads from')
        buffer.save_to(loop, progress=False)
