"""What a store's recorded sources say about the observations a policy is trained on.

- An observation sampled at an offset (bag2zarr's `offset` on a state, 50 ms ahead of each
  grid time) is what the policy node can never give it: the node takes every observation at
  the observation time and applies no offset. bag2zarr refuses an offset on a camera (always
  an observation); training refuses an observation key recorded at one, naming it; the
  action keeps its offset (a future state).
- A training key that slices columns out of an array ('state[2:4]', the velocities of a
  state of positions then velocities) keeps the sources of those columns (topic, field,
  offset), so the node still knows it reads velocities; before, a slice dropped them all.
"""
from __future__ import annotations

import pytest
from bag_support import (
    CAMERA,
    JOINT_STATES,
    POSITIONS_THEN_VELOCITIES_KEYS,
    write_camera_joints,
    write_positions_then_velocities,
)

from dp_ros.bags.recorder import BagRecorder
from dp_ros.recorded_sources import sliced_sources, value_fields
from training import bag2zarr
from training.bag2zarr_config import ConfigError, config_from_dict
from training.dataset_meta import dataset_shape_meta
from training.errors import DatasetError
from training.replay_buffer import ReplayBuffer


def _convert(tmp_path, keys: dict) -> str:
    config = {'control_period_s': 0.1, 'image_dtype': 'uint8', 'keys': keys}
    bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config), tmp_path / 'out.zarr',
                     progress=False)
    return tmp_path / 'out.zarr'


def test_a_camera_with_an_offset_is_refused_by_the_config():
    with pytest.raises(ConfigError, match=r'keys.img: image /cam has offset 0.05 s, but a '
                                          'camera is an observation'):
        config_from_dict({'keys': {'img': {'image': '/cam', 'offset': 0.05}}})


def test_training_refuses_an_observation_recorded_at_an_offset_and_keeps_the_actions(
        tmp_path):
    """A state sampled 50 ms ahead is refused as an observation (one line naming the key,
    the topic and the offset); the same store's action, the state one period ahead, is
    not, nor is the state when training does not observe it."""
    with BagRecorder(tmp_path / 'bag') as rec:
        write_camera_joints(rec, range(12))
    store = _convert(tmp_path, {
        'img': {'image': CAMERA},
        'state': {'joint_state': JOINT_STATES, 'joints': ['j1'], 'offset': 0.05},
        'now': {'joint_state': JOINT_STATES, 'joints': ['j1']},
        'action': {'future_of': 'state'}})
    assert ReplayBuffer.open(store).attrs('state')['sources'][0]['offset_s'] == 0.05
    with pytest.raises(DatasetError, match=r"observation 'agent_pos' reads data/state, whose "
                                           r'values from /joint_states were sampled at grid '
                                           r'time \+ 0.05 s') as info:
        dataset_shape_meta(store, rgb_keys={'img': 'img'},
                           low_dim_keys={'agent_pos': 'state'})
    assert '\n' not in str(info.value)
    meta = dataset_shape_meta(store, rgb_keys={'img': 'img'}, low_dim_keys={'agent_pos': 'now'})
    assert meta['action']['sources'][0]['offset_s'] == pytest.approx(0.15)
    assert meta['obs']['agent_pos']['sources'][0]['offset_s'] == 0.0


def _positions_then_velocities(tmp_path) -> str:
    with BagRecorder(tmp_path / 'bag') as rec:
        write_positions_then_velocities(rec)
    return _convert(tmp_path, POSITIONS_THEN_VELOCITIES_KEYS)


@pytest.mark.parametrize('spec, names, fields', [
    ('state[2:4]', ['j1.velocity', 'j2.velocity'], ['velocity', 'velocity']),
    ('state[:2]', ['j1', 'j2'], ['position', 'position']),
    ('state[1:3]', ['j2', 'j1.velocity'], ['position', 'velocity']),
])
def test_a_sliced_state_keeps_the_sources_of_its_columns(tmp_path, spec, names, fields):
    """The velocities of a state of positions then velocities keep their field (velocity),
    so the node knows what it must read; a slice across both keeps one source of each."""
    store = _positions_then_velocities(tmp_path)
    entry = dataset_shape_meta(store, rgb_keys={'img': 'img'},
                               low_dim_keys={'agent_pos': spec})['obs']['agent_pos']
    assert entry['names'] == names
    assert value_fields(entry['sources']) == fields
    assert sum(s['width'] for s in entry['sources']) == 2
    assert {s['topic'] for s in entry['sources']} == {JOINT_STATES}


def test_sliced_sources_keep_widths_and_a_poses_yaw_wrap_only_with_its_yaw():
    pose = {'kind': 'pose', 'topic': '/ee', 'width': 3, 'yaw_min': 0.0, 'prefix': 'l_'}
    joints = {'kind': 'joint_state', 'topic': '/js', 'width': 2, 'field': 'velocity'}
    names = ['l_x', 'l_y', 'l_yaw', 'j1.velocity', 'j2.velocity']
    sources = [pose, joints]
    assert sliced_sources(sources, slice(None), 5, names) == sources
    assert sliced_sources(sources, slice(1, 4), 5, names) == [{**pose, 'width': 2},
                                                                {**joints, 'width': 1}]
    without_yaw = {k: v for k, v in pose.items() if k != 'yaw_min'}
    assert sliced_sources(sources, slice(0, 2), 5, names) == [{**without_yaw, 'width': 2}]
    assert sliced_sources(sources, slice(0, 2), 5, None) == [{**pose, 'width': 2}]  # unknown
    assert sliced_sources(sources, slice(-2, None), 5, names) == [joints]
    assert sliced_sources(sources, slice(0, 5, 2), 5, names) is None  # no runs of columns
