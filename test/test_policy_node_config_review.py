"""Mutation review of the policy node's setup resolution (runtime/policy_node_config.py, the
functions after the parameter dataclass), without ROS: the refusals and warnings naming the
right parameter, the start-up line, the recorded frames, wraps, camera sizes and crops that
reach the setup, and the split of a shared joint-state topic as the training data read it."""
from __future__ import annotations

import dataclasses
import math

import pytest
from support import joint_state_shape_meta
from test_policy_node_config import TWIST_METADATA, cfg, metadata, resolve_error

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import (
    PolicyNodeConfig,
    describe_setup,
    load_setup,
    resolve_setup,
)


def checkpoint(obs: dict, action: dict | None = None) -> dict:
    """A checkpoint's metadata with the camera 'image', the low-dim `obs` and the action."""
    shape_meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'}, **obs},
                  'action': action or {'shape': [2]}}
    return {'config': pusht_image_config(shape_meta=shape_meta).to_dict(),
            'control_period_s': 0.1}


POSE_TARGET = {'action_topic': '/target', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
               'action_pose_topics': ['/target']}
TWIST = {'action_topic': '/servo/delta_twist_cmds', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
         'action_twist_topics': ['/servo/delta_twist_cmds'], 'frame_id': 'base_link',
         'joint_state_topic': '/ee_pose', 'state_joint_names': ['x', 'y', 'z', 'yaw'],
         'state_pose_topics': ['/ee_pose']}


# --- refusals naming the parameter at fault ---------------------------------------------------

def test_an_action_topics_prefix_refusal_names_action_joint_names():
    """A command topic's prefix its action joints lack is a fault of action_joint_names, not of
    state_joint_names (the state's joints are fine)."""
    text = resolve_error(topic_name_prefixes=['/pusht/joint_trajectory=left_'])
    assert ("parameter action_joint_names: ['agent_x', 'agent_y'] of /pusht/joint_trajectory "
            "do not begin with its prefix 'left_'") in text


def test_an_unknown_twist_topic_is_refused():
    """action_twist_topics naming no command topic is refused as the stream and pose lists
    are: silently ignored, the servo's topic would get trajectories instead of twists."""
    with pytest.raises(ValueError, match=r"parameter action_twist_topics names \['/other'\], "
                                         r'not a command topic'):
        resolve_setup(cfg(**{**TWIST, 'action_twist_topics': ['/other']}), TWIST_METADATA)


def test_a_checkpoint_path_that_is_a_file_is_refused_as_no_directory(tmp_path):
    """checkpoint naming a file (policy.json itself) says it is not a directory, not some
    reader's error about the file."""
    artifact = tmp_path / 'policy.json'
    artifact.write_text('{}')
    with pytest.raises(ValueError, match=r"parameter checkpoint: '.*policy\.json' is not a "
                                         'directory'):
        load_setup(cfg(checkpoint=str(artifact)))


def test_a_yaw_wrap_a_fraction_off_the_recorded_one_is_refused():
    """state_yaw_min must be the recorded wrap up to float noise: 0.5 mrad off, a yaw between
    the two bounds comes out 2 pi off."""
    meta = checkpoint({'agent_pos': {'shape': [3], 'type': 'low_dim', 'names': ['x', 'y', 'yaw'],
                                     'sources': [{'kind': 'pose', 'topic': '/ee_pose', 'width': 3,
                                                  'yaw_min': 0.0}]}})
    node = cfg(joint_state_topic='/ee_pose', state_pose_topics=['/ee_pose'],
               state_joint_names=['x', 'y', 'yaw'], state_yaw_min=0.0005)
    with pytest.raises(ValueError, match=r'parameter state_yaw_min 0\.0005: the training data '
                                         r'wrapped pose yaw into \[0, 0 \+ 2 pi\)'):
        resolve_setup(node, meta)


