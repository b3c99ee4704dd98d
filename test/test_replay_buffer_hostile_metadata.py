"""A zarr store from a colleague (or inside a downloaded zip) is checked by its arrays'
metadata before any value is read (training/replay_buffer.py, _validated_layout):

- a meta/episode_ends/.zarray claiming an absurd length with no chunks behind it was read
  whole, numpy's _ArrayMemoryError traceback for petabytes of the fill value (`dp-ros
  inspect`, training, `dp-ros convert`, download-pusht's check); now more episode ends than
  the data arrays have steps is a one-line NotAReplayBufferError naming episode_ends;
- array metadata zarr cannot read (a .zarray cut short, a codec not installed, object dtype
  through the pickle filter) gave JSONDecodeError / UnknownCodecError / ValueError
  tracebacks; now one line naming the array."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dp_ros import cli
from training.replay_buffer import NotAReplayBufferError, ReplayBuffer


def saved_store(tmp_path, **more):
    """A small store of two episodes (4 + 6 steps) saved to s.zarr, to damage."""
    path = tmp_path / 's.zarr'
    ReplayBuffer.from_arrays({'state': np.zeros((10, 3), np.float32), **more},
                             np.array([4, 10])).save_to(path, progress=False)
    return path


@pytest.fixture
def store(tmp_path):
    path = saved_store(tmp_path, action=np.zeros((10, 2), np.float32))
    zarray = path / 'meta/episode_ends/.zarray'
    meta = json.loads(zarray.read_text())
    meta['shape'] = [10 ** 15]
    zarray.write_text(json.dumps(meta))
    return path


def test_opening_a_store_claiming_1e15_episodes_is_a_replay_buffer_error(store):
    """ReplayBuffer.open refuses the claim in its own error type, naming episode_ends."""
    with pytest.raises(NotAReplayBufferError, match='episode_ends'):
        ReplayBuffer.open(store)


def test_a_store_claiming_more_episodes_than_steps_is_refused(tmp_path):
    """An episode holds a step at least: 11 ends over 10 steps is refused before reading."""
    path = saved_store(tmp_path)
    zarray = path / 'meta/episode_ends/.zarray'
    zarray.write_text(json.dumps({**json.loads(zarray.read_text()), 'shape': [11]}))
    with pytest.raises(NotAReplayBufferError, match='11 episodes.*10 steps'):
        ReplayBuffer.open(path)


def test_opening_a_store_whose_episode_ends_metadata_is_cut_short_names_it(tmp_path):
    """ReplayBuffer.open (training, convert) names meta/episode_ends in its own error."""
    path = saved_store(tmp_path)
    (path / 'meta/episode_ends/.zarray').write_text('{"shape": [')
    with pytest.raises(NotAReplayBufferError, match='meta/episode_ends has metadata'):
        ReplayBuffer.open(path)


def test_inspect_of_such_a_store_is_one_line(store, capsys):
    """`dp-ros inspect` of it exits 2 with one line, no traceback."""
    code = cli.main(['inspect', str(store), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err


OBJECT_PICKLE = {'dtype': '|O', 'filters': [{'id': 'pickle', 'protocol': 4}], 'compressor': None,
                 'fill_value': None}


@pytest.mark.parametrize('zarray', [
    '{"shape": [',  # cut short
    'codec',  # a compressor this machine lacks
    'pickle',  # object dtype through numcodecs' pickle filter (zarr 2 would unpickle it)
], ids=['cut_short', 'unknown_codec', 'object_pickle'])
def test_a_data_array_zarr_cannot_read_is_named_in_one_line(tmp_path, capsys, zarray):
    """`dp-ros inspect` of a store whose data/state/.zarray is cut short, names a codec that is
    not installed, or asks for pickled objects exits 2 with one line naming data/state, not
    JSONDecodeError / UnknownCodecError / zarr's ValueError tracebacks."""
    path = saved_store(tmp_path, action=np.zeros((10, 2), np.float32))
    meta_path = path / 'data/state/.zarray'
    if zarray == 'codec':
        meta = json.loads(meta_path.read_text())
        meta['compressor'] = {'id': 'no_such_codec'}
        zarray = json.dumps(meta)
    elif zarray == 'pickle':
        zarray = json.dumps({**json.loads(meta_path.read_text()), **OBJECT_PICKLE})
    meta_path.write_text(zarray)
    code = cli.main(['inspect', str(path), '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert 'data/state' in err
