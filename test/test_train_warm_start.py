"""A warm start (train.init_from) keeps its checkpoint's normalizer: this run's data beyond
that normalizer's range is a warning, once, naming the key, the dimensions and by how much
(with policy.clip_sample such actions are never sampled); data within it is no warning."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tiny_runs import copy_episodes, run_config, without_curves

from training.config import TrainConfig
from training.trainer import Trainer, train

BEYOND = 'beyond the range of the normalizer it inherits'




def _config(zarr_path: Path, **train_section: object) -> TrainConfig:
    cfg = run_config(zarr_path, train={'max_steps': 1, **train_section})
    cfg['data']['max_train_episodes'] = None
    return TrainConfig.from_dict(cfg)


@pytest.fixture(scope='module')
def first_run(tmp_path_factory, pusht_zarr) -> tuple[Path, Path]:
    """(a 1-step run on the first 3 Push-T episodes, their store): action x in 44..375."""
    root = tmp_path_factory.mktemp('warm')
    small = copy_episodes(pusht_zarr, root / 'small.zarr', n=3)
    with without_curves():
        train(_config(small), root / 'first')
    return root / 'first', small


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if BEYOND in r.getMessage()]


def test_data_beyond_the_inherited_normalizer_is_a_warning_naming_it(first_run, pusht_zarr,
                                                                      tmp_path, caplog):
    first, _ = first_run
    more = copy_episodes(pusht_zarr, tmp_path / 'more.zarr', n=5)  # action x up to 511
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        trainer = Trainer(_config(more, init_from=str(first)), tmp_path / 'second')
    assert trainer.policy.normalizer.stats['action']['max'] == [375.0, 453.0]  # inherited
    (message,) = _warnings(caplog)
    assert str(first) in message
    # x: 511 normalizes to (511 - 44) / (375 - 44) * 2 - 1 = 1.82; y stays in 56..453
    assert ('action dimension 0 44..511 (inherited 44..375: normalized -1..1.82), ' in message)
    assert 'action dimension 0 44..511 (inherited 44..375: normalized -1..1.82), 1 ' \
        not in message
    assert 'of its steps' in message and 'clip_sample' in message
    assert 'without train.init_from' in message


def test_data_within_the_inherited_normalizer_is_no_warning(first_run, tmp_path, caplog):
    first, small = first_run
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        Trainer(_config(small, init_from=str(first)), tmp_path / 'second')
    assert _warnings(caplog) == []
