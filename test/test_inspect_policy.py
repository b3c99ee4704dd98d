"""`dp-ros inspect POLICY_DIR`: what the policy expects, from policy.json alone, and a node
parameter file drafted from it that the node's own checks accept."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from support import (
    ARM_JOINTS,
    joint_state_shape_meta,
    make_tiny_arm_checkpoint,
    make_tiny_checkpoint,
)

from dp_ros import cli
from dp_ros.errors import UserError
from dp_ros.params import config_from_dict
from dp_ros.policy.checkpoint import METADATA_FILE, read_policy_metadata
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup
from training.inspect_dataset import main
from training.inspect_policy import draft_params, summarize_policy


@pytest.fixture(scope='module')
def arm_policy(tmp_path_factory):
    return make_tiny_arm_checkpoint(tmp_path_factory.mktemp('arm') / 'policy')


def drafted(policy, tmp_path) -> tuple[dict, str]:
    out = tmp_path / 'params.yaml'
    assert main([str(policy), '--draft-params', str(out)]) == 0
    text = out.read_text()
    return yaml.safe_load(text)['/**/dp_policy']['ros__parameters'], text


def node_setup(params: dict, policy):
    cfg = config_from_dict(PolicyNodeConfig, dict(params, device='cpu'))
    return resolve_setup(cfg, read_policy_metadata(policy))


def test_an_arm_policy_says_its_joints_ranges_and_timeline(arm_policy, capsys):
    s = summarize_policy(arm_policy)
    meta = read_policy_metadata(arm_policy)
    assert [c['key'] for c in s.cameras] == ['image'] and s.cameras[0]['shape'] == [96, 96]
    assert s.states[0].key == 'joint_pos' and s.states[0].names == list(ARM_JOINTS)
    assert s.action.names == list(ARM_JOINTS)
    assert s.action.low == meta['normalizer']['fields']['action']['min']
    assert (s.n_obs_steps, s.control_period_s) == (2, 0.1)
    assert main([str(arm_policy)]) == 0
    out = capsys.readouterr().out
    assert "action: 3 values ['shoulder', 'elbow', 'wrist']; training range" in out
    assert 'camera 0 (image_topics[0]): image 96x96' in out and 'note:' not in out


def test_a_cameras_recorded_size_and_rate_are_shown(tmp_path, capsys):
    """What the robot's camera must deliver, before the node says it: the frame size and the
    rate its training data was recorded at (bag2zarr's frame_size and rate_hz)."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['sources'] = [{'kind': 'image', 'topic': '/cam/image_raw',
                                        'width': None, 'frame_size': [480, 640],
                                        'rate_hz': 30.303}]
    policy = make_tiny_checkpoint(tmp_path / 'tiny', shape_meta=meta)
    assert summarize_policy(policy).cameras[0]['rate_hz'] == 30.303
    assert main([str(policy)]) == 0
    assert 'camera 0 (image_topics[0]): image 96x96, recorded at 640x480 px, 30.303 Hz' in \
        capsys.readouterr().out


def test_the_drafted_parameters_pass_the_nodes_checks_with_the_trained_joints(arm_policy,
                                                                              tmp_path):
    params, text = drafted(arm_policy, tmp_path)
    assert params['state_joint_names'] == params['action_joint_names'] == list(ARM_JOINTS)
    action = read_policy_metadata(arm_policy)['normalizer']['fields']['action']
    np.testing.assert_allclose(params['action_lower'], action['min'], rtol=1e-5)
    np.testing.assert_allclose(params['action_upper'], action['max'], rtol=1e-5)
    # YAML floats, as a ROS double array needs (a bare 12 would be an integer)
    assert all(isinstance(v, float) for v in params['action_lower'] + params['action_upper'])
    assert params['start_enabled'] is False  # nothing moves before ~/enable
    assert 'FILL IN' in text and '/FILL_IN/camera_0/image_raw' in params['image_topics'][0]
    setup = node_setup(params, arm_policy)
    assert setup.warnings == []
    np.testing.assert_allclose(setup.lower, action['min'], rtol=1e-5)


