"""`dp-ros open-loop` (training/open_loop.py): the error arithmetic on known chunks, the
windows' alignment on the paper's data (each chunk sees the observations of its own step),
the command on a real zarr store with a policy that records its training config, and the
shipped policy on the held-out Push-T episodes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from support import (  # noqa: F401
    SHIPPED_CHECKPOINT,
    make_tiny_checkpoint,
    one_torch_thread,
    set_episode_ends,
    write_random_walk_store,
)

from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.dataset import PushTImageDataset
from training.open_loop import (
    EpisodeChunks,
    error_metrics,
    executed_window,
    format_comparison,
    format_summary,
    main,
    pose_errors,
    pose_metrics,
    predict_episodes,
)
from training.replay_buffer import ReplayBuffer
from training.sampler import get_val_mask

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon


def ramp_episode(episode: int, length: int, slope: float = 1.0) -> EpisodeChunks:
    """Actions rising by `slope` per step in dim 0, constant 5 in dim 1."""
    recorded = np.stack([slope * np.arange(length), np.full(length, 5.0)], 1)
    return EpisodeChunks(episode, recorded, list(range(0, length, TA)))


def exact_plan(c: EpisodeChunks, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """action_pred that matches the recording (clamped at the end) plus a constant offset."""
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    return c.recorded[np.clip(steps, 0, len(c.recorded) - 1)] + np.asarray(offset)


def test_the_executed_actions_are_the_steps_from_each_chunk_start():
    c = ramp_episode(0, 20)
    c.predicted = exact_plan(c)
    pred, rec, hold, valid = executed_window(c, TO, TA)
    assert pred.shape == rec.shape == hold.shape == (3, TA, 2)
    np.testing.assert_array_equal(pred[:, :, 0], [list(range(0, 8)), list(range(8, 16)),
                                                  [16, 17, 18, 19, 19, 19, 19, 19]])
    np.testing.assert_array_equal(valid.sum(1), [8, 8, 4])  # 20 steps, nothing past the end
    np.testing.assert_array_equal(hold[:, 0, 0], [0, 7, 15])  # the command before each chunk


def test_errors_in_raw_and_normalized_units_per_dimension_and_chunk_step():
    episodes = [ramp_episode(3, 20), ramp_episode(7, 13, slope=2.0)]
    for c in episodes:
        c.predicted = exact_plan(c)
    exact = error_metrics(episodes, np.array([0.5, 2.0]), TO, TA)
    assert exact['rmse_norm'] == 0.0 and exact['n_steps'] == 33 and exact['n_chunks'] == 5
    for c in episodes:
        c.predicted = exact_plan(c, offset=(0.0, 3.0))
    m = error_metrics(episodes, np.array([0.5, 2.0]), TO, TA)
    pd = m['per_dimension']
    np.testing.assert_allclose(pd['rmse'], [0.0, 3.0])
    np.testing.assert_allclose(pd['mae'], [0.0, 3.0])
    np.testing.assert_allclose(pd['max_abs'], [0.0, 3.0])
    np.testing.assert_allclose(pd['rmse_norm'], [0.0, 6.0])
    np.testing.assert_allclose(m['rmse_norm'], np.sqrt(36 / 2))
    # hold on a ramp: k + 1 slopes behind at step k of a chunk; an episode's first chunk has
    # no command before it and is not scored (chunks 8 and 16 of episode 3, 8 of episode 7)
    by_step = np.array(m['by_chunk_step']['hold_rmse_norm'])
    rows = [[(k + 1) * s for s, n in ((1, 8), (1, 4), (2, 5)) if k < n] for k in range(TA)]
    np.testing.assert_allclose(by_step, [0.5 * np.sqrt(np.sum(np.square(r)) / (2 * len(r)))
                                         for r in rows])
    assert [e['episode'] for e in m['episodes']] == [3, 7]
    assert m['episodes'][1]['hold_rmse_norm'] > m['episodes'][0]['hold_rmse_norm']  # slope 2


def test_a_pose_action_is_also_judged_in_metres_and_degrees():
    """An action that is a whole pose (x, y, z and a rotation 6D, beside a gripper): the
    position error as a distance and the orientation error as the angle between the
    predicted and recorded orientations; none for an action that is no pose."""
    import math

    from dp_ros.pose_fields import MATRIX_COLUMNS

    names = ['x', 'y', 'z', *MATRIX_COLUMNS, 'finger']

    def row(k: float, turn: float = 0.0) -> list[float]:
        c, s = math.cos(0.01 * k + turn), math.sin(0.01 * k + turn)
        return [0.4 + 0.001 * k, 0.0, 0.2, c, s, 0.0, -s, c, 0.0, 0.02]

    recorded = np.array([row(k) for k in range(20)])
    c = EpisodeChunks(0, recorded, list(range(0, 20, TA)))
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    # predicted 3 mm off in y and turned 2 degrees further about z
    c.predicted = np.array([[row(min(max(k, 0), 19), math.radians(2.0)) for k in s]
                            for s in steps])
    c.predicted[..., 1] += 0.003
    m = pose_errors([c], names, TO, TA)
    assert m['position_rmse'] == pytest.approx(0.003) and m['position_max'] == pytest.approx(0.003)
    assert m['angle_rmse_deg'] == pytest.approx(2.0) and m['angle_max_deg'] == pytest.approx(2.0)
    assert m['hold_angle_max_deg'] > 0 and m['hold_position_max'] > 0  # a ramp, held
    assert pose_errors([c], ['a', 'b', *names[2:]], TO, TA) is None  # no x, y: no pose
    metrics = error_metrics([c], np.ones(len(names)), TO, TA)
    metrics['pose'] = m
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [0], 'metrics': metrics, 'action_names': names,
                           'warnings': []})
    assert 'pose: position RMSE 0.003 (max 0.003), orientation RMSE 2 deg (max 2)' in text
    # two end effectors (bag2zarr's prefix): each arm's pose apart, the other arm 10x off
    both = EpisodeChunks(0, np.hstack([recorded, recorded]), c.starts)
    both.predicted = np.concatenate([c.predicted, c.predicted], axis=-1)
    both.predicted[..., len(names) + 1] += 0.027
    prefixed = [f'{arm}_{n}' for arm in ('left', 'right') for n in names]
    arms = pose_metrics([both], prefixed, ['left_'] * len(names) + ['right_'] * len(names),
                        TO, TA)
    assert set(arms) == {'poses_by_prefix'} and list(arms['poses_by_prefix']) == ['left_',
                                                                                  'right_']
    assert arms['poses_by_prefix']['left_'] == m
    assert arms['poses_by_prefix']['right_']['position_rmse'] == pytest.approx(0.03)
    assert pose_metrics([both], prefixed, None, TO, TA) == {}  # unprefixed: no whole pose
    assert pose_metrics([c], names, None, TO, TA) == {'pose': m}
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [0], 'action_names': prefixed,
                           'metrics': {**error_metrics([both], np.ones(len(prefixed)), TO, TA),
                                       **arms},
                           'warnings': []})
    assert 'pose right_*: position RMSE 0.03 (max 0.03)' in text
    # several policies: each one's pose figures, under its own name
    worse = dict(m, angle_rmse_deg=5.0)
    policies = [{'policy': name, 'step': None, 'closed_loop_score': None,
                 'metrics': dict(metrics, pose=pose)}
                for name, pose in (('run/step_1', worse), ('run/step_2', m))]
    text = format_comparison({'policies': policies, 'dataset': 'd', 'episodes_chosen': 'all',
                              'episodes': [0], 'lowest_error': 'run/step_2', 'warnings': []})
    assert 'pose of run/step_1: position RMSE 0.003 (max 0.003), orientation RMSE 5 deg' in text
    assert 'pose of run/step_2: position RMSE 0.003 (max 0.003), orientation RMSE 2 deg' in text
    policies[0]['metrics'] = {**metrics, **arms}
    text = format_comparison({'policies': policies, 'dataset': 'd', 'episodes_chosen': 'all',
                              'episodes': [0], 'lowest_error': 'run/step_2', 'warnings': []})
    assert 'pose left_* of run/step_1: position RMSE 0.003' in text


def test_each_chunk_sees_its_own_steps_observations(pusht_zarr, tmp_path):
    """A predictor that plans the newest observed agent position shows which steps each
    window holds: the chunk at step t observes t-1 and t (step 0 twice). On the paper's first
    6 episodes copied to a store of their own (the whole store takes 4 s to load; the
    windows of an episode are its own steps' alone)."""
    import torch
    from tiny_runs import copy_episodes

    six = copy_episodes(pusht_zarr, tmp_path / 'six.zarr', n=6)
    ds = PushTImageDataset(six, horizon=TP, pad_before=TO - 1, pad_after=TP - TO,
                           progress=False, obs_steps=TO)
    seen: list[np.ndarray] = []

    def newest_position(obs):
        seen.append(obs['agent_pos'].numpy().copy())
        return obs['agent_pos'][:, -1:, :].expand(-1, TP, -1).to(torch.float64)

    episodes = [5, 2]
    chunks = predict_episodes(newest_position, ds, episodes, TA, batch_size=7, progress=False)
    assert [c.episode for c in chunks] == episodes
    state = ds.replay_buffer.data['agent_pos']
    windows = np.concatenate(seen)
    row = 0
    for e in sorted(episodes):
        c = next(c for c in chunks if c.episode == e)
        start = 0 if e == 0 else int(ds.episode_ends[e - 1])
        np.testing.assert_array_equal(c.recorded, ds.replay_buffer.data['action'][
            start:ds.episode_ends[e]])
        for k, t in enumerate(c.starts):
            np.testing.assert_array_equal(c.predicted[k, 0], state[start + t])
            np.testing.assert_array_equal(windows[row], state[start + np.array([max(t - 1, 0),
                                                                               t])])
            row += 1
    assert row == len(windows)


# --------------------------------------------------------------------------- the command

@pytest.fixture(scope='module')
def trained_pair(tmp_path_factory):
    """A store of 6 episodes and a tiny policy whose policy.json says it was trained on it."""
    root = tmp_path_factory.mktemp('open_loop')
    store = root / 'demos.zarr'
    write_random_walk_store(store, [23, 9, 31, 17, 40, 12])
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.34))
    policy = make_tiny_checkpoint(root / 'policy', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})
    return store, policy


