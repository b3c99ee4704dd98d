"""Edges of the policy node's parameter check (runtime/policy_node_config.py), without ROS:
the refusals at their boundaries (each naming its parameter), the gap tolerance and rate of
each input stream where the training data recorded several topics or keys, the split of a
shared joint-state topic, and the warnings."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from support import joint_state_shape_meta
from test_policy_node_config import MS, POSE_METADATA, cfg, metadata, resolve_error

from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import (
    DRY_RUN_TOPIC,
    describe_setup,
    joined_per_key,
    recorded_spans,
    resolve_setup,
)


def checkpoint(obs: dict, action_dim: int = 2, action: dict | None = None) -> dict:
    """A checkpoint's metadata with the camera 'image' and the low-dim `obs`."""
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'}, **obs},
                  'action': {'shape': [action_dim], **(action or {})}}
    return {'config': pusht_image_config(shape_meta=shape_meta).to_dict(),
            'control_period_s': 0.1}


def state(n: int, **entry) -> dict:
    """The low-dim observation agent_pos of n values (entry: names, sources)."""
    return {'agent_pos': {'shape': [n], 'type': 'low_dim', **entry}}


# --- refusals at their boundaries -----------------------------------------------------------

def test_two_cameras_on_one_topic_are_refused():
    """Each camera its own topic: one topic for two image keys feeds one camera twice."""
    two_cameras = {'config': pusht_image_config(shape_meta={
        'obs': {'a': {'shape': [3, 96, 96], 'type': 'rgb'},
                'b': {'shape': [3, 96, 96], 'type': 'rgb'},
                'agent_pos': {'shape': [2], 'type': 'low_dim'}},
        'action': {'shape': [2]}}).to_dict(), 'control_period_s': 0.1}
    with pytest.raises(ValueError, match=r"parameter image_topics repeats a topic: "
                                         r"\['/cam', '/cam'\]"):
        resolve_setup(cfg(image_topics=['/cam', '/cam']), two_cameras)
    assert resolve_setup(cfg(image_topics=['/a', '/b']), two_cameras).rgb_keys == ['a', 'b']


def test_an_action_joint_named_twice_is_refused():
    """Two action dimensions on one joint name cannot both be commanded."""
    assert "parameter action_joint_names ['a', 'a'] must be 2 distinct names" in \
        resolve_error(action_joint_names=['a', 'a'])


def test_an_empty_joint_state_topic_is_refused():
    """joint_state_topic '' (a launch argument left empty) names the parameter."""
    assert 'parameters joint_state_topic and action_topic must not be empty' in \
        resolve_error(joint_state_topic='')


def test_an_image_only_checkpoint_is_refused():
    """A checkpoint without a low-dim observation has nothing for the joint states to feed."""
    with pytest.raises(ValueError, match='no low-dim observation .* image-only policy'):
        resolve_setup(cfg(), checkpoint({}))


def test_action_upper_of_the_wrong_length_is_refused():
    """Both bounds must have a value per action dimension, the upper one too."""
    assert 'parameters action_lower [0.0, 0.0] and action_upper [1.0] must both have 2 ' \
        'values' in resolve_error(action_lower=[0.0, 0.0], action_upper=[1.0])


def test_an_infinite_upper_bound_is_refused():
    """Bounds are finite: an infinite upper bound is not a clamp."""
    assert 'must be finite with lower <= upper' in resolve_error(
        action_lower=[0.0, 0.0], action_upper=[1.0, math.inf])


def test_equal_bounds_hold_a_joint_fixed():
    """lower == upper is allowed (a joint held at one value): the check is lower <= upper."""
    setup = resolve_setup(cfg(action_lower=[1.0, 0.0], action_upper=[1.0, 2.0]), metadata())
    np.testing.assert_array_equal(setup.lower, [1.0, 0.0])
    np.testing.assert_array_equal(setup.upper, [1.0, 2.0])


