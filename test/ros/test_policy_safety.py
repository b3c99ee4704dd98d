"""The safety envelope and the stops over real topics, the node in its own process.

The probe plays the arm: a camera and joint states standing at a known position. Asserted:
every published step within the per-step limit, across chunk boundaries too; the first chunk
after enabling ramps in from the measured position; a disable mid-chunk is answered by one
hold at the measured position, due one control period later, and nothing after it; stale
inputs and shutdown hold as well; the debug topics carry the raw chunk. Order, counts and
values, never wall-clock margins. The probe's feeder starved on a busy machine (a collection
of the test process's garbage took 0.5-0.7 s) may let the inputs go stale for a moment: such
a stop is a hold too (holds_stale on /diagnostics, 'stop (stale)' in the log), and the node
plans a new motion once they are fresh; the stops are counted by reason, the limits checked
per motion. The rules themselves are unit-tested in test/test_safety.py and
test/test_planning_loop.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Path
from ros.test_policy_node import (
    DT_NS,
    LOWER,
    RELIABLE,
    UPPER,
    Feeder,
    disable_while_moving,
    is_hold,
    latest_diagnostics,
    node_cmd,
    stop_reasons,
    wait_for_a_new_chunk,
)
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from dp_ros.ros import conversions as cv
from dp_ros.runtime.execution import held_at

pytestmark = pytest.mark.ros

STEP = 5.0  # max_step_delta per control period
STANDING = (250.0, 260.0)  # where the probe's joints stand


def chunks_of(msgs: list) -> list:
    return [cv.joint_trajectory_to_chunk(m) for m in msgs if not is_hold(m)]


def motions(msgs: list) -> list[list]:
    """The chunks of each motion in `msgs`: split at the holds, in order (none left empty)."""
    out: list[list] = [[]]
    for m in msgs:
        if is_hold(m):
            out.append([])
        else:
            out[-1].append(cv.joint_trajectory_to_chunk(m))
    return [chunks for chunks in out if chunks]


def assert_motions_within_limit(msgs: list, start: np.ndarray) -> None:
    """assert_steps_within_limit on each motion in `msgs`: the first ramps in from `start`
    (the measured position); one after a stale stop (a starved feeder) starts from where that
    stop took the controller: checked within itself."""
    for i, chunks in enumerate(motions(msgs)):
        assert_steps_within_limit(chunks, start if i == 0 else None)


def assert_steps_within_limit(chunks: list, start: np.ndarray | None) -> None:
    """What a controller executes stays within STEP per period: from `start` to the first
    point (None: not checked), inside each chunk, and at each boundary from the commanded
    point in force when the new chunk arrived (in the period before its first point), on the
    timeline of chunks replacing each other."""
    if start is not None:
        assert np.abs(chunks[0].positions[0] - start).max() <= STEP + 1e-9
    due, points = chunks[0].due_ns, chunks[0].positions
    for new in chunks[1:]:
        # inside it (a chunk that landed late keeps the points still due: one, under load)
        assert len(new.positions) == 1 or \
            np.abs(np.diff(new.positions, axis=0)).max() <= STEP + 1e-9
        first = int(new.due_ns[0])
        candidates = [held_at(due, points, t) for t in (first - DT_NS, first - 1)]
        assert any(c is not None and np.abs(new.positions[0] - c).max() <= STEP + 1e-9
                   for c in candidates), (new.positions[0], candidates)
        keep = due < first
        due = np.concatenate([due[keep], new.due_ns])
        points = np.concatenate([points[keep], new.positions])


def test_limits_ramp_in_debug_topics_and_a_disable_mid_chunk(ros_processes, ros_probe,
                                                             checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    planned = ros_probe.collect(JointTrajectory, '/dp_policy/planned_chunk', RELIABLE)
    paths = ros_probe.collect(Path, '/dp_policy/planned_path', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(
        checkpoint, max_step_delta=f'[{STEP},{STEP}]', ramp_in_s=0.3, debug_topics=True,
        debug_path_joints='[jy,jx]', debug_path_scale=0.001, frame_id='base'))
    feeder = Feeder(ros_probe, position=STANDING)
    measured = np.array(STANDING)
    try:
        ros_probe.wait_for_messages(trajs, 3, 60.0, 'three chunks')
        values = disable_while_moving(ros_probe, diags, node.log)
        holds = int(values['holds_published'])  # the disable's, after any stale one
        assert holds == 1 + int(values.get('holds_stale', '0')), values
        n_chunks = int(values['chunks_published'])
        msgs = ros_probe.wait_for_messages(trajs, n_chunks + holds, 10.0, 'chunks and holds')
        ros_probe.wait_for_more(diags, '/diagnostics', 2, 10.0)
        assert len(trajs) == n_chunks + holds, 'nothing after the hold'
        assert is_hold(msgs[-1]) and sum(map(is_hold, msgs)) == holds
        assert stop_reasons(node.log())[-1] == 'disabled', node.log()
        hold = cv.joint_trajectory_to_chunk(msgs[-1])
        assert hold.positions.tolist() == [list(STANDING)]  # the measured position
        # due one period after it arrives (stamp 0), so a late delivery is still a stop
        assert hold.stamp_ns == 0 and hold.times_from_start_ns.tolist() == [DT_NS]
        chunks = chunks_of(msgs)
        assert latest_diagnostics(diags)['plan_remaining'] == '0'

        assert_motions_within_limit(msgs, measured)  # the ramp starts at the measured position
        for chunk in chunks:
            assert np.all(chunk.positions >= LOWER) and np.all(chunk.positions <= UPPER)
        assert int(latest_diagnostics(diags)['actions_rate_limited']) > 0

        # the raw chunks on the debug topics: one per published chunk, whole horizon, on t_obs
        ros_probe.wait_for(lambda: len(planned) >= n_chunks and len(paths) >= n_chunks, 10.0,
                           'the debug messages')
        for raw_msg, path, chunk in zip(planned, paths, chunks, strict=True):
            raw = cv.joint_trajectory_to_chunk(raw_msg)
            assert len(raw.positions) == 15 and raw.stamp_ns in feeder.stamps
            assert raw.stamp_ns <= chunk.stamp_ns
            assert path.header.frame_id == 'base' and len(path.poses) == 15
            np.testing.assert_allclose([p.pose.position.x for p in path.poses],
                                       raw.positions[:, 1] * 0.001)

        # enabled again: a new motion, ramping in from the measured position again
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=True))
        assert reply.success
        n = len(msgs)
        msgs = ros_probe.wait_for_messages(trajs, n + 2, 30.0, 'chunks after enabling')
        assert_motions_within_limit(msgs[n:], measured)
        assert node.alive(), node.log()
    finally:
        feeder.close()


def moving(trajs: list) -> bool:
    """Whether the newest two messages are chunks: a motion of two chunks is running."""
    return len(trajs) >= 2 and not is_hold(trajs[-1]) and not is_hold(trajs[-2])


def test_stale_inputs_and_shutdown_hold(ros_processes, ros_probe, checkpoint):
    """The inputs stop: a hold at where the controller was, then nothing; back: chunks again,
    and a Ctrl-C sends one hold before the node exits. (The stops before, while the feeder
    starved on a busy machine, are stale ones too: counted, each followed by a new motion.)"""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for(lambda: moving(trajs), 60.0, 'two chunks of one motion')
    finally:
        feeder.close()  # the inputs stop: stale once older than max_input_age_s
    # for good: stale on a status stamped past the last input's age limit (an earlier stale
    # status, the feeder starved before, was followed by plans on fresh inputs)
    closed_ns = ros_probe.node.get_clock().now().nanoseconds
    ros_probe.wait_for(lambda: diags and cv.time_to_ns(diags[-1].header.stamp) > closed_ns
                       + 400_000_000 and latest_diagnostics(diags)['state'] == 'inputs: stale',
                       20.0, 'the hold of stale inputs')
    values = latest_diagnostics(diags)
    holds = int(values['holds_published'])
    assert holds == int(values.get('holds_stale', '0')) >= 1, values  # every stop stale
    n = int(values['chunks_published']) + holds
    msgs = ros_probe.wait_for_messages(trajs, n, 10.0, 'chunks and the holds')
    assert len(msgs) == n and is_hold(msgs[-1]) and sum(map(is_hold, msgs)) == holds
    hold, motion = cv.joint_trajectory_to_chunk(msgs[-1]), motions(msgs)[-1]
    # the measurement is as stale as the images: the hold is where the controller was between
    # the last chunks' commanded points (interpolated in realtime), on the timeline of the last
    # two chunks of the motion it stopped (the last replacing from its first); its time is not
    # in the stop, stamped 0
    assert hold.stamp_ns == 0
    if len(motion) >= 2:  # (a motion of one chunk, after a stale stop, began on that stop's)
        prev, last = motion[-2:]
        timeline = np.concatenate([prev.positions[prev.due_ns < last.due_ns[0]],
                                   last.positions])
        assert any(np.all((np.minimum(p, q) - 1e-9 <= hold.positions[0])
                          & (hold.positions[0] <= np.maximum(p, q) + 1e-9))
                   for p, q in zip(timeline[:-1], timeline[1:], strict=True)), (
            hold.positions, last.positions)

    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_messages(trajs, n + 1, 30.0, 'chunks once the inputs are back')
        wait_for_a_new_chunk(ros_probe, trajs, 'a plan running')
        assert ros_processes.stop(node) == 0, node.log()[-3000:]
    finally:
        feeder.close()
    # Ctrl-C: the running plan is replaced by a hold before the node exits: the last stop,
    # one message (every stop the node logged is one hold)
    reasons = stop_reasons(node.log())
    assert reasons[-1] == 'shutdown' and set(reasons[:-1]) == {'stale'}, reasons
    ros_probe.wait_for(lambda: sum(map(is_hold, trajs)) >= len(reasons), 10.0,
                       'the shutdown hold')
    assert is_hold(trajs[-1]) and sum(map(is_hold, trajs)) == len(reasons)


def test_a_reset_mid_chunk_stops_the_arm(ros_processes, ros_probe, checkpoint):
    """Defect: ~/reset forgot the plan without a stop: the controller ran the rest of the
    chunk, and a disable right after sent nothing (nothing was moving any more)."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'two chunks')
        # moving (a stop on stale inputs, the feeder starved on a busy machine, would leave
        # the reset nothing to stop; it holds at the commanded position)
        wait_for_a_new_chunk(ros_probe, trajs, 'a plan running')
        assert ros_probe.call(Trigger, '/dp_policy/reset', Trigger.Request()).success
        node.wait_for_log('stop (reset)', 10.0)
        which = stop_reasons(node.log()).index('reset')  # its hold: after the stale ones
        ros_probe.wait_for(lambda: sum(map(is_hold, trajs)) > which, 10.0,
                           'the hold of the reset')
        hold = cv.joint_trajectory_to_chunk([m for m in trajs if is_hold(m)][which])
        assert hold.positions.tolist() == [list(STANDING)]  # the measured position
    finally:
        feeder.close()


