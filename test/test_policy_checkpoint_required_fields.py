"""A policy.json whose 'config' lacks a field every saved file has (a noise schedule, a shape)
is refused by name, not given the dataclass default: the weights may have been trained with
another value. Fields added in later versions (color_jitter) keep defaulting: older files load."""
from __future__ import annotations

import dataclasses
import json

import pytest
from support import make_tiny_checkpoint

from dp_ros.policy.checkpoint import (
    ADDED_CONFIG_FIELDS,
    REQUIRED_CONFIG_FIELDS,
    CheckpointError,
    load_policy,
    read_policy_metadata,
)
from dp_ros.policy.config import PolicyConfig


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    directory = make_tiny_checkpoint(tmp_path_factory.mktemp('ckpt') / 'policy')
    return directory, json.loads((directory / 'policy.json').read_text())


def _without(tmp_path, saved, *names: str):
    directory, meta = saved
    meta = json.loads(json.dumps(meta))
    for name in names:
        del meta['config'][name]
    edited = tmp_path / 'edited'
    edited.mkdir()
    (edited / 'policy.json').write_text(json.dumps(meta))
    (edited / 'model.safetensors').write_bytes((directory / 'model.safetensors').read_bytes())
    return edited


@pytest.mark.parametrize('name', ['num_train_timesteps', 'beta_schedule', 'prediction_type',
                                  'clip_sample', 'horizon', 'shape_meta'])
def test_a_missing_original_field_is_refused_by_name(tmp_path, saved, name):
    edited = _without(tmp_path, saved, name)
    with pytest.raises(CheckpointError, match=f"'config' lacks '{name}'") as info:
        read_policy_metadata(edited)
    assert '\n' not in str(info.value)
    with pytest.raises(CheckpointError, match=name):
        load_policy(edited)


def test_a_field_added_later_keeps_its_default(tmp_path, saved):
    edited = _without(tmp_path, saved, *ADDED_CONFIG_FIELDS)
    assert load_policy(edited).config.color_jitter == (0.0, 0.0, 0.0, 0.0)


def test_every_config_field_is_either_required_or_added_later():
    """A new PolicyConfig field must be placed: required (with a format change) or added
    with a default that reads the older files."""
    fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    assert set(REQUIRED_CONFIG_FIELDS) | set(ADDED_CONFIG_FIELDS) == fields
    assert not set(REQUIRED_CONFIG_FIELDS) & set(ADDED_CONFIG_FIELDS)