def test_debug_path_joints_are_two_or_three():
    """A path is drawn through x, y (and z): four joints are refused."""
    names = ['a', 'b', 'c', 'd']
    with pytest.raises(ValueError, match=r'parameter debug_path_joints .* must be 2 or 3'):
        resolve_setup(cfg(action_joint_names=names, debug_path_joints=names),
                      checkpoint(state(2), action_dim=4))


def test_a_path_through_joint_trajectories_has_no_pose():
    """path_pose is a pose target's orientation only: joints on a trajectory topic give none."""
    setup = resolve_setup(cfg(debug_path_joints=['agent_x', 'agent_y']), metadata())
    assert setup.path_joints == [0, 1] and setup.path_pose is None


def test_history_s_exactly_one_observation_span_is_enough():
    """history_s must cover (n_obs_steps - 1) * dt + max_input_age_s (0.1 + 0.5 s here): that
    much is accepted, a millisecond less refused."""
    assert resolve_setup(cfg(history_s=0.6), metadata()).keep_ns == 600 * MS
    assert 'parameter history_s 0.599 is shorter than an observation spans' in \
        resolve_error(history_s=0.599)


# --- gap tolerances and rates per input stream ----------------------------------------------

def two_topic_state() -> dict:
    """A state recorded from an arm's /arm/joint_states (jx: 20 ms, 50 Hz) and a gripper's
    /gripper/joint_states (jy: 70 ms, 10 Hz)."""
    return checkpoint(state(2, names=['jx', 'jy'], sources=[
        {'kind': 'joint_state', 'topic': '/arm/joint_states', 'width': 1, 'tolerance_s': 0.02,
         'rate_hz': 50.0},
        {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1,
         'tolerance_s': 0.07, 'rate_hz': 10.0}]))


def test_each_state_topic_keeps_its_own_recorded_tolerance_and_rate():
    """Read from the topics it was recorded from, each stream gets its topic's tolerance and
    rate, not the state's largest or another topic's."""
    setup = resolve_setup(cfg(state_joint_names=['jx', 'jy'], state_joint_topics=[
        '/arm/joint_states', '/gripper/joint_states']), two_topic_state())
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos:/arm/joint_states': 20 * MS,
                            'agent_pos:/gripper/joint_states': 70 * MS}
    assert setup.recorded_rates_hz == {'image': None, 'agent_pos:/arm/joint_states': 50.0,
                                       'agent_pos:/gripper/joint_states': 10.0}


def test_renamed_state_topics_take_the_largest_tolerance_and_no_rate():
    """Topics the data does not name, several recorded: each stream gets the state's largest
    tolerance and no recorded rate (which topic it was is unknown)."""
    setup = resolve_setup(cfg(state_joint_names=['jx', 'jy'], state_joint_topics=[
        '/robot/arm', '/robot/gripper']), two_topic_state())
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos:/robot/arm': 70 * MS,
                            'agent_pos:/robot/gripper': 70 * MS}
    assert setup.recorded_rates_hz == {'image': None, 'agent_pos:/robot/arm': None,
                                       'agent_pos:/robot/gripper': None}


def test_a_recorded_tolerance_above_max_input_age_is_capped():
    """A sample older than max_input_age_s stops planning whatever the data tolerated: the
    gap limit is the smaller of the two."""
    meta = checkpoint({
        'image': {'shape': [3, 96, 96], 'type': 'rgb', 'sources': [
            {'kind': 'image', 'topic': '/pusht/image_raw', 'width': None, 'tolerance_s': 2.0}]},
        **state(2, sources=[{'kind': 'joint_state', 'topic': '/pusht/joint_states', 'width': 2,
                             'tolerance_s': 0.3}])})
    setup = resolve_setup(cfg(max_input_age_s=0.2, history_s=1.0), meta)
    assert setup.gap_ns == {'image': 200 * MS, 'agent_pos': 200 * MS}
    assert resolve_setup(cfg(), meta).gap_ns == {'image': 500 * MS, 'agent_pos': 300 * MS}


