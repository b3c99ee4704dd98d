"""The policy node's parameters and their check against the checkpoint, without ROS: every
error names the parameter at fault."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import joint_state_shape_meta

from dp_ros.params import config_from_dict, param_fields
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.policy_node_config import (
    DRY_RUN_TOPIC,
    MAX_SEED,
    CommandGroup,
    PolicyNodeConfig,
    StateSource,
    command_groups,
    describe_setup,
    join_state,
    load_setup,
    message_streams,
    resolve_setup,
    state_sources,
)

REPO = Path(__file__).resolve().parents[1]
MS = 1_000_000

# the node's interface: YAML files, launch files and `dp-ros sim` pass these names
INTERFACE = {
    'checkpoint': ('str', ''), 'device': ('str', 'auto'), 'dtype': ('str', 'float32'),
    'sampler': ('str', ''), 'num_inference_steps': ('int', 0), 'cpu_threads': ('int', 0),
    'torchscript': ('bool', True), 'torch_compile': ('bool', False), 'warmup': ('bool', True),
    'image_topics': ('list[str]', ['/pusht/image_raw']), 'compressed_images': ('bool', False),
    'joint_state_topic': ('str', '/pusht/joint_states'), 'state_joint_topics': ('list[str]', []),
    'state_pose_topics': ('list[str]', []), 'state_yaw_min': ('float', -math.pi),
    'action_pose_topics': ('list[str]', []),
    'state_joint_names': ('list[str]', ['agent_x', 'agent_y']), 'state_obs_key': ('str', ''),
    'state_field': ('str', 'position'), 'state_fields': ('list[str]', []),
    'state_joint_drivers': ('list[str]', []),
    'action_topic': ('str', '/pusht/joint_trajectory'),
    'action_joint_names': ('list[str]', ['agent_x', 'agent_y']),
    'action_joint_topics': ('list[str]', []), 'action_stream_topics': ('list[str]', []),
    'action_twist_topics': ('list[str]', []), 'twist_gain': ('float', 5.0),
    'twist_max_linear': ('float', 0.25), 'twist_max_angular': ('float', 1.0),
    'topic_name_prefixes': ('list[str]', []), 'frame_id': ('str', ''),
    'topic_frame_ids': ('list[str]', []),
    'n_action_steps': ('int', 0), 'control_period_s': ('float', 0.0),
    'max_input_age_s': ('float', 0.5), 'history_s': ('float', 3.0),
    'action_lower': ('list[float]', []), 'action_upper': ('list[float]', []),
    'sample_seed': ('int', 0), 'env_seed': ('int', 0), 'episode_start_topic': ('str', ''),
    'start_enabled': ('bool', True), 'dry_run': ('bool', False), 'lockstep': ('bool', False),
    'replan_threshold': ('int', 2), 'action_lead_s': ('float', 0.0),
    'diagnostics_period_s': ('float', 1.0), 'stamp_tolerance_s': ('float', 1.0),
    'execution_mode': ('str', 'replace'), 'ensemble_decay': ('float', 0.01),
    'blend_steps': ('int', 3), 'urdf_path': ('str', ''), 'max_step_delta': ('list[float]', []),
    'max_velocity': ('list[float]', []), 'ramp_in_s': ('float', 0.0),
    'stop_deceleration': ('list[float]', [0.0]),
    'debug_topics': ('bool', False), 'debug_path_joints': ('list[str]', []),
    'debug_path_scale': ('float', 1.0), 'debug_extra_latency_s': ('float', 0.0),
    'observation_log_path': ('str', ''),
}


def metadata(**overrides) -> dict:
    return {'config': pusht_image_config(**overrides).to_dict(), 'control_period_s': 0.1}


def cfg(**values) -> PolicyNodeConfig:
    return config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu', **values})


def resolve_error(**values) -> str:
    with pytest.raises(ValueError) as info:
        resolve_setup(cfg(**values), metadata())
    return str(info.value)


def test_every_parameter_keeps_its_name_type_and_default_and_is_documented():
    fields = param_fields(PolicyNodeConfig)
    defaults = PolicyNodeConfig()
    assert {f.name: (f.type, getattr(defaults, f.name)) for f in fields} == INTERFACE
    for f in fields:
        assert f.metadata['description'] and f.metadata['read_only'], f.name
        if f.name.endswith('_s'):
            assert f.metadata['unit'] == 's', f.name
    assert config_from_dict(PolicyNodeConfig, {}) == defaults
    assert defaults.image_topics is not PolicyNodeConfig().image_topics  # lists not shared


@pytest.mark.parametrize('name', ['policy_pusht.yaml', 'policy_example_arm.yaml',
                                  'policy_example_cartesian.yaml'])
def test_shipped_parameter_files_are_valid(name):
    params = yaml.safe_load((REPO / 'config' / name).read_text())['/**/dp_policy'][
        'ros__parameters']
    params.pop('use_sim_time', None)
    config = config_from_dict(PolicyNodeConfig, params)
    assert len(config.action_lower) == len(config.action_upper) == len(config.action_joint_names)


@pytest.mark.parametrize('values, words', [
    ({'num_inference_steps': 'x'}, 'parameter num_inference_steps must be an integer'),
    ({'n_action_steps': 2.5}, 'parameter n_action_steps must be an integer'),
    # int(inf) raised OverflowError (a traceback; at run time the sim died), int(nan) a
    # message naming no parameter
    ({'n_action_steps': math.inf}, 'parameter n_action_steps must be an integer'),
    ({'n_action_steps': math.nan}, 'parameter n_action_steps must be an integer'),
    ({'lockstep': 1}, 'parameter lockstep must be true or false'),
    ({'device': 0}, 'parameter device must be a string'),
    ({'history_s': 'long'}, 'parameter history_s must be a number'),
    ({'image_topics': '/cam'}, 'parameter image_topics must be a list'),
    ({'state_joint_names': ['a', 1]}, 'parameter state_joint_names must be a list of strings'),
    ({'action_lower': [0.0, 'x']}, 'parameter action_lower must be a list of numbers'),
    ({'max_input_age_s': 0.0}, 'parameter max_input_age_s must be in'),
    ({'history_s': math.nan}, 'parameter history_s must be in'),
    ({'control_period_s': -0.1}, 'parameter control_period_s must be in'),
    ({'replan_threshold': -1}, 'parameter replan_threshold must be in'),
    ({'sample_seed': MAX_SEED + 1}, 'parameter sample_seed must be in'),
    ({'diagnostics_period_s': 0.0}, 'parameter diagnostics_period_s must be in'),
    ({'control_period': 0.1}, "unknown parameter(s) ['control_period']"),
])
def test_types_ranges_and_unknown_names_are_errors_naming_the_parameter(values, words):
    with pytest.raises(ValueError) as info:
        config_from_dict(PolicyNodeConfig, values)
    assert words in str(info.value)


def test_yaml_numbers_convert():
    config = config_from_dict(PolicyNodeConfig, {'control_period_s': 1, 'action_lower': [0, 1],
                                                 'n_action_steps': 4.0})
    assert config.control_period_s == 1.0 and isinstance(config.control_period_s, float)
    assert config.action_lower == [0.0, 1.0] and config.n_action_steps == 4


def test_a_dry_run_commands_the_nodes_own_topic_and_says_so():
    live = cfg(action_topic='/arm_controller/joint_trajectory')
    dry = cfg(action_topic='/arm_controller/joint_trajectory', dry_run=True)
    assert [g.topic for g in command_groups(live)] == ['/arm_controller/joint_trajectory']
    assert [g.topic for g in command_groups(dry)] == [DRY_RUN_TOPIC]
    assert DRY_RUN_TOPIC == '~/dry_run/joint_trajectory'
    setup = resolve_setup(dry, metadata())
    line = describe_setup(dry, setup, 'cpu', None)
    assert '-> ~/dry_run/joint_trajectory' in line
    assert 'DRY RUN: nothing to /arm_controller/joint_trajectory' in line
    assert 'DRY RUN' not in describe_setup(live, setup, 'cpu', None)


def test_action_joints_split_across_controller_topics_in_first_appearance_order():
    """An arm's and a gripper's controllers: each topic gets its joints' columns, in action
    order; without action_joint_topics, and in a dry run, one group holds every joint."""
    arm, grip = '/arm_controller/joint_trajectory', '/gripper_controller/joint_trajectory'
    split = cfg(action_joint_names=['j1', 'finger', 'j2'], action_joint_topics=[arm, grip, arm])
    assert command_groups(split) == [CommandGroup(arm, (0, 2), ('j1', 'j2')),
                                     CommandGroup(grip, (1,), ('finger',))]
    assert command_groups(cfg(action_topic=arm)) == [
        CommandGroup(arm, (0, 1), ('agent_x', 'agent_y'))]
    dry = cfg(action_joint_topics=[arm, grip], dry_run=True)
    assert command_groups(dry) == [CommandGroup(DRY_RUN_TOPIC, (0, 1), ('agent_x', 'agent_y'))]
    live = cfg(action_joint_topics=[arm, grip])
    assert resolve_setup(live, metadata()).commands == command_groups(live)
    line = describe_setup(live, resolve_setup(live, metadata()), 'cpu', None)
    assert f"-> {arm} ['agent_x'], {grip} ['agent_y']" in line
    line = describe_setup(dry, resolve_setup(dry, metadata()), 'cpu', None)
    assert f'DRY RUN: nothing to {arm}, {grip}' in line


def test_a_forward_controller_topic_is_streamed_and_a_dry_run_streams_nothing():
    arm, grip = '/arm_controller/joint_trajectory', '/gripper_controller/commands'
    split = cfg(action_joint_topics=[arm, grip], action_stream_topics=[grip])
    assert command_groups(split) == [CommandGroup(arm, (0,), ('agent_x',)),
                                     CommandGroup(grip, (1,), ('agent_y',), stream=True)]
    line = describe_setup(split, resolve_setup(split, metadata()), 'cpu', None)
    assert f"{grip} ['agent_y'] (streamed)" in line
    alone = cfg(action_topic='/forward_position_controller/commands',
                action_stream_topics=['/forward_position_controller/commands'])
    assert [g.stream for g in command_groups(alone)] == [True]
    dry = cfg(action_joint_topics=[arm, grip], action_stream_topics=[grip], dry_run=True)
    assert [g.stream for g in command_groups(dry)] == [False]


def test_state_joints_from_two_topics_are_two_streams_joined_in_joint_order():
    """An arm's driver and its gripper's: each joint-state topic is an input stream of its
    own; an assembled observation's samples are put back in state_joint_names order, time by
    time; one topic stays the single stream named by the state key, its samples untouched."""
    arm, grip = '/joint_states', '/gripper/joint_states'
    split = cfg(state_joint_names=['finger', 'j1'], state_joint_topics=[grip, arm])
    setup = resolve_setup(split, metadata())
    assert setup.state_sources == [
        StateSource(grip, f'agent_pos:{grip}', (0,), ('finger',), fields=('position',)),
        StateSource(arm, f'agent_pos:{arm}', (1,), ('j1',), fields=('position',))]
    assert setup.streams == ['image', f'agent_pos:{grip}', f'agent_pos:{arm}']
    images = [np.zeros((96, 96, 3), np.uint8)] * 2
    joined = setup.model_values({'image': images,
                                 f'agent_pos:{grip}': [np.float32([0.5]), np.float32([0.25])],
                                 f'agent_pos:{arm}': [np.float32([1.0]), np.float32([2.0])]})
    assert list(joined) == ['image', 'agent_pos'] and joined['image'] is images
    assert [v.tolist() for v in joined['agent_pos']] == [[0.5, 1.0], [0.25, 2.0]]
    assert joined['agent_pos'][0].dtype == np.float32
    line = describe_setup(split, setup, 'cpu', None)
    assert f"'agent_pos' <- {grip} ['finger'] + {arm} ['j1']" in line
    # three joints, two topics interleaved: each value lands in its joint's place
    sources = state_sources(cfg(state_joint_names=['a', 'g', 'b'],
                                state_joint_topics=[arm, grip, arm]), 'joint_pos')
    values = {f'joint_pos:{arm}': [np.float32([1, 3])], f'joint_pos:{grip}': [np.float32([2])]}
    joined = join_state(values, ['joint_pos'], [3], sources)
    assert joined['joint_pos'][0].tolist() == [1, 2, 3]
    one = resolve_setup(cfg(), metadata())
    assert [s.stream_name for s in one.state_sources] == ['agent_pos']
    values = {'image': images, 'agent_pos': [np.float32([1, 2])] * 2}
    assert one.model_values(values) is values


TWO_KEYS = {'config': pusht_image_config(shape_meta={
    'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
            'eef': {'shape': [2], 'type': 'low_dim', 'names': ['x', 'yaw']},
            'gripper': {'shape': [1], 'type': 'low_dim', 'names': ['finger']}},
    'action': {'shape': [2]}}).to_dict(), 'control_period_s': 0.1}


def test_several_low_dim_observations_are_one_state_cut_in_key_order():
    """A checkpoint trained on several low-dim keys (robomimic's eef pose and gripper, a
    bag2zarr config with a key per part): state_joint_names names all their values in the
    checkpoint's key order, read from whichever topics, and each key gets its own."""
    split = cfg(state_joint_names=['x', 'yaw', 'finger'],
                state_joint_topics=['/ee_pose', '/ee_pose', '/gripper/joint_states'],
                state_pose_topics=['/ee_pose'])
    setup = resolve_setup(split, TWO_KEYS)
    assert (setup.state_keys, setup.state_sizes) == (['eef', 'gripper'], [2, 1])
    assert setup.streams == ['image', 'eef+gripper:/ee_pose', 'eef+gripper:/gripper/joint_states']
    images = [np.zeros((96, 96, 3), np.uint8)] * 2
    joined = setup.model_values({'image': images,
                                 'eef+gripper:/ee_pose': [np.float32([1, 2]), np.float32([3, 4])],
                                 'eef+gripper:/gripper/joint_states': [np.float32([5])] * 2})
    assert list(joined) == ['image', 'eef', 'gripper']
    assert [v.tolist() for v in joined['eef']] == [[1, 2], [3, 4]]
    assert [v.tolist() for v in joined['gripper']] == [[5], [5]]
    assert setup.warnings == []  # the names recorded per key, compared joined
    line = describe_setup(split, setup, 'cpu', None)
    assert "'eef' + 'gripper' <- /ee_pose ['x', 'yaw'] (pose) + /gripper/joint_states" in line
    # one topic for all: one stream, still cut
    one = resolve_setup(cfg(state_joint_names=['x', 'yaw', 'finger']), TWO_KEYS)
    assert one.streams == ['image', 'eef+gripper']
    joined = one.model_values({'image': images, 'eef+gripper': [np.float32([1, 2, 3])] * 2})
    assert joined['eef'][0].tolist() == [1, 2] and joined['gripper'][0].tolist() == [3]
    with pytest.raises(ValueError, match=r"must be 3 names \(the state: 'eef' 2 then "
                                         r"'gripper' 1 values\)"):
        resolve_setup(cfg(state_joint_names=['x', 'yaw']), TWO_KEYS)
    with pytest.raises(ValueError, match="lists the joints the checkpoint was trained with in "
                                         'another order'):
        resolve_setup(cfg(state_joint_names=['finger', 'x', 'yaw']), TWO_KEYS)
    with pytest.raises(ValueError, match="state_obs_key 'eef': the checkpoint's low-dim "
                                         r"observations are \['eef', 'gripper'\]"):
        resolve_setup(cfg(state_joint_names=['x', 'yaw', 'finger'], state_obs_key='eef'),
                      TWO_KEYS)


