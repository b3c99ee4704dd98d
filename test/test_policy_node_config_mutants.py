"""Mutation review of runtime/policy_node_config.py, without ROS: what the other tests left
open. Parameter ranges at their ends; a camera-less policy given a camera topic; action
bounds of the wrong count or infinite; a one-joint debug path; stop_deceleration infinite or
of the wrong count, and the long-stop warning at exactly the longest stop; max_velocity
against an overridden period; one name without its topic's prefix or no pose field; any
observation offset (a camera's, a millisecond's); and what is compared with the training
data: two reference streams, a recorded field against a name's, the order of command topics,
a pose recorded under two keys, the field in the training range's names. And the defect it
found: a topic given two roles (a command topic that is the state's) was accepted."""
from __future__ import annotations

import math
from typing import Any

import pytest
from test_planning_loop_far_state import METADATA as FAR_STATE_METADATA
from test_policy_node_config import TWIST_METADATA, cfg, metadata, resolve_error
from test_policy_node_config_edges import checkpoint, state
from test_policy_node_config_obs_offset import _metadata as offset_metadata
from test_policy_node_config_obs_offset import _node as offset_node
from test_policy_node_config_reference import recorded

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from dp_ros.runtime.safety import MAX_STOP_S


def no_camera_checkpoint() -> dict:
    """A checkpoint's metadata without a camera: agent_pos (2) and the action (2)."""
    shape_meta = {'obs': {'agent_pos': {'shape': [2], 'type': 'low_dim'}},
                  'action': {'shape': [2]}}
    return {'config': pusht_image_config(shape_meta=shape_meta).to_dict(),
            'control_period_s': 0.1}


def checkpoint_with_state(**entry: Any) -> dict:
    """A checkpoint's metadata with the camera 'image' and agent_pos (2) carrying `entry`."""
    return checkpoint(state(2, **entry))


# --- parameter ranges at their ends -----------------------------------------------------------

@pytest.mark.parametrize('name, refused, accepted', [
    ('debug_path_scale', 0.0, 1e-9),  # a path of scale 0 draws every point at the origin
    ('debug_extra_latency_s', -0.001, 0.0),
    ('num_inference_steps', 1001, 1000),
    ('state_yaw_min', 10.001, 10.0),
    ('state_yaw_min', -10.001, -10.0),
])
def test_a_parameter_just_outside_its_range_is_refused_naming_it(name: str, refused: float,
                                                                 accepted: float) -> None:
    """The range ends are part of the interface: just past one is refused, the end taken."""
    with pytest.raises(ValueError, match=f'parameter {name} must be in'):
        config_from_dict(PolicyNodeConfig, {name: refused})
    assert getattr(config_from_dict(PolicyNodeConfig, {name: accepted}), name) == accepted


# --- cameras -----------------------------------------------------------------------------------

def test_a_camera_topic_given_to_a_camera_less_policy_is_refused() -> None:
    """Only the left-out default stands for "no camera": a topic given on purpose to a policy
    without one is a mistake (another policy meant), refused naming image_topics."""
    no_camera = no_camera_checkpoint()
    assert resolve_setup(cfg(), no_camera).rgb_keys == []
    with pytest.raises(ValueError, match=r"parameter image_topics has 1 topic\(s\) \['/cam'\], "
                                         r'the checkpoint has 0 camera\(s\)'):
        resolve_setup(cfg(image_topics=['/cam']), no_camera)


# --- action bounds -----------------------------------------------------------------------------

def test_action_bounds_of_one_count_other_than_the_actions_are_refused() -> None:
    """Both bounds of one value for a 2-D action: as many as each other is not enough."""
    assert 'parameters action_lower [0.0] and action_upper [1.0] must both have 2 values' in \
        resolve_error(action_lower=[0.0], action_upper=[1.0])


