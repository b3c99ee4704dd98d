"""`dp-ros plot RUN1 RUN2` chains a warm-started stage at the step of the checkpoint it started
from (train.init_from: a step_* snapshot of RUN1, say), not after RUN1's last step: a stage
started from step 4000 of a run that went on to 8000 is drawn from 4000, the curve broken
there rather than drawn back; unknown or foreign starting points keep the old chaining."""
from __future__ import annotations

import json
import math

import yaml

from training.plots import PANELS, main, panel_lines, read_log, warm_start_step

LOSS = [title for title, *_ in PANELS].index('loss')


def write_run(run, steps, init_from=None, snapshots=()):
    """A run directory: log.jsonl with a loss per step, config.yaml naming init_from, and
    checkpoints/<name>/policy.json recording each snapshot's step."""
    run.mkdir(parents=True)
    (run / 'log.jsonl').write_text(''.join(
        json.dumps({'event': 'train', 'step': s, 'loss': 1.0 / s}) + '\n' for s in steps))
    (run / 'config.yaml').write_text(yaml.safe_dump({'train': {'init_from': init_from}}))
    for name, step in snapshots:
        (run / 'checkpoints' / name).mkdir(parents=True)
        (run / 'checkpoints' / name / 'policy.json').write_text(
            json.dumps({'provenance': {'step': step}}))
    return run


def runs_of(*dirs):
    return [(d.name, read_log(d / 'log.jsonl')) for d in dirs]


def test_a_stage_from_an_earlier_snapshot_starts_at_its_step(tmp_path):
    one = write_run(tmp_path / 'one', [2000, 4000, 6000, 8000],
                    snapshots=[('step_004000', 4000), ('latest', 8000)])
    two = write_run(tmp_path / 'two', [1000, 2000],
                    init_from=str(one / 'checkpoints' / 'step_004000'))
    assert warm_start_step(two, one) == 4000
    (loss,) = panel_lines(runs_of(one, two), warm_steps=[None, 4000])[LOSS]
    assert loss.steps == [2000, 4000, 6000, 8000, 4000, 5000, 6000]
    assert math.isnan(loss.values[4])  # the line breaks, it is not drawn back to 4000
    assert loss.values[5:] == [1.0 / 1000, 1.0 / 2000]


def test_a_relative_init_from_is_read_wherever_plot_runs(tmp_path, monkeypatch):
    """init_from as given to train, relative to where it ran (runs/one/checkpoints/...):
    plot run from elsewhere placed the stage after the previous one's last step, silently."""
    one = write_run(tmp_path / 'runs' / 'one', [2000, 4000, 8000],
                    snapshots=[('step_004000', 4000)])
    two = write_run(tmp_path / 'runs' / 'two', [1000],
                    init_from='runs/one/checkpoints/step_004000')
    for where in (tmp_path, tmp_path / 'runs', one):
        monkeypatch.chdir(where)
        assert warm_start_step(two, one) == 4000, where


def test_a_stage_from_the_run_directory_follows_its_latest_step(tmp_path):
    """init_from RUN1 (its checkpoints/latest, step 8000): after its last step, no break."""
    one = write_run(tmp_path / 'one', [4000, 8000], snapshots=[('latest', 8000)])
    two = write_run(tmp_path / 'two', [1000], init_from=str(one))
    assert warm_start_step(two, one) == 8000
    (loss,) = panel_lines(runs_of(one, two), warm_steps=[None, 8000])[LOSS]
    assert loss.steps == [4000, 8000, 9000]


def test_an_unknown_or_foreign_start_keeps_the_chaining(tmp_path):
    """No init_from, a checkpoint of another run, or one whose files are gone: None."""
    one = write_run(tmp_path / 'one', [10], snapshots=[('step_000005', 5)])
    other = write_run(tmp_path / 'other', [10], snapshots=[('step_000005', 5)])
    assert warm_start_step(write_run(tmp_path / 'fresh', [1]), one) is None
    assert warm_start_step(write_run(tmp_path / 'foreign', [1], init_from=str(
        other / 'checkpoints' / 'step_000005')), one) is None
    assert warm_start_step(write_run(tmp_path / 'gone', [1], init_from=str(
        one / 'checkpoints' / 'step_000009')), one) is None
    assert warm_start_step(tmp_path / 'no_config', one) is None


def test_the_command_draws_the_stage_at_the_snapshot(tmp_path, monkeypatch, capsys):
    """`dp-ros plot one two`: the dashed stage line at 4000."""
    from matplotlib.axes import Axes

    one = write_run(tmp_path / 'one', [2000, 4000, 6000, 8000],
                    snapshots=[('step_004000', 4000)])
    two = write_run(tmp_path / 'two', [1000, 2000],
                    init_from=str(one / 'checkpoints' / 'step_004000'))
    marks: list[float] = []
    axvline = Axes.axvline

    def keep(ax, x=0, *args, **kwargs):
        marks.append(x)
        return axvline(ax, x, *args, **kwargs)

    monkeypatch.setattr(Axes, 'axvline', keep)
    assert main([str(one), str(two), '--out', str(tmp_path / 'c.png')]) == 0
    assert set(marks) == {4000}
    assert (tmp_path / 'c.png').is_file()


def test_the_run_config_name_is_the_run_directorys():
    """plots cannot import training.run_dir (run_dir -> run_log -> plots): the name is kept
    equal here."""
    from training.plots import RUN_CONFIG
    from training.run_dir import CONFIG_FILE

    assert RUN_CONFIG == CONFIG_FILE