def test_the_command_compares_the_held_out_episodes_and_writes_report_and_plot(
        trained_pair, tmp_path, capsys):
    store, policy = trained_pair
    out = tmp_path / 'reports' / 'ol.json'
    assert main([str(policy), '--output', str(out), '--no-progress', '--batch-size', '3']) == 0
    report = json.loads(out.read_text())
    val = np.flatnonzero(get_val_mask(6, 0.34, seed=42)).tolist()
    assert report['episodes_chosen'] == 'val' and report['episodes'] == val
    assert report['trained_on_this_dataset'] is True
    lengths = [23, 9, 31, 17, 40, 12]
    m = report['metrics']
    assert m['n_steps'] == sum(lengths[e] for e in val)
    assert m['n_chunks'] == sum(-(-lengths[e] // TA) for e in val)
    assert len(m['by_chunk_step']['rmse_norm']) == TA
    assert all(np.isfinite(v) and v > 0 for v in m['per_dimension']['rmse'])
    assert report['action_names'] == ['action[0]', 'action[1]']
    assert out.with_suffix('.png').stat().st_size > 10_000
    worst = max(m['episodes'], key=lambda e: e['rmse_norm'])['episode']
    assert report['plot_episodes'][0] == {'label': 'worst', 'episode': worst}
    text = capsys.readouterr().out
    assert 'normalized RMSE' in text and 'holding the last command' in text
    # the same seed and batch size give the same numbers; a list of episodes is taken as given
    again = tmp_path / 'again.json'
    assert main([str(policy), '--output', str(again), '--no-progress', '--batch-size', '3',
                 '--no-plot', '--episodes', ','.join(map(str, val))]) == 0
    assert json.loads(again.read_text())['metrics'] == m
    assert not again.with_suffix('.png').exists()


def test_several_policies_are_compared_on_the_same_episodes_and_noise(
        trained_pair, tmp_path, capsys):
    """Snapshots of one run: each one's report equals its own single-policy run (the same
    windows, the same sampling noise), the lowest error is named, the plot is drawn."""
    store, first = trained_pair
    meta = json.loads((first / 'policy.json').read_text())
    provenance = meta['provenance']
    later = make_tiny_checkpoint(tmp_path / 'step_000200', seed=2, provenance={
        **provenance, 'step': 200, 'metrics': {'test/mean_score': 0.5}})
    earlier = make_tiny_checkpoint(tmp_path / 'step_000100', seed=1, provenance={
        **provenance, 'step': 100})
    out = tmp_path / 'cmp.json'
    args = ['--no-progress', '--batch-size', '4']
    assert main([str(earlier), str(later), '--output', str(out), *args]) == 0
    report = json.loads(out.read_text())
    assert report['format'] == 'dp_ros.open_loop_comparison'
    assert [p['step'] for p in report['policies']] == [100, 200]
    assert [p['closed_loop_score'] for p in report['policies']] == [None, 0.5]
    for p, path in zip(report['policies'], (earlier, later), strict=True):
        alone = tmp_path / f'{path.name}.json'
        assert main([str(path), '--output', str(alone), '--no-plot', *args]) == 0
        assert json.loads(alone.read_text())['metrics'] == p['metrics']
    errors = {p['policy']: p['metrics']['rmse_norm'] for p in report['policies']}
    assert report['lowest_error'] == min(errors, key=errors.get)
    assert errors[str(earlier)] != errors[str(later)]
    assert out.with_suffix('.png').stat().st_size > 10_000
    assert '<- lowest' in capsys.readouterr().out

    # a policy of another split is not compared with them
    other = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.5))
    stranger = make_tiny_checkpoint(tmp_path / 'other_split', provenance={
        'dataset': str(store), 'train_config': other.to_dict()})
    with pytest.raises(UserError, match='another dataset, keys or split'):
        main([str(earlier), str(stranger), '--output', str(tmp_path / 'x.json')])
    assert not (tmp_path / 'x.json').exists()