def test_an_infinite_lower_bound_is_refused_naming_its_dimension() -> None:
    """-inf below is no clamp, as +inf above is not."""
    assert 'must be finite with lower <= upper: dimension(s) [0]' in resolve_error(
        action_lower=[-math.inf, 0.0], action_upper=[1.0, 1.0])


def test_a_debug_path_of_one_joint_is_refused() -> None:
    """A path needs x and y: one joint is refused as four are."""
    assert "parameter debug_path_joints ['agent_x'] must be 2 or 3 distinct action joints" in \
        resolve_error(debug_path_joints=['agent_x'])


# --- stop_deceleration -------------------------------------------------------------------------

def test_an_infinite_stop_deceleration_is_refused() -> None:
    """inf is no deceleration limit (the stop would jump to rest): refused at start."""
    assert 'parameter stop_deceleration must be finite and > 0' in \
        resolve_error(stop_deceleration=[math.inf])


def test_two_stop_decelerations_for_a_one_joint_action_are_refused() -> None:
    """One value or one per action dimension: two for one joint names the parameter, not a
    numpy broadcast error."""
    one_joint = checkpoint(state(2), action_dim=1)
    joint = {'action_joint_names': ['agent_x']}
    assert resolve_setup(cfg(**joint, stop_deceleration=[2.0]),
                         one_joint).stop_deceleration.tolist() == [2.0]
    with pytest.raises(ValueError, match='parameter stop_deceleration has 2 values, the action '
                                         r'has 1 \(or give one for all\)'):
        resolve_setup(cfg(**joint, stop_deceleration=[1.0, 2.0]), one_joint)


def test_a_stop_of_exactly_the_longest_duration_is_not_warned() -> None:
    """30 units/s top speed (a step of 30 a 1 s period) at 0.5 units/s^2 stops in exactly
    MAX_STOP_S: that is allowed; a hair less deceleration is warned of."""
    assert MAX_STOP_S == 60.0

    def warned(deceleration: float) -> list[str]:
        values = {'action_joint_names': ['shoulder', 'elbow'],
                  'state_joint_names': ['shoulder', 'elbow'], 'control_period_s': 1.0,
                  'max_step_delta': [30.0, 30.0], 'stop_deceleration': [deceleration]}
        setup = resolve_setup(cfg(**values), metadata())
        return [w for w in setup.start_warnings if 'stop_deceleration' in w]

    assert warned(0.5) == []
    assert len(warned(0.49)) == 1


# --- the observation's reference stream --------------------------------------------------------

def test_two_recorded_reference_streams_anchor_nothing() -> None:
    """A camera and the joint states both recorded as the reference: which one the grid sat on
    is unknown, so the observation keeps the newest common time, not the first found."""
    assert resolve_setup(cfg(), recorded(True, True)).reference_stream is None


# --- recorded fields -----------------------------------------------------------------------------

def test_a_recorded_sources_field_outweighs_the_field_its_name_says() -> None:
    """The recorded source says how the values were read (velocity); a name saying another
    field ('jx.effort') does not change what state_fields must give."""
    meta = checkpoint_with_state(names=['jx.effort', 'jy'], sources=[
        {'kind': 'joint_state', 'topic': '/pusht/joint_states', 'width': 2,
         'field': 'velocity'}])
    node = cfg(state_joint_names=['jx', 'jy'], state_fields=['velocity', 'velocity'])
    assert resolve_setup(node, meta).state_sources[0].fields == ('velocity', 'velocity')


def test_the_training_range_names_a_velocity_value_with_its_field() -> None:
    """The far-state hint names a state value as the data does: a joint's velocity is
    'agent_x.velocity', not the joint's name alone (its position)."""
    node = cfg(state_fields=['velocity', 'velocity'])
    trained = resolve_setup(node, FAR_STATE_METADATA).state_range
    assert trained is not None and trained.names == ('agent_x.velocity', 'agent_y.velocity')


# --- the topics compared with the recorded ones ---------------------------------------------

