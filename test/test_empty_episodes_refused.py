"""A store is written with at least one step per episode.

ReplayBuffer.open refuses a store with more episodes than steps (its bound before reading
the ends), so a writer that let an empty episode through made stores it could not open:
`from_arrays(..., [0, 0, 1]).save_to` wrote one ('claims 3 episodes but the data arrays hold
1 steps' at the next open). Every writer now refuses it, naming the episode: save_to,
set_episode_ends (the LeRobot -> zarr writer), EpisodeWriter.add and write_fresh_store
(bag2zarr), which also refuse arrays of different lengths (the chunk writer laid them out
by the first array's length). In memory (from_arrays, the training set) empty episodes stay
readable, as open reads a store with one among enough steps; `dp-ros replay` and
`dp-ros arm-record` name one they are asked to play (episode_span).
"""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.bags.reader import BagError
from training.replay_buffer import ReplayBuffer
from training.zarr_writer import EpisodeWriter, write_fresh_store


def episode(n: int, m: int | None = None) -> dict[str, np.ndarray]:
    return {'action': np.zeros((n, 2), np.float32),
            'state': np.zeros((n if m is None else m, 3), np.float32)}


def test_save_to_refuses_an_empty_episode_and_writes_nothing(tmp_path):
    buf = ReplayBuffer.from_arrays({'action': np.zeros((1, 2), np.float32)}, np.array([0, 0, 1]))
    assert list(buf.episode_lengths) == [0, 0, 1]  # in memory it is held as given
    with pytest.raises(ValueError, match=r'episode 0 is empty \(its end in episode_ends, 0, is '
                                         r'where it starts; 2 of 3 episodes\)'):
        buf.save_to(tmp_path / 'e.zarr', progress=False)
    assert not (tmp_path / 'e.zarr').exists()


def test_an_empty_episode_in_the_middle_is_named(tmp_path):
    buf = ReplayBuffer.from_arrays({'action': np.zeros((6, 2), np.float32)}, np.array([3, 3, 6]))
    with pytest.raises(ValueError, match='episode 1 is empty'):
        buf.save_to(tmp_path / 'e.zarr', progress=False)
    ReplayBuffer.from_arrays({'action': np.zeros((6, 2), np.float32)},
                             np.array([3, 6])).save_to(tmp_path / 'ok.zarr', progress=False)
    assert list(ReplayBuffer.open(tmp_path / 'ok.zarr').episode_lengths) == [3, 3]


def test_set_episode_ends_refuses_an_empty_episode(tmp_path):
    store = ReplayBuffer.create(tmp_path / 's.zarr')
    store.write_array('action', (6, 2), np.float32, [np.zeros((6, 2), np.float32)])
    with pytest.raises(ValueError, match='episode 2 is empty'):
        store.set_episode_ends(np.array([3, 6, 6]))
    store.set_episode_ends(np.array([3, 6]))
    assert list(ReplayBuffer.open(tmp_path / 's.zarr').episode_ends) == [3, 6]


def writer(tmp_path, limit_bytes: int = 1 << 30) -> EpisodeWriter:
    return EpisodeWriter(tmp_path / 'out.zarr', False, tmp_path / 'user.zarr', limit_bytes,
                         progress=False)


def test_episode_writer_refuses_a_zero_step_episode_naming_its_bag(tmp_path):
    w = writer(tmp_path)
    w.add(episode(4), source='a.mcap')
    with pytest.raises(BagError, match=r'episode 2 \(bag b.mcap\) has zero steps'):
        w.add(episode(0), source='b.mcap')
    assert (w.episodes_added, w.steps_added) == (1, 4)  # nothing of it queued
    store = w.flush()
    assert list(store.episode_ends) == [4]


def test_episode_writer_refuses_arrays_of_different_lengths(tmp_path):
    """A state one step short of the actions: was queued and laid out by the first array's
    length (the chunk writer read past the shorter one's end)."""
    w = writer(tmp_path)
    with pytest.raises(BagError, match=r"episode 1 \(bag a.mcap\): its arrays must share their "
                                       r"first \(time\) axis, got lengths \{'action': 5, "
                                       r"'state': 4\}"):
        w.add(episode(5, 4), source='a.mcap')
    with pytest.raises(BagError, match='episode 1 has no arrays'):
        w.add({})
    assert w.flush() is None and not (tmp_path / 'out.zarr').exists()


def test_write_fresh_store_checks_every_episode(tmp_path):
    with pytest.raises(BagError, match='no episodes to write'):
        write_fresh_store(tmp_path / 'a.zarr', [])
    with pytest.raises(BagError, match=r'episode 1 has zero steps'):
        write_fresh_store(tmp_path / 'b.zarr', [episode(3), episode(0)])
    assert not (tmp_path / 'a.zarr').exists() and not (tmp_path / 'b.zarr').exists()
    write_fresh_store(tmp_path / 'c.zarr', [episode(3), episode(2)], workers=1)
    store = ReplayBuffer.open(tmp_path / 'c.zarr')
    assert list(store.episode_ends) == [3, 5] and store['state'].shape == (5, 3)


def test_add_episode_names_the_same_problems():
    buf = ReplayBuffer.create_in_memory()
    with pytest.raises(ValueError, match='episode has no arrays'):
        buf.add_episode({})
    with pytest.raises(ValueError, match='episode has zero steps'):
        buf.add_episode(episode(0))
    with pytest.raises(ValueError, match='must share their first .time. axis'):
        buf.add_episode(episode(2, 3))
    buf.add_episode(episode(2))
    assert list(buf.episode_ends) == [2]


def test_the_arm_twins_demonstrations_refuse_an_empty_episode_by_name():
    """A store of another tool with a repeated episode end (it opens): `dp-ros arm-record`
    names the empty episode (its first state was an IndexError) and plays the others."""
    from pathlib import Path

    from sim_bridge.arm_demos import Demonstrations

    demos = Demonstrations(states=np.zeros((6, 5)), ends=np.array([3, 3, 6]),
                           dataset=Path('d.zarr'))
    with pytest.raises(ValueError, match=r'episode 1 of d\.zarr is empty \(its end in '
                                         r'episode_ends, 3, is where it starts\)'):
        demos.episode(1)
    assert len(demos.episode(0)) == 3 and len(demos.episode(2)) == 3
