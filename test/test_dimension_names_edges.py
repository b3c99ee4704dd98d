"""Edges of column names (dp_ros/dimension_names.py): value names of velocity and effort and
their inverse, LeRobot name dicts of more than one key, and lists that hold the same joints
with other multiplicities (not a permutation)."""
from __future__ import annotations

from dp_ros.dimension_names import (
    compare_names,
    joint_value_name,
    names_of,
    split_joint_value_name,
)


def test_split_joint_value_name_inverts_joint_value_name():
    for field in ('position', 'velocity', 'effort'):
        assert split_joint_value_name(joint_value_name('j1', field), field) == 'j1'
    assert split_joint_value_name('j1.velocity', 'velocity') == 'j1'
    assert split_joint_value_name('j1', 'velocity') == 'j1'  # recorded before fields were named
    assert split_joint_value_name('j1.velocity', 'position') == 'j1.velocity'


def test_a_names_dict_of_several_keys_is_unknown_even_when_the_first_fits():
    assert names_of({'motors': ['a', 'b'], 'other': ['c', 'd']}, 2) is None


def test_the_same_joints_in_other_multiplicities_are_a_warning_not_a_permutation():
    warning = compare_names(['a', 'b', 'b'], ['a', 'a', 'b'], 'p')
    assert warning is not None and 'not the joints the checkpoint was trained with' in warning
