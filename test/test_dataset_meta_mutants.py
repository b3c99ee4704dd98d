"""Behaviour of the training dataset (training/dataset.py, training/dataset_meta.py) that its
other tests left unpinned (a mutation review): which observations an empty rgb_keys or
low_dim_keys gives (none, not the Push-T defaults), the one-line errors for a missing or
misshapen array (the missing key named, the available ones listed, a LeRobot feature's
name), a low-dim slice over a multi-dimensional array counted in flattened columns, the
recorded fields shape_meta takes (a camera's sources and frame size, malformed ones ignored,
an observation at a negative offset refused), how a policy section's shape_meta gets the
dataset's recorded fields, what the misfit check compares, the split record, and which
episodes and steps the torch dataset uses (`episodes`, exclusions, the normalizer data, the
non-finite report).

Each test kills a mutant that the modules' other tests let live: a check dropped, a
condition loosened (`if x` for `if x is not None`, `> 0` for `!= 0`), a field left out of
a message or a record, a mask or a slice taken from the wrong episodes. One defect is
pinned, mended: a malformed low-dim key spec ('state[-:]', a number) escaped as a raw
ValueError / TypeError; it is a DatasetError naming the observation and the spec.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from dp_ros.policy.config import PolicyConfig
from training.dataset import PushTImageDataset
from training.dataset_meta import (
    dataset_shape_meta,
    excluded_episodes,
    few,
    observation_keys,
    policy_data_misfit,
    split_change,
    split_record,
    store_shapes,
    with_recorded_fields,
)
from training.errors import DatasetError, DatasetKeyError
from training.lerobot_format import LeRobotWriter, numeric_feature
from training.replay_buffer import ReplayBuffer

CAMERA_SOURCE = {'kind': 'image', 'topic': '/cam', 'width': None}
STATE_SOURCE = {'kind': 'joint_state', 'topic': '/joint_states', 'width': 6}


def write_store(path: Path, *, ends=(5, 12), cam_attrs=None, joints_attrs=None,
                cmd_attrs=None) -> ReplayBuffer:
    """12 steps in two episodes ([0, 5), [5, 12)): camera 'cam' (N, 4, 5, 3), joints
    (N, 3, 2) (6 columns), cmd (N, 3); each value says its step (and its column)."""
    n = ends[-1]
    steps = np.arange(n, dtype=np.float64)
    buffer = ReplayBuffer.from_arrays({
        'cam': np.broadcast_to((steps % 256)[:, None, None, None], (n, 4, 5, 3)).astype(
            np.uint8),
        'joints': (steps[:, None] * 10 + np.arange(6)).reshape(n, 3, 2),
        'cmd': (steps[:, None] * 100 + np.arange(3)).astype(np.float32),
    }, list(ends))
    buffer.save_to(path)
    data = zarr.open(str(path), mode='r+')['data']
    for key, attrs in (('cam', cam_attrs), ('joints', joints_attrs), ('cmd', cmd_attrs)):
        if attrs:
            data[key].attrs.update(attrs)
    return buffer


KEYS = dict(action_key='cmd', rgb_keys={'wrist': 'cam'}, low_dim_keys={'q': 'joints'})


# ---------------------------------------------------------------- observation keys
def test_empty_key_maps_give_no_such_observations_not_the_push_t_defaults(tmp_path):
    """rgb_keys: {} is a policy without a camera and low_dim_keys: {} one without a state:
    neither falls back to Push-T's image / agent_pos (this store has no img nor state)."""
    assert observation_keys(rgb_keys={}, low_dim_keys={'q': 'joints'}) == (
        {}, {'q': ('joints', slice(None))})
    assert observation_keys(rgb_keys={'wrist': 'cam'}, low_dim_keys={}) == ({'wrist': 'cam'}, {})
    path = tmp_path / 's.zarr'
    write_store(path)
    meta = dataset_shape_meta(path, action_key='cmd', rgb_keys={}, low_dim_keys={'q': 'joints'})
    assert meta['obs'] == {'q': {'shape': [6], 'type': 'low_dim'}}
    meta = dataset_shape_meta(path, action_key='cmd', rgb_keys={'wrist': 'cam'},
                              low_dim_keys={})
    assert list(meta['obs']) == ['wrist']


