"""train.keep_snapshots: a long run's step_* snapshots (about 1 GB each at the paper's size)
were never removed, so a run with train.snapshot_every filled its disk. With keep_snapshots N
a new snapshot removes those beyond the newest N, by step (not by name: the names stop
sorting by step past 999,999), each removal logged; latest, best and other folders stay.
None (the default) keeps them all, as before."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import small_config, write_small_store

from training.config import TrainConfig
from training.errors import TrainConfigError
from training.trainer import snapshots_beyond, train


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_keep_snapshots_defaults_to_all_and_refuses_less_than_one():
    """None keeps today's behaviour; 0, a negative or a non-integer is one clear line."""
    assert TrainConfig().train.keep_snapshots is None
    for bad in (0, -1, 2.5, 'two'):
        with pytest.raises(TrainConfigError, match='train.keep_snapshots must be an integer'):
            TrainConfig.from_dict({'train': {'keep_snapshots': bad}})


def test_the_snapshots_beyond_the_newest_are_chosen_by_step_not_by_name(tmp_path):
    """step_1000000 sorts before step_999999 by name but is newer; a file, a foreign name
    and latest/best are never chosen."""
    for name in ('step_000500', 'step_999999', 'step_1000000', 'step_1200000', 'latest',
                 'best', 'step_000100_good'):
        (tmp_path / name).mkdir()
    (tmp_path / 'step_000001').write_text('not a snapshot folder')
    assert snapshots_beyond(tmp_path, 2) == [tmp_path / 'step_000500', tmp_path / 'step_999999']
    assert snapshots_beyond(tmp_path, 4) == []
    assert snapshots_beyond(tmp_path / 'absent', 1) == []


def test_a_resumed_run_keeps_only_its_newest_snapshots(tmp_path, caplog):
    """4 steps keeping all snapshots, then resumed to 6 with keep_snapshots 2: step 5 and 6
    stay, steps 1-4 are removed (one log line each); latest and a user's folder stay."""
    store = write_small_store(tmp_path / 'small.zarr')
    run = tmp_path / 'run'
    train(small_config(store, train={'snapshot_every': 1}), run)
    checkpoints = run / 'checkpoints'
    assert _names(checkpoints) == ['latest', *(f'step_00000{i}' for i in range(1, 5))]
    (checkpoints / 'step_000002_chosen').mkdir()  # a user's copy: not a snapshot name
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        train(small_config(store, train={'snapshot_every': 1, 'keep_snapshots': 2,
                                         'max_steps': 6}), run)
    assert _names(checkpoints) == ['latest', 'step_000002_chosen', 'step_000005',
                                   'step_000006']
    removed = [r.getMessage() for r in caplog.records if 'removed snapshot' in r.getMessage()]
    assert len(removed) == 4, removed
    assert all('train.keep_snapshots 2' in line for line in removed)
