"""data.exclude_episodes with data.max_train_episodes: the cap is drawn over all training
episodes before the excluded ones are taken out, so excluding one episode moves no other
from its side (as with the validation split): it only leaves the capped set if it was in it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.dataset import PushTImageDataset
from training.replay_buffer import ReplayBuffer

N, LENGTH, CAP = 40, 12, 10


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    """N short episodes of the Push-T layout (img, state, action)."""
    rng = np.random.default_rng(0)
    steps = N * LENGTH
    path = tmp_path_factory.mktemp('data') / 'store.zarr'
    ReplayBuffer.from_arrays({
        'img': rng.integers(0, 256, (steps, 4, 4, 3), dtype=np.uint8),
        'state': rng.uniform(0, 500, (steps, 5)).astype(np.float32),
        'action': rng.uniform(0, 500, (steps, 2)).astype(np.float32),
    }, np.arange(1, N + 1) * LENGTH).save_to(path)
    return path


def _split(store: Path, exclude: list[int] | None = None) -> PushTImageDataset:
    return PushTImageDataset(store, horizon=4, pad_before=1, pad_after=2, seed=42,
                             val_ratio=0.1, max_train_episodes=CAP, progress=False,
                             exclude_episodes=exclude)


def _episodes(mask: np.ndarray) -> set[int]:
    return {int(e) for e in np.flatnonzero(mask)}


def test_excluding_an_episode_outside_the_capped_set_changes_nothing(store):
    before = _split(store)
    assert before.n_train_episodes == CAP
    unused = min(set(range(N)) - _episodes(before.train_mask) - _episodes(before.val_mask))
    after = _split(store, [unused])
    np.testing.assert_array_equal(after.train_mask, before.train_mask)
    np.testing.assert_array_equal(after.val_mask, before.val_mask)


def test_excluding_a_capped_episode_leaves_the_others_where_they_were(store):
    before = _split(store)
    trained = sorted(_episodes(before.train_mask))
    after = _split(store, [trained[3]])
    assert _episodes(after.train_mask) == set(trained) - {trained[3]}
    assert after.n_train_episodes == CAP - 1  # the cap is not refilled from the others
    np.testing.assert_array_equal(after.val_mask, before.val_mask)