# ---------------------------------------------------------------- store_shapes
def test_a_missing_low_dim_array_is_named_with_the_available_ones(tmp_path):
    path = tmp_path / 's.zarr'
    write_store(path)
    with pytest.raises(DatasetKeyError, match=r"s.zarr has no data/velocities, which the "
                                              r"config names .*available: \['cam', 'cmd', "
                                              r"'joints'\]"):
        dataset_shape_meta(path, action_key='cmd', rgb_keys={'wrist': 'cam'},
                           low_dim_keys={'v': 'velocities[:2]'})
    with pytest.raises(DatasetKeyError, match='no data/velocities'):
        PushTImageDataset(path, action_key='cmd', rgb_keys={'wrist': 'cam'},
                          low_dim_keys={'v': 'velocities'}, progress=False)


def test_a_missing_lerobot_feature_is_named_with_its_lerobot_name(tmp_path):
    """A LeRobot dataset with no camera: the default image key 'img' is named with the
    LeRobot feature it maps to."""
    path = tmp_path / 'lr'
    z = np.zeros((1, 2), np.float32)
    feats = {'observation.state': numeric_feature(z), 'action': numeric_feature(z)}
    with LeRobotWriter(path, 10, feats) as writer:
        for n in (4, 5):
            writer.add_episode({'observation.state': np.zeros((n, 2), np.float32),
                                'action': np.ones((n, 2), np.float32)})
    with pytest.raises(DatasetKeyError, match=r"no feature 'img' \(nor 'observation.image', "
                                              r"its LeRobot name\)"):
        dataset_shape_meta(path)
    meta = dataset_shape_meta(path, rgb_keys={})
    assert meta['obs'] == {'agent_pos': {'shape': [2], 'type': 'low_dim'}}


def test_an_image_array_of_more_than_four_dimensions_is_refused(tmp_path):
    buffer = ReplayBuffer.from_arrays({'cam': np.zeros((4, 2, 3, 5, 3), np.uint8),
                                       'cmd': np.zeros((4, 2), np.float32)}, [4])
    with pytest.raises(DatasetError, match=r"s.zarr: image array 'cam' has shape "
                                           r"\(4, 2, 3, 5, 3\), expected \(N, H, W, C\)"):
        store_shapes(buffer, {'wrist': 'cam'}, {}, 'cmd', 's.zarr')


def test_a_low_dim_slice_of_a_multi_dimensional_array_counts_flattened_columns(tmp_path):
    """joints is (N, 3, 2): 6 columns as the dataset flattens them, so 'joints[2:6]' is 4
    wide and 'joints[2:]' too; 'joints[2:7]' is past it."""
    path = tmp_path / 's.zarr'
    write_store(path)
    for spec in ('joints[2:6]', 'joints[2:]', 'joints[-4:]'):
        meta = dataset_shape_meta(path, action_key='cmd', rgb_keys={}, low_dim_keys={'q': spec})
        assert meta['obs']['q']['shape'] == [4]
    with pytest.raises(DatasetError, match=r"low-dim key 'q' asks for columns 2:7 of 'joints', "
                                           r'which is 6 wide \(shape \(12, 3, 2\)\)'):
        dataset_shape_meta(path, action_key='cmd', rgb_keys={}, low_dim_keys={'q': 'joints[2:7]'})


