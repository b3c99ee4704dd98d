"""Resuming a run with a changed config: what a resume cannot honour (the saved optimizer's
and EMA's settings, the seed, the split, the network, the dataset's shapes) is refused before
anything loads, naming the keys and the way on; what it can honour takes effect, is named in
the warning, and is what config.yaml records."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import REPO_ROOT, checkout_env, module_cmd, without_torch
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    copy_episodes,
    no_curves,
    records,
    run_config,
    saved_state,
)

from training.config import TrainConfig
from training.errors import TrainStateError
from training.run_check import (
    REFUSED_ON_RESUME,
    TAKES_EFFECT_ON_RESUME,
    check_run,
    refusal,
)
from training.trainer import train

# none of these tests looks at curves.png: their runs skip drawing it (most of a tiny run's time)
pytestmark = pytest.mark.usefixtures('no_curves')


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory, tiny_zarr) -> Path:
    """A run stopped at its train state of step 2 (max_steps 2, a constant lr)."""
    run = tmp_path_factory.mktemp('runs') / 'run'
    train(_config(tiny_zarr), run)
    return run


def _config(zarr_path: Path, *overrides: str) -> TrainConfig:
    from training.config import apply_override

    cfg = run_config(zarr_path, optim={'lr': 1e-4, 'lr_warmup_steps': 0,
                                       'lr_scheduler': 'constant'},
                     train={'max_steps': 2, 'checkpoint_every': 2})
    for item in overrides:
        apply_override(cfg, item)
    return TrainConfig.from_dict(cfg)


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


def _leaves(d: dict, prefix: str = '') -> list[str]:
    return [k for key, v in d.items()
            for k in (_leaves(v, f'{prefix}{key}.') if isinstance(v, dict) and v
                      else [f'{prefix}{key}'])]


def test_every_config_key_is_either_honoured_or_refused_on_resume():
    keys = [k for k in _leaves(TrainConfig().to_dict()) if not k.startswith('policy')]
    assert keys, 'no config keys'
    for key in keys:
        honoured = refusal(key) is None
        assert honoured or key in REFUSED_ON_RESUME, key
        assert not (honoured and key in REFUSED_ON_RESUME), key
    assert not set(REFUSED_ON_RESUME) & TAKES_EFFECT_ON_RESUME
    # a key the tables do not know is refused, not silently kept
    assert refusal('optim.some_future_key')


@pytest.mark.parametrize('override, named', [
    ('optim.lr=0.001', 'optim.lr 0.0001 -> 0.001'),
    ('optim.betas=[0.9,0.99]', 'optim.betas'),
    ('optim.weight_decay=0.01', 'optim.weight_decay'),
    ('ema.power=0.5', 'ema.power 0.75 -> 0.5'),
    ('ema.update_after_step=10', 'ema.update_after_step'),
    ('train.seed=7', 'train.seed 42 -> 7'),
    ('data.max_train_episodes=2', 'data.max_train_episodes 3 -> 2'),
    ('data.exclude_episodes=[1]', 'data.exclude_episodes null -> [1]'),
    ('data.low_dim_keys={agent_pos: "state[0:2]"}', 'data.low_dim_keys'),
    ('policy.down_dims=[16,32,64]', 'policy.down_dims [32, 64, 128] -> [16, 32, 64]'),
    ('policy.n_action_steps=4', 'policy.n_action_steps 8 -> 4'),
])
def test_a_change_a_resume_cannot_honour_is_refused_naming_it(saved_run, tiny_zarr, tmp_path,
                                                              override, named):
    run = _copy(saved_run, tmp_path)
    config_yaml = (run / 'config.yaml').read_text()
    with pytest.raises(TrainStateError) as err:
        check_run(_config(tiny_zarr, override, 'train.max_steps=4'), run)
    message = str(err.value)
    assert named in message and '--resume never' in message and '\n' not in message
    assert 'train.max_steps' not in message  # that one takes effect
    assert (run / 'config.yaml').read_text() == config_yaml
    # starting over is the way on
    assert check_run(_config(tiny_zarr, override), run, resume='never').saved is None


def test_sampling_settings_of_the_policy_take_effect(saved_run, tiny_zarr):
    checked = check_run(_config(tiny_zarr, 'policy.num_inference_steps=5',
                                'policy.sampler=ddpm'), saved_run)
    assert checked.policy_cfg.num_inference_steps == 5
    assert set(checked.changed) == {'policy.num_inference_steps 3 -> 5',
                                    'policy.sampler "ddim" -> "ddpm"'}


def test_a_changed_policy_is_refused_before_torch_loads(saved_run, tiny_zarr, tmp_path):
    run = _copy(saved_run, tmp_path)
    cfg_path = tmp_path / 'cfg.yaml'
    cfg_path.write_text(yaml.safe_dump(_config(tiny_zarr).to_dict()))
    proc = subprocess.run(module_cmd('training.train', '--config', str(cfg_path), '--output',
                                     str(run), 'policy.down_dims=[16,32,64]'),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env=checkout_env(**without_torch(tmp_path / 'no_torch')))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines[-1].startswith('dp-ros train: cannot resume') and 'policy.down_dims' in lines[-1]
    assert 'size mismatch' not in proc.stderr and 'Traceback' not in proc.stderr


def _wider_action(_episode: int, arrays: dict) -> dict:
    action = arrays['action']
    return {**arrays, 'action': np.concatenate([action, action[:, :1]], axis=1)}


@pytest.mark.parametrize('recorded', [True, False], ids=['policy_config', 'older_state'])
def test_a_dataset_of_other_shapes_is_refused(saved_run, pusht_zarr, tiny_zarr, tmp_path,
                                              recorded):
    """data.zarr_path may change (a moved copy); a dataset whose action is wider may not.
    A state saved before it recorded its resolved policy is checked by its normalizer."""
    run = _copy(saved_run, tmp_path)
    if not recorded:
        state = saved_state(run)
        del state['policy_config']
        (run / 'train_state' / 'state.json').write_text(json.dumps(state))
    moved = Path(shutil.copytree(tiny_zarr, tmp_path / 'moved.zarr'))
    checked = check_run(_config(moved), run)
    assert checked.changed == (f'data.zarr_path "{tiny_zarr}" -> "{moved}"',)
    wider = copy_episodes(pusht_zarr, tmp_path / 'wider.zarr', change=_wider_action)
    with pytest.raises(TrainStateError, match=r'policy\.shape_meta\.action\.shape .*-> \[3\]'):
        check_run(_config(wider), run)


def test_ema_turned_on_for_a_run_without_one_is_refused_at_the_start(tiny_zarr, tmp_path):
    run = tmp_path / 'run'
    train(_config(tiny_zarr, 'ema.enabled=false', 'train.max_steps=1'), run)
    with pytest.raises(TrainStateError, match='ema.enabled false -> true.*no EMA'):
        check_run(_config(tiny_zarr), run)


def test_changes_that_take_effect_are_named_used_and_recorded(saved_run, tiny_zarr, tmp_path,
                                                              caplog):
    run = _copy(saved_run, tmp_path)
    cfg = _config(tiny_zarr, 'train.max_steps=4', 'optim.max_grad_norm=1.0',
                  'eval.start_seed=7')
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        summary = train(cfg, run)
    assert summary['step'] == 4
    warning = next(r.getMessage() for r in caplog.records
                   if 'config changes that take effect' in r.getMessage())
    assert 'from step 2' in warning
    for named in ('train.max_steps 2 -> 4', 'optim.max_grad_norm null -> 1.0',
                  'eval.start_seed 100000 -> 7'):
        assert named in warning
    assert TrainConfig.from_dict(yaml.safe_load((run / 'config.yaml').read_text())) == cfg
    # the lr the log shows is the config's: both sides of the resume
    assert {r['lr'] for r in records(run, 'train')} == {1e-4}


def test_a_state_without_a_key_added_since_counts_it_as_its_default(saved_run, tiny_zarr,
                                                                     tmp_path):
    run = _copy(saved_run, tmp_path)
    state = saved_state(run)
    del state['config']['train']['snapshot_every'], state['config']['optim']['fused']
    (run / 'train_state' / 'state.json').write_text(json.dumps(state))
    assert check_run(_config(tiny_zarr), run).changed == ()


def test_an_integer_ema_min_value_resumes(tiny_zarr, tmp_path):
    """YAML's `min_value: 0` is an int, which diffusers' EMAModel refuses when a resume loads
    it: the config makes it a float, and a state saved with the int still resumes."""
    run = tmp_path / 'run'
    train(_config(tiny_zarr, 'ema.min_value=0'), run)
    assert saved_state(run)['ema']['min_decay'] == 0.0
    assert train(_config(tiny_zarr, 'ema.min_value=0', 'train.max_steps=3'), run)['step'] == 3
    state = saved_state(run)  # as an older dp_ros saved it
    state['ema'].update(min_decay=0, inv_gamma=1)
    (run / 'train_state' / 'state.json').write_text(json.dumps(state))
    assert train(_config(tiny_zarr, 'train.max_steps=4'), run)['step'] == 4
