"""PlanningLoop in lockstep plans at a step's time: when the newest samples of all streams
are of one time (the sim sends every stream at each step boundary). The arm twin also sends
its 100 Hz joint states within a step, and its camera frame on the boundaries only, so
between two boundaries the joint states run ahead of the camera. Judged at such a mid-step
time, the observation lacked a frame the sim never sends: every healthy lockstep arm run
logged "not planning: image ... older than that" (a policy whose data recorded a 50 ms
tolerance), and with a /clock behind the joint states the node could plan on a mid-step
observation. Realtime keeps its rule (it plans on the newest complete observation)."""
from __future__ import annotations

import copy

import pytest
from test_planning_loop import DT, METADATA, MS, STREAMS, T0, chunk

from dp_ros.params import config_from_dict
from dp_ros.runtime.planning_loop import WAITING_FOR_STEP, PlanningLoop, PlanRequest, Wait
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

SUBSTEP = 10 * MS


def recorded_metadata() -> dict:
    """METADATA with bag2zarr's sources: each input held to the 50 ms it was sampled with."""
    meta = copy.deepcopy(METADATA)
    obs = meta['config']['shape_meta']['obs']
    obs['image']['sources'] = [{'kind': 'image', 'topic': '/pusht/image_raw', 'width': None,
                                'frame_size': [480, 640], 'tolerance_s': 0.05,
                                'rate_hz': 10.0, 'offset_s': 0.0}]
    obs['agent_pos']['sources'] = [{'kind': 'joint_state', 'topic': '/joint_states',
                                    'width': 2, 'field': 'position', 'tolerance_s': 0.05,
                                    'rate_hz': 100.0, 'offset_s': 0.0}]
    return meta


def make_loop(lockstep: bool, meta: dict | None = None) -> PlanningLoop:
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4, 'lockstep': lockstep,
                                              'stamp_tolerance_s': 0.0})
    return PlanningLoop(cfg, resolve_setup(cfg, meta or METADATA), device='cpu')


def step(loop: PlanningLoop, t_ns: int) -> None:
    """One step boundary: every stream at t_ns."""
    for name in STREAMS:
        loop.add(name, t_ns, (name, t_ns))


def mid_step(loop: PlanningLoop, start_ns: int) -> None:
    """The joint states of the step from start_ns, then the next boundary's frame before its
    joint state (two topics: either may come first)."""
    for i in range(1, 10):
        loop.add('agent_pos', start_ns + i * SUBSTEP, ('agent_pos', start_ns + i * SUBSTEP))
    loop.add('image', start_ns + DT, ('image', start_ns + DT))


def run_out_first_plan(loop: PlanningLoop) -> None:
    """Plan on the first boundary, run that plan's 8 steps out (point 0 due at T0)."""
    step(loop, T0)
    request = loop.poll(T0, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    loop.submitted(request)
    loop.finish(request.context, chunk(), None, T0)
    for k in range(1, 8):
        step(loop, T0 + k * DT)


@pytest.mark.parametrize('clock_behind', [False, True], ids=['clock', 'clock_behind'])
def test_lockstep_waits_silently_mid_step_and_plans_on_the_boundary(clock_behind):
    """With the 50 ms tolerance recorded: between the step's joint states and the frame of
    the boundary the loop waits for the step, with nothing to log; the plan is made on the
    boundary's observation once its joint state is in."""
    loop = make_loop(lockstep=True, meta=recorded_metadata())
    assert loop.setup.gap_ns == {'image': 50 * MS, 'agent_pos': 50 * MS}
    run_out_first_plan(loop)
    boundary = T0 + 8 * DT
    mid_step(loop, T0 + 7 * DT)
    clock = boundary - SUBSTEP if clock_behind else boundary
    result = loop.poll(clock, runner_busy=False)
    assert isinstance(result, Wait) and result.reason == WAITING_FOR_STEP, result
    assert result.detail == ''  # no 'not planning: image ... older' warning
    loop.add('agent_pos', boundary, ('agent_pos', boundary))
    request = loop.poll(clock, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    assert request.context.t_obs_ns == boundary
    assert request.observation.stamps_ns == {name: [boundary - DT, boundary]
                                             for name in STREAMS}


def test_lockstep_without_a_recorded_tolerance_does_not_plan_mid_step():
    """Without recorded sources (max_input_age_s holds every input) and a /clock behind the
    joint states, the mid-step observation (the frame of the step's start standing in for a
    joint-state time) is no step's: the loop waits for the boundary."""
    loop = make_loop(lockstep=True)
    run_out_first_plan(loop)
    mid_step(loop, T0 + 7 * DT)
    result = loop.poll(T0 + 7 * DT + 9 * SUBSTEP, runner_busy=False)
    assert isinstance(result, Wait) and result.reason == WAITING_FOR_STEP, result


def test_realtime_plans_on_the_newest_complete_observation_as_before():
    """Realtime is unchanged: streams of different newest stamps give the newest time at
    which every stream has a sample."""
    loop = make_loop(lockstep=False)
    step(loop, T0)
    step(loop, T0 + DT)
    loop.add('agent_pos', T0 + DT + 3 * SUBSTEP, ('agent_pos', T0 + DT + 3 * SUBSTEP))
    request = loop.poll(T0 + DT + 4 * SUBSTEP, runner_busy=False)
    assert isinstance(request, PlanRequest), request
    assert request.context.t_obs_ns == T0 + DT
