"""Running a finished run (at train.max_steps) again trains nothing: it used to exit 0
silently while appending another 'end' record to log.jsonl and an empty TensorBoard event
file each time. Now it says so and writes nothing."""
from __future__ import annotations

import logging

from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import records, small_config, write_small_store

from training.trainer import train


def test_a_finished_run_run_again_says_so_and_writes_nothing(tmp_path, caplog):
    store = write_small_store(tmp_path / 'small.zarr')
    run = tmp_path / 'run'
    train(small_config(store), run)
    before = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob('*') if p.is_file()}
    assert len(records(run, 'end')) == 1
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        summary = train(small_config(store), run)
    assert summary['step'] == 4 and summary['interrupted'] is None
    assert 'the run is already at max_steps 4: nothing to train (raise train.max_steps to ' \
           'continue)' in caplog.text
    after = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob('*') if p.is_file()}
    assert after == before  # no new record, event file, config.yaml or curves