def test_command_topics_listed_in_another_order_than_recorded_are_not_warned() -> None:
    """action_stream_topics is a set of topics: listed in another order than the training
    data's sources, it is no difference to warn of."""
    topics = ['/b/commands', '/a/commands']
    meta = checkpoint(state(2), action={'sources': [
        {'kind': 'float_array', 'topic': t, 'width': 1} for t in topics]})
    node = cfg(action_joint_topics=topics, action_stream_topics=topics)
    setup = resolve_setup(node, meta)
    assert [g.stream for g in setup.commands] == [True, True] and setup.warnings == []


def test_pose_targets_listed_in_another_order_than_recorded_are_not_warned() -> None:
    """action_pose_topics likewise: two Cartesian targets in another order, no warning."""
    fields = ['x', 'y', 'z', 'yaw']
    names = [f'{arm}_{f}' for arm in ('right', 'left') for f in fields]
    arms = {'/right/target': 'right_', '/left/target': 'left_'}
    meta = checkpoint(state(2), action_dim=8, action={'names': names, 'sources': [
        {'kind': 'pose', 'topic': t, 'width': 4, 'frame_id': 'base', 'prefix': a}
        for t, a in arms.items()]})
    node = cfg(action_joint_names=names, action_joint_topics=[t for t in arms for _ in fields],
               action_pose_topics=list(arms), frame_id='base',
               topic_name_prefixes=[f'{t}={a}' for t, a in arms.items()])
    setup = resolve_setup(node, meta)
    assert [g.pose for g in setup.commands] == [True, True] and setup.warnings == []


# --- observation offsets ------------------------------------------------------------------------

def test_a_camera_sampled_at_an_offset_is_refused() -> None:
    """A camera bag2zarr sampled at grid time + offset_s is refused as a state is: the node
    takes each frame at the observation time."""
    camera = {'shape': [3, 96, 96], 'type': 'rgb', 'sources': [
        {'kind': 'image', 'topic': '/cam/image_raw', 'width': None, 'offset_s': 0.05}]}
    meta = checkpoint({'image': camera, **state(2)})
    with pytest.raises(ValueError, match=r"obs 'image' was trained on /cam/image_raw sampled at "
                                         r'each observation time \+0\.05 s'):
        resolve_setup(cfg(image_topics=['/cam/image_raw']), meta)


# --- names on prefixed and pose topics --------------------------------------------------------

def test_one_state_joint_without_its_topics_prefix_is_refused() -> None:
    """Every name of a prefixed topic begins with the prefix: one that lacks it is named, even
    when the others have it."""
    assert "parameter state_joint_names: ['agent_y'] of /pusht/joint_states do not begin with " \
        "its prefix 'left_'" in resolve_error(state_joint_names=['left_x', 'agent_y'],
                                              topic_name_prefixes=['/pusht/joint_states=left_'])


def test_one_value_of_a_pose_topic_that_is_no_pose_field_is_refused() -> None:
    """A gripper joint named among an end effector's pose fields is refused on its own."""
    with pytest.raises(ValueError, match=r"parameter state_joint_names: \['grip'\] of pose topic "
                                         r'/ee_pose \(state_pose_topics\) must be pose fields'):
        resolve_setup(cfg(joint_state_topic='/ee_pose', state_pose_topics=['/ee_pose'],
                          state_joint_names=['x', 'y', 'z', 'grip']), checkpoint(state(4)))


