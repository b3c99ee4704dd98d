"""`dp-ros open-loop` (training/open_loop.py): behaviour a mutation review found no test of.
Each test names what it guards; a change that breaks it was left passing by the rest of the
suite (the windows one step into the future, the sampling options dropped, a hold of step 0
not scored at n_action_steps 1, a second policy's control period not checked, the text and
the plot that misplace their numbers). Real zarr stores, tiny real policies."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support import (  # noqa: F401
    edit_saved_policy,
    make_tiny_checkpoint,
    one_torch_thread,
    tiny_pusht_config,
    write_random_walk_store,
)

import training.plots as plots
from dp_ros.errors import UserError
from training.config import DataConfig, TrainConfig
from training.open_loop import (
    EpisodeChunks,
    Source,
    check_split,
    chunk_starts,
    comparison_axis,
    error_metrics,
    format_comparison,
    format_summary,
    load_windows,
    main,
    pick_for_plot,
    plot_open_loop,
    policy_predictor,
    predict_episodes,
)

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon
LENGTHS = [11, 6]


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    """Two short random-walk episodes recorded at 0.1 s."""
    import zarr

    path = tmp_path_factory.mktemp('open_loop_mutants') / 'demos.zarr'
    write_random_walk_store(path, LENGTHS)
    zarr.open_group(str(path), mode='r+').attrs['control_period_s'] = 0.1
    return path


@pytest.fixture(scope='module')
def policy(store, tmp_path_factory) -> Path:
    """A tiny policy whose policy.json says it was trained on `store` (nothing held out)."""
    cfg = TrainConfig(data=DataConfig(zarr_path=str(store), val_ratio=0.0))
    return make_tiny_checkpoint(tmp_path_factory.mktemp('policy') / 'p', seed=1, provenance={
        'dataset': str(store), 'train_config': cfg.to_dict()})


def copy_of(policy: Path, directory: Path, edit) -> str:
    """The policy saved again at `directory` with edit(policy.json) applied, as a save."""
    import shutil

    shutil.copytree(policy, directory)
    return str(edit_saved_policy(directory, edit))


# --------------------------------------------------------------------------- the windows

def test_the_loaded_windows_end_at_each_chunks_own_step(store):
    """load_windows' padding (To - 1 before, horizon - To after) makes the window of step t
    end at t: the chunk planned at step t sees steps t-1 and t (step 0 twice), never t+1. A
    padding shifted by one keeps the number of windows and the command runs, on
    observations one step in the future (an open-loop error that flatters the policy)."""
    import torch

    source = Source(store, DataConfig(zarr_path=str(store)), False)
    ds = load_windows(tiny_pusht_config(), source, progress=False, episodes=[1, 0])
    seen = []

    def newest_position(obs):
        seen.append(obs['agent_pos'].numpy().copy())
        return obs['agent_pos'][:, -1:, :].expand(-1, TP, -1).to(torch.float64)

    chunks = predict_episodes(newest_position, ds, [1, 0], TA, batch_size=2, progress=False)
    state = np.asarray(ds.replay_buffer.data['agent_pos'])
    windows = np.concatenate(seen)
    row = 0
    starts = {0: 0, 1: LENGTHS[0]}
    for c in sorted(chunks, key=lambda c: c.episode):
        first = starts[c.episode]
        for k, t in enumerate(c.starts):
            np.testing.assert_array_equal(c.predicted[k, 0], state[first + t])
            np.testing.assert_array_equal(windows[row], state[first + np.array([max(t - 1, 0),
                                                                               t])])
            row += 1
    assert row == len(windows) == sum(len(chunk_starts(n, TA)) for n in LENGTHS)


# --------------------------------------------------------------------------- the arithmetic

def test_at_one_action_a_chunk_the_step_1_chunk_holds_step_0():
    """n_action_steps 1 plans at every step: the chunk at step 1 has step 0's command before
    it, so its hold is scored (held step 0, the first index, is a command like any other);
    only step 0's chunk has none."""
    recorded = np.stack([np.array([0.0, 1.0, 3.0]), np.full(3, 5.0)], 1)
    c = EpisodeChunks(0, recorded, chunk_starts(3, 1))
    c.predicted = np.repeat(recorded[:, None, :], 4, axis=1)  # horizon 4, exact
    m = error_metrics([c], np.ones(2), TO, 1)
    assert m['hold_n_steps'] == 2  # steps 1 and 2, holding steps 0 and 1
    assert m['per_dimension']['hold_rmse'] == pytest.approx([np.sqrt((1 + 4) / 2), 0.0])
    assert m['episodes'][0]['hold_rmse_norm'] == pytest.approx(np.sqrt((1 + 4) / 4))


