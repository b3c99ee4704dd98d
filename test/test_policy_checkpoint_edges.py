"""Edges of dp_ros/policy/checkpoint.py: the control period bound, NaN statistics named by
their path, the saved directory's mode, a mis-shaped state_dict argument, policy.json's
format checks and required keys, what load_policy hands back (eval mode, dtype) and its
missing-weights error, the replace guard on existing directories, and recorded_score.
"""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch
from test_policy_checkpoint import make_policy

from dp_ros.policy.checkpoint import (
    CheckpointError,
    _check_state_dict,
    load_policy,
    read_policy_metadata,
    recorded_score,
    save_policy,
)

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny saved policy, read (never written) by the tests below."""
    return save_policy(make_policy(), tmp_path_factory.mktemp('ckpt') / 'pol')


def _rewrite(src: Path, dst: Path, **changes: object) -> Path:
    """A copy of the artifact at `src` whose policy.json has `changes` (None deletes a key)."""
    dst.mkdir()
    (dst / 'model.safetensors').write_bytes((src / 'model.safetensors').read_bytes())
    meta = json.loads((src / 'policy.json').read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    (dst / 'policy.json').write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize('period', [0.0, -0.1, float('nan')])
def test_control_period_must_be_positive(tmp_path: Path, period: float):
    """0 s, negative and NaN periods are refused before anything is written."""
    with pytest.raises(ValueError, match='control_period_s must be > 0'):
        save_policy(make_policy(), tmp_path / 'pol', control_period_s=period)
    assert not (tmp_path / 'pol').exists()


def test_nan_statistics_are_refused_naming_their_path(tmp_path: Path):
    """A NaN inside a list of normalizer stats is named by its dotted path, not written."""
    policy = make_policy()
    policy.normalizer.stats['action']['std'][1] = float('nan')
    with pytest.raises(ValueError, match=r'NaN or inf at normalizer\.fields\.action\.std\.1'):
        save_policy(policy, tmp_path / 'pol')
    assert list(tmp_path.iterdir()) == []


def test_the_saved_directory_is_world_readable(saved: Path):
    """0755, not mkdtemp's 0700: another user (the robot's) can load it."""
    assert stat.S_IMODE(saved.stat().st_mode) == 0o755


def test_dtypes_are_recorded_without_the_torch_prefix(saved: Path):
    """policy.json's weights.dtypes reads 'float32', as the model card shows it."""
    assert read_policy_metadata(saved)['weights']['dtypes'] == ['float32']


def test_a_state_dict_that_does_not_fit_is_refused_before_writing(tmp_path: Path):
    """save_policy(state_dict=...) checks names and shapes against the policy."""
    policy = make_policy()
    weights = dict(policy.state_dict())
    weights['model.final_conv.1.bias'] = torch.zeros(5)
    with pytest.raises(CheckpointError, match='shape mismatches'):
        save_policy(policy, tmp_path / 'pol', state_dict=weights)
    assert not (tmp_path / 'pol').exists()


@pytest.mark.parametrize('changes,match', [
    ({'format': 'lerobot'}, "format 'lerobot', expected 'dp_ros.policy'"),
    ({'format_version': 2}, 'format_version 2, this code reads 1'),
    ({'normalizer': None}, "missing 'normalizer'"),
    ({'config': None}, "missing 'config'"),
    ({'control_period_s': None}, "missing 'control_period_s'"),
])
def test_policy_json_checks(saved: Path, tmp_path: Path, changes: dict, match: str):
    """A foreign format or version, or a missing required entry, is a CheckpointError."""
    bad = _rewrite(saved, tmp_path / 'bad', **changes)
    with pytest.raises(CheckpointError, match=match):
        read_policy_metadata(bad)


def test_invalid_json_is_a_checkpoint_error(tmp_path: Path):
    """A truncated policy.json names the file, as a CheckpointError."""
    (tmp_path / 'policy.json').write_text('{"format": ')
    with pytest.raises(CheckpointError, match='is not valid JSON'):
        read_policy_metadata(tmp_path)


def test_the_old_control_period_name_is_renamed_not_copied(saved: Path, tmp_path: Path):
    """After the deprecation rename only control_period_s is left."""
    meta = json.loads((saved / 'policy.json').read_text())
    old = _rewrite(saved, tmp_path / 'old', control_period=meta['control_period_s'],
                   control_period_s=None)
    with pytest.warns(DeprecationWarning):
        got = read_policy_metadata(old)
    assert got['control_period_s'] == meta['control_period_s'] and 'control_period' not in got


def test_a_normalizer_without_fields_is_a_checkpoint_error(saved: Path, tmp_path: Path):
    """A normalizer entry without its fields is one CheckpointError naming policy.json."""
    bad = _rewrite(saved, tmp_path / 'bad', normalizer={'version': 1})
    with pytest.raises(CheckpointError, match="policy.json: normalizer lacks 'fields'"):
        load_policy(bad)


def test_missing_weights_file_is_a_checkpoint_error(saved: Path, tmp_path: Path):
    """policy.json without model.safetensors: CheckpointError naming the weights file."""
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'policy.json').write_text((saved / 'policy.json').read_text())
    with pytest.raises(CheckpointError, match='model.safetensors not found'):
        load_policy(bad)


def test_load_policy_returns_eval_mode_in_the_asked_dtype(saved: Path):
    """Loaded policies are in eval mode; dtype casts the weights but not the normalizer."""
    policy = load_policy(saved)
    assert not policy.training and not policy.obs_encoder.training
    assert policy.dtype == torch.float32
    half = load_policy(saved, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and not half.training
    assert {b.dtype for b in half.normalizer.buffers()} == {torch.float32}


def test_an_empty_existing_directory_is_replaced(tmp_path: Path):
    """An empty directory (e.g. made by a launcher) is no foreign content: it is replaced."""
    target = tmp_path / 'pol'
    target.mkdir()
    save_policy(make_policy(), target)
    assert (target / 'policy.json').is_file()


def test_a_directory_with_foreign_files_is_not_replaced(tmp_path: Path):
    """A non-empty directory without policy.json is refused and left as it was."""
    target = tmp_path / 'notes'
    target.mkdir()
    (target / 'todo.txt').write_text('keep me')
    with pytest.raises(CheckpointError, match='is not a policy directory'):
        save_policy(make_policy(), target)
    assert [p.name for p in target.iterdir()] == ['todo.txt']


def test_key_lists_are_shortened_after_twenty():
    """Exactly 20 missing keys are all listed; 21 end with '... and 1 more'."""
    expected = {f'k{i:02d}': torch.zeros(1) for i in range(21)}
    twenty = dict(list(expected.items())[:20])
    with pytest.raises(CheckpointError) as err:
        _check_state_dict(twenty, {}, source='f')
    assert 'missing keys (20):' in str(err.value) and 'more' not in str(err.value)
    with pytest.raises(CheckpointError, match=r'missing keys \(21\): .*k19, \.\.\. and 1 more'):
        _check_state_dict(expected, {}, source='f')


@pytest.mark.parametrize('provenance,want', [
    ({}, None), ({'metrics': {}}, None), ({'metrics': {'test/mean_score': 0.75}}, 0.75),
])
def test_recorded_score(provenance: dict, want: float | None):
    """The training's test/mean_score, None where the provenance has no metrics."""
    assert recorded_score(provenance) == want

