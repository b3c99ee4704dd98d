"""A policy.json edited after the save is refused, naming what changed (a model review found
that fields which leave the weights' shapes alone, horizon, the noise schedule, the camera
crop, the normalizer, loaded silently and sampled another policy). The weights record the
policy.json saved with them; the sampler, its step count and n_action_steps stay editable,
and weights saved before the record (the shipped Push-T policy) load as before."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import as_saved_before_the_config_record, make_tiny_checkpoint

from dp_ros.app import push
from dp_ros.policy.checkpoint import (
    SAVED_CONFIG_KEY,
    CheckpointError,
    load_policy,
    read_policy_metadata,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def saved(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp('edited') / 'policy', seed=2)


def copy_edited(saved: Path, into: Path, edit) -> Path:
    shutil.copytree(saved, into)
    meta = json.loads((into / 'policy.json').read_text())
    edit(meta)
    (into / 'policy.json').write_text(json.dumps(meta, indent=2))
    return into


def test_the_save_records_its_policy_json_in_the_weights(saved):
    from safetensors import safe_open

    with safe_open(str(saved / 'model.safetensors'), framework='pt') as f:
        record = json.loads(f.metadata()[SAVED_CONFIG_KEY])
    assert record == read_policy_metadata(saved)['config']


def test_a_save_is_the_same_bytes_each_time(saved, tmp_path):
    """The record is metadata the safetensors library writes in a random order; the save
    sorts it: the same weights give the same file (a fault review found two saves differ)."""
    from dp_ros.policy.checkpoint import load_policy, save_policy

    policy = load_policy(saved)
    files = {(save_policy(policy, tmp_path / f'p{i}') / 'model.safetensors').read_bytes()
             for i in range(8)}
    assert len(files) == 1
    assert load_policy(tmp_path / 'p0').config == policy.config


def _set(*path_value):
    *path, value = path_value

    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize('edit, named', [
    (_set('config', 'horizon', 24), 'horizon: 24 (saved: 16)'),
    (_set('config', 'beta_schedule', 'linear'),
     'beta_schedule: "linear" (saved: "squaredcos_cap_v2")'),
    (_set('config', 'crop_shape', None), 'crop_shape: null (saved: [84, 84])'),
    (_set('config', 'prediction_type', 'sample'), 'prediction_type: "sample"'),
    (_set('config', 'shape_meta', 'obs', 'image', 'camera_crop', [0, 0, 480, 480]),
     'shape_meta.obs.image.camera_crop: [0, 0, 480, 480] (saved: null)'),
])
def test_an_edit_of_what_training_fixed_is_refused_naming_it(saved, tmp_path, edit, named):
    directory = copy_edited(saved, tmp_path / 'p', edit)
    with pytest.raises(CheckpointError) as info:
        load_policy(directory)
    message = str(info.value)
    assert '\n' not in message
    assert f'{directory / "policy.json"} is not what model.safetensors was trained' in message
    assert named in message
    assert 'only sampler, num_inference_steps, n_action_steps may be changed' in message


def test_an_edited_normalizer_is_refused(saved, tmp_path):
    def edit(meta):
        entry = next(iter(meta['normalizer']['fields'].values()))
        entry['offset'][0] += 0.5
    directory = copy_edited(saved, tmp_path / 'p', edit)
    with pytest.raises(CheckpointError, match='normalizer: its statistics differ'):
        load_policy(directory)


def test_the_sampler_its_steps_and_n_action_steps_may_be_edited(saved, tmp_path):
    def edit(meta):
        meta['config'].update(sampler='ddpm', num_inference_steps=5, n_action_steps=4)
        meta['provenance']['note'] = 'a hand-written note'  # not the policy: free
    policy = load_policy(copy_edited(saved, tmp_path / 'p', edit))
    assert (policy.config.sampler, policy.config.num_inference_steps,
            policy.config.n_action_steps) == ('ddpm', 5, 4)


def test_weights_saved_before_the_record_load_whatever_policy_json_says(saved, tmp_path):
    """No record, no check: as before (the shipped policy was saved so)."""
    directory = copy_edited(saved, tmp_path / 'p', _set('config', 'beta_schedule', 'linear'))
    as_saved_before_the_config_record(directory)
    assert load_policy(directory).config.beta_schedule == 'linear'
    shipped = load_policy(REPO / 'checkpoints' / 'pusht_default')
    assert shipped.config.horizon == 16


def test_an_edited_policy_is_not_pushed(saved, tmp_path):
    directory = copy_edited(saved, tmp_path / 'p', _set('config', 'horizon', 24))
    out = tmp_path / 'card.md'
    with pytest.raises(CheckpointError, match='horizon: 24'):
        push.main([str(directory), 'hf://org/x', '--card-only', str(out)])
    assert not out.exists()
