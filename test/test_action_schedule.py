"""Chunk timing: due times, dropped past points, re-planning, in wall time and in lockstep."""
from __future__ import annotations

import numpy as np
import pytest

from dp_ros.runtime.action_schedule import ActionSchedule

MS = 1_000_000
DT = 100 * MS


def chunk(n=8, d=2):
    return np.arange(n * d, dtype=np.float64).reshape(n, d)


def test_lockstep_keeps_point_zero_and_replans_when_run_out():
    s = ActionSchedule(DT, replan_threshold=0)
    assert s.needs_plan(0)
    plan = s.set_plan(chunk(), t_obs_ns=0, now_ns=0)
    assert plan.first_index == 0 and len(plan) == 8
    assert plan.due_ns.tolist() == [i * DT for i in range(8)]
    for k in range(8):  # the sim steps t_0 .. t_7: the plan lasts
        assert s.remaining(k * DT) == 8 - k
        assert not s.needs_plan(k * DT)
        np.testing.assert_array_equal(s.action_at(k * DT), chunk()[k])
    assert s.needs_plan(8 * DT)
    assert s.dropped == 0 and s.chunks == 1


def test_points_already_due_are_dropped_and_timing_kept():
    s = ActionSchedule(DT, replan_threshold=2)
    # sampled on the observation at 1.0 s, ready 250 ms later: points 0..2 are past
    plan = s.set_plan(chunk(), t_obs_ns=1000 * MS, now_ns=1250 * MS)
    assert plan.first_index == 3
    assert plan.due_ns.tolist() == [(1000 + 100 * i) * MS for i in range(3, 8)]
    np.testing.assert_array_equal(plan.actions, chunk()[3:])
    assert s.dropped == 3
    assert s.remaining(1250 * MS) == 5
    assert not s.needs_plan(1450 * MS)  # 3 left (1.5, 1.6, 1.7 s)
    assert s.needs_plan(1550 * MS)  # 2 left: plan the next chunk now


def test_chunk_entirely_late_keeps_old_plan():
    s = ActionSchedule(DT)
    s.set_plan(chunk(), t_obs_ns=0, now_ns=0)
    assert s.set_plan(chunk(), t_obs_ns=0, now_ns=2000 * MS) is None
    assert s.plan.t_obs_ns == 0 and s.dropped == 8 and s.chunks == 1


def test_lead_time_counts_as_past():
    s = ActionSchedule(DT, lead_ns=50 * MS)
    plan = s.set_plan(chunk(), t_obs_ns=0, now_ns=60 * MS)
    assert plan.first_index == 2  # 0 ms and 100 ms are sooner than now + 50 ms


def test_clear_and_validation():
    s = ActionSchedule(DT)
    s.set_plan(chunk(), 0, 0)
    s.clear()
    assert s.remaining(0) == 0 and s.action_at(0) is None
    with pytest.raises(ValueError, match='dt_ns'):
        ActionSchedule(0)
    with pytest.raises(ValueError, match='replan_threshold'):
        ActionSchedule(DT, replan_threshold=-1)
    with pytest.raises(ValueError, match='actions'):
        s.set_plan(np.zeros((0, 2)), 0, 0)
