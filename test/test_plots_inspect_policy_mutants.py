"""`dp-ros plot` (training/plots.py) and `dp-ros inspect POLICY` (training/inspect_policy.py):
behaviour a mutation review found no test of. Each test names what it guards; a change that
breaks it was left passing by the rest of the suite (val_loss read from the wrong event, stages
logged every N steps chained by their record count, a relative init_from that names the run
first, the compared runs' colours and dashes, stage lines and log axes where they do not belong,
a lone eval point drawn without a marker; the policy summary's training range, parameter count
and score, the recorded topics it prints, and the draft's whole-number floats; and a run given
as the current directory, which was plotted with no name). Real logs (training.run_log.RunLog
writes them, as the trainer does) and tiny real policies (support.make_tiny_checkpoint); a
figure is read from its matplotlib objects, kept by replacing save_figure as the other plot
tests do."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from matplotlib.colors import same_color
from support import make_tiny_checkpoint, one_torch_thread  # noqa: F401

import training.plots as plots
from dp_ros.policy.checkpoint import METADATA_FILE, read_policy_metadata
from training.inspect_dataset import main as inspect_main
from training.run_log import RunLog

TITLES = [title for title, *_ in plots.PANELS]
LOSS, MSE, SCORE, LR = (TITLES.index(t) for t in (
    'loss', 'sampled-action MSE (normalized)', 'test mean_score', 'learning rate'))


# --- plots -----------------------------------------------------------------------------------

def write_trainer_log(run: Path, steps: list[int], losses: list[float] | None = None,
                      val_every: int = 2, score_at: int | None = None) -> Path:
    """A run directory whose log.jsonl RunLog wrote from the trainer's events: 'train' (loss,
    lr) per step, 'val' (val_loss) and 'action_mse' every val_every records, 'eval'
    (test/mean_score) at score_at, then 'end'."""
    run.mkdir(parents=True)
    losses = losses or [1.0 / s for s in steps]
    log = RunLog(run)
    try:
        for i, (step, loss) in enumerate(zip(steps, losses, strict=True), start=1):
            log.emit('train', step, 0, 0.1 * i, {'loss': loss, 'lr': 1e-4})
            if i % val_every == 0:
                log.emit('val', step, 0, 0.1 * i, {'val_loss': 2.0 / step})
                log.emit('action_mse', step, 0, 0.1 * i, {'train_action_mse_norm': 0.5 / step,
                                                          'val_action_mse_norm': 0.7 / step})
        if score_at is not None:
            log.emit('eval', score_at, 0, 1.0, {'test/mean_score': 0.5})
        log.emit('end', steps[-1], 0, 1.0, {'interrupted': None, 'best_score': None})
    finally:
        log.close()
    return run


def runs_of(*dirs: Path) -> list[tuple[str, list[dict]]]:
    return [(d.name, plots.read_log(d / 'log.jsonl')) for d in dirs]


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures plot_training_curves draws, kept open instead of saved."""
    import matplotlib.pyplot as plt

    kept: list = []
    monkeypatch.setattr(plots, 'save_figure', lambda fig, out: kept.append(fig) or Path(out))
    yield kept
    for fig in kept:
        plt.close(fig)


def test_each_panel_draws_the_keys_the_trainer_logs_under_their_events(tmp_path):
    """val_loss is a 'val' record's, the sampled-action MSEs an 'action_mse' record's, the
    score an 'eval' record's: each on its panel, at its own steps."""
    run = write_trainer_log(tmp_path / 'run', [1, 2, 3, 4], score_at=4)
    panels = plots.panel_lines(runs_of(run))
    assert [(line.label, line.steps) for line in panels[LOSS]] == [
        ('loss', [1, 2, 3, 4]), ('val_loss', [2, 4])]
    assert panels[LOSS][1].values == [1.0, 0.5]
    assert [(line.label, line.steps, line.values) for line in panels[MSE]] == [
        ('train_action_mse_norm', [2, 4], [0.25, 0.125]),
        ('val_action_mse_norm', [2, 4], [0.35, 0.175])]
    assert [(line.label, line.steps) for line in panels[SCORE]] == [('test/mean_score', [4])]
    assert [(line.label, line.values) for line in panels[LR]] == [('lr', [1e-4] * 4)]


