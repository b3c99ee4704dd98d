"""Behaviour of training/trainer.py that a second mutation review found unpinned by its other
tests: train.num_threads reaches torch; a finished run run again on a full disk is not
refused (the disk check counts from the resumed step); the warm-start range warning has
its slack, no more and no less.

Each test kills a mutant the module's other tests let live. Runs use the synthetic 5-episode
store of 8x10 images (tiny_runs.small_config: milliseconds a step).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import torch
from support import one_torch_thread  # noqa: F401 (autouse)
from test_run_dir_continuity import StopBeforeFirstStep
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    no_curves,
    records,
    saved_state,
    small_arrays,
    small_config,
    write_small_store,
)

import training.trainer as trainer_module
from dp_ros.policy.checkpoint import load_policy, read_policy_metadata
from training.trainer import Trainer, train

pytestmark = pytest.mark.usefixtures('no_curves')

INHERITS = 'beyond the range of the normalizer it inherits'


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


def test_train_num_threads_sets_torchs_thread_count(tmp_path, store):
    """train.num_threads 2: the trainer sets torch's intra-op threads to 2 (a dropped
    set_num_threads leaves the process's count, 1 here)."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        Trainer(small_config(store, train={'num_threads': 2}), tmp_path / 'run')
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_finished_run_run_again_on_a_full_disk_is_not_refused(tmp_path, store,
                                                                 monkeypatch):
    """check_disk counts what the run writes from the resumed step on: a run at max_steps
    writes nothing more, so its rerun on a disk with 0 bytes free says it is finished
    instead of refusing it for the space of a train state (start_step 0)."""
    run = tmp_path / 'run'
    train(small_config(store), run)
    monkeypatch.setattr(trainer_module, 'free_disk', lambda path: 0)
    summary = train(small_config(store), run)
    assert summary['step'] == 4 and summary['interrupted'] is None


def _warm_start_warnings(tmp_path: Path, store: Path, beyond: float, caplog) -> list[str]:
    """The inherited-range warnings of a warm start from a run on `store` onto a copy whose
    first action x is where the inherited normalizer maps it to `beyond`."""
    first = tmp_path / 'first'
    if not first.exists():
        train(small_config(store, train={'max_steps': 1}), first)
    normalizer = load_policy(first / 'checkpoints' / 'latest').normalizer
    arrays = small_arrays()
    point = torch.tensor([[beyond, 0.0]], dtype=torch.float32)
    arrays['action'][0, 0] = float(normalizer.unnormalize('action', point)[0, 0])
    other = write_small_store(tmp_path / f'beyond{beyond}.zarr', arrays)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        Trainer(small_config(other, train={'init_from': str(first)}), tmp_path / f'w{beyond}')
    return [r.getMessage() for r in caplog.records if INHERITS in r.getMessage()]


def test_the_inherited_range_warning_has_its_slack_and_no_more(tmp_path, store, caplog):
    """RANGE_SLACK 1e-3 (literal here: the module's value could drift): an action normalized
    to 1.0002 (rounding of the fitted range) is no warning; one normalized to 1.02 is one
    naming action dimension 0."""
    assert _warm_start_warnings(tmp_path, store, 1.0002, caplog) == []
    (message,) = _warm_start_warnings(tmp_path, store, 1.02, caplog)
    assert 'action dimension 0 ' in message


class _Clock:
    """time for training.trainer: perf_counter advances a quarter second a call (exact in
    binary), so a step's measured time is 0.25 s whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


def test_samples_per_s_is_the_log_windows_own(tmp_path, store, monkeypatch):
    """samples_per_s is the samples of the steps since the last record over their time:
    batch 4 at 0.25 s a step is 16 at every record (not a count carried over from earlier
    windows, nor a time floored at one second)."""
    monkeypatch.setattr(trainer_module, 'time', _Clock())
    run = tmp_path / 'run'
    train(small_config(store, train={'log_every': 2}), run)
    assert [r['samples_per_s'] for r in records(run, 'train')] == [16.0, 16.0]


def test_the_action_mse_is_measured_on_the_ema_weights(tmp_path, store):
    """The sampled-action MSE runs the EMA weights (those of checkpoints/latest), not the
    trained ones: after the final step's measurement the evaluation policy holds exactly
    latest's weights, which differ from the trained weights (EMA decay > 0 from step 3)."""
    trainer = Trainer(small_config(store, train={'action_mse_every': 4}), tmp_path / 'run')
    trainer.run()
    assert records(tmp_path / 'run', 'action_mse')[0]['train_action_mse'] > 0
    latest = load_policy(tmp_path / 'run' / 'checkpoints' / 'latest').state_dict()
    evaluated = trainer.eval_policy.state_dict()
    assert all(torch.equal(evaluated[k].cpu(), v) for k, v in latest.items())
    trained = trainer.policy.state_dict()
    assert any(not torch.equal(trained[k].cpu(), v) for k, v in latest.items()
               if v.is_floating_point())