EEF_NODE = {'state_joint_names': ['x', 'yaw', 'finger'], 'state_pose_topics': ['/ee_pose'],
            'state_joint_topics': ['/ee_pose', '/ee_pose', '/gripper/joint_states']}


def eef_and_gripper(eef_recorded: bool):
    """The resolved setup of a state of two keys (an end effector's pose at 30 Hz, a gripper
    at 15 Hz), each recorded from its own topic, or the pose not recorded."""
    eef = [{'kind': 'pose', 'topic': '/ee_pose', 'width': 2, 'tolerance_s': 0.03,
            'rate_hz': 30.0}]
    meta = checkpoint({
        'eef': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'yaw'],
                **({'sources': eef} if eef_recorded else {})},
        'gripper': {'shape': [1], 'type': 'low_dim', 'names': ['finger'], 'sources': [
            {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1,
             'tolerance_s': 0.08, 'rate_hz': 15.0}]}})
    return resolve_setup(cfg(**EEF_NODE), meta)


def test_each_low_dim_keys_recorded_tolerance_and_rate_reach_its_stream():
    """Each stream gets its key's source's tolerance and rate, the second key's too."""
    setup = eef_and_gripper(eef_recorded=True)
    assert setup.gap_ns == {'image': 500 * MS, 'eef+gripper:/ee_pose': 30 * MS,
                            'eef+gripper:/gripper/joint_states': 80 * MS}
    assert setup.recorded_rates_hz == {'image': None, 'eef+gripper:/ee_pose': 30.0,
                                       'eef+gripper:/gripper/joint_states': 15.0}
    assert setup.warnings == []


def test_a_state_with_a_key_not_recorded_has_no_recorded_tolerance_or_rate():
    """The pose not recorded (an append whose topics differed): which recorded source was whose
    is unknown, so no stream takes the gripper's tolerance or rate (before: /ee_pose took the
    gripper's 80 ms, 15 Hz)."""
    setup = eef_and_gripper(eef_recorded=False)
    assert setup.gap_ns == {'image': 500 * MS, 'eef+gripper:/ee_pose': 500 * MS,
                            'eef+gripper:/gripper/joint_states': 500 * MS}
    assert setup.recorded_rates_hz == {'image': None, 'eef+gripper:/ee_pose': None,
                                       'eef+gripper:/gripper/joint_states': None}


# --- a shared joint-state topic split by driver ---------------------------------------------

def test_a_drivers_stream_holds_a_joints_fields_once_named():
    """state_joint_drivers: an arm's joint read as position and velocity, and a gripper, on
    one topic: the arm's stream is named by its joint once and keeps each value's field."""
    node = cfg(joint_state_topic='/js', state_joint_names=['jx', 'jx', 'jy'],
               state_fields=['position', 'velocity', 'position'],
               state_joint_drivers=['arm', 'arm', 'gripper'], action_joint_names=['jx', 'jy'])
    setup = resolve_setup(node, checkpoint(state(3)))
    assert [(s.stream_name, s.columns, s.fields, s.shared) for s in setup.state_sources] == [
        ('agent_pos:/js [jx]', (0, 1), ('position', 'velocity'), True),
        ('agent_pos:/js [jy]', (2,), ('position',), True)]
    assert "<- /js ['jx', 'jx.velocity'] + /js ['jy']" in describe_setup(node, setup, 'cpu',
                                                                          None)


