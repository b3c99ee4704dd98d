"""ReplayBuffer: reads the paper's Push-T store, writes the same layout, round trips."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import zarr

from training.replay_buffer import NotAReplayBufferError, ReplayBuffer, read_array


def make_episodes(lengths=(3, 5, 4), seed=0):
    rng = np.random.default_rng(seed)
    return [{
        'img': rng.integers(0, 256, size=(n, 8, 8, 3)).astype(np.float32),
        'state': rng.normal(size=(n, 5)).astype(np.float32),
        'action': rng.normal(size=(n, 2)).astype(np.float32),
    } for n in lengths]


def assert_buffer_equals(buffer: ReplayBuffer, episodes: list[dict]) -> None:
    assert buffer.n_episodes == len(episodes)
    assert buffer.n_steps == sum(len(e['action']) for e in episodes)
    np.testing.assert_array_equal(buffer.episode_lengths, [len(e['action']) for e in episodes])
    assert sorted(buffer.keys()) == sorted(episodes[0])
    for i, expected in enumerate(episodes):
        got = buffer.get_episode(i)
        for key, value in expected.items():
            assert got[key].dtype == value.dtype
            np.testing.assert_array_equal(got[key], value)


def memory_url() -> str:
    return f'memory://dp_ros_test/{uuid.uuid4().hex}.zarr'


# ------------------------------------------------------------------ the real dataset
def test_opens_paper_pusht_store(pusht_zarr):
    buffer = ReplayBuffer.open(pusht_zarr)
    assert buffer.backend == 'zarr'
    assert buffer.n_episodes == 206
    assert buffer.n_steps == 25650
    assert buffer.episode_ends.dtype == np.int64
    assert sorted(buffer.keys()) == ['action', 'img', 'keypoint', 'n_contacts', 'state']
    lengths = buffer.episode_lengths
    assert lengths.sum() == 25650 and lengths.min() == 49 and lengths.max() == 246
    episode = buffer.get_episode(3, keys=['img', 'state', 'action'])
    n = lengths[3]
    assert episode['img'].shape == (n, 96, 96, 3) and episode['img'].dtype == np.float32
    assert episode['state'].shape == (n, 5)
    assert episode['action'].shape == (n, 2)
    last = buffer.get_episode(-1, keys=['action'])['action']
    np.testing.assert_array_equal(last, zarr.open_group(str(pusht_zarr), mode='r')[
        'data/action'][buffer.episode_ends[-2]:])


def test_paper_store_opened_read_only_refuses_writes(pusht_zarr):
    buffer = ReplayBuffer.open(pusht_zarr, mode='r')
    with pytest.raises(PermissionError, match='read-only'):
        buffer.add_episode(make_episodes((2,))[0])
    assert buffer.n_episodes == 206


def test_copy_to_memory_subset_of_paper_store(pusht_zarr):
    buffer = ReplayBuffer.copy_to_memory(pusht_zarr, keys=['state', 'action'])
    assert buffer.backend == 'numpy'
    assert buffer.keys() == ['state', 'action']
    assert isinstance(buffer.data['action'], np.ndarray)
    raw = zarr.open_group(str(pusht_zarr), mode='r')
    np.testing.assert_array_equal(buffer.data['state'], raw['data/state'][:])
    with pytest.raises(KeyError, match='no data/nope'):
        ReplayBuffer.copy_to_memory(pusht_zarr, keys=['nope'])


# ------------------------------------------------------------------ writing / round trips
@pytest.mark.parametrize('where', ['path', 'file_url', 'memory'])
def test_add_episode_round_trip(tmp_path, where):
    location = {'path': tmp_path / 'rb.zarr', 'file_url': (tmp_path / 'rb.zarr').as_uri(),
                'memory': memory_url()}[where]
    episodes = make_episodes()
    buffer = ReplayBuffer.create(location)
    for episode in episodes:
        buffer.add_episode(episode, chunk_length=4)
    assert_buffer_equals(buffer, episodes)
    reopened = ReplayBuffer.open(location)
    assert_buffer_equals(reopened, episodes)
    assert reopened.data['img'].chunks == (4, 8, 8, 3)
    assert_buffer_equals(ReplayBuffer.copy_to_memory(location), episodes)
    # appending to the reopened store continues the episode index
    more = make_episodes((2,), seed=1)
    appendable = ReplayBuffer.open(location, mode='r+')
    appendable.add_episode(more[0])
    assert_buffer_equals(ReplayBuffer.open(location), episodes + more)


@pytest.mark.parametrize('where', ['path', 'memory'])
def test_in_memory_buffer_save_to_round_trip(tmp_path, where):
    location = tmp_path / 'saved.zarr' if where == 'path' else memory_url()
    episodes = make_episodes((7, 1, 30))
    buffer = ReplayBuffer.create_in_memory()
    for episode in episodes:
        buffer.add_episode(episode)
    assert buffer.backend == 'numpy'
    assert_buffer_equals(buffer, episodes)
    buffer.save_to(location)
    assert_buffer_equals(ReplayBuffer.open(location), episodes)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        buffer.save_to(location)
    ReplayBuffer.from_arrays({k: v[:3] for k, v in episodes[0].items()}, [3]).save_to(
        location, overwrite=True)
    assert ReplayBuffer.open(location).n_steps == 3


def test_written_metadata_matches_paper_store(tmp_path, pusht_zarr):
    """Same zarr-2 array metadata as the published store, so the paper's zarr-2 code reads it."""
    path = tmp_path / 'rb.zarr'
    buffer = ReplayBuffer.create(path)
    buffer.add_episode(make_episodes((5,))[0], chunk_length=161)
    assert json.loads((path / '.zgroup').read_text()) == {'zarr_format': 2}
    for key in ('img', 'action'):
        ours = json.loads((path / 'data' / key / '.zarray').read_text())
        paper = json.loads((pusht_zarr / 'data' / key / '.zarray').read_text())
        assert ours.pop('dimension_separator') == '.'  # zarr-2 default, stated explicitly
        assert set(ours) == set(paper)
        for field in ('compressor', 'dtype', 'order', 'filters', 'zarr_format', 'fill_value'):
            assert ours[field] == paper[field], field
        assert ours['chunks'][0] == 161 and ours['chunks'][1:] == ours['shape'][1:]
    ends = json.loads((path / 'meta' / 'episode_ends' / '.zarray').read_text())
    assert ends['dtype'] == '<i8' and ends['shape'] == [1]


