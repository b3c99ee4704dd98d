"""The training loop on a tiny model and a 5-episode copy of the Push-T data.

Covers the run directory's contents, best-checkpoint selection over several evaluations,
exact resume after SIGTERM and after SIGKILL (the losses after the restart equal an
uninterrupted run's), and a 2-process torchrun run.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr
from safetensors.torch import load_file
from support import (
    DATASET_KEYS,
    REPO_ROOT,
    checkout_env,
    episode_bounds,
    module_cmd,
)
from tiny_runs import no_curves, run_config  # noqa: F401 (no_curves: a fixture)

from dp_ros.policy.checkpoint import load_policy, read_policy_metadata
from sim_bridge.pusht_env import PushTEnv
from sim_bridge.pusht_geometry import reward_from_coverage
from training.batches import EpochBatches
from training.config import load_config
from training.plots import main as plots_main
from training.plots import read_log, series
from training.replay_buffer import ReplayBuffer
from training.trainer import Trainer, train

N_EPISODES = 5


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    """The first five Push-T episodes (3 train after the cap, 1 validation)."""
    path = tmp_path_factory.mktemp('data') / 'tiny.zarr'
    src = zarr.open(str(pusht_zarr), mode='r')
    starts, ends = episode_bounds(pusht_zarr)
    out = ReplayBuffer.create(path)
    for start, end in zip(starts[:N_EPISODES], ends[:N_EPISODES], strict=True):
        out.add_episode({k: src['data'][k][start:end] for k in DATASET_KEYS})
    return path


def tiny_config(tmp_path: Path, zarr_path: Path, **sections) -> Path:
    """tiny_runs.run_config with the measurements on (validation, action MSE, closed loop)."""
    cfg = run_config(zarr_path)
    cfg['train'].update({'val_every': 3, 'val_max_batches': 2, 'action_mse_every': 3,
                         'eval_every': 6})
    cfg['eval'].update({'n_episodes': 2, 'n_video_episodes': 2})
    for name, values in sections.items():
        cfg[name].update(values)
    path = tmp_path / 'cfg.yaml'
    path.write_text(yaml.safe_dump(cfg))
    return path


def losses(run: Path) -> dict[int, float]:
    steps, values = series(read_log(run / 'log.jsonl'), 'train', 'loss')
    return dict(zip(steps, values, strict=True))


def test_epoch_batches_are_a_function_of_seed_and_epoch():
    a, b = EpochBatches(100, 8, seed=3), EpochBatches(100, 8, seed=3)
    assert a.epoch(2) == b.epoch(2) and a.epoch(2) != a.epoch(1)
    assert sorted(i for batch in a.epoch(0) for i in batch) == list(range(100))
    ranks = [EpochBatches(101, 8, seed=3, rank=r, world=2) for r in range(2)]
    both = [i for r in ranks for batch in r.epoch(0) for i in batch]
    assert len(ranks[0].epoch(0)) == len(ranks[1].epoch(0)) == ranks[0].per_epoch
    assert set(both) == set(range(101)) and len(both) == 102  # one index padded


def test_train_writes_a_complete_run(tmp_path, tiny_zarr):
    cfg = load_config(tiny_config(tmp_path, tiny_zarr))
    run = tmp_path / 'run'
    summary = train(cfg, run)
    assert summary['step'] == 6 and summary['interrupted'] is None

    records = read_log(run / 'log.jsonl')
    events = [r['event'] for r in records]
    assert events.count('train') == 6 and events.count('val') == 2
    assert events.count('action_mse') == 2 and events.count('eval') == 1
    for r in records:
        assert {'step', 'epoch', 'wall_time', 'elapsed_s'} <= set(r)
    ev = next(r for r in records if r['event'] == 'eval')
    assert set(ev['test/scores']) == {'100000', '100001'}
    assert ev['test/mean_score'] == pytest.approx(np.mean(list(ev['test/scores'].values())))
    mse = next(r for r in records if r['event'] == 'action_mse')
    assert mse['train_action_mse'] > mse['train_action_mse_norm'] > 0  # raw px vs [-1, 1]
    # and on the held-out episode's windows, which training never saw
    assert mse['val_action_mse'] > mse['val_action_mse_norm'] > 0
    assert mse['val_action_mse'] != mse['train_action_mse']
    assert all(np.isfinite(r['loss']) for r in records if r['event'] == 'train')

    assert load_config(run / 'config.yaml') == cfg
    assert (run / 'curves.png').stat().st_size > 0
    assert (run / ev['video']).stat().st_size > 0
    assert list((run / 'tb').glob('events.out.tfevents.*'))

    # the artifacts hold the EMA weights, and load without pickle
    ema = load_file(run / 'train_state' / 'ema.safetensors')
    model = load_file(run / 'train_state' / 'model.safetensors')
    for name in ('latest', 'best'):
        policy = load_policy(run / 'checkpoints' / name)
        sd = policy.state_dict()
        assert all(torch.equal(sd[k], v) for k, v in ema.items())
        assert read_policy_metadata(run / 'checkpoints' / name)['provenance']['step'] == 6
    assert any(not torch.equal(model[k], ema[k]) for k in ema)
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['position']['step'] == 6 and state['best_score'] == ev['test/mean_score']
    assert not [p for p in run.iterdir() if p.name.startswith('.')]  # no temporaries left


def test_excluded_episodes_are_neither_trained_on_nor_in_the_statistics(tmp_path, tiny_zarr):
    from dp_ros.policy.normalizer import Normalizer
    from training.sampler import get_val_mask

    dropped = int(np.flatnonzero(~get_val_mask(N_EPISODES, 0.2, seed=42))[1])
    cfg = load_config(tiny_config(tmp_path, tiny_zarr), [
        'data.max_train_episodes=null', f'data.exclude_episodes=[{dropped}]'])
    trainer = Trainer(cfg, tmp_path / 'run')
    ds = trainer.train_ds
    trained = set(np.searchsorted(ds.episode_ends, ds.sampler.indices[:, 0], side='right'))
    assert dropped not in trained and len(trained) == ds.n_train_episodes == N_EPISODES - 2
    starts, ends = episode_bounds(tiny_zarr)
    src = zarr.open(str(tiny_zarr), mode='r')['data']
    kept = [e for e in range(N_EPISODES) if e != dropped]
    expected = Normalizer.from_data({
        'action': np.concatenate([src['action'][starts[e]:ends[e]] for e in kept]),
        'agent_pos': np.concatenate([src['state'][starts[e]:ends[e], :2] for e in kept])})
    got = trainer.policy.normalizer.to_dict()['fields']
    assert {k: got[k] for k in ('action', 'agent_pos')} == expected.to_dict()['fields']


def test_rotation_entries_of_a_recorded_pose_are_left_unnormalized(tmp_path):
    """The paper's rule for absolute Cartesian actions: positions min-max to [-1, 1], a pose's
    rotation 6D (and quaternion) entries as they are: they lie in [-1, 1] whatever the data
    covers. A joint that merely shares a field's name is not a pose's."""
    from support import CONFIG_DIR

    from dp_ros.pose_fields import MATRIX_COLUMNS

    rng = np.random.default_rng(0)
    n = 40
    names = ['x', *MATRIX_COLUMNS, 'qx']  # 'qx': a gripper joint's name, from a joint state
    values = np.concatenate([rng.uniform(0.3, 0.5, (n, 1)), rng.uniform(-0.2, 0.2, (n, 6)),
                             rng.uniform(0.0, 0.08, (n, 1))], axis=1)
    sources = [{'kind': 'pose', 'topic': '/ee_pose', 'width': 7},
               {'kind': 'joint_state', 'topic': '/gripper/joint_states', 'width': 1}]
    path = tmp_path / 'poses.zarr'
    ReplayBuffer.from_arrays({'img': rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8),
                              'state': values, 'action': values}, np.array([20, 40])).save_to(
        path, progress=False)
    for key in ('state', 'action'):
        zarr.open(str(path), mode='r+')['data'][key].attrs.update(
            {'names': names, 'sources': sources})
    cfg = load_config(CONFIG_DIR / 'train_example_arm.yaml', [
        f'data.zarr_path={path}', 'data.rgb_keys={image: img}', 'data.low_dim_keys={ee: state}',
        'data.val_ratio=0', 'train.cpu=true', 'policy.down_dims=[32,64,128]',
        'policy.resnet_width=0.25'])
    fields = Trainer(cfg, tmp_path / 'run').policy.normalizer.to_dict()['fields']
    for key in ('action', 'ee'):
        scale, offset = np.array(fields[key]['scale']), np.array(fields[key]['offset'])
        assert scale[1:7].tolist() == [1.0] * 6 and offset[1:7].tolist() == [0.0] * 6
        assert scale[0] == pytest.approx(2 / np.ptp(values[:, 0]), rel=1e-5)  # min-max
        assert scale[7] == pytest.approx(2 / np.ptp(values[:, 7]), rel=1e-5)
        assert fields[key]['min'] == pytest.approx(values.min(axis=0).tolist(), abs=1e-6)


def test_a_policy_the_eval_sim_cannot_run_is_a_config_error_at_the_start(tmp_path, tiny_zarr):
    from training.errors import TrainConfigError

    cfg = load_config(tiny_config(tmp_path, tiny_zarr), ['eval.robot=arm'])
    with pytest.raises(TrainConfigError, match=r"eval.robot 'arm'.*this policy outputs 2\. A "
                                               r'robot without a simulator: eval.n_episodes=0'):
        Trainer(cfg, tmp_path / 'run')
    assert not (tmp_path / 'run' / 'train_state').exists()
    Trainer(load_config(tiny_config(tmp_path, tiny_zarr), ['eval.robot=arm',
                                                           'eval.n_episodes=0']),
            tmp_path / 'run2')  # no closed-loop evaluation: nothing to check


def test_eval_sampling_the_policy_cannot_do_is_refused_before_training(tmp_path, tiny_zarr):
    """eval.num_inference_steps beyond the policy's diffusion steps (and an unknown
    eval.sampler) is exit code 2 and one line at the start, not a traceback at the first
    measurement after some training."""
    from training.train import main

    cfg = tiny_config(tmp_path, tiny_zarr, train={'eval_every': 0, 'val_every': 0},
                      eval={'n_episodes': 0})
    for bad, message in (('eval.num_inference_steps=200', 'eval.num_inference_steps 200 '
                          "must be in 1..100 (the policy's num_train_timesteps)"),
                         ('eval.sampler=DDIM', "eval.sampler 'DDIM' is not one of")):
        run = tmp_path / bad.split('=')[0]
        proc = subprocess.run(module_cmd('training.train', '--config', str(cfg), '--output',
                                         str(run), bad),
                              capture_output=True, text=True, env=checkout_env(), timeout=120)
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith('dp-ros train: ') and message in last
        assert 'Traceback' not in proc.stderr and not run.exists()
    assert main(['--config', str(cfg), '--output', str(tmp_path / 'r'),
                 'eval.num_inference_steps=200']) == 2


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_a_constant_lr_with_warmup_warms_up(tmp_path, tiny_zarr):
    """diffusers' 'constant' drops the warmup: the run uses 'constant_with_warmup'."""
    cfg = load_config(tiny_config(tmp_path, tiny_zarr), [
        'optim.lr_scheduler=constant', 'optim.lr_warmup_steps=2', 'optim.lr=0.0003',
        'train.max_steps=3', 'train.eval_every=0', 'train.val_every=0',
        'train.action_mse_every=0', 'train.checkpoint_every=0', 'train.final_eval=false'])
    run = tmp_path / 'run'
    train(cfg, run)
    lrs = [json.loads(line)['lr'] for line in (run / 'log.jsonl').read_text().splitlines()
           if json.loads(line)['event'] == 'train']
    assert lrs == pytest.approx([1.5e-4, 3e-4, 3e-4])  # the lr after steps 1, 2, 3


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_gradient_accumulation_and_bf16(tmp_path, tiny_zarr):
    cfg = load_config(tiny_config(tmp_path, tiny_zarr), [
        'optim.grad_accum_steps=3', 'train.max_steps=2', 'train.mixed_precision=bf16',
        'train.eval_every=0', 'train.val_every=0', 'train.action_mse_every=0'])
    run = tmp_path / 'run'
    train(cfg, run)
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['position'] == {'step': 2, 'epoch': 0, 'batch': 6}  # 3 batches a step
    assert state['optimizer']['scalars'] == {} and state['lr_scheduler']['last_epoch'] == 2
    assert all(np.isfinite(v) for v in losses(run).values())


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_warm_start_from_a_run_then_resume_its_own_state(tmp_path, tiny_zarr):
    quiet = ['train.eval_every=0', 'train.val_every=0', 'train.action_mse_every=0',
             'train.max_steps=2']
    first = tmp_path / 'first'
    train(load_config(tiny_config(tmp_path, tiny_zarr), quiet), first)
    source = load_policy(first / 'checkpoints' / 'latest')

    cfg = load_config(tiny_config(tmp_path, tiny_zarr), [*quiet, f'train.init_from={first}'])
    second = tmp_path / 'second'
    trainer = Trainer(cfg, second)
    assert trainer.pos.step == 0 and trainer.lr_scheduler.last_epoch == 0  # fresh schedule
    got = trainer.policy.state_dict()
    assert all(torch.equal(got[k], v) for k, v in source.state_dict().items())
    assert trainer.policy.normalizer.to_dict() == source.normalizer.to_dict()
    trainer.run()
    assert load_config(second / 'config.yaml').train.init_from == str(first)
    # once the run has its own train state, that wins over init_from
    assert Trainer(cfg, second).pos.step == 2
    # the two stages on one step axis
    assert plots_main([str(first), str(second), '--out', str(tmp_path / 'c.png')]) == 0
    assert (tmp_path / 'c.png').stat().st_size > 0
    assert plots_main([str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'd.png')]) == 2

    other = load_config(tiny_config(tmp_path, tiny_zarr), [
        *quiet, f'train.init_from={first}', 'policy.down_dims=[32,64]'])
    with pytest.raises(ValueError, match='down_dims'):
        Trainer(other, tmp_path / 'third')
    missing = load_config(tiny_config(tmp_path, tiny_zarr),
                          [*quiet, f'train.init_from={tmp_path / "nowhere"}'])
    with pytest.raises(FileNotFoundError, match='init_from'):
        Trainer(missing, tmp_path / 'fourth')
    # found before anything is written: no run directory
    assert not (tmp_path / 'third').exists() and not (tmp_path / 'fourth').exists()


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_snapshots_are_kept_per_step_and_a_resume_adds_to_them(tmp_path, tiny_zarr):
    quiet = ['train.eval_every=0', 'train.val_every=0', 'train.action_mse_every=0',
             'train.checkpoint_every=2', 'train.snapshot_every=4', 'train.max_steps=5',
             'train.final_eval=false']
    run = tmp_path / 'run'
    train(load_config(tiny_config(tmp_path, tiny_zarr), quiet), run)
    snaps = sorted(p.name for p in (run / 'checkpoints').glob('step_*'))
    assert snaps == ['step_000004', 'step_000005']  # every 4 steps, and the last one
    first = load_file(run / 'checkpoints' / 'step_000004' / 'model.safetensors')
    last = load_file(run / 'checkpoints' / 'step_000005' / 'model.safetensors')
    latest = load_file(run / 'checkpoints' / 'latest' / 'model.safetensors')
    assert all(torch.equal(latest[k], v) for k, v in last.items())
    assert any(not torch.equal(first[k], last[k]) for k in first)
    assert read_policy_metadata(run / 'checkpoints' / 'step_000004')['provenance']['step'] == 4

    # resumed with a longer schedule: the kept ones stay as they were, new ones are added
    written = (run / 'checkpoints' / 'step_000004' / 'model.safetensors').stat().st_mtime_ns
    train(load_config(tiny_config(tmp_path, tiny_zarr), [*quiet, 'train.max_steps=8']), run)
    snaps = sorted(p.name for p in (run / 'checkpoints').glob('step_*'))
    assert snaps == ['step_000004', 'step_000005', 'step_000008']
    assert (run / 'checkpoints' / 'step_000004' / 'model.safetensors').stat().st_mtime_ns \
        == written
    assert not (run / 'checkpoints' / 'best').exists()  # no evaluation, no best


