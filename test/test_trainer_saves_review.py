"""Mutation review of training/trainer.py's resume points (second pass): a stop after a
diverged step saves no NaN weights, NaN in the EMA weights stops the run as NaN in the trained
ones does, curves.png is drawn at each resume point during the run,
and a pending evaluation redone at a step without a snapshot makes none.

Runs on the first Push-T episodes with the tiny policy, as test/test_train_nonfinite.py and
test/test_train_pending_eval.py do; stops are real signals taken by the trainer's handler.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_train_pending_eval import StoppedAtEvaluation
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    copy_episodes,
    nan_in_ema,
    no_curves,
    records,
    run_config,
    saved_state,
)

from training.config import TrainConfig
from training.errors import NonFiniteLossError
from training.trainer import Trainer, train

# Adam at this lr: step 1's loss is finite, step 2's is not (test/test_train_nonfinite.py)
DIVERGING = {'lr': 1e6, 'lr_warmup_steps': 0, 'lr_scheduler': 'constant'}


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


class Signalled(Trainer):
    """The real trainer, sent a real SIGTERM as step `at` ends (a job scheduler's stop)."""

    def __init__(self, *args, at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def _should_stop(self) -> bool:
        if self.pos.step == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return super()._should_stop()


class Watched(Trainer):
    """The real trainer, noting as each step ends whether curves.png exists yet."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[int, bool]] = []

    def _should_stop(self) -> bool:
        self.seen.append((self.pos.step, (self.run_dir / 'curves.png').exists()))
        return super()._should_stop()


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_a_stop_after_a_non_finite_loss_saves_no_resume_point(tmp_path, tiny_zarr):
    """SIGTERM after step 2's NaN loss, nothing checked before (no log, no save due): the
    stop's save checks first, so the run fails naming steps 1..2 and writes no NaN state."""
    run = tmp_path / 'run'
    cfg = TrainConfig.from_dict(run_config(tiny_zarr, optim=DIVERGING, train={
        'log_every': 0, 'checkpoint_every': 0}))
    with pytest.raises(NonFiniteLossError) as err:
        Signalled(cfg, run, at=2).run()
    message = str(err.value)
    assert 'at steps 1..2' in message and 'this run saved nothing' in message
    assert not (run / 'train_state').exists() and not (run / 'checkpoints').exists()


def test_the_curves_are_drawn_at_each_resume_point_during_the_run(tmp_path, tiny_zarr):
    """curves.png is the curve to watch during a run: it is there from the first resume
    point (step 2 of 4), not only once the run ends."""
    run = tmp_path / 'run'
    trainer = Watched(TrainConfig.from_dict(run_config(tiny_zarr, train={
        'max_steps': 4, 'checkpoint_every': 2})), run)
    trainer.run()
    # (the last step asks for no stop: one that came as it was saved ends nothing)
    assert trainer.seen == [(1, False), (2, True), (3, True)]
    assert (run / 'curves.png').exists()


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_a_pending_evaluation_at_a_step_without_a_snapshot_makes_none(tmp_path, tiny_zarr):
    """An evaluation cut short at step 2 (snapshots every 3) is redone on resume without
    adding a step_000002 snapshot the uninterrupted run would not have."""
    run = tmp_path / 'run'
    cfg = TrainConfig.from_dict(run_config(
        tiny_zarr, train={'max_steps': 4, 'eval_every': 2, 'checkpoint_every': 3,
                          'snapshot_every': 3},
        eval={'n_episodes': 1, 'max_steps': 8}))
    assert StoppedAtEvaluation(cfg, run, step=2).run()['step'] == 2
    assert saved_state(run)['pending_eval'] == 2
    train(cfg, run)
    assert [r['step'] for r in records(run, 'eval')] == [2, 4]
    snapshots = sorted(p.name for p in (run / 'checkpoints').glob('step_*'))
    assert snapshots == ['step_000003', 'step_000004']


@pytest.mark.usefixtures('no_curves')  # no look at curves.png
def test_nan_in_the_ema_weights_stops_the_run_before_they_are_saved(tmp_path, tiny_zarr):
    """A train state whose EMA weights hold a NaN (trained weights finite): the check before
    the next save covers the EMA too, so checkpoints/latest never gets those weights."""
    run = tmp_path / 'run'
    train(TrainConfig.from_dict(run_config(tiny_zarr, train={'max_steps': 3})), run)
    nan_in_ema(run)
    with pytest.raises(NonFiniteLossError, match='the weights became NaN or inf at step 6'):
        train(TrainConfig.from_dict(run_config(tiny_zarr, train={'max_steps': 6})), run)
    assert saved_state(run)['position']['step'] == 3
    latest = load_file(run / 'checkpoints' / 'latest' / 'model.safetensors')
    assert all(torch.isfinite(v).all() for v in latest.values())
