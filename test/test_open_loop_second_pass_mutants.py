"""`dp-ros open-loop` (training/open_loop.py): a second mutation review's findings.

Behaviour the first pass (test_open_loop_mutants.py) and the other open-loop tests left
open, each test naming the change it catches:

- the rate check: a recording 5 % off the policy's control period is refused, one within
  the 1e-3 tolerance is not (a tolerance widened to 10 % survived);
- the normalized scale: an action dimension whose training range is exactly RANGE_EPS is
  scaled, as the normalizer scales it (<= RANGE_EPS taken as constant survived);
- the refusal of chunks that came out not finite: it names the first five episodes and
  counts the rest (four named, or 'and 0 more' after five, survived);
- the comparison: the 'last executed action' line is the last chunk step (the second
  survived), the hold line is drawn only where there is a hold (inverted survived), the
  score axis runs 0..1, a policy with no normalized error (None) ranks last (None first
  survived); the table's hold line is the hold's error (a policy's survived), its score
  column, its pose lines (holding's numbers, not the policy's) and its warnings;
- which data: a policy trained on --dataset and one trained elsewhere with another split
  are refused in either order (one order only survived); a split record naming an episode
  past the last is not taken (<= n survived);
- the report: every compared policy's camera crop is checked (the first one's only
  survived), also against data without a crop (a missing crop taken as a match survived);
  each policy's control_period_s and n_action_steps are its own; plot_episodes names every
  episode drawn (the first only survived);
- the plot: each row labelled with its own dimension (every row the first one's survived),
  recorded actions at step * the control period (a fixed 0.1 s survived);
- the summary: chunks and executed steps each in their place, the warnings last (dropped
  survived);
- the hint of chunks not finite with two low-dim keys: the second key judged on its own
  dimensions (every key given the first key's slice survived).
Real stores and tiny real policies, exact values.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from support import make_tiny_checkpoint, one_torch_thread, write_random_walk_store  # noqa: F401
from test_open_loop_constant_dims import policy_on

from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.open_loop import (
    EpisodeChunks,
    Source,
    action_scale,
    check_chunks_finite,
    check_period,
    load_windows,
    read_entries,
)

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon
LENGTHS = [5, 4, 6, 4, 5, 4, 3]


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    """Seven short random-walk episodes recorded at 0.1 s."""
    path = tmp_path_factory.mktemp('open_loop_second') / 'demos.zarr'
    write_random_walk_store(path, LENGTHS)
    zarr.open_group(str(path), mode='r+').attrs['control_period_s'] = 0.1
    return path


@pytest.fixture(scope='module')
def entry(store, tmp_path_factory):
    """A tiny 0.1 s policy trained (its policy.json says) on `store`, read as the command."""
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.0))
    path = make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'p', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})
    return read_entries([str(path)])[0]


def source_of(path) -> Source:
    return Source(path, DataConfig(zarr_path=str(path)), False)


# --------------------------------------------------------------------------- the rate

@pytest.mark.parametrize('period, refused', [(0.105, True), (0.095, True), (0.10005, False),
                                             (0.1, False)])
def test_a_recording_off_the_policys_rate_by_more_than_a_thousandth_is_refused(
        entry, tmp_path, period, refused):
    path = tmp_path / 'other.zarr'
    write_random_walk_store(path, [3])
    zarr.open_group(str(path), mode='r+').attrs['control_period_s'] = period
    if refused:
        with pytest.raises(UserError, match=f'control_period_s {period:g}'):
            check_period([entry], source_of(path))
    else:
        check_period([entry], source_of(path))


# --------------------------------------------------------------------------- the scale

def test_a_dimension_whose_range_is_exactly_range_eps_keeps_its_scale():
    """The normalizer scales a range of RANGE_EPS (only a range under it is constant), so
    its errors are normalized: 2 / 1e-4, not NaN."""
    from dp_ros.policy.normalizer import RANGE_EPS

    data = np.stack([np.linspace(0.0, 10.0, 64), np.zeros(64)], 1)
    data[1::2, 1] = float(np.float32(RANGE_EPS))  # fp32 range exactly RANGE_EPS
    policy = policy_on(data)
    stats = policy.normalizer.stats['action']
    span = np.float32(stats['max'][1]) - np.float32(stats['min'][1])
    assert span == np.float32(RANGE_EPS)
    scale = action_scale(policy)
    assert scale[1] == pytest.approx(2.0 / RANGE_EPS, rel=1e-3)
    assert scale[0] == pytest.approx(0.2, rel=1e-4)


# --------------------------------------------------------------------------- not finite

def nan_chunks(episodes: list[int], n_chunks: int = 1) -> list[EpisodeChunks]:
    """One NaN chunk planned at each of steps 0, 8, ... in each episode."""
    out = []
    for e in episodes:
        c = EpisodeChunks(e, np.zeros((TA * n_chunks, 2)), list(range(0, TA * n_chunks, TA)))
        c.predicted = np.full((n_chunks, TP, 2), np.nan)
        out.append(c)
    return out


def refusal(entry, store, chunks: list[EpisodeChunks]) -> str:
    ds = load_windows(entry.config, source_of(store), progress=False)
    with pytest.raises(UserError) as err:
        check_chunks_finite(chunks, 'p', ds, entry.meta['normalizer'])
    return str(err.value)


def test_chunks_not_finite_in_six_episodes_name_five_and_count_the_sixth(entry, store):
    text = refusal(entry, store, nan_chunks([0, 1, 2, 3, 4, 5]))
    assert text.startswith('p: 6 chunk(s) came out not finite (NaN or inf): episode 0 at '
                           'step(s) 0; episode 1 at step(s) 0; episode 2 at step(s) 0; episode '
                           '3 at step(s) 0; episode 4 at step(s) 0; and 1 more episode(s); '
                           'no error'), text


def test_chunks_not_finite_in_five_episodes_name_all_five(entry, store):
    text = refusal(entry, store, nan_chunks([6, 5, 4, 3, 2]))
    assert re.findall(r'episode (\d) at', text) == ['6', '5', '4', '3', '2']
    assert 'more episode' not in text


def test_an_episodes_steps_not_finite_are_listed_five_then_counted(entry, store):
    text = refusal(entry, store, nan_chunks([1], n_chunks=7))
    assert 'p: 7 chunk(s) came out not finite (NaN or inf): episode 1 at step(s) 0, 8, 16, 24, '\
           '32, ... (7 in all); no error' in text, text


# --------------------------------------------------------------------------- the comparison

def compared(name: str, step: int | None, rmse: float | None, score: float | None = None,
             hold: float | None = 0.9) -> dict:
    """A policy's entry of a comparison report: rmse (None: no dimension has a scale), the
    first, second and last executed action's rmse rmse / 2, rmse, 2 rmse."""
    by_step = [None] * 3 if rmse is None else [rmse / 2, rmse, 2 * rmse]
    return {'policy': name, 'step': step, 'closed_loop_score': score,
            'metrics': {'rmse_norm': rmse, 'hold_rmse_norm': hold,
                        'by_chunk_step': {'rmse_norm': by_step}}}


