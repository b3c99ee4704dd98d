"""crop_shape is absolute: the paper's (84, 84), kept on a bigger camera's frames, trains on a
patch of each (a tenth of 240 x 320) while the node sees its centre. Training says so."""
from __future__ import annotations

import logging

import numpy as np
from tiny_runs import copy_episodes, run_config

from dp_ros.policy.config import PolicyConfig
from training.config import TrainConfig
from training.trainer import Trainer

SMALL = 'keeps'


def shape_meta(h: int, w: int) -> dict:
    return {'obs': {'image': {'shape': [3, h, w], 'type': 'rgb'},
                    'agent_pos': {'shape': [2], 'type': 'low_dim'}},
            'action': {'shape': [2]}}


def test_a_crop_under_half_the_frame_is_named_per_camera():
    config = PolicyConfig(shape_meta=shape_meta(240, 320), crop_shape=(84, 84))
    (line,) = config.small_crop_warnings()
    assert "crop_shape (84, 84) keeps 9% of rgb obs 'image' (240 x 320)" in line
    assert 'policy.crop_shape' in line
    # the paper's crops: 84 of 96 (77% of the area), 216 x 288 of 240 x 320 (81%)
    assert PolicyConfig(shape_meta=shape_meta(96, 96), crop_shape=(84, 84)) \
        .small_crop_warnings() == []
    assert PolicyConfig(shape_meta=shape_meta(240, 320), crop_shape=(216, 288)) \
        .small_crop_warnings() == []
    assert PolicyConfig(shape_meta=shape_meta(240, 320), crop_shape=None) \
        .small_crop_warnings() == []
    # half the area exactly is no warning, a pixel less is
    assert PolicyConfig(shape_meta=shape_meta(100, 100), crop_shape=(50, 100)) \
        .small_crop_warnings() == []
    assert len(PolicyConfig(shape_meta=shape_meta(100, 100), crop_shape=(49, 100))
               .small_crop_warnings()) == 1


def test_training_on_bigger_frames_with_the_papers_crop_warns(pusht_zarr, tmp_path, caplog):
    def doubled(_: int, arrays: dict) -> dict:  # 96 -> 192 px: (84, 84) keeps 19%
        return {**arrays, 'img': np.repeat(np.repeat(arrays['img'], 2, axis=1), 2, axis=2)}

    big = copy_episodes(pusht_zarr, tmp_path / 'big.zarr', n=3, change=doubled)
    small = copy_episodes(pusht_zarr, tmp_path / 'small.zarr', n=3)
    said = {}
    for store, run in ((big, 'big'), (small, 'small')):
        cfg = run_config(store, policy={'crop_shape': [84, 84]})
        cfg['data']['max_train_episodes'] = None
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
            Trainer(TrainConfig.from_dict(cfg), tmp_path / run)
        said[run] = [r.getMessage() for r in caplog.records if SMALL in r.getMessage()]
    (line,) = said['big']
    assert "crop_shape (84, 84) keeps 19% of rgb obs 'image' (192 x 192)" in line
    assert said['small'] == []