# --------------------------------------------------------------------------- the sampling

def test_the_predictor_samples_with_the_seed_sampler_and_steps_given():
    """policy_predictor passes --sampler and --num-inference-steps on and draws every batch
    from one generator seeded with --sample-seed: its chunks are the policy's own draws
    with those settings, batch after batch (the next batch is not the first one's noise
    again), and another seed draws others."""
    import torch

    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    normalizer = Normalizer.from_data({'agent_pos': rng.uniform(20, 490, (64, 2)),
                                       'action': rng.uniform(60, 450, (64, 2))})
    policy = DiffusionPolicy(tiny_pusht_config(), normalizer).eval()
    obs = {'image': torch.rand(2, TO, 3, 96, 96, generator=torch.Generator().manual_seed(1)),
           'agent_pos': torch.full((2, TO, 2), 250.0)}
    predict = policy_predictor(policy, 'ddpm', 2, 7)
    got = [predict(obs), predict(obs)]
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        want = [policy.predict_action(obs, generator=gen, sampler='ddpm',
                                      num_inference_steps=2)['action_pred'] for _ in range(2)]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    assert not torch.equal(got[0], got[1])
    assert not torch.equal(policy_predictor(policy, 'ddpm', 2, 8)(obs), got[0])


def test_a_rotation_entry_constant_in_the_training_data_keeps_its_scale():
    """A pose action's rotation entries are left unnormalized (in [-1, 1] whatever their
    range): one the training data never moved (r20 of yaw-only rotations) keeps the factor 1
    it is compared in, not the NaN of a constant dimension (z here), which leaves a dimension
    out of every normalized figure."""
    from dp_ros.policy.diffusion import DiffusionPolicy
    from dp_ros.policy.normalizer import Normalizer
    from dp_ros.pose_fields import MATRIX_COLUMNS
    from training.open_loop import action_scale

    names = ['x', 'y', 'z', *MATRIX_COLUMNS]
    meta = {'obs': {'image': {'shape': [3, 96, 96], 'type': 'rgb'},
                    'agent_pos': {'shape': [2], 'type': 'low_dim'}},
            'action': {'shape': [9], 'names': names,
                       'sources': [{'kind': 'pose', 'topic': '/ee_target', 'width': 9}]}}
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-3, 3, 64)
    c, s, zero = np.cos(yaw), np.sin(yaw), np.zeros(64)
    action = np.stack([rng.uniform(0.2, 0.6, 64), rng.uniform(-0.3, 0.3, 64),
                       np.full(64, 0.2), c, s, zero, -s, c, zero], 1)
    normalizer = Normalizer.from_data({'agent_pos': rng.uniform(0, 1, (64, 2)),
                                       'action': action}, identity={'action': range(3, 9)})
    scale = action_scale(DiffusionPolicy(tiny_pusht_config(shape_meta=meta), normalizer))
    assert np.isnan(scale[2]) and np.isfinite(scale[:2]).all()
    assert scale[3:].tolist() == [1.0] * 6


