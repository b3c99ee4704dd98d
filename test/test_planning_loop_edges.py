"""Edges of the planning loop the main tests leave open: freshness and clock limits at
equality, a measurement at time 0, non-finite points past the executed slice, and the
clock going back with announced episodes."""
from __future__ import annotations

import numpy as np
from test_planning_loop import DT, MS, T0, chunk, feed, make_loop

from dp_ros.runtime.planning_loop import PlanningLoop, PlanRequest, Wait
from dp_ros.runtime.safety import Hold

AGE = 400 * MS  # make_loop's max_input_age_s


def plan_at(loop: PlanningLoop, t_ns: int, pred: np.ndarray | None = None):
    """Inputs up to t_ns, a chunk sampled on them and finished at once."""
    feed(loop, t_ns - DT)
    feed(loop, t_ns)
    request = loop.poll(t_ns, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    return loop.finish(request.context, chunk() if pred is None else pred, None, t_ns)


def test_inputs_and_measurements_exactly_max_input_age_old_are_still_fresh():
    """At exactly max_input_age_s inputs and measurements are fresh, as assemble counts them."""
    loop = make_loop()
    loop.measure(T0 + DT, np.array([1.0, 2.0]))
    assert plan_at(loop, T0 + DT)
    at_limit = T0 + DT + AGE
    assert loop.poll(at_limit, False) == Wait('executing')
    assert loop.measured_at(at_limit).tolist() == [1.0, 2.0]
    assert isinstance(loop.poll(at_limit + 1, False), Hold)


def test_a_measurement_stamped_0_is_taken():
    """A measurement stamped 0 is taken: a lockstep sim's first joint states are."""
    loop = make_loop()
    loop.measure(0, np.array([1.0, 2.0]))
    assert loop.measured_at(0).tolist() == [1.0, 2.0]


def test_the_clock_going_back_counts_from_the_newest_time_seen():
    """A clock jump back is counted from the newest time seen, so small steps add up."""
    loop = make_loop()
    assert plan_at(loop, T0 + DT)
    assert loop.poll(T0 + DT - AGE, True) == Wait('sampling')  # back by the limit itself
    assert loop.clock_jumps == 0
    loop = make_loop()
    assert plan_at(loop, T0 + DT)
    assert loop.poll(T0 + DT - 300 * MS, True) == Wait('sampling')
    hold = loop.poll(T0 + DT - 600 * MS, False)  # 300 ms more: 600 ms behind the newest
    assert isinstance(hold, Hold) and hold.reason == 'clock_back' and loop.clock_jumps == 1


def test_non_finite_points_past_the_executed_slice_stay_out_of_the_ensemble():
    """A NaN past the executed slice stays out of the ensemble and is never published."""
    loop = make_loop(execution_mode='temporal_ensemble')
    pred = chunk()
    pred[12:] = np.nan  # horizon point 11, due t_obs + 11 dt: never executed
    first = plan_at(loop, T0 + DT, pred)
    assert np.isfinite(first.actions).all()
    assert int(loop.execution.memory[-1].due_ns[-1]) == T0 + 11 * DT
    second = plan_at(loop, T0 + 7 * DT, chunk(100.0))  # due 7..14 dt: covers 12 dt
    assert np.isfinite(second.actions).all()


def test_the_clock_going_back_with_announced_episodes_waits_for_the_next_one():
    """After the clock goes back, announced episodes disarm the loop until the next one."""
    loop = make_loop(episode_start_topic='/sim/episode_start')
    assert loop.start_episode(5, T0)
    assert plan_at(loop, T0 + DT)
    back = 500 * MS
    feed(loop, back)
    hold = loop.poll(back, False)
    assert isinstance(hold, Hold) and hold.reason == 'clock_back'
    assert not loop.armed
    feed(loop, back + DT)
    assert loop.poll(back + DT, False) == Wait('waiting for an episode start')