def test_stages_logged_every_n_steps_follow_the_last_logged_step(tmp_path):
    """Without a known warm-start step, stage 2 starts at stage 1's last step (300), not at
    its number of records (a log every 100 steps holds 3 train records and more besides)."""
    one = write_trainer_log(tmp_path / 'one', [100, 200, 300])
    two = write_trainer_log(tmp_path / 'two', [100, 200])
    runs = runs_of(one, two)
    assert plots.stage_starts(runs) == [0, 300]
    (loss, _) = plots.panel_lines(runs)[LOSS]
    assert loss.steps == [100, 200, 300, 400, 500]


def test_a_relative_init_from_that_starts_with_the_runs_name_is_found(tmp_path, monkeypatch):
    """train ran inside runs/ with init_from one/checkpoints/step_004000: plot run from
    elsewhere reads it inside the previous run's directory (the name is the path's first
    part)."""
    one = write_trainer_log(tmp_path / 'runs' / 'one', [2000, 4000, 8000])
    (one / 'checkpoints' / 'step_004000').mkdir(parents=True)
    (one / 'checkpoints' / 'step_004000' / 'policy.json').write_text(
        json.dumps({'provenance': {'step': 4000}}))
    two = write_trainer_log(tmp_path / 'runs' / 'two', [1000])
    (two / 'config.yaml').write_text(yaml.safe_dump(
        {'train': {'init_from': 'one/checkpoints/step_004000'}}))
    monkeypatch.chdir(tmp_path)
    assert plots.warm_start_step(two, one) == 4000


def test_compared_runs_get_a_colour_each_val_dashed_and_no_stage_lines(tmp_path, figures,
                                                                       capsys):
    """--compare: run k's lines in colour Ck (its loss solid, its val_loss dashed), its
    non-finite mark in its own colour; no grey stage line (no run follows another)."""
    a = write_trainer_log(tmp_path / 'a', [1, 2, 3, 4])
    b = write_trainer_log(tmp_path / 'b', [1, 2, 3, 4], losses=[0.9, 0.5, math.nan, 0.4])
    assert plots.main([str(a), str(b), '--compare', '--out', str(tmp_path / 'c.png')]) == 0
    (fig,) = figures
    loss_ax = fig.get_axes()[LOSS]
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    for run, name in enumerate(('a', 'b')):
        assert same_color(lines[f'{name}: loss'].get_color(), f'C{run}')
        assert same_color(lines[f'{name}: val_loss'].get_color(), f'C{run}')
        assert lines[f'{name}: loss'].get_linestyle() == '-'
        assert lines[f'{name}: val_loss'].get_linestyle() == '--'
    mark = lines['b: loss not finite (nan) from step 3']
    assert same_color(mark.get_color(), 'C1') and mark.get_linestyle() == ':'
    for ax in fig.get_axes():
        assert not [line for line in ax.get_lines() if line.get_linestyle() == '--'
                    and line.get_xdata()[0] == line.get_xdata()[-1]], ax.get_title()
    assert 'dashed' not in fig.get_axes()[-1].get_xlabel()
    capsys.readouterr()


