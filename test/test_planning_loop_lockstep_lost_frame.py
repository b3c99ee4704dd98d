"""A lockstep camera frame lost in transport costs the sim's republish period, not a step.

The sim publishes its cameras best effort (dp_ros/ros/qos.py SENSOR_DATA) and the node
subscribes best effort, so on a loaded machine a frame can be lost (seen once in CI with the
arm's 640x480 frames); publishing it reliable would not help the node, since a reliable writer
serves a best-effort reader best effort. What makes the run go on is the pair of rules pinned
here with the sim's own (sim_bridge/pusht_sim_node.py `_wait_for_action`: while a lockstep
step waits for its action, its whole observation goes out again every
obs_republish_period_s): the node, holding the step's joint state but the previous step's
frame, waits for the step without planning on the older frame or logging a refusal; the
re-sent observation then gives it the frame (the joint state again is a counted re-send, not
filed twice) and it plans on the step, as it would have without the loss.
"""
from __future__ import annotations

import pytest
from test_planning_loop import DT, METADATA, T0
from test_planning_loop_lockstep_step_time import (
    SUBSTEP,
    make_loop,
    recorded_metadata,
    run_out_first_plan,
)

from dp_ros.runtime.planning_loop import WAITING_FOR_STEP, PlanRequest, Wait


@pytest.mark.parametrize('robot', ['point', 'arm'])
def test_a_lost_lockstep_frame_is_planned_on_once_the_sim_resends_the_step(robot):
    """The frame of step 8 is lost: wait (nothing to log), then plan on step 8's re-send."""
    arm = robot == 'arm'  # joint states within each step, a 50 ms tolerance recorded
    loop = make_loop(lockstep=True, meta=recorded_metadata() if arm else METADATA)
    run_out_first_plan(loop)
    boundary = T0 + 8 * DT  # the first plan's 8 steps are run out: the sim waits here
    if arm:
        for t in range(T0 + 7 * DT + SUBSTEP, boundary, SUBSTEP):
            loop.add('agent_pos', t, ('agent_pos', t))
    assert loop.add('agent_pos', boundary, ('agent_pos', boundary))  # its frame never comes
    for clock in (boundary, boundary + 5 * DT):  # polled again while the sim waits
        result = loop.poll(clock, runner_busy=False)
        assert isinstance(result, Wait) and result.reason == WAITING_FOR_STEP, result
        assert not result.detail, result  # a wait for the step, not a refusal to log

    # the sim's republish of the waiting step: its frame, and its joint state again
    assert loop.add('image', boundary, ('image', boundary))
    assert not loop.add('agent_pos', boundary, ('agent_pos', boundary))  # a re-send
    request = loop.poll(boundary, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    assert request.observation.t_ns == boundary
    assert loop.stats['agent_pos'].duplicates == 1
