"""The bag2zarr config's edges: each check that keeps a malformed config from reaching the bags
(its message naming the entry), the values at a check's boundary that are still valid, and
the rules that pick a source's tolerance, the grid's topic and a future key's offset."""
from __future__ import annotations

import pytest

from training.bag2zarr_config import ConfigError, config_from_dict

STATE = {'joint_state': '/js', 'joints': ['j1']}
BASE = {'control_period_s': 0.1, 'reference_topic': '/js', 'keys': {'state': STATE}}


def with_keys(**keys) -> dict:
    return {**BASE, 'keys': keys}


def with_state(**options) -> dict:
    return with_keys(state={**STATE, **options})


REFUSED = {
    'relative_reference_topic': ({**BASE, 'reference_topic': 'js'},
                                 "reference_topic must be an absolute topic name like "
                                 "/camera/image_raw, got 'js'"),
    'relative_marker': ({**BASE, 'episodes': {'marker': 'episode_end'}},
                        'episodes.marker must be an absolute topic name like '
                        "/camera/image_raw, got 'episode_end'"),
    'two_kinds_in_one_source': (with_keys(state={**STATE, 'pose': '/p'}),
                                'keys.state: a source names exactly one of'),
    'misspelt_source_option': (with_state(feild='velocity'),
                               "keys.state: unknown source option(s) ['feild']"),
    'empty_joints': (with_state(joints=[]), 'keys.state: joint_state /js needs joints'),
    'joints_not_names': (with_state(joints=[1, 2]),
                         'keys.state: joints must be a list of names like [a, b], got [1, 2]'),
    'unknown_joint_field': (with_state(field='torque'),
                            "keys.state: field must be one of ('position', 'velocity', "
                            "'effort'), got 'torque'"),
    'no_pose_fields': (with_keys(state={'pose': '/p', 'fields': []}),
                       'keys.state: pose fields must be among'),
    'image_height_0': (with_keys(img={'image': '/cam', 'shape': [0, 96]}, state=STATE),
                       'keys.img: image shape must be [height, width], got [0, 96]'),
    'negative_source_tolerance': (with_state(tolerance=-0.01),
                                  'keys.state: tolerance must be >= 0 s, got -0.01'),
    'period_0': ({**BASE, 'control_period_s': 0}, 'control_period_s must be >= 1e-06 s, got 0'),
    'negative_period': ({**BASE, 'control_period_s': -0.1},
                        'control_period_s must be >= 1e-06 s, got -0.1'),
    'image_dtype_float16': ({**BASE, 'image_dtype': 'float16'},
                            "image_dtype must be one of ('float32', 'uint8'), got 'float16'"),
    'damaged_frames_skip': ({**BASE, 'damaged_frames': 'skip'},
                            "damaged_frames must be one of ('leave_out', 'refuse'), got 'skip'"),
    'negative_tolerance': ({**BASE, 'tolerance': -0.05}, 'tolerance must be >= 0 s, got -0.05'),
    'two_cameras_in_one_key': (with_keys(img=[{'image': '/a'}, {'image': '/b'}], state=STATE),
                               'keys.img: an image key has exactly one image source'),
    'camera_beside_joints': (with_keys(state=[STATE, {'image': '/cam'}]),
                             'keys.state: an image key has exactly one image source'),
    'misspelt_episodes_option': ({**BASE, 'episodes': {'marker_rol': 'start'}},
                                 "unknown episodes option(s) ['marker_rol']"),
    'min_steps_0': ({**BASE, 'episodes': {'min_steps': 0}},
                    'episodes.min_steps must be >= 1, got 0'),
}


@pytest.mark.parametrize('case', sorted(REFUSED))
def test_a_malformed_entry_is_refused_naming_it(case):
    """Each check of config_from_dict: the config is refused with a ConfigError whose message
    names the entry and the value, not read into a config that fails later on the bags."""
    raw, message = REFUSED[case]
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_the_boundary_values_are_valid():
    """Tolerances of 0 s (config and source) and one step per episode are valid, not refused
    as negative ones and 0 steps are; an empty reference_topic reads as none."""
    config = config_from_dict({**with_state(tolerance=0), 'tolerance': 0, 'reference_topic': '',
                               'episodes': {'min_steps': 1, 'marker': ''}})
    source = config.keys['state'].sources[0]
    assert (config.tolerance_s, source.tolerance_s) == (0.0, 0.0)
    assert config.tolerance_ns(source) == 0
    assert config.episodes.min_steps == 1
    assert config.reference_topic in (None, '') and config.episodes.marker in (None, '')
    assert config.grid_topic() == '/js'