def test_observations_below_the_training_range_are_named_by_their_distance(tmp_path):
    """The hint of a chunk that came out not finite: observations far below the range the
    normalizer was fitted on are as far outside it as those above (3e+38), not a negative
    distance."""
    from dp_ros.policy.normalizer import Normalizer
    from training.dataset import PushTImageDataset
    from training.open_loop import outside_training_range
    from training.replay_buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    buffer = ReplayBuffer.create(tmp_path / 'far.zarr')
    for low in (False, True):
        state = np.concatenate([rng.uniform(50, 400, (6, 2)), rng.normal(0, 1, (6, 3))], 1)
        if low:
            state[:, 0] = -3e38
        buffer.add_episode({'img': np.zeros((6, 96, 96, 3), np.uint8),
                            'state': state.astype(np.float32),
                            'action': state[:, :2].astype(np.float32)})
    normalizer = Normalizer.from_data({'agent_pos': rng.uniform(20, 490, (64, 2)),
                                       'action': rng.uniform(60, 450, (64, 2))}).to_dict()
    ds = PushTImageDataset(tmp_path / 'far.zarr', progress=False)
    assert outside_training_range(ds, [0], normalizer) == []
    assert outside_training_range(ds, [1], normalizer) == [
        'agent_pos dimension(s) [0] up to 3e+38 outside its training range']


# --------------------------------------------------------------------------- the command

@pytest.fixture(scope='module')
def new_recordings(store, policy, tmp_path_factory) -> dict:
    """The report of `dp-ros open-loop` on another dataset recorded with the training keys
    (every episode), with the sampler, steps and seed given."""
    root = tmp_path_factory.mktemp('new_recordings')
    other = root / 'new.zarr'
    write_random_walk_store(other, [9, 7], seed=5)
    out = root / 'r.json'
    assert main([str(policy), '--dataset', str(other), '--output', str(out), '--no-plot',
                 '--sampler', 'ddpm', '--num-inference-steps', '2', '--sample-seed', '3',
                 '--no-progress']) == 0
    return json.loads(out.read_text())


def test_all_the_episodes_of_another_dataset_carry_no_trained_on_warning(new_recordings):
    """The 'most of these episodes were trained on' warning is for --episodes all on the
    training set; new recordings were never trained on."""
    assert new_recordings['episodes_chosen'] == 'all' and new_recordings['episodes'] == [0, 1]
    assert new_recordings['trained_on_this_dataset'] is False
    assert new_recordings['warnings'] == []


def test_the_report_names_the_sampler_and_steps_it_ran(new_recordings):
    assert new_recordings['sampler'] == 'ddpm' and new_recordings['num_inference_steps'] == 2
    assert new_recordings['sample_seed'] == 3


def test_no_plot_checks_no_plot_path(tmp_path):
    """--no-plot draws nothing: a --plot it leaves undrawn (a directory here), or an
    --output X.png (whose default plot would be the report), is not refused."""
    from training.open_loop import build_parser, check_args

    (tmp_path / 'a_directory').mkdir()
    for more in (['--output', str(tmp_path / 'r.json'), '--plot', str(tmp_path / 'a_directory')],
                 ['--output', str(tmp_path / 'r.png')]):
        check_args(build_parser().parse_args(['policy', '--no-plot', *more]))


def test_each_policy_compared_is_checked_for_the_datasets_rate(store, policy, tmp_path):
    """Several policies on one dataset: the second one's control period (0.2 s on a 0.1 s
    recording) is refused as the first one's would be, naming it, before any chunk."""
    slow = copy_of(policy, tmp_path / 'slow', lambda meta: meta.update(control_period_s=0.2))
    out = tmp_path / 'r.json'
    with pytest.raises(UserError, match=rf'the policy {re.escape(slow)} runs at '
                                        'control_period_s 0.2 s'):
        main([str(policy), slow, '--output', str(out), '--no-progress', '--no-plot'])
    assert not out.exists()