def watch_saves(monkeypatch, record: Callable[[Any], None]) -> None:
    """record(fig) for each matplotlib figure as it is saved (the real save still runs)."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib.figure import Figure

    save = Figure.savefig

    def keep(fig, *args, **kwargs):
        record(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, 'savefig', keep)


def drawn_lines(monkeypatch) -> dict[str, tuple[list[float], list[float]]]:
    """label -> (x, y) of every line of the figures saved from now on, and 'ylim <ylabel>'
    -> ([], each axis' y limits)."""
    drawn: dict[str, tuple[list[float], list[float]]] = {}

    def record(fig) -> None:
        for ax in fig.axes:
            for line in ax.get_lines():
                drawn[line.get_label()] = ([float(v) for v in line.get_xdata()],
                                           [float(v) for v in line.get_ydata()])
            drawn[f'ylim {ax.get_ylabel()}'] = ([], [float(v) for v in ax.get_ylim()])

    watch_saves(monkeypatch, record)
    return drawn


def test_the_comparison_plot_draws_the_last_executed_step_the_hold_and_the_lowest(
        tmp_path, monkeypatch):
    """The 'last executed action' line is each policy's last chunk step (2 rmse here), not
    its second; the hold line is the hold's error; a policy with no normalized error (None)
    is never the lowest; the closed-loop score's axis runs 0..1."""
    from training.open_loop import plot_comparison

    drawn = drawn_lines(monkeypatch)
    report = {'policies': [compared('r/step_000100', 100, None, score=0.2),
                           compared('r/step_000200', 200, 0.4, score=0.6),
                           compared('r/step_000300', 300, 0.3, score=0.5)],
              'episodes': [0, 1], 'episodes_chosen': 'val', 'dataset': 'demos.zarr'}
    assert plot_comparison(report, tmp_path / 'c.png').is_file()
    x, last = drawn['last executed action']
    assert x == [100.0, 200.0, 300.0] and last[1:] == [0.8, 0.6] and np.isnan(last[0])
    assert drawn['first action of a chunk'][1][1:] == [0.2, 0.15]
    assert drawn['holding the last command'][1] == [0.9, 0.9]
    assert drawn['lowest error'] == ([300.0], [0.3])
    assert drawn['closed-loop score (training evaluation)'] == ([100.0, 200.0, 300.0],
                                                                 [0.2, 0.6, 0.5])
    assert drawn['ylim closed-loop score (higher is better)'][1] == [0.0, 1.0]


def test_a_comparison_with_only_first_chunks_draws_no_hold_line(tmp_path, monkeypatch):
    from training.open_loop import plot_comparison

    drawn = drawn_lines(monkeypatch)
    report = {'policies': [compared('a', 1, 0.4, hold=None), compared('b', 2, 0.3, hold=None)],
              'episodes': [0], 'episodes_chosen': 'all', 'dataset': 'd.zarr'}
    plot_comparison(report, tmp_path / 'c.png')
    assert 'holding the last command' not in drawn and 'lowest error' in drawn


def test_the_comparison_text_gives_steps_scores_the_hold_poses_and_warnings():
    """The comparison table: each policy's step and closed-loop score in their columns, the
    hold line the (shared) hold's error, not a policy's, each policy's pose line, and the
    warnings."""
    from training.open_loop import format_comparison

    pose = {'position_rmse': 0.01, 'position_max': 0.02, 'angle_rmse_deg': 3.0,
            'angle_max_deg': 5.0, 'hold_position_rmse': 0.04, 'hold_angle_rmse_deg': 7.0}
    first, second = compared('a/step_000100', 100, 0.4, score=0.25), compared('a/best', None,
                                                                            0.3)
    first['metrics']['pose'] = pose
    text = format_comparison({'policies': [first, second], 'dataset': 'd',
                              'episodes_chosen': 'all', 'episodes': [0, 1],
                              'lowest_error': 'a/best', 'warnings': ['crop differs']})
    lines = text.splitlines()
    assert lines[2].split() == ['a/step_000100', '100', '0.4000', '0.200', '0.800', '0.250']
    assert lines[3].split() == ['a/best', '0.3000', '0.150', '0.600', '<-', 'lowest']
    assert lines[4] == 'holding the last command: 0.9000'
    assert lines[5] == ('pose of a/step_000100: position RMSE 0.01 (max 0.02), orientation '
                        'RMSE 3 deg (max 5); holding the last command: 0.04, 7 deg')
    assert lines[6:] == ['warning: crop differs']


def test_a_policy_without_a_normalized_error_is_ranked_last():
    """_lowest_key: None (no dimension has a scale) after every number, so such a policy is
    never called the lowest error."""
    from training.open_loop import _lowest_key

    metrics = [{'rmse_norm': None}, {'rmse_norm': 0.7}, {'rmse_norm': 0.2}]
    assert sorted(metrics, key=_lowest_key) == [metrics[2], metrics[1], metrics[0]]


# --------------------------------------------------------------------------- which data

def test_a_policy_trained_on_the_dataset_is_not_compared_under_a_strangers_split(
        entry, store, tmp_path):
    """--dataset D with a policy trained elsewhere first and one trained on D with another
    split: the first one's source (every episode of D) would score the second on the
    episodes it was trained on; refused, as two policies of two splits of D are."""
    from training.open_loop import common_source

    other = tmp_path / 'other.zarr'
    write_random_walk_store(other, [4, 4], seed=3)
    cfg = TrainConfig(data=DataConfig(zarr_path=str(other), val_ratio=0.5))
    stranger = read_entries([str(make_tiny_checkpoint(tmp_path / 's', provenance={
        'dataset': str(other), 'train_config': cfg.to_dict()}))])[0]
    with pytest.raises(UserError, match='was trained on another dataset, keys or split'):
        common_source([stranger, entry], store)
    with pytest.raises(UserError, match='was trained on another dataset, keys or split'):
        common_source([entry, stranger], store)


def test_a_recorded_split_naming_an_episode_past_the_last_is_not_taken():
    """A split record whose val list names episode n of an n-episode store (a hand-edited
    policy.json) is not the training's: the split drawn as the training drew it is taken,
    not an IndexError."""
    from training.dataset_meta import split_record
    from training.open_loop import EpisodeSplit, select_episodes

    ends = np.array([3, 7, 9, 12])
    val, train = np.array([False, True, False, False]), np.array([True, False, True, True])
    record = {**split_record(ends, val, train), 'val_episodes': [2, 4]}
    source = Source(Path('d.zarr'), DataConfig(zarr_path='d.zarr'), True, record)
    assert select_episodes('val', EpisodeSplit(ends, val, train), source) == ('val', [1])
    record['val_episodes'] = [2, 3]  # in range: the record is taken over the draw
    assert select_episodes('val', EpisodeSplit(ends, val, train), source) == ('val', [2, 3])


# --------------------------------------------------------------------------- the report

def test_each_compared_policys_camera_crop_is_checked_and_its_rate_reported(
        entry, store, tmp_path):
    """Two policies on a copy of their training set (new recordings: not trained on): the
    second one, trained on frames cut with a crop the uncropped data lacks, is warned of
    (not only the first one's crop is checked, and a dataset without a crop is no excuse);
    each policy's control period and chunk length are the report's, and the data is not
    called the training set."""
    import json
    import shutil

    from support import edit_saved_policy

    from training.open_loop import main

    def crop(meta):
        key = next(k for k, v in meta['config']['shape_meta']['obs'].items()
                   if v.get('type') == 'rgb')
        meta['config']['shape_meta']['obs'][key]['camera_crop'] = [0, 0, 96, 96]

    shutil.copytree(entry.path, tmp_path / 'cropped')
    cropped = edit_saved_policy(tmp_path / 'cropped', crop)
    copy = tmp_path / 'copy.zarr'
    shutil.copytree(store, copy)
    out = tmp_path / 'r.json'
    assert main([str(entry.path), str(cropped), '--dataset', str(copy), '--episodes', '6',
                 '--output', str(out), '--no-progress', '--no-plot',
                 '--num-inference-steps', '1']) == 0
    report = json.loads(out.read_text())
    assert len(report['warnings']) == 1, report['warnings']
    assert "the dataset's frames were cut with camera crop None, the policy's with (0, 0, 96, "\
           '96)' in report['warnings'][0]
    assert report['trained_on_this_dataset'] is False
    for p in report['policies']:
        assert (p['control_period_s'], p['n_action_steps'], p['n_obs_steps']) == (0.1, TA, TO)


def test_the_report_names_every_episode_the_plot_draws(entry, tmp_path):
    """report['plot_episodes']: each picked episode with its label (worst, median, best),
    as pick_for_plot chose them from the report's own errors."""
    from training.open_loop import build_parser, pick_for_plot, run_open_loop

    args = build_parser().parse_args([str(entry.path), '--episodes', '0,2,4', '--output',
                                      str(tmp_path / 'r.json'), '--no-progress',
                                      '--num-inference-steps', '1'])
    report, draw = run_open_loop(args)
    assert draw is not None and report['plot'] == str(tmp_path / 'r.png')
    picks = pick_for_plot(report['metrics'], 3)
    assert [p['label'] for p in report['plot_episodes']] == ['worst', 'median', 'best']
    assert report['plot_episodes'] == [{'label': label, 'episode': e} for label, e in picks]
    assert sorted(p['episode'] for p in report['plot_episodes']) == [0, 2, 4]


def test_the_plot_labels_each_row_with_its_dimension_on_the_recordings_time(
        tmp_path, monkeypatch):
    """plot_open_loop: row d is labelled with dimension d's name, and the recorded actions
    are drawn at step * control period (0.05 s here) on a 'time (s)' axis."""
    from training.open_loop import error_metrics, plot_open_loop

    seen: list[tuple[str, str, list[float]]] = []
    watch_saves(monkeypatch, lambda fig: seen.extend(
        (ax.get_ylabel(), ax.get_xlabel(), [float(v) for v in ax.get_lines()[0].get_xdata()])
        for ax in fig.axes))
    recorded = np.stack([np.arange(10.0), np.full(10, 5.0), -np.arange(10.0)], 1)
    c = EpisodeChunks(3, recorded, [0, 8])
    c.predicted = np.zeros((2, TP, 3))
    metrics = error_metrics([c], np.ones(3), TO, TA)
    plot_open_loop([c], [('worst', 3)], metrics, ['shoulder', 'elbow', 'gripper'], 0.05, TO,
                   TA, tmp_path / 'p.png')
    assert [s[0] for s in seen] == ['shoulder', 'elbow', 'gripper']
    assert seen[-1][1] == 'time (s)'
    np.testing.assert_allclose(seen[0][2], np.arange(10) * 0.05)


def test_the_summary_counts_chunks_and_steps_apart_and_ends_with_the_warnings():
    """format_summary's second line: the chunks planned (3) and the executed steps compared
    (20) each in its place; the warnings last."""
    from training.open_loop import error_metrics, format_summary

    episodes = []
    for e, length in ((0, 12), (1, 8)):
        c = EpisodeChunks(e, np.cumsum(np.ones((length, 2)), 0), list(range(0, length, TA)))
        c.predicted = np.ones((len(c.starts), TP, 2))
        episodes.append(c)
    m = error_metrics(episodes, np.ones(2), TO, TA)
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [0, 1], 'metrics': m, 'action_names': ['a', 'b'],
                           'warnings': ['crop differs']})
    lines = text.splitlines()
    assert lines[1] == 'episodes all (2), 3 chunks, 20 executed steps compared'
    assert lines[-1] == 'warning: crop differs'