# eval seeds whose start states put the agent too far from the T to touch it in one control
# step (0.1 s: < 220 px), whatever the action, so a one-step evaluation scores the start:
# 0.081, 0.093 and 0 (the reward of the start coverage), whatever the policy
TIE_SEED, HIGHER_SEED, LOWER_SEED = 101424, 100335, 100023


def start_score(seed: int) -> float:
    env = PushTEnv()
    _, info = env.reset(seed=seed)
    env.close()
    return reward_from_coverage(info['coverage'])[0]


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_best_checkpoint_is_the_highest_score_latest_the_last(tmp_path, tiny_zarr):
    """Four evaluations in one run directory (over three resumes, each with other eval
    seeds): best follows the highest test/mean_score, a tie or a lower score keeps it."""
    run = tmp_path / 'run'
    quiet = ['train.val_every=0', 'train.action_mse_every=0', 'train.eval_every=2',
             'train.checkpoint_every=0', 'eval.n_episodes=1', 'eval.max_steps=1',
             'eval.n_video_episodes=0']

    def stage(max_steps: int, seed: int) -> None:
        train(load_config(tiny_config(tmp_path, tiny_zarr), [
            *quiet, f'train.max_steps={max_steps}', f'eval.start_seed={seed}']), run)

    def saved(name: str) -> tuple[int, float, dict[str, torch.Tensor]]:
        meta = read_policy_metadata(run / 'checkpoints' / name)['provenance']
        return (meta['step'], meta['metrics']['test/mean_score'],
                load_policy(run / 'checkpoints' / name).state_dict())

    tie, higher, lower = map(start_score, (TIE_SEED, HIGHER_SEED, LOWER_SEED))
    assert higher > tie > lower
    stage(4, TIE_SEED)  # evaluations at steps 2 and 4: a tie keeps step 2
    assert saved('best')[:2] == (2, tie)
    stage(6, HIGHER_SEED)  # higher: step 6 is best (and latest)
    _, _, at_step_6 = saved('latest')
    stage(8, LOWER_SEED)  # lower: best stays, latest moves on

    scores = [(r['step'], r['test/mean_score']) for r in read_log(run / 'log.jsonl')
              if r['event'] == 'eval']
    assert [step for step, _ in scores] == [2, 4, 6, 8]
    assert [v for _, v in scores] == [tie, tie, higher, lower]
    best_step, best_score, best_weights = saved('best')
    assert (best_step, best_score) == max(scores, key=lambda x: x[1])
    assert all(torch.equal(best_weights[k], v) for k, v in at_step_6.items())
    latest_step, latest_score, latest_weights = saved('latest')
    assert (latest_step, latest_score) == scores[-1]
    assert any(not torch.equal(latest_weights[k], v) for k, v in at_step_6.items())
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['best_score'] == best_score and state['position']['step'] == 8


