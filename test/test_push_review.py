"""`dp-ros push` without network (dp_ros/app/push.py): the model card's rows, the checks on the
policy directory before anything is staged, and what a staged upload folder holds."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import make_tiny_checkpoint

from dp_ros.app import push
from dp_ros.policy.checkpoint import CheckpointError, read_policy_metadata


@pytest.fixture(scope='module')
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('tiny') / 'policy')


def meta_of(**over) -> dict:
    meta = {'config': {'n_obs_steps': 2, 'horizon': 16, 'n_action_steps': 8,
                       'sampler': 'ddim', 'num_inference_steps': 10},
            'obs_keys': {'rgb': ['image'], 'low_dim': ['agent_pos']},
            'obs_shapes': {'image': [3, 96, 96], 'agent_pos': [2]}, 'action_dim': 2,
            'control_period_s': 0.1,
            'weights': {'num_parameters': 1234567, 'dtypes': ['float32']}}
    meta.update(over)
    return meta


def test_card_without_a_control_period_has_no_rate_row():
    """control_period_s 0 (unknown): no division by zero, no 'control period' row."""
    card = push.model_card(meta_of(control_period_s=0.0), 'org/x')
    assert 'control period' not in card
    assert '| control period | 0.05 s (20 Hz) |' in push.model_card(
        meta_of(control_period_s=0.05), 'org/x')


def test_card_rows_parameters_dtype_and_sorted_metrics():
    """Parameter count with thousands separators, the weights' dtypes, metrics sorted by name,
    the imitation-learning tag when a dataset is recorded."""
    prov = {'dataset': 'data/pusht.zarr', 'metrics': {'zeta': 1.0, 'alpha': 0.123456}}
    card = push.model_card(meta_of(provenance=prov), 'org/x')
    assert '| parameters | 1,234,567 |' in card and '| weights dtype | float32 |' in card
    assert card.index('| `alpha` | 0.1235 |') < card.index('| `zeta` | 1 |')
    front = card.split('---')[1]
    assert 'imitation-learning' in front
    assert 'imitation-learning' not in push.model_card(meta_of(), 'org/x').split('---')[1]


def test_card_only_names_the_repository_not_the_spec(tiny, tmp_path, capsys):
    """--card-only FILE in a folder that does not exist yet: made; the card names org/name,
    and its commands hf://org/name (the branch is not part of the repository id)."""
    out = tmp_path / 'new' / 'dir' / 'card.md'
    assert push.main([str(tiny), 'hf://org/tiny@dev', '--card-only', str(out)]) == 0
    card = out.read_text()
    assert '# org/tiny\n' in card and 'dp-ros sim --checkpoint hf://org/tiny\n' in card
    assert 'hf://hf://' not in card and '@dev' not in card.split('Pin a commit')[0]


def test_a_directory_without_weights_is_refused_before_a_card(tiny, tmp_path):
    """policy.json alone is no policy: CheckpointError naming model.safetensors, no card."""
    half = tmp_path / 'half'
    half.mkdir()
    (half / 'policy.json').write_text((tiny / 'policy.json').read_text())
    out = tmp_path / 'card.md'
    with pytest.raises(CheckpointError, match='model.safetensors not found'):
        push.main([str(half), 'hf://org/x', '--card-only', str(out)])
    assert not out.exists()


def test_a_file_is_no_policy_directory(tiny, tmp_path):
    """A file given as the directory: FileNotFoundError saying so (exit 2 via the cli)."""
    with pytest.raises(FileNotFoundError, match='is not a policy directory'):
        push.main([str(tiny / 'policy.json'), 'hf://org/x', '--card-only',
                   str(tmp_path / 'c.md')])


def test_the_staged_folder_holds_the_two_files_and_the_card(tiny, tmp_path):
    """What goes up: policy.json and model.safetensors byte for byte, and README.md."""
    card = push.model_card(read_policy_metadata(tiny), 'org/tiny')
    into = tmp_path / 'stage'
    into.mkdir()
    push._stage(tiny, card, into)
    assert sorted(p.name for p in into.iterdir()) == ['README.md', 'model.safetensors',
                                                       'policy.json']
    assert (into / 'README.md').read_text() == card
    for name in push.UPLOADED:
        assert (into / name).read_bytes() == (tiny / name).read_bytes()
    assert json.loads((tiny / 'policy.json').read_text())['format'] == 'dp_ros.policy'


def test_push_while_offline_is_refused_before_the_hub_is_asked(tiny, monkeypatch):
    """HF_HUB_OFFLINE set in this process (after huggingface_hub was imported): HubError
    saying so, from dp_ros's own check, and the policy's folder is left as it was."""
    from dp_ros.policy.hub import HubError

    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_TOKEN', 'hf_test_not_a_token')
    before = sorted(tiny.parent.rglob('*'))
    with pytest.raises(HubError, match=r'cannot push to hf://org/tiny: HF_HUB_OFFLINE is set'):
        push.push_policy(tiny, 'hf://org/tiny')
    assert sorted(tiny.parent.rglob('*')) == before
