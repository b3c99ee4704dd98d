"""stamp_tolerance_s 0 means "no limit of its own", not "no stamp check at all": a realtime
node still refuses stamps ahead of its clock by more than max_input_age_s, which would stay
fresh that much longer and delay the stale stop."""
from __future__ import annotations

from dp_ros.params import config_from_dict, param_fields
from dp_ros.policy.config import pusht_image_config
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup

MS = 1_000_000
HOUR = 3600 * 1000 * MS
T0 = 10_000 * MS
METADATA = {'config': pusht_image_config().to_dict(), 'control_period_s': 0.1}


def make_loop(lockstep: bool) -> PlanningLoop:
    cfg = config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                              'max_input_age_s': 0.4, 'lockstep': lockstep,
                                              'stamp_tolerance_s': 0.0})
    return PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')


def test_zero_still_refuses_a_realtime_stamp_ahead_by_more_than_max_input_age():
    """Defect: stamp_tolerance_s 0 switched off the refusal of stamps from the future too."""
    loop = make_loop(lockstep=False)
    assert loop.setup.stamp_tolerance_ns == 0
    filing = loop.add('image', T0 + HOUR, 'x', clock_ns=T0)
    assert filing.kind == 'stamp_future' and 'max_input_age_s' in filing.detail
    assert loop.add('image', T0 + 400 * MS, 'x', clock_ns=T0)  # exactly max_input_age_s
    assert loop.add('agent_pos', T0 - HOUR, 'x', clock_ns=T0)  # behind: no limit
    assert loop.diagnostics(T0, 0)['bad_stamp_future'] == 1


def test_zero_checks_nothing_in_lockstep():
    """Lockstep has no stale stop: with 0 a stamp ahead is not limited either."""
    assert make_loop(lockstep=True).add('image', T0 + HOUR, 'x', clock_ns=T0)
    assert make_loop(lockstep=True).add('agent_pos', T0 - HOUR, 'x', clock_ns=T0)


def test_the_parameter_says_what_zero_means():
    field = next(f for f in param_fields(PolicyNodeConfig) if f.name == 'stamp_tolerance_s')
    text = str(field.metadata)
    assert '0: no limit of its own' in text and 'whatever this is' in text