def test_a_chained_figure_has_log_loss_axes_linear_score_and_lr_and_names_its_dashes(
        tmp_path, figures, capsys):
    """The loss and MSE panels are log-scaled, the score and learning rate linear; the x
    label says what the dashed line is where stages are chained (and only there); the
    non-finite loss is labelled in the loss panel's legend only; a line of few points (the
    lone eval score) is drawn with markers, else it would not show at all."""
    one = write_trainer_log(tmp_path / 'one', [1, 2, 3, 4], score_at=4)
    two = write_trainer_log(tmp_path / 'two', list(range(1, 41)),
                            losses=[1.0] * 39 + [math.inf])
    assert plots.main([str(one), str(two), '--out', str(tmp_path / 'c.png')]) == 0
    assert plots.main([str(one), '--out', str(tmp_path / 'd.png')]) == 0
    chained, single = figures
    axes = chained.get_axes()
    assert [ax.get_yscale() for ax in axes] == ['log', 'log', 'linear', 'linear']
    assert axes[-1].get_xlabel() == 'optimizer step (dashed: next stage starts)'
    assert single.get_axes()[-1].get_xlabel() == 'optimizer step'
    label = 'two: loss not finite (inf) from step 40'
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert label in legends[LOSS]
    assert all(label not in legend for i, legend in enumerate(legends) if i != LOSS)
    (score,) = [line for line in axes[SCORE].get_lines() if line.get_label() == 'test/mean_score']
    assert list(score.get_xdata()) == [4] and score.get_marker() == 'o'
    (loss,) = [line for line in single.get_axes()[LOSS].get_lines() if line.get_label() == 'loss']
    assert loss.get_marker() == 'o'  # 4 points
    (lr,) = [line for line in axes[LR].get_lines() if line.get_label() == 'lr']
    assert len(lr.get_xdata()) == 44 and lr.get_marker() in (None, 'None', '')  # 44 points
    capsys.readouterr()


# --- inspect POLICY --------------------------------------------------------------------------

