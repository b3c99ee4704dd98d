"""`dp-ros open-loop`'s hold baseline (training/open_loop.py) knows only what a policy knows
when it plans: the command recorded the step before its chunk (held_steps, the rule
`dp-ros dry-run-report` uses). An episode's first chunk has none: its steps are left out of
the baseline, never scored by holding the very command they are compared with (a one-step
episode's hold error was 0, and short episodes pulled the baseline down)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dp_ros.pose_fields import MATRIX_COLUMNS
from training.open_loop import (
    EpisodeChunks,
    chunk_starts,
    error_metrics,
    format_summary,
    pick_for_plot,
    pose_errors,
)

TO, TA, TP = 2, 8, 16  # the Push-T timeline: observations, executed actions, horizon


def ramp(episode: int, length: int) -> EpisodeChunks:
    """dim 0 rises by 1 a step, dim 1 is 5; planned exactly (the policy's error is 0)."""
    recorded = np.stack([np.arange(length, dtype=np.float64), np.full(length, 5.0)], 1)
    c = EpisodeChunks(episode, recorded, chunk_starts(length, TA))
    steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
    c.predicted = recorded[np.clip(steps, 0, length - 1)]
    return c


def summary(metrics: dict, names: list[str]) -> str:
    return format_summary({'policy': 'p', 'dataset': 'd', 'episodes_chosen': 'all',
                           'episodes': [e['episode'] for e in metrics['episodes']],
                           'metrics': metrics, 'action_names': names, 'warnings': []})


def test_a_one_step_episode_has_no_hold_error_rather_than_a_perfect_one():
    c = EpisodeChunks(0, np.array([[3.0, 5.0]]), [0])
    c.predicted = np.full((1, TP, 2), 1.0)
    m = error_metrics([c], np.ones(2), TO, TA)
    assert m['n_steps'] == 1 and m['rmse_norm'] > 0
    assert m['hold_rmse_norm'] is None  # was 0.0: holding step 0's own command
    assert m['hold_n_steps'] == 0
    assert m['per_dimension']['hold_rmse'] == [None, None]
    assert m['by_chunk_step']['hold_rmse_norm'] == [None] * TA
    assert m['episodes'][0]['hold_rmse_norm'] is None
    text = summary(m, ['x', 'y'])
    assert 'holding the last command: -' in text
    assert pick_for_plot(m, 3) == [('worst', 0)]


def test_the_hold_is_one_step_behind_at_the_first_step_of_every_compared_chunk():
    """On a unit ramp holding the command before the chunk is k + 1 behind at chunk step k,
    in every chunk it is scored on: the first chunk (which held step 0's own command: k
    behind) is left out, over all steps, per step of the chunk and per episode."""
    c = ramp(0, 24)  # chunks at 0, 8, 16: the hold scored on 8 and 16
    m = error_metrics([c], np.ones(2), TO, TA)
    assert m['n_steps'] == 24 and m['hold_n_steps'] == 16
    k1 = np.arange(TA) + 1.0
    np.testing.assert_allclose(m['by_chunk_step']['hold_rmse_norm'], k1 / math.sqrt(2))
    want = math.sqrt(np.mean(k1 ** 2) / 2)  # dim 1 (constant) holds exactly
    assert m['hold_rmse_norm'] == pytest.approx(want)
    assert m['episodes'][0]['hold_rmse_norm'] == pytest.approx(want)
    assert m['per_dimension']['hold_rmse'] == pytest.approx([math.sqrt(np.mean(k1 ** 2)), 0.0])
    # a short second episode (one chunk) adds nothing to the baseline: it knows nothing
    both = error_metrics([c, ramp(1, 6)], np.ones(2), TO, TA)
    assert both['hold_rmse_norm'] == pytest.approx(want) and both['hold_n_steps'] == 16
    assert both['episodes'][1]['hold_rmse_norm'] is None


def test_a_pose_action_holds_only_after_its_first_chunk():
    """pose_errors' hold figures follow the same rule: None where only first chunks were
    compared, and the first chunk's steps are not counted as held exactly."""
    names = ['x', 'y', 'z', *MATRIX_COLUMNS]

    def row(k: float) -> list[float]:
        c, s = math.cos(0.01 * k), math.sin(0.01 * k)
        return [0.4 + 0.001 * k, 0.0, 0.2, c, s, 0.0, -s, c, 0.0]

    def episode(length: int) -> EpisodeChunks:
        recorded = np.array([row(k) for k in range(length)])
        c = EpisodeChunks(0, recorded, chunk_starts(length, TA))
        steps = np.asarray(c.starts)[:, None] - (TO - 1) + np.arange(TP)[None, :]
        c.predicted = recorded[np.clip(steps, 0, length - 1)]
        return c

    short = pose_errors([episode(TA)], names, TO, TA)
    assert short['position_rmse'] == pytest.approx(0.0, abs=1e-12)
    assert short['hold_position_rmse'] is None and short['hold_angle_rmse_deg'] is None
    long = pose_errors([episode(2 * TA)], names, TO, TA)
    k1 = np.arange(TA) + 1.0  # the second chunk holds step 7: k + 1 steps behind
    assert long['hold_position_rmse'] == pytest.approx(0.001 * math.sqrt(np.mean(k1 ** 2)))
    assert long['hold_position_max'] == pytest.approx(0.001 * TA)
    assert long['hold_angle_max_deg'] == pytest.approx(math.degrees(0.01 * TA))
