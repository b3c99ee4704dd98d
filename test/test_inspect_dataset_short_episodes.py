"""`dp-ros inspect DATASET` on episodes shorter than the horizon says what training does with
them, by the sampler's rule (training/sampler.py min_episode_length): their windows are padded
with edge steps, at most n_obs_steps - 1 before and n_action_steps - 1 after, so an episode
shorter than horizon - (n_obs_steps - 1) - (n_action_steps - 1) steps gives no window and
training leaves it out. It said they were all padded, also those training dropped."""
from __future__ import annotations

import numpy as np
import pytest
from test_inspect_dataset import clean_episode, write_store

from dp_ros import cli
from training.dataset import PushTImageDataset
from training.inspect_dataset import summarize

RULE = ('too short for one training window (fewer than 8 steps: horizon 16 - (n_obs_steps 2 '
        '- 1) - (n_action_steps 8 - 1)), training leaves them out')


def _store(tmp_path, *lengths: int):
    rng = np.random.default_rng(0)
    return write_store(tmp_path / 'short.zarr', [clean_episode(rng, n) for n in lengths])


def _short_warning(summary) -> str:
    (said,) = [w for w in summary.warnings if 'shorter than the horizon' in w]
    return said


def test_episodes_too_short_for_a_window_are_said_to_be_left_out(tmp_path):
    """The explorer's store: episodes of 3, 4, 20, 2 and 30 steps at the paper's timeline."""
    buffer = _store(tmp_path, 3, 4, 20, 2, 30)
    assert _short_warning(summarize(buffer)) == (
        f'3 episode(s) shorter than the horizon (16 steps): 0, 1, 3; {RULE}')


def test_padded_and_dropped_episodes_are_told_apart(tmp_path):
    buffer = _store(tmp_path, 3, 12, 20, 7, 8)
    assert _short_warning(summarize(buffer)) == (
        "4 episode(s) shorter than the horizon (16 steps): 0, 1, 3, 4; 0, 3 "
        f"{RULE}; the others' windows are padded with the edge steps")


@pytest.mark.parametrize('horizon, n_obs, n_act', [(16, 2, 8), (8, 2, 4), (10, 3, 2),
                                                    (4, 1, 1)])
def test_the_episodes_said_to_be_left_out_are_those_the_training_windows_lack(
        tmp_path, horizon, n_obs, n_act):
    """The episodes named are exactly those PushTImageDataset gives no window, for other
    timelines too (--horizon, --n-obs-steps, --n-action-steps)."""
    lengths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 20]
    buffer = _store(tmp_path, *lengths)
    ds = PushTImageDataset(tmp_path / 'short.zarr', horizon=horizon, pad_before=n_obs - 1,
                           pad_after=n_act - 1, val_ratio=0.0, progress=False, obs_steps=n_obs)
    used = {int(np.searchsorted(ds.episode_ends, row[0], side='right'))
            for row in ds.sampler.indices}
    dropped = [e for e in range(len(lengths)) if e not in used]
    short = [e for e, n in enumerate(lengths) if n < horizon]
    (warning,) = [w for w in summarize(buffer, horizon, n_obs_steps=n_obs,
                                       n_action_steps=n_act).warnings if 'horizon' in w]
    if dropped == short:  # all of them: no list of their own
        assert warning.endswith('training leaves them out'), warning
    else:
        assert f'; {", ".join(map(str, dropped))} too short' in warning, warning
        assert warning.endswith("the others' windows are padded with the edge steps")


def test_the_command_takes_the_policys_timeline(tmp_path, capsys):
    _store(tmp_path, 3, 20)
    assert cli.main(['inspect', str(tmp_path / 'short.zarr'), '--no-progress',
                     '--n-obs-steps', '1', '--n-action-steps', '1', '--horizon', '4']) == 0
    assert 'fewer than 4 steps: horizon 4' in capsys.readouterr().out
    assert cli.main(['inspect', str(tmp_path / 'short.zarr'), '--n-obs-steps', '0']) == 2
    assert capsys.readouterr().err.strip() == (
        'dp-ros inspect: --n-obs-steps and --n-action-steps must be at least 1, got 0 and 8')
