"""Mutation review of training/trainer.py: what the training loop does that the earlier tests
let pass unchecked. A resume keeps the normalizer and split it saved, the EMA's decays are the
paper's, channels-last weights, the validation loss's batch cap, the pad and obs_steps of the
windows, losses and gradients under accumulation, the epoch rollover, the log's last record,
the signal handlers, a loader failure during a stop, the run's elapsed time across a resume,
the eval video's path, and a run without evaluation episodes leaving no pending evaluation.

Most runs use a synthetic 5-episode store of 8x10 images (a step takes milliseconds); the
closed-loop ones the first Push-T episodes, as test/test_train_loop.py does.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from support import one_torch_thread, tiny_policy_section  # noqa: F401 (autouse)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    SMALL_LENGTHS,
    copy_episodes,
    no_curves,
    records,
    run_config,
    saved_state,
    small_arrays,
    small_config,
    write_small_store,
)

from training.config import TrainConfig
from training.errors import TrainStateError
from training.run_log import TB_DIR
from training.train_state_file import STATE_DIR
from training.trainer import Trainer, train

# none of these tests looks at curves.png: their runs skip drawing it (most of a tiny run's time)
pytestmark = pytest.mark.usefixtures('no_curves')


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('pusht') / 'tiny.zarr')


# ---------------------------------------------------------------------------- resume
def test_a_resume_refuses_a_saved_split_other_than_the_one_drawn_now(tmp_path, store):
    """Same episodes, but a state whose recorded split differs from the one this code draws
    (another dp_ros's drawing): resuming would train on its validation episodes."""
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 2}), run)
    path = run / 'train_state' / 'state.json'
    state = json.loads(path.read_text())
    split = state['split']
    for name in ('val_episodes', 'train_episodes'):
        changed = {**split, name: split[name][::-1] + [99]}
        path.write_text(json.dumps({**state, 'split': changed}))
        with pytest.raises(TrainStateError, match=f'its {name} .* are not those drawn now'):
            Trainer(small_config(store), run)
    path.write_text(json.dumps(state))
    assert Trainer(small_config(store), run).pos.step == 2


def test_a_resume_keeps_the_normalizer_it_saved(tmp_path, pusht_zarr):
    """Values changed in place (same episodes): the resumed run keeps its train state's
    normalizer (its weights were trained on it), the refit is only the NaN check."""
    data = copy_episodes(pusht_zarr, tmp_path / 'data.zarr', n=4)
    cfg = run_config(data, train={'max_steps': 1}, data={'max_train_episodes': None})
    run = tmp_path / 'run'
    train(TrainConfig.from_dict(cfg), run)
    saved = saved_state(run)['normalizer']
    action = zarr.open_group(str(data), mode='r+')['data']['action']
    action[3, 0] = 600.0  # beyond every saved action
    trainer = Trainer(TrainConfig.from_dict({**cfg, 'train': {**cfg['train'], 'max_steps': 2}}),
                      run)
    assert trainer.pos.step == 1
    assert trainer.policy.normalizer.to_dict() == saved
    assert trainer.policy.normalizer.stats['action']['max'][0] < 600.0


# ---------------------------------------------------------------------------- the model
def test_the_ema_decays_are_the_papers(tmp_path, store):
    """The paper's EMAModel: decays 0, 0, 1 - 2**-power, 1 - 3**-power (diffusers' counts
    the update one step earlier: the trainer delays it by one)."""
    run = tmp_path / 'run'
    train(small_config(store, ema={'power': 0.75, 'update_after_step': 0,
                                   'min_value': 0.0}), run)
    decays = [r['ema_decay'] for r in records(run, 'train')]
    assert decays == pytest.approx([0.0, 0.0, 1 - 2 ** -0.75, 1 - 3 ** -0.75])