def test_episodes_the_training_excluded_are_not_in_its_split(trained_pair, tmp_path):
    store, policy = trained_pair
    val = np.flatnonzero(get_val_mask(6, 0.34, seed=42)).tolist()
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.34,
                                      exclude_episodes=[val[0]]))
    pruned = make_tiny_checkpoint(tmp_path / 'pruned', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})
    out = tmp_path / 'ol.json'
    assert main([str(pruned), '--output', str(out), '--no-progress', '--no-plot']) == 0
    assert json.loads(out.read_text())['episodes'] == val[1:]


def test_another_dataset_is_compared_over_all_its_episodes_and_has_no_split(
        trained_pair, tmp_path):
    _, policy = trained_pair
    other = tmp_path / 'new_recordings.zarr'
    write_random_walk_store(other, [15, 11], seed=4)
    out = tmp_path / 'ol.json'
    assert main([str(policy), '--dataset', str(other), '--output', str(out), '--no-progress',
                 '--no-plot']) == 0
    report = json.loads(out.read_text())
    assert report['episodes_chosen'] == 'all' and report['episodes'] == [0, 1]
    assert report['trained_on_this_dataset'] is False
    with pytest.raises(UserError, match='not the dataset the policy was trained on'):
        main([str(policy), '--dataset', str(other), '--episodes', 'val', '--output',
              str(tmp_path / 'x.json'), '--no-progress'])
    assert not (tmp_path / 'x.json').exists()