# ---------------------------------------------------------------- recorded fields
def test_a_camera_keeps_its_recorded_source_and_frame_size(tmp_path):
    """A bag2zarr camera's source (its topic and frame size) and a camera's own frame_size
    (a LeRobot video's, no sources) reach shape_meta."""
    path = tmp_path / 's.zarr'
    source = {**CAMERA_SOURCE, 'frame_size': [480, 640]}
    write_store(path, cam_attrs={'sources': [source]})
    meta = dataset_shape_meta(path, **KEYS)
    assert meta['obs']['wrist']['sources'] == [source]
    assert 'frame_size' not in meta['obs']['wrist']
    write_store(tmp_path / 'v.zarr', cam_attrs={'frame_size': [480, 640]})
    meta = dataset_shape_meta(tmp_path / 'v.zarr', **KEYS)
    assert meta['obs']['wrist']['frame_size'] == [480, 640]


@pytest.mark.parametrize('offset', [0.05, -0.05])
def test_a_camera_or_state_recorded_at_any_offset_is_refused(tmp_path, offset):
    """An observation sampled before the grid time (a negative offset) is as foreign to the
    policy node as one sampled after it."""
    write_store(tmp_path / 'c.zarr', cam_attrs={'sources': [{**CAMERA_SOURCE,
                                                             'offset_s': offset}]})
    with pytest.raises(DatasetError, match=rf"observation 'wrist' reads data/cam, whose values "
                                           rf'from /cam were sampled at grid time \+ '
                                           rf'{offset:g} s'):
        dataset_shape_meta(tmp_path / 'c.zarr', **KEYS)
    write_store(tmp_path / 's.zarr', joints_attrs={'sources': [{**STATE_SOURCE,
                                                               'offset_s': offset}]})
    with pytest.raises(DatasetError, match=r"observation 'q' reads data/joints"):
        dataset_shape_meta(tmp_path / 's.zarr', **KEYS)


def test_malformed_recorded_sources_and_frame_size_are_left_out(tmp_path):
    """Attributes that are not what bag2zarr writes are unknown (left out), not a crash."""
    path = tmp_path / 's.zarr'
    write_store(path, cam_attrs={'frame_size': [480]},
                joints_attrs={'sources': [{'kind': 'joint_state', 'topic': 'no_slash'}]},
                cmd_attrs={'sources': [{**STATE_SOURCE, 'width': 2}]})  # 3 wide
    meta = dataset_shape_meta(path, **KEYS)
    assert meta['obs']['wrist'] == {'shape': [3, 4, 5], 'type': 'rgb'}
    assert meta['obs']['q'] == {'shape': [6], 'type': 'low_dim'}
    assert meta['action'] == {'shape': [3]}


# ---------------------------------------------------------------- a policy's shape_meta
CROP = [1, 2, 30, 40]
RECORDED = {
    'obs': {'image': {'shape': [3, 4, 5], 'type': 'rgb', 'camera_crop': CROP,
                      'frame_size': [480, 640]},
            'agent_pos': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'y'],
                          'sources': [{'kind': 'pose', 'topic': '/ee', 'width': 2}]}},
    'action': {'shape': [2], 'names': ['vx', 'vy']}}
COPIED = {'obs': {'image': {'shape': [3, 4, 5], 'type': 'rgb'},
                  'agent_pos': {'shape': [2], 'type': 'low_dim'}},
          'action': {'shape': [2]}}


def test_a_copied_shape_meta_gets_every_field_the_dataset_recorded():
    """A shape_meta copied into a config without the recorded fields gets all of them back:
    the crop and frame size of the camera, the names and sources of the state, the action's
    names."""
    merged, differs, left = with_recorded_fields(COPIED, RECORDED)
    assert (merged, differs, left) == (RECORDED, None, [])
    # a policy section without an action entry, or with an entry that is not a mapping, is
    # left for policy_data_misfit to name
    merged, differs, _ = with_recorded_fields({'obs': COPIED['obs']}, RECORDED)
    assert differs is None and 'action' not in merged
    assert merged['obs']['image']['camera_crop'] == CROP