def test_a_pose_recorded_under_two_keys_is_one_stream_for_the_drivers() -> None:
    """An end effector's position and yaw recorded as two keys from one pose topic were
    sampled as one stream: one driver named for it is no difference to warn of."""
    pose = {'kind': 'pose', 'topic': '/ee_pose'}
    meta = checkpoint({
        'eef_pos': {'shape': [3], 'type': 'low_dim', 'names': ['x', 'y', 'z'],
                    'sources': [{**pose, 'width': 3}]},
        'eef_yaw': {'shape': [1], 'type': 'low_dim', 'names': ['yaw'],
                    'sources': [{**pose, 'width': 1}]}})
    node = cfg(joint_state_topic='/ee_pose', state_pose_topics=['/ee_pose'],
               state_joint_names=['x', 'y', 'z', 'yaw'], state_joint_drivers=['arm'] * 4)
    setup = resolve_setup(node, meta)
    assert [s.columns for s in setup.state_sources] == [(0, 1, 2, 3)]
    assert not [w for w in setup.warnings if 'state_joint_drivers' in w], setup.warnings


def test_a_state_sampled_at_a_millisecond_offset_is_refused() -> None:
    """Any offset is refused, a small one too: the values differ from training's all the same."""
    with pytest.raises(ValueError, match=r"obs 'agent_pos'.*offset_s 0\.001"):
        resolve_setup(offset_node(), offset_metadata(0.001))


# --- step limits -------------------------------------------------------------------------------

def test_max_velocity_is_a_step_of_the_period_the_node_runs_at() -> None:
    """control_period_s overriding the checkpoint's 0.1 s: 10 units/s is 0.5 a 0.05 s step,
    not the 1.0 of the trained period (twice the speed)."""
    setup = resolve_setup(cfg(control_period_s=0.05, max_velocity=[10.0, 10.0]), metadata())
    assert setup.dt_ns == 50_000_000
    assert setup.limits.max_step is not None
    assert setup.limits.max_step.tolist() == pytest.approx([0.5, 0.5])


POSE_TARGETS = {'action_topic': '/target', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
                'action_pose_topics': ['/target'], 'frame_id': 'base',
                'joint_state_topic': '/ee_pose', 'state_joint_names': ['x', 'y', 'z', 'yaw'],
                'state_pose_topics': ['/ee_pose']}


def test_a_command_topic_that_is_the_states_pose_topic_is_refused():
    """PoseStamped targets published on the topic the node reads the measured pose from: the
    policy would be fed what it asked for. It was accepted with no word; now refused naming
    both parameters."""
    resolve_setup(cfg(**POSE_TARGETS), TWIST_METADATA)
    with pytest.raises(ValueError) as info:
        resolve_setup(cfg(**{**POSE_TARGETS, 'action_topic': '/ee_pose',
                             'action_pose_topics': ['/ee_pose']}), TWIST_METADATA)
    assert str(info.value).startswith("parameters joint_state_topic and action_topic both name "
                                      "['/ee_pose']: the node would read its own commands")


@pytest.mark.parametrize('values, words', [
    ({'action_topic': '/pusht/joint_states'},
     "parameters joint_state_topic and action_topic both name ['/pusht/joint_states']"),
    ({'image_topics': ['/pusht/joint_states']},
     "parameters image_topics and joint_state_topic both name ['/pusht/joint_states']: a "
     'topic carries one kind of message'),
    ({'episode_start_topic': '/pusht/image_raw'},
     "parameters image_topics and episode_start_topic both name ['/pusht/image_raw']"),
    ({'action_joint_topics': ['/pusht/episode_start', '/b']},
     "parameters episode_start_topic and action_joint_topics both name "
     "['/pusht/episode_start']"),
    ({'state_joint_topics': ['/js', '/pusht/joint_trajectory']},
     "parameters state_joint_topics and action_topic both name ['/pusht/joint_trajectory']"),
])
def test_a_topic_given_two_roles_is_refused_naming_both_parameters(values: dict, words: str):
    """Each pair of the node's topic roles (cameras, state, episode start, commands): a topic
    named in two is refused, under the parameters the user gave (state_joint_topics where
    given, else joint_state_topic; action_joint_topics, else action_topic)."""
    assert words in resolve_error(**{'episode_start_topic': '/pusht/episode_start', **values})