def test_channels_last_weights_when_asked(tmp_path, store):
    """train.channels_last: the trained policy's convolution weights are channels-last
    (what makes the convolutions run channels-last); off: contiguous."""
    for on in (True, False):
        trainer = Trainer(small_config(store, train={'channels_last': on}), tmp_path / str(on))
        convs = [m.weight for m in trainer.policy.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs
        assert all(w.is_contiguous(memory_format=torch.channels_last) == on
                   or w.shape[-2:] == (1, 1) for w in convs)
        assert any(w.shape[-2:] != (1, 1) for w in convs)


def test_the_training_windows_are_the_papers(tmp_path, store):
    """horizon 8, n_obs_steps 2, n_action_steps 4: each episode's windows are padded by one
    step before and three after (the paper's pad_before/pad_after), and a window yields only
    its first two observations (the policy reads no more)."""
    trainer = Trainer(small_config(store), tmp_path / 'run')
    ds = trainer.train_ds
    lengths = np.diff(ds.episode_ends, prepend=0)[ds.train_mask]
    assert len(ds) == sum(n + 1 + 3 - 8 + 1 for n in lengths)
    item = ds[0]
    assert item['obs']['image'].shape[0] == item['obs']['agent_pos'].shape[0] == 2
    assert item['action'].shape[0] == 8


def _store_with_nan(path: Path, episode: int) -> Path:
    arrays = small_arrays()
    arrays['action'][int(np.cumsum(SMALL_LENGTHS)[episode - 1]) + 2, 1] = np.nan
    return write_small_store(path, arrays)


def test_the_nan_hint_keeps_the_episodes_already_excluded(tmp_path):
    """NaN in episode 3 of a run that excludes episode 1: the suggested setting leaves out
    both (the one the user wrote too), not 3 alone, which would bring 1 back."""
    from training.errors import DatasetError

    data = _store_with_nan(tmp_path / 'nan.zarr', episode=3)
    with pytest.raises(DatasetError, match=r'data\.exclude_episodes=\[1, 3\]$'):
        Trainer(small_config(data, data={'exclude_episodes': [1]}), tmp_path / 'run')


def test_the_warm_start_warning_counts_the_steps_with_any_dimension_beyond(tmp_path, store,
                                                                          caplog):
    """Five steps of 56 with action x beyond the inherited range (y within it): 8.9% of the
    steps lie beyond [-1, 1], a step counting when any of its dimensions does."""
    first = tmp_path / 'first'
    train(small_config(store, train={'max_steps': 1}), first)
    arrays = small_arrays()
    arrays['action'][:5, 0] = 600.0
    beyond = write_small_store(tmp_path / 'beyond.zarr', arrays)
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        Trainer(small_config(beyond, train={'init_from': str(first)}), tmp_path / 'warm')
    (message,) = [r.getMessage() for r in caplog.records if 'inherits' in r.getMessage()]
    assert f'{5 / sum(SMALL_LENGTHS):.1%} of its steps beyond [-1, 1]' in message
    assert 'action dimension 0 ' in message and 'agent_pos' not in message


# ---------------------------------------------------------------------------- evaluation
def test_the_eval_record_names_its_video_inside_the_run_and_artifacts_keep_numbers(
        tmp_path, tiny_zarr):
    """The eval record's video is a path relative to the run directory (the run can move);
    the checkpoints' provenance metrics hold the finite numbers only (no video path, no
    per-seed mapping)."""
    run = tmp_path / 'run'
    train(TrainConfig.from_dict(run_config(
        tiny_zarr, train={'max_steps': 2, 'eval_every': 2, 'checkpoint_every': 2},
        eval={'n_episodes': 1, 'max_steps': 2, 'n_video_episodes': 1})), run)
    (ev,) = records(run, 'eval')
    assert ev['video'].startswith('media/') and not Path(ev['video']).is_absolute()
    assert (run / ev['video']).is_file()
    from dp_ros.policy.checkpoint import read_policy_metadata

    for name in ('best', 'latest'):
        metrics = read_policy_metadata(run / 'checkpoints' / name)['provenance']['metrics']
        assert metrics['test/mean_score'] == ev['test/mean_score']
        assert 'video' not in metrics and 'test/scores' not in metrics
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in metrics.values())


