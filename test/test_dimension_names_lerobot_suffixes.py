"""LeRobot's value names ('shoulder_pan.pos', 'x.vel': lerobot's so100_follower and
koch_follower name motors f'{motor}.pos') read as the JointState field they say, as
bag2zarr's 'joint.velocity' is: the joint 'shoulder_pan' read from position, 'x' from
velocity. Pinned so that the draft and the node's name check agree with the messages' joints."""
from __future__ import annotations

import pytest

from dp_ros.dimension_names import (
    compare_names,
    named_field,
    plain_value_name,
    split_joint_value_name,
)


def test_lerobot_suffixes_read_as_fields():
    assert plain_value_name('shoulder_pan.pos') == 'shoulder_pan'
    assert plain_value_name('x.vel') == 'x.velocity'
    for plain in ('gripper', 'j1.velocity', 'j1.effort', '.pos', 'a.position'):
        assert plain_value_name(plain) == plain
    assert named_field('shoulder_pan.pos') is None  # a position, as a plain name
    assert named_field('x.vel') == 'velocity'
    assert split_joint_value_name('shoulder_pan.pos', 'position') == 'shoulder_pan'
    assert split_joint_value_name('x.vel', 'velocity') == 'x'
    assert split_joint_value_name('j.velocity', 'velocity') == 'j'  # bag2zarr's, unchanged


def test_compare_names_takes_the_motor_for_its_pos_value():
    trained = ['shoulder_pan.pos', 'gripper.pos']
    assert compare_names(trained, ['shoulder_pan', 'gripper'], 'action_joint_names') is None
    assert compare_names(trained, trained, 'action_joint_names') is None  # as before
    assert compare_names(['x.pos', 'x.vel'], ['x', 'x.velocity'], 'state_joint_names') is None
    with pytest.raises(ValueError, match='in another order'):
        compare_names(trained, ['gripper', 'shoulder_pan'], 'action_joint_names')
    warning = compare_names(trained, ['pan', 'gripper'], 'action_joint_names')
    assert warning is not None and "['shoulder_pan.pos', 'gripper.pos']" in warning