def test_an_image_shape_is_height_then_width():
    """shape: [height, width] is kept in that order (a 48 x 64 image is 48 rows high)."""
    config = config_from_dict(with_keys(img={'image': '/cam', 'shape': [48, 64]}, state=STATE))
    assert config.keys['img'].sources[0].shape == (48, 64)


def test_a_sources_own_tolerance_beats_the_configs():
    """A source's tolerance overrides the config's for that source only; the others take the
    config's, and the config's default is half the control period."""
    config = config_from_dict({**with_keys(state=[{**STATE, 'tolerance': 0.02},
                                                  {'pose': '/p', 'fields': ['x']}]),
                               'control_period_s': 0.2, 'tolerance': 0.07})
    own, other = config.keys['state'].sources
    assert config.tolerance_ns(own) == 20_000_000
    assert config.tolerance_ns(other) == 70_000_000
    default = config_from_dict({**BASE, 'control_period_s': 0.2})
    assert default.tolerance_ns(default.keys['state'].sources[0]) == 100_000_000


def test_a_future_key_adds_its_offset_to_the_sources_own():
    """future_of copies a key's sources sampled `offset` later than each source already is:
    a source offset 0.05 s, its future 0.1 s later, is sampled at + 0.15 s."""
    config = config_from_dict(with_keys(state={**STATE, 'offset': 0.05},
                                        ref={'pose': '/p', 'fields': ['x']},
                                        action={'future_of': 'state', 'offset': 0.1}))
    assert config.keys['action'].sources[0].offset_s == pytest.approx(0.15)
    assert config.keys['state'].sources[0].offset_s == pytest.approx(0.05)


def test_the_grid_topic_is_a_camera_then_joint_states_then_a_pose_never_an_offset_one():
    """Without reference_topic the grid is set by a camera, else a joint state, else a pose,
    whatever the keys' order, and never by a source sampled at an offset (a future one)."""
    keys = {'state': STATE, 'pose': {'pose': '/p', 'fields': ['x']},
            'img': {'image': '/cam'}}
    assert config_from_dict({'keys': keys}).grid_topic() == '/cam'
    assert config_from_dict({'keys': {k: keys[k] for k in ('pose', 'state')}}
                            ).grid_topic() == '/js'
    ahead = {'pose': keys['pose'], 'state': {**STATE, 'offset': 0.1}}
    assert config_from_dict({'keys': ahead}).grid_topic() == '/p'
    with pytest.raises(ConfigError, match='no topic can set the control grid'):
        config_from_dict({'keys': {'state': {**STATE, 'offset': 0.1}}})


def test_a_joint_state_and_a_command_of_one_joint_may_share_a_key():
    """Two sources of different kinds giving one name (a joint's position and its command)
    are allowed in one key (the key then has no single name per value); only two sources of
    one kind on two topics giving a name ask for prefixes."""
    config = config_from_dict(with_keys(state=[STATE, {'float_array': '/cmd',
                                                       'joints': ['j1']}]))
    assert config.keys['state'].value_names is None
    with pytest.raises(ConfigError, match='both give a value named'):
        config_from_dict(with_keys(state=[STATE, {'joint_state': '/js2', 'joints': ['j1']}]))


def test_a_future_keys_unknown_option_is_refused():
    """A future_of key with a misspelt offset must be refused as every other mapping's
    unknown option is, not read as the default offset (one control period)."""
    with pytest.raises(ConfigError, match='ofset'):
        config_from_dict(with_keys(state=STATE, action={'future_of': 'state', 'ofset': 0.5}))
    with pytest.raises(ConfigError, match=r"takes only future_of and offset.*\['dtype'\]"):
        config_from_dict(with_keys(state=STATE, action={'future_of': 'state', 'dtype': 'uint8'}))


def test_an_option_of_another_kind_of_source_is_refused():
    """'fields' (a pose's option) on a joint state, meant as its 'field', must be refused as
    'crop' on a joint state is, not silently give the joint's positions."""
    with pytest.raises(ConfigError, match=r"\['fields'\] do not apply to joint_state sources"):
        config_from_dict(with_state(fields=['velocity']))
    with pytest.raises(ConfigError, match=r"\['shape'\] do not apply to joint_state sources"):
        config_from_dict(with_state(shape=[96, 96]))
    with pytest.raises(ConfigError, match=r"\['field'\] do not apply to joint_trajectory"):
        config_from_dict(with_keys(state={'joint_trajectory': '/traj', 'joints': ['j1'],
                                          'field': 'velocity'}))
    with pytest.raises(ConfigError, match=r"\['yaw_min'\] do not apply to float_array"):
        config_from_dict(with_keys(state={'float_array': '/cmd', 'joints': ['j1'],
                                          'yaw_min': 0.0}))
    with pytest.raises(ConfigError, match=r"unknown source option\(s\) \['feild'\]"):
        config_from_dict(with_state(feild='velocity'))
