"""`dp-ros plot`: the figure names the run(s) it shows. A curves.png passed around (a chat, a
slide, the README) loses its file name and command line, and a figure that does not say
which run it is can be mistaken for another one's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import training.plots as plots


def write_run(root: Path, name: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / 'log.jsonl').write_text(''.join(
        json.dumps({'event': 'train', 'step': s, 'loss': 1.0 / s, 'lr': 1e-4}) + '\n'
        for s in range(1, 5)))
    return run


@pytest.fixture
def titles(monkeypatch) -> list[str]:
    """The suptitle of each figure plot_training_curves draws (save_figure is not run)."""
    seen: list[str] = []

    def keep(fig, out_path):
        seen.append(fig.get_suptitle())
        return Path(out_path)

    monkeypatch.setattr(plots, 'save_figure', keep)
    return seen


def test_a_single_run_is_named_on_its_figure(tmp_path, titles):
    run = write_run(tmp_path, 'pusht_seed42')
    assert plots.main([str(run), '--out', str(tmp_path / 'c.png')]) == 0
    assert titles == ['run pusht_seed42']


def test_chained_stages_and_compared_runs_are_named_in_order(tmp_path, titles):
    a, b = write_run(tmp_path, 'stage1'), write_run(tmp_path, 'stage2')
    assert plots.main([str(a), str(b), '--out', str(tmp_path / 'c.png')]) == 0
    assert plots.main([str(a), str(b), '--compare', '--names', 'joint', 'pose',
                       '--out', str(tmp_path / 'c.png')]) == 0
    assert titles == ['stages stage1 -> stage2', 'compared: joint, pose']


def test_a_long_title_is_wrapped_inside_the_figure():
    names = [f'a_rather_long_run_directory_name_{i}' for i in range(5)]
    title = plots.figure_title(names, compare=False)
    assert max(len(line) for line in title.splitlines()) <= 90
    assert title.replace('\n', ' ') == 'stages ' + ' -> '.join(names)
