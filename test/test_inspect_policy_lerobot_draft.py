"""From a LeRobot SO-100-style dataset (30 fps, motors named 'shoulder_pan.pos' as lerobot's
so100_follower names them) to the policy node's parameters: what `dp-ros inspect POLICY
--draft-params` writes must pass the node's own start-up checks without a warning about values
the draft itself wrote. Pinned: the control period and bounds in full precision (a rounded
1/30 s fired the 'another control period' warning at every start), and LeRobot's '.pos' /
'.vel' suffixes read as the JointState field they name, as bag2zarr's '.velocity' is."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config

from dp_ros.params import config_from_dict
from dp_ros.policy.checkpoint import read_policy_metadata
from dp_ros.runtime.policy_node_config import (
    PolicyNodeConfig,
    control_period_warning,
    resolve_setup,
)
from training.inspect_dataset import main as inspect_main
from training.inspect_policy import summarize_policy
from training.lerobot_format import LeRobotWriter, numeric_feature
from training.trainer import train

MOTORS = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']
NAMES = [f'{m}.pos' for m in MOTORS]  # lerobot: f'{motor}.pos'


@pytest.fixture(scope='module')
def so100_policy(tmp_path_factory):
    """A tiny policy trained from a 30 fps LeRobot v3 set of a 6-joint arm (no camera)."""
    root = tmp_path_factory.mktemp('so100')
    rng = np.random.default_rng(0)
    z = np.zeros((1, 6), np.float32)
    feats = {'observation.state': numeric_feature(z, NAMES), 'action': numeric_feature(z, NAMES)}
    with LeRobotWriter(root / 'lr', 30, feats, robot_type='so100_follower') as writer:
        for n in (10, 12, 9, 14, 11):
            state = rng.uniform(-50, 50, size=(n, 6)).astype(np.float32)
            writer.add_episode({'observation.state': state, 'action': state + 1}, task='pick')
    cfg = small_config(root / 'lr', data={'rgb_keys': {},
                                          'low_dim_keys': {'joint_pos': 'observation.state'},
                                          'action_key': 'action'},
                       train={'max_steps': 1, 'checkpoint_every': 1, 'control_period_s': None})
    train(cfg, root / 'run')
    return root / 'run' / 'checkpoints' / 'latest'


@pytest.fixture(scope='module')
def drafted(so100_policy, tmp_path_factory):
    """The drafted parameters, as YAML reads them back."""
    out = tmp_path_factory.mktemp('draft') / 'params.yaml'
    assert inspect_main([str(so100_policy), '--draft-params', str(out)]) == 0
    return yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']


def setup_of(params, meta):
    return resolve_setup(config_from_dict(PolicyNodeConfig, {**params, 'image_topics': [],
                                                             'device': 'cpu'}), meta)


def test_the_drafted_30fps_period_and_bounds_are_the_trained_ones_exactly(so100_policy,
                                                                        drafted):
    """control_period_s reads back as the trained 1/30 s (no period warning at start), and
    the bounds as the training range's own floats (never cut inside it)."""
    meta = read_policy_metadata(so100_policy)
    assert drafted['control_period_s'] == meta['control_period_s'] == pytest.approx(1 / 30)
    setup = setup_of(drafted, meta)
    assert [w for w in setup.warnings if 'control_period_s' in w] == []
    action = summarize_policy(so100_policy).action
    assert drafted['action_lower'] == [float(v) for v in action.low]
    assert drafted['action_upper'] == [float(v) for v in action.high]


def test_lerobot_pos_names_are_drafted_as_the_motors_and_accepted_without_a_warning(
        so100_policy, drafted):
    """The draft names the joints 'shoulder_pan' (read from position), which the node's
    JointState messages carry, and the node takes them for the trained 'shoulder_pan.pos'
    without a 'not the joints the checkpoint was trained with' warning; the trained order is
    still enforced."""
    assert drafted['state_joint_names'] == MOTORS and drafted['action_joint_names'] == MOTORS
    assert drafted['state_field'] == 'position'
    meta = read_policy_metadata(so100_policy)
    setup = setup_of(drafted, meta)
    assert not [w for w in setup.warnings if 'trained with' in w], setup.warnings
    with pytest.raises(ValueError, match='in another order'):
        setup_of({**drafted, 'action_joint_names': MOTORS[::-1]}, meta)


def test_lerobot_vel_names_are_read_from_the_velocity_field(so100_policy):
    """A state of 'shoulder_pan.pos' and 'shoulder_pan.vel' values is one joint's position and
    velocity: the node reads them from those fields, as it reads bag2zarr's '.velocity', and
    refuses reading the velocity from position."""
    meta = copy.deepcopy(read_policy_metadata(so100_policy))
    names = ['a.pos', 'a.vel', 'b.pos', 'b.vel', 'c.pos', 'c.vel']
    meta['config']['shape_meta']['obs']['joint_pos']['names'] = names
    params = {'checkpoint': 'x', 'joint_state_topic': '/joint_states',
              'action_topic': '/arm/joint_trajectory', 'action_joint_names': MOTORS,
              'state_joint_names': ['a', 'a', 'b', 'b', 'c', 'c'],
              'state_fields': ['position', 'velocity'] * 3}
    setup = setup_of(params, meta)
    assert not [w for w in setup.warnings if 'trained with' in w], setup.warnings
    with pytest.raises(ValueError, match='other JointState fields'):
        setup_of({**params, 'state_joint_names': ['a', 'a2', 'b', 'b2', 'c', 'c2'],
                  'state_fields': []}, meta)


def test_the_period_warning_shows_periods_that_differ_past_the_sixth_digit():
    """When the warning fires, the two periods it prints differ (not '0.0333333' twice)."""
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': 'x', 'control_period_s': 0.0333333})
    warning = control_period_warning(cfg, 1 / 30)
    assert warning is not None and '0.0333333 s' in warning and '0.03333333333333333' in warning


def test_the_node_warns_at_start_that_degree_ranges_are_no_driver_radians(so100_policy,
                                                                          drafted):
    """Its '.pos' values span -50..50 (degrees or motor units): a ros2_control driver's
    radians would fall inside and plan unnoticed (state_range.unit_warning)."""
    setup = setup_of(drafted, read_policy_metadata(so100_policy))
    (units,) = [w for w in setup.warnings if "LeRobot '.pos' values" in w]
    assert 'shoulder_pan.pos' in units and 'radians' in units


def test_a_missing_camera_of_a_lerobot_set_is_named_by_its_lerobot_name(so100_policy):
    """The config's default image key 'img' on a LeRobot set without 'observation.image': the
    error names both and the config fields, not a zarr-style 'data/img'."""
    from training.dataset_meta import DatasetKeyError, store_shapes
    from training.lerobot_source import LeRobotStore

    lerobot = so100_policy.parents[2] / 'lr'
    with pytest.raises(DatasetKeyError, match=r"has no feature 'img' \(nor 'observation.image', "
                                              r"its LeRobot name\), which the config names"):
        store_shapes(LeRobotStore(lerobot), {'image': 'img'}, {}, 'action', str(lerobot))


def test_the_draft_says_where_use_sim_time_is_needed(so100_policy):
    """A sim's stamps on a node without use_sim_time are refused as decades in the past
    (a review's sim run): the draft names the parameter, commented."""
    from training.inspect_policy import draft_params

    text = draft_params(summarize_policy(so100_policy))
    assert "    # use_sim_time: true   # where the robot runs on a sim's /clock" in text