TWO_WRAPS = checkpoint({'agent_pos': {
    'shape': [2], 'type': 'low_dim', 'names': ['left_yaw', 'right_yaw'], 'sources': [
        {'kind': 'pose', 'topic': '/left/ee_pose', 'width': 1, 'prefix': 'left_',
         'yaw_min': 0.0},
        {'kind': 'pose', 'topic': '/right/ee_pose', 'width': 1, 'prefix': 'right_',
         'yaw_min': -math.pi}]}})


@pytest.mark.parametrize('yaw_min', [1.0, -math.pi])
def test_two_pose_sources_recorded_with_different_yaw_wraps_are_refused(yaw_min):
    """Two arms' poses recorded with yaw wraps 0 and -pi: one state_yaw_min cannot wrap both
    as recorded, so the node refuses (naming state_yaw_min) rather than start."""
    node = cfg(state_joint_names=['left_yaw', 'right_yaw'],
               state_joint_topics=['/left/ee_pose', '/right/ee_pose'],
               state_pose_topics=['/left/ee_pose', '/right/ee_pose'],
               topic_name_prefixes=['/left/ee_pose=left_', '/right/ee_pose=right_'],
               action_joint_names=['left_yaw', 'right_yaw'], state_yaw_min=yaw_min)
    with pytest.raises(ValueError, match=r'state_yaw_min .*differently \(/left/ee_pose from 0, '
                                         r'/right/ee_pose from -3.14159\)'):
        resolve_setup(node, TWO_WRAPS)


# --- warnings ------------------------------------------------------------------------------

def test_state_names_read_with_fields_are_warned_as_such():
    """The names compared with the trained ones carry their fields ('agent_x.velocity'): the
    warning says so; plain names are warned as state_joint_names alone."""
    named = checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim',
                                      'names': ['agent_x', 'agent_y']}})
    fields = resolve_setup(cfg(state_joint_names=['agent_x', 'agent_x'],
                               state_fields=['position', 'velocity']), named).warnings
    assert fields == ["parameter state_joint_names with their state_fields ['agent_x', "
                      "'agent_x.velocity'] is not the joints the checkpoint was trained with "
                      "(['agent_x', 'agent_y']): make sure they are the same joints, in that "
                      'order']
    plain = resolve_setup(cfg(state_joint_names=['agent_x', 'z']), named).warnings
    assert len(plain) == 1 and plain[0].startswith("parameter state_joint_names ['agent_x', 'z']")


def test_a_wrong_frame_from_topic_frame_ids_is_warned_naming_topic_frame_ids():
    """A target's frame set by topic_frame_ids, other than the recorded one: the warning names
    topic_frame_ids, the parameter to change (frame_id is empty)."""
    meta = checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim'}}, {
        'shape': [4], 'names': ['x', 'y', 'z', 'yaw'],
        'sources': [{'kind': 'pose', 'topic': '/target', 'width': 4, 'frame_id': 'table'}]})
    setup = resolve_setup(cfg(**POSE_TARGET, topic_frame_ids=['/target=base']), meta)
    assert setup.warnings == [
        "parameter topic_frame_ids 'base' is not the frame the recorded targets of /target "
        "were in ('table')"]


def test_poses_recorded_without_a_frame_check_no_frame():
    """A state pose and a target recorded without header.frame_id: the pose source keeps no
    frame (the node then takes poses in any frame) and no frame_id is warned about."""
    meta = checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'y'],
                                     'sources': [{'kind': 'pose', 'topic': '/ee', 'width': 2}]}},
                      {'shape': [4], 'names': ['x', 'y', 'z', 'yaw'],
                       'sources': [{'kind': 'pose', 'topic': '/target', 'width': 4}]})
    setup = resolve_setup(cfg(**POSE_TARGET, frame_id='world', joint_state_topic='/ee',
                              state_pose_topics=['/ee'], state_joint_names=['x', 'y']), meta)
    assert [(s.topic, s.pose, s.frame_id) for s in setup.state_sources] == [('/ee', True, '')]
    assert setup.warnings == []


