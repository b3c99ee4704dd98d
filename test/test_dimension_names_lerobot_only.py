"""LeRobot's '.pos' / '.vel' suffixes name a JointState field only in names that came from
LeRobot data: an entry without recorded sources (LeRobot features carry none; bag2zarr
records them with every name, and names a velocity 'joint.velocity'). A ROS joint literally
named 'gripper.pos' recorded by bag2zarr is that joint: drafted and compared as
'gripper.pos', not as a joint 'gripper' the robot does not have; a recorded 'x.vel' whose
source names no field (data from before fields were recorded) is not read as x's velocity.
test/test_dimension_names_lerobot_suffixes.py and test/test_inspect_policy_lerobot_draft.py
pin the LeRobot side."""
from __future__ import annotations

import pytest
import yaml
from support import joint_state_shape_meta, make_tiny_checkpoint, one_torch_thread  # noqa: F401

from dp_ros.dimension_names import (
    compare_names,
    lerobot_names,
    named_field,
    plain_value_name,
    split_joint_value_name,
)
from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, recorded_topics, resolve_setup
from training.inspect_dataset import main as inspect_main

JOINTS = ['gripper.pos', 'x.vel']  # ROS joints so named


def bag_shape_meta() -> dict:
    """As bag2zarr records the two joints' positions: 'gripper.pos' from a source naming its
    field, 'x.vel' from one recorded before fields were named; the action their targets."""
    meta = joint_state_shape_meta([((JOINTS[0],), 'position'), ((JOINTS[1],), None)], '/js')
    meta['action'].update(names=list(JOINTS), sources=[
        {'kind': 'joint_trajectory', 'topic': '/arm/joint_trajectory', 'width': 2}])
    return meta


def test_names_with_recorded_sources_are_taken_as_they_are():
    assert lerobot_names(None) is True
    assert lerobot_names([{'kind': 'joint_state', 'topic': '/js', 'width': 1}]) is False
    assert plain_value_name('gripper.pos', lerobot=False) == 'gripper.pos'
    assert plain_value_name('x.vel', lerobot=False) == 'x.vel'
    assert named_field('x.vel', lerobot=False) is None
    assert named_field('j.velocity', lerobot=False) == 'velocity'  # bag2zarr's own suffix
    assert split_joint_value_name('gripper.pos', 'position', lerobot=False) == 'gripper.pos'
    assert split_joint_value_name('j.velocity', 'velocity', lerobot=False) == 'j'
    assert compare_names(JOINTS, JOINTS, 'p', lerobot=False) is None
    warning = compare_names(JOINTS, ['gripper', 'x.velocity'], 'p', lerobot=False)
    assert warning is not None and 'not the joints' in warning


def node_setup(**params):
    meta = {'config': pusht_image_config(shape_meta=bag_shape_meta()).to_dict(),
            'control_period_s': 0.1}
    cfg = config_from_dict(PolicyNodeConfig, {
        'checkpoint': 'x', 'device': 'cpu', 'joint_state_topic': '/js',
        'action_topic': '/arm/joint_trajectory', **params})
    return resolve_setup(cfg, meta)


def test_the_node_takes_recorded_joints_named_like_lerobot_values_as_joints():
    """The recorded names are accepted as given, read from position; the LeRobot reading of
    them (a joint 'gripper', x's velocity) is another robot's joints, warned about."""
    setup = node_setup(state_joint_names=JOINTS, action_joint_names=JOINTS)
    assert not [w for w in setup.warnings if 'trained with' in w], setup.warnings
    config = pusht_image_config(shape_meta=bag_shape_meta())
    assert recorded_topics(config, ['agent_pos'])['state_fields'] == ['position', None]
    other = node_setup(state_joint_names=['gripper', 'x'], action_joint_names=['gripper', 'x'])
    assert len([w for w in other.warnings if 'trained with' in w]) == 2, other.warnings


@pytest.fixture(scope='module')
def drafted(tmp_path_factory):
    """`dp-ros inspect POLICY --draft-params` of a policy trained on such bag data."""
    root = tmp_path_factory.mktemp('bag_names')
    policy = make_tiny_checkpoint(root / 'policy', shape_meta=bag_shape_meta())
    out = root / 'params.yaml'
    assert inspect_main([str(policy), '--draft-params', str(out)]) == 0
    return yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']


def test_the_draft_names_the_recorded_joints_as_recorded(drafted):
    assert drafted['state_joint_names'] == JOINTS
    assert drafted['action_joint_names'] == JOINTS
    assert drafted['state_field'] == 'position' and 'state_fields' not in drafted