def test_an_end_effector_pose_is_a_state_source_of_its_own_kind():
    """state_pose_topics: a PoseStamped topic among the state topics gives the pose fields
    its names in state_joint_names say, beside a joint-state topic."""
    split = cfg(state_joint_names=['x', 'gripper'], state_joint_topics=['/ee_pose', '/joints'],
                state_pose_topics=['/ee_pose'])
    setup = resolve_setup(split, metadata())
    assert [(s.topic, s.joint_names, s.pose) for s in setup.state_sources] == [
        ('/ee_pose', ('x',), True), ('/joints', ('gripper',), False)]
    line = describe_setup(split, setup, 'cpu', None)
    assert "'agent_pos' <- /ee_pose ['x'] (pose) + /joints ['gripper']" in line


def fields_metadata(fields: tuple[str | None, str | None], named: bool = True) -> dict:
    """A checkpoint whose state is joints a, b read from fields[0], then from fields[1]
    (None: not recorded), sourced and (named) named as bag2zarr does."""
    meta = joint_state_shape_meta([(('a', 'b'), f) for f in fields], '/joints', named)
    return {'config': pusht_image_config(shape_meta=meta).to_dict(), 'control_period_s': 0.1}


def test_a_joints_position_and_velocity_are_read_from_their_fields():
    """state_fields: one joint named twice, once per field; each value is read from the
    JointState field the training data recorded it from (test_conversions reads them), and
    any other is refused."""
    both = ['position', 'position', 'velocity', 'velocity']
    node = cfg(joint_state_topic='/joints', state_joint_names=['a', 'b', 'a', 'b'],
               state_fields=both, action_joint_names=['a', 'b'])
    setup = resolve_setup(node, fields_metadata(('position', 'velocity')))
    assert setup.warnings == []  # the names match the recorded a, b, a.velocity, b.velocity
    [source] = setup.state_sources
    assert source.joint_names == ('a', 'b', 'a', 'b') and source.fields == tuple(both)
    assert "<- /joints ['a', 'b', 'a.velocity', 'b.velocity']" in describe_setup(
        node, setup, 'cpu', None)
    # the data's fields not recorded (older data): nothing to check against
    assert resolve_setup(node, fields_metadata((None, None), named=False)).warnings == []
    # the fields the other way round: by name, another order of the trained values
    swapped = dataclasses.replace(node, state_fields=both[2:] + both[:2])
    with pytest.raises(ValueError, match='trained with in another order'):
        resolve_setup(swapped, fields_metadata(('position', 'velocity')))
    # and by the recorded fields where the names were not kept: refused, naming the fix
    with pytest.raises(ValueError, match=r"recorded state values from other JointState "
                                         r"fields: a \(position, read as velocity\), b "
                                         r"\(position, read as velocity\), a \(velocity, read "
                                         r"as position\), b \(velocity, read as position\); "
                                         r"give state_fields: \['position', 'position', "
                                         r"'velocity', 'velocity'\]"):
        resolve_setup(swapped, fields_metadata(('position', 'velocity'), named=False))
    # a field given to a pose topic's value
    with pytest.raises(ValueError, match=r"state_fields: \['x'\] come from a pose topic"):
        resolve_setup(cfg(state_joint_names=['x', 'g'], state_joint_topics=['/ee', '/j'],
                          state_pose_topics=['/ee'], state_fields=['velocity', 'position']),
                      metadata())


