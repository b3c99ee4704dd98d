"""Lockstep: a step's chunk discarded (~/enable false then true, or a lifecycle deactivate
and activate, while it samples) leaves that step unplanned; the sim waits at it, re-sending
its observation and no newer one, so the node must plan that observation again, not wait
for a newer one (a stall until the sim's action_wait_timeout_s). Over ROS:
test/ros/test_policy_node_lockstep_reenable.py."""
from __future__ import annotations

import pytest
from test_planning_loop import DT, T0, chunk, feed, make_loop, plan_now

from dp_ros.runtime.planning_loop import LOCKSTEP_RETRIES, Drop, PlanRequest, Wait


def test_a_lockstep_step_whose_chunk_was_discarded_is_planned_again():
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    feed(loop, T0 + DT)
    request = plan_now(loop, T0 + DT)  # the sim waits at T0 + DT
    loop.stop('disabled', T0 + DT)  # ~/enable false (PolicyCore.set_enabled), then true
    loop.enable(False)
    loop.enable(True)
    assert loop.finish(request.context, chunk(), None, T0 + DT) == Drop('discarded')
    feed(loop, T0 + DT)  # the waiting sim re-sends the step's observation
    again = loop.poll(T0 + DT, runner_busy=False)
    assert isinstance(again, PlanRequest), again
    assert again.context.t_obs_ns == T0 + DT


def test_a_published_step_still_waits_for_a_newer_observation():
    """Only a discarded chunk's observation is planned again: a chunk published for a step
    (run out) still waits for the next step's observation."""
    loop = make_loop(lockstep=True)
    feed(loop, T0)
    request = plan_now(loop, T0)
    assert loop.finish(request.context, chunk(), None, T0)
    for k in range(1, 9):  # the sim steps through the plan (n_action_steps 8)
        feed(loop, T0 + k * DT)
    loop.last_t_obs_ns = T0 + 8 * DT  # as if that step was planned and its chunk published
    assert loop.poll(T0 + 8 * DT, runner_busy=False) == Wait('waiting for a newer observation')


@pytest.mark.parametrize('why', ['error', 'non_finite'])
def test_a_lockstep_step_whose_chunk_failed_is_planned_again(why):
    """A sampling error (a CUDA error, out of memory) or a non-finite chunk left the step
    unplanned as a discard did, and the node waited 'for a newer observation' the waiting sim
    never sends: a stall until its action_wait_timeout_s (for ever at 0)."""
    import numpy as np

    loop = make_loop(lockstep=True)
    feed(loop, T0)
    request = plan_now(loop, T0)
    if why == 'error':
        dropped = loop.finish(request.context, None, RuntimeError('CUDA error'), T0)
    else:
        bad = chunk()
        bad[3, 0] = np.nan
        dropped = loop.finish(request.context, bad, None, T0)
    assert dropped == Drop(why)
    feed(loop, T0)  # the waiting sim re-sends the step's observation
    again = loop.poll(T0, runner_busy=False)
    assert isinstance(again, PlanRequest) and again.context.t_obs_ns == T0, again
    # a failure that repeats is retried LOCKSTEP_RETRIES times, not back to back for ever
    for tries in range(2, LOCKSTEP_RETRIES + 2):
        loop.submitted(again)
        assert loop.finish(again.context, None, RuntimeError('CUDA error'), T0) == \
            Drop('error')
        feed(loop, T0)
        again = loop.poll(T0, runner_busy=False)
        assert isinstance(again, PlanRequest) == (tries <= LOCKSTEP_RETRIES), (tries, again)