def test_a_pose_action_drafts_a_cartesian_target_not_a_joint_trajectory(tmp_path):
    """An action that is a whole pose with no controller recorded (the future end-effector
    pose) beside a gripper: the draft routes the pose to a Cartesian target topic (FILL IN,
    a twist servo named as the other way) and the gripper to its own controller; the node's
    checks accept the file as drafted."""
    from support import make_tiny_pose_checkpoint

    from dp_ros.pose_fields import MATRIX_COLUMNS

    fields = ('x', 'y', 'z', *MATRIX_COLUMNS, 'finger')
    policy = make_tiny_pose_checkpoint(tmp_path / 'policy', action=fields)
    params, text = drafted(policy, tmp_path)
    assert params['action_pose_topics'] == ['/FILL_IN/target_pose']
    assert params['action_joint_topics'] == ['/FILL_IN/target_pose'] * 9 + [
        '/FILL_IN/gripper_controller/joint_trajectory']
    assert params['frame_id'] == 'base_link'
    assert 'FILL IN: your Cartesian controller' in text and 'action_twist_topics' in text
    setup = node_setup(params, policy)
    assert [(g.topic, g.pose) for g in setup.commands] == [
        ('/FILL_IN/target_pose', True), ('/FILL_IN/gripper_controller/joint_trajectory', False)]


def test_two_end_effectors_poses_draft_a_cartesian_target_each_with_its_prefix(tmp_path):
    """Two arms' poses recorded with prefixes (bag2zarr pose sources, left_ and right_), the
    action their future poses: the draft gives each arm a Cartesian target of its own and
    every topic its prefix; the node accepts the file as drafted, with no warning."""
    from support import make_tiny_pose_checkpoint

    fields = ['x', 'y', 'z', 'yaw']
    names = [f'{arm}_{f}' for arm in ('left', 'right') for f in fields]
    policy = make_tiny_pose_checkpoint(tmp_path / 'policy', state='pose', action=tuple(names))
    meta = json.loads((policy / METADATA_FILE).read_text())
    sm = meta['config']['shape_meta']
    for entry in (sm['obs']['joint_pos'], sm['action']):
        entry['sources'] = [{'kind': 'pose', 'topic': f'/{arm}/ee_pose', 'width': 4,
                             'prefix': f'{arm}_', 'yaw_min': -math.pi, 'frame_id': 'world'}
                            for arm in ('left', 'right')]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    params, text = drafted(policy, tmp_path)
    targets = ['/FILL_IN/left_target_pose', '/FILL_IN/right_target_pose']
    assert params['action_pose_topics'] == targets
    assert params['action_joint_topics'] == [t for t in targets for _ in fields]
    assert params['topic_name_prefixes'] == [
        '/left/ee_pose=left_', '/right/ee_pose=right_', f'{targets[0]}=left_',
        f'{targets[1]}=right_']
    assert params['frame_id'] == 'world'
    setup = node_setup(params, policy)
    assert setup.warnings == []
    assert [(g.topic, g.message_names) for g in setup.commands] == [
        (targets[0], fields), (targets[1], fields)]


