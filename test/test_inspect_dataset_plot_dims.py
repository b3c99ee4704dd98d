"""`dp-ros inspect --plot` on keys of many dimensions (two arms: 14 joints): every dimension
drawn or the title says how many of how many, each drawn dimension a colour of its own, and
legends that cover neither the data nor each other. It cut 14 to 12 silently, drew [10] and
[11] in the colours of [0] and [1], and the episode legend covered dimension entries."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.legend import Legend
from test_inspect_dataset import write_store

from training.inspect_dataset import PLOT_DIMS_MAX, dataset_figure, main
from training.replay_buffer import ReplayBuffer

ARM = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'gripper']
TWO_ARMS = [f'{side}_{joint}' for side in ('left', 'right') for joint in ARM]


def two_arm_store(path, n_episodes: int = 4, wide: int = 30) -> ReplayBuffer:
    """An ALOHA-like store: 14-dimension state and action (names recorded) and a `wide`-
    dimension keypoint key."""
    rng = np.random.default_rng(0)
    episodes = [{'action': np.cumsum(rng.normal(0, 0.1, (30, 14)), 0).astype(np.float32),
                 'state': np.cumsum(rng.normal(0, 0.1, (30, 14)), 0).astype(np.float32),
                 'keypoints': rng.normal(0, 1, (30, wide)).astype(np.float32)}
                for _ in range(n_episodes)]
    write_store(path, episodes)
    buffer = ReplayBuffer.open(path, mode='r+')
    for key in ('action', 'state'):
        buffer.data[key].attrs['names'] = TWO_ARMS
    return ReplayBuffer.open(path)


def panel(fig, key: str):
    """The axes of a key's panel (titled by the key)."""
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(f'{key} (')]
    return ax


def labelled_lines(ax) -> list:
    """The lines that carry a dimension's legend entry: the first episode's."""
    return [line for line in ax.get_lines() if not line.get_label().startswith('_')]


def test_every_dimension_of_two_arms_is_drawn_in_a_colour_of_its_own(tmp_path):
    fig = dataset_figure(two_arm_store(tmp_path / 'd.zarr'), [0, 1, 2, 3])
    try:
        for ax in (panel(fig, 'action'), panel(fig, 'state')):
            labelled = labelled_lines(ax)
            assert [line.get_label() for line in labelled] == [
                f'[{d}] {name}' for d, name in enumerate(TWO_ARMS)]
            assert len({to_rgb(line.get_color()) for line in labelled}) == 14
            assert len(ax.get_lines()) == 14 * 4
            assert 'of 14' not in ax.get_title()  # all shown: nothing to say
    finally:
        plt.close(fig)


def test_a_key_of_more_dimensions_than_drawn_says_how_many_are_shown(tmp_path):
    fig = dataset_figure(two_arm_store(tmp_path / 'd.zarr', wide=30), [0, 1])
    try:
        ax = panel(fig, 'keypoints')
        assert f'dimensions 0-{PLOT_DIMS_MAX - 1} of 30 shown' in ax.get_title()
        labelled = labelled_lines(ax)
        assert len(labelled) == PLOT_DIMS_MAX
        assert len({to_rgb(line.get_color()) for line in labelled}) == PLOT_DIMS_MAX
    finally:
        plt.close(fig)


def test_the_legends_cover_neither_the_data_nor_each_other(tmp_path):
    """Drawn: no legend overlaps a panel's plotting area or another legend, and each lies
    inside the figure (the saved file is cut at its edge)."""
    fig = dataset_figure(two_arm_store(tmp_path / 'd.zarr', wide=6), [0, 1, 2, 3])
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = fig.findobj(Legend)
        texts = [[t.get_text() for t in legend.get_texts()] for legend in legends]
        assert [f'episode {e}' for e in range(4)] in texts
        boxes = [legend.get_window_extent(renderer) for legend in legends]
        for i, box in enumerate(boxes):
            assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
            for ax in fig.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), (texts[i], ax)
            for j, other in enumerate(boxes[:i]):
                assert not box.overlaps(other), (texts[i], texts[j])
    finally:
        plt.close(fig)


def test_the_plot_of_two_arms_is_written(tmp_path, capsys):
    two_arm_store(tmp_path / 'd.zarr')
    out = tmp_path / 'd.png'
    main([str(tmp_path / 'd.zarr'), '--no-progress', '--plot', str(out)])
    assert out.stat().st_size > 0 and f'plot: {out}' in capsys.readouterr().out
