"""A split that leaves no training episode is refused before the data loads, naming what
took them (a review: data.exclude_episodes taking every episode drawn for training loaded the
whole dataset, then said 'the training set has no windows: check ... data.max_train_episodes,
data.val_ratio and policy.horizon', never the exclusions)."""
from __future__ import annotations

import numpy as np
import pytest

from training.config import DataConfig, TrainConfig
from training.errors import DatasetError
from training.run_check import check_training_episodes
from training.sampler import split_masks


def _check(n: int, **data) -> None:
    cfg = TrainConfig(data=DataConfig(zarr_path='demos.zarr', **data))
    excluded = np.zeros(n, dtype=bool)
    excluded[list(cfg.data.exclude_episodes or [])] = True
    check_training_episodes(cfg, n, excluded, 'demos.zarr')


def test_exclusions_that_take_every_training_episode_are_named():
    val, train = split_masks(5, 0.2, None, 42, np.zeros(5, dtype=bool))
    drawn = np.flatnonzero(train).tolist()
    with pytest.raises(DatasetError, match=(
            r'no training episode is left: the split \(data.val_ratio 0.2, split seed 42\) '
            rf'holds out 1 of its 5 episodes, and data.exclude_episodes takes every one drawn '
            rf'for training \({drawn}\)'.replace('[', r'\[').replace(']', r'\]'))):
        _check(5, val_ratio=0.2, exclude_episodes=drawn)
    _check(5, val_ratio=0.2, exclude_episodes=drawn[1:])  # one left: trains


def test_a_cap_that_draws_none_is_named():
    with pytest.raises(DatasetError, match=r'data.max_train_episodes 0\) holds out .* draws '
                                           'none for training'):
        _check(12, val_ratio=0.1, max_train_episodes=0)