def two_arm_metadata(prefixed: bool = True) -> dict:
    """Two one-joint arms whose drivers both name the joint 'waist', recorded by bag2zarr
    with prefixes left_ and right_ (prefixed=False: recorded before prefixes were)."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    for entry, kind, topic in ((meta['obs']['agent_pos'], 'joint_state', 'joint_states'),
                               (meta['action'], 'joint_trajectory',
                                'arm_controller/joint_trajectory')):
        entry['names'] = ['left_waist', 'right_waist']
        entry['sources'] = [{'kind': kind, 'topic': f'/{arm}/{topic}', 'width': 1,
                             **({'prefix': f'{arm}_'} if prefixed else {})}
                            for arm in ('left', 'right')]
    return {'config': pusht_image_config(shape_meta=meta).to_dict(), 'control_period_s': 0.1}


TWO_ARMS = dict(
    state_joint_names=['left_waist', 'right_waist'],
    state_joint_topics=['/left/joint_states', '/right/joint_states'],
    action_joint_names=['left_waist', 'right_waist'],
    action_joint_topics=['/left/arm_controller/joint_trajectory',
                         '/right/arm_controller/joint_trajectory'],
    topic_name_prefixes=['/left/joint_states=left_', '/right/joint_states=right_',
                         '/left/arm_controller/joint_trajectory=left_',
                         '/right/arm_controller/joint_trajectory=right_'])


def test_two_arms_that_name_their_joints_alike_are_told_apart_by_topic_prefixes(tmp_path):
    """topic_name_prefixes: the state and action joints are the training data's names; each
    topic's messages name them without its prefix (test_conversions reads them, the node
    test commands them)."""
    node = cfg(**TWO_ARMS)
    setup = resolve_setup(node, two_arm_metadata())
    assert setup.warnings == []
    assert [(s.topic, s.joint_names, s.prefix) for s in setup.state_sources] == [
        ('/left/joint_states', ('left_waist',), 'left_'),
        ('/right/joint_states', ('right_waist',), 'right_')]
    assert [(g.topic, g.joint_names, g.message_names) for g in setup.commands] == [
        ('/left/arm_controller/joint_trajectory', ('left_waist',), ['waist']),
        ('/right/arm_controller/joint_trajectory', ('right_waist',), ['waist'])]
    line = describe_setup(node, setup, 'cpu', None)
    assert ("/left/joint_states ['left_waist'] (messages without 'left_') + /right/joint_states "
            "['right_waist'] (messages without 'right_')") in line
    # one arm's URDF bounds both arms: a joint it lacks by the data's name is its driver's
    urdf = tmp_path / 'arm.urdf'
    urdf.write_text('<robot name="arm"><joint name="waist" type="revolute"><limit lower="-1" '
                    'upper="2" velocity="3"/></joint></robot>')
    bounded = resolve_setup(dataclasses.replace(node, urdf_path=str(urdf)), two_arm_metadata())
    np.testing.assert_array_equal(bounded.lower, [-1.0, -1.0])
    np.testing.assert_array_equal(bounded.upper, [2.0, 2.0])
    with pytest.raises(ValueError, match="joint 'right_waist' is not in"):  # no prefix
        resolve_setup(dataclasses.replace(node, urdf_path=str(urdf), topic_name_prefixes=[
            '/left/arm_controller/joint_trajectory=left_']), two_arm_metadata())
    urdf.write_text(urdf.read_text().replace('waist', 'elbow'))
    with pytest.raises(ValueError, match="joint 'left_waist' nor 'waist' is not in"):
        resolve_setup(dataclasses.replace(node, urdf_path=str(urdf)), two_arm_metadata())
    # a dry run's one trajectory names every joint as the training data does
    dry = resolve_setup(dataclasses.replace(node, dry_run=True), two_arm_metadata())
    assert [g.message_names for g in dry.commands] == [['left_waist', 'right_waist']]
    # no prefixes, where the training data had them: the drivers must give the long names
    plain = dataclasses.replace(node, topic_name_prefixes=[])
    warnings = resolve_setup(plain, two_arm_metadata()).warnings
    assert warnings == [
        "parameter topic_name_prefixes puts ['', ''] before the state joints' names in the "
        "messages, the training data ['left_', 'right_'] (per value): make sure the drivers "
        'name the joints as the prefixes say',
        "parameter topic_name_prefixes puts ['', ''] before the action joints' names in the "
        "messages, the training data ['left_', 'right_'] (per value): make sure the drivers "
        'name the joints as the prefixes say']
    # data recorded before prefixes: nothing to compare the prefixes with but the names
    assert resolve_setup(node, two_arm_metadata(prefixed=False)).warnings == [
        w.replace("['left_', 'right_']", "['', '']").replace("['', ''] before", "['left_', "
                                                             "'right_'] before")
        for w in warnings]


def test_two_end_effectors_are_told_apart_by_topic_prefixes():
    """Two arms' poses and Cartesian targets (UMI-style): pose fields after each topic's
    prefix; each target gets its own fields (a twist steers from its own arm's measured
    pose); a prefixed name that is no pose field after the prefix is refused."""
    from dp_ros.policy.config import pusht_shape_meta

    fields = ['x', 'y', 'z', 'yaw']
    names = [f'{arm}_{f}' for arm in ('left', 'right') for f in fields]
    meta = pusht_shape_meta()
    meta['obs']['agent_pos'].update(shape=[8], names=names)
    meta['action'].update(shape=[8], names=names)
    metadata = {'config': pusht_image_config(shape_meta=meta).to_dict(),
                'control_period_s': 0.1}
    poses, targets = ['/left/ee_pose', '/right/ee_pose'], ['/left/target', '/right/target']
    node = cfg(state_joint_names=names, state_joint_topics=[t for t in poses for _ in fields],
               state_pose_topics=poses, action_joint_names=names,
               action_joint_topics=[t for t in targets for _ in fields],
               action_pose_topics=targets, frame_id='base',
               topic_name_prefixes=[f'{t}={a}_' for t, a in zip(poses + targets,
                                                                 ['left', 'right'] * 2,
                                                                 strict=True)])
    setup = resolve_setup(node, metadata)
    assert [(g.topic, g.pose, g.message_names) for g in setup.commands] == [
        ('/left/target', True, fields), ('/right/target', True, fields)]
    assert [(s.topic, s.pose, s.message_names) for s in setup.state_sources] == [
        ('/left/ee_pose', True, fields), ('/right/ee_pose', True, fields)]
    assert [g.frame_id for g in setup.commands] == ['base', 'base']
    twist = dataclasses.replace(node, action_pose_topics=[], action_twist_topics=targets)
    assert [g.twist for g in resolve_setup(twist, metadata).commands] == [True, True]
    # each Cartesian controller in its own arm's base frame (topic_frame_ids)
    framed = dataclasses.replace(node, frame_id='', topic_frame_ids=[
        '/left/target=left_base', '/right/target=right_base'])
    assert [g.frame_id for g in resolve_setup(framed, metadata).commands] == [
        'left_base', 'right_base']
    with pytest.raises(ValueError, match=r"frame_id is empty: .* of \['/right/target'\] need"):
        resolve_setup(dataclasses.replace(framed, topic_frame_ids=framed.topic_frame_ids[:1]),
                      metadata)
    # targets recorded in each arm's frame: another frame is a warning naming the topic
    for entry in (meta['action'],):
        entry['sources'] = [{'kind': 'pose', 'topic': t, 'width': 4, 'frame_id': f'{a}_base',
                             'prefix': f'{a}_'}
                            for t, a in zip(targets, ['left', 'right'], strict=True)]
    recorded = {'config': pusht_image_config(shape_meta=meta).to_dict(),
                'control_period_s': 0.1}
    assert resolve_setup(framed, recorded).warnings == []
    assert resolve_setup(dataclasses.replace(framed, frame_id='world', topic_frame_ids=[
        '/left/target=left_base']), recorded).warnings == [
        "parameter frame_id 'world' is not the frame the recorded targets of /right/target "
        "were in ('right_base')"]
    with pytest.raises(ValueError, match=r"\['left_x', 'left_y', 'left_z', 'left_yaw'\] of pose "
                                         r"topic /left/ee_pose \(state_pose_topics\) must be "
                                         r"pose fields after its prefix 'right_'"):
        resolve_setup(dataclasses.replace(node, topic_name_prefixes=[
            '/left/ee_pose=right_', '/right/ee_pose=right_']), metadata)
    with pytest.raises(ValueError, match=r'/left/target \(action_pose_topics\) gets'):
        resolve_setup(dataclasses.replace(node, topic_name_prefixes=[
            f'{t}={a}_' for t, a in zip(poses, ['left', 'right'], strict=True)]), metadata)


POSE_METADATA = {'config': pusht_image_config(shape_meta={
    'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
            'agent_pos': {'shape': [2], 'type': 'low_dim'}},
    'action': {'shape': [4]}}).to_dict(), 'control_period_s': 0.1}


@pytest.mark.parametrize('values, words', [
    ({}, "parameter frame_id is empty: the pose targets (action_pose_topics) or twists "
         "(action_twist_topics) of ['/target'] need the frame they are in"),
    ({'topic_frame_ids': ['/other=base']}, "parameter topic_frame_ids names ['/other'], not a "
                                           'command topic'),
    ({'topic_frame_ids': ['/target']}, "parameter topic_frame_ids: '/target' is not "
                                       "'topic=frame'"),
    ({'frame_id': 'base', 'action_joint_names': ['x', 'y', 'z', 'qw']},
     "the pose topic /target (action_pose_topics) gets ['x', 'y', 'z', 'qw'] is not a whole "
     'pose'),
    ({'frame_id': 'base', 'action_joint_names': ['x', 'y', 'yaw', 'roll']}, 'not a whole pose'),
    ({'frame_id': 'base', 'action_stream_topics': ['/target']},
     "parameters action_stream_topics and action_pose_topics both name ['/target']"),
    ({'frame_id': 'base', 'action_pose_topics': ['/other']},
     "parameter action_pose_topics names ['/other'], not a command topic"),
])
def test_a_pose_target_needs_a_whole_pose_and_its_frame(values, words):
    base = {'action_topic': '/target', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
            'action_pose_topics': ['/target']}
    config = cfg(**{**base, **values})
    with pytest.raises(ValueError) as info:
        resolve_setup(config, POSE_METADATA)
    assert words in str(info.value)


TWIST_METADATA = {'config': pusht_image_config(shape_meta={
    'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
            'agent_pos': {'shape': [4], 'type': 'low_dim'}},
    'action': {'shape': [4]}}).to_dict(), 'control_period_s': 0.1}


@pytest.mark.parametrize('values, words', [
    ({'frame_id': ''}, "parameter frame_id is empty: the pose targets (action_pose_topics) or "
                       "twists (action_twist_topics) of ['/servo/delta_twist_cmds'] need the "
                       'frame they are in (frame_id, or topic_frame_ids per topic)'),
    ({'action_joint_names': ['x', 'y', 'z', 'qw']},
     "the twist topic /servo/delta_twist_cmds (action_twist_topics) gets ['x', 'y', 'z', 'qw'] "
     'is not a whole pose'),
    ({'action_pose_topics': ['/servo/delta_twist_cmds']},
     "parameters action_pose_topics and action_twist_topics both name "
     "['/servo/delta_twist_cmds']: a topic takes PoseStamped or TwistStamped"),
    ({'state_pose_topics': []}, 'parameter action_twist_topics: /servo/delta_twist_cmds steers '
                                'from the measured pose, and no state pose topic '
                                "(state_pose_topics) gives ['x', 'y', 'z', 'yaw']"),
])
def test_a_twist_needs_a_whole_pose_its_frame_and_the_measured_pose(values, words):
    base = {'action_topic': '/servo/delta_twist_cmds', 'action_joint_names': ['x', 'y', 'z', 'yaw'],
            'action_twist_topics': ['/servo/delta_twist_cmds'], 'frame_id': 'base_link',
            'joint_state_topic': '/ee_pose', 'state_joint_names': ['x', 'y', 'z', 'yaw'],
            'state_pose_topics': ['/ee_pose']}
    setup = resolve_setup(cfg(**base), TWIST_METADATA)
    assert [(g.topic, g.twist, g.stream, g.pose) for g in setup.commands] == [
        ('/servo/delta_twist_cmds', True, False, False)]
    assert "/servo/delta_twist_cmds ['x', 'y', 'z', 'yaw'] (twist)" in describe_setup(
        cfg(**base), setup, 'cpu', None)
    assert (setup.twist_limits.gain, setup.twist_limits.max_linear) == (5.0, 0.25)
    with pytest.raises(ValueError) as info:
        resolve_setup(cfg(**{**base, **values}), TWIST_METADATA)
    assert words in str(info.value)


def test_a_pose_target_topic_is_streamed_and_a_dry_run_sends_trajectories():
    grip = '/gripper_controller/commands'
    split = cfg(action_joint_names=['x', 'qx', 'y', 'z', 'qy', 'qz', 'qw', 'finger'],
                action_joint_topics=['/target'] * 7 + [grip], action_stream_topics=[grip],
                action_pose_topics=['/target'], frame_id='base')
    assert command_groups(split) == [
        CommandGroup('/target', (0, 1, 2, 3, 4, 5, 6), ('x', 'qx', 'y', 'z', 'qy', 'qz', 'qw'),
                     stream=True, pose=True, frame_id='base'),
        CommandGroup(grip, (7,), ('finger',), stream=True, frame_id='base')]
    assert [g.pose for g in command_groups(dataclasses.replace(split, dry_run=True))] == [False]
    meta = {'config': pusht_image_config(shape_meta={
        'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                'agent_pos': {'shape': [2], 'type': 'low_dim'}},
        'action': {'shape': [8]}}).to_dict(), 'control_period_s': 0.1}
    setup = resolve_setup(split, meta)
    line = describe_setup(split, setup, 'cpu', None)
    assert "/target ['x', 'qx', 'y', 'z', 'qy', 'qz', 'qw'] (pose)" in line
    assert setup.path_pose is None  # no path drawn
    # the path drawn through the targets' position turns as the targets do, dry run or not
    for dry in (False, True):
        drawn = resolve_setup(dataclasses.replace(split, debug_path_joints=['x', 'y', 'z'],
                                                  dry_run=dry), meta)
        assert drawn.path_pose == ((0, 1, 2, 3, 4, 5, 6),
                                   ('x', 'qx', 'y', 'z', 'qy', 'qz', 'qw'))


def test_resolve_setup_from_the_checkpoint():
    setup = resolve_setup(cfg(action_lower=[0, 0], action_upper=[512, 512]), metadata())
    assert setup.rgb_keys == ['image'] and setup.state_keys == ['agent_pos']
    assert setup.state_sizes == [2]
    assert setup.streams == ['image', 'agent_pos']
    assert setup.image_shapes == {'image': (96, 96)}
    assert (setup.n_obs_steps, setup.n_action_steps) == (2, 8)
    assert (setup.dt_ns, setup.max_age_ns, setup.keep_ns) == (100 * MS, 500 * MS, 3000 * MS)
    np.testing.assert_array_equal(setup.upper, [512.0, 512.0])
    assert resolve_setup(cfg(), metadata()).lower is None
    # the node's parameters override the checkpoint's
    setup = resolve_setup(cfg(control_period_s=0.05, n_action_steps=15), metadata())
    assert (setup.dt_ns, setup.n_action_steps) == (50 * MS, 15)
    assert resolve_setup(cfg(state_obs_key='agent_pos'), metadata()).state_keys == ['agent_pos']


def test_safety_settings_resolve_to_per_step_limits(tmp_path):
    urdf = tmp_path / 'pusher.urdf'
    urdf.write_text('<robot name="p"><joint name="agent_x" type="prismatic"><limit lower="10" '
                    'upper="500" velocity="100"/></joint><joint name="agent_y" type="prismatic">'
                    '<limit lower="0" upper="512" velocity="300"/></joint></robot>')
    setup = resolve_setup(cfg(urdf_path=str(urdf), action_lower=[0, 0],
                              action_upper=[512, 400], max_step_delta=[50, 20], ramp_in_s=0.5,
                              stamp_tolerance_s=0.25, debug_path_joints=['agent_y', 'agent_x']),
                          metadata())
    np.testing.assert_array_equal(setup.lower, [10.0, 0.0])
    np.testing.assert_array_equal(setup.upper, [500.0, 400.0])
    np.testing.assert_allclose(setup.limits.max_step, [10.0, 20.0])  # 100 px/s * 0.1 s; 20
    assert setup.ramp_in_ns == 500 * MS and setup.stamp_tolerance_ns == 250 * MS
    assert setup.path_joints == [1, 0]


@pytest.mark.parametrize('values, words', [
    ({'checkpoint': ''}, 'parameter checkpoint is empty'),
    ({'device': 'gpu'}, "parameter device must be 'auto'"),
    ({'dtype': 'float64'}, 'parameter dtype must be one of'),
    ({'sampler': 'euler'}, 'parameter sampler must be'),
    ({'state_field': 'torque'}, 'parameter state_field must be'),
    ({'action_topic': ''}, 'action_topic must not be empty'),
    ({'image_topics': ['/a', '/b']}, 'parameter image_topics has 2 topic(s)'),
    ({'image_topics': []}, 'parameter image_topics has 0 topic(s)'),
    ({'image_topics': ['']}, 'parameter image_topics has 1 topic(s)'),
    ({'state_obs_key': 'image'}, "parameter state_obs_key 'image'"),
    ({'state_joint_names': ['x']}, 'parameter state_joint_names'),
    ({'state_joint_names': ['x', 'x']}, "reads ['x'] twice: a joint may appear once per "
                                        'field (state_fields)'),
    ({'state_joint_names': ['x', 'x'], 'state_fields': ['velocity', 'velocity']},
     "reads ['x.velocity'] twice"),
    ({'state_joint_names': ['waist', 'waist'], 'state_joint_topics': ['/left/joint_states',
                                                                      '/right/joint_states']},
     "['waist'] come from two topics: two arms whose drivers name their joints alike are told "
     'apart by a prefix per topic'),
    ({'topic_name_prefixes': ['left_']}, "topic_name_prefixes: 'left_' is not 'topic=prefix'"),
    ({'topic_name_prefixes': ['/pusht/joint_states=']}, 'is not '),
    ({'topic_name_prefixes': ['pusht/joint_states=p_']}, 'is not '),
    ({'topic_name_prefixes': ['/pusht/joint_states=a', '/pusht/joint_states=b']},
     'names /pusht/joint_states twice'),
    ({'topic_name_prefixes': ['/other/joint_states=a']},
     "names ['/other/joint_states']: not a state topic or a command topic of the node whose "
     'messages name their values'),
    ({'topic_name_prefixes': ['/pusht/joint_states=left_']},
     "parameter state_joint_names: ['agent_x', 'agent_y'] of /pusht/joint_states do not begin "
     "with its prefix 'left_'"),
    ({'topic_name_prefixes': ['/pusht/joint_states=agent_x']},
     "['agent_x', 'agent_y'] of /pusht/joint_states do not begin"),  # a name with nothing after
    ({'topic_name_prefixes': ['/pusht/joint_trajectory=agent_'],
      'action_stream_topics': ['/pusht/joint_trajectory']},
     "names ['/pusht/joint_trajectory']: not a state topic"),
    ({'state_fields': ['position']}, "parameter state_fields ['position'] must give one field "
                                     'per state joint'),
    ({'state_fields': ['position', 'torque']}, "parameter state_fields: ['torque'] are not "
                                               'JointState fields'),
    ({'state_joint_names': ['x', '']}, 'must be 2 names (the state'),
    ({'state_joint_topics': ['/joint_states']}, "parameter state_joint_topics "
                                                "['/joint_states'] must name one topic per "
                                                'state joint'),
    ({'state_joint_topics': ['/joint_states', '']}, 'parameter state_joint_topics'),
    ({'state_pose_topics': ['/ee_pose']}, "parameter state_pose_topics names ['/ee_pose'], "
                                          'not a state topic'),
    ({'state_pose_topics': ['/pusht/joint_states']}, "parameter state_joint_names: ['agent_x', "
                                                     "'agent_y'] of pose topic"),
    ({'action_joint_names': ['a', 'b', 'c']}, 'parameter action_joint_names'),
    ({'action_joint_topics': ['/arm']}, "parameter action_joint_topics ['/arm'] must name one "
                                        'topic per action joint'),
    ({'action_joint_topics': ['/arm', '']}, 'parameter action_joint_topics'),
    ({'action_stream_topics': ['/gripper']}, "parameter action_stream_topics names "
                                             "['/gripper'], not a command topic"),
    ({'n_action_steps': 16}, 'parameter n_action_steps 16 is more than the chunk holds'),
    ({'history_s': 0.5}, 'parameter history_s 0.5 is shorter than an observation spans'),
    ({'action_lower': [0.0]}, 'parameters action_lower [0.0] and action_upper [] must both '
                              'have 2 values'),
    ({'action_lower': [1, 1], 'action_upper': [0, 2]}, 'lower <= upper'),
    ({'execution_mode': 'smooth'}, "parameter execution_mode must be one of ['replace'"),
    ({'max_step_delta': [1.0]}, 'parameter max_step_delta has 1 values, the action has 2'),
    ({'max_velocity': [1.0, -1.0]}, 'parameter max_velocity must be > 0'),
    ({'urdf_path': '/nonexistent.urdf'}, "parameter urdf_path: cannot read '/nonexistent.urdf'"),
    ({'debug_path_joints': ['agent_x', 'z']}, 'parameter debug_path_joints'),
])
def test_resolve_setup_errors_name_the_parameter(values, words):
    assert words in resolve_error(**values)


def test_resolve_setup_checks_ranges_of_a_config_built_directly():
    config = PolicyNodeConfig(checkpoint='/policy', device='cpu', replan_threshold=-1)
    with pytest.raises(ValueError, match='parameter replan_threshold must be in'):
        resolve_setup(config, metadata())
    config = PolicyNodeConfig(checkpoint='/policy', device='cpu', action_lower=[0, math.nan],
                              action_upper=[1, 1])
    with pytest.raises(ValueError, match='must be finite'):
        resolve_setup(config, metadata())


def test_load_setup_needs_a_checkpoint_directory(tmp_path):
    with pytest.raises(ValueError, match='parameter checkpoint is empty'):
        load_setup(PolicyNodeConfig())
    with pytest.raises(ValueError, match='is not a directory'):
        load_setup(PolicyNodeConfig(checkpoint=str(tmp_path / 'nothing')))
    with pytest.raises(ValueError, match='policy.json'):  # a directory without an artifact
        load_setup(PolicyNodeConfig(checkpoint=str(tmp_path)))


def test_each_camera_is_read_as_its_topic_says_and_a_plain_one_read_compressed_is_warned():
    """image_transport names a camera's compressed topic '<base>/compressed': read as
    sensor_msgs/Image it would deliver nothing, so such a topic is read compressed whatever
    compressed_images says, each camera its own way (a wrist camera recorded compressed
    beside a raw one); a plain topic read as CompressedImage under compressed_images (a
    driver or a relay may name it otherwise) is a warning."""
    from dp_ros.runtime.policy_node_config import camera_compressed

    mixed = cfg(image_topics=['/wrist/image_raw/compressed', '/scene/image_raw'])
    assert [camera_compressed(mixed, t) for t in mixed.image_topics] == [True, False]
    every = cfg(image_topics=['/scene/image_raw'], compressed_images=True)
    assert camera_compressed(every, '/scene/image_raw')
    assert resolve_setup(cfg(image_topics=['/cam/image_raw/compressed']),
                         metadata()).warnings == []
    assert resolve_setup(cfg(image_topics=['/cam/image_raw/compressed'],
                             compressed_images=True), metadata()).warnings == []
    assert resolve_setup(cfg(image_topics=['/cam/image_raw']), metadata()).warnings == []
    warnings = resolve_setup(cfg(image_topics=['/cam/image_raw'], compressed_images=True),
                             metadata()).warnings
    assert len(warnings) == 1 and "parameter compressed_images is true and image_topics " \
        "['/cam/image_raw'] do not end in '/compressed'" in warnings[0]


def test_each_input_streams_gap_limit_is_its_recorded_tolerance():
    """The tolerance bag2zarr sampled each source with travels in shape_meta: a stream's
    sample older than that at an observation time is a gap, as it was in the training data;
    a renamed state topic takes the largest of the state's, none recorded max_input_age_s."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/pusht/image_raw',
                                        'width': None, 'tolerance_s': 0.04}]
    meta['obs']['agent_pos']['sources'] = [{'kind': 'joint_state', 'width': 2,
                                            'topic': '/pusht/joint_states',
                                            'tolerance_s': 0.02}]
    setup = resolve_setup(cfg(), metadata(shape_meta=meta))
    assert setup.gap_ns == {'image': 40 * MS, 'agent_pos': 20 * MS}
    renamed = resolve_setup(cfg(joint_state_topic='/robot/joint_states'),
                            metadata(shape_meta=meta))
    assert renamed.gap_ns['agent_pos'] == 20 * MS
    assert resolve_setup(cfg(), metadata()).gap_ns == {'image': 500 * MS,
                                                        'agent_pos': 500 * MS}