def test_another_dataset_has_none_of_the_trainings_exclusions_or_cap(trained_pair, tmp_path):
    """The training left out episode 4 and capped its episodes: new recordings of two
    episodes are compared over both (the training's exclude_episodes were taken for theirs:
    'episodes [4] are not episodes of this dataset'); two policies of other splits compare
    on them too, the split being the training set's only."""
    store, _ = trained_pair
    policies = []
    for name, data in (('pruned', {'val_ratio': 0.34, 'exclude_episodes': [4],
                                    'max_train_episodes': 2}),
                       ('other_split', {'val_ratio': 0.5})):
        cfg = TrainConfig(data=DataConfig(zarr_path=str(store), **data))
        policies.append(str(make_tiny_checkpoint(tmp_path / name, seed=1, provenance={
            'dataset': str(store), 'train_config': cfg.to_dict()})))
    other = tmp_path / 'new_recordings.zarr'
    write_random_walk_store(other, [15, 11], seed=4)
    out = tmp_path / 'ol.json'
    assert main([policies[0], '--dataset', str(other), '--output', str(out), '--no-progress',
                 '--no-plot']) == 0
    report = json.loads(out.read_text())
    assert report['episodes_chosen'] == 'all' and report['episodes'] == [0, 1]
    assert report['metrics']['n_steps'] == 26
    assert main([*policies, '--dataset', str(other), '--output', str(out), '--no-progress',
                 '--no-plot']) == 0
    assert [p['metrics']['n_steps'] for p in json.loads(out.read_text())['policies']] == [26, 26]


