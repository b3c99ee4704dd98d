"""The topics the training data was recorded from (dp_ros/recorded_sources.py): checked where
a checkpoint is read, compared with the node's topic parameters at start (other names warn,
swapped cameras stop it), drafted into its parameter file, forgotten when an appended bag
came from other topics."""
from __future__ import annotations

import json

import pytest
import yaml
from support import make_tiny_arm_checkpoint

from dp_ros.params import config_from_dict
from dp_ros.policy.checkpoint import METADATA_FILE, read_policy_metadata
from dp_ros.policy.config import PolicyConfig
from dp_ros.recorded_sources import check_sources, command_topics, compare_sources, rate_hz
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from training.inspect_dataset import main as inspect

ARM, GRIP = '/arm_controller/joint_trajectory', '/gripper_controller/commands'


def test_sources_are_checked_against_the_values_they_fill():
    one = [{'kind': 'joint_state', 'topic': '/joint_states', 'width': 3}]
    assert check_sources(one, 3, 'state') == one
    assert check_sources(None, 3, 'state') is None
    with pytest.raises(ValueError, match=r'state: sources widths \[3\] do not add up to the 4'):
        check_sources(one, 4, 'state')
    with pytest.raises(ValueError, match='absolute topics'):
        check_sources([{'kind': 'image', 'topic': 'camera', 'width': None}], None, 'rgb')
    with pytest.raises(ValueError, match='an image has one source'):
        check_sources([{'kind': 'image', 'topic': '/a'}, {'kind': 'image', 'topic': '/b'}],
                      None, 'rgb')
    # a checkpoint with malformed sources is refused where it is read
    meta = PolicyConfig().to_dict()
    meta['shape_meta']['action']['sources'] = [{'kind': 'joint_trajectory', 'topic': ARM,
                                                'width': 3}]
    with pytest.raises(ValueError, match='action: sources widths'):
        PolicyConfig.from_dict(meta)


def test_a_recorded_rate_is_its_topics_and_ambiguous_without_one():
    """rate_hz: a topic's recorded rate (the lower where it fills two sources, position and
    velocity of one JointState); without a topic, the one topic's; none for several topics,
    a topic not recorded, or data from before rates were recorded."""
    state = [{'kind': 'joint_state', 'topic': '/js', 'width': 6, 'rate_hz': 100.0},
             {'kind': 'joint_state', 'topic': '/js', 'width': 6, 'field': 'velocity',
              'rate_hz': 99.5},
             {'kind': 'joint_state', 'topic': '/gripper/js', 'width': 1, 'rate_hz': 20.0}]
    assert rate_hz(state, '/js') == 99.5 and rate_hz(state, '/gripper/js') == 20.0
    assert rate_hz(state) is None and rate_hz(state, '/other') is None
    assert rate_hz(state[:2]) == 99.5
    assert rate_hz([{'kind': 'image', 'topic': '/cam', 'width': None}]) is None
    assert rate_hz(None) is None
    assert check_sources(state[:1], 6, 'state') == state[:1]
    for bad in (0.0, -1.0, float('nan'), '30'):
        with pytest.raises(ValueError, match='sources must be a list'):
            check_sources([{**state[0], 'rate_hz': bad}], 6, 'state')


def test_the_unnormalized_rotation_columns_are_found_through_a_prefix():
    """Two end effectors' poses (bag2zarr's prefix: left_r00, ...): their rotation entries
    stay unnormalized as one pose's do; a joint named like a field does not."""
    from dp_ros.recorded_sources import unit_rotation_columns

    sources = [{'kind': 'pose', 'topic': f'/{arm}/ee_pose', 'width': 3, 'prefix': f'{arm}_'}
               for arm in ('left', 'right')] + [{'kind': 'joint_state', 'topic': '/j',
                                                 'width': 1}]
    names = ['left_x', 'left_r00', 'left_qw', 'right_x', 'right_r00', 'right_qw', 'qw']
    assert unit_rotation_columns(names, sources) == [1, 2, 4, 5]


def test_commands_are_the_action_topics_only_when_every_source_is_a_command():
    arm = {'kind': 'joint_trajectory', 'topic': ARM, 'width': 2}
    grip = {'kind': 'float_array', 'topic': GRIP, 'width': 1}
    assert command_topics([arm, grip]) == ([ARM, ARM, GRIP], [GRIP], [])
    target = {'kind': 'pose', 'topic': '/target_frame', 'width': 4}
    assert command_topics([target, grip], ['/ee_pose']) == (
        ['/target_frame'] * 4 + [GRIP], [GRIP], ['/target_frame'])
    assert command_topics([dict(target, topic='/ee_pose')], ['/ee_pose']) is None  # future
    assert command_topics([{'kind': 'joint_state', 'topic': '/joint_states', 'width': 3}]) \
        is None  # a future state: no controller was recorded
    assert command_topics(None) is None


