"""dp-ros plot: what goes on which panel, chained as warm-start stages or compared."""
from __future__ import annotations

import json

from training.plots import PANELS, main, panel_lines

LOSS = [title for title, *_ in PANELS].index('loss')
SCORE = [title for title, *_ in PANELS].index('test mean_score')


def records(steps: range, loss: float, score_at: int | None = None) -> list[dict]:
    out = [{'event': 'train', 'step': s, 'loss': loss + s, 'lr': 1e-4} for s in steps]
    if score_at is not None:
        out.append({'event': 'eval', 'step': score_at, 'test/mean_score': 0.5})
    return out


def test_chained_runs_follow_one_another_on_one_step_axis():
    runs = [('a', records(range(1, 4), 0.0)), ('b', records(range(1, 3), 10.0, score_at=2))]
    lines = panel_lines(runs)
    (loss,) = lines[LOSS]  # val_loss is in neither log: no line for it
    assert loss.label == 'loss' and loss.steps == [1, 2, 3, 4, 5]
    assert loss.values == [1.0, 2.0, 3.0, 11.0, 12.0]
    (score,) = lines[SCORE]
    assert score.steps == [5]


def test_compared_runs_start_at_their_own_step_zero_a_line_each():
    runs = [('joint', records(range(1, 4), 0.0, score_at=3)),
            ('pose', records(range(1, 3), 10.0, score_at=2))]
    lines = panel_lines(runs, compare=True)
    assert [(line.label, line.steps, line.run) for line in lines[LOSS]] == [
        ('joint: loss', [1, 2, 3], 0), ('pose: loss', [1, 2], 1)]
    assert [(line.steps, line.values) for line in lines[SCORE]] == [([3], [0.5]), ([2], [0.5])]


def test_plot_compare_writes_a_png_and_refuses_labels_that_do_not_fit(tmp_path, capsys):
    logs = []
    for name, base in (('joint', 0.0), ('pose', 10.0)):
        run = tmp_path / name
        run.mkdir()
        (run / 'log.jsonl').write_text(
            ''.join(json.dumps(r) + '\n' for r in records(range(1, 5), base, score_at=4)))
        logs.append(str(run))
    out = tmp_path / 'cmp.png'
    assert main([*logs, '--compare', '--out', str(out)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert main([*logs, '--compare', '--names', 'only-one', '--out', str(out)]) == 2
    assert main([*logs, '--compare', '--names', 'x', 'x', '--out', str(out)]) == 2
    assert '--names needs one distinct label per log (2)' in capsys.readouterr().err
    # without --compare too (was a zip() traceback)
    assert main([*logs, '--names', 'only-one', '--out', str(out)]) == 2
    assert '--names needs one label per log (2)' in capsys.readouterr().err
    # runs named by their log.jsonl files are labelled by their directories, as run dirs are
    assert main([f'{log}/log.jsonl' for log in logs] + ['--compare', '--out', str(out)]) == 0
    # chained stages need no labels: two stages of the same name are still one figure
    stage = tmp_path / 'again' / 'joint'
    stage.mkdir(parents=True)
    (stage / 'log.jsonl').write_text((tmp_path / 'joint' / 'log.jsonl').read_text())
    assert main([logs[0], str(stage), '--out', str(tmp_path / 'chained.png')]) == 0


def test_a_file_that_is_no_training_log_is_one_line(tmp_path, capsys):
    """`dp-ros plot` given a binary file or JSON lines that are no records: one line, exit 2
    (a UnicodeDecodeError or TypeError traceback before); nothing is drawn."""
    from dp_ros.cli import run_subcommand

    (tmp_path / 'model.safetensors').write_bytes(b'\x80\x81\xfe\xff' * 64)
    (tmp_path / 'list.jsonl').write_text('[1, 2]\n[3]\n')
    (tmp_path / 'steps.jsonl').write_text('{"event": "train", "step": "ten", "loss": 1}\n')
    for name, words in (('model.safetensors', 'not UTF-8 text'),
                        ('list.jsonl', 'line 1 is JSON but not a record'),
                        ('steps.jsonl', "step 'ten' is not a number")):
        out = tmp_path / 'curves.png'
        assert run_subcommand('plot', [str(tmp_path / name), '--out', str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith(f'dp-ros plot: {tmp_path / name} is not a training log')
        assert words in err, err
        assert not out.exists()
    # a line cut short by a kill is still skipped
    (tmp_path / 'cut.jsonl').write_text('{"event": "train", "step": 1, "loss": 1.0}\n'
                                        '{"event": "train", "st')
    assert main([str(tmp_path / 'cut.jsonl'), '--out', str(tmp_path / 'cut.png')]) == 0