def _start(cfg: Path, run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(module_cmd('training.train', '--config', str(cfg), '--output',
                                       str(run), *extra),
                            cwd=REPO_ROOT, env=checkout_env(OMP_NUM_THREADS='1'),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _saved_step(run: Path) -> int:
    try:
        return json.loads((run / 'train_state' / 'state.json').read_text())['position']['step']
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return -1


def _interrupt_after_save(cfg: Path, run: Path, sig: int, after_step: int) -> tuple[int, str]:
    """Signal a run once it has saved a train state at after_step or later.

    Order, not timing: the run is configured far longer than it can get before the signal
    lands, so it is always interrupted midway.
    """
    proc = _start(cfg, run)
    while _saved_step(run) < after_step:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=240)
    return proc.returncode, out


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_resume_after_sigterm_and_sigkill_matches_an_uninterrupted_run(tmp_path, tiny_zarr):
    # a schedule that does not depend on max_steps (so the interrupted runs can be set to
    # run "forever") and changes the lr at every step (so its resume is checked too)
    cfg_path = tiny_config(tmp_path, tiny_zarr,
                           optim={'lr_scheduler': 'constant_with_warmup',
                                  'lr_warmup_steps': 1000},
                           train={'max_steps': 100_000, 'checkpoint_every': 4, 'val_every': 0,
                                  'action_mse_every': 0, 'eval_every': 0,
                                  'final_eval': False})
    run = tmp_path / 'run'
    # SIGTERM: saves the state at the step it stopped at, exits 128 + 15 (not done)
    rc, out = _interrupt_after_save(cfg_path, run, signal.SIGTERM, after_step=4)
    assert rc == 143, out
    stopped = _saved_step(run)
    assert stopped >= 4, out
    assert max(losses(run)) == stopped  # the state is from the last step it logged

    # SIGKILL: nothing saved at the kill; the restart repeats the steps since the last save
    rc, out = _interrupt_after_save(cfg_path, run, signal.SIGKILL, after_step=stopped + 1)
    assert rc == -signal.SIGKILL
    killed_at = _saved_step(run)
    assert killed_at > stopped
    end = max(losses(run)) + 2  # past every step the killed run logged
    proc = _start(cfg_path, run, '--max-steps', str(end))
    # the uninterrupted run, here while the restarted process runs (they share nothing)
    reference = tmp_path / 'reference'
    try:
        train(load_config(cfg_path, [f'train.max_steps={end}']), reference)
    finally:
        out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    assert f'resumed from {run / "train_state"} at step {killed_at}' in out
    assert _saved_step(run) == end

    expected = losses(reference)
    assert sorted(expected) == list(range(1, end + 1))
    got = losses(run)  # after a resume the latest loss logged for a step wins
    assert sorted(got) == sorted(expected)
    for step, value in expected.items():
        assert got[step] == pytest.approx(value, rel=1e-6, abs=1e-7), step
    ema_ref = load_file(reference / 'train_state' / 'ema.safetensors')
    ema_run = load_file(run / 'train_state' / 'ema.safetensors')
    for k, v in ema_ref.items():
        torch.testing.assert_close(ema_run[k], v, rtol=1e-5, atol=1e-7)


def test_torchrun_two_processes(tmp_path, tiny_zarr):
    cfg_path = tiny_config(tmp_path, tiny_zarr, train={'max_steps': 3, 'eval_every': 3,
                                                       'checkpoint_every': 3})
    run = tmp_path / 'run'
    torchrun = Path(sys.executable).with_name('torchrun')
    proc = subprocess.run([str(torchrun), '--standalone', '--nproc_per_node', '2', '-m',
                           'training.train', '--config', str(cfg_path), '--output', str(run)],
                          cwd=REPO_ROOT, env=checkout_env(OMP_NUM_THREADS='1'),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '2 process(es)' in proc.stderr
    records = read_log(run / 'log.jsonl')
    assert [r['step'] for r in records if r['event'] == 'train'] == [1, 2, 3]
    ev = next(r for r in records if r['event'] == 'eval')
    assert ev['test/n_episodes'] == 2  # one seed per rank, gathered
    state = json.loads((run / 'train_state' / 'state.json').read_text())
    assert state['world_size'] == 2 and set(state['rng']) == {'0', '1'}
    ranks = [load_file(run / 'train_state' / f'rng_rank{r}.safetensors') for r in (0, 1)]
    # each rank draws its own crops and noise: a generator seeded per rank, not one stream
    # drawn twice (the saved states after the same number of draws would be equal)
    assert not torch.equal(ranks[0]['loss_generator'], ranks[1]['loss_generator'])
    load_policy(run / 'checkpoints' / 'latest')
