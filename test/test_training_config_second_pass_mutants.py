"""The training config (training/config.py): a second mutation review's findings.

Behaviour the first pass (test_training_config_sources_mutants.py) and the other config tests
(test_train_config*.py) left open, each test naming the change it catches:

- bounds at their edge: a beta of exactly 1 is refused ([0, 1), not [0, 1]: b <= 1 survived);
  a boolean beta false is no number (the bool check dropped survived: float(False) = 0.0 ran
  silently); a negative data.split_seed or eval.start_seed is refused (each check dropped
  survived);
- the schedule: only 'constant' with a warmup becomes 'constant_with_warmup'; 'linear',
  'polynomial' and 'cosine_with_restarts' stay themselves (!= 'cosine' survived);
- type checks that keep a crash away: train.keep_snapshots as a string is the named error,
  not a TypeError from `'abc' < 1` (the integer check dropped survived); so are a string
  eval.batch_size or optim.eps, and an infinite optim.eps or optim.weight_decay is no number
  (each one's _number dropped survived: a TypeError, or .inf reaching AdamW);
- YAML: a number in e-notation with a plus sign (1e+0) is a number (the '+' dropped from the
  resolver survived);
- overrides: a value holding '=' is the value (rpartition survived);
- messages, each exact: a value below its >= 0 bound is given back (the value dropped
  survived); the sim's last seed check says start_seed + n_episodes - 1 (the '- 1' dropped
  survived); optim.betas out of range gives the betas back; a bogus eval.sampler says null is
  the policy's; a config file whose top level is no mapping names the file (each dropped
  survived); an unknown key names its section as `data`, not `data.` (the prefix's dot kept
  survived); a malformed override value says what the YAML parser found (its detail dropped
  survived);
- overrides' messages: one without '=' gives the item back; an unknown key's hint is found
  for a typo that loses a letter or two (a 0.9 cutoff survived) and its line lists the known
  keys (the list dropped survived);
- paths: data.zarr_path under ~ is the home directory's (expanduser dropped survived);
- from_dict: optim.betas given as a tuple, as Python code builds it (only a list survived);
- data.exclude_episodes' message says indices are >= 0 and gives the list back (cut
  survived);
- saved configs: a saved `train: null` is left to mean the defaults, not a TypeError (the
  mapping check loosened to `in` survived); a saved state without a config, or without a
  train section, keeps today's train.tf32 and says nothing kept (the section's mapping check
  dropped survived).

No defect found: every bad value tried is a TrainConfigError naming its field.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dp_ros.policy.config import SAMPLERS
from sim_bridge.sim_node_config import MAX_SEED
from training.config import (
    DataConfig,
    TrainConfig,
    apply_override,
    keep_saved_on_resume,
    load_config,
    saved_config_data,
)
from training.errors import TrainConfigError


@pytest.mark.parametrize('override, message', [
    ('optim.betas=[0.9, 1.0]', 'optim.betas must each be in [0, 1), got [0.9, 1.0]'),
    ('optim.betas=[false, 0.99]', 'optim.betas must be two numbers, got [False, 0.99]'),
    ('train.keep_snapshots=abc',
     "train.keep_snapshots must be an integer >= 1 or null (all), got 'abc'"),
    ('train.log_every=-1', 'train.log_every must be >= 0, got -1'),
    ('data.split_seed=-1', 'data.split_seed must be >= 0, got -1'),
    ('eval.start_seed=-1', 'eval.start_seed must be >= 0, got -1'),
    ('eval.batch_size=abc', "eval.batch_size must be a number, got 'abc'"),
    ('optim.eps=abc', "optim.eps must be a number, got 'abc'"),
    ('optim.eps=.inf', 'optim.eps must be a number, got inf'),
    ('optim.weight_decay=.inf', 'optim.weight_decay must be a number, got inf'),
    ('data.exclude_episodes=[-1]',
     'data.exclude_episodes must be a list of episode indices (>= 0) or null, got [-1]'),
    ('eval.sampler=euler',
     f"eval.sampler 'euler' is not one of {SAMPLERS} (or null: the policy's)"),
])
def test_values_just_outside_a_bound_are_refused_with_the_field_named(override, message):
    with pytest.raises(TrainConfigError) as info:
        load_config(None, [override])
    assert str(info.value) == message


def test_a_number_in_e_notation_with_a_plus_sign_is_a_number():
    assert load_config(None, ['optim.lr=1e+0']).optim.lr == 1.0


def test_an_override_value_holding_an_equals_sign_is_the_value():
    cfg = load_config(None, ['data.zarr_path=/data/run=3/pusht.zarr'])
    assert cfg.data.zarr_path == '/data/run=3/pusht.zarr'


@pytest.mark.parametrize('saved', [None, {}, {'optim': {'lr': 1e-4}}])
def test_a_saved_state_without_a_train_section_keeps_todays_tf32(saved):
    cfg = TrainConfig()
    assert keep_saved_on_resume(cfg, {}, saved) == []
    assert cfg.train.tf32 is True


def test_an_unknown_key_names_its_section_without_the_dot():
    with pytest.raises(TrainConfigError) as info:
        TrainConfig.from_dict({'data': {'batchsize': 3}})
    assert str(info.value).startswith(
        "unknown config keys ['data.batchsize']; known keys in data: ['action_key', "
        "'batch_size', ")


def test_a_malformed_override_value_says_what_the_parser_found():
    with pytest.raises(TrainConfigError) as info:
        load_config(None, ['train.max_steps=[1'])
    message = str(info.value)
    assert message.startswith("override 'train.max_steps=[1': the value is not valid YAML: ")
    assert "expected ',' or ']', but got '<stream end>'" in message


def test_a_dataset_path_under_home_is_the_home_directorys(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert DataConfig(zarr_path='~/pusht.zarr').resolved_zarr_path() == (
        tmp_path / 'pusht.zarr').resolve()
    assert Path('~').expanduser() == tmp_path


def test_betas_given_as_a_tuple_are_read():
    cfg = TrainConfig.from_dict({'optim': {'betas': (0.9, 0.99)}})
    assert cfg.optim.betas == (0.9, 0.99)


def test_the_last_seed_check_names_start_seed_plus_episodes_minus_one():
    """Two episodes from the sim's last seed: the second is one past it."""
    with pytest.raises(TrainConfigError) as info:
        load_config(None, ['eval.n_episodes=2', f'eval.start_seed={MAX_SEED}'])
    assert str(info.value) == (f'eval.start_seed {MAX_SEED} + eval.n_episodes 2 - 1 is past '
                               f'the last seed the sim takes, {MAX_SEED}')


