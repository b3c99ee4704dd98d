"""`dp-ros plot` of a log with a damaged record (one without its step, a drawn value that is
a string or a list) is refused in one line naming the file and the line, exit 2, as
read_log promises for a file that is not a training log; it was a KeyError, ValueError or
TypeError traceback. Such a value is refused rather than left out of the curve: the trainer
never writes one. Found by exploratory testing."""
from __future__ import annotations

import pytest

from dp_ros.cli import run_subcommand


@pytest.mark.parametrize(('line', 'why'), [
    ('{"event": "train", "loss": 1.0}', 'line 2: a record without a step'),
    ('{"event": "train", "step": 1, "loss": "abc"}', "line 2: loss 'abc' is not a number"),
    ('{"event": "train", "step": 1, "loss": [1]}', 'line 2: loss [1] is not a number'),
    ('{"event": "eval", "step": 1, "test/mean_score": true}',
     'line 2: test/mean_score True is not a number'),
])
def test_a_damaged_record_is_one_line_naming_file_and_line(tmp_path, capsys, line, why):
    log = tmp_path / 'log.jsonl'
    log.write_text('{"event": "train", "step": 0, "loss": 2.0}\n' + line + '\n')
    assert run_subcommand('plot', [str(log), '--out', str(tmp_path / 'c.png')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'dp-ros plot: {log} is not a training log ({why})'), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'c.png').exists()


def test_values_that_are_not_drawn_and_null_or_nan_values_are_no_damage(tmp_path, capsys):
    """A string under a key no panel draws (a video path), a null value (none that step) and
    a NaN loss (a diverged run: a gap in the curve) are what the trainer writes."""
    log = tmp_path / 'log.jsonl'
    log.write_text('{"event": "train", "step": 0, "loss": 2.0, "note": "x"}\n'
                   '{"event": "val", "step": 1, "val_loss": null}\n'
                   '{"event": "train", "step": 2, "loss": NaN, "lr": 1}\n')
    assert run_subcommand('plot', [str(log), '--out', str(tmp_path / 'c.png')]) == 0
    assert (tmp_path / 'c.png').read_bytes()[:4] == b'\x89PNG'