@pytest.mark.parametrize('what', ['dataset', 'keys'])
def test_policies_trained_on_another_dataset_or_keys_are_not_compared(store, policy, tmp_path,
                                                                       what):
    """Two policies compare on one dataset read with one set of keys: a policy trained on
    another store, or reading other arrays of the same store, is refused naming it."""
    other = tmp_path / 'other.zarr'
    write_random_walk_store(other, LENGTHS, seed=2)

    def edit(meta):
        data = meta['provenance']['train_config']['data']
        if what == 'dataset':
            meta['provenance']['dataset'] = data['zarr_path'] = str(other)
        else:
            data['state_key'] = 'action'

    stranger = copy_of(policy, tmp_path / 'stranger', edit)
    with pytest.raises(UserError, match=f'{re.escape(stranger)} was trained on another '
                                        'dataset, keys or split'):
        main([str(policy), stranger, '--output', str(tmp_path / 'r.json'), '--no-progress'])


def test_train_on_another_dataset_is_refused_as_val_is():
    """New recordings have no split: --episodes train is refused as --episodes val is, not
    taken as every episode."""
    source = Source(Path('new.zarr'), DataConfig(zarr_path='trained.zarr'), False)
    with pytest.raises(UserError, match=r'--episodes train: new\.zarr is not the dataset the '
                                        'policy was trained on, so it has no train split'):
        check_split('train', source)


@pytest.mark.parametrize(('plot', 'message'), [
    (None, 'the plot would replace the report (its default path is --output as .png)'),
    ('r.png', '--plot {p} is --output {p}: the plot would replace the report'),
], ids=['default_plot', 'plot_is_output'])
def test_a_plot_in_the_reports_place_says_which_path_collides(tmp_path, plot, message):
    """The default plot path (--output as .png) and a --plot naming the report are told
    apart: one asks for a .json report name, the other for another --plot."""
    out = tmp_path / 'r.png'
    with pytest.raises(UserError) as info:
        main([str(tmp_path / 'no_policy'), '--output', str(out), '--no-progress',
              *(['--plot', str(tmp_path / plot)] if plot else [])])
    assert message.format(p=out) in str(info.value)


# --------------------------------------------------------------------------- the outputs

def test_three_episodes_plot_the_worst_the_median_and_the_best():
    """Three episodes have a median of their own: all three are drawn."""
    metrics = {'episodes': [{'episode': e, 'rmse_norm': v}
                            for e, v in ((4, 0.3), (5, 0.9), (6, 0.1))]}
    assert pick_for_plot(metrics, 3) == [('worst', 5), ('median', 4), ('best', 6)]


def test_the_plot_draws_each_chunk_at_its_own_steps(tmp_path, monkeypatch):
    """A chunk planned at step s: its executed actions (solid) at steps s..s+Ta-1, its whole
    plan (dotted) from s-To+1, in seconds; the recorded actions of each dimension in that
    dimension's row; the title's numbers the policy's, then the hold's."""
    rng = np.random.default_rng(0)
    period, to, ta, tp = 0.1, 2, 4, 8
    c = EpisodeChunks(3, rng.normal(size=(20, 2)), chunk_starts(20, ta),
                      predicted=rng.normal(size=(5, tp, 2)))
    figures = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, out: figures.append(fig) or Path(out))
    plot_open_loop([c], [('worst', 3)], {'episodes': [{'episode': 3, 'rmse_norm': 0.2,
                                                       'hold_rmse_norm': 0.5}]},
                   ['x', 'y'], period, to, ta, tmp_path / 'ol.png')
    axes = figures[0].axes
    assert 'normalized RMSE 0.200 (hold 0.500)' in axes[0].get_title()
    for d in range(2):
        recorded, *chunks = axes[d].get_lines()
        np.testing.assert_allclose(recorded.get_xdata(), np.arange(20) * period)
        np.testing.assert_array_equal(recorded.get_ydata(), c.recorded[:, d])
        for k, start in enumerate(c.starts):
            plan, executed = chunks[2 * k], chunks[2 * k + 1]
            np.testing.assert_allclose(plan.get_xdata(), (start - to + 1 + np.arange(tp))
                                       * period)
            np.testing.assert_allclose(executed.get_xdata(), (start + np.arange(ta)) * period)
            np.testing.assert_array_equal(executed.get_ydata(),
                                          c.predicted[k, to - 1:to - 1 + ta, d])


