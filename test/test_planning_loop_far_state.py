"""The planning loop's hint for a measured state far outside the training range: counted on
/diagnostics (state_far_outside_training, a WARN problem) each time a plan is made on one,
said once per enable and again after a new one, and never a refusal to plan (an arm may
leave the demonstrations' range a little); a state within range is not flagged."""
from __future__ import annotations

import numpy as np

from dp_ros.params import config_from_dict
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.planning_loop import PlanningLoop, PlanRequest, problems
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

MS = 1_000_000
DT = 100 * MS
T0 = 10_000 * MS
# agent_pos trained over 0..500 in x and y (the normalizer's 'limits' stats, as policy.json)
NORMALIZER = {'version': 1, 'mode': 'limits', 'range_eps': 1e-4, 'fields': {'agent_pos': {
    'kind': 'limits', 'scale': [0.004, 0.004], 'offset': [-1.0, -1.0], 'min': [0.0, 0.0],
    'max': [500.0, 500.0]}}}
METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1,
            'normalizer': NORMALIZER}


def make_loop() -> PlanningLoop:
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4})
    return PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')


def plan_on(loop: PlanningLoop, t_ns: int, state: list[float]) -> PlanRequest:
    """Inputs at t_ns - dt and t_ns (the state `state` at both), then the plan request."""
    for t in (t_ns - DT, t_ns):
        loop.add('image', t, np.zeros((96, 96, 3), np.float32))
        loop.add('agent_pos', t, np.array(state, np.float32))
    request = loop.poll(t_ns, runner_busy=False)
    assert isinstance(request, PlanRequest), request  # planned on all the same
    loop.submitted(request)
    return request


def test_a_state_ten_ranges_out_is_said_once_per_enable_and_counted():
    loop = make_loop()
    first = plan_on(loop, T0 + DT, [250.0, 5500.0])  # y: 10 ranges beyond 500
    assert 'agent_y 5500 (trained 0..500)' in first.warning, first.warning
    assert 'agent_x' not in first.warning
    assert 'degrees vs radians' in first.warning
    again = plan_on(loop, T0 + 3 * DT, [250.0, 5500.0])
    assert again.warning == ''  # said once
    values = loop.diagnostics(T0 + 3 * DT, 0)
    assert values['state_far_outside_training'] == 2
    assert 'measured state far outside the training range' in problems(values)
    loop.enable(False)
    loop.enable(True)  # a new enable: said again
    assert plan_on(loop, T0 + 5 * DT, [250.0, 5500.0]).warning
    loop.enable(True)  # already enabled: not a new enable
    assert plan_on(loop, T0 + 7 * DT, [250.0, 5500.0]).warning == ''


def test_a_state_within_or_near_the_range_is_not_flagged():
    loop = make_loop()
    for i, state in enumerate(([250.0, 250.0], [-400.0, 900.0])):  # 0.8 ranges out
        assert plan_on(loop, T0 + (2 * i + 1) * DT, state).warning == ''
    values = loop.diagnostics(T0, 0)
    assert values['state_far_outside_training'] == 0
    assert not any('training range' in p for p in problems(values))
