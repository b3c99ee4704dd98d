"""`dp-ros open-loop` (training/open_loop.py) edges: the numbers a user reads (per-episode
errors, the worst joint error over the compared steps only, the normalized scale, pose errors
with an unusable prediction), which episodes are compared (the train split, a run that held
none out, out-of-range lists, the recorded dataset over the config's path), the plot's picks
and the one-line refusals of bad arguments, on real zarr stores and tiny real policies."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import make_tiny_checkpoint, one_torch_thread, write_random_walk_store  # noqa: F401

from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.open_loop import (
    EpisodeChunks,
    chunk_starts,
    error_metrics,
    format_summary,
    main,
    pick_for_plot,
    pose_errors,
)
from training.sampler import get_val_mask

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon
LENGTHS = [16, 9, 12, 8, 10, 7]  # short episodes: few chunks, a fast tiny policy


def trained_on(directory, store, seed: int = 1, provenance: dict | None = None,
               **data) -> str:
    """A tiny policy whose policy.json says it was trained on `store` with DataConfig(**data)."""
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), **data))
    return str(make_tiny_checkpoint(directory, seed=seed, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict(), **(provenance or {})}))


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp('open_loop_edges') / 'demos.zarr'
    write_random_walk_store(path, LENGTHS)
    return path


@pytest.fixture(scope='module')
def policy(store, tmp_path_factory):
    return trained_on(tmp_path_factory.mktemp('policy') / 'p', store, val_ratio=0.34)


def run(policy, tmp_path, *args) -> dict:
    out = tmp_path / 'ol.json'
    assert main([*(policy if isinstance(policy, list) else [policy]), '--output', str(out),
                 '--no-progress', '--no-plot', *map(str, args)]) == 0
    return json.loads(out.read_text())


def ramp(episode: int, length: int) -> EpisodeChunks:
    """dim 0 rises by 1 a step, dim 1 is 5."""
    recorded = np.stack([np.arange(length, dtype=np.float64), np.full(length, 5.0)], 1)
    return EpisodeChunks(episode, recorded, chunk_starts(length, TA))


def plan(c: EpisodeChunks, offset=(0.0, 0.0), past_end=(0.0, 0.0)) -> np.ndarray:
    """action_pred matching the recording plus `offset`; steps past the episode's end hold
    the last recorded action plus `past_end` (what a policy plans there is not compared)."""
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    pred = c.recorded[np.clip(steps, 0, len(c.recorded) - 1)] + np.asarray(offset)
    return pred + np.where((steps >= len(c.recorded))[..., None], np.asarray(past_end), 0.0)


# --------------------------------------------------------------------------- the arithmetic

def test_chunk_starts_are_every_n_action_steps_and_none_at_the_end():
    """A 16-step episode at Ta 8 plans at 0 and 8 only (no empty chunk at step 16)."""
    assert chunk_starts(16, TA) == [0, 8]
    assert chunk_starts(17, TA) == [0, 8, 16]
    assert chunk_starts(1, TA) == [0]


def test_per_episode_errors_are_normalized_and_the_episodes_own():
    """Each episode's rmse_norm and hold_rmse_norm are in normalized units (scale applied)
    and equal the pooled numbers of that episode alone."""
    scale = np.array([0.5, 2.0])
    episodes = [ramp(3, 20), ramp(7, 13)]
    episodes[0].predicted = plan(episodes[0], offset=(0.0, 3.0))
    episodes[1].predicted = plan(episodes[1], offset=(4.0, 0.0))
    m = error_metrics(episodes, scale, TO, TA)
    first, second = m['episodes']
    assert first['rmse_norm'] == pytest.approx(math.sqrt((3 * 2.0) ** 2 / 2))
    assert second['rmse_norm'] == pytest.approx(math.sqrt((4 * 0.5) ** 2 / 2))
    for entry, c in zip(m['episodes'], episodes, strict=True):
        alone = error_metrics([c], scale, TO, TA)
        assert entry['rmse_norm'] == pytest.approx(alone['rmse_norm'])
        assert entry['hold_rmse_norm'] == pytest.approx(alone['hold_rmse_norm'])
        assert (entry['length'], entry['n_chunks']) == (len(c.recorded), len(c.starts))
    # hold on a unit ramp in dim 0 only, scaled by 0.5: never the raw (unscaled) error
    raw_hold = error_metrics([episodes[0]], np.ones(2), TO, TA)['hold_rmse_norm']
    assert first['hold_rmse_norm'] == pytest.approx(0.5 * raw_hold)


def test_the_worst_error_and_mae_count_only_the_compared_steps():
    """A plan that is exact up to the episode's end and wild past it (nothing recorded there
    to compare) has max |err| and MAE 0: the steps past the end are not errors."""
    c = ramp(0, 13)  # chunk 8 runs 3 steps past the end
    c.predicted = plan(c, past_end=(100.0, -50.0))
    m = error_metrics([c], np.ones(2), TO, TA)
    assert m['per_dimension']['max_abs'] == [0.0, 0.0]
    assert m['per_dimension']['mae'] == [0.0, 0.0]
    assert m['rmse_norm'] == 0.0 and m['n_steps'] == 13 and m['n_chunks'] == 2


def test_hold_errors_per_dimension_and_by_chunk_step_are_the_holds_not_the_policys():
    """A policy exact on the recording: its errors are 0, holding the last command on a ramp
    is not (per dimension, in raw and normalized units, at every step of a chunk)."""
    c = ramp(0, 24)
    c.predicted = plan(c)
    m = error_metrics([c], np.array([0.5, 1.0]), TO, TA)
    assert m['by_chunk_step']['rmse_norm'] == [0.0] * TA
    hold = np.array(m['by_chunk_step']['hold_rmse_norm'])
    assert np.all(hold > 0)
    # chunks 8 and 16 hold steps 7 and 15: k + 1 behind at chunk step k (chunk 0 has no
    # command before it: not scored); dim 1 (constant) holds exactly
    want = 0.5 * (np.arange(TA) + 1) / np.sqrt(2)  # 2 dims
    np.testing.assert_allclose(hold, want)
    assert m['per_dimension']['hold_rmse'][1] == 0.0 and m['per_dimension']['hold_rmse'][0] > 0
    assert m['per_dimension']['hold_rmse_norm'][0] == pytest.approx(
        0.5 * m['per_dimension']['hold_rmse'][0])
    assert m['per_dimension']['rmse'] == [0.0, 0.0]


def test_chunk_steps_no_episode_reaches_are_null_not_zero():
    """Every episode shorter than a chunk: the later chunk steps compare nothing, so they are
    null (not a 0.0 that reads as exact, nor a NaN from 0 / 0 that is no strict JSON), and the
    text shows them as '-'."""
    episodes = [ramp(0, 5), ramp(1, 3)]
    for c in episodes:
        c.predicted = plan(c, offset=(1.0, 1.0))
    m = error_metrics(episodes, np.ones(2), TO, TA)
    json.dumps(m, allow_nan=False)
    assert m['by_chunk_step']['rmse_norm'] == [1.0] * 5 + [None] * (TA - 5)
    assert m['by_chunk_step']['hold_rmse_norm'][5:] == [None] * (TA - 5)
    assert m['n_steps'] == 8
    report = {'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all', 'episodes': [0, 1],
              'metrics': m, 'action_names': ['a', 'b'], 'warnings': []}
    assert 'by step of the chunk: 1.000 1.000 1.000 1.000 1.000 - - -' in format_summary(report)


def test_a_pose_prediction_without_an_orientation_is_180_degrees_off():
    """One predicted rotation of zeros (no plane: no orientation) counts as 180 degrees and
    leaves the position error of the others finite."""
    from dp_ros.pose_fields import MATRIX_COLUMNS

    names = ['x', 'y', 'z', *MATRIX_COLUMNS]
    row = [0.4, 0.0, 0.2, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    c = EpisodeChunks(0, np.array([row] * 8), [0])
    c.predicted = np.array([[row] * TP])
    c.predicted[0, TO - 1 + 3, 3:] = 0.0  # the 4th executed action: no orientation
    c.predicted[0, TO - 1:, 1] += 0.002  # 2 mm off in y everywhere
    m = pose_errors([c], names, TO, TA)
    assert m['angle_max_deg'] == 180.0
    assert m['angle_rmse_deg'] == pytest.approx(math.sqrt(180.0 ** 2 / 8))
    assert m['position_rmse'] == pytest.approx(0.002) and m['position_max'] == pytest.approx(
        0.002)
    assert m['hold_angle_max_deg'] is None and m['hold_position_rmse'] is None  # one chunk:
    # nothing recorded before it to hold


def test_the_plot_picks_the_worst_the_median_and_the_best():
    ranked = [0.9, 0.1, 0.5, 0.3]  # episodes 10..13; worst 10, then 12, 13, best 11
    metrics = {'episodes': [{'episode': 10 + i, 'rmse_norm': v} for i, v in enumerate(ranked)]}
    assert pick_for_plot(metrics, 3) == [('worst', 10), ('median', 13), ('best', 11)]
    assert pick_for_plot(metrics, 2) == [('worst', 10), ('median', 13)]
    assert pick_for_plot(metrics, 1) == [('worst', 10)]
    two = {'episodes': [{'episode': 4, 'rmse_norm': 0.2}, {'episode': 5, 'rmse_norm': 0.6}]}
    assert pick_for_plot(two, 3) == [('worst', 5), ('best', 4)]  # no median of two
    one = {'episodes': [{'episode': 4, 'rmse_norm': 0.2}]}
    assert pick_for_plot(one, 3) == [('worst', 4)]  # one episode drawn once


# --------------------------------------------------------------------------- the command

def test_the_normalized_error_uses_the_policys_action_range(policy, tmp_path):
    """rmse_norm per joint is the raw RMSE times 2 / (max - min) of the action range the
    policy's normalizer was fitted on (the [-1, 1] scale), not the normalizer's offset."""
    meta = json.loads((Path(policy) / 'policy.json').read_text())
    action = meta['normalizer']['fields']['action']
    scale = 2 / (np.asarray(action['max']) - np.asarray(action['min']))
    m = run(policy, tmp_path, '--episodes', '1,3')['metrics']
    pd = m['per_dimension']
    np.testing.assert_allclose(pd['rmse_norm'], np.asarray(pd['rmse']) * scale, rtol=1e-4)
    np.testing.assert_allclose(pd['hold_rmse_norm'], np.asarray(pd['hold_rmse']) * scale,
                               rtol=1e-4)
    assert m['n_steps'] == LENGTHS[1] + LENGTHS[3]


def test_the_train_split_is_the_complement_of_the_held_out_one(policy, tmp_path):
    """--episodes train: the episodes the training learned from, with the warning that they
    were trained on; the default (val) without it."""
    val = np.flatnonzero(get_val_mask(6, 0.34, seed=42)).tolist()
    report = run(policy, tmp_path, '--episodes', 'train', '--num-inference-steps', '1')
    assert report['episodes_chosen'] == 'train'
    assert report['episodes'] == [e for e in range(6) if e not in val]
    assert report['num_inference_steps'] == 1
    everything = run(policy, tmp_path, '--episodes', 'all', '--num-inference-steps', '1')
    assert everything['episodes'] == list(range(6))
    assert any('were trained on' in w for w in everything['warnings'])
    held_out = run(policy, tmp_path, '--num-inference-steps', '1')
    assert held_out['episodes'] == val and held_out['warnings'] == []


def test_a_run_that_held_out_nothing_is_compared_over_all_its_episodes(store, tmp_path):
    """val_ratio 0: the default is every episode (with the trained-on warning), and asking
    for val says that nothing was held out."""
    policy = trained_on(tmp_path / 'no_val', store, val_ratio=0.0)
    report = run(policy, tmp_path, '--num-inference-steps', '1')
    assert report['episodes_chosen'] == 'all' and report['episodes'] == list(range(6))
    assert any('were trained on' in w for w in report['warnings'])
    with pytest.raises(UserError, match='held out no episodes'):
        main([policy, '--episodes', 'val', '--output', str(tmp_path / 'x.json'),
              '--no-progress', '--no-plot'])
    assert not (tmp_path / 'x.json').exists()


def test_an_episode_the_dataset_does_not_have_is_refused(policy, tmp_path):
    with pytest.raises(UserError, match=r'the dataset has episodes 0\.\.5'):
        main([policy, '--episodes', '2,6', '--output', str(tmp_path / 'x.json'),
              '--no-progress', '--no-plot'])
    assert not (tmp_path / 'x.json').exists()


@pytest.mark.parametrize('spec', ['', ','], ids=['empty', 'comma'])
def test_an_episode_list_of_none_is_refused(policy, tmp_path, spec):
    """--episodes '' (a shell variable left empty) is the one line of --episodes ',', not a
    TypeError traceback. Found by review."""
    with pytest.raises(UserError, match=rf"episodes {spec!r}: the dataset has episodes 0\.\.5"):
        main([policy, '--episodes', spec, '--output', str(tmp_path / 'x.json'),
              '--no-progress', '--no-plot'])
    assert not (tmp_path / 'x.json').exists()


def test_the_recorded_dataset_comes_before_the_training_configs_path(store, tmp_path):
    """policy.json's provenance.dataset (where it was trained) wins over the config's
    zarr_path when both exist: another store at the config's path is not compared."""
    decoy = tmp_path / 'decoy.zarr'
    write_random_walk_store(decoy, [5, 5], seed=3)
    cfg = TrainConfig(data=DataConfig(zarr_path=str(decoy), val_ratio=0.34))
    policy = str(make_tiny_checkpoint(tmp_path / 'p', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()}))
    report = run(policy, tmp_path, '--episodes', '0', '--num-inference-steps', '1')
    assert report['dataset'] == str(store.resolve())
    assert report['metrics']['n_steps'] == LENGTHS[0]


