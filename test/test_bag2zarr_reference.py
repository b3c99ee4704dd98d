"""bag2zarr records which source its control grid sat on (sources `reference: true`).

Pinned: the grid sits on the reference topic's stamps and every other stream is sampled at
or before each grid time; the policy node anchors its observation on the same stream where
the data says which it was. The flag travels into the policy's shape_meta (training's copy
through check_sources), and an append keeps it only where the store and the new bags both
say it (a grid on other stamps in some episodes leaves no reference to anchor on).
"""
from __future__ import annotations

import pytest
from bag_support import CAMERA, JOINT_STATES
from support import MS
from test_bag2zarr_slow_input import _bag
from test_lerobot_convert import source  # noqa: F401  (the Push-T store fixture)

from dp_ros.recorded_sources import REFERENCE, check_sources, is_reference
from training import bag2zarr
from training.bag2zarr import _merged_sources, same_sources
from training.bag2zarr_config import config_from_dict
from training.dataset_meta import dataset_shape_meta
from training.replay_buffer import ReplayBuffer


def _convert(tmp_path, **extra):
    _bag(tmp_path / 'bag', 100 * MS)
    config = {'control_period_s': 0.1, 'image_dtype': 'uint8', **extra,
              'keys': {'img': {'image': CAMERA},
                       'state': {'joint_state': JOINT_STATES, 'joints': ['j1'],
                                 'tolerance': 0.2}}}
    bag2zarr.convert([tmp_path / 'bag'], config_from_dict(config), tmp_path / 'out.zarr',
                     progress=False)
    return ReplayBuffer.open(tmp_path / 'out.zarr')


@pytest.mark.parametrize(('extra', 'reference'), [
    ({}, 'img'),  # the grid on the camera by default
    ({'reference_topic': JOINT_STATES}, 'state'),
])
def test_the_store_records_the_grid_reference_and_training_keeps_it(tmp_path, extra,
                                                                    reference):
    store = _convert(tmp_path, **extra)
    flagged = {key for key in ('img', 'state') if is_reference(store.attrs(key)['sources'])}
    assert flagged == {reference}
    meta = dataset_shape_meta(tmp_path / 'out.zarr', action_key='state', rgb_keys={'img': 'img'},
                              low_dim_keys={'state': 'state'})
    entries = {'img': meta['obs']['img'], 'state': meta['obs']['state']}
    assert {k for k, e in entries.items() if is_reference(e['sources'])} == {reference}


def test_check_sources_keeps_a_reference_and_refuses_a_non_bool():
    camera = {'kind': 'image', 'topic': '/cam', 'width': None}
    assert check_sources([{**camera, REFERENCE: True}], None, 'x') == [{**camera,
                                                                        REFERENCE: True}]
    assert check_sources([{**camera, REFERENCE: False}], None, 'x') == [camera]
    with pytest.raises(ValueError, match='sources must be a list'):
        check_sources([{**camera, REFERENCE: 'yes'}], None, 'x')


def test_an_append_keeps_the_reference_only_where_both_say_it():
    camera = {'kind': 'image', 'topic': '/cam', 'width': None}
    flagged = {**camera, REFERENCE: True}
    assert same_sources([camera], [flagged]) and same_sources([flagged], [camera])
    assert _merged_sources([flagged], [flagged], None, 'img') == [flagged]
    assert _merged_sources([camera], [flagged], None, 'img') == [camera]  # older store
    assert _merged_sources([flagged], [camera], None, 'img') == [camera]  # grid moved


def test_the_reference_travels_to_lerobot_into_training_and_back(source, tmp_path):  # noqa: F811
    """dp-ros convert keeps sources in info.json verbatim: the flag survives both ways."""
    import shutil

    from training.lerobot_convert import main

    cam = [{'kind': 'image', 'topic': '/cam/image_raw', 'width': None, REFERENCE: True}]
    flagged = tmp_path / 'flagged.zarr'
    shutil.copytree(source, flagged)
    ReplayBuffer.open(flagged, mode='r+').data['img'].attrs['sources'] = cam
    lerobot, back = tmp_path / 'lr', tmp_path / 'back.zarr'
    assert main([str(flagged), str(lerobot), '--fps', '10', '--keys', 'img', 'state', 'action',
                 '--no-progress']) == 0
    assert dataset_shape_meta(lerobot)['obs']['image']['sources'] == cam
    assert main([str(lerobot), str(back), '--no-progress']) == 0
    assert ReplayBuffer.open(back).data['img'].attrs['sources'] == cam
