"""`dp-ros train` checked memory before it started but not free disk: a run with snapshots
stopped (exit 2) only when its disk filled, days in. check_disk estimates what the run
writes from the policy's weights (a train state holds them 4 times: model, EMA, AdamW's two
moments; a checkpoint or snapshot once) and refuses a disk that cannot hold one train state,
warning (an estimate) when it cannot hold the next save or the whole run. The free bytes are
passed in, so these tests need no full disk."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from dp_ros.atomic_dir import free_disk
from training.config import TrainConfig
from training.errors import TrainConfigError
from training.run_check import check_disk, snapshots_to_write

MIB = 2**20
W = 100 * MIB  # the policy's weights


def _cfg(**train) -> TrainConfig:
    return TrainConfig.from_dict({'train': {'max_steps': 1000, **train},
                                  'eval': {'n_episodes': 0}})


def test_snapshots_counted_from_the_resume_step_with_the_last_and_the_bound():
    """Every snapshot_every steps after the start, one more at max_steps off the grid, at
    most keep_snapshots."""
    assert snapshots_to_write(_cfg(snapshot_every=100), 0) == 10
    assert snapshots_to_write(_cfg(snapshot_every=300), 0) == 4  # 300, 600, 900, 1000
    assert snapshots_to_write(_cfg(snapshot_every=100), 450) == 6  # 500 .. 1000
    assert snapshots_to_write(_cfg(snapshot_every=100, keep_snapshots=3), 0) == 3
    assert snapshots_to_write(_cfg(snapshot_every=0), 0) == 0
    assert snapshots_to_write(_cfg(snapshot_every=100), 1000) == 0


def test_a_disk_without_room_for_one_train_state_is_refused(tmp_path):
    with pytest.raises(TrainConfigError, match=r'399 MiB free.*one train state of this '
                       r'policy \(400 MiB'):
        check_disk(_cfg(), W, 399 * MIB, tmp_path)


def test_room_for_a_train_state_but_not_the_next_save_is_a_warning_naming_both():
    """train state 400 + checkpoint 100 + snapshot 100 MiB = 600 MiB needed, 550 free."""
    (warning,) = check_disk(_cfg(snapshot_every=100), W, 550 * MIB, 'run')
    assert '550 MiB free' in warning and 'about 600 MiB' in warning


def test_room_for_the_next_save_but_not_the_whole_run_is_a_warning():
    """10 snapshots: 400 + 100 + 1000 MiB; keep_snapshots 2 bounds it to 700 MiB."""
    (warning,) = check_disk(_cfg(snapshot_every=100), W, 1000 * MIB, 'run')
    assert '1000 MiB free' in warning and 'about 1.5 GiB' in warning
    assert 'train.keep_snapshots' in warning
    assert check_disk(_cfg(snapshot_every=100, keep_snapshots=2), W, 1000 * MIB, 'run') == []


def test_nothing_is_said_with_room_unknown_space_or_nothing_left_to_train():
    assert check_disk(_cfg(), W, 10 * 2**30, 'run') == []
    assert check_disk(_cfg(), W, None, 'run') == []
    assert check_disk(_cfg(), W, 0, 'run', start_step=1000) == []


def test_free_space_is_read_on_the_nearest_existing_folder(tmp_path, monkeypatch):
    """The folder asked of the file system is the nearest that exists (two reads of the free
    bytes differ whenever another process writes between them: a CI run's other worker did)."""
    import shutil

    asked = []
    usage = shutil.disk_usage
    monkeypatch.setattr(shutil, 'disk_usage', lambda path: asked.append(path) or usage(path))
    assert free_disk(tmp_path / 'not' / 'made' / 'yet') > 0
    assert asked == [tmp_path]


def test_train_refuses_a_full_disk_before_it_makes_the_run_folder(tmp_path, monkeypatch):
    import training.trainer as trainer

    store = write_small_store(tmp_path / 'small.zarr')
    monkeypatch.setattr(trainer, 'free_disk', lambda path: 1000)
    with pytest.raises(TrainConfigError, match='less than one train state'):
        trainer.train(small_config(store), tmp_path / 'run')
    assert not (tmp_path / 'run').exists()


def test_the_disk_is_checked_before_the_dataset_loads(tmp_path, monkeypatch):
    """A large dataset takes minutes to load: a disk that cannot hold a train state is
    refused before, from the weights of a policy built on the 'meta' device."""
    import training.trainer as trainer

    def dataset(self):  # noqa: ANN001, ANN202
        raise AssertionError('the dataset was loaded before the disk check')

    store = write_small_store(tmp_path / 'small.zarr')
    monkeypatch.setattr(trainer, 'free_disk', lambda path: 1000)
    monkeypatch.setattr(trainer.Trainer, '_dataset', dataset)
    with pytest.raises(TrainConfigError, match='less than one train state'):
        trainer.train(small_config(store), tmp_path / 'run')


def test_the_weights_counted_before_the_build_are_the_built_policys(tmp_path):
    """policy_weight_bytes (meta device) equals the state_dict bytes of the real policy."""
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer
    from training.run_check import check_run, policy_weight_bytes

    store = write_small_store(tmp_path / 'small.zarr')
    cfg = small_config(store)
    policy_cfg = check_run(cfg, tmp_path / 'run').policy_cfg
    policy = DiffusionPolicy(policy_cfg, Normalizer.from_data(
        {k: np.arange(2 * d, dtype=float).reshape(2, d)
         for k, d in policy_cfg.normalized_dims().items()}))
    built = sum(v.numel() * v.element_size() for v in policy.state_dict().values())
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a 1-row fit warned "std(): degrees of freedom"
        assert policy_weight_bytes(policy_cfg) == built > 100_000