def test_other_topics_warn_and_swapped_cameras_stop_the_node():
    recorded = {'image_topics': ['/wrist/image_raw/compressed', '/scene/image_raw'],
                'state_joint_topics': ['/joint_states'] * 2, 'action_joint_topics': [ARM, GRIP],
                'action_stream_topics': [GRIP]}
    same = {'image_topics': ['/wrist/image_raw', '/scene/image_raw'],  # raw: the same camera
            'state_joint_topics': ['/joint_states'] * 2, 'action_joint_topics': [ARM, GRIP],
            'action_stream_topics': [GRIP]}
    assert compare_sources(recorded, same) == []
    other = dict(same, image_topics=['/wrist/image_raw', '/top/image_raw'],
                 state_joint_topics=['/robot/joint_states'] * 2, action_stream_topics=[])
    warnings = compare_sources(recorded, other)
    assert len(warnings) == 3
    assert "parameter image_topics ['/wrist/image_raw', '/top/image_raw'] is not the topics" \
        in warnings[0]
    # one topic is said as the node's joint_state_topic, several as its state_joint_topics
    assert 'parameter joint_state_topic /robot/joint_states is not what the training data ' \
           'was recorded from (/joint_states)' in warnings[1]
    split = ['/joint_states', '/gripper/joint_states']
    assert compare_sources(dict(recorded, state_joint_topics=split), same) == [
        "parameter joint_state_topic /joint_states is not what the training data was recorded "
        f"from ({split})"]
    assert compare_sources(recorded, dict(same, state_joint_topics=split)) == [
        f"parameter state_joint_topics {split} is not what the training data was recorded "
        "from (/joint_states)"]
    assert f"parameter action_stream_topics [] is not what the training data was recorded " \
           f"from (['{GRIP}'])" in warnings[2]
    with pytest.raises(ValueError, match='in another order'):
        compare_sources(recorded, dict(same, image_topics=['/scene/image_raw',
                                                           '/wrist/image_raw']))
    assert compare_sources({'image_topics': [None, '/scene/image_raw']}, other) == []


