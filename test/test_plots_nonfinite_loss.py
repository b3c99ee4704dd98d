"""`dp-ros plot` of a run whose loss became NaN or inf. Pinned: the curve just ended at the
last finite loss, which reads like a run cut short; now a dotted line marks the first
non-finite step on every panel, the loss panel's legend says "loss not finite (nan) from
step N", and the command prints that line once on stderr. The log is written the way
training/run_log.py writes it (json.dumps: NaN, Infinity; then the 'end' record)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training import plots


def write_run(run: Path, losses: list[float]) -> Path:
    """A log.jsonl as RunLog.emit writes it: a train record per step, then the error 'end'."""
    run.mkdir(parents=True)
    lines = [json.dumps({'event': 'train', 'step': step, 'epoch': 0, 'wall_time': 1.0e9,
                         'elapsed_s': 0.1 * step, 'loss': loss, 'lr': 1e-4,
                         'samples_per_s': 100.0, 'ema_decay': None})
             for step, loss in enumerate(losses, start=1)]
    lines.append(json.dumps({'event': 'end', 'step': len(losses), 'epoch': 0,
                             'wall_time': 1.0e9, 'elapsed_s': 1.0, 'interrupted': None,
                             'best_score': None, 'error': 'the training loss became NaN'}))
    (run / 'log.jsonl').write_text('\n'.join(lines) + '\n')
    return run


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures plot_training_curves draws, kept open instead of saved."""
    kept: list = []

    def keep(fig, out_path):
        kept.append(fig)
        return Path(out_path)

    monkeypatch.setattr(plots, 'save_figure', keep)
    return kept


def markers(ax, step: float) -> list:
    return [line for line in ax.get_lines()
            if list(line.get_xdata()) == [step, step] and line.get_linestyle() == ':']


def test_a_nan_loss_is_marked_on_every_panel_and_printed_once(tmp_path, figures, capsys):
    run = write_run(tmp_path / 'run', [0.9, 0.5, math.nan])
    assert '"loss": NaN' in (run / 'log.jsonl').read_text()  # what training writes
    assert plots.main([str(run), '--out', str(tmp_path / 'curves.png')]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ['dp-ros plot: loss not finite (nan) from step 3']
    (fig,) = figures
    axes = fig.get_axes()
    assert all(markers(ax, 3) for ax in axes)
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert 'loss not finite (nan) from step 3' in legend


def test_a_clean_run_has_no_marker_and_prints_nothing(tmp_path, figures, capsys):
    run = write_run(tmp_path / 'run', [0.9, 0.5, 0.4])
    assert plots.main([str(run), '--out', str(tmp_path / 'curves.png')]) == 0
    assert capsys.readouterr().err == ''
    (fig,) = figures
    assert not any(line.get_linestyle() == ':' for ax in fig.get_axes()
                   for line in ax.get_lines())


def test_compared_and_chained_runs_name_the_run_and_its_own_step():
    """Infinity too; compared: each run from step 0; chained: on the stage's axis."""
    ok = [{'event': 'train', 'step': s, 'loss': 1.0} for s in (1, 2, 3)]
    bad = [{'event': 'train', 'step': 1, 'loss': 1.0}, {'event': 'train', 'step': 2,
                                                         'loss': math.inf},
           {'event': 'val', 'step': 2, 'val_loss': math.nan}]
    runs = [('a', ok), ('b', bad)]
    assert plots.first_nonfinite(runs, compare=True) == [
        plots.NonFinite('b: loss not finite (inf) from step 2', 2, 1)]
    assert plots.first_nonfinite(runs) == [  # b follows a's last step, 3
        plots.NonFinite('b: loss not finite (inf) from step 2', 5, 1)]
    assert plots.first_nonfinite([('b', bad)]) == [
        plots.NonFinite('loss not finite (inf) from step 2', 2, 0)]