def test_each_input_streams_recorded_rate_travels_to_the_setup():
    """The message rate bag2zarr recorded per topic reaches the node's setup (it warns when an
    input comes much slower); a renamed state topic takes the recorded one's; none recorded
    (older data, the paper's zarr): None, no warning possible."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/pusht/image_raw',
                                        'width': None, 'rate_hz': 30.0}]
    meta['obs']['agent_pos']['sources'] = [{'kind': 'joint_state', 'width': 2,
                                            'topic': '/pusht/joint_states', 'rate_hz': 100.0}]
    setup = resolve_setup(cfg(), metadata(shape_meta=meta))
    assert setup.recorded_rates_hz == {'image': 30.0, 'agent_pos': 100.0}
    renamed = resolve_setup(cfg(joint_state_topic='/robot/joint_states'),
                            metadata(shape_meta=meta))
    assert renamed.recorded_rates_hz['agent_pos'] == 100.0
    assert resolve_setup(cfg(), metadata()).recorded_rates_hz == {'image': None,
                                                                   'agent_pos': None}
    meta['obs']['image']['sources'][0]['rate_hz'] = 0.0  # no rate is a broken checkpoint
    with pytest.raises(ValueError, match='sources must be a list'):
        resolve_setup(cfg(), metadata(shape_meta=meta))


def test_two_drivers_joints_recorded_apart_on_one_topic_are_two_streams():
    """bag2zarr read the arm's joints and its gripper's from one /joint_states as two sources
    (each driver's messages give only its own): the node splits the topic alike, two streams
    sampled apart, each taking its driver's messages (no bad message); a position and a
    velocity of the same joints, or data without sources, stay one stream."""
    meta = joint_state_shape_meta([(('jx',), None), (('jy',), None)], '/joint_states')
    for entry, rate, tolerance in zip(meta['obs']['agent_pos']['sources'], (100.0, 20.0),
                                      (0.01, 0.06), strict=True):
        entry.update(rate_hz=rate, tolerance_s=tolerance)
    node = cfg(joint_state_topic='/joint_states', state_joint_names=['jx', 'jy'])
    setup = resolve_setup(node, metadata(shape_meta=meta))
    # each driver's own recorded rate and gap tolerance, not its topic's slowest or largest
    assert setup.recorded_rates_hz == {'image': None, 'agent_pos:/joint_states [jx]': 100.0,
                                       'agent_pos:/joint_states [jy]': 20.0}
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos:/joint_states [jx]': 10 * MS,
                            'agent_pos:/joint_states [jy]': 60 * MS}
    assert [(s.stream_name, s.topic, s.columns, s.joint_names, s.shared)
            for s in setup.state_sources] == [
        ('agent_pos:/joint_states [jx]', '/joint_states', (0,), ('jx',), True),
        ('agent_pos:/joint_states [jy]', '/joint_states', (1,), ('jy',), True)]
    assert setup.streams == ['image', 'agent_pos:/joint_states [jx]',
                             'agent_pos:/joint_states [jy]']
    values = {'agent_pos:/joint_states [jx]': [np.array([1.0], np.float32)],
              'agent_pos:/joint_states [jy]': [np.array([2.0], np.float32)]}
    assert setup.model_values(values)['agent_pos'][0].tolist() == [1.0, 2.0]
    renamed = resolve_setup(cfg(joint_state_topic='/robot/joint_states',
                                state_joint_names=['jx', 'jy']), metadata(shape_meta=meta))
    assert [s.stream_name for s in renamed.state_sources] == [
        'agent_pos:/robot/joint_states [jx]', 'agent_pos:/robot/joint_states [jy]']
    fields = joint_state_shape_meta([(('jx',), 'position'), (('jx',), 'velocity')],
                                    '/joint_states')
    both = resolve_setup(cfg(joint_state_topic='/joint_states', state_joint_names=['jx', 'jx'],
                             state_fields=['position', 'velocity'], action_joint_names=['jx',
                                                                                       'jy']),
                         metadata(shape_meta=fields))
    assert [s.stream_name for s in both.state_sources] == ['agent_pos']
    assert [s.stream_name for s in resolve_setup(node, metadata()).state_sources] == [
        'agent_pos']


def test_state_joint_drivers_split_a_topic_the_data_did_not_record():
    """Data without recorded sources (the paper's zarr, a LeRobot set) and an arm's and its
    gripper's driver on one /joint_states: state_joint_drivers reads each driver's joints as
    a stream of its own (before: every message refused as partial); one name for all
    leaves the topic whole."""
    node = cfg(joint_state_topic='/joint_states', state_joint_names=['jx', 'jy'],
               state_joint_drivers=['arm', 'gripper'])
    setup = resolve_setup(node, metadata())
    assert [(s.stream_name, s.columns, s.joint_names, s.shared)
            for s in setup.state_sources] == [
        ('agent_pos:/joint_states [jx]', (0,), ('jx',), True),
        ('agent_pos:/joint_states [jy]', (1,), ('jy',), True)]
    assert setup.gap_ns == {'image': 500 * MS, 'agent_pos:/joint_states [jx]': 500 * MS,
                            'agent_pos:/joint_states [jy]': 500 * MS}
    assert setup.recorded_rates_hz['agent_pos:/joint_states [jy]'] is None
    assert setup.warnings == []
    whole = resolve_setup(dataclasses.replace(node, state_joint_drivers=['arm', 'arm']),
                          metadata())
    assert [(s.stream_name, s.shared) for s in whole.state_sources] == [('agent_pos', False)]


def test_state_joint_drivers_against_the_recorded_split():
    """The parameter wins over the training data's split, with a warning when it groups the
    joints otherwise (one stream's sample waits for both drivers); data that recorded the
    drivers on two topics, read from one topic split alike: no warning."""
    meta = joint_state_shape_meta([(('jx',), None), (('jy',), None)], '/joint_states')
    node = cfg(joint_state_topic='/joint_states', state_joint_names=['jx', 'jy'])
    together = resolve_setup(dataclasses.replace(node, state_joint_drivers=['a', 'a']),
                             metadata(shape_meta=meta))
    assert [s.stream_name for s in together.state_sources] == ['agent_pos']
    assert together.warnings == [
        "parameter state_joint_drivers reads the state as ['jx', 'jy'], the training data "
        "sampled it as ['jx'] + ['jy']: each group is a stream of its own"]
    apart = resolve_setup(dataclasses.replace(node, state_joint_drivers=['a', 'b']),
                          metadata(shape_meta=meta))
    assert len(apart.state_sources) == 2 and apart.warnings == []
    two_topics = joint_state_shape_meta([(('jx',), None)], '/arm/joint_states')
    two_topics['obs']['agent_pos']['shape'] = [2]
    two_topics['obs']['agent_pos']['names'] = ['jx', 'jy']
    two_topics['obs']['agent_pos']['sources'].append(
        {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1})
    merged = resolve_setup(dataclasses.replace(node, state_joint_drivers=['a', 'b']),
                           metadata(shape_meta=two_topics))
    assert not [w for w in merged.warnings if 'state_joint_drivers' in w], merged.warnings
    assert [s.stream_name for s in merged.state_sources] == [
        'agent_pos:/joint_states [jx]', 'agent_pos:/joint_states [jy]']


@pytest.mark.parametrize(('values', 'match'), [
    (dict(state_joint_drivers=['arm']), r'must name a driver per state joint'),
    (dict(state_joint_drivers=['arm', '']), r'must name a driver per state joint'),
    (dict(state_joint_names=['jx', 'jx'], state_fields=['position', 'velocity'],
          state_joint_drivers=['a', 'b']), r"\['jx'\] of /pusht/joint_states are given two "
                                           r"drivers: one message gives a joint's fields"),
    (dict(joint_state_topic='/ee_pose', state_pose_topics=['/ee_pose'],
          state_joint_names=['x', 'y'], state_joint_drivers=['a', 'b']),
     r'the pose topic /ee_pose \(state_pose_topics\) gives its values in one message'),
])
def test_state_joint_drivers_that_cannot_be_are_refused(values, match):
    """A driver per state joint; a pose, and a joint's fields, come in one message."""
    with pytest.raises(ValueError, match=match):
        resolve_setup(cfg(action_joint_names=['x1', 'x2'], **values), metadata())


def test_a_shared_topics_message_goes_to_the_streams_whose_joints_it_gives():
    """One subscription, two drivers' streams: the gripper's message goes to the gripper's
    stream only (counted once, received there), a merged one to both, one of neither
    driver's to the first (another driver's measured joints, or a bad message once); a topic
    read whole gets every message. Names compare without the topic's prefix."""
    node = cfg(joint_state_topic='/joint_states', state_joint_names=['left_j1', 'left_g'],
               state_joint_drivers=['arm', 'gripper'],
               topic_name_prefixes=['/joint_states=left_'],
               action_joint_names=['left_j1', 'left_g'])
    arm, gripper = resolve_setup(node, metadata()).state_sources
    assert message_streams([arm, gripper], ['g']) == [gripper]
    assert message_streams([arm, gripper], ['j1']) == [arm]
    assert message_streams([arm, gripper], ['j1', 'g']) == [arm, gripper]
    assert message_streams([arm, gripper], ['head']) == [arm]
    assert message_streams([arm, gripper], ['left_g']) == [arm]  # the prefix is not sent
    whole = dataclasses.replace(arm, shared=False)
    assert message_streams([whole], ['g']) == [whole]
