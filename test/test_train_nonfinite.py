"""NaN and inf in training: data with them is a dataset error naming the key, dimension and
episode before anything trains; a loss that diverges stops the run at once, with one line,
before the weights it made are measured or saved, so the last resume point stays good."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr
from safetensors.torch import load_file
from support import REPO_ROOT, checkout_env, module_cmd, nonempty_lines
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    copy_episodes,
    no_curves,
    records,
    run_config,
    saved_state,
)

from dp_ros.policy.normalizer import NonFiniteDataError, Normalizer
from training.config import TrainConfig
from training.errors import DatasetError, NonFiniteLossError
from training.replay_buffer import ReplayBuffer
from training.trainer import Trainer, train

# none of these tests looks at curves.png: their runs skip drawing it (most of a tiny run's time)
pytestmark = pytest.mark.usefixtures('no_curves')

NAN_EPISODE = 2

# Adam at this lr: step 1's loss is finite, its update is not survivable
DIVERGING = {'lr': 1e6, 'lr_warmup_steps': 0, 'lr_scheduler': 'constant'}


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


def _one_nan(episode: int, arrays: dict) -> dict:
    if episode != NAN_EPISODE:
        return arrays
    action = arrays['action'].copy()
    action[10, 1] = np.nan
    return {**arrays, 'action': action}


def test_the_normalizer_refuses_non_finite_data_naming_key_and_dimension():
    data = np.arange(30, dtype=np.float64).reshape(10, 3)
    data[4, 2], data[7, 2], data[1, 0] = np.nan, np.inf, -np.inf
    with pytest.raises(NonFiniteDataError) as err:
        Normalizer.from_data({'agent_pos': np.ones((10, 2)), 'action': data})
    message = str(err.value)
    assert "'action'" in message and 'agent_pos' not in message
    assert '1 in dimension 0' in message and '2 in dimension 2' in message
    assert 'dimension 1' not in message and '(-inf/inf/nan)' in message
    Normalizer.from_data({'action': np.nan_to_num(data, posinf=0, neginf=0)})  # fits


def test_nan_in_the_dataset_is_refused_before_training(tmp_path, pusht_zarr):
    nan_zarr = copy_episodes(pusht_zarr, tmp_path / 'nan.zarr', change=_one_nan)
    cfg = TrainConfig.from_dict(run_config(nan_zarr))
    with pytest.raises(DatasetError) as err:
        Trainer(cfg, tmp_path / 'run')
    message = str(err.value)
    assert str(nan_zarr) in message and "'action'" in message and 'dimension 1' in message
    assert f'data.exclude_episodes=[{NAN_EPISODE}]' in message
    assert not (tmp_path / 'run').exists()
    # left out as the message says, the same data trains
    cfg = TrainConfig.from_dict(run_config(nan_zarr, data={
        'exclude_episodes': [NAN_EPISODE], 'max_train_episodes': None},
        train={'max_steps': 1}))
    train(cfg, tmp_path / 'run')
    assert all(np.isfinite(r['loss']) for r in records(tmp_path / 'run', 'train'))


def _finite(path: Path) -> bool:
    return all(torch.isfinite(v).all() for v in load_file(path).values())


def test_a_diverging_run_stops_before_it_saves_non_finite_weights(tmp_path, tiny_zarr):
    """Losses logged only at the end (log_every=0), a resume point every step: the check
    before each save is what stops it, at the first NaN loss."""
    run = tmp_path / 'run'
    cfg = TrainConfig.from_dict(run_config(tiny_zarr, optim=DIVERGING, train={
        'log_every': 0, 'checkpoint_every': 1, 'snapshot_every': 1}))
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg, run)
    message = str(err.value)
    assert '\n' not in message and 'at step 2' in message and 'stay at step 1' in message
    assert saved_state(run)['position']['step'] == 1
    for weights in ('train_state/model.safetensors', 'train_state/ema.safetensors',
                    'checkpoints/latest/model.safetensors'):
        assert _finite(run / weights), weights
    assert sorted(p.name for p in (run / 'checkpoints').glob('step_*')) == ['step_000001']
    (end,) = records(run, 'end')
    assert end['error'] == message
    # resumed from step 1 (exactly: the same step 2 diverges), the resume point still stands
    with pytest.raises(NonFiniteLossError) as again:
        train(cfg, run)
    assert str(again.value) == message


def test_the_command_stops_at_the_first_non_finite_loss_with_one_line(tmp_path, tiny_zarr):
    cfg_path = tmp_path / 'cfg.yaml'
    cfg_path.write_text(yaml.safe_dump(run_config(tiny_zarr, optim=DIVERGING)))
    run = tmp_path / 'run'
    proc = subprocess.run(module_cmd('training.train', '--config', str(cfg_path), '--output',
                                     str(run)), cwd=REPO_ROOT, capture_output=True, text=True,
                          env=checkout_env(OMP_NUM_THREADS='1'), timeout=240)
    assert proc.returncode == 2, proc.stderr
    last = nonempty_lines(proc.stderr)[-1]
    assert last.startswith('dp-ros train: the training loss became NaN or inf at step 2')
    assert 'Traceback' not in proc.stderr
    losses = [r['loss'] for r in records(run, 'train')]
    assert np.isfinite(losses[0]) and not np.isfinite(losses[-1]) and len(losses) == 2
    assert not (run / 'train_state').exists() and not (run / 'checkpoints').exists()
    assert json.loads((run / 'log.jsonl').read_text().splitlines()[-1])['event'] == 'end'


def test_a_warm_start_refuses_nan_data_as_a_new_run_does(tmp_path, tiny_zarr, pusht_zarr):
    """The inherited normalizer is not fitted on this data, so the data's own check runs:
    NaN in a training episode, and in a validation one (the validation loss), is the same
    DatasetError, before anything trains."""
    first = tmp_path / 'first'
    cfg = run_config(tiny_zarr, train={'max_steps': 1})
    train(TrainConfig.from_dict(cfg), first)
    nan_zarr = copy_episodes(pusht_zarr, tmp_path / 'nan.zarr', change=_one_nan)
    warm = TrainConfig.from_dict(run_config(nan_zarr, train={'init_from': str(first)}))
    with pytest.raises(DatasetError) as err:
        Trainer(warm, tmp_path / 'warm')
    message = str(err.value)
    assert str(nan_zarr) in message and "'action'" in message and 'dimension 1' in message
    assert f'data.exclude_episodes=[{NAN_EPISODE}]' in message
    assert not (tmp_path / 'warm').exists()

    def nan_in_validation(episode: int, arrays: dict) -> dict:
        # episode 0 is the validation episode of this split (seed 42, val_ratio 0.2)
        return _one_nan(NAN_EPISODE, arrays) if episode == 0 else arrays

    val_nan = copy_episodes(pusht_zarr, tmp_path / 'val_nan.zarr', change=nan_in_validation)
    warm = TrainConfig.from_dict(run_config(val_nan, train={'init_from': str(first)}))
    with pytest.raises(DatasetError, match=r'data\.exclude_episodes=\[0\]'):
        Trainer(warm, tmp_path / 'warm_val')


def test_a_resume_checks_the_data_for_nan_too(tmp_path, tiny_zarr, pusht_zarr):
    """A value made NaN in place since the train state was saved (same episodes)."""
    store = copy_episodes(pusht_zarr, tmp_path / 'data.zarr')
    run = tmp_path / 'run'
    train(TrainConfig.from_dict(run_config(store, train={'max_steps': 3})), run)
    action = zarr.open_group(str(store), mode='r+')['data']['action']
    ends = ReplayBuffer.open(store).episode_ends
    action[int(ends[NAN_EPISODE - 1]) + 10, 1] = np.nan
    with pytest.raises(DatasetError) as err:
        Trainer(TrainConfig.from_dict(run_config(store, train={'max_steps': 6})), run)
    message = str(err.value)
    assert "'action'" in message and f'episodes [{NAN_EPISODE}]' in message
    assert '--resume never' in message
    assert saved_state(run)['position']['step'] == 3