def test_drivers_are_looked_up_by_state_column_on_every_topic():
    """A gripper on its own topic and an arm's two joints on /js, both of the driver 'arm':
    /js stays one stream (the drivers are per state joint, not per place in the topic)."""
    node = cfg(state_joint_names=['g', 'a', 'b'], state_joint_topics=['/grip', '/js', '/js'],
               state_joint_drivers=['gripper', 'arm', 'arm'], action_joint_names=['a', 'b'])
    setup = resolve_setup(node, checkpoint(state(3)))
    assert [(s.stream_name, s.columns, s.shared) for s in setup.state_sources] == [
        ('agent_pos:/grip', (0,), False), ('agent_pos:/js', (1, 2), False)]
    split = resolve_setup(dataclasses.replace(node, state_joint_drivers=['gripper', 'arm',
                                                                         'hand']),
                          checkpoint(state(3)))
    assert [(s.stream_name, s.columns) for s in split.state_sources] == [
        ('agent_pos:/grip', (0,)), ('agent_pos:/js [a]', (1,)), ('agent_pos:/js [b]', (2,))]


def test_two_recorded_topics_read_from_one_topic_stay_one_stream():
    """Data recorded from two topics, the node reading both drivers' joints from one topic
    without state_joint_drivers: one stream (the data does not say how that topic's messages
    split), the topic warned about, no drivers warning; the largest tolerance, no rate."""
    setup = resolve_setup(cfg(joint_state_topic='/joint_states',
                              state_joint_names=['jx', 'jy']), two_topic_state())
    assert [(s.stream_name, s.shared) for s in setup.state_sources] == [('agent_pos', False)]
    assert setup.warnings == [
        'parameter joint_state_topic /joint_states is not what the training data was recorded '
        "from (['/arm/joint_states', '/gripper/joint_states'])"]
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos': 70 * MS}
    assert setup.recorded_rates_hz == {'image': None, 'agent_pos': None}


def test_a_topic_its_recorded_sources_do_not_cover_stays_whole():
    """Recorded sources that straddle the node's topics (j0, j1 read together, then j2, then
    j3): /b (j1, j2, j3) is not split, as no recorded driver gave j1 alone."""
    meta = checkpoint(state(4, names=['j0', 'j1', 'j2', 'j3'], sources=[
        {'kind': 'joint_state', 'topic': '/p', 'width': 2},
        {'kind': 'joint_state', 'topic': '/p', 'width': 1},
        {'kind': 'joint_state', 'topic': '/p', 'width': 1}]))
    setup = resolve_setup(cfg(state_joint_names=['j0', 'j1', 'j2', 'j3'],
                              state_joint_topics=['/a', '/b', '/b', '/b'],
                              action_joint_names=['j0', 'j1']), meta)
    assert [(s.stream_name, s.columns, s.shared) for s in setup.state_sources] == [
        ('agent_pos:/a', (0,), False), ('agent_pos:/b', (1, 2, 3), False)]


def test_recorded_spans_are_none_when_a_width_is_missing():
    """A recorded source without a width leaves every column unknown, not the later sources
    shifted onto the wrong columns."""
    assert recorded_spans([{'kind': 'joint_state', 'topic': '/js', 'width': None},
                           {'kind': 'joint_state', 'topic': '/js', 'width': 1}]) == []
    js = {'kind': 'joint_state', 'topic': '/js', 'width': 2}
    grip = {'kind': 'joint_state', 'topic': '/js', 'width': 1}
    assert recorded_spans([js, grip]) == [(js, range(0, 2)), (grip, range(2, 3))]
    assert recorded_spans(None) == []


def test_a_state_is_recorded_only_when_every_key_is():
    """joined_per_key: one key's recorded sources without the other's are not the state's."""
    assert joined_per_key([[1, 2], None]) is None
    assert joined_per_key([None, [3]]) is None
    assert joined_per_key([[1, 2], [3]]) == [1, 2, 3]
    assert joined_per_key([]) is None


# --- command topics --------------------------------------------------------------------------

POSE_TARGET = {'action_topic': '/target', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
               'action_pose_topics': ['/target']}


def test_a_dry_runs_trajectory_carries_frame_id():
    """The dry run's one trajectory is stamped in frame_id, as the targets would be."""
    setup = resolve_setup(cfg(**POSE_TARGET, frame_id='base', dry_run=True), POSE_METADATA)
    assert [(g.topic, g.frame_id, g.pose, g.stream) for g in setup.commands] == [
        (DRY_RUN_TOPIC, 'base', False, False)]