def test_ema_inv_gamma_comes_from_the_config(tmp_path, store):
    """ema.inv_gamma 2: step 3's decay is 1 - (1 + 1/2) ** -0.75, not diffusers' default
    inv_gamma 1 (1 - 2 ** -0.75; the first two steps copy the weights)."""
    run = tmp_path / 'run'
    train(small_config(store, ema={'inv_gamma': 2.0}, train={'max_steps': 3,
                                                             'checkpoint_every': 3}), run)
    decays = [r['ema_decay'] for r in records(run, 'train')]
    assert decays == pytest.approx([0.0, 0.0, 1 - 1.5 ** -0.75])


def test_a_smaller_batch_count_reaching_the_epochs_end_resumes_in_the_next_epoch(
        tmp_path, store, caplog):
    """34 training windows, data.drop_last: 16 steps of batch 2 take 32 of epoch 0; resumed
    with batch 8 (4 batches an epoch) that is past epoch 0's last batch, so the run goes on
    at epoch 1, batch 0 (not epoch 0 again from its start, nor batch 4 of 4 in the log)."""
    run = tmp_path / 'run'
    train(small_config(store, data={'batch_size': 2, 'drop_last': True},
                       train={'max_steps': 16, 'checkpoint_every': 16}), run)
    assert saved_state(run)['position'] == {'step': 16, 'epoch': 0, 'batch': 16}
    with caplog.at_level(logging.INFO, logger='dp_ros.train'):
        train(small_config(store, data={'batch_size': 8, 'drop_last': True},
                           train={'max_steps': 17, 'checkpoint_every': 16}), run)
    assert any('data.batch_size 2 -> 8: the run goes on where it was in the data order (32 '
               'windows of epoch 0 taken): epoch 1, batch 0' in m for m in caplog.messages)
    assert saved_state(run)['position'] == {'step': 17, 'epoch': 1, 'batch': 1}


def test_the_last_step_is_a_resume_point_off_the_checkpoint_interval(tmp_path, store):
    """max_steps 3 with checkpoint_every 2: the final step saves train_state and
    checkpoints/latest at step 3 too (else the run's last step would be lost: latest at
    step 2, and a rerun would train step 3 again)."""
    run = tmp_path / 'run'
    train(small_config(store, train={'max_steps': 3}), run)
    assert saved_state(run)['position']['step'] == 3
    latest = read_policy_metadata(run / 'checkpoints' / 'latest')['provenance']
    assert latest['step'] == 3


def test_a_stop_of_a_run_continued_from_a_path_says_to_drop_that_path(tmp_path, store,
                                                                      caplog):
    """--resume PATH into a new folder, stopped: the advice is the command without --resume
    PATH (again with it would take PATH's older state), not 'the same command again'."""
    run, other = tmp_path / 'run', tmp_path / 'other'
    train(small_config(store, train={'max_steps': 2}), run)
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        StopBeforeFirstStep(small_config(store), other, resume=str(run)).run()
    [message] = [m for m in caplog.messages if 'stopped at step' in m]
    assert message.endswith(f'run the command again without --resume {run} to continue')


def test_no_validation_warning_when_data_val_ratio_is_zero(tmp_path, store, caplog):
    """data.val_ratio 0 holds out nothing by request: no warning that the validation
    episodes drawn are all excluded (or have no windows)."""
    with caplog.at_level(logging.WARNING, logger='dp_ros.train'):
        Trainer(small_config(store, data={'val_ratio': 0.0}), tmp_path / 'run')
    assert not [m for m in caplog.messages if 'val_ratio' in m or 'validation' in m]
