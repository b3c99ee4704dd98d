"""`dp-ros inspect --plot`: colour is the dimension and line style the episode. Pinned: every
plotted episode has a style of its own (they cycled every 4, so episodes 0 and 4 were drawn
alike) and the figure says which style is which episode (its legend showed colours only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

import training.plots as plots
from training.inspect_dataset import episode_style, main
from training.replay_buffer import ReplayBuffer


def dashes(line: Line2D) -> str:
    """A line's dash pattern as drawn (matplotlib has no public getter for it)."""
    return str(line._unscaled_dash_pattern)


def test_every_episode_has_its_own_line_style():
    styles = [episode_style(i) for i in range(20)]
    assert len({str(s) for s in styles}) == 20
    assert styles[:4] == ['-', '--', ':', '-.']  # the first four as before


def test_the_figure_maps_each_line_style_to_its_episode(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer.create(tmp_path / 'd.zarr')
    for n in (12, 10, 11, 9, 12, 10):
        buffer.add_episode({'action': rng.normal(size=(n, 2)).astype(np.float32),
                            'state': rng.normal(size=(n, 3)).astype(np.float32)})
    figures = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, out: figures.append(fig) or Path(out))
    assert main([str(tmp_path / 'd.zarr'), '--no-progress', '--episodes', '0:6',
                 '--plot', str(tmp_path / 'd.png')]) == 0
    (fig,) = figures
    action = fig.axes[0]
    # within one dimension (one colour) the six episodes' lines all differ
    lines = [line for line in action.get_lines() if line.get_color() == 'C0']
    assert len(lines) == 6
    assert len({dashes(line) for line in lines}) == 6
    legends = fig.findobj(Legend)  # the style legend is the figure's, above the panels
    texts = [[t.get_text() for t in legend.get_texts()] for legend in legends]
    assert [f'episode {e}' for e in range(6)] in texts  # the style legend
    assert ['[0]', '[1]'] in texts  # the colour (dimension) legend is kept beside it
    style = legends[[t[0] for t in texts].index('episode 0')]
    assert [dashes(h) for h in style.legend_handles] == [dashes(line) for line in lines]