def test_a_second_low_dim_key_is_judged_on_its_own_dimensions(tmp_path):
    """The hint of a chunk that came out not finite with two low-dim keys (an arm's and a
    gripper's, as bag2zarr configs split them): only the gripper far outside its range is
    named, by its own dimension and distance (each key's slice of the far dimensions taken
    from where the key starts; the first key's slice for every key named the arm)."""
    from dp_ros.policy.normalizer import Normalizer
    from training.dataset import PushTImageDataset
    from training.open_loop import outside_training_range
    from training.replay_buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    buffer = ReplayBuffer.create(tmp_path / 'two.zarr')
    arm = rng.uniform(50, 400, (6, 2))
    gripper = np.stack([rng.uniform(50, 400, 6), np.full(6, 5e3)], 1)  # [1]: 5000 px
    buffer.add_episode({'img': np.zeros((6, 96, 96, 3), np.uint8),
                        'arm': arm.astype(np.float32), 'gripper': gripper.astype(np.float32),
                        'action': arm.astype(np.float32)})
    normalizer = Normalizer.from_data({'arm': np.tile([[20.0], [490.0]], (1, 2)),
                                       'gripper': np.tile([[20.0], [490.0]], (1, 2)),
                                       'action': np.tile([[20.0], [490.0]], (1, 2))}).to_dict()
    ds = PushTImageDataset(tmp_path / 'two.zarr', low_dim_keys={'arm': 'arm',
                                                                 'gripper': 'gripper'},
                           progress=False)
    assert list(ds.low_dim_keys) == ['arm', 'gripper']
    assert outside_training_range(ds, [0], normalizer) == [
        'gripper dimension(s) [1] up to 4.51e+03 outside its training range']