def test_a_resumed_run_gets_only_the_fields_it_was_saved_with():
    """Resuming, a field the saved shape_meta lacked is not added but named (the run goes on
    as it trained); those it had, the action's names here, are added."""
    saved = {'obs': {'image': {'shape': [3, 4, 5], 'type': 'rgb', 'camera_crop': CROP},
                     'agent_pos': {'shape': [2], 'type': 'low_dim'}},
             'action': {'shape': [2], 'names': ['vx', 'vy']}}
    merged, differs, left = with_recorded_fields(COPIED, RECORDED, saved)
    assert differs is None
    assert left == ['image frame_size', 'agent_pos names', 'agent_pos sources']
    assert merged['obs']['image'] == {'shape': [3, 4, 5], 'type': 'rgb', 'camera_crop': CROP}
    assert merged['obs']['agent_pos'] == {'shape': [2], 'type': 'low_dim'}
    assert merged['action'] == {'shape': [2], 'names': ['vx', 'vy']}


def test_a_shape_meta_stating_a_field_otherwise_is_returned_as_given_with_why():
    given = {'obs': COPIED['obs'], 'action': {'shape': [2], 'names': ['vy', 'vx']}}
    merged, differs, left = with_recorded_fields(given, RECORDED)
    assert differs == "action names is ['vy', 'vx'], the dataset recorded ['vx', 'vy']"
    assert merged == given and left == []
    assert 'camera_crop' not in merged['obs']['image']  # nothing added to what it returns


def _policy(shape_meta) -> PolicyConfig:
    return PolicyConfig(shape_meta=shape_meta, crop_shape=None)


def test_the_misfit_check_compares_shapes_action_width_and_joint_order():
    assert policy_data_misfit(_policy(RECORDED), RECORDED) is None
    wide = {**RECORDED, 'action': {'shape': [3]}}
    assert policy_data_misfit(_policy(wide), RECORDED) == (
        'action is (2,) through the training keys, the policy takes (3,)')
    small = {**RECORDED, 'obs': {**RECORDED['obs'],
                                 'image': {'shape': [3, 5, 4], 'type': 'rgb'}}}
    assert policy_data_misfit(_policy(small), RECORDED) == (
        'image is (3, 4, 5) through the training keys, the policy takes (3, 5, 4)')
    swapped = {**RECORDED, 'obs': {**RECORDED['obs'], 'agent_pos': {
        'shape': [2], 'type': 'low_dim', 'names': ['y', 'x']}}}
    assert policy_data_misfit(_policy(swapped), RECORDED) == (
        "agent_pos holds ['x', 'y'], the policy was trained on ['y', 'x']: not the same "
        'values in the same order')
    # names the policy or the data lacks are not compared
    assert policy_data_misfit(_policy(COPIED), RECORDED) is None


def test_few_shows_eight_indices_then_how_many():
    assert few(list(range(8))) == '0, 1, 2, 3, 4, 5, 6, 7'
    assert few(np.arange(9)) == '0, 1, 2, 3, 4, 5, 6, 7, ... (9 in all)'
    assert few([4, 5, 6], 2) == '4, 5, ... (3 in all)'


# ---------------------------------------------------------------- the split and exclusions
def test_the_split_record_names_validation_and_training_episodes_apart():
    record = split_record(np.array([3, 7, 12]), np.array([True, False, False]),
                          np.array([False, True, True]))
    assert (record['val_episodes'], record['train_episodes']) == ([0], [1, 2])


def test_the_episode_digest_is_of_the_ends_whatever_their_integer_type():
    """A split saved with int64 ends is the same split over the same ends read as int32 (a
    LeRobot index), and another over other lengths; a record without a digest is no match."""
    record = split_record(np.array([3, 7, 12], np.int64), np.zeros(3, bool), np.ones(3, bool))
    # the sha256 of the ends as little-endian int64: the digest checkpoints already hold
    assert record['episode_ends_sha256'] == (
        '123d5b466d79d3e2eca91ffe0c21a14a33641737cd7afa1fb6c2bd05876921ea')
    assert split_change(record, np.array([3, 7, 12], np.int32)) is None
    assert split_change(record, np.array([3, 7, 13], np.int32)) == (
        '3 episodes as then, but not of the same lengths')
    assert split_change({'n_episodes': 3}, np.array([3, 7, 12])) == (
        '3 episodes as then, but not of the same lengths')
    assert split_change({}, np.array([3, 7, 12])) is not None  # a record of nothing


