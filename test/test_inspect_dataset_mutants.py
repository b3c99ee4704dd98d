"""`dp-ros inspect` of a dataset (training/inspect_dataset.py): behaviour a second mutation
review found no test of, each test naming what it guards. The --plot figure of episodes
that do not start at 0 (`--episodes 2:4`): each panel draws episodes 2 and 3 (not 0 and 1
under their labels), its title and the style legend name them, their line styles are the
legend's, the histogram counts every episode; a key of exactly PLOT_DIMS_MAX dimensions says
no "of N shown". The findings: a constant dimension far from 0 is no float32 warning, signed
int images have numpy's statistics, float images scaled 0..1 are an error whatever their
float width. The command: --draft-config beside a dataset and --video beside bags are
refused, not ignored.

Two tests pin defects of the bag draft (training/inspect_bags.py) the review found, each
failing before its fix: joints whose names shifted between bags ([a, b] then [b, c]) were said
"paired by position" under a rename that could not take effect, and a 20 Hz stream at a 0.1 s
control period (period == tolerance) got no tolerance of its own, so its jitter split episodes.

Real zarr stores (test_inspect_dataset's write_store), real bags (BagRecorder); figures are
checked through their matplotlib objects."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_inspect_bags import PERIOD, WALL, write_camera_bag
from test_inspect_bags_edges import CAMERA, draft, write_bag
from test_inspect_dataset import clean_episode, write_store

from dp_ros.bags.recorder import BagRecorder, image_message, joint_state_message
from dp_ros.errors import UserError
from training import bag2zarr
from training.inspect_dataset import (
    PLOT_DIMS_MAX,
    dataset_figure,
    episode_style,
    main,
    summarize,
)
from training.replay_buffer import ReplayBuffer

MS = 1_000_000

# --- the --plot figure of episodes 2 and 3 of 5 -------------------------------------------------

LENGTHS = [12, 14, 16, 18, 20]


def five_episode_store(path) -> ReplayBuffer:
    """Five episodes of different lengths whose values say their episode: action[e] is
    100 e + its step (dimension 0) and -(100 e + step) (dimension 1)."""
    episodes = []
    for e, n in enumerate(LENGTHS):
        steps = 100.0 * e + np.arange(n)
        action = np.stack([steps, -steps], 1).astype(np.float32)
        episodes.append({'action': action, 'state': action + 0.5})
    return write_store(path, episodes)


@pytest.fixture
def figure(tmp_path):
    buffer = five_episode_store(tmp_path / 'd.zarr')
    fig = dataset_figure(buffer, [2, 3])
    yield buffer, fig
    plt.close(fig)


def panel(fig, key: str):
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(f'{key} (')]
    return ax


def test_the_plot_draws_the_chosen_episodes_not_the_first_ones(figure):
    """`--episodes 2:4`: the lines are episodes 2 and 3, each in the order plotted (one line
    per dimension per episode), not episodes 0 and 1 under the labels 2 and 3."""
    buffer, fig = figure
    for key in ('action', 'state'):
        lines = panel(fig, key).get_lines()
        assert len(lines) == 2 * 2
        for i, episode in enumerate([2, 3]):
            want = np.asarray(buffer.data[key][buffer.episode_slice(episode)], np.float64)
            for d in range(2):
                np.testing.assert_array_equal(lines[2 * i + d].get_ydata(), want[:, d])


def test_the_plot_names_the_chosen_episodes_and_counts_every_episode(figure):
    """The panel titles and the style legend say episodes 2 and 3 (not positions 0 and 1);
    the histogram of lengths holds all 5 episodes and says so."""
    _, fig = figure
    assert panel(fig, 'action').get_title() == 'action (episodes 2, 3; line style = episode)'
    (style,) = fig.legends
    assert [t.get_text() for t in style.get_texts()] == ['episode 2', 'episode 3']
    hist = fig.axes[-1]
    assert hist.get_title() == 'episode lengths (5 episodes)'
    assert sum(p.get_height() for p in hist.patches) == len(LENGTHS)


def test_the_lines_of_episodes_2_and_3_have_the_legends_styles(figure):
    """The style is the plotted position's, as the legend gives it: episode 2 solid, episode
    3 dashed (styled by the episode's number, they would be dotted and dash-dot)."""
    _, fig = figure
    lines = panel(fig, 'action').get_lines()
    (style,) = fig.legends
    assert [line.get_linestyle() for line in lines] == ['-', '-', '--', '--']
    assert [h.get_linestyle() for h in style.legend_handles] == ['-', '--']
    assert [episode_style(i) for i in range(2)] == ['-', '--']
    # each dimension named once, by the first plotted episode's line
    assert [line.get_label() for line in lines if not line.get_label().startswith('_')] == [
        '[0]', '[1]']


def test_a_key_of_exactly_the_drawn_dimensions_says_no_cut(tmp_path):
    rng = np.random.default_rng(0)
    buffer = write_store(tmp_path / 'd.zarr', [{
        'action': rng.normal(size=(10, 2)).astype(np.float32),
        'wide': rng.normal(size=(10, PLOT_DIMS_MAX)).astype(np.float32)}])
    fig = dataset_figure(buffer, [0])
    try:
        assert panel(fig, 'wide').get_title() == 'wide (episodes 0; line style = episode)'
        assert len(panel(fig, 'wide').get_lines()) == PLOT_DIMS_MAX
    finally:
        plt.close(fig)


# --- the findings ------------------------------------------------------------------------------

def test_a_constant_dimension_far_from_0_is_no_float32_warning(tmp_path):
    """state[2] at 1000, moving one float32 step (6e-5: below the normalizer's RANGE_EPS):
    constant, said once as such; its float32 steps are no finding (it has no range)."""
    rng = np.random.default_rng(1)
    episodes = [clean_episode(rng, 20), clean_episode(rng, 20)]
    for e in episodes:
        e['state'][:, 2] = np.float32(1000.0)
    episodes[1]['state'][5, 2] = np.nextafter(np.float32(1000.0), np.float32(2000.0))
    s = summarize(write_store(tmp_path / 'd.zarr', episodes), horizon=16)
    state = [w for w in s.warnings if w.startswith('state:')]
    assert state == ['state: dimension(s) [2] never change (value [1000.0]): no range to '
                     'normalize, the policy learns nothing from them'], state


@pytest.mark.parametrize('dtype', [np.int8, np.int16])
def test_signed_int_images_have_numpys_statistics(tmp_path, dtype):
    """Negative pixel values (a signed depth difference, say): min, max, mean and std are
    numpy's, not those of the values read as unsigned."""
    rng = np.random.default_rng(2)
    (e,) = [clean_episode(rng, 6)]
    e['img'] = rng.integers(-100, 100, (6, 12, 16, 3)).astype(dtype)
    s = summarize(write_store(tmp_path / 'd.zarr', [e]), horizon=4)
    (img,) = [k for k in s.keys if k.key == 'img']
    pixels = e['img'].astype(np.float64)
    assert (img.kind, img.dtype) == ('image', np.dtype(dtype).name)
    assert (img.low[0], img.high[0]) == (pixels.min(), pixels.max())
    np.testing.assert_allclose(img.mean[0], pixels.mean(), rtol=1e-9)
    np.testing.assert_allclose(img.std[0], pixels.std(), rtol=1e-6)
    assert img.flat_frames == 0 and img.non_finite == 0


@pytest.mark.parametrize(('dtype', 'high'), [(np.float16, 0.8), (np.float64, 1.0)])
def test_float_images_scaled_0_to_1_are_an_error_of_any_width(tmp_path, dtype, high):
    """float16 and float64 frames within 0..1 are an error as float32 ones are: training
    expects 0..255."""
    rng = np.random.default_rng(3)
    (e,) = [clean_episode(rng, 6)]
    e['img'] = (rng.uniform(0, high, (6, 12, 16, 3))).astype(dtype)
    e['img'][0, 0, 0, 0] = high
    s = summarize(write_store(tmp_path / 'd.zarr', [e]), horizon=4)
    assert s.errors == [f'img: float images within 0..{high:.3g}; the paper layout (and '
                        'training) expects 0..255']


# --- the command --------------------------------------------------------------------------------

def test_draft_config_beside_a_dataset_is_refused(tmp_path):
    rng = np.random.default_rng(5)
    write_store(tmp_path / 'd.zarr', [clean_episode(rng, 20)])
    out = tmp_path / 'draft.yaml'
    with pytest.raises(UserError, match='--draft-config is for bags'):
        main([str(tmp_path / 'd.zarr'), '--no-progress', '--draft-config', str(out)])
    assert not out.exists()


def test_video_beside_bags_is_refused(tmp_path, capsys):
    """A video of bags is none: refused before they are read (not their listing printed
    and the video left unwritten)."""
    write_camera_bag(tmp_path / 'bag', [WALL + i * PERIOD for i in range(20)])
    out = tmp_path / 'bag.mp4'
    with pytest.raises(UserError, match='--plot and --video are for datasets'):
        main([str(tmp_path / 'bag'), '--no-progress', '--video', str(out)])
    assert not out.exists() and capsys.readouterr().out == ''


# --- the bag draft's defects (fixed) ---------------------------------------------------------

def test_joints_whose_names_shifted_between_bags_are_not_said_paired(tmp_path):
    """Bag 1's /joint_states gives [a, b], the last bag's [b, c]: by position a -> b and
    b -> c, which joint_renames cannot say (b is a name the state reads: refused by the
    config). The draft wrote `joint_renames: {a: b}` under "paired by position: check",
    and bag2zarr then stops on bag 1 ('lacks joint(s) [c]'), its hint pointing back at the
    draft. Wanted: no rename, the by-hand note."""
    for name, joints in (('a_old', ['a', 'b']), ('b_new', ['b', 'c'])):
        write_bag(tmp_path / 'bags' / name, [(CAMERA, 'image', None, 10),
                                             ('/joint_states', 'joints', joints, 100)],
                  seconds=1.0)
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert config.keys['state'].sources[0].joints == ['b', 'c']
    assert "a_old: /joint_states gives [['a', 'b']] where the last bag gives [['b', 'c']]: " \
           'not paired' in text, text
    assert 'joint_renames' not in text and 'paired by position' not in text


@pytest.mark.parametrize(('before', 'after', 'renames', 'note'), [
    (['a', 'b'], ['b', 'a'], None, None),  # reordered only: read by name, nothing to say
    (['a', 'b', 'c'], ['x', 'c', 'b'], "{a: x}", 'paired by position'),  # renamed + reordered
])
def test_reordered_joints_need_no_rename_and_a_renamed_one_among_them_is_paired(
        tmp_path, before, after, renames, note):
    """Only the names gone are paired, with the name added at their position: a list whose
    joints a driver update only reordered was said 'not paired (map them by hand, or leave
    that bag out)' by the shifted-list check (a review of it), dropping a good bag."""
    for name, joints in (('a_old', before), ('b_new', after)):
        write_bag(tmp_path / 'bags' / name, [(CAMERA, 'image', None, 10),
                                             ('/joint_states', 'joints', joints, 100)],
                  seconds=1.0)
    text, config = draft(tmp_path / 'bags', tmp_path)
    assert config.keys['state'].sources[0].joints == after
    assert 'not paired' not in text, text
    assert (renames is None) == ('joint_renames' not in text), text
    if renames is not None:
        assert dict(config.joint_renames) == {'a': 'x'}, config.joint_renames
        assert note in text


def _jittered_20hz_bag(path, seconds: int = 30) -> None:
    """A 10 Hz camera stamped on the grid and 20 Hz joint states stamped 5 ms after it,
    each stamp off by a normal jitter of 5 ms rounded to whole ms (so the median interval,
    the rate, is exactly 20 Hz); received 1-2 ms after their stamps."""
    rng = np.random.default_rng(2)
    messages = [(WALL + i * 100 * MS, 'cam', i) for i in range(seconds * 10)]
    messages += [(WALL + k * 50 * MS + 5 * MS + int(round(rng.normal(0, 5))) * MS, 'js', k)
                 for k in range(seconds * 20)]
    with BagRecorder(path, storage='mcap') as rec:
        ts = rec.typestore
        for stamp, kind, i in sorted(messages):
            if kind == 'cam':
                rec.write('/cam', 'sensor_msgs/msg/Image', stamp + 2 * MS,
                          image_message(ts, np.full((4, 4, 3), i % 256, np.uint8), stamp))
            else:
                rec.write('/joint_states', 'sensor_msgs/msg/JointState', stamp + MS,
                          joint_state_message(ts, ['j1', 'j2'], [0.01 * i, 1.0], stamp))


def test_a_jittered_20_hz_stream_converts_with_the_draft_without_gaps(tmp_path):
    """30 s: 300 grid steps. The draft's config converts them as one episode of 300 steps
    (with the tolerance of 0.06 s own_tolerance gives a 19.9 Hz stream, it does); with the
    config's 0.05 s it gave 7 episodes, 258 steps."""
    _jittered_20hz_bag(tmp_path / 'bags' / 'b20')
    text, _ = draft(tmp_path / 'bags', tmp_path)
    assert 'joint_state: "/joint_states"   # 20.0 Hz' in text
    assert bag2zarr.main([str(tmp_path / 'bags'), '-c', str(tmp_path / 'draft.yaml'), '-o',
                          str(tmp_path / 'd.zarr'), '--no-progress']) == 0
    buffer = ReplayBuffer.open(tmp_path / 'd.zarr')
    assert (buffer.n_episodes, buffer.n_steps) == (1, 300)
