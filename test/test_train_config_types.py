"""Every training config value is of its field's type, checked when the config loads: an
`int` field (a count, an interval, a step number, a seed) takes an integer, never a float,
a bool or a string; a `float` field any number; the policy section's fields PolicyConfig's
types. A wrong type is a TrainConfigError naming the key (one line, exit code 2 in `dp-ros
train`), not a value read as another (2.5 steps) or a traceback at the first evaluation.
Seeds are >= 0 (numpy's range) and train.num_threads >= 0 (0, as null: torch's default)."""
from __future__ import annotations

import pytest
from tiny_runs import small_config

from training.config import load_config
from training.errors import TrainConfigError


@pytest.mark.parametrize('section, key, value', [
    ('data', 'batch_size', 1.5),
    ('data', 'num_workers', 1.5),
    ('data', 'split_seed', 'abc'),
    ('data', 'max_train_episodes', 2.5),
    ('train', 'seed', 'abc'),
    ('train', 'seed', -1),
    ('train', 'num_threads', -1),
    ('train', 'num_threads', 1.5),
    ('train', 'max_steps', 2.5),
    ('train', 'log_every', 1.5),
    ('train', 'checkpoint_every', 2.5),
    ('train', 'val_every', 2.5),
    ('optim', 'lr_warmup_steps', 2.5),
    ('optim', 'grad_accum_steps', 1.5),
    ('eval', 'n_episodes', 1.5),
    ('eval', 'max_steps', 1e3),
    ('eval', 'start_seed', 'abc'),
    ('eval', 'sample_seed', 'abc'),
    ('eval', 'batch_size', 2.5),
    ('data', 'zarr_path', None),
    ('policy', 'horizon', 'abc'),
    ('policy', 'num_keypoints', 4.5),
])
def test_a_wrong_type_is_refused_when_the_config_loads(tmp_path, section, key, value):
    with pytest.raises(TrainConfigError, match=f'{section}.{key}'):
        small_config(tmp_path / 'small.zarr', **{section: {key: value}})


def test_the_evaluations_last_seed_is_one_the_sim_takes():
    with pytest.raises(TrainConfigError, match='eval.start_seed'):
        load_config(None, ['eval.start_seed=4294967290', 'eval.n_episodes=10'])
    assert load_config(None, ['eval.start_seed=4294967286',
                              'eval.n_episodes=10']).eval.seeds[-1] == 2**32 - 1


def test_values_of_their_types_load_from_a_file_and_overrides_a_whole_float_does_not(tmp_path):
    """YAML gives ints as int: those load, also into float fields; 7.0 steps is refused."""
    path = tmp_path / 'c.yaml'
    path.write_text('train: {max_steps: 7, num_threads: 0, seed: 0}\n'
                    'optim: {lr: 1, max_grad_norm: 2}\npolicy: {horizon: 32, resnet_width: 1}\n')
    cfg = load_config(path, ['data.batch_size=3', 'eval.sample_seed=5', 'data.zarr_path=d.zarr',
                             'train.init_from=null', 'eval.batch_size=null'])
    assert (cfg.train.max_steps, cfg.train.num_threads, cfg.data.batch_size) == (7, 0, 3)
    assert (cfg.optim.lr, cfg.optim.max_grad_norm, cfg.eval.sample_seed) == (1, 2, 5)
    assert cfg.policy_config().horizon == 32 and cfg.data.zarr_path == 'd.zarr'
    with pytest.raises(TrainConfigError, match='train.max_steps must be an integer, got 7.0'):
        load_config(path, ['train.max_steps=7.0'])