# ---------------------------------------------------------------- the torch dataset
def _dataset(path, **kwargs) -> PushTImageDataset:
    return PushTImageDataset(path, progress=False, **{**KEYS, **kwargs})


def test_the_defaults_are_the_papers_windows(tmp_path):
    """horizon 16, pad_before 1, pad_after 7: an episode of L steps gives L - 7 windows, the
    first starting one step before the episode; seed 42 and val_ratio 0.02 as the paper."""
    path = tmp_path / 's.zarr'
    write_store(path, ends=(20, 45))
    ds = _dataset(path)
    assert (ds.horizon, ds.pad_before, ds.pad_after, ds.seed) == (16, 1, 7, 42)
    assert ds.n_val_episodes == 1 and ds.n_train_episodes == 1  # 2% of 2 rounds up to one
    ds = _dataset(path, val_ratio=0.0)
    assert len(ds) == (20 - 7) + (25 - 7)
    first = ds[0]['action'][:, 0].numpy()
    np.testing.assert_array_equal(first, [0, 0, *range(100, 1500, 100)])
    last = ds[len(ds) - 1]['action'][:, 0].numpy()  # the last window repeats the last step
    np.testing.assert_array_equal(last, [*range(3600, 4500, 100), *[4400] * 7])


def test_loaded_episodes_are_distinct_sorted_and_keep_their_side_of_the_split(tmp_path):
    """episodes=[3, 2, 3]: episodes 2 and 3 of the store, in store order, with their own
    steps, their own side of the split drawn over all four and their own exclusion."""
    path = tmp_path / 's.zarr'
    write_store(path, ends=(10, 21, 33, 46))
    whole = _dataset(path, horizon=4, val_ratio=0.5, exclude_episodes=[2])
    assert whole.val_mask.tolist() == [True, False, False, True]
    part = _dataset(path, horizon=4, val_ratio=0.5, exclude_episodes=[2], episodes=[3, 2, 3])
    assert part.store_episodes.tolist() == [2, 3]
    np.testing.assert_array_equal(part.episode_ends, [12, 25])
    assert part.excluded.tolist() == [True, False]
    assert part.val_mask.tolist() == [False, True]
    assert part.train_mask.tolist() == [False, False]
    action = part.get_normalizer_data()['action'][:, 0]  # episode 2 excluded
    np.testing.assert_array_equal(action, np.arange(33, 46) * 100)
    assert part.replay_buffer.data['action'][:12, 0].tolist() == list(range(2100, 3300, 100))


@pytest.mark.parametrize('episodes', [[4], [-1], [True], [1.0]])
def test_episodes_the_store_lacks_are_refused_naming_them(tmp_path, episodes):
    path = tmp_path / 's.zarr'
    write_store(path, ends=(10, 21, 33, 46))
    with pytest.raises(DatasetError, match=rf'episodes \[{episodes[0]!r}\] are not episodes '
                                           r'of this dataset \(0..3\)'):
        _dataset(path, horizon=4, episodes=episodes)


def test_validation_leaves_out_excluded_episodes_and_keeps_the_split_record(tmp_path):
    """An excluded episode is neither trained nor validated on; the validation set's split
    record is its training set's."""
    path = tmp_path / 's.zarr'
    write_store(path, ends=(10, 21, 33, 46))
    ds = _dataset(path, horizon=4, val_ratio=0.25, exclude_episodes=[1, 3])
    val = ds.get_validation_dataset()
    assert val.n_episodes == ds.n_val_episodes
    assert not (val.episode_mask & ds.excluded).any()
    assert val.split_record() == ds.split_record()
    assert ds.split_record()['train_episodes'] == np.flatnonzero(ds.train_mask).tolist()


