"""Edges of a run's log: which values are finite (TensorBoard's and the artifacts' metrics),
the record's fields, TensorBoard's tags, the events and records a resume drops, appending
after a line a kill cut short, a rank that logs nothing, and a plot that fails (a warning,
not a stop)."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pytest

from training.run_log import LOG_FILE, TB_DIR, RunLog, finite


@pytest.mark.parametrize('value, expected', [
    (1, True), (0, True), (-2.5, True), (np.float64(0.5), True),
    (True, False), (False, False), (math.nan, False), (math.inf, False), (-math.inf, False),
    ('1.0', False), (None, False), ([1.0], False),
])
def test_finite_is_a_real_number_not_bool_nan_or_inf(value, expected):
    assert finite(value) is expected


def _lines(run: Path) -> list[str]:
    return (run / LOG_FILE).read_text().split('\n')


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / TB_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()['scalars']}


def test_a_record_has_its_event_position_and_values_and_flushes_at_once(tmp_path):
    log = RunLog(tmp_path)
    log.emit('val', 7, 2, 1.23456, {'loss': np.float32(0.5), 'note': 'x'})
    (line, end) = _lines(tmp_path)  # written through before close
    record = json.loads(line)
    assert end == '' and record['wall_time'] > 0
    assert {k: record[k] for k in ('event', 'step', 'epoch', 'elapsed_s', 'loss', 'note')} == {
        'event': 'val', 'step': 7, 'epoch': 2, 'elapsed_s': 1.235, 'loss': 0.5, 'note': 'x'}
    log.close()
    log.close()  # twice is harmless


def test_tensorboard_gets_the_finite_numbers_under_event_or_their_own_tag(tmp_path):
    log = RunLog(tmp_path)
    log.emit('eval', 3, 0, 0.0, {'test/mean_score': 0.75, 'loss': 0.25, 'flag': True,
                                 'bad': math.nan, 'inf': math.inf, 'scores': {'1': 0.5},
                                 'video': 'media/x.mp4'})
    log.close()
    assert _scalars(tmp_path) == {'test/mean_score': [(3, 0.75)], 'eval/loss': [(3, 0.25)]}


def test_a_resume_hides_the_tensorboard_events_after_its_step(tmp_path):
    """The stopped run logged steps 1..6, its state was of step 3: the resumed run's steps 4
    and 5 replace the old ones, the old step 6 is gone, and step 3's own records, logged
    before the state was saved, stay (a purge from step 3 hid them)."""
    log = RunLog(tmp_path)
    for step in range(1, 7):
        log.emit('train', step, 0, 0.0, {'loss': float(step)})
    log.close()
    # TensorBoard reads event files in name order, time in whole seconds first, then a per-
    # process writer count: a resume in the same second, after the 10th writer of this test
    # process, would sort before the run it resumes (a real resume is another process, seconds
    # later)
    second = int(time.time())
    while int(time.time()) == second:
        time.sleep(0.02)
    log = RunLog(tmp_path, resume_step=3)
    for step in (4, 5):
        log.emit('train', step, 0, 0.0, {'loss': 10.0 + step})
    log.close()
    loss = _scalars(tmp_path)['train/loss']
    assert [s for s in loss if s[0] > 3] == [(4, 14.0), (5, 15.0)]
    assert [s for s in loss if s[0] <= 3] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    # log.jsonl drops the old steps past 3 too (else the old 6 would plot as this run's)
    assert [json.loads(x)['step'] for x in _lines(tmp_path) if x] == [1, 2, 3, 4, 5]


def test_a_resume_with_no_record_past_its_step_leaves_the_log_as_it_is(tmp_path):
    text = '{"event": "train", "step": 1}\n{"event": "end", "step": 2}\n'
    (tmp_path / LOG_FILE).write_text(text)
    mtime = (tmp_path / LOG_FILE).stat().st_mtime_ns
    RunLog(tmp_path, resume_step=2).close()
    assert (tmp_path / LOG_FILE).read_text() == text
    assert (tmp_path / LOG_FILE).stat().st_mtime_ns == mtime


@pytest.mark.parametrize('before', ['', '{"event": "train", "step": 1}\n'])
def test_an_appended_log_adds_no_blank_line(tmp_path, before):
    if before:
        (tmp_path / LOG_FILE).write_text(before)
    log = RunLog(tmp_path, resume_step=1)
    log.emit('train', 2, 0, 0.0, {})
    log.close()
    lines = _lines(tmp_path)
    assert lines[-1] == '' and all(lines[:-1]) and len(lines) == (3 if before else 2)


@pytest.mark.parametrize('resume_step', [1, 2])
def test_a_line_cut_short_by_a_kill_is_closed_before_the_next_record(tmp_path, resume_step):
    """A resume drops the line a kill cut short, with the records past its step (none when
    resumed from step 2): the next record starts a line of its own."""
    (tmp_path / LOG_FILE).write_text('{"event": "train", "step": 2}\n{"event": "tra')
    log = RunLog(tmp_path, resume_step=resume_step)
    log.emit('train', 3, 0, 0.0, {'loss': 1.0})
    log.close()
    lines = _lines(tmp_path)
    assert [json.loads(x)['step'] for x in lines if x.endswith('}') and 'tra"' not in x] == (
        [3] if resume_step == 1 else [2, 3])
    assert lines[-1] == '' and ('{"event": "tra' in lines) is False


def test_a_disabled_log_writes_nothing(tmp_path):
    log = RunLog(tmp_path / 'run', enabled=False)
    log.emit('train', 1, 0, 0.0, {'loss': 1.0})
    log.plot()
    log.close()
    assert not (tmp_path / 'run').exists()


def test_a_plot_that_fails_is_a_warning(tmp_path, caplog):
    log = RunLog(tmp_path)
    (tmp_path / LOG_FILE).write_text('{"event": "train", "step": "x"}\n')
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        log.plot()
    log.close()
    assert 'could not plot the training curves' in caplog.text


def test_a_new_run_sets_an_earlier_runs_files_aside_whole_and_never_over_another(tmp_path):
    """set_aside_earlier_run moves every file a run writes, and only those, into
    earlier_runs/<n>, one past the highest there; a folder without a run's files is left."""
    from training.run_dir import RUN_FILES, set_aside_earlier_run

    assert set_aside_earlier_run(tmp_path, '') is None
    (tmp_path / 'notes.txt').write_text('mine')
    for name in RUN_FILES:
        if '.' in name:
            (tmp_path / name).write_text(name)
        else:
            (tmp_path / name).mkdir()
            (tmp_path / name / 'x').write_text(name)
    (tmp_path / 'earlier_runs' / '3').mkdir(parents=True)
    (tmp_path / 'earlier_runs' / 'misc').mkdir()
    dest = set_aside_earlier_run(tmp_path, '')
    assert dest == tmp_path / 'earlier_runs' / '4'
    assert sorted(p.name for p in dest.iterdir()) == sorted(RUN_FILES)
    assert (dest / 'train_state' / 'x').read_text() == 'train_state'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['earlier_runs', 'notes.txt']
    (tmp_path / LOG_FILE).write_text('{}\n')
    assert set_aside_earlier_run(tmp_path, '') == tmp_path / 'earlier_runs' / '5'
    assert (tmp_path / 'earlier_runs' / '5' / LOG_FILE).read_text() == '{}\n'
