"""`dp-ros dry-run-report` (training/dry_run_report.py) normalizes by the operator's range as
the training's range normalizer does (2 / (max - min)), so a joint the operator held still,
whose range is only its encoder's noise (under the normalizer's RANGE_EPS), has no scale:
it is left out of the normalized figures and the lag fit, as `dp-ros open-loop` leaves out
an action dimension constant in the training data. Scaled by 2 / noise it made a policy
2 mrad off there read as 40 times the range, and chose the lag by that joint's noise."""
from __future__ import annotations

import numpy as np
import pytest

from training.dry_run_report import Comparison, comparison_metrics

PERIOD_NS = 100_000_000


def test_a_joint_held_still_is_not_normalized_by_its_noise():
    t = np.arange(12)
    moving = t * 0.1
    still = 1.0 + 5e-5 * np.sin(t)  # an encoder's noise: a range of 1e-4 rad
    reference = np.stack([moving, still], 1)
    policy = np.stack([moving - 0.1, np.full(len(t), 1.002)], 1)  # one period behind
    ok = np.ones(len(t), bool)
    c = Comparison('bag', ['/joint_states'], 'joint_state', 0.1, ['a', 'b'], PERIOD_NS,
                   t * PERIOD_NS, policy, reference, ok, ok.copy(), np.array([0, 4, 8]))
    m = comparison_metrics([c], max_lag=3)
    pj = m['per_joint']
    span = 1.1  # joint a: 0 .. 1.1 rad
    assert pj['rmse_norm'][0] == pytest.approx(0.1 * 2 / span)
    assert pj['rmse_norm'][1] is None and pj['hold_rmse_norm'][1] is None
    assert pj['rmse'][1] == pytest.approx(0.002, rel=0.05)  # its raw error stays
    assert m['rmse_norm'] == pytest.approx(0.1 * 2 / span)  # joint a's alone
    assert m['best_lag_steps'] == 1 and m['best_lag_rmse_norm'] == pytest.approx(0.0)
    # holding the command before each chunk (chunks at 4 and 8 hold steps 3 and 7): k + 1
    # periods of 0.1 rad behind at the chunk's step k, on joint a only
    k1 = np.arange(4) + 1.0
    assert m['hold_rmse_norm'] == pytest.approx(np.sqrt(np.mean((0.1 * k1) ** 2)) * 2 / span)
