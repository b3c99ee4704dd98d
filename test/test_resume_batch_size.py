"""A resume with another data.batch_size (TAKES_EFFECT_ON_RESUME) went on at the saved batch
number of the old size in batches of the new one, so part of the epoch was skipped (a larger
size) or served twice (a smaller one). It goes on at the window of the epoch's order the run
had reached: nothing skipped, at most one new batch's worth repeated."""
from __future__ import annotations

import logging

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import no_curves, saved_state, small_config, write_small_store  # noqa: F401

from training.batches import EpochBatches, batch_index_resized
from training.trainer import train


@pytest.mark.parametrize('n, old, new, at', [(33, 4, 8, 5), (33, 8, 4, 3), (33, 4, 5, 7),
                                             (10, 3, 7, 3)])
def test_the_epoch_goes_on_at_the_window_reached(n, old, new, at):
    before = [i for b in EpochBatches(n, old, seed=3).epoch(0)[:at] for i in b]
    index = batch_index_resized(at, old, new)
    after = [i for b in EpochBatches(n, new, seed=3).epoch(0)[index:] for i in b]
    assert set(before) | set(after) == set(range(n))  # nothing of the epoch skipped
    assert len(set(before) & set(after)) < new  # at most one new batch's worth again


@pytest.mark.usefixtures('no_curves')
def test_a_resume_with_a_larger_batch_goes_on_where_the_run_was(tmp_path, caplog):
    store = write_small_store(tmp_path / 'small.zarr')
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 3},
                       data={'batch_size': 2}), run)
    assert saved_state(run)['position'] == {'step': 3, 'epoch': 0, 'batch': 3}
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        train(small_config(store, train={'max_steps': 4}, data={'batch_size': 3}), run)
    assert any('data.batch_size 2 -> 3: the run goes on where it was in the data order (6 '
               'windows of epoch 0 taken): epoch 0, batch 2' in m for m in caplog.messages), \
        caplog.messages
    assert saved_state(run)['position'] == {'step': 4, 'epoch': 0, 'batch': 3}