def test_default_chunks_are_about_2mb_along_time(tmp_path):
    buffer = ReplayBuffer.create(tmp_path / 'rb.zarr')
    buffer.add_episode({'img': np.zeros((3, 96, 96, 3), np.float32),
                        'action': np.zeros((3, 2), np.float32)})
    assert buffer.data['img'].chunks == (19, 96, 96, 3)  # ceil(2e6 / 110592), as the paper
    assert buffer.data['action'].chunks[1:] == (2,)


def test_in_memory_appends_never_write_into_caller_arrays():
    big = np.arange(20, dtype=np.float64).reshape(10, 2)
    buffer = ReplayBuffer.from_arrays({'x': big[:4]}, [4])
    buffer.add_episode({'x': np.full((3, 2), -1.0)})
    np.testing.assert_array_equal(big, np.arange(20).reshape(10, 2))
    for _ in range(50):  # many appends: capacity grows, contents stay right
        buffer.add_episode({'x': np.full((2, 2), 7.0)})
    assert buffer.n_steps == 4 + 3 + 100
    np.testing.assert_array_equal(buffer.data['x'][:4], big[:4])
    np.testing.assert_array_equal(buffer.get_episode(-1)['x'], np.full((2, 2), 7.0))


def test_read_array_converts_block_wise(tmp_path):
    buffer = ReplayBuffer.create(tmp_path / 'rb.zarr')
    buffer.add_episode({'x': np.arange(50, dtype=np.float32)[:, None]}, chunk_length=7)
    blocks = []

    def convert(block):
        blocks.append(len(block))
        return block.astype(np.uint8)
    out = read_array(buffer.data['x'], convert=convert, block_steps=14)
    assert out.dtype == np.uint8 and blocks == [14, 14, 14, 8]
    np.testing.assert_array_equal(out[:, 0], np.arange(50))


