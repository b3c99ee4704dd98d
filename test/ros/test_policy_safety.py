"""The safety envelope and the stops over real topics, the node in its own process.

The probe plays the arm: a camera and joint states standing at a known position. Asserted:
every published step within the per-step limit, across chunk boundaries too; the first chunk
after enabling ramps in from the measured position; a disable mid-chunk is answered by one
hold at the measured position, due one control period later, and nothing after it; stale
inputs and shutdown hold as well; the debug topics carry the raw chunk. Order, counts and
values, never wall-clock margins. The rules themselves are unit-tested in
test/test_safety.py and test/test_planning_loop.py.
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
    is_hold,
    latest_diagnostics,
    node_cmd,
    wait_diag,
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


def assert_steps_within_limit(chunks: list, start: np.ndarray) -> None:
    """What a controller executes stays within STEP per period: inside each chunk, and at
    each boundary from the commanded point in force when the new chunk arrived (in the period
    before its first point), on the timeline of chunks replacing each other."""
    assert np.abs(chunks[0].positions[0] - start).max() <= STEP + 1e-9
    due, points = chunks[0].due_ns, chunks[0].positions
    for new in chunks[1:]:
        assert np.abs(np.diff(new.positions, axis=0)).max() <= STEP + 1e-9
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
        reply = ros_probe.call(SetBool, '/dp_policy/enable', SetBool.Request(data=False))
        assert reply.success
        values = wait_diag(ros_probe, diags, lambda d: d['holds_published'] == '1', 20.0,
                           'the hold of the disable')
        n_chunks = int(values['chunks_published'])
        msgs = ros_probe.wait_for_messages(trajs, n_chunks + 1, 10.0, 'chunks and the hold')
        n_diags = len(diags)
        ros_probe.wait_for(lambda: len(diags) >= n_diags + 2, 10.0, 'two more diagnostics')
        assert len(trajs) == n_chunks + 1, 'nothing after the hold'
        assert [is_hold(m) for m in msgs] == [False] * n_chunks + [True]
        hold = cv.joint_trajectory_to_chunk(msgs[-1])
        assert hold.positions.tolist() == [list(STANDING)]  # the measured position
        # due one period after it arrives (stamp 0), so a late delivery is still a stop
        assert hold.stamp_ns == 0 and hold.times_from_start_ns.tolist() == [DT_NS]
        chunks = chunks_of(msgs)
        assert latest_diagnostics(diags)['plan_remaining'] == '0'

        assert_steps_within_limit(chunks, measured)  # the ramp starts at the measured position
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
        msgs = ros_probe.wait_for_messages(trajs, n_chunks + 3, 30.0, 'chunks after enabling')
        assert_steps_within_limit(chunks_of(msgs[n_chunks + 1:]), measured)
        assert node.alive(), node.log()
    finally:
        feeder.close()


def test_stale_inputs_and_shutdown_hold(ros_processes, ros_probe, checkpoint):
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'two chunks')
    finally:
        feeder.close()  # the inputs stop: stale once older than max_input_age_s
    values = wait_diag(ros_probe, diags, lambda d: d.get('holds_stale') == '1', 20.0,
                       'the hold of stale inputs')
    n = int(values['chunks_published']) + 1
    msgs = ros_probe.wait_for_messages(trajs, n, 10.0, 'chunks and the hold')
    assert len(msgs) == n and is_hold(msgs[-1]) and not any(map(is_hold, msgs[:-1]))
    hold, last = cv.joint_trajectory_to_chunk(msgs[-1]), chunks_of(msgs)[-1]
    # the measurement is as stale as the images: the hold is where the controller was between
    # the last chunks' commanded points (interpolated in realtime), on the timeline of the last
    # two chunks (the last replacing from its first); its time is not in the stop, stamped 0
    assert hold.stamp_ns == 0
    prev = chunks_of(msgs)[-2]
    timeline = np.concatenate([prev.positions[prev.due_ns < last.due_ns[0]], last.positions])
    assert any(np.all((np.minimum(p, q) - 1e-9 <= hold.positions[0])
                      & (hold.positions[0] <= np.maximum(p, q) + 1e-9))
               for p, q in zip(timeline[:-1], timeline[1:], strict=True)), (hold.positions,
                                                                           last.positions)

    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_messages(trajs, n + 1, 30.0, 'chunks once the inputs are back')
        count = len(trajs)
        assert ros_processes.stop(node) == 0, node.log()[-3000:]
    finally:
        feeder.close()
    # Ctrl-C: the running plan is replaced by a hold before the node exits
    ros_probe.wait_for(lambda: any(map(is_hold, trajs[count:])), 10.0, 'the shutdown hold')
    assert is_hold(trajs[-1]) and sum(map(is_hold, trajs[count:])) == 1
    assert 'stop (shutdown)' in node.log()


def test_a_reset_mid_chunk_stops_the_arm(ros_processes, ros_probe, checkpoint):
    """Defect: ~/reset forgot the plan without a stop: the controller ran the rest of the
    chunk, and a disable right after sent nothing (nothing was moving any more)."""
    trajs = ros_probe.collect(JointTrajectory, '/arm/joint_trajectory', RELIABLE)
    node = ros_processes.start('policy', node_cmd(checkpoint))
    feeder = Feeder(ros_probe, position=STANDING)
    try:
        ros_probe.wait_for_messages(trajs, 2, 60.0, 'two chunks')
        assert not any(map(is_hold, trajs))
        assert ros_probe.call(Trigger, '/dp_policy/reset', Trigger.Request()).success
        ros_probe.wait_for(lambda: any(map(is_hold, trajs)), 10.0, 'the hold of the reset')
        hold = cv.joint_trajectory_to_chunk(next(m for m in trajs if is_hold(m)))
        assert hold.positions.tolist() == [list(STANDING)]  # the measured position
        assert 'stop (reset)' in node.log()
    finally:
        feeder.close()


MODES = ('replace', 'temporal_ensemble', 'blend')


def test_a_slow_policy_keeps_every_chunk_boundary_within_the_step_limit(ros_processes, ros_probe,
                                                                        checkpoint):
    """Realtime with 300 ms of extra latency: the plan runs out before the next chunk, the
    case where boundaries jump; in every execution mode no step exceeds max_step_delta.
    One node per mode, side by side on the same inputs (each its own node name and action
    topic): a busy machine only makes the plans run out sooner. Inputs may be 1 s old (not
    0.4): with the 0.3 s of latency, a 0.1 s stall of the probe's feeder on a busy machine
    made the inputs stale once a plan was done, and the node held instead."""
    trajs = {mode: ros_probe.collect(JointTrajectory, f'/arm_{mode}/joint_trajectory', RELIABLE)
             for mode in MODES}
    nodes = {mode: ros_processes.start(f'policy_{mode}', node_cmd(
        checkpoint, execution_mode=mode, max_step_delta=f'[{STEP},{STEP}]',
        debug_extra_latency_s=0.3, replan_threshold=2, max_input_age_s=1.0,
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