def test_an_output_that_cannot_be_written_is_refused_before_the_run(trained_pair, tmp_path):
    """A directory given as --output (or --plot), or a path under a file, is one line before
    anything is loaded (it failed after the whole run and left its plot behind); the report
    is written before the plot."""
    _, policy = trained_pair
    (tmp_path / 'reports').mkdir()
    (tmp_path / 'a_file').write_text('x')
    for args, match in (
            (['--output', str(tmp_path / 'reports')], r'--output .*reports is a directory'),
            (['--output', str(tmp_path / 'a_file' / 'ol.json')], 'a_file is not a directory'),
            (['--output', str(tmp_path / 'ol.json'), '--plot', str(tmp_path / 'reports')],
             r'--plot .*reports is a directory'),
            (['--output', str(tmp_path / 'reports.json'), '--plot', str(tmp_path / 'a_file'
                                                                      / 'p.png')],
             'a_file is not a directory')):
        with pytest.raises(UserError, match=match):
            main([str(policy), '--no-progress', *args])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file', 'reports']
    assert not any((tmp_path / 'reports').iterdir())
    # a plot that cannot be drawn loses no report: the JSON is there before the PNG
    out = tmp_path / 'new' / 'ol.json'
    (tmp_path / 'new').mkdir()
    (tmp_path / 'new' / 'ol.png').write_text('x')  # replaced; a directory here would not be
    assert main([str(policy), '--output', str(out), '--no-progress']) == 0
    report = json.loads(out.read_text())
    assert report['plot'] == str(out.with_suffix('.png'))
    assert out.with_suffix('.png').stat().st_size > 10_000
    assert out.stat().st_mtime_ns <= out.with_suffix('.png').stat().st_mtime_ns