# ------------------------------------------------------------------ errors
def test_add_episode_rejects_bad_episodes(tmp_path):
    buffer = ReplayBuffer.create(tmp_path / 'rb.zarr')
    buffer.add_episode({'a': np.zeros((3, 2), np.float32), 'b': np.zeros(3, np.int64)})
    bad = [
        ({'a': np.zeros((3, 2), np.float32), 'b': np.zeros(4, np.int64)}, 'first .time. axis'),
        ({'a': np.zeros((3, 2), np.float32)}, r"missing \['b'\]"),
        ({'a': np.zeros((3, 2)), 'b': np.zeros(3, np.int64), 'c': np.zeros(3)}, r"extra \['c'\]"),
        ({'a': np.zeros((3, 3), np.float32), 'b': np.zeros(3, np.int64)}, 'step shape'),
        ({'a': np.zeros((3, 2), np.float32), 'b': np.zeros(3, np.float32)}, 'dtype float32'),
        ({'a': np.zeros((0, 2), np.float32), 'b': np.zeros(0, np.int64)}, 'zero steps'),
        ({}, 'no arrays'),
    ]
    for episode, message in bad:
        with pytest.raises(ValueError, match=message):
            buffer.add_episode(episode)
    assert buffer.n_episodes == 1 and ReplayBuffer.open(tmp_path / 'rb.zarr').n_steps == 3


def test_open_explains_what_is_not_a_replay_buffer(tmp_path):
    missing = tmp_path / 'missing.zarr'
    with pytest.raises(FileNotFoundError, match='missing.zarr'):
        ReplayBuffer.open(missing)

    no_data = tmp_path / 'no_data.zarr'
    zarr.open_group(str(no_data), mode='w', zarr_format=2).require_group('meta')
    with pytest.raises(NotAReplayBufferError, match=r'no_data.zarr.*missing group data/'):
        ReplayBuffer.open(no_data)

    no_ends = tmp_path / 'no_ends.zarr'
    group = zarr.open_group(str(no_ends), mode='w', zarr_format=2)
    group.require_group('data')
    group.require_group('meta')
    with pytest.raises(NotAReplayBufferError, match=r'no_ends.zarr.*meta/episode_ends'):
        ReplayBuffer.open(no_ends)

    short = tmp_path / 'short.zarr'
    ReplayBuffer.from_arrays({'a': np.zeros((5, 2)), 'b': np.zeros(5)}, [2, 5]).save_to(short)
    zarr.open_group(str(short), mode='r+')['data/b'].resize((4,))
    with pytest.raises(NotAReplayBufferError, match=r'short.zarr: data/b has shape \(4,\)'):
        ReplayBuffer.open(short)

    url = memory_url()
    zarr.open_group(url, mode='w', zarr_format=2)
    with pytest.raises(NotAReplayBufferError, match='memory://.*missing group data/'):
        ReplayBuffer.open(url)


def test_create_refuses_existing_store_unless_overwrite(tmp_path):
    path = tmp_path / 'rb.zarr'
    ReplayBuffer.create(path).add_episode({'a': np.ones(2)})
    with pytest.raises(FileExistsError, match='rb.zarr already exists'):
        ReplayBuffer.create(path)
    assert ReplayBuffer.create(path, overwrite=True).n_episodes == 0
    assert ReplayBuffer.open(path).n_episodes == 0


def test_save_to_progress_flag_controls_the_bars(tmp_path, capsys):
    buf = ReplayBuffer.from_arrays({'x': np.arange(10, dtype=np.float32)[:, None]},
                                   np.array([4, 10]))
    buf.save_to(tmp_path / 'quiet.zarr', progress=False)
    assert 'writing x' not in capsys.readouterr().err
    buf.save_to(tmp_path / 'loud.zarr', progress=True)
    assert 'writing x' in capsys.readouterr().err
    np.testing.assert_array_equal(ReplayBuffer.open(tmp_path / 'quiet.zarr').data['x'][:],
                                  buf.data['x'])
