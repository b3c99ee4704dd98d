"""`dp-ros open-loop --plot`: the legend explains every kind of line drawn and the figure
names the policy and the dataset. Pinned: the legend had one entry, a blue 'predicted
(executed)', while the chunks alternate blue and orange and each one's plan past its
executed steps is dotted; and a PNG passed around did not say which policy it shows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D

import training.plots as plots
from training.open_loop import EpisodeChunks, plot_open_loop


def draw(tmp_path, monkeypatch, title: str | None):
    """The figure of one 20-step episode planned every 4 steps (horizon 8, To 2, Ta 4)."""
    rng = np.random.default_rng(0)
    chunks = EpisodeChunks(episode=3, recorded=rng.normal(size=(20, 2)),
                           starts=[0, 4, 8, 12, 16], predicted=rng.normal(size=(5, 8, 2)))
    metrics = {'episodes': [{'episode': 3, 'rmse_norm': 0.2, 'hold_rmse_norm': 0.5}]}
    figures = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, out: figures.append(fig) or Path(out))
    plot_open_loop([chunks], [('worst', 3)], metrics, ['x', 'y'], 0.1, 2, 4,
                   tmp_path / 'ol.png', title=title)
    return figures[0]


def test_the_legend_names_the_recorded_the_executed_and_the_rest_of_the_plan(
        tmp_path, monkeypatch):
    fig = draw(tmp_path, monkeypatch, None)
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ['recorded', 'predicted, executed (chunks alternate colours)',
                      'predicted, rest of the plan']
    # its entries show both chunk colours, solid and dotted, as the chunks are drawn
    drawn = {(to_hex(line.get_color()), line.get_linestyle())
             for line in fig.axes[0].get_lines()[1:]}
    shown = {(to_hex(line.get_color()), line.get_linestyle())
             for line in legend.findobj(Line2D)}
    assert drawn <= shown
    assert len(drawn) == 4  # blue and orange, solid and dotted
    assert fig.get_suptitle() == ''  # no title given: none drawn


def test_the_figure_names_the_policy_and_the_dataset(tmp_path, monkeypatch):
    title = 'open loop: runs/pusht/checkpoints/best on data/pusht_cchi_v7_replay.zarr'
    assert draw(tmp_path, monkeypatch, title).get_suptitle().replace('\n', ' ') == title
    long = 'open loop: ' + 'a/very/long/path/' * 10 + ' on ' + 'data/' * 10
    lines = draw(tmp_path, monkeypatch, long).get_suptitle().splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 55  # wrapped to the 5.5-inch figure
