"""Edges of what training reads from a store's metadata: image values that fit uint8 (and
those that do not), observation names, array shapes that do not fit, exclude_episodes
indices, the split record against changed episodes, the recorded control period (which
attribute wins, which values count), and the names, sources and camera crop shape_meta
takes from the arrays' attributes (names and sources sliced as the key is)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import zarr

from training.dataset_meta import (
    dataset_shape_meta,
    excluded_episodes,
    images_to_uint8,
    observation_keys,
    parse_low_dim_key,
    split_change,
    split_record,
    store_shapes,
)
from training.errors import DatasetError, DatasetKeyError
from training.lerobot_source import open_training_store
from training.replay_buffer import ReplayBuffer, recorded_control_period


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int16, np.int64])
def test_images_of_integral_values_in_0_255_become_uint8(dtype):
    block = np.array([[0, 17], [254, 255]], dtype=dtype)
    out = images_to_uint8('cam')(block)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 17], [254, 255]]


@pytest.mark.parametrize('value, message', [
    (256, r'has values in \[0.*256.*\], expected 0..255'),
    (-1, r'has values in \[-1.*\], expected 0..255'),
    (254.5, r'holds non-integral values \(e.g. 254.5\)'),
    (0.25, r'holds non-integral values \(e.g. 0.25\)'),
])
def test_images_that_would_change_are_refused_naming_store_and_key(value, message):
    block = np.array([0.0, 10.0, value])
    with pytest.raises(DatasetError, match=rf"^s.zarr: image array 'cam' {message}"):
        images_to_uint8('cam', 's.zarr')(block)


def test_uint8_empty_and_unsupported_image_blocks():
    block = np.array([1, 2], dtype=np.uint8)
    assert images_to_uint8('cam')(block) is block
    assert images_to_uint8('cam')(np.zeros((0, 2), dtype=np.float64)).dtype == np.uint8
    with pytest.raises(DatasetError, match="image array 'cam' has unsupported dtype bool"):
        images_to_uint8('cam')(np.array([True]))


def test_low_dim_specs_with_spaces_and_negative_bounds():
    assert parse_low_dim_key(' state [ -3 : -1 ] ') == ('state', slice(-3, -1))
    assert parse_low_dim_key('a/b.c[0:]') == ('a/b.c', slice(0, None))
    assert parse_low_dim_key(('state', None)) == ('state', slice(None))
    with pytest.raises(DatasetError, match='is not'):
        parse_low_dim_key('state[1:2:3]')


def test_observation_names_must_be_unique_and_not_action():
    assert observation_keys() == ({'image': 'img'}, {'agent_pos': ('state', slice(0, 2))})
    for rgb, low_dim in [({'x': 'img'}, {'x': 'state'}), ({'action': 'img'}, None),
                         (None, {'action': 'state'})]:
        with pytest.raises(DatasetError, match="must be unique and not 'action'"):
            observation_keys(rgb_keys=rgb, low_dim_keys=low_dim)


def _buffer(**extra: np.ndarray) -> ReplayBuffer:
    data = {'img': np.zeros((6, 4, 5, 3), np.uint8), 'state': np.zeros((6, 3), np.float32),
            'action': np.zeros((6, 2, 2), np.float32), **extra}
    return ReplayBuffer.from_arrays(data, np.array([2, 6]))


def test_store_shapes_of_images_low_dim_slices_and_a_flattened_action():
    shapes, action = store_shapes(_buffer(), {'image': 'img'},
                                  {'a': ('state', slice(1, None)), 'b': ('state', slice(None))},
                                  'action', 's.zarr')
    assert shapes == {'image': (3, 4, 5), 'a': (2,), 'b': (3,)} and action == 4


def test_store_shapes_refuse_what_does_not_fit():
    buf = _buffer(flat=np.zeros((6, 7), np.uint8))
    with pytest.raises(DatasetError, match=r"s.zarr: image array 'flat' has shape \(6, 7\)"):
        store_shapes(buf, {'image': 'flat'}, {}, 'action', 's.zarr')
    with pytest.raises(DatasetError, match="low-dim key 'q' selects no columns of 'state'"):
        store_shapes(buf, {}, {'q': ('state', slice(3, None))}, 'action', 's.zarr')
    with pytest.raises(DatasetKeyError, match='s.zarr has no data/cmd'):
        store_shapes(buf, {}, {}, 'cmd', 's.zarr')


def test_excluded_episodes_mask_and_bad_indices():
    assert excluded_episodes(4, None, 'x').tolist() == [False] * 4
    assert excluded_episodes(4, [np.int64(3), 0], 'x').tolist() == [True, False, False, True]
    for bad in ([4], [-1], [True], [1.0]):
        with pytest.raises(DatasetError, match=r'x: exclude_episodes .* are not episodes of '
                                               r'this dataset \(0..3\)'):
            excluded_episodes(4, bad, 'x')


def test_the_split_record_and_what_changed_since():
    ends = np.array([3, 7, 12])
    record = split_record(ends, np.array([False, True, False]), np.array([True, False, True]))
    assert (record['n_episodes'], record['val_episodes'], record['train_episodes']) == (
        3, [1], [0, 2])
    assert split_change(record, ends) is None
    assert split_change(record, np.array([3, 7, 12, 15])) == (
        '4 episodes, 3 when the split was drawn')
    assert split_change(record, np.array([3, 8, 12])) == (
        '3 episodes as then, but not of the same lengths')


def _store(path: Path, **root: object):
    _buffer().save_to(path)
    zarr.open(str(path), mode='r+').attrs.update(root)
    return open_training_store(path)


@pytest.mark.parametrize('attrs, expected', [
    ({'control_period_s': 0.05}, (0.05, 'control_period_s 0.05')),
    ({'fps': 20}, (0.05, 'fps 20')),
    ({'control_period_s': 0.2, 'fps': 20}, (0.2, 'control_period_s 0.2')),
    ({'control_period_s': 0, 'fps': 4}, (0.25, 'fps 4')),
    ({'control_period_s': -0.1}, None),
    ({'control_period_s': True}, None),
    ({'fps': math.inf}, None),
    ({'fps': '10'}, None),
    ({}, None),
])
def test_the_recorded_control_period(tmp_path, attrs, expected):
    assert recorded_control_period(_store(tmp_path / 's.zarr', **attrs)) == expected


def test_shape_meta_takes_names_and_sources_sliced_and_the_crop(tmp_path):
    path = tmp_path / 's.zarr'
    _buffer().save_to(path)
    data = zarr.open(str(path), mode='r+')['data']
    sources = [{'kind': 'joint_state', 'topic': '/joint_states', 'width': 3}]
    data['state'].attrs.update({'names': ['j0', 'j1', 'j2'], 'sources': sources})
    data['action'].attrs.update({'names': ['a0', 'a1', 'a2', 'a3']})
    data['img'].attrs.update({'camera_crop': [1, 2, 30, 40]})
    meta = dataset_shape_meta(path, rgb_keys={'image': 'img'},
                              low_dim_keys={'tail': 'state[1:]', 'all': 'state'})
    obs = meta['obs']
    assert obs['image'] == {'shape': [3, 4, 5], 'type': 'rgb', 'camera_crop': [1, 2, 30, 40]}
    assert obs['tail'] == {'shape': [2], 'type': 'low_dim', 'names': ['j1', 'j2'],
                           'sources': [{**sources[0], 'width': 2}]}
    assert obs['all'] == {'shape': [3], 'type': 'low_dim', 'names': ['j0', 'j1', 'j2'],
                          'sources': sources}
    assert meta['action'] == {'shape': [4], 'names': ['a0', 'a1', 'a2', 'a3']}
    assert list(obs) == ['image', 'tail', 'all']  # images first