def test_the_normalizer_data_is_float32_whatever_the_store_holds(tmp_path):
    """joints are float64 in the store; action float64 here too."""
    path = tmp_path / 's.zarr'
    n = 12
    ReplayBuffer.from_arrays({'cam': np.zeros((n, 4, 5, 3), np.uint8),
                              'joints': np.arange(n * 6, dtype=np.float64).reshape(n, 3, 2),
                              'cmd': np.arange(n * 3, dtype=np.float64).reshape(n, 3)},
                             [5, 12]).save_to(path)
    data = _dataset(path, horizon=4).get_normalizer_data()
    assert data['action'].dtype == np.float32 and data['q'].dtype == np.float32
    assert data['q'].shape == (12, 6) and data['q'][11, 5] == 71


def test_the_nonfinite_report_covers_validation_and_states_and_names_dimensions(tmp_path):
    path = tmp_path / 's.zarr'
    write_store(path, ends=(10, 21, 33, 46))
    data = zarr.open_group(str(path), mode='r+')['data']
    data['joints'][12, 1, 0] = np.nan  # episode 1, column 2
    data['cmd'][40, 2] = np.inf  # episode 3, column 2
    ds = _dataset(path, horizon=4, val_ratio=0.5)
    assert ds.nonfinite_episodes() == {'action': [3], 'q': [1]}
    assert ds.nonfinite_values([0, 1, 2, 3]) == {'action': ([2], [3]), 'q': ([2], [1])}
    assert ds.nonfinite_values([0, 2]) == {}


def test_excluding_every_episode_is_refused():
    with pytest.raises(DatasetError, match=r'x: exclude_episodes \[0, 1, 2\] leaves none of its '
                                           '3 episodes to train on'):
        excluded_episodes(3, [2, 1, 0, 1], 'x')
    assert excluded_episodes(3, [2, 0], 'x').tolist() == [True, False, True]


@pytest.mark.parametrize('spec', ['state[-:]', 'state[1:-]', 'state[:-]', 5, ['state'],
                                  ('state', 2), (3, None)])
def test_a_malformed_low_dim_spec_is_a_dataset_error_naming_it(spec):
    """A bare minus sign ('state[-:]', a typo of 'state[-2:]') or a value that is no string
    (`low_dim_keys: {q: 5}` in YAML) escaped as int()'s or re's error, naming neither the
    observation nor the spec: `dp-ros train` printed a traceback, not its one-line error."""
    with pytest.raises(DatasetError, match=re.escape(
            f"low_dim_keys 'q': low-dim key spec {spec!r} is not 'key' or 'key[start:stop]'")):
        observation_keys(low_dim_keys={'q': spec})


@pytest.mark.parametrize('spec, sl', [('state[-2:]', slice(-2, None)), ('state[:-1]',
                                      slice(None, -1)), ('state[ 1 : 3 ]', slice(1, 3)),
                                      ('state[:]', slice(None, None)), ('state', slice(None))])
def test_well_formed_low_dim_specs_are_read_as_slices(spec, sl):
    assert observation_keys(low_dim_keys={'q': spec})[1] == {'q': ('state', sl)}


def test_windowless_episodes_are_those_of_the_mask_shorter_than_a_window(tmp_path):
    """horizon 16 padded 1 before and 7 after: 8 steps give one window, 7 none."""
    path = tmp_path / 's.zarr'
    write_store(path, ends=(7, 15, 24))
    ds = _dataset(path, val_ratio=0.0)
    assert ds.min_episode_length == 8 and len(ds) == 0 + 1 + 2
    assert ds.windowless_episodes(np.ones(3, bool)) == [0]
    assert ds.windowless_episodes(np.array([False, True, True])) == []