def ramp(episode: int, length: int, offset: float) -> EpisodeChunks:
    """dim 0 rises by 1 a step, dim 1 is 5; planned `offset` off in dim 0."""
    recorded = np.stack([np.arange(length, dtype=np.float64), np.full(length, 5.0)], 1)
    c = EpisodeChunks(episode, recorded, chunk_starts(length, TA))
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    c.predicted = recorded[np.clip(steps, 0, length - 1)] + [offset, 0.0]
    return c


def test_the_summary_puts_each_number_in_its_place():
    """The text summary: each dimension's hold column is the hold's error (not the
    policy's), the worst episodes come worst first, and the hold's step count is its own
    (an episode's first chunk is not held)."""
    m = error_metrics([ramp(3, 20, 1.0), ramp(7, 13, 4.0), ramp(9, 16, 2.0)], np.ones(2),
                      TO, TA)
    text = format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [3, 7, 9], 'metrics': m, 'action_names': ['x', 'y'],
                           'warnings': []})
    row = next(line for line in text.splitlines() if line.startswith('x ')).split()
    pd = m['per_dimension']
    assert row[1:] == [f'{pd[k][0]:.4g}' for k in ('rmse', 'mae', 'max_abs')] + [
        f'{pd[k][0]:.4f}' for k in ('rmse_norm', 'hold_rmse_norm')]
    worst = next(line for line in text.splitlines() if line.startswith('worst episodes:'))
    assert [e.split(' (')[0] for e in worst.removeprefix('worst episodes: ').split(', ')] == [
        '7', '9', '3']  # 4, 2 and 1 off
    assert m['hold_n_steps'] == 25 != m['n_steps']  # 12 + 5 + 8 held steps, 49 compared
    assert f"over the {m['hold_n_steps']} steps of chunks with a command before" in text


def test_the_comparison_axis_is_the_step_only_when_each_policy_has_its_own():
    """Two policies of one step (best and its snapshot) or one without a step: drawn in the
    order given, labelled by directory, not on a step axis."""
    same = [{'policy': 'run/checkpoints/best', 'step': 100},
            {'policy': 'run/checkpoints/step_000100', 'step': 100}]
    assert comparison_axis(same) == ([0.0, 1.0], 'policy', ['best', 'step_000100'])
    unknown = [{'policy': 'a/best', 'step': None}, {'policy': 'a/step_000200', 'step': 200}]
    assert comparison_axis(unknown) == ([0.0, 1.0], 'policy', ['best', 'step_000200'])
    assert comparison_axis([{'policy': 'x', 'step': 5}, {'policy': 'y', 'step': 2}]) == (
        [5.0, 2.0], 'training step', [])


def test_the_comparison_table_marks_the_lowest_and_its_first_and_last_steps():
    """Each policy's row: the normalized RMSE, the first then the last executed action's, and
    '<- lowest' on the lowest one alone."""
    def entry(name: str, rmse: float) -> dict:
        return {'policy': name, 'step': None, 'closed_loop_score': None,
                'metrics': {'rmse_norm': rmse, 'hold_rmse_norm': 0.9,
                            'by_chunk_step': {'rmse_norm': [rmse / 2, rmse, 2 * rmse]}}}

    text = format_comparison({'policies': [entry('a', 0.3), entry('b', 0.2)],
                              'dataset': 'd', 'episodes_chosen': 'all', 'episodes': [0],
                              'lowest_error': 'b', 'warnings': []})
    rows = {line.split()[0]: line for line in text.splitlines()[2:4]}
    assert rows['a'].split() == ['a', '0.3000', '0.150', '0.600']
    assert rows['b'].split() == ['b', '0.2000', '0.100', '0.400', '<-', 'lowest']