def test_names_of_two_arms_without_recorded_topics_get_a_commented_prefix_example(tmp_path):
    """A policy trained on a foreign two-arm dataset (a LeRobot ALOHA set names its values
    left_waist, ..., right_waist; no topics recorded): the draft says how its topics'
    prefixes would be given, commented, as the topics are unknown."""
    from training.inspect_policy import alike_prefixes

    policy = make_tiny_checkpoint(tmp_path / 'aloha')
    meta = json.loads((policy / METADATA_FILE).read_text())
    for entry in (meta['config']['shape_meta']['obs']['agent_pos'],
                  meta['config']['shape_meta']['action']):
        entry['names'] = ['left_waist', 'right_waist']
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    params, text = drafted(policy, tmp_path)
    assert 'topic_name_prefixes' not in params  # a comment: the topics are the user's
    assert ("# topic_name_prefixes: [/left/joint_states=left_, /right/joint_states=right_, "
            "/left/arm_controller/joint_trajectory=left_, "
            "/right/arm_controller/joint_trajectory=right_]") in text
    assert alike_prefixes(['left_waist', 'left_gripper', 'right_gripper', 'right_waist']) == [
        'left_', 'right_']
    for names in (['agent_x', 'agent_y'], ['joint1', 'joint2'], ['left_a', 'right_b'], None):
        assert alike_prefixes(names) == []


def test_a_policy_without_names_gets_placeholders_and_a_note(tmp_path, capsys):
    policy = make_tiny_checkpoint(tmp_path / 'pusht')
    params, text = drafted(policy, tmp_path)
    assert params['state_joint_names'] == ['joint_0', 'joint_1']
    assert 'FILL IN: the 2 state joints, in training order' in text
    assert "note: no joint names recorded for ['agent_pos', 'action']" in capsys.readouterr().out
    assert '# state_joint_drivers: [arm, ..., gripper]' in text  # topics unknown: commented
    assert node_setup(params, policy).warnings == []  # nothing recorded: nothing to compare
    summary = tmp_path / 'summary.json'
    assert main([str(policy), '--json', str(summary)]) == 0
    assert json.loads(summary.read_text())['action']['names'] is None


@pytest.mark.parametrize('sources', [
    [(('j1', 'j2'), 'position'), (('j1', 'j2'), 'velocity')],  # a joint twice, once per field
    [(('j1', 'j2'), 'effort'), (('j3', 'j4'), 'effort')]])  # one field for all: state_field
def test_the_recorded_joint_state_fields_are_drafted(tmp_path, sources):
    """A state read from velocities or efforts (named 'joint.velocity' by bag2zarr, the field
    in its sources): the draft names the joints and their fields, and the node accepts it."""
    meta = joint_state_shape_meta(sources, '/joint_states')
    policy = make_tiny_checkpoint(tmp_path / 'policy', shape_meta=meta)
    params, text = drafted(policy, tmp_path)
    assert params['state_joint_names'] == [j for joints, _ in sources for j in joints]
    fields = [f for _, f in sources for _ in range(2)]
    if len(set(fields)) == 1:
        assert params['state_field'] == fields[0] and 'state_fields' not in params
        assert 'state_field: effort   # recorded with the training data' in text
    else:
        assert params['state_fields'] == fields
    assert node_setup(params, policy).warnings == []


def test_policy_dir_misuse_is_named(arm_policy, tmp_path):
    with pytest.raises(UserError, match='a policy directory is inspected alone'):
        main([str(arm_policy), '--plot', str(tmp_path / 'x.png')])
    with pytest.raises(UserError, match='--draft-params is for a policy directory'):
        main([str(tmp_path / 'nothing.zarr'), '--draft-params', str(tmp_path / 'p.yaml')])


def test_several_low_dim_observations_draft_as_one_state(tmp_path):
    """The node feeds every low-dim key from one list of state joints: the draft names their
    values in the checkpoint's key order and says which are whose."""
    import dataclasses

    s = summarize_policy(make_tiny_checkpoint(tmp_path / 'p'))
    first = dataclasses.replace(s.states[0], key='eef', names=['x', 'y'])
    second = dataclasses.replace(s.states[0], key='gripper', size=1, names=['finger'],
                                 low=[0.0], high=[0.08])
    s.states = [first, second]
    text = draft_params(s)
    assert "    # the state: eef (2) then gripper (1), every low-dim observation" in text
    assert '    state_joint_names: [x, "y", finger]   # recorded' in text
    s.states = [first, dataclasses.replace(second, names=None)]
    assert 'state_joint_names: [joint_0, joint_1, joint_2]' in draft_params(s)