def test_a_final_evaluation_without_episodes_leaves_nothing_pending(tmp_path, store):
    """eval.n_episodes=0 with train.final_eval: the evaluation measures nothing, and the
    train state must not record it as cut short by a stop."""
    run = tmp_path / 'run'
    summary = train(small_config(store, train={'final_eval': True}), run)
    assert summary['interrupted'] is None and summary['best_score'] is None
    assert saved_state(run)['pending_eval'] is None
    assert not records(run, 'eval')


# ---------------------------------------------------------------------------- the step loop
def _losses(run: Path) -> list[float]:
    return [r['loss'] for r in records(run, 'train')]


def test_a_logged_loss_is_the_mean_over_the_steps_since_the_last(tmp_path, store):
    """log_every=2 logs the mean of the two steps' losses (log_every=1 logs each), and the
    last step is logged whatever log_every says."""
    each, pairs, third = tmp_path / 'each', tmp_path / 'pairs', tmp_path / 'third'
    train(small_config(store), each)
    train(small_config(store, train={'log_every': 2}), pairs)
    train(small_config(store, train={'log_every': 3}), third)
    l1, l2, l3, l4 = _losses(each)
    assert [r['step'] for r in records(pairs, 'train')] == [2, 4]
    assert _losses(pairs) == pytest.approx([(l1 + l2) / 2, (l3 + l4) / 2], rel=1e-6)
    assert [r['step'] for r in records(third, 'train')] == [3, 4]
    assert _losses(third) == pytest.approx([(l1 + l2 + l3) / 3, l4], rel=1e-6)


B1 = TrainConfig().optim.betas[0]  # AdamW's first moment: B1 m + (1 - B1) g


def _exp_avg(run: Path) -> torch.Tensor:
    """AdamW's first moments of the run's last step, flattened ((1 - B1) x the gradient after
    a single step)."""
    from safetensors.torch import load_file

    tensors = load_file(run / 'train_state' / 'optimizer.safetensors')
    keys = sorted(k for k in tensors if 'exp_avg' in k and 'exp_avg_sq' not in k)
    assert keys
    return torch.cat([tensors[k].flatten() for k in keys])


def test_gradient_accumulation_averages_loss_and_gradient_over_its_micro_batches(
        tmp_path, store):
    """grad_accum_steps=2, one step: the logged loss and the gradient are the means of the
    two micro-batches', which (with a zero first learning rate: warmup) are the two steps of
    a run without accumulation: same batches, same noise stream."""
    still = {'lr_warmup_steps': 10}  # the first step's lr is 0: the weights do not move
    acc, one, two = tmp_path / 'acc', tmp_path / 'one', tmp_path / 'two'
    train(small_config(store, optim={**still, 'grad_accum_steps': 2},
                       train={'max_steps': 1}), acc)
    train(small_config(store, optim=still, train={'max_steps': 1}), one)
    l1, = _losses(one)
    g1 = _exp_avg(one) / (1 - B1)
    train(small_config(store, optim=still, train={'max_steps': 2}), two)
    first, l2 = _losses(two)
    assert first == pytest.approx(l1, rel=1e-6)
    g2 = (_exp_avg(two) - B1 * (1 - B1) * g1) / (1 - B1)
    assert _losses(acc) == pytest.approx([(l1 + l2) / 2], rel=1e-5)
    torch.testing.assert_close(_exp_avg(acc) / (1 - B1), (g1 + g2) / 2, rtol=1e-3, atol=1e-6)


def test_max_grad_norm_clips_the_gradient(tmp_path, store):
    """optim.max_grad_norm: the first step's gradient (in AdamW's first moment) has at most
    that global norm; without it the same gradient is far larger."""
    clipped, free = tmp_path / 'clipped', tmp_path / 'free'
    train(small_config(store, optim={'max_grad_norm': 1e-3}, train={'max_steps': 1}), clipped)
    train(small_config(store, train={'max_steps': 1}), free)
    assert float(_exp_avg(free).norm()) / (1 - B1) > 1e-2
    assert float(_exp_avg(clipped).norm()) / (1 - B1) == pytest.approx(1e-3, rel=1e-3)


