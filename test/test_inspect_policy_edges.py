"""`dp-ros inspect POLICY_DIR` (training/inspect_policy.py) at its edges: what the summary
prints of the training (step, weights, dataset, the held-out split and excluded episodes),
the timeline and sampler as trained, the drafted parameters where they must be exact (another
control period, an absolute checkpoint path from a relative one, joint names that YAML would
read as numbers, fields not recorded), and which hf:// addresses are policies. Policies are
real tiny checkpoints (support.make_tiny_checkpoint), their policy.json edited where the
recorded metadata matters."""
from __future__ import annotations

import json

import pytest
import yaml
from support import joint_state_shape_meta, make_tiny_checkpoint
from test_inspect_policy import drafted, node_setup

from dp_ros.policy.checkpoint import METADATA_FILE
from training.inspect_dataset import main
from training.inspect_policy import is_policy_dir


def set_names(policy, names: list[str]) -> None:
    """Record `names` for the Push-T policy's state (agent_pos) and action."""
    meta = json.loads((policy / METADATA_FILE).read_text())
    for entry in (meta['config']['shape_meta']['obs']['agent_pos'],
                  meta['config']['shape_meta']['action']):
        entry['names'] = names
    (policy / METADATA_FILE).write_text(json.dumps(meta))


def printed(policy, capsys) -> list[str]:
    assert main([str(policy)]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_training_its_split_and_its_excluded_episodes_are_printed(tmp_path, capsys):
    provenance = {'step': 1200, 'ema': False, 'dataset': 'data/arm.zarr', 'train_config': {
        'data': {'val_ratio': 0.1, 'split_seed': 7, 'exclude_episodes': [3, 4],
                 'batch_size': 64}}}
    lines = printed(make_tiny_checkpoint(tmp_path / 'p', provenance=provenance), capsys)
    assert '  trained: step 1200, on data/arm.zarr' in lines  # no EMA: not said
    assert ('  held out: 10% of the episodes (split seed 7): `dp-ros open-loop` compares on '
            'them; excluded from training: [3, 4]') in lines


def test_no_held_out_line_without_a_validation_split(tmp_path, capsys):
    provenance = {'step': 5, 'ema': True,
                  'train_config': {'data': {'val_ratio': 0.0, 'split_seed': 42}}}
    lines = printed(make_tiny_checkpoint(tmp_path / 'p', provenance=provenance), capsys)
    assert '  trained: step 5, EMA weights' in lines
    assert not [line for line in lines if 'held out' in line]


def test_the_timeline_and_sampler_are_the_trained_ones(tmp_path, capsys):
    """Another control period (20 Hz): printed as trained, and drafted as the node's period
    (the grid the data was sampled on)."""
    policy = make_tiny_checkpoint(tmp_path / 'p', control_period_s=0.05, horizon=12,
                                  n_action_steps=6)
    lines = printed(policy, capsys)
    assert ('  timeline: 2 observation steps, horizon 12, 6 actions per plan, every 0.05 s '
            '(20 Hz)') in lines
    assert '  sampler: ddim, 4 steps (of 100 trained)' in lines
    params, _ = drafted(policy, tmp_path)
    assert params['control_period_s'] == 0.05
    assert node_setup(params, policy).warnings == []


def test_a_relative_policy_path_is_drafted_absolute(tmp_path, monkeypatch):
    """The node is launched from anywhere: the drafted checkpoint is the policy's absolute
    path, not the one relative to where inspect ran."""
    policy = make_tiny_checkpoint(tmp_path / 'runs' / 'best')
    monkeypatch.chdir(tmp_path)
    assert main(['runs/best', '--draft-params', 'params.yaml']) == 0
    params = yaml.safe_load((tmp_path / 'params.yaml').read_text())
    assert params['/**/dp_policy']['ros__parameters']['checkpoint'] == str(policy.resolve())


def test_joint_names_that_yaml_reads_as_numbers_are_drafted_as_strings(tmp_path):
    policy = make_tiny_checkpoint(tmp_path / 'p')
    set_names(policy, ['12', '0.5'])
    params, _ = drafted(policy, tmp_path)
    assert params['state_joint_names'] == params['action_joint_names'] == ['12', '0.5']
    assert node_setup(params, policy).warnings == []


def test_joint_states_recorded_before_fields_were_named_get_no_recorded_note(tmp_path):
    """Sources without a JointState field (data from before fields were recorded): the draft
    reads positions, and does not claim the field was recorded."""
    meta = joint_state_shape_meta([(('j1', 'j2'), None)], '/joint_states')
    params, text = drafted(make_tiny_checkpoint(tmp_path / 'p', shape_meta=meta), tmp_path)
    assert params['state_field'] == 'position'
    assert '    state_field: position\n' in text


def test_names_alike_from_one_recorded_topic_get_no_prefix_example(tmp_path):
    """left_waist and right_waist read from one recorded /joint_states: the driver itself
    names them so, no topic prefixes to give (the commented example is for data whose
    topics were not recorded)."""
    meta = joint_state_shape_meta([(('left_waist', 'right_waist'), 'position')],
                                  '/joint_states')
    params, text = drafted(make_tiny_checkpoint(tmp_path / 'p', shape_meta=meta), tmp_path)
    assert params['state_joint_names'] == ['left_waist', 'right_waist']
    assert 'topic_name_prefixes' not in text


def test_a_prefixed_pose_target_needs_no_command_topic_prefix_filled_in(tmp_path):
    """One end effector's pose recorded with the prefix left_, the action its future pose:
    the draft gives the Cartesian target its prefix itself; no controller topic is left to
    fill in."""
    from support import make_tiny_pose_checkpoint

    names = ['left_x', 'left_y', 'left_z', 'left_yaw']
    policy = make_tiny_pose_checkpoint(tmp_path / 'p', state='pose', action=tuple(names))
    meta = json.loads((policy / METADATA_FILE).read_text())
    source = {'kind': 'pose', 'topic': '/left/ee_pose', 'width': 4, 'prefix': 'left_'}
    for entry in (meta['config']['shape_meta']['obs']['joint_pos'],
                  meta['config']['shape_meta']['action']):
        entry['sources'] = [source]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    params, text = drafted(policy, tmp_path)
    assert params['topic_name_prefixes'] == ['/left/ee_pose=left_',
                                             '/FILL_IN/left_target_pose=left_']
    assert "each command topic's" not in text
    assert node_setup(params, policy).warnings == []


def test_only_a_hub_model_address_is_a_policy():
    """hf://org/name[@revision] is a policy on the Hub; hf://datasets/... is data (fsspec)."""
    assert is_policy_dir('hf://me/arm') and is_policy_dir('hf://me/arm@v1')
    assert not is_policy_dir('hf://datasets/lerobot/pusht')
    assert not is_policy_dir('hf://datasets/lerobot/pusht/data')


# --- quoting, and a small share ------------------------------------------------------------

def test_joint_names_with_brackets_are_drafted_as_parseable_yaml(tmp_path):
    policy = make_tiny_checkpoint(tmp_path / 'p')
    set_names(policy, ['arm[0]', 'arm[1]'])
    params, _ = drafted(policy, tmp_path)
    assert params['action_joint_names'] == ['arm[0]', 'arm[1]']


def test_a_checkpoint_path_with_a_hash_is_drafted_whole(tmp_path):
    policy = make_tiny_checkpoint(tmp_path / 'exp #3' / 'best')
    params, _ = drafted(policy, tmp_path)
    assert params['checkpoint'] == str(policy.resolve())


def test_a_small_held_out_share_is_not_printed_as_0_percent(tmp_path, capsys):
    provenance = {'train_config': {'data': {'val_ratio': 0.004, 'split_seed': 42}}}
    lines = printed(make_tiny_checkpoint(tmp_path / 'p', provenance=provenance), capsys)
    (held,) = [line for line in lines if 'held out' in line]
    assert held.startswith('  held out: 0.4% of the episodes (split seed 42)')


def test_a_policy_folder_without_its_policy_json_is_named_as_such(tmp_path, capsys):
    """A folder holding model.safetensors but no policy.json (copied in part) is a policy
    missing its metadata, not 'not a ROS 2 bag'."""
    from dp_ros import cli

    (tmp_path / 'model.safetensors').write_bytes(b'\0' * 16)
    assert cli.main(['inspect', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'holds model.safetensors but no policy.json' in err and 'bag' not in err, err


def test_a_draft_path_that_is_a_folder_suggests_a_file_of_its_kind(tmp_path, capsys):
    """--draft-params FOLDER names a parameter file in it as the example, not report.json."""
    from dp_ros import cli

    policy = make_tiny_checkpoint(tmp_path / 'policy')
    (tmp_path / 'drafts').mkdir()
    assert cli.main(['inspect', str(policy), '--draft-params', str(tmp_path / 'drafts')]) == 2
    assert f'e.g. {tmp_path / "drafts" / "params.yaml"}' in capsys.readouterr().err


@pytest.mark.parametrize(('held', 'line'), [
    ([], '  held out: 0 of 1 episodes (data.val_ratio 0.2, split seed 42): none, so `dp-ros '
         'open-loop` compares on all'),
    ([1], '  held out: 1 of 2 episodes [1] (data.val_ratio 1e-09, split seed 42): `dp-ros '
          'open-loop` compares on them'),
])
def test_the_held_out_episodes_are_said_as_the_run_drew_them(tmp_path, capsys, held, line):
    """The configured ratio is not the share of a few episodes (a review: one episode said
    '20%' with none held out; 1e-9 of 2 said '1e-07%' with one of them held out): the
    episodes the run recorded in its provenance are said."""
    n = 1 if not held else 2
    provenance = {'train_config': {'data': {'val_ratio': 0.2 if not held else 1e-9,
                                            'split_seed': 42}},
                  'split': {'n_episodes': n, 'val_episodes': held,
                            'train_episodes': [e for e in range(n) if e not in held]}}
    lines = printed(make_tiny_checkpoint(tmp_path / 'p', provenance=provenance), capsys)
    assert line in lines, lines