def test_a_state_from_a_topic_the_node_cannot_read_is_not_compared():
    """A state value recorded from a Float64MultiArray topic (no JointState or pose): the
    recorded state topics are nothing the node subscribes to as such, so no topic warning."""
    meta = checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim', 'names': ['jx', 'g'],
                                     'sources': [
                                         {'kind': 'joint_state', 'topic': '/js', 'width': 1},
                                         {'kind': 'float_array', 'topic': '/gripper/commands',
                                          'width': 1}]}})
    setup = resolve_setup(cfg(joint_state_topic='/js', state_joint_names=['jx', 'g'],
                              action_joint_names=['jx', 'g']), meta)
    assert setup.warnings == []


# --- the start-up line -------------------------------------------------------------------------

def test_the_start_up_line_gives_the_timing_the_period_and_the_warm_up():
    """Realtime with its replan threshold, or lockstep; dt in seconds; the warm-up in ms."""
    realtime = cfg()
    line = describe_setup(realtime, resolve_setup(realtime, metadata()), 'cpu', 0.25)
    assert line.endswith('dt=0.1 s, realtime (replan at <= 2 left), execution replace, '
                         'warm-up 250 ms')
    lockstep = cfg(lockstep=True)
    line = describe_setup(lockstep, resolve_setup(lockstep, metadata()), 'cpu', None)
    assert line.endswith('dt=0.1 s, lockstep, execution replace')


def test_a_dry_run_line_names_each_controller_topic_once():
    """Two action joints on one controller: the dry run's line names that topic once."""
    dry = cfg(action_topic='/arm_controller/joint_trajectory', dry_run=True)
    line = describe_setup(dry, resolve_setup(dry, metadata()), 'cpu', None)
    assert '(DRY RUN: nothing to /arm_controller/joint_trajectory);' in line


# --- what reaches the setup ----------------------------------------------------------------

def test_a_cameras_recorded_frame_size_and_crop_reach_the_setup():
    """The camera box cut first and the recorded frame size (the node refuses frames of
    another shape) come from the checkpoint's image entry."""
    meta = checkpoint({'image': {'shape': [3, 96, 96], 'type': 'rgb',
                                 'camera_crop': [100, 50, 366, 366],
                                 'sources': [{'kind': 'image', 'topic': '/pusht/image_raw',
                                              'width': None, 'frame_size': [480, 640]}]},
                       'agent_pos': {'shape': [2], 'type': 'low_dim'}})
    setup = resolve_setup(cfg(), meta)
    assert setup.image_crops == {'image': (100, 50, 366, 366)}
    assert setup.image_frame_sizes == {'image': (480, 640)}
    plain = resolve_setup(cfg(), metadata())
    assert (plain.image_crops, plain.image_frame_sizes) == ({'image': None}, {'image': None})


def test_a_path_through_a_target_and_another_topic_has_no_pose():
    """debug_path_joints across a pose target's x and a gripper: the path is not that
    target's position, so its poses do not turn with the target (path_pose None)."""
    grip = '/gripper_controller/commands'
    node = cfg(action_joint_names=['x', 'qx', 'y', 'z', 'qy', 'qz', 'qw', 'finger'],
               action_joint_topics=['/target'] * 7 + [grip], action_stream_topics=[grip],
               action_pose_topics=['/target'], frame_id='base',
               debug_path_joints=['x', 'finger'])
    setup = resolve_setup(node, checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim'}},
                                           {'shape': [8]}))
    assert setup.path_joints == [0, 7] and setup.path_pose is None


# --- a shared joint-state topic split as the training data read it -------------------------