def test_other_joints_or_shapes_are_refused_before_anything_is_loaded(trained_pair, tmp_path):
    store, policy = trained_pair
    meta = json.loads((policy / 'policy.json').read_text())
    named = tmp_path / 'named'
    named.mkdir()
    meta['config']['shape_meta']['action']['names'] = ['x', 'y']
    (named / 'policy.json').write_text(json.dumps(meta))
    (named / 'model.safetensors').symlink_to(policy / 'model.safetensors')
    swapped = tmp_path / 'swapped.zarr'
    write_random_walk_store(swapped, [10], seed=5)
    zarr.open(str(swapped), mode='r+')['data/action'].attrs['names'] = ['y', 'x']
    with pytest.raises(UserError, match=r"action holds \['y', 'x'\].*trained on \['x', 'y'\]"):
        main([str(named), '--dataset', str(swapped), '--output', str(tmp_path / 'a.json')])
    small = tmp_path / 'small_camera.zarr'
    buffer = ReplayBuffer.create(small)
    buffer.add_episode({'img': np.zeros((5, 48, 64, 3), np.uint8),
                        'state': np.zeros((5, 5), np.float32),
                        'action': np.zeros((5, 2), np.float32)})
    with pytest.raises(UserError, match=r'image is \(3, 48, 64\).*policy takes \(3, 96, 96\)'):
        main([str(policy), '--dataset', str(small), '--output', str(tmp_path / 'b.json')])
    no_config = make_tiny_checkpoint(tmp_path / 'untracked')
    with pytest.raises(UserError, match='records no training config'):
        main([str(no_config), '--output', str(tmp_path / 'c.json')])
    assert not any((tmp_path / n).exists() for n in ('a.json', 'b.json', 'c.json'))


def test_the_shipped_policy_beats_holding_the_last_command_on_held_out_pusht(
        pusht_zarr, tmp_path):
    """The paper's validation episodes (the split training held out): a policy fed the
    wrong steps or unnormalized images would not beat a policy that stands still."""
    out = tmp_path / 'shipped.json'
    assert main([str(SHIPPED_CHECKPOINT), '--dataset', str(pusht_zarr), '--output', str(out),
                 '--no-progress']) == 0
    report = json.loads(out.read_text())
    m = report['metrics']
    assert report['episodes'] == np.flatnonzero(get_val_mask(206, 0.02, seed=42)).tolist()
    assert m['rmse_norm'] < 0.85 * m['hold_rmse_norm'], m
    # the plan is best where it starts: the first executed action is the closest
    assert m['by_chunk_step']['rmse_norm'][0] < m['by_chunk_step']['rmse_norm'][-1]


def test_an_episode_without_steps_is_left_out_and_named(trained_pair, tmp_path):
    """A store written by another tool may hold an episode of no steps (episode_ends
    repeated; train leaves it windowless): open-loop crashed on it (a reshape of an empty
    action array, or an index of an empty episode); it is left out with a warning, and
    choosing it alone is one line."""
    from training.replay_buffer import ReplayBuffer

    _, policy = trained_pair
    write_random_walk_store(tmp_path / 'whole.zarr', [15, 11], seed=4)
    whole = ReplayBuffer.open(tmp_path / 'whole.zarr')
    arrays = {k: np.asarray(v[:]) for k, v in whole.data.items()}
    ReplayBuffer.from_arrays(arrays, np.array([15, 26])).save_to(tmp_path / 'gap.zarr')
    set_episode_ends(tmp_path / 'gap.zarr', [15, 15, 26])
    out = tmp_path / 'ol.json'
    assert main([str(policy), '--dataset', str(tmp_path / 'gap.zarr'), '--output', str(out),
                 '--no-progress', '--no-plot']) == 0
    report = json.loads(out.read_text())
    assert report['episodes'] == [0, 2]
    assert 'episode(s) [1] have no steps: left out' in report['warnings']
    with pytest.raises(UserError, match=r'--episodes 1: episode\(s\) \[1\] have no steps'):
        main([str(policy), '--dataset', str(tmp_path / 'gap.zarr'), '--episodes', '1',
              '--output', str(tmp_path / 'x.json'), '--no-progress'])
