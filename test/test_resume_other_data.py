"""A resume whose data.zarr_path names another store with the same episode lengths (the split
check passes) trained on the other data under the normalizer fitted on the first, silently:
a warning as a warm start's now names the keys and dimensions beyond the run's range. The
same data (or a moved copy of it) is no warning."""
from __future__ import annotations

import logging
import shutil

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import no_curves, small_arrays, small_config, write_small_store  # noqa: F401

from training.trainer import train

pytestmark = pytest.mark.usefixtures('no_curves')
RESUMING = 'on data beyond the range of the normalizer the run was fitted with'


def test_a_resume_on_other_data_is_a_warning_and_a_moved_copy_is_none(tmp_path, caplog):
    store = write_small_store(tmp_path / 'small.zarr')
    arrays = small_arrays()
    arrays['action'] = arrays['action'] * 10 + 3000
    other = write_small_store(tmp_path / 'other.zarr', arrays)
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 2}), run)
    moved = tmp_path / 'moved.zarr'
    shutil.copytree(store, moved)
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(small_config(moved, train={'max_steps': 3}), run)
    assert not [m for m in caplog.messages if RESUMING in m], caplog.messages
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(small_config(other, train={'max_steps': 4}), run)
    [message] = [m for m in caplog.messages if RESUMING in m]
    assert f'data.zarr_path {other}' in message and "(the run's " in message, message
    assert 'action dimension' in message and 'for other data start a new run' in message


def test_a_warm_started_run_resumed_on_its_own_data_is_no_warning(tmp_path, caplog):
    """A run warm-started on data beyond the inherited normalizer (said once, at the warm
    start) keeps that normalizer: its resume on the same data is no 'other data' warning (a
    review: it told the user to warm start, which they had done)."""
    store = write_small_store(tmp_path / 'small.zarr')
    arrays = small_arrays()
    arrays['action'] = arrays['action'] * 10 + 3000
    other = write_small_store(tmp_path / 'other.zarr', arrays)
    train(small_config(store, train={'max_steps': 2}), tmp_path / 'base')
    init = str(tmp_path / 'base' / 'checkpoints' / 'latest')
    fine_tuned = tmp_path / 'fine_tuned'
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(small_config(other, train={'max_steps': 2, 'init_from': init}), fine_tuned)
    assert any('warm start from' in m for m in caplog.messages), caplog.messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        train(small_config(other, train={'max_steps': 3, 'init_from': init}), fine_tuned)
    assert not [m for m in caplog.messages if RESUMING in m], caplog.messages