def test_drivers_matching_the_recorded_split_of_a_joints_fields_are_not_warned():
    """Data that read jx's position and velocity (one driver) apart from jy on /js: drivers
    grouping jx's fields together match it, one stream each, no warning (the recorded groups
    are by joint, not by joint and field)."""
    meta = metadata(shape_meta=joint_state_shape_meta(
        [(('jx',), 'position'), (('jx',), 'velocity'), (('jy',), 'position')], '/js'))
    node = cfg(joint_state_topic='/js', state_joint_names=['jx', 'jx', 'jy'],
               state_fields=['position', 'velocity', 'position'],
               state_joint_drivers=['arm', 'arm', 'gripper'], action_joint_names=['jx', 'jy'])
    setup = resolve_setup(node, meta)
    assert [(s.stream_name, s.columns) for s in setup.state_sources] == [
        ('agent_pos:/js [jx]', (0, 1)), ('agent_pos:/js [jy]', (2,))]
    assert setup.warnings == []
    recorded = resolve_setup(dataclasses.replace(node, state_joint_drivers=[]), meta)
    assert [(s.stream_name, s.columns) for s in recorded.state_sources] == [
        ('agent_pos:/js [jx]', (0, 1)), ('agent_pos:/js [jy]', (2,))]


def test_one_topics_drivers_recorded_under_two_keys_are_split_alike():
    """An arm's joint and a gripper's, each its own low-dim key, recorded from one /js as two
    sources: the node splits /js as recorded across the keys (each driver's messages give
    its own joint only)."""
    meta = checkpoint({
        'arm': {'shape': [1], 'type': 'low_dim', 'names': ['jx'],
                'sources': [{'kind': 'joint_state', 'topic': '/js', 'width': 1}]},
        'gripper': {'shape': [1], 'type': 'low_dim', 'names': ['jy'],
                    'sources': [{'kind': 'joint_state', 'topic': '/js', 'width': 1}]}})
    setup = resolve_setup(cfg(joint_state_topic='/js', state_joint_names=['jx', 'jy'],
                              action_joint_names=['jx', 'jy']), meta)
    assert [(s.stream_name, s.columns, s.shared) for s in setup.state_sources] == [
        ('arm+gripper:/js [jx]', (0,), True), ('arm+gripper:/js [jy]', (1,), True)]
    assert setup.warnings == []


def test_a_topic_recorded_as_poses_read_as_joint_states_stays_whole():
    """The recorded split is of joint-state sources: a topic the data read as two pose
    sources, read by the node as joint states, is one stream (and the kind is warned)."""
    meta = checkpoint({'agent_pos': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'y'],
                                     'sources': [{'kind': 'pose', 'topic': '/ee', 'width': 1},
                                                 {'kind': 'pose', 'topic': '/ee', 'width': 1}]}})
    setup = resolve_setup(cfg(joint_state_topic='/ee', state_joint_names=['x', 'y'],
                              action_joint_names=['x', 'y']), meta)
    assert [(s.stream_name, s.shared) for s in setup.state_sources] == [('agent_pos', False)]
    assert setup.warnings == ["parameter state_pose_topics [] is not what the training data "
                              "was recorded from (['/ee'])"]


def test_a_node_commanding_a_robot_without_a_step_limit_warns_at_start():
    """A drafted parameter file leaves max_step_delta commented out (FILL IN): the node started
    on a real arm, realtime, nothing bounding a joint's move per period, without a word."""
    metadata = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}

    def warned(**values) -> list[str]:
        cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/p', 'device': 'cpu',
                                                  **values})
        setup = resolve_setup(cfg, metadata)
        assert setup.start_warnings == setup.warnings + setup.safety_warnings
        return [w for w in setup.safety_warnings if 'no step limit' in w]

    joints = ['shoulder', 'elbow']
    arm = {'action_joint_names': joints, 'state_joint_names': joints}
    said = warned(**arm)
    assert said == ['no step limit on shoulder, elbow: nothing bounds how far they move in a '
                    "control period, a motion's first point included (ramp_in_s eases the start "
                    'only); on a robot give max_step_delta, max_velocity or urdf_path (README: '
                    'Safety envelope)'], said
    assert warned(**arm, max_step_delta=[0.1, float('inf')])[0].startswith(
        'no step limit on elbow: nothing bounds how far it moves')
    assert not warned(**arm, max_velocity=[0.5, 0.5])
    assert not warned(**arm, dry_run=True) and not warned(**arm, lockstep=True)
    assert not warned()  # the Push-T point robot's joints: the sim