def test_a_config_file_whose_top_level_is_no_mapping_is_named(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('- 1\n- 2\n')
    with pytest.raises(TrainConfigError) as info:
        load_config(path)
    assert str(info.value) == f'{path}: top level must be a mapping, got list'


def test_an_override_without_an_equals_sign_is_given_back():
    with pytest.raises(TrainConfigError) as info:
        apply_override({}, 'data.batch_size')
    assert str(info.value) == "override 'data.batch_size' is not of the form 'section.key=value'"


def test_an_unknown_override_key_hints_the_near_one_and_lists_the_known():
    with pytest.raises(TrainConfigError) as info:
        apply_override({}, 'data.batchsz=3')
    assert str(info.value) == (
        "override 'data.batchsz=3': no key 'batchsz' in data (did you mean 'batch_size'?); "
        "known: ['action_key', 'batch_size', 'device_batches', 'drop_last', "
        "'exclude_episodes', 'format', 'image_key', 'low_dim_keys', 'max_train_episodes', "
        "'num_workers', 'persistent_workers', 'pin_memory', 'rgb_keys', 'split_seed', "
        "'state_key', 'val_ratio', 'zarr_path']")


def test_a_saved_null_train_section_is_left_for_the_defaults():
    assert saved_config_data({'train': None}) == {'train': None}
    assert TrainConfig.from_dict(saved_config_data({'train': None})).train.tf32 is True


@pytest.mark.parametrize('scheduler, schedule', [
    ('linear', 'linear'), ('polynomial', 'polynomial'),
    ('cosine_with_restarts', 'cosine_with_restarts'), ('constant', 'constant_with_warmup')])
def test_only_a_constant_schedule_with_warmup_is_renamed(scheduler, schedule):
    cfg = load_config(None, [f'optim.lr_scheduler={scheduler}', 'optim.lr_warmup_steps=500'])
    assert cfg.optim.schedule == schedule
