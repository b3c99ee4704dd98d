"""A realtime setup whose executed slice can never be published is refused at start. Point i
of a chunk is due i*dt after its observation, in the past once the chunk exists; with
n_action_steps 1 (ACT's 'one action per query') or an action_lead_s as long as the slice
every chunk was dropped as 'all_late' for ever, the warning blaming lateness though sampling
took 10 ms. (The paper's real-robot runner executes the last action a step late when all
are late; the node never executes a point late, so it refuses.) Pins: the one-line refusal
naming both parameters; the longest lead that can serve still publishes; lockstep (point 0
kept, the sim waits) runs any slice."""
from __future__ import annotations

import pytest
from test_planning_loop import DT, METADATA, MS, T0, feed, finish, plan_now

from dp_ros.params import config_from_dict
from dp_ros.runtime.planning_loop import PlanningLoop
from dp_ros.runtime.policy_node_config import PolicyNodeConfig, resolve_setup


def config(**values) -> PolicyNodeConfig:
    return config_from_dict(PolicyNodeConfig, {'checkpoint': '/policy', 'device': 'cpu',
                                               'max_input_age_s': 0.4, **values})


@pytest.mark.parametrize('values', [{'n_action_steps': 1},
                                    {'action_lead_s': 0.75},
                                    {'action_lead_s': 0.7}],  # exactly the slice: now > t_obs
                         ids=['n_action_steps_1', 'lead_longer_than_the_slice',
                              'lead_as_long_as_the_slice'])
def test_a_realtime_setup_that_can_never_publish_is_refused(values):
    with pytest.raises(ValueError) as info:
        resolve_setup(config(**values), METADATA)
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith('parameters n_action_steps (') and 'action_lead_s (' in message
    assert 'no point would ever be published' in message


def test_the_longest_lead_that_can_serve_publishes_a_quick_chunk():
    """n_action_steps 8 (the slice's last point 0.7 s after the observation), lead 0.69 s:
    a chunk sampled in 10 ms keeps that last point."""
    cfg = config(action_lead_s=0.69)
    loop = PlanningLoop(cfg, resolve_setup(cfg, METADATA), device='cpu')
    feed(loop, T0)
    feed(loop, T0 + DT)
    plan = finish(loop, plan_now(loop, T0 + DT), T0 + DT + 10 * MS)
    assert plan and len(plan) == 1 and plan.first_index == 7


def test_lockstep_runs_one_action_per_query():
    setup = resolve_setup(config(n_action_steps=1, lockstep=True, action_lead_s=0.5), METADATA)
    assert setup.n_action_steps == 1
