"""A damaged model.safetensors (truncated or empty: an interrupted copy, a full disk), in a
policy directory or in a train state's files, is a one-line user error naming the file
(CheckpointError / TrainStateError), not safetensors' SafetensorError traceback, which names
no file. Covers load_policy (`dp-ros open-loop`, `dp-ros eval`, train.init_from) and a
resume of `dp-ros train`. Found by exploratory testing."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from dp_ros.policy.checkpoint import CheckpointError, load_policy
from training.errors import TrainStateError
from training.trainer import Trainer, train


@pytest.fixture(scope='module')
def run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp('run')
    store = write_small_store(root / 'small.zarr')
    train(small_config(store, train={'max_steps': 2}), root / 'run')
    return store, root / 'run'


@pytest.mark.parametrize('size', [0, 1000])
def test_a_truncated_policy_weights_file_is_a_checkpoint_error(tmp_path, run, size):
    _, source = run
    policy = shutil.copytree(source / 'checkpoints' / 'latest', tmp_path / 'policy')
    os.truncate(policy / 'model.safetensors', size)
    with pytest.raises(CheckpointError, match=r'model\.safetensors is damaged or truncated'):
        load_policy(policy)


@pytest.mark.parametrize('name', ['model', 'optimizer'])
def test_resuming_a_truncated_train_state_file_is_a_train_state_error(tmp_path, run, name):
    store, source = run
    copy = shutil.copytree(source, tmp_path / 'run')
    os.truncate(copy / 'train_state' / f'{name}.safetensors', 500)
    with pytest.raises(TrainStateError, match=rf'{name}\.safetensors is damaged or truncated'):
        Trainer(small_config(store, train={'max_steps': 4}), copy)