MODES = ('replace', 'temporal_ensemble', 'blend')


def test_a_slow_policy_keeps_every_chunk_boundary_within_the_step_limit(ros_processes, ros_probe,
                                                                        checkpoint):
    """Realtime with 300 ms of extra latency: the plan runs out before the next chunk, the
    case where boundaries jump; in every execution mode no step exceeds max_step_delta.
    One node per mode, side by side on the same inputs (each its own node name and action
    topic): a busy machine only makes the plans run out sooner. Inputs may be 2 s old (not
    0.4): with the 0.3 s of latency, a 0.1 s stall of the probe's feeder on a busy machine
    made the inputs stale once a plan was done, and the node held instead; and a collection
    of the test process's garbage stalls it 0.5-0.7 s (1 s left too little margin)."""
    trajs = {mode: ros_probe.collect(JointTrajectory, f'/arm_{mode}/joint_trajectory', RELIABLE)
             for mode in MODES}
    nodes = {mode: ros_processes.start(f'policy_{mode}', node_cmd(
        checkpoint, execution_mode=mode, max_step_delta=f'[{STEP},{STEP}]',
        debug_extra_latency_s=0.3, replan_threshold=2, max_input_age_s=2.0,
        action_topic=f'/arm_{mode}/joint_trajectory') + ['-r', f'__node:=dp_policy_{mode}'])
        for mode in MODES}
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        got = {mode: ros_probe.wait_for_messages(trajs[mode], 4, 60.0, f'four chunks ({mode})')
               for mode in MODES}
    finally:
        feeder.close()
    for mode, msgs in got.items():
        assert not any(map(is_hold, msgs[:4])), mode
        assert_steps_within_limit(chunks_of(msgs[:4]), np.array(STANDING))
        assert f'execution {mode}' in nodes[mode].log()