def test_the_shipped_policy_names_its_held_out_split(capsys):
    """The split recorded with the training config: what `dp-ros open-loop` compares on."""
    from support import SHIPPED_CHECKPOINT

    assert summarize_policy(SHIPPED_CHECKPOINT).split == {'val_ratio': 0.02, 'split_seed': 42}
    assert main([str(SHIPPED_CHECKPOINT)]) == 0
    assert ('held out: 2% of the episodes (split seed 42): `dp-ros open-loop` compares on them'
            in capsys.readouterr().out)


@pytest.mark.parametrize('recorded, topics, compressed', [
    (['/cam/image_raw/compressed'], ['/cam/image_raw/compressed'], True),
    (['/cam/image_raw'], ['/cam/image_raw'], False),
    # a mix (config/bag2zarr_example_arm.yaml): each camera read as recorded, the
    # '/compressed' one as CompressedImage, the other raw
    (['/wrist/image_raw/compressed', '/scene/image_raw'], ['/wrist/image_raw/compressed',
                                                           '/scene/image_raw'], False)],
    ids=['compressed', 'raw', 'mix'])
def test_cameras_recorded_compressed_are_drafted_with_compressed_images(tmp_path, recorded,
                                                                         topics, compressed):
    """A camera recorded as image_transport's '/compressed' topic: the node reads it as
    sensor_msgs/CompressedImage (compressed_images: true), or it receives nothing; the node
    accepts the file as drafted, with no warning."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    image = meta['obs'].pop('image')
    keys = [f'camera_{i}' for i in range(len(recorded))]
    meta['obs'] = {**{k: dict(image, sources=[{'kind': 'image', 'topic': t, 'width': None}])
                      for k, t in zip(keys, recorded, strict=True)}, **meta['obs']}
    policy = make_tiny_checkpoint(tmp_path / 'policy', shape_meta=meta)
    params, text = drafted(policy, tmp_path)
    assert params['image_topics'] == topics
    assert params['compressed_images'] is compressed
    if len(recorded) > 1:
        assert ("compressed_images: false   # [/wrist/image_raw/compressed] recorded "
                "compressed: read so (a '/compressed' topic), the others raw") in text
    assert node_setup(params, policy).warnings == []


def cache_snapshot(cache, repo_id: str, policy) -> None:
    """A Hugging Face cache holding `policy` as repo_id's main branch (huggingface_hub's
    layout: snapshots/<commit>/<file>, refs/main = commit)."""
    commit = '0123456789abcdef0123456789abcdef01234567'
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / 'snapshots' / commit).mkdir(parents=True)
    for name in ('policy.json', 'model.safetensors'):
        (repo / 'snapshots' / commit / name).write_bytes((policy / name).read_bytes())
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(commit)


def test_a_hub_checkpoint_is_inspected_from_the_cache(arm_policy, tmp_path, monkeypatch,
                                                      capsys):
    """hf://org/name works here as wherever a checkpoint is taken (it was read as a dataset
    URL: a traceback); the draft names the spec, which the node resolves; one that is not
    cached, offline, is one line, exit 2."""
    cache = tmp_path / 'hf_cache'
    cache_snapshot(cache, 'me/arm', arm_policy)
    monkeypatch.setenv('HF_HUB_CACHE', str(cache))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    out = tmp_path / 'params.yaml'
    assert cli.main(['inspect', 'hf://me/arm', '--draft-params', str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith('hf://me/arm: dp_ros policy')
    assert 'checkpoint:=hf://me/arm' in printed
    params = yaml.safe_load(out.read_text())['/**/dp_policy']['ros__parameters']
    assert params['checkpoint'] == 'hf://me/arm'
    assert params == drafted(arm_policy, tmp_path / 'local')[0] | {'checkpoint': 'hf://me/arm'}
    assert node_setup(params, arm_policy).warnings == []
    for spec, words in (('hf://me/absent', 'is not in the Hugging Face cache'),
                        ('hf://me/arm@nope', 'is not in the Hugging Face cache')):
        assert cli.main(['inspect', spec]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith(f'dp-ros inspect: {spec}')
        assert words in err and 'HF_HUB_OFFLINE' in err, err


def test_a_draft_that_exists_is_replaced_only_with_force(arm_policy, tmp_path, capsys):
    """A drafted file is edited by hand: a second --draft-params does not overwrite it
    silently (it did); --force replaces it; a directory is refused either way."""
    out = tmp_path / 'params.yaml'
    out.write_text('# hand-edited\n')
    assert cli.main(['inspect', str(arm_policy), '--draft-params', str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f'dp-ros inspect: --draft-params {out} exists; pass --force to replace '
                   'it\n')
    assert out.read_text() == '# hand-edited\n'
    assert cli.main(['inspect', str(arm_policy), '--draft-params', str(out), '--force']) == 0
    assert 'action_joint_names' in out.read_text()
    assert cli.main(['inspect', str(arm_policy), '--draft-params', str(tmp_path), '--force']) == 2
    assert 'is a directory' in capsys.readouterr().err


def test_an_image_only_policy_has_no_parameters_to_draft(tmp_path, capsys):
    """The node feeds a state from the joint states: a policy without a low-dim observation
    is named in one line, exit 2 (a ValueError traceback before); nothing is written."""
    from dp_ros.policy.checkpoint import save_policy
    from dp_ros.policy.config import PolicyConfig
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    cfg = PolicyConfig(shape_meta={'obs': {'image': {'shape': [3, 32, 32], 'type': 'rgb'}},
                                   'action': {'shape': [2]}},
                       crop_shape=(28, 28), resnet_width=0.25, down_dims=(16, 32),
                       num_keypoints=8, feature_dim=16, diffusion_step_embed_dim=32)
    norm = Normalizer.from_data({'action': np.random.default_rng(0).uniform(0, 1, (16, 2))})
    policy = save_policy(DiffusionPolicy(cfg, norm).eval(), tmp_path / 'img_only',
                         control_period_s=0.1, provenance={'note': 'x'})
    out = tmp_path / 'p.yaml'
    assert cli.main(['inspect', str(policy), '--draft-params', str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'no low-dim observation' in err, err
    assert not out.exists()


def test_two_drivers_joints_read_apart_from_one_topic_are_shown_and_drafted(tmp_path, capsys):
    """An arm's joints and its gripper's, read by bag2zarr as two sources of /joint_states
    (two drivers on the topic): the summary names each driver's joints and rate, and the
    drafted parameters give the node the two streams the data had."""
    meta = joint_state_shape_meta([(('j1',), 'position'), (('g',), 'position')],
                                  '/joint_states')
    for source, rate in zip(meta['obs']['agent_pos']['sources'], (100.0, 20.0), strict=True):
        source['rate_hz'] = rate
    policy = make_tiny_checkpoint(tmp_path / 'policy', shape_meta=meta)
    assert summarize_policy(policy).drivers == {'/joint_states': [(['j1'], 100.0),
                                                                   (['g'], 20.0)]}
    assert main([str(policy)]) == 0
    assert ("/joint_states: 2 drivers, read apart (the node too): ['j1'] at 100 Hz; ['g'] at "
            '20 Hz') in capsys.readouterr().out
    params, _ = drafted(policy, tmp_path)
    setup = node_setup(params, policy)
    assert [s.stream_name for s in setup.state_sources] == [
        'agent_pos:/joint_states [j1]', 'agent_pos:/joint_states [g]']
    one = joint_state_shape_meta([(('j1', 'g'), 'position')], '/joint_states')
    assert summarize_policy(make_tiny_checkpoint(tmp_path / 'one', shape_meta=one)).drivers == {}


def test_an_action_of_recorded_commands_and_a_future_state_keeps_the_recorded_topics(tmp_path):
    """The arm's recorded trajectory commands beside a gripper trained on its future joint
    state (no command recorded: what --draft-config suggests for it): the draft wrote
    `action_topic: ... # FILL IN` for every joint, losing the arm's recorded topic. It keeps
    it and leaves a placeholder for the gripper's controller; the node's checks accept it."""
    meta = joint_state_shape_meta([(('j1', 'g'), 'position')], '/joint_states')
    meta['action']['names'] = ['j1', 'g']
    meta['action']['sources'] = [
        {'kind': 'joint_trajectory', 'topic': '/arm_controller/joint_trajectory', 'width': 1},
        {'kind': 'joint_state', 'topic': '/joint_states', 'width': 1, 'offset_s': 0.1}]
    policy = make_tiny_checkpoint(tmp_path / 'policy', shape_meta=meta)
    params, text = drafted(policy, tmp_path)
    assert params['action_topic'] == '/arm_controller/joint_trajectory'
    assert params['action_joint_topics'] == ['/arm_controller/joint_trajectory',
                                             '/FILL_IN/g_controller/joint_trajectory']
    assert 'recorded, except FILL IN g: trained on its future state' in text
    setup = node_setup(params, policy)
    assert [g.topic for g in setup.commands] == ['/arm_controller/joint_trajectory',
                                                 '/FILL_IN/g_controller/joint_trajectory']


def test_a_recorded_pose_target_beside_a_future_state_gripper_is_kept(tmp_path):
    """A pose action recorded as commands (a servo's target topic, no state topic) beside a
    gripper trained on its future joint state: the draft kept neither (FILL IN target); it
    keeps the recorded target, FILL IN the gripper's controller alone; the node accepts it."""
    from support import make_tiny_pose_checkpoint

    policy = make_tiny_pose_checkpoint(tmp_path / 'policy',
                                       action=('x', 'y', 'z', 'yaw', 'finger'))
    meta = json.loads((policy / METADATA_FILE).read_text())
    shape_meta = meta['config']['shape_meta']
    shape_meta['obs']['joint_pos']['sources'] = [
        {'kind': 'joint_state', 'topic': '/joint_states', 'width': 3}]
    shape_meta['action']['sources'] = [
        {'kind': 'pose', 'topic': '/servo/target_pose', 'width': 4, 'yaw_min': -math.pi,
         'frame_id': 'base_link'},
        {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1, 'offset_s': 0.1}]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    params, text = drafted(policy, tmp_path)
    assert params['action_topic'] == '/servo/target_pose'
    assert params['action_pose_topics'] == ['/servo/target_pose']
    assert params['action_joint_topics'] == ['/servo/target_pose'] * 4 + [
        '/FILL_IN/gripper_controller/joint_trajectory']
    assert "FILL IN: the gripper's controller" in text and 'action_twist_topics' not in text
    setup = node_setup(params, policy)
    assert [(g.topic, g.pose) for g in setup.commands] == [
        ('/servo/target_pose', True), ('/FILL_IN/gripper_controller/joint_trajectory', False)]


def test_future_state_joints_side_by_side_share_one_placeholder_controller():
    """Three arm joints trained on their future state beside a recorded gripper command: one
    placeholder controller for the three (an arm's), not one per joint."""
    from training.inspect_policy import _partial_action_topics

    lines = _partial_action_topics([None, None, None, '/gripper_controller/joint_trajectory'],
                                   ['j1', 'j2', 'j3', 'g'], [])
    arm = '/FILL_IN/j1_controller/joint_trajectory'
    assert lines[0].startswith(f'    action_topic: {arm}   # FILL IN')
    assert lines[1].startswith(f'    action_joint_topics: [{arm}, {arm}, {arm}, '
                               '/gripper_controller/joint_trajectory]')
