"""An episode shorter than horizon - (n_obs_steps - 1) - (n_action_steps - 1) steps gives no
window (training/sampler.py), so training and validation leave it out: a run names such
episodes in a warning at its start (Trainer._unused_episodes), where it said nothing; when
the held-out episodes are all such, it says so instead of "no validation episodes" (the split
holds some); and a data.val_ratio > 0 that holds out nothing (a one-episode dataset) is a
warning saying why."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from support import one_torch_thread  # noqa: F401 (autouse)
from tiny_runs import no_curves, small_arrays, small_config  # noqa: F401 (fixture)

from training.dataset import PushTImageDataset
from training.replay_buffer import ReplayBuffer
from training.sampler import get_val_mask
from training.trainer import train

pytestmark = pytest.mark.usefixtures('no_curves')  # no test here looks at curves.png

# small_config's timeline: horizon 8, n_obs_steps 2, n_action_steps 4: a window needs 4 steps
LENGTHS = [2, 12, 3, 14, 11, 10, 9, 13, 12, 10]


def _store(path, lengths=LENGTHS):
    arrays = small_arrays()
    n = sum(lengths)
    arrays = {k: np.resize(v, (n,) + v.shape[1:]) for k, v in arrays.items()}
    ReplayBuffer.from_arrays(arrays, np.cumsum(lengths)).save_to(path)
    return path


def _split_seed_with_short_val() -> int:
    """A split seed whose one validation episode (of 10 at 0.1) is episode 0 or 2 (short)."""
    return next(s for s in range(1000)
                if np.flatnonzero(get_val_mask(len(LENGTHS), 0.1, s)).tolist() in ([0], [2]))


def _run(tmp_path, caplog, lengths=LENGTHS, **data):
    store = _store(tmp_path / 'short.zarr', lengths)
    cfg = small_config(store, data={'val_ratio': 0.1, **data},
                       train={'max_steps': 1, 'checkpoint_every': 0, 'val_every': 1})
    with caplog.at_level(logging.INFO):
        train(cfg, tmp_path / 'run')
    return store, cfg


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_shortest_episode_with_a_window_is_the_samplers():
    """min_episode_length is create_indices' rule: horizon - pad_before - pad_after."""
    from training.sampler import min_episode_length

    assert min_episode_length(8, 1, 3) == 4
    assert min_episode_length(16, 1, 7) == 8
    assert min_episode_length(4, 9, 9) == 0  # each pad at most sequence_length - 1


def test_training_episodes_too_short_for_a_window_are_named(tmp_path, caplog):
    """Training episodes that give no window (here 0 and 2: 2 and 3 steps) are named in a
    warning, not silently left out of training."""
    store, cfg = _run(tmp_path, caplog, split_seed=1)
    ds = PushTImageDataset(store, horizon=8, pad_before=1, pad_after=3, obs_steps=2,
                           progress=False, **cfg.data.split_args())
    used = {int(np.searchsorted(ds.episode_ends, row[0], side='right'))
            for row in ds.sampler.indices}
    unused = sorted(set(np.flatnonzero(ds.train_mask).tolist()) - used)
    assert unused == [0, 2], 'the setup must leave training episodes without windows'
    assert ds.windowless_episodes(ds.train_mask) == unused
    (said,) = [w for w in _warnings(caplog) if 'training episode(s)' in w]
    assert 'training episode(s) 0, 2 are shorter than 4 steps' in said
    assert 'training leaves them out (2 of 9 training episodes)' in said


def test_a_validation_episode_without_windows_is_not_reported_as_none(tmp_path, caplog):
    """When the split holds a validation episode too short for a window, the run does not
    log that there are no validation episodes (data.val_ratio) but says why it has none."""
    _run(tmp_path, caplog, split_seed=_split_seed_with_short_val())
    said = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith('no validation episodes') for m in said), said
    assert any('validation episode(s)' in w and 'no validation windows' in w
               for w in _warnings(caplog)), said


@pytest.mark.parametrize('val_ratio', [0.0, 0.5])
def test_one_episode_holds_out_none_and_a_val_ratio_says_so(tmp_path, caplog, val_ratio):
    """A one-episode dataset trains on it: with data.val_ratio > 0 a warning says validation
    is empty because of the one episode; with 0 the usual note, no warning."""
    _run(tmp_path, caplog, lengths=[12], val_ratio=val_ratio)
    one = [w for w in _warnings(caplog) if 'has one episode' in w]
    assert len(one) == (val_ratio > 0), _warnings(caplog)
    assert not one or 'data.val_ratio 0.5 holds out none' in one[0]
    notes = [r.getMessage() for r in caplog.records if
             r.getMessage().startswith('no validation episodes')]
    assert len(notes) == (val_ratio == 0)