def test_a_stop_deceleration_too_small_for_the_top_speed_warns_at_start():
    """A stop lasts at most MAX_STOP_S (a 1e-9 one overflowed the path's times): a
    stop_deceleration that would need longer from a joint's top speed (its step limit per
    period) is cut short there, harder than asked. Said at start, naming the joint: more
    likely a unit slip than meant."""
    metadata = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}

    def warned(**values) -> list[str]:
        cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/p', 'device': 'cpu',
                                                  'action_joint_names': ['shoulder', 'elbow'],
                                                  'state_joint_names': ['shoulder', 'elbow'],
                                                  **values})
        setup = resolve_setup(cfg, metadata)
        return [w for w in setup.start_warnings if 'stop_deceleration' in w]

    # 1.5 rad/s top speed (0.15 a 0.1 s period): 0.02 rad/s^2 stops in 75 s, 0.03 in 50 s
    said = warned(max_velocity=[1.5, 1.5], stop_deceleration=[0.02, 0.03])
    assert said == ['stop_deceleration would take longer than a stop may last (60 s) to bring '
                    'shoulder (75 s from 1.5/s at 0.02/s^2) to rest from the top speed its step '
                    'limit allows: such a stop decelerates harder, to be at rest by then; check '
                    'the units (action units/s^2)'], said
    assert not warned(max_velocity=[1.5, 1.5], stop_deceleration=[0.03])
    assert len(warned(max_velocity=[1.5, 1.5], stop_deceleration=[1e-12])) == 1
    # no top speed known (no step limit: that is warned of itself), the one-point stop,
    # lockstep (always the one point)
    assert not warned(stop_deceleration=[1e-6])
    assert not warned(max_velocity=[1.5, 1.5], stop_deceleration=[0.0])
    assert not warned(max_velocity=[1.5, 1.5], stop_deceleration=[1e-6], lockstep=True)
    assert not warned(max_velocity=[1.5, float('inf')], stop_deceleration=[0.03, 1e-6])


def test_a_step_limit_too_small_to_cross_the_training_actions_warns_at_start():
    """max_velocity 1e-4 meant as 1e-1 (or degrees/s on radians): a limit > 0 was taken as
    given and the arm barely moved, without a word. Said at start when crossing the training
    actions' range at the step limit takes longer than SLOW_CROSSING_S, naming the joint."""
    import numpy as np

    from dp_ros.policy.normalizer import Normalizer

    actions = np.array([[-1.0, 0.0], [2.0, 0.5]])  # shoulder spans 3, elbow 0.5
    metadata = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1,
                'normalizer': Normalizer.from_data({'action': actions}).to_dict()}
    joints = ['shoulder', 'elbow']

    def warned(**values) -> list[str]:
        cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/p', 'device': 'cpu',
                                                  'action_joint_names': joints,
                                                  'state_joint_names': joints, **values})
        setup = resolve_setup(cfg, metadata)
        return [w for w in setup.start_warnings if 'step limit too small' in w]

    # shoulder: 3 / (0.002 * 0.1) * 0.1 = 1500 s; elbow: 0.5 / 0.0002 * 0.1 = 250 s
    said = warned(max_velocity=[0.002, 0.002])
    assert said == ["step limit too small to follow the training's actions on shoulder "
                    '(0.0002 a period: 1500 s to cross -1..2), elbow (0.0002 a period: 250 s '
                    'to cross 0..0.5): longer than 120 s to cross the range the '
                    'demonstrations used; the arm would barely move. Another unit (degrees '
                    'for radians)? Check max_step_delta, max_velocity and the URDF (README: '
                    'Safety envelope)'], said
    # elbow at 0.005 rad/s: 100 s, under the bound; an unlimited joint is not judged here
    assert warned(max_velocity=[0.002, 0.005])[0].count('a period') == 1
    assert not warned(max_step_delta=[float('inf'), 0.0005])
    assert not warned(max_velocity=[1.5, 1.5]) and not warned()
