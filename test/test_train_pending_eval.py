"""A stop (SIGTERM, Ctrl-C) during a closed-loop evaluation: the evaluation is saved as
pending in the train state, and the resumed run does it first, as the uninterrupted run did
at that step (its log record, checkpoints/best, latest's metrics), then goes on exactly."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tiny_runs import (  # noqa: F401 (no_curves: a fixture)
    copy_episodes,
    no_curves,
    records,
    run_config,
    saved_state,
)

from dp_ros.policy.checkpoint import read_policy_metadata
from training.config import TrainConfig
from training.trainer import Trainer, train

# none of these tests looks at curves.png: their runs skip drawing it (most of a tiny run's time)
pytestmark = pytest.mark.usefixtures('no_curves')


@pytest.fixture(scope='module')
def tiny_zarr(tmp_path_factory, pusht_zarr) -> Path:
    return copy_episodes(pusht_zarr, tmp_path_factory.mktemp('data') / 'tiny.zarr')


class StoppedAtEvaluation(Trainer):
    """The real trainer, sent a real SIGTERM as its evaluation at `step` begins (as a job
    scheduler does at any moment): its own handler takes it, the evaluation sees the stop."""

    def __init__(self, *args, step: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop_at = step

    def closed_loop(self):
        if self.pos.step == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().closed_loop()


def _config(zarr_path: Path, eval_every: int) -> TrainConfig:
    return TrainConfig.from_dict(run_config(
        zarr_path, train={'eval_every': eval_every, 'checkpoint_every': 3, 'snapshot_every': 3},
        eval={'n_episodes': 1, 'max_steps': 8}))


def _metrics(run: Path, name: str) -> dict:
    return read_policy_metadata(run / 'checkpoints' / name)['provenance']


def test_a_final_evaluation_cut_short_is_done_when_the_run_is_started_again(tmp_path,
                                                                            tiny_zarr):
    cfg, run = _config(tiny_zarr, eval_every=6), tmp_path / 'run'
    summary = StoppedAtEvaluation(cfg, run, step=6).run()
    assert summary['interrupted'] == 'SIGTERM' and summary['step'] == 6
    assert saved_state(run)['pending_eval'] == 6
    assert not records(run, 'eval') and not (run / 'checkpoints' / 'best').exists()

    summary = train(cfg, run)  # "run the same command again to continue"
    assert summary['interrupted'] is None and summary['step'] == 6
    (ev,) = records(run, 'eval')
    assert ev['step'] == 6 and summary['best_score'] == ev['test/mean_score']
    best, latest = _metrics(run, 'best'), _metrics(run, 'latest')
    assert best['step'] == latest['step'] == 6
    assert best['metrics']['test/mean_score'] == ev['test/mean_score']
    assert latest['metrics']['test/mean_score'] == ev['test/mean_score']
    # the snapshot of that step gets the metrics the uninterrupted run gave it
    assert _metrics(run, 'step_000006')['metrics']['test/mean_score'] == ev['test/mean_score']
    state = saved_state(run)
    assert state['pending_eval'] is None and state['best_score'] == ev['test/mean_score']
    # done once: a third start does nothing more
    train(cfg, run)
    assert len(records(run, 'eval')) == 1


def test_a_mid_run_evaluation_cut_short_is_done_first_and_the_resume_stays_exact(tmp_path,
                                                                                 tiny_zarr):
    cfg, run = _config(tiny_zarr, eval_every=3), tmp_path / 'run'
    assert StoppedAtEvaluation(cfg, run, step=3).run()['step'] == 3
    assert saved_state(run)['pending_eval'] == 3
    train(cfg, run)

    reference = tmp_path / 'reference'
    train(cfg, reference)
    evals = [(r['step'], r['test/mean_score']) for r in records(run, 'eval')]
    assert evals == [(r['step'], r['test/mean_score']) for r in records(reference, 'eval')]
    assert [step for step, _ in evals] == [3, 6]
    losses = {r['step']: r['loss'] for r in records(run, 'train')}
    expected = {r['step']: r['loss'] for r in records(reference, 'train')}
    assert losses == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert _metrics(run, 'best')['step'] == _metrics(reference, 'best')['step']
