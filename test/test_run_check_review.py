"""Mutation review of training/run_check.py: which config changes a resume refuses (each for
its own reason), a saved config older or newer than this code, the control period's
tolerance, the eval sampling bound, and a warm-started run resuming after its init checkpoint
is gone. check_resume is called on the state.json of a real 1-step run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support import one_torch_thread, tiny_policy_section  # noqa: F401 (autouse)

from training.config import TrainConfig
from training.errors import TrainConfigError, TrainStateError
from training.run_check import (
    check_eval_sampling,
    check_resume,
    check_run,
    refusal,
    resolve_control_period,
)

LENGTHS = [10, 12, 9, 14, 11]


def _config(store: Path, **sections: dict) -> TrainConfig:
    cfg = {
        'policy': tiny_policy_section(crop_shape=[6, 8], down_dims=[16, 32], num_keypoints=4,
                                      feature_dim=8, diffusion_step_embed_dim=16, horizon=8,
                                      n_action_steps=4, num_inference_steps=2),
        'data': {'zarr_path': str(store), 'batch_size': 4, 'val_ratio': 0.2},
        'train': {'max_steps': 1, 'log_every': 1, 'val_every': 0, 'action_mse_every': 0,
                  'eval_every': 0, 'checkpoint_every': 1, 'final_eval': False,
                  'num_threads': 1, 'progress': False, 'cpu': True},
        'eval': {'n_episodes': 0},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return TrainConfig.from_dict(cfg)


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory) -> tuple[Path, Path]:
    """(a 1-step run with its train state, its store)."""
    from training.replay_buffer import ReplayBuffer
    from training.trainer import train

    root = tmp_path_factory.mktemp('run_check')
    rng = np.random.default_rng(0)
    n = sum(LENGTHS)
    store = root / 'small.zarr'
    ReplayBuffer.from_arrays({'img': rng.integers(0, 256, size=(n, 8, 10, 3)).astype(np.uint8),
                              'state': rng.uniform(0, 500, size=(n, 5)),
                              'action': rng.uniform(0, 500, size=(n, 2))},
                             np.cumsum(LENGTHS)).save_to(store)
    train(_config(store), root / 'run')
    return root / 'run', store


def _check(run: Path, cfg: TrainConfig, saved: dict | None = None) -> tuple[str, ...]:
    state = run / 'train_state'
    saved = saved or json.loads((state / 'state.json').read_text())
    return check_resume(state, saved, cfg, check_run(cfg, run, 'never').policy_cfg)


@pytest.mark.parametrize('section, key, value, reason', [
    ('ema', 'power', 0.5, "the saved EMA keeps the run's own decay settings"),
    ('ema', 'inv_gamma', 2.0, "the saved EMA keeps the run's own decay settings"),
    ('data', 'split_seed', 7, 'drawn with the saved split'),
    ('train', 'init_from', 'RUN', 'only starts a fresh run'),  # a checkpoint that exists
])
def test_a_resume_refuses_a_setting_the_train_state_brings_its_own_of(saved_run, section,
                                                                      key, value, reason):
    """Each setting the saved optimizer, EMA, split or weights fixed is refused, with why."""
    run, store = saved_run
    value = str(run) if value == 'RUN' else value
    with pytest.raises(TrainStateError) as err:
        _check(run, _config(store, **{section: {key: value}}))
    assert f'{section}.{key} ' in str(err.value) and reason in str(err.value)


def test_a_key_no_table_names_is_refused():
    """What the code was not told a resume honours, it refuses (a key added later)."""
    assert refusal('train.a_new_setting') == 'a resume does not know how to apply it'
    assert refusal('optim.lr_warmup_steps') is None


def test_a_saved_config_older_or_newer_than_this_code_resumes(saved_run):
    """A key the saved config lacks counts as its default (written before the key existed);
    a key this code no longer has is ignored: neither is a change."""
    run, store = saved_run
    saved = json.loads((run / 'train_state' / 'state.json').read_text())
    config = json.loads(json.dumps(saved['config']))
    del config['optim']['eps'], config['ema']['inv_gamma']
    config['train']['a_removed_setting'] = 3
    assert _check(run, _config(store), {**saved, 'config': config}) == ()


def test_a_changed_path_is_named_whole(saved_run, tmp_path):
    """A change that takes effect is described with its values; a path is never cut short."""
    run, store = saved_run
    long_dir = tmp_path / ('a_long_directory_name_' * 3)
    long_dir.mkdir()
    moved = long_dir / 'small.zarr'
    shutil.copytree(store, moved)
    (change,) = _check(run, _config(moved))
    assert change == f'data.zarr_path "{store}" -> "{moved}"'


def test_the_control_period_must_match_the_recorded_one_to_a_thousandth(saved_run):
    """A store recording 0.1 s: 0.10005 s is the same rate (rel. 1e-3), 0.101 s is not."""
    import zarr

    from training.lerobot_source import open_training_store

    _, store = saved_run
    recorded = store.parent / 'recorded.zarr'
    if not recorded.exists():
        shutil.copytree(store, recorded)
        zarr.open_group(str(recorded), mode='r+').attrs['control_period_s'] = 0.1
    source = open_training_store(recorded)
    cfg = _config(recorded, train={'control_period_s': 0.10005})
    resolve_control_period(cfg, recorded, source)
    assert cfg.train.control_period_s == 0.10005
    with pytest.raises(TrainConfigError, match='train.control_period_s is 0.101 s'):
        resolve_control_period(_config(recorded, train={'control_period_s': 0.101}), recorded,
                               source)


def test_eval_num_inference_steps_may_be_all_diffusion_steps(saved_run):
    """1..num_train_timesteps (100) is accepted, both ends; 101 is refused."""
    from dp_ros.policy.config import PolicyConfig

    _, store = saved_run
    policy = check_run(_config(store), store.parent / 'fresh', 'never').policy_cfg
    assert policy.num_train_timesteps == 100
    for steps in (1, 100):
        check_eval_sampling(_config(store, eval={'num_inference_steps': steps}), policy)
    with pytest.raises(TrainConfigError, match='101 must be in 1..100'):
        check_eval_sampling(_config(store, eval={'num_inference_steps': 101}), policy)
    assert isinstance(policy, PolicyConfig)


def test_a_warm_started_run_resumes_after_its_init_checkpoint_is_gone(saved_run, tmp_path):
    """train.init_from only starts a fresh run: once the run has its train state, the
    checkpoint it started from is not read (moved or deleted, the run still resumes)."""
    from training.trainer import train

    run, store = saved_run
    init = tmp_path / 'init'
    shutil.copytree(run, init)
    warm = tmp_path / 'warm'
    cfg = _config(store, train={'init_from': str(init)})
    train(cfg, warm)
    shutil.rmtree(init)
    checked = check_run(_config(store, train={'init_from': str(init), 'max_steps': 2}), warm)
    assert checked.saved is not None and checked.init_from is None