def test_a_dry_run_checks_the_pose_targets_of_the_run_it_stands_for():
    """A dry run publishes trajectories only, yet a pose target without a frame is refused:
    the parameters are those of the run that follows it."""
    with pytest.raises(ValueError, match=r"parameter frame_id is empty: .* of \['/target'\]"):
        resolve_setup(cfg(**POSE_TARGET, dry_run=True), POSE_METADATA)


def test_a_recorded_target_without_a_frame_is_not_compared():
    """Targets recorded without their frame: any frame_id is taken without a warning; one
    recorded in another frame is warned about."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['action'].update(shape=[4], names=['x', 'y', 'z', 'yaw'],
                          sources=[{'kind': 'pose', 'topic': '/target', 'width': 4}])
    unframed = {'config': pusht_image_config(shape_meta=meta).to_dict(),
                'control_period_s': 0.1}
    assert resolve_setup(cfg(**POSE_TARGET, frame_id='base'), unframed).warnings == []
    meta['action']['sources'][0]['frame_id'] = 'table'
    framed = {'config': pusht_image_config(shape_meta=meta).to_dict(), 'control_period_s': 0.1}
    assert resolve_setup(cfg(**POSE_TARGET, frame_id='base'), framed).warnings == [
        "parameter frame_id 'base' is not the frame the recorded targets of /target were in "
        "('table')"]


# --- state fields ----------------------------------------------------------------------------

def test_a_joint_repeated_on_one_topic_gets_no_two_arms_hint():
    """A joint named twice on one topic is refused without the prefix advice meant for two
    arms' topics."""
    text = resolve_error(state_joint_names=['x', 'x'])
    assert "reads ['x'] twice: a joint may appear once per field (state_fields)" in text
    assert 'come from two topics' not in text and 'topic_name_prefixes' not in text


def test_state_field_leaves_a_pose_topics_values_positions():
    """state_field velocity with a pose topic beside the joints: the pose's values are its
    fields (no JointState field), the joint's the velocity."""
    setup = resolve_setup(cfg(state_joint_names=['x', 'g'], state_joint_topics=['/ee', '/j'],
                              state_pose_topics=['/ee'], state_field='velocity'), metadata())
    assert [(s.topic, s.pose, s.fields) for s in setup.state_sources] == [
        ('/ee', True, ()), ('/j', False, ('velocity',))]


def test_a_pose_topic_is_never_split_by_the_recorded_drivers():
    """A topic read as a PoseStamped (one message gives all its fields) stays one stream even
    where the data recorded its values as two drivers' joint states; read as joint states,
    it is split as recorded."""
    meta = checkpoint(state(2, names=['x', 'y'], sources=[
        {'kind': 'joint_state', 'topic': '/js', 'width': 1},
        {'kind': 'joint_state', 'topic': '/js', 'width': 1}]))
    node = cfg(joint_state_topic='/js', state_joint_names=['x', 'y'], state_pose_topics=['/js'],
               action_joint_names=['x', 'y'])
    setup = resolve_setup(node, meta)
    assert [(s.stream_name, s.pose, s.shared) for s in setup.state_sources] == [
        ('agent_pos', True, False)]
    joints = resolve_setup(dataclasses.replace(node, state_pose_topics=[]), meta)
    assert [(s.stream_name, s.pose, s.shared) for s in joints.state_sources] == [
        ('agent_pos:/js [x]', False, True), ('agent_pos:/js [y]', False, True)]