def printed(policy, capsys, *args: str) -> list[str]:
    assert inspect_main([str(policy), *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_summary_says_the_weights_range_score_and_crop_as_saved(tmp_path, capsys):
    """The parameter count of the weights, the training range low .. high as the normalizer
    holds it (4 significant digits), a recorded score of 0 (a run that never succeeded),
    the camera crop; --json holds the same provenance, range and crop."""
    from dp_ros.policy.config import pusht_shape_meta

    meta = pusht_shape_meta()
    meta['obs']['image']['camera_crop'] = [30, 10, 400, 300]
    provenance = {'step': 50, 'epoch': 2, 'ema': True, 'dataset': 'data/arm.zarr',
                  'metrics': {'test/mean_score': 0.0}, 'run_dir': 'runs/x'}
    policy = make_tiny_checkpoint(tmp_path / 'p', provenance=provenance, shape_meta=meta)
    saved = read_policy_metadata(policy)
    n = saved['weights']['num_parameters']
    fields = saved['normalizer']['fields']

    def span(key: str) -> str:
        return ' .. '.join('[' + ', '.join(f'{v:.4g}' for v in fields[key][m]) + ']'
                           for m in ('min', 'max'))

    lines = printed(policy, capsys, '--json', str(tmp_path / 'summary.json'))
    assert lines[0] == f'{policy}: dp_ros policy, {n:,} parameters' and n > 1000
    assert '  trained: step 50, EMA weights, on data/arm.zarr, score 0.000 at that step' in lines
    assert '  camera 0 (image_topics[0]): image 96x96, camera crop [30, 10, 400, 300]' in lines
    assert (f'  state agent_pos: 2 values (names not recorded); training range '
            f"{span('agent_pos')}") in lines
    assert f"  action: 2 values (names not recorded); training range {span('action')}" in lines
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['num_parameters'] == n
    assert summary['provenance'] == {k: v for k, v in provenance.items() if k != 'run_dir'}
    assert (summary['action']['low'], summary['action']['high']) == (
        fields['action']['min'], fields['action']['max'])
    assert summary['cameras'][0]['camera_crop'] == [30, 10, 400, 300]
    assert summary['control_period_s'] == 0.1


@pytest.mark.parametrize(('n_held', 'listed'), [(12, True), (13, False)])
def test_up_to_twelve_held_out_episodes_are_listed(tmp_path, capsys, n_held, listed):
    """The held-out episodes are named while there are at most 12 of them, else counted."""
    held = list(range(0, 2 * n_held, 2))
    provenance = {'train_config': {'data': {'val_ratio': 0.1, 'split_seed': 42}},
                  'split': {'n_episodes': 100, 'val_episodes': held}}
    lines = printed(make_tiny_checkpoint(tmp_path / 'p', provenance=provenance), capsys)
    (line,) = [x for x in lines if 'held out' in x]
    which = f' {held}' if listed else ''
    assert line == (f'  held out: {n_held} of 100 episodes{which} (data.val_ratio 0.1, split '
                    'seed 42): `dp-ros open-loop` compares on them')


def test_recorded_from_names_the_poses_the_pose_targets_and_the_prefixes(tmp_path, capsys):
    """An end effector's pose recorded with the prefix left_, the action its recorded
    PoseStamped targets: the summary says each, and the draft reads them back."""
    from support import make_tiny_pose_checkpoint

    names = ('left_x', 'left_y', 'left_z', 'left_yaw')
    policy = make_tiny_pose_checkpoint(tmp_path / 'p', state='pose', action=names)
    meta = json.loads((policy / METADATA_FILE).read_text())
    shape_meta = meta['config']['shape_meta']
    for entry, topic in ((shape_meta['obs']['joint_pos'], '/left/ee_pose'),
                         (shape_meta['action'], '/left/target_pose')):
        entry['sources'] = [{'kind': 'pose', 'topic': topic, 'width': 4, 'prefix': 'left_',
                             'yaw_min': 0.0, 'frame_id': 'world'}]
    (policy / METADATA_FILE).write_text(json.dumps(meta))
    (line,) = [x for x in printed(policy, capsys) if x.startswith('  recorded from: ')]
    assert line == ("  recorded from: joint states /left/ee_pose; poses ['/left/ee_pose']; "
                    "commands ['/left/target_pose']; pose targets ['/left/target_pose']; "
                    "names prefixed ['/left/ee_pose=left_', '/left/target_pose=left_']")


def test_a_whole_number_period_is_drafted_as_a_float(tmp_path, capsys):
    """A 1 s control period is drafted '1.0': a ROS double parameter refuses the integer 1."""
    policy = make_tiny_checkpoint(tmp_path / 'p', control_period_s=1.0)
    out = tmp_path / 'params.yaml'
    printed(policy, capsys, '--draft-params', str(out))
    text = out.read_text()
    assert '    control_period_s: 1.0   #' in text
    params = yaml.safe_load(text)['/**/dp_policy']['ros__parameters']
    assert isinstance(params['control_period_s'], float) and params['control_period_s'] == 1.0



def test_prefixed_state_joints_without_a_recorded_command_ask_for_the_commands_prefix(
        tmp_path, capsys):
    """State joints recorded with the prefix left_ (named left_j1 in the data, j1 in the
    messages) and an action with no controller topic recorded: the draft gives the state
    topic's prefix and asks, FILL IN, for the command topic's too (else the node finds no
    left_j1 in its controller's names)."""
    from support import joint_state_shape_meta

    meta = joint_state_shape_meta([(('left_j1', 'left_j2'), 'position')], '/left/joint_states')
    meta['obs']['agent_pos']['sources'][0]['prefix'] = 'left_'
    meta['action']['names'] = ['left_j1', 'left_j2']
    out = tmp_path / 'params.yaml'
    printed(make_tiny_checkpoint(tmp_path / 'p', shape_meta=meta), capsys,
            '--draft-params', str(out))
    text = out.read_text()
    params = yaml.safe_load(text)['/**/dp_policy']['ros__parameters']
    assert params['topic_name_prefixes'] == ['/left/joint_states=left_']
    assert ("    # FILL IN: and each command topic's, e.g. "
            "'/left/arm_controller/joint_trajectory=left_'\n") in text


# --- a defect found by the review ---------------------------------------------------------

def test_a_run_given_as_the_current_directory_is_named_by_it(tmp_path, monkeypatch, figures):
    """`cd runs/my_run && dp-ros plot . --out c.png` (or `plot log.jsonl`): the figure is
    titled 'run my_run'. It was titled 'run' with no name, and `--compare . ../other` labelled
    this run's lines ': loss' (the empty name passed the distinct-labels check)."""
    run = write_trainer_log(tmp_path / 'my_run', [1, 2])
    monkeypatch.chdir(run)
    assert plots.run_name(Path('log.jsonl')) == 'my_run'
    assert plots.main(['.', '--out', str(tmp_path / 'c.png')]) == 0
    assert figures[0].get_suptitle() == 'run my_run'
    (run / 'sub').mkdir()
    monkeypatch.chdir(run / 'sub')  # `dp-ros plot ..` from below it: not titled '..'
    assert plots.run_name(Path('..') / 'log.jsonl') == 'my_run'