def test_the_position_rolls_over_to_the_next_epoch_after_its_last_batch(tmp_path, store):
    """A run of exactly one epoch's batches saves epoch 1, batch 0 (not epoch 0 past its
    end), and logs the last step in epoch 1."""
    per_epoch = Trainer(small_config(store), tmp_path / 'probe').batches.per_epoch
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': per_epoch}), run)
    assert saved_state(run)['position'] == {'step': per_epoch, 'epoch': 1, 'batch': 0}
    assert records(run, 'train')[-1]['epoch'] == 1


def test_final_eval_off_measures_nothing_at_the_last_step(tmp_path, store):
    """train.final_eval=false: validation only on its interval (step 3 of 4); true: at
    step 4 too."""
    for final, steps in ((False, [3]), (True, [3, 4])):
        run = tmp_path / str(final)
        train(small_config(store, train={'val_every': 3, 'final_eval': final}), run)
        assert [r['step'] for r in records(run, 'val')] == steps


# ---------------------------------------------------------------------------- stops
class Signalled(Trainer):
    """The real trainer, sent a real signal `times` times as step `at` ends (a job scheduler's
    SIGTERM, a user's Ctrl-C pressed twice); `pause` seconds first, so that the run has
    taken a measurable time."""

    def __init__(self, *args, at: int, sig: int = signal.SIGTERM, times: int = 1,
                 pause: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.at, self.sig, self.times, self.pause = at, sig, times, pause

    def _should_stop(self) -> bool:
        if self.pos.step == self.at:
            if self.pause:
                time.sleep(self.pause)
            for _ in range(self.times):
                os.kill(os.getpid(), self.sig)
        return super()._should_stop()


def test_sigint_and_sigterm_stop_at_the_step_and_the_handlers_are_given_back(tmp_path, store,
                                                                            caplog):
    """Ctrl-C (twice) or SIGTERM stops the run after its step with the train state saved, a
    second signal says to wait; after the run the process's own handlers are back."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        run = tmp_path / sig.name
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
                summary = Signalled(small_config(store), run, at=1, sig=sig, times=2).run()
        except KeyboardInterrupt:
            pytest.fail(f'{sig.name} reached the test: the trainer did not handle it')
        assert summary['interrupted'] == sig.name and summary['step'] == 1
        assert saved_state(run)['position']['step'] == 1
        assert f'{sig.name} again: still saving the train state' in caplog.text
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


class SignalledAgainDuringTheFinalSave(Signalled):
    """...and once more as the stopped run's final save begins (Ctrl-C pressed again while
    a large model's train state is being written)."""

    def _save_resume_point(self, *args, **kwargs) -> None:
        if self.stop_signal is not None:
            os.kill(os.getpid(), self.sig)
        super()._save_resume_point(*args, **kwargs)


def test_a_second_signal_during_the_final_save_does_not_cut_it_short(tmp_path, store, caplog):
    """The handlers were given back before the final save: a second Ctrl-C there raised
    KeyboardInterrupt mid-save and every step since the last checkpoint was lost."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = tmp_path / sig.name
        caplog.clear()
        config = small_config(store, train={'checkpoint_every': 100})  # the final save alone
        try:
            with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
                summary = SignalledAgainDuringTheFinalSave(config, run, at=3, sig=sig).run()
        except KeyboardInterrupt:
            pytest.fail(f'a second {sig.name} during the final save reached the test')
        assert summary['interrupted'] == sig.name and summary['step'] == 3
        assert saved_state(run)['position']['step'] == 3
        assert f'{sig.name} again: still saving the train state' in caplog.text


class SignalledInTheLastSave(Trainer):
    """A signal as the last step's resume point is saved (the run done, its weights saved)."""

    def __init__(self, *args, sig: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sig = sig

    def _save_resume_point(self, *args, **kwargs) -> None:
        if self.pos.step == self.cfg.train.max_steps:
            os.kill(os.getpid(), self.sig)
        super()._save_resume_point(*args, **kwargs)


def test_a_signal_during_the_last_steps_save_leaves_a_complete_run(tmp_path, store, caplog):
    """The run was marked interrupted for good (exit 130, its 'end' record interrupted), and
    a rerun had nothing to train, so nothing ever said it finished (a fault review): the
    signal came after the last step, with everything saved. The run is complete."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = tmp_path / sig.name
        caplog.clear()
        with caplog.at_level(logging.INFO, logger='dp_ros.train'):
            summary = SignalledInTheLastSave(small_config(store), run, sig=sig).run()
        assert summary['interrupted'] is None and summary['step'] == 4, summary
        assert saved_state(run)['position']['step'] == 4
        ends = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines()
                if json.loads(line).get('event') == 'end']
        assert [e['interrupted'] for e in ends] == [None], ends
        assert f'{sig.name} during the final save: the run is complete' in caplog.text


def test_elapsed_time_goes_on_across_a_resume(tmp_path, store):
    """elapsed_s counts the time of the runs before a resume: the resumed run's records
    start from the saved elapsed time, not from 0."""
    run = tmp_path / 'run'
    Signalled(small_config(store), run, at=1, pause=1.0).run()
    saved = saved_state(run)['elapsed_s']
    assert saved >= 1.0 and saved_state(run)['position']['step'] == 1
    train(small_config(store), run)
    resumed = [r for r in records(run, 'train') if r['step'] > 1]
    assert resumed and all(r['elapsed_s'] >= saved for r in resumed)


def _failing(ds):
    """The run's real dataset, whose item number `fail_at` (counted from arming) raises what
    a DataLoader raises when Ctrl-C killed its workers, after a real SIGTERM when `stop`
    (the terminal's signal reached the trainer too)."""
    real = type(ds).__getitem__

    def getitem(self, idx):
        if self.fail_at is not None:
            self.calls += 1
            if self.calls == self.fail_at:
                if self.stop:
                    os.kill(os.getpid(), signal.SIGTERM)
                raise RuntimeError('DataLoader worker (pid 1) is killed by signal: Interrupt')
        return real(self, idx)

    ds.__class__ = type('Failing', (type(ds),), {'__getitem__': getitem})
    ds.fail_at, ds.stop, ds.calls = None, False, 0
    return ds


class LoaderFails(Trainer):
    def __init__(self, *args, fail_at: int, stop: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.train_ds.fail_at, self.train_ds.stop = fail_at, stop

    def _dataset(self):
        return _failing(super()._dataset())


def test_a_loader_failure_without_a_stop_is_raised(tmp_path, store):
    """A dataset error mid-run is not taken for a stop: it propagates."""
    with pytest.raises(RuntimeError, match='killed by signal'):
        LoaderFails(small_config(store), tmp_path / 'run', fail_at=6, stop=False).run()


def test_a_loader_stopped_mid_accumulation_resumes_exactly(tmp_path, store):
    """Ctrl-C kills the loader in step 3's second micro-batch (grad_accum_steps=2): the run
    saves step 2 with the noise generator as step 3 began, so the resumed run's losses are
    the uninterrupted run's."""
    cfg = small_config(store, optim={'grad_accum_steps': 2}, train={'checkpoint_every': 0})
    run, reference = tmp_path / 'run', tmp_path / 'reference'
    # 4 windows a micro-batch: items 17-20 are step 3's first micro-batch, 21 its second's
    summary = LoaderFails(cfg, run, fail_at=21, stop=True).run()
    assert summary['interrupted'] == 'SIGTERM' and summary['step'] == 2
    assert saved_state(run)['position']['step'] == 2
    train(cfg, run)
    train(cfg, reference)
    got = {r['step']: r['loss'] for r in records(run, 'train')}
    want = {r['step']: r['loss'] for r in records(reference, 'train')}
    assert sorted(got) == sorted(want) == [1, 2, 3, 4]
    for step in (3, 4):
        assert got[step] == pytest.approx(want[step], rel=1e-6), step


# ---------------------------------------------------------------------------- batches
class CountingItems(Trainer):
    """Counts the dataset items the DataLoader path reads once the run starts."""

    def run(self):
        calls = []
        ds = self.train_ds
        real = type(ds).__getitem__
        ds.__class__ = type('Counted', (type(ds),), {
            '__getitem__': lambda s, i: calls.append(i) or real(s, i)})
        self.item_reads = calls
        return super().run()


def test_device_batches_replace_the_loader_and_resume_exactly(tmp_path, store):
    """data.device_batches: the loop builds its batches from the device arrays (no dataset
    item is read), and a run stopped at step 2 resumes on the same windows as the
    uninterrupted run (the same losses)."""
    on = small_config(store, data={'device_batches': True})
    counted = CountingItems(on, tmp_path / 'count')
    counted.run()
    assert counted.item_reads == []
    off = CountingItems(small_config(store), tmp_path / 'off')
    off.run()
    assert len(off.item_reads) == 4 * 4

    run, reference = tmp_path / 'run', tmp_path / 'reference'
    Signalled(on, run, at=2).run()
    train(on, run)
    train(on, reference)
    got = {r['step']: r['loss'] for r in records(run, 'train')}
    want = {r['step']: r['loss'] for r in records(reference, 'train')}
    for step in (3, 4):
        assert got[step] == pytest.approx(want[step], rel=1e-6), step


# ---------------------------------------------------------------------------- measurements
def test_the_validation_loss_reads_at_most_val_max_batches(tmp_path, store):
    """train.val_max_batches=1: the loss of the first validation batch, not of all of them."""
    from training.train_metrics import validation_loss

    cfg = small_config(store, data={'batch_size': 2}, train={'val_max_batches': 1})
    trainer = Trainer(cfg, tmp_path / 'run')
    assert len(trainer.val_ds) > 2 * 2

    def loss(max_batches):
        return validation_loss(trainer.policy, trainer.val_ds, cfg.data, trainer.accelerator,
                               seed=cfg.train.seed, max_batches=max_batches)

    assert trainer.validation_loss() == loss(1)
    assert loss(1) != loss(None)


def test_action_mse_without_validation_episodes_measures_the_training_windows(tmp_path,
                                                                             store, caplog):
    """data.val_ratio=0 with action_mse_every: the training windows' MSE only, and the run
    says at its start that there is no validation (not silently)."""
    import logging

    run = tmp_path / 'run'
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        train(small_config(store, data={'val_ratio': 0.0}, train={'action_mse_every': 2}),
              run)
    assert any(m.startswith('no validation episodes (data.val_ratio 0)') for m in
               caplog.messages)
    mse = records(run, 'action_mse')
    assert [r['step'] for r in mse] == [2, 4]
    assert all(r['train_action_mse'] > 0 and 'val_action_mse' not in r for r in mse)


def test_tensorboard_hides_the_steps_a_resume_redoes_even_without_going_back(tmp_path, store):
    """A run killed after logging step 3 but before saving it resumes from step 2's state;
    logging every 2 steps, it writes step 4 only, which is no step back, so TensorBoard's
    reader would not drop the abandoned step 3 by itself: the trainer's purge does."""
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 2}), run)
    shutil.copytree(run / STATE_DIR, tmp_path / 'state_at_2')
    train(small_config(store, train={'max_steps': 3}), run)
    shutil.rmtree(run / STATE_DIR)  # the kill: step 3 logged, its state never saved
    shutil.copytree(tmp_path / 'state_at_2', run / STATE_DIR)
    train(small_config(store, train={'max_steps': 4, 'log_every': 2}), run)
    acc = EventAccumulator(str(run / TB_DIR))
    acc.Reload()
    assert [e.step for e in acc.Scalars('train/loss')] == [1, 2, 4]