def test_a_drivers_stream_the_data_read_with_another_takes_its_topics_tolerance():
    """state_joint_drivers splitting jx from jy, which the data read together (10 ms) beside
    g (90 ms): jx's stream has no recorded source of its own and takes its topic's smallest
    tolerance (bag2zarr dropped a step where any of the topic's sources had a gap; here jx's
    own, 10 ms), g's stream its own source's; the other grouping is warned about."""
    meta = checkpoint(state(3, names=['jx', 'jy', 'g'], sources=[
        {'kind': 'joint_state', 'topic': '/js', 'width': 2, 'tolerance_s': 0.01},
        {'kind': 'joint_state', 'topic': '/js', 'width': 1, 'tolerance_s': 0.09}]))
    node = cfg(joint_state_topic='/js', state_joint_names=['jx', 'jy', 'g'],
               state_joint_drivers=['a', 'b', 'b'], action_joint_names=['jx', 'jy'])
    setup = resolve_setup(node, meta)
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos:/js [jx]': 10 * MS,
                            'agent_pos:/js [jy, g]': 90 * MS}
    assert setup.warnings == [
        "parameter state_joint_drivers reads the state as ['jx'] + ['jy', 'g'], the training "
        "data sampled it as ['g'] + ['jx', 'jy']: each group is a stream of its own"]
    recorded = resolve_setup(dataclasses.replace(node, state_joint_drivers=[]), meta)
    assert recorded.gap_ns == {'image': 500 * MS, 'agent_pos:/js [jx, jy]': 10 * MS,
                               'agent_pos:/js [g]': 90 * MS}
    assert recorded.warnings == []


def test_a_pose_topics_values_are_not_held_to_a_recorded_joint_state_field():
    """A topic the data recorded as joint-state velocities, read as a pose: its values have no
    JointState field to compare (a pose's are positions), so no refusal naming state_fields,
    only the topic kind warned about."""
    meta = {'config': pusht_image_config(shape_meta=joint_state_shape_meta(
        [(('a', 'b'), 'velocity')], '/js', named=False)).to_dict(), 'control_period_s': 0.1}
    setup = resolve_setup(cfg(joint_state_topic='/js', state_joint_names=['x', 'y'],
                              state_pose_topics=['/js']), meta)
    assert setup.warnings == [
        "parameter state_pose_topics ['/js'] is not what the training data was recorded from "
        '([])']


def test_state_pose_topics_in_another_order_than_recorded_are_not_warned():
    """state_pose_topics is a set: the right arm's pose named before the left's is what the
    data recorded, no warning; each pose source keeps its own recorded frame."""
    meta = checkpoint({'agent_pos': {
        'shape': [2], 'type': 'low_dim', 'names': ['left_x', 'right_x'], 'sources': [
            {'kind': 'pose', 'topic': '/left/ee_pose', 'width': 1, 'prefix': 'left_',
             'frame_id': 'left_base'},
            {'kind': 'pose', 'topic': '/right/ee_pose', 'width': 1, 'prefix': 'right_',
             'frame_id': 'right_base'}]}})
    node = cfg(state_joint_names=['left_x', 'right_x'],
               state_joint_topics=['/left/ee_pose', '/right/ee_pose'],
               state_pose_topics=['/right/ee_pose', '/left/ee_pose'],
               topic_name_prefixes=['/left/ee_pose=left_', '/right/ee_pose=right_'],
               action_joint_names=['left_x', 'right_x'])
    setup = resolve_setup(node, meta)
    assert setup.warnings == []
    assert [(s.topic, s.pose, s.frame_id) for s in setup.state_sources] == [
        ('/left/ee_pose', True, 'left_base'), ('/right/ee_pose', True, 'right_base')]


# --- more of a list than the joints ----------------------------------------------------------

def test_more_state_joint_topics_than_joints_are_refused():
    """One topic per state joint: a third topic for two joints names state_joint_topics."""
    assert "parameter state_joint_topics ['/a', '/b', '/c'] must name one topic per state " \
        'joint' in resolve_error(state_joint_topics=['/a', '/b', '/c'])


