"""training/eval_env.py: which env an evaluation builds for a policy, and the check that a
policy of another robot (its cameras, camera crop, robot name, pose wrap) is refused."""
from __future__ import annotations

import math

import pytest
from support import ARM_JOINTS, tiny_pusht_config

from training.eval_env import cartesian_keys, check_eval_fits, make_eval_env

CROP = [80, 0, 480, 480]  # x0, y0, width, height of the arm's 640 x 480 camera frame


def arm_meta(cameras=('image',), crop=None) -> dict:
    obs = {c: {'shape': [3, 96, 96], 'type': 'rgb', **({'camera_crop': crop} if crop else {})}
           for c in cameras}
    obs['joint_pos'] = {'shape': [3], 'type': 'low_dim', 'names': list(ARM_JOINTS)}
    return {'obs': obs, 'action': {'shape': [3]}}


def test_an_extra_camera_is_refused():
    """The sim has exactly one camera: a policy reading image and another is refused, not
    only one that lacks 'image'."""
    with pytest.raises(ValueError, match=r"reads cameras \['image', 'wrist'\]"):
        check_eval_fits('arm', tiny_pusht_config(shape_meta=arm_meta(('image', 'wrist'))))


def test_an_unknown_robot_is_refused():
    """make_eval_env of a robot that is neither point nor arm: ValueError naming the robots."""
    with pytest.raises(ValueError, match="robot must be one of .* got 'tank'"):
        make_eval_env('tank', tiny_pusht_config(), 5, 16)


def test_a_camera_crop_is_refused_on_the_point_pusher_and_applied_on_the_arm():
    """The point pusher renders at the policy size (no frame to crop): ValueError; the arm's
    env cuts the checkpoint's box from its camera before fitting it."""
    cfg = tiny_pusht_config(shape_meta=arm_meta(crop=CROP))
    with pytest.raises(ValueError, match='no camera frame to cut'):
        make_eval_env('point', cfg, 5, 16)
    env = make_eval_env('arm', cfg, 5, 16)
    try:
        assert tuple(env.policy_crop) == tuple(CROP) and env.policy_image_size == 96
    finally:
        env.close()


def test_cartesian_keys_take_the_recorded_yaw_wrap():
    """A pose state recorded with yaw in [0, 2 pi) keeps that wrap (yaw_min 0), not -pi."""
    fields = ['x', 'y', 'z', 'yaw']
    meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                    'joint_pos': {'shape': [4], 'type': 'low_dim', 'names': fields,
                                  'sources': [{'kind': 'pose', 'topic': '/ee_pose', 'width': 4,
                                               'yaw_min': 0.0}]}},
            'action': {'shape': [4], 'names': fields}}
    key, state, action, yaw_min = cartesian_keys(tiny_pusht_config(shape_meta=meta))
    assert (key, state, action, yaw_min) == ('joint_pos', fields, fields, 0.0)
    del meta['obs']['joint_pos']['sources'][0]['yaw_min']
    assert cartesian_keys(tiny_pusht_config(shape_meta=meta))[3] == -math.pi
