"""training/bag2zarr.py and training/bag2zarr_config.py where a mutation review found changes no
other test noticed: the hour's bound on times either way and at its edge, a pose's default
fields.

Configs are parsed with config_from_dict; bags are small real mcap bags written with the
project's BagRecorder (bag_support's camera + joint-state demonstration), converted into
real zarr stores.
"""
from __future__ import annotations

import pytest

from training.bag2zarr_config import ConfigError, config_from_dict

STATE = {'joint_state': '/js', 'joints': ['j1']}


def with_keys(**keys) -> dict:
    return {'control_period_s': 0.1, 'reference_topic': '/js', 'keys': keys}


# ---------------------------------------------------------------------------- the config
@pytest.mark.parametrize('offset', [3600, -3600])
def test_an_offset_of_an_hour_either_way_is_valid(offset):
    """The hour is the bound (MAX_SECONDS), itself valid, ahead or behind: a source sampled an
    hour earlier is as valid as one an hour later."""
    config = config_from_dict(with_keys(state=STATE, action={**STATE, 'offset': offset}))
    assert config.keys['action'].sources[0].offset_s == offset


@pytest.mark.parametrize('offset', [3600.5, -3600.5])
def test_an_offset_past_an_hour_either_way_is_refused_naming_it(offset):
    """An offset past the hour, ahead or behind, is a typo (and past int64 ns no grid): the
    message names the entry and the bound, whichever the sign."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_keys(state=STATE, action={**STATE, 'offset': offset}))
    assert str(info.value) == f'keys.action: offset must be within 3600 s, got {offset:g}'


def test_a_pose_without_fields_gives_x_y_and_yaw():
    """A pose source without `fields` reads x, y and yaw (the documented default, Push-T's
    block pose), in that order, its yaw wrapped from -pi: the dataset's widths and names
    depend on it."""
    config = config_from_dict(with_keys(state=STATE, block={'pose': '/block',
                                                             'prefix': 'b_'}))
    source = config.keys['block'].sources[0]
    assert source.fields == ['x', 'y', 'yaw']
    assert config.keys['block'].value_names == ['b_x', 'b_y', 'b_yaw']
    assert source.yaw_min == pytest.approx(-3.141592653589793)


def test_a_camera_sampled_earlier_is_refused_as_one_sampled_later():
    """An image's offset is refused whichever its sign: the node takes a camera at the
    observation time, neither ahead nor behind (a negative one would train on frames the
    node never pairs with that step)."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_keys(state=STATE, img={'image': '/cam', 'offset': -0.1}))
    assert str(info.value).startswith('keys.img: image /cam has offset -0.1 s, but a camera '
                                      'is an observation')


def test_the_shortest_control_period_itself_is_valid():
    """control_period_s 1e-6 (MIN_PERIOD_S, a 1 MHz grid of 1000 ns steps) is the bound and
    valid; only shorter ones are refused."""
    config = config_from_dict({**with_keys(state=STATE), 'control_period_s': 1e-6})
    assert config.period_ns == 1000
    with pytest.raises(ConfigError, match=r'control_period_s must be >= 1e-06 s, got 9e-07'):
        config_from_dict({**with_keys(state=STATE), 'control_period_s': 9e-7})