def test_a_missing_dataset_is_named(policy, tmp_path):
    with pytest.raises(FileNotFoundError, match='dataset .*nowhere.zarr not found'):
        main([policy, '--dataset', str(tmp_path / 'nowhere.zarr'), '--output',
              str(tmp_path / 'x.json'), '--no-progress'])


def test_a_dataset_cut_with_another_camera_crop_is_warned_of(store, policy, tmp_path):
    """The frames of another dataset were cut with a camera crop the policy was not trained
    with: a warning in the report (none for the same, uncropped, frames)."""
    cropped = tmp_path / 'cropped.zarr'
    shutil.copytree(store, cropped)
    zarr.open(str(cropped), mode='r+')['data/img'].attrs['camera_crop'] = [0, 0, 96, 96]
    report = run(policy, tmp_path, '--dataset', cropped, '--episodes', '3',
                 '--num-inference-steps', '1')
    assert len(report['warnings']) == 1
    assert 'camera crop [0, 0, 96, 96], the policy\'s with None' in report['warnings'][0]
    plain = run(policy, tmp_path, '--dataset', store, '--episodes', '3',
                '--num-inference-steps', '1')
    assert plain['warnings'] == []


@pytest.mark.parametrize('args, match', [
    (['--plot-episodes', '0'], '--plot-episodes must be 1, 2 or 3, got 0'),
    (['--plot-episodes', '4'], '--plot-episodes must be 1, 2 or 3, got 4'),
    (['--batch-size', '0'], '--batch-size must be >= 1, got 0'),
    (['--threads', '0'], '--threads must be >= 1, got 0'),
    (['--num-inference-steps', '0'], '--num-inference-steps must be >= 1, got 0'),
])
def test_bad_numbers_are_refused_before_the_run(policy, tmp_path, args, match):
    with pytest.raises(UserError, match=match):
        main([policy, '--output', str(tmp_path / 'x.json'), '--no-progress', *args])
    assert not any(tmp_path.iterdir())


def test_policies_of_other_windows_are_not_compared(store, tmp_path):
    """Two policies of one training set but another n_obs_steps / horizon: refused, naming
    both, before any chunk is sampled."""
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.34))
    prov = {'dataset': str(store), 'train_config': cfg.to_dict()}
    a = make_tiny_checkpoint(tmp_path / 'a', seed=1, provenance=prov)
    b = make_tiny_checkpoint(tmp_path / 'b', seed=1, provenance=prov, n_obs_steps=3)
    with pytest.raises(UserError, match='n_obs_steps 3.*compare them one command each'):
        main([str(a), str(b), '--output', str(tmp_path / 'x.json'), '--no-progress'])
    assert not (tmp_path / 'x.json').exists()
