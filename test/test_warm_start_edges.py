"""Edges of train.init_from before torch loads a weight: which directory it names (a policy
checkpoint, or a run directory's checkpoints/latest), what it refuses (nothing there, a
malformed policy.json, a policy of other fields), and what it lets differ (the sampling
settings; joint names the checkpoint's data never recorded)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import make_tiny_arm_checkpoint, make_tiny_checkpoint, tiny_pusht_config

from dp_ros.dimension_names import NAMES
from dp_ros.policy.checkpoint import CheckpointError
from dp_ros.policy.config import PolicyConfig
from training.errors import TrainConfigError
from training.warm_start import check_init_policy, init_checkpoint, names_only_where_recorded


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny Push-T policy sampling with 4 DDIM steps; its data recorded no names."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp('ck') / 'ck')


def test_a_run_directory_names_its_latest_checkpoint(tmp_path, tiny_checkpoint):
    run = tmp_path / 'run'
    (run / 'checkpoints').mkdir(parents=True)
    (run / 'checkpoints' / 'latest').symlink_to(tiny_checkpoint, target_is_directory=True)
    assert init_checkpoint(run) == run / 'checkpoints' / 'latest'
    assert init_checkpoint(str(tiny_checkpoint)) == tiny_checkpoint
    assert check_init_policy(run, tiny_pusht_config()) == run / 'checkpoints' / 'latest'


def test_a_directory_without_policy_json_is_file_not_found(tmp_path):
    (tmp_path / 'run' / 'checkpoints').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'train.init_from=.*no policy checkpoint'):
        init_checkpoint(tmp_path / 'run')
    with pytest.raises(FileNotFoundError, match='no policy checkpoint'):
        check_init_policy(tmp_path / 'nowhere', tiny_pusht_config())


def test_the_sampling_settings_may_differ(tiny_checkpoint):
    ours = tiny_pusht_config(sampler='ddpm', num_inference_steps=20)
    assert check_init_policy(tiny_checkpoint, ours) == tiny_checkpoint


@pytest.mark.parametrize('field, value', [('down_dims', (16, 32, 64)), ('horizon', 24),
                                          ('n_obs_steps', 1), ('resnet_width', 0.5)])
def test_a_network_field_that_differs_is_named(tiny_checkpoint, field, value):
    with pytest.raises(TrainConfigError, match=rf"checkpoint's policy differs from this config "
                                               rf'in {field}$'):
        check_init_policy(tiny_checkpoint, tiny_pusht_config(**{field: value}))


def test_a_malformed_policy_json_is_a_checkpoint_error_naming_it(tmp_path, tiny_checkpoint):
    import shutil
    bad = Path(shutil.copytree(tiny_checkpoint, tmp_path / 'bad'))
    meta = json.loads((bad / 'policy.json').read_text())
    meta['config']['down_dims'] = 'abc'
    (bad / 'policy.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r'train.init_from=.*policy.json'):
        check_init_policy(bad, tiny_pusht_config())


def _named(config: PolicyConfig, names: dict[str, list[str]]) -> PolicyConfig:
    d = config.to_dict()
    for key, value in names.items():
        entry = d['shape_meta']['action'] if key == 'action' else d['shape_meta']['obs'][key]
        entry[NAMES] = value
    return PolicyConfig.from_dict(d)


def test_names_this_data_records_and_the_checkpoints_did_not_are_no_difference(
        tiny_checkpoint):
    ours = _named(tiny_pusht_config(), {'action': ['ax', 'ay'], 'agent_pos': ['px', 'py']})
    assert check_init_policy(tiny_checkpoint, ours) == tiny_checkpoint


def test_names_both_recorded_must_agree(tmp_path):
    arm = make_tiny_arm_checkpoint(tmp_path / 'arm')
    theirs = PolicyConfig.from_dict(json.loads((arm / 'policy.json').read_text())['config'])
    assert check_init_policy(arm, theirs) == arm
    other = _named(theirs, {'action': ['a', 'b', 'c']})
    with pytest.raises(TrainConfigError, match='differs from this config in shape_meta'):
        check_init_policy(arm, other)
    other = _named(theirs, {'joint_pos': ['a', 'b', 'c']})
    with pytest.raises(TrainConfigError, match='differs from this config in shape_meta'):
        check_init_policy(arm, other)


def test_names_only_where_recorded_drops_exactly_the_unrecorded_names():
    ours = {'obs': {'image': {'shape': [3, 8, 8]}, 'pos': {'shape': [2], NAMES: ['x', 'y']},
                    'grip': {'shape': [1], NAMES: ['g']}},
            'action': {'shape': [2], NAMES: ['ax', 'ay']}}
    theirs = {'obs': {'image': {'shape': [3, 8, 8]}, 'pos': {'shape': [2], NAMES: ['u', 'v']},
                      'grip': {'shape': [1]}},
              'action': {'shape': [2]}}
    out = names_only_where_recorded(ours, theirs)
    assert out == {'obs': {'image': {'shape': [3, 8, 8]}, 'pos': {'shape': [2], NAMES: ['x', 'y']},
                           'grip': {'shape': [1]}},
                   'action': {'shape': [2]}}
    assert ours['action'][NAMES] == ['ax', 'ay']  # the argument itself is left as it was
    assert names_only_where_recorded(ours, ours) == ours


def test_validation_episodes_the_starting_weights_trained_on_are_found():
    """A review's day 2: a warm start on the store grown by appended bags drew its split anew,
    and episode 1 (a training episode of the starting checkpoint) landed in validation without
    a word. Found where the checkpoint's split was drawn over this dataset's first episodes;
    nothing said for another dataset."""
    import numpy as np

    from training.dataset_meta import episodes_digest
    from training.warm_start import validation_trained_on

    ends = np.array([10, 20, 30, 40, 50, 60, 70, 80])
    provenance = {'split': {'n_episodes': 6, 'episode_ends_sha256': episodes_digest(ends[:6]),
                            'val_episodes': [0], 'train_episodes': [1, 2, 3, 4, 5]}}
    assert validation_trained_on(provenance, {'val_episodes': [1, 6]}, ends) == [1]
    assert validation_trained_on(provenance, {'val_episodes': [0, 7]}, ends) == []
    other = np.array([11, 20, 30, 40, 50, 60, 70, 80])  # the first episode another length
    assert validation_trained_on(provenance, {'val_episodes': [1, 6]}, other) == []
    assert validation_trained_on({}, {'val_episodes': [1]}, ends) == []