def test_more_state_joint_drivers_than_joints_are_refused():
    """One driver per state joint: a third driver for two joints names state_joint_drivers."""
    assert "parameter state_joint_drivers ['a', 'b', 'c'] must name a driver per state joint" \
        in resolve_error(state_joint_drivers=['a', 'b', 'c'])


# --- recorded values the node must match -----------------------------------------------------

def test_a_yaw_wrap_refusal_gives_the_recorded_value():
    """The data wrapped yaw from 0: the refusal of the default -pi gives state_yaw_min: 0.0,
    the value to set; that value is accepted."""
    meta = checkpoint(state(3, names=['x', 'y', 'yaw'], sources=[
        {'kind': 'pose', 'topic': '/ee_pose', 'width': 3, 'yaw_min': 0.0}]))
    node = cfg(joint_state_topic='/ee_pose', state_pose_topics=['/ee_pose'],
               state_joint_names=['x', 'y', 'yaw'])
    with pytest.raises(ValueError, match=r'give state_yaw_min: 0\.0 \(else the yaw differs by '
                                         r'2 pi\)'):
        resolve_setup(node, meta)
    assert resolve_setup(dataclasses.replace(node, state_yaw_min=0.0), meta).warnings == []


def test_a_recorded_tolerance_of_zero_is_kept():
    """tolerance_s 0 (exact stamps) is a recorded tolerance, not a missing one: the gap limit
    is 0, not max_input_age_s."""
    meta = checkpoint(state(2, sources=[{'kind': 'joint_state', 'topic': '/pusht/joint_states',
                                         'width': 2, 'tolerance_s': 0.0}]))
    assert resolve_setup(cfg(), meta).gap_ns == {'image': 500 * MS, 'agent_pos': 0}


def test_positions_and_velocities_of_one_topic_take_the_smaller_tolerance():
    """bag2zarr dropped a step where either source of a joint-state topic had a gap (positions
    20 ms, velocities 100 ms); the node's one stream of that topic took the largest, and served
    a state 50 ms old at a time training dropped (a randomized review of the two sides)."""
    from dp_ros.params import config_from_dict as node_config
    from dp_ros.runtime.policy_node_config import (
        PolicyNodeConfig,
        joined_per_key,
        recorded_gaps,
        split_shared_topics,
        state_sources,
    )
    from training.bag2zarr import recorded_attrs
    from training.bag2zarr_config import config_from_dict as bag_config

    attrs = recorded_attrs(bag_config({'control_period_s': 0.1, 'keys': {'state': [
        {'joint_state': '/joint_states', 'joints': ['a1'], 'tolerance': 0.02},
        {'joint_state': '/joint_states', 'joints': ['a1'], 'field': 'velocity',
         'tolerance': 0.1}]}}))
    node = node_config(PolicyNodeConfig, {
        'checkpoint': 'x', 'joint_state_topic': '/joint_states', 'action_topic': '/c',
        'state_joint_names': ['a1', 'a1'], 'image_topics': [],
        'state_fields': ['position', 'velocity'], 'action_joint_names': ['a1']})

    class Recorded:
        def recorded_sources(self, key):
            return attrs[key]['sources']

    streams = split_shared_topics(state_sources(node, 'state'),
                                  joined_per_key([attrs['state']['sources']]), 'state')
    assert recorded_gaps(Recorded(), [], ['state'], streams, 500 * MS) == {'state': 20 * MS}


def test_a_bound_at_fault_is_named_by_its_dimension():
    """Refusals cut long lists (dp_ros.params.shown, against a file's 20,000 names), so a
    bound at fault is named by its dimension: a 14-joint arm's 13th is not hidden behind
    '...'; a bimanual arm's 16 joint names are shown whole."""
    from dp_ros.params import shown

    assert shown([f'j{i}' for i in range(16)]).count("'j") == 16
    assert 'lower <= upper: dimension(s) [1] are not ([0.0] / [-1.0])' in resolve_error(
        action_lower=[0.0, 0.0], action_upper=[1.0, -1.0])
