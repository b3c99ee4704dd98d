"""Review tests of training/plots.py: reading a log, the series after a resume, and where
chained stages start."""
from __future__ import annotations

import json

import pytest

from dp_ros.errors import UserError
from training.plots import PANELS, panel_lines, read_log, series, stage_starts, y_scale

LOSS = [title for title, *_ in PANELS].index('loss')


def test_a_boolean_step_is_no_number(tmp_path):
    """JSON true is a bool (an int subclass in Python): not a step, a UserError on its line."""
    log = tmp_path / 'log.jsonl'
    log.write_text('{"event": "train", "step": 1, "loss": 1.0}\n'
                   '{"event": "train", "step": true, "loss": 1.0}\n')
    with pytest.raises(UserError, match='line 2: step True is not a number'):
        read_log(log)


def test_after_a_resume_the_latest_record_of_a_step_wins():
    """A step logged twice (a run resumed from an earlier checkpoint): the later value."""
    records = [{'event': 'train', 'step': s, 'loss': float(s)} for s in (1, 2, 3)]
    records += [{'event': 'train', 'step': 2, 'loss': 20.0},
                {'event': 'train', 'step': 3, 'loss': 30.0}]
    assert series(records, 'train', 'loss') == ([1, 2, 3], [1.0, 20.0, 30.0])


def test_null_values_and_other_events_are_left_out():
    """A key logged as null (no value that step) and other events draw no point."""
    records = [{'event': 'val', 'step': 1, 'val_loss': None},
               {'event': 'val', 'step': 2, 'val_loss': 0.5},
               {'event': 'train', 'step': 3, 'val_loss': 9.0}]
    assert series(records, 'val', 'val_loss') == ([2], [0.5])


def test_chained_stages_start_after_the_sum_of_the_earlier_stages():
    """Three stages of 3, 2 and 4 steps start at 0, 3 and 5 on the common axis."""
    runs = [(name, [{'event': 'train', 'step': s, 'loss': 1.0} for s in range(1, n + 1)])
            for name, n in (('a', 3), ('b', 2), ('c', 4))]
    assert stage_starts(runs) == [0, 3, 5]
    (loss,) = panel_lines(runs)[LOSS]
    assert loss.steps == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_a_log_line_cut_short_is_skipped_not_fatal(tmp_path):
    """The last line of a killed run is half written: the complete records are kept."""
    log = tmp_path / 'log.jsonl'
    log.write_text(json.dumps({'event': 'train', 'step': 1, 'loss': 1.0}) + '\n{"event": "tr')
    assert read_log(log) == [{'event': 'train', 'step': 1, 'loss': 1.0}]


@pytest.mark.parametrize('step', ['NaN', 'Infinity'])
def test_a_step_that_is_nan_or_infinite_is_no_number(tmp_path, capsys, step):
    """read_log's contract: a step that is no number is a UserError (`dp-ros plot`: exit 2)."""
    from dp_ros.cli import run_subcommand

    log = tmp_path / 'log.jsonl'
    log.write_text('{"event": "train", "step": 1, "loss": 1.0}\n'
                   f'{{"event": "train", "step": {step}, "loss": 2.0}}\n')
    assert run_subcommand('plot', [str(log), '--out', str(tmp_path / 'c.png')]) == 2
    assert 'is not a training log' in capsys.readouterr().err


def test_a_log_panel_falls_back_to_linear_when_a_drawn_value_is_not_above_zero():
    """A log axis cannot show 0 or a negative value: such a panel is linear; NaN and inf are
    not drawn and do not decide, wherever they fall (min() of a list led by NaN is NaN)."""
    assert y_scale([1.0, 0.1], True) == 'log'
    assert y_scale([1.0, 0.1], False) == 'linear'
    assert y_scale([1.0, 0.0], True) == 'linear'
    assert y_scale([-0.5, 2.0], True) == 'linear'
    assert y_scale([], True) == 'linear'
    assert y_scale([float('nan'), float('inf')], True) == 'linear'
    for values in ([float('nan'), 1.0, 0.5], [1.0, float('nan'), 0.5], [float('inf'), 0.5]):
        assert y_scale(values, True) == 'log', values


def test_plot_refuses_an_out_that_is_a_folder_and_a_log_without_training_records(tmp_path):
    """`dp-ros plot`: --out naming a folder is one line naming --out (an internal temporary
    file's name before); a log holding no 'train' record (a run stopped before its first
    logged step) is one line, not empty panels and exit 0."""
    from training.plots import main

    log = tmp_path / 'log.jsonl'
    log.write_text(json.dumps({'event': 'train', 'step': 1, 'loss': 1.0}) + '\n')
    with pytest.raises(UserError, match='--out .* is a directory'):
        main([str(log), '--out', str(tmp_path)])
    log.write_text(json.dumps({'event': 'end', 'step': 0}) + '\n')
    with pytest.raises(UserError, match='no training records in'):
        main([str(log), '--out', str(tmp_path / 'c.png')])
    assert not (tmp_path / 'c.png').exists()
