"""Edges of the chunk timing the main tests leave open: before a plan's first point, bad
settings and bad chunks."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.action_schedule import ActionSchedule

MS = 1_000_000
DT = 100 * MS


def test_no_point_is_in_force_before_the_plans_first_one():
    """Before a plan's first point nothing is in force (None), not its last point (index -1)."""
    s = ActionSchedule(DT)
    s.set_plan(np.arange(8.0).reshape(4, 2), t_obs_ns=1000 * MS, now_ns=1000 * MS)
    assert s.action_at(999 * MS) is None
    assert s.action_at(1000 * MS).tolist() == [0.0, 1.0]


def test_a_negative_lead_is_refused():
    """A negative lead would keep points already due as future ones, executed late."""
    with pytest.raises(ValueError, match='lead_ns must be >= 0'):
        ActionSchedule(DT, lead_ns=-1)


def test_a_chunk_is_checked_for_shape_and_kept_as_a_copy():
    """A flat chunk is refused and a plan does not change with the caller's buffer."""
    s = ActionSchedule(DT)
    with pytest.raises(ValueError, match='actions must be'):
        s.set_plan(np.zeros(8), 0, 0)
    actions = np.zeros((4, 2))
    plan = s.set_plan(actions, 0, 0)
    actions[:] = 5.0
    assert plan.actions.tolist() == [[0.0, 0.0]] * 4
