"""A run stopped between two 'train' records (train.log_every > 1) resumes with the log window
it had open: the train state keeps each rank's summed loss and its steps, so the resumed
run's first record is the mean the uninterrupted run logged (found by exploratory testing:
the window was dropped, the record averaged only the steps after the resume). Also across a
checkpoint that falls inside a window, and after a state saved before windows were."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import no_curves, small_config, write_small_store  # noqa: F401 (fixture)

from training.trainer import Trainer, train

pytestmark = pytest.mark.usefixtures('no_curves')  # no test here looks at curves.png


class StopAt(Trainer):
    def __init__(self, *args, at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def _should_stop(self) -> bool:
        if self.pos.step == self.at:
            self.stop_signal = 'SIGINT'
        return super()._should_stop()


@pytest.fixture(scope='module')
def store(tmp_path_factory) -> Path:
    return write_small_store(tmp_path_factory.mktemp('data') / 'small.zarr')


def _losses(run: Path) -> dict[int, float]:
    out = {}
    for line in (run / 'log.jsonl').read_text().splitlines():
        r = json.loads(line)
        if r['event'] == 'train':
            out[r['step']] = r['loss']
    return out


def test_a_stop_inside_a_log_window_logs_the_uninterrupted_losses(tmp_path, store):
    def cfg():
        return small_config(store, train={'max_steps': 6, 'log_every': 3,
                                          'checkpoint_every': 100})
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    train(cfg(), full)
    assert StopAt(cfg(), cut, at=2).run()['interrupted'] == 'SIGINT'
    train(cfg(), cut)  # the same command again
    assert sorted(_losses(cut)) == sorted(_losses(full)) == [3, 6]
    assert _losses(cut)[6] == pytest.approx(_losses(full)[6], rel=1e-6)  # after: exact
    assert _losses(cut)[3] == pytest.approx(_losses(full)[3], rel=1e-6), (
        'the record at step 3 averages only step 3 after the resume, not steps 1..3')
    state = json.loads((cut / 'train_state' / 'state.json').read_text())
    assert state['window_steps'] == 0  # saved at step 6, just logged: an empty window


def test_a_checkpoint_inside_a_window_saves_it_for_a_kill_after_it(tmp_path, store):
    """checkpoint_every 2, log_every 3: the state the checkpoint saved at step 4 holds step
    4's window (one step; the stop there saves nothing more); the resumed run logs step 6 as
    the uninterrupted run did."""
    def cfg():
        return small_config(store, train={'max_steps': 6, 'log_every': 3,
                                          'checkpoint_every': 2})
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    train(cfg(), full)
    assert StopAt(cfg(), cut, at=4).run()['interrupted'] == 'SIGINT'
    state = json.loads((cut / 'train_state' / 'state.json').read_text())
    assert state['position']['step'] == 4 and state['window_steps'] == 1
    train(cfg(), cut)
    assert _losses(cut)[6] == pytest.approx(_losses(full)[6], rel=1e-6)