@pytest.fixture
def recorded_policy(tmp_path):
    """The tiny arm policy as if bag2zarr had recorded it: a camera, the joint states, two
    joints commanded through a trajectory controller and one streamed."""
    policy = make_tiny_arm_checkpoint(tmp_path / 'policy')
    meta = json.loads((policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    sm['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/cam/image_raw', 'width': None}]
    sm['obs']['joint_pos']['sources'] = [{'kind': 'joint_state', 'topic': '/joint_states',
                                          'width': 3}]
    sm['action']['sources'] = [{'kind': 'joint_trajectory', 'topic': ARM, 'width': 2},
                               {'kind': 'float_array', 'topic': GRIP, 'width': 1}]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    return policy


def test_the_draft_names_the_recorded_topics_and_the_node_accepts_it(recorded_policy,
                                                                      tmp_path, capsys):
    out = tmp_path / 'params.yaml'
    assert inspect([str(recorded_policy), '--draft-params', str(out)]) == 0
    assert f"recorded from: cameras ['/cam/image_raw']; joint states /joint_states; commands " \
           f"['{ARM}', '{GRIP}']; streamed ['{GRIP}']" in capsys.readouterr().out
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['image_topics'] == ['/cam/image_raw']
    assert params['joint_state_topic'] == '/joint_states'
    assert params['action_topic'] == ARM
    assert params['action_joint_topics'] == [ARM, ARM, GRIP]
    assert params['action_stream_topics'] == [GRIP]
    meta = read_policy_metadata(recorded_policy)
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert setup.warnings == []
    # all joints on one controller: the node says it is not how the data was recorded
    params.pop('action_joint_topics')
    params.pop('action_stream_topics')
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert [w.split(' is not ')[0] for w in setup.warnings] == [
        f"parameter action_joint_topics ['{ARM}', '{ARM}', '{ARM}']",
        'parameter action_stream_topics []']


def test_joint_states_from_two_topics_are_drafted_per_joint_and_read_per_topic(
        recorded_policy, tmp_path, capsys):
    """An arm's driver and its gripper's publish their joint states apart: the draft gives
    each state joint its recorded topic, the node reads one stream per topic and puts the
    values back in the checkpoint's order."""
    meta = json.loads((recorded_policy / METADATA_FILE).read_text())
    meta['config']['shape_meta']['obs']['joint_pos']['sources'] = [
        {'kind': 'joint_state', 'topic': '/joint_states', 'width': 2},
        {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1}]
    (recorded_policy / METADATA_FILE).write_text(json.dumps(meta))
    out = tmp_path / 'params.yaml'
    assert inspect([str(recorded_policy), '--draft-params', str(out)]) == 0
    assert "joint states ['/joint_states', '/gripper/joint_states']" in capsys.readouterr().out
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    per_joint = ['/joint_states', '/joint_states', '/gripper/joint_states']
    assert params['state_joint_topics'] == per_joint
    meta = read_policy_metadata(recorded_policy)
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert setup.warnings == []
    assert [(s.topic, s.stream_name, s.columns) for s in setup.state_sources] == [
        ('/joint_states', 'joint_pos:/joint_states', (0, 1)),
        ('/gripper/joint_states', 'joint_pos:/gripper/joint_states', (2,))]
    assert setup.streams == ['image', 'joint_pos:/joint_states',
                             'joint_pos:/gripper/joint_states']
    params.pop('state_joint_topics')  # all from one topic: not how the data was recorded
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert setup.warnings == [
        'parameter joint_state_topic /joint_states is not what the training data was recorded '
        f'from ({per_joint})']  # what to give state_joint_topics
    assert setup.streams == ['image', 'joint_pos']


def test_two_arms_prefixed_joint_names_are_drafted_and_commanded_without_the_prefix(
        recorded_policy, tmp_path, capsys):
    """Two arms whose drivers name their joints alike, recorded by bag2zarr with prefixes:
    the draft gives every prefixed topic its prefix (topic_name_prefixes), and the node built
    from it accepts it and commands each arm's joints by the driver's names."""
    meta = json.loads((recorded_policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    names = ['left_waist', 'left_gripper', 'right_waist']
    for entry, kind, topic in ((sm['obs']['joint_pos'], 'joint_state', '{}/joint_states'),
                               (sm['action'], 'joint_trajectory', '{}/arm/joint_trajectory')):
        entry['names'] = names
        entry['sources'] = [{'kind': kind, 'topic': topic.format('/left'), 'width': 2,
                             'prefix': 'left_'},
                            {'kind': kind, 'topic': topic.format('/right'), 'width': 1,
                             'prefix': 'right_'}]
    (recorded_policy / METADATA_FILE).write_text(json.dumps(meta))
    out = tmp_path / 'params.yaml'
    assert inspect([str(recorded_policy), '--draft-params', str(out)]) == 0
    prefixes = ['/left/joint_states=left_', '/right/joint_states=right_',
                '/left/arm/joint_trajectory=left_', '/right/arm/joint_trajectory=right_']
    assert f'names prefixed {prefixes}' in capsys.readouterr().out
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['topic_name_prefixes'] == prefixes
    assert params['state_joint_names'] == params['action_joint_names'] == names
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')),
                          read_policy_metadata(recorded_policy))
    assert setup.warnings == []
    assert [(g.topic, g.message_names) for g in setup.commands] == [
        ('/left/arm/joint_trajectory', ['waist', 'gripper']),
        ('/right/arm/joint_trajectory', ['waist'])]
    assert [(s.topic, s.prefix) for s in setup.state_sources] == [
        ('/left/joint_states', 'left_'), ('/right/joint_states', 'right_')]
    # check_sources keeps the prefix where a checkpoint is read
    assert PolicyConfig.from_dict(meta['config']).recorded_sources('action')[1]['prefix'] == \
        'right_'


def test_two_arms_targets_recorded_in_their_own_frames_are_drafted_per_topic(
        recorded_policy, tmp_path):
    """Two Cartesian controllers' recorded targets, each in its arm's base frame: the draft
    gives frame_id the first's and topic_frame_ids the other's, and the node accepts it."""
    meta = json.loads((recorded_policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    fields = ['x', 'y', 'z', 'yaw']
    names = [f'{arm}_{f}' for arm in ('left', 'right') for f in fields]
    sm['action'] = {'shape': [8], 'names': names,
                    'sources': [{'kind': 'pose', 'topic': f'/{arm}/target_frame', 'width': 4,
                                 'prefix': f'{arm}_', 'frame_id': f'{arm}_base_link',
                                 'yaw_min': -3.141592653589793} for arm in ('left', 'right')]}
    (recorded_policy / METADATA_FILE).write_text(json.dumps(meta))
    out = tmp_path / 'params.yaml'
    assert inspect([str(recorded_policy), '--draft-params', str(out)]) == 0
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['action_pose_topics'] == ['/left/target_frame', '/right/target_frame']
    assert params['frame_id'] == 'left_base_link'
    assert params['topic_frame_ids'] == ['/right/target_frame=right_base_link']
    assert params['topic_name_prefixes'] == ['/left/target_frame=left_',
                                             '/right/target_frame=right_']
    for bound in ('action_lower', 'action_upper'):  # the tiny policy's normalizer: 3 joints
        params.pop(bound)
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')),
                          read_policy_metadata(recorded_policy))
    assert setup.warnings == []
    assert [(g.topic, g.frame_id, g.message_names) for g in setup.commands] == [
        ('/left/target_frame', 'left_base_link', fields),
        ('/right/target_frame', 'right_base_link', fields)]


def test_a_recorded_pose_is_drafted_with_its_yaw_wrap_and_another_wrap_is_refused(
        recorded_policy, tmp_path, capsys):
    """The end effector's pose recorded as a bag2zarr pose source (x, y, yaw wrapped from 0):
    the draft reads it from its topic with the recorded wrap; a node wrapping yaw otherwise
    would see angles 2 pi off for half the turn, and is refused."""
    meta = json.loads((recorded_policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    sm['obs']['joint_pos']['sources'] = [
        {'kind': 'pose', 'topic': '/ee_pose', 'width': 3, 'yaw_min': 0.0,
         'frame_id': 'base_link'}]
    sm['obs']['joint_pos']['names'] = ['x', 'y', 'yaw']
    (recorded_policy / METADATA_FILE).write_text(json.dumps(meta))
    out = tmp_path / 'params.yaml'
    assert inspect([str(recorded_policy), '--draft-params', str(out)]) == 0
    assert "poses ['/ee_pose']" in capsys.readouterr().out
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['joint_state_topic'] == '/ee_pose'
    assert params['state_pose_topics'] == ['/ee_pose'] and params['state_yaw_min'] == 0.0
    assert params['state_joint_names'] == ['x', 'y', 'yaw']
    meta = read_policy_metadata(recorded_policy)
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert setup.warnings == [] and setup.state_sources[0].pose
    assert setup.state_sources[0].frame_id == 'base_link'  # poses in another are refused
    params.pop('state_yaw_min')  # the default, -pi
    with pytest.raises(ValueError, match=r'parameter state_yaw_min -3.14159: the training data '
                                         r'wrapped pose yaw into \[0, 0 \+ 2 pi\)'):
        resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    params.update(state_yaw_min=0.0, state_pose_topics=[])  # read as joint states: warned
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')), meta)
    assert setup.warnings == ["parameter state_pose_topics [] is not what the training data "
                              "was recorded from (['/ee_pose'])"]


def test_recorded_pose_targets_are_drafted_for_a_cartesian_controller(tmp_path, capsys):
    """Actions recorded from a Cartesian controller's PoseStamped targets: the draft sends
    them there (action_pose_topics, a frame to fill in), quotes the field `y` that ROS 2's
    parameter parser would read as a boolean, and the node accepts the draft; the same
    pose topic as the state is a future state, not a controller: the target topic is then a
    FILL IN, never the state's."""
    from support import make_tiny_pose_checkpoint

    policy = make_tiny_pose_checkpoint(tmp_path / 'policy')
    meta = json.loads((policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    sm['action']['sources'] = [{'kind': 'pose', 'topic': '/target_frame', 'width': 4,
                                'yaw_min': -3.141592653589793, 'frame_id': 'table'}]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    out = tmp_path / 'params.yaml'
    assert inspect([str(policy), '--draft-params', str(out)]) == 0
    assert "pose targets ['/target_frame']" in capsys.readouterr().out
    text = out.read_text()
    assert 'action_joint_names: [x, "y", z, yaw]' in text
    params = yaml.safe_load(text)['/**/dp_policy']['ros__parameters']
    assert params['action_topic'] == '/target_frame'
    assert params['action_pose_topics'] == ['/target_frame']
    assert params['frame_id'] == 'table'  # the recorded targets' frame
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(params, device='cpu')),
                          read_policy_metadata(policy))
    assert setup.warnings == [] and [g.pose for g in setup.commands] == [True]
    setup = resolve_setup(config_from_dict(PolicyNodeConfig, dict(
        params, device='cpu', frame_id='base_link')), read_policy_metadata(policy))
    assert setup.warnings == ["parameter frame_id 'base_link' is not the frame the recorded "
                              "targets of /target_frame were in ('table')"]
    sm['obs']['joint_pos']['sources'] = [{'kind': 'pose', 'topic': '/target_frame',
                                          'width': 3}]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    assert inspect([str(policy), '--draft-params', str(out), '--force']) == 0
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['action_pose_topics'] == [params['action_topic']] == ['/FILL_IN/target_pose']
